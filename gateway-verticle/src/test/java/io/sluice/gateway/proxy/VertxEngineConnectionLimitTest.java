package io.sluice.gateway.proxy;

import org.junit.jupiter.api.DisplayName;

@DisplayName("Client connections beyond http.maxConnections, vertx engine")
class VertxEngineConnectionLimitTest extends ConnectionLimitTest {

  @Override
  protected String engine() {
    return "vertx";
  }
}
