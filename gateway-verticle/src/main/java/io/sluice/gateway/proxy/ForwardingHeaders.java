package io.sluice.gateway.proxy;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;

import java.util.List;

/**
 * Header rules of a reverse proxy (RFC 9110 §7.6): hop-by-hop fields stay on their hop (the standard ones and those
 * named in {@code Connection}), {@code Via} names the gateway in both directions, and the upstream learns who the
 * client was from X-Forwarded-For/-Proto/-Host. Message framing (Content-Length, Transfer-Encoding) is kept: bodies
 * are streamed as they came, after {@link RequestCheck} made sure their framing is unambiguous.
 */
public final class ForwardingHeaders {

  /**
   * The largest header block of an upstream's answer, for both engines; a larger one gets the client a 502. Above what
   * a client may send (http.maxHeaderSize, at most 16 KiB by default) so that an upstream echoing headers back is not
   * refused, and bounded so one answer cannot take the gateway's memory.
   */
  public static final int MAX_UPSTREAM_HEAD_BYTES = 64 * 1024;

  private static final List<CharSequence> HOP_BY_HOP = List.of(HttpHeaderNames.CONNECTION, HttpHeaderNames.KEEP_ALIVE,
      HttpHeaderNames.PROXY_AUTHENTICATE, HttpHeaderNames.PROXY_AUTHORIZATION, HttpHeaderNames.TE,
      HttpHeaderNames.TRAILER, HttpHeaderNames.UPGRADE, "Proxy-Connection");

  /** How the gateway names itself in Via (RFC 9110 §7.6.3), whichever engine serves. */
  public static final String VIA_NAME = "sluice";
  private static final String VIA_1_0 = "1.0 " + VIA_NAME;
  private static final String VIA_1_1 = "1.1 " + VIA_NAME;
  private static final String VIA_2 = "2 " + VIA_NAME;

  private ForwardingHeaders() {
  }

  /**
   * Prepares a client's request for the upstream; {@code scheme} ({@code http} or {@code https}): how the client
   * reached the gateway. An upgrade request keeps its {@code Upgrade} and says {@code Connection: Upgrade} again: the
   * switch is for the two ends to agree on, through the gateway.
   */
  public static void toUpstream(HttpRequest request, String clientIp, String scheme, boolean upgrade) {
    toUpstream(request, clientIp, scheme, upgrade, hop(request.protocolVersion()));
  }

  /** The same for a request received over HTTP/2 (an HTTP/1.1 view of its head): Via names {@code 2}. */
  public static void toUpstreamFromHttp2(HttpRequest request, String clientIp, String scheme) {
    toUpstream(request, clientIp, scheme, false, VIA_2);
  }

  private static void toUpstream(HttpRequest request, String clientIp, String scheme, boolean upgrade, String via) {
    HttpHeaders headers = request.headers();
    dropHopByHop(headers, upgrade);
    addVia(headers, via);
    String prior = headers.get("X-Forwarded-For");
    headers.set("X-Forwarded-For", prior == null || prior.isBlank() ? clientIp : prior + ", " + clientIp);
    headers.set("X-Forwarded-Proto", scheme);
    String host = headers.get(HttpHeaderNames.HOST);
    if (host != null) {
      headers.set("X-Forwarded-Host", host);
    }
  }

  /** Prepares an upstream's response (final or interim) for the client; {@code received}: its version upstream. */
  public static void toClient(HttpResponse response, HttpVersion received) {
    dropHopByHop(response.headers(), false);
    addVia(response.headers(), received);
  }

  /** A 101 keeps the {@code Upgrade} it agreed to, with {@code Connection: Upgrade}. */
  public static void toClientSwitching(HttpResponse response) {
    dropHopByHop(response.headers(), true);
    addVia(response.headers(), response.protocolVersion());
  }

  /** This hop in {@code Via}: the version of the message as it was received (RFC 9110 §7.6.3), and our name. */
  private static String hop(HttpVersion received) {
    return received == HttpVersion.HTTP_1_0 ? VIA_1_0 : VIA_1_1;
  }

  private static void addVia(HttpHeaders headers, HttpVersion received) {
    addVia(headers, hop(received));
  }

  /** Appends {@code hop} to {@code Via}. */
  private static void addVia(HttpHeaders headers, String hop) {
    if (!headers.contains(HttpHeaderNames.VIA)) {
      headers.add(HttpHeaderNames.VIA, hop);
      return;
    }
    headers.set(HttpHeaderNames.VIA, String.join(", ", headers.getAll(HttpHeaderNames.VIA)) + ", " + hop);
  }

  /**
   * Removes the hop-by-hop fields. For a switch of protocols ({@code keepUpgrade}) {@code Upgrade} stays where it
   * is, and {@code Connection} says only {@code Upgrade}: the two ends agree on the switch through the gateway.
   */
  private static void dropHopByHop(HttpHeaders headers, boolean keepUpgrade) {
    List<String> connection = headers.getAll(HttpHeaderNames.CONNECTION);
    for (String field : connection) {
      for (String token : field.split(",")) {
        String name = token.trim();
        if (!name.isEmpty() && !name.equalsIgnoreCase("close") && !name.equalsIgnoreCase("keep-alive")
            && !isFraming(name) && !(keepUpgrade && name.equalsIgnoreCase("upgrade"))) {
          headers.remove(name);
        }
      }
    }
    boolean connectionIsUpgrade = connection.size() == 1 && connection.get(0).trim().equalsIgnoreCase("upgrade");
    for (CharSequence name : HOP_BY_HOP) {
      boolean kept = keepUpgrade && (name == HttpHeaderNames.UPGRADE
          || name == HttpHeaderNames.CONNECTION && connectionIsUpgrade);
      if (!kept) {
        headers.remove(name);
      }
    }
    if (keepUpgrade && !connectionIsUpgrade) {
      headers.set("Connection", "Upgrade");
    }
  }

  /** Fields that frame the message are the gateway's to keep whatever {@code Connection} says. */
  private static boolean isFraming(String name) {
    return name.equalsIgnoreCase("content-length") || name.equalsIgnoreCase("transfer-encoding")
        || name.equalsIgnoreCase("host");
  }

}
