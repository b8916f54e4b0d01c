package io.sluice.gateway.proxy;

import io.sluice.gateway.StoreFactory;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.DisplayName;

@DisplayName("Gateway over HTTP, vertx engine, in-memory counters")
class VertxEngineGatewayTest extends GatewayHttpContract {

  @Override
  protected StoreFactory storeFactory() {
    return null;
  }

  @Override
  protected JsonObject engineConfig() {
    return new JsonObject().put("proxy", new JsonObject().put("engine", "vertx"));
  }
}
