package io.sluice.gateway;

import io.netty.channel.unix.Errors;

import java.net.BindException;
import java.net.UnknownHostException;
import java.util.Locale;

/**
 * A port the gateway could not listen on, said in one line that names the listener and the address, e.g. {@code proxy
 * port 127.0.0.1:8080 is already in use}. The launcher prints it and exits with code 2.
 */
public final class ListenFailure extends RuntimeException {

  // Linux errno values as the native (epoll) transport reports them
  private static final int EACCES = 13;
  private static final int EADDRINUSE = 98;
  private static final int EADDRNOTAVAIL = 99;

  public ListenFailure(String listener, String host, int port, Throwable cause) {
    super(describe(listener + " port " + host + ":" + port, host, cause), cause, false, false);
  }

  /** The failure itself or, within its causes, one of this class; null if there is none. */
  public static ListenFailure in(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof ListenFailure listen) {
        return listen;
      }
    }
    return null;
  }

  private static String describe(String what, String host, Throwable cause) {
    int errno = cause instanceof Errors.NativeIoException nativeIo ? Math.abs(nativeIo.expectedErr()) : 0;
    String text = String.valueOf(cause.getMessage()).toLowerCase(Locale.ROOT);
    if (errno == EADDRINUSE || text.contains("address already in use")) {
      return what + " is already in use";
    }
    if (errno == EACCES || text.contains("permission denied")) {
      return what + ": permission denied (ports below 1024 need privileges)";
    }
    if (errno == EADDRNOTAVAIL || text.contains("cannot assign requested address")) {
      return what + ": " + host + " is not an address of this machine";
    }
    if (cause instanceof UnknownHostException || text.contains("unresolved")) {
      return what + ": cannot resolve host " + host;
    }
    String reason = cause instanceof BindException ? cause.getMessage() : cause.toString();
    return what + ": " + String.valueOf(reason).replaceAll("\\s+", " ").trim();
  }
}
