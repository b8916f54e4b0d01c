package io.sluice.gateway.limit;

/** What the limiter may look at in a request: its headers and the client's address. */
public interface RequestInfo {

  String header(String name);

  String clientIp();
}
