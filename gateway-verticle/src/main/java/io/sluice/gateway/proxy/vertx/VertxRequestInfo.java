package io.sluice.gateway.proxy.vertx;

import io.sluice.gateway.limit.RequestInfo;
import io.vertx.core.MultiMap;

/** The limiter's view of a request the Vert.x server read. The client address is the TCP peer, as for Netty. */
record VertxRequestInfo(MultiMap headers, String clientIp) implements RequestInfo {

  @Override
  public String header(String name) {
    return headers.get(name);
  }
}
