package io.sluice.gateway.proxy;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;

import java.util.List;

/**
 * Header rules of a reverse proxy (RFC 9110 §7.6.1): hop-by-hop fields stay on their hop, and the upstream learns
 * who the client was from X-Forwarded-For/-Proto/-Host. Message framing (Content-Length, Transfer-Encoding) is kept:
 * bodies are streamed as they came.
 */
final class ForwardingHeaders {

  private static final List<CharSequence> HOP_BY_HOP = List.of(HttpHeaderNames.CONNECTION, HttpHeaderNames.KEEP_ALIVE,
      HttpHeaderNames.PROXY_AUTHENTICATE, HttpHeaderNames.PROXY_AUTHORIZATION, HttpHeaderNames.TE,
      HttpHeaderNames.TRAILER, HttpHeaderNames.UPGRADE, "Proxy-Connection");

  private ForwardingHeaders() {
  }

  /** Prepares a client's request headers for the upstream. */
  static void toUpstream(HttpHeaders headers, String clientIp) {
    dropHopByHop(headers);
    String prior = headers.get("X-Forwarded-For");
    headers.set("X-Forwarded-For", prior == null || prior.isBlank() ? clientIp : prior + ", " + clientIp);
    headers.set("X-Forwarded-Proto", "http");
    String host = headers.get(HttpHeaderNames.HOST);
    if (host != null) {
      headers.set("X-Forwarded-Host", host);
    }
  }

  /** Prepares an upstream's response headers for the client. */
  static void toClient(HttpHeaders headers) {
    dropHopByHop(headers);
  }

  private static void dropHopByHop(HttpHeaders headers) {
    for (String connection : headers.getAll(HttpHeaderNames.CONNECTION)) {
      for (String token : connection.split(",")) {
        String name = token.trim();
        if (!name.isEmpty() && !name.equalsIgnoreCase("close") && !name.equalsIgnoreCase("keep-alive")) {
          headers.remove(name);
        }
      }
    }
    for (CharSequence name : HOP_BY_HOP) {
      headers.remove(name);
    }
  }
}
