package io.sluice.gateway.proxy.netty;


import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.AsciiString;
import io.sluice.gateway.limit.RequestInfo;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The limiter's view of an incoming request, once checked (an absolute target is in origin form, its authority in
 * {@code Host}). The client address is the TCP peer (X-Forwarded-For is not trusted).
 */
record NettyRequestInfo(HttpRequest request, String clientIp) implements RequestInfo {

  /** Header names the policies ask for, as AsciiStrings (their hash is computed once, not per request). */
  private static final Map<String, AsciiString> NAMES = new ConcurrentHashMap<>();

  @Override
  public String header(String name) {
    return request.headers().get(NAMES.computeIfAbsent(name, AsciiString::cached));
  }

  @Override
  public String method() {
    return request.method().name();
  }

  @Override
  public String target() {
    return request.uri();
  }

  @Override
  public String host() {
    return request.headers().get(HttpHeaderNames.HOST);
  }
}
