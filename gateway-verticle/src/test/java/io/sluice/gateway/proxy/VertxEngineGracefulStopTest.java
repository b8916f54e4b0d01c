package io.sluice.gateway.proxy;

import org.junit.jupiter.api.DisplayName;

@DisplayName("Stopping with clients connected, vertx engine")
class VertxEngineGracefulStopTest extends GracefulStopTest {

  @Override
  protected String engine() {
    return "vertx";
  }
}
