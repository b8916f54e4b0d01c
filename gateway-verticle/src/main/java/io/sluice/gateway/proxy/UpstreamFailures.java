package io.sluice.gateway.proxy;

import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.unix.Errors;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertificateException;
import java.util.Locale;
import java.util.concurrent.TimeoutException;

/**
 * Says in plain words why an upstream failed, for the detail of a 502 or 504 and for logs: "connection refused by
 * upstream 127.0.0.1:8000", not Netty's {@code finishConnect(..) failed with error(-111)}. Each sentence names the
 * upstream; what it cannot classify it still says on one line.
 */
public final class UpstreamFailures {

  // Linux errno values, as the native (epoll) transport reports them; the JDK's own exceptions carry no number.
  private static final int ECONNREFUSED = 111;
  private static final int ECONNRESET = 104;
  private static final int EPIPE = 32;
  private static final int ETIMEDOUT = 110;
  private static final int ENETUNREACH = 101;
  private static final int EHOSTUNREACH = 113;

  private UpstreamFailures() {
  }

  /** The sentence for {@code cause}; a timeout is said without its length. */
  public static String describe(String upstreamLabel, Throwable cause) {
    return describe(upstreamLabel, cause, -1);
  }

  /** The sentence for {@code cause}, naming {@code timeoutMillis} (if positive) when the upstream was too slow. */
  public static String describe(String upstreamLabel, Throwable cause, long timeoutMillis) {
    String upstream = "upstream " + upstreamLabel;
    String within = timeoutMillis > 0 ? " within " + timeoutMillis + " ms" : " in time";
    Throwable tls = find(cause, SSLException.class);
    if (tls != null) {
      return "TLS handshake with " + upstream + " failed: " + tlsReason(tls);
    }
    if (find(cause, ConnectTimeoutException.class) != null) {
      return "connect to " + upstream + " timed out" + (timeoutMillis > 0 ? " after " + timeoutMillis + " ms" : "");
    }
    if (find(cause, TimeoutException.class) != null) {
      return upstream + " did not answer" + within;
    }
    UnknownHostException unknown = find(cause, UnknownHostException.class);
    if (unknown != null) {
      return "cannot resolve upstream host " + hostOf(upstreamLabel) + " (" + upstream + ")";
    }
    if (cause instanceof ClosedChannelException) {
      return upstream + " closed the connection before answering";
    }
    int errno = errno(cause);
    String text = message(cause).toLowerCase(Locale.ROOT);
    if (errno == ECONNREFUSED || (cause instanceof ConnectException && text.contains("refused"))) {
      return "connection refused by " + upstream;
    }
    if (errno == ETIMEDOUT || text.contains("timed out")) {
      return "connect to " + upstream + " timed out";
    }
    if (errno == EHOSTUNREACH || errno == ENETUNREACH || cause instanceof NoRouteToHostException
        || text.contains("unreachable") || text.contains("no route")) {
      return "cannot connect to " + upstream + ": no route to its host";
    }
    if (errno == ECONNRESET || text.contains("connection reset")) {
      return upstream + " reset the connection before answering";
    }
    if (errno == EPIPE || (cause instanceof IOException && text.contains("closed"))) {
      return upstream + " closed the connection before answering";
    }
    if (cause instanceof ConnectException) {
      return "cannot connect to " + upstream + ": " + oneLine(message(cause));
    }
    return upstream + " failed: " + oneLine(message(cause));
  }

  /** Why the handshake failed, without the JDK's class names: an untrusted certificate is the usual case. */
  private static String tlsReason(Throwable tls) {
    if (find(tls, CertPathBuilderException.class) != null || message(tls).contains("PKIX path")) {
      return "its certificate is not trusted (PKIX path building failed: no chain to a trusted certificate; "
          + "see upstreamTrust)";
    }
    CertificateException certificate = find(tls, CertificateException.class);
    if (certificate != null) {
      return "its certificate was refused: " + oneLine(message(certificate));
    }
    Throwable root = tls;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return oneLine(message(root));
  }

  private static int errno(Throwable cause) {
    // NativeIoException is loaded only when an exception of that class exists, i.e. when the native transport is in use
    for (Throwable t = cause; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof Errors.NativeIoException nativeIo) {
        return Math.abs(nativeIo.expectedErr());
      }
    }
    return 0;
  }

  private static <T extends Throwable> T find(Throwable cause, Class<T> type) {
    for (Throwable t = cause; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (type.isInstance(t)) {
        return type.cast(t);
      }
    }
    return null;
  }

  private static String hostOf(String label) {
    int colon = label.lastIndexOf(':');
    return colon > 0 ? label.substring(0, colon) : label;
  }

  private static String message(Throwable t) {
    return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
  }

  private static String oneLine(String text) {
    String line = text.replaceAll("\\s+", " ").trim();
    return line.length() <= 200 ? line : line.substring(0, 200) + "…";
  }
}
