package io.sluice.gateway.proxy;

import io.netty.handler.codec.http.HttpHeaders;
import io.sluice.gateway.limit.RequestInfo;

/** The limiter's view of an incoming request. The client address is the TCP peer (X-Forwarded-For is not trusted). */
record NettyRequestInfo(HttpHeaders headers, String clientIp) implements RequestInfo {

  @Override
  public String header(String name) {
    return headers.get(name);
  }
}
