package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.RequestInfo;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.SocketAddress;

/** The limiter's view of an incoming request. The client address is the TCP peer (X-Forwarded-For is not trusted). */
record HttpRequestInfo(HttpServerRequest request) implements RequestInfo {

  @Override
  public String header(String name) {
    return request.getHeader(name);
  }

  @Override
  public String clientIp() {
    SocketAddress address = request.remoteAddress();
    return address == null ? "unknown" : address.hostAddress();
  }
}
