package io.sluice.gateway.proxy.netty;


import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import io.sluice.gateway.limit.RequestInfo;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The limiter's view of an incoming request. The client address is the TCP peer (X-Forwarded-For is not trusted). */
record NettyRequestInfo(HttpHeaders headers, String clientIp) implements RequestInfo {

  /** Header names the policies ask for, as AsciiStrings (their hash is computed once, not per request). */
  private static final Map<String, AsciiString> NAMES = new ConcurrentHashMap<>();

  @Override
  public String header(String name) {
    return headers.get(NAMES.computeIfAbsent(name, AsciiString::cached));
  }
}
