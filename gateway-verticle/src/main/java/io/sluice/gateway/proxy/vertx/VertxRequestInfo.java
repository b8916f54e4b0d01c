package io.sluice.gateway.proxy.vertx;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.sluice.gateway.limit.RequestInfo;
import io.vertx.core.MultiMap;

/**
 * The limiter's view of a request the Vert.x server read. The client address is the TCP peer, as for Netty. Method,
 * target and host come from the checked head, as for Netty: an absolute target in origin form, an HTTP/2
 * {@code :authority} as {@code Host}.
 */
record VertxRequestInfo(MultiMap headers, HttpRequest head, String clientIp) implements RequestInfo {

  @Override
  public String header(String name) {
    return headers.get(name);
  }

  @Override
  public String method() {
    return head.method().name();
  }

  @Override
  public String target() {
    return head.uri();
  }

  @Override
  public String host() {
    return head.headers().get(HttpHeaderNames.HOST);
  }
}
