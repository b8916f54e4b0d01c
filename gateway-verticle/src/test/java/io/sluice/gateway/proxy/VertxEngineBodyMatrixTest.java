package io.sluice.gateway.proxy;

import org.junit.jupiter.api.DisplayName;

@DisplayName("Bodies of every size, framing and pace pass through the vertx engine in both directions")
class VertxEngineBodyMatrixTest extends BodyMatrixTest {

  @Override
  protected String engine() {
    return "vertx";
  }
}
