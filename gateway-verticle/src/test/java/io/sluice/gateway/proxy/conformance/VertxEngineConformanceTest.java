package io.sluice.gateway.proxy.conformance;

import org.junit.jupiter.api.DisplayName;

@DisplayName("HTTP/1.1 conformance of the proxy port, vertx engine")
class VertxEngineConformanceTest extends ConformanceTest {

  @Override
  protected String engine() {
    return "vertx";
  }
}
