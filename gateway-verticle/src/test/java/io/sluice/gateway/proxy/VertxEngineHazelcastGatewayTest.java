package io.sluice.gateway.proxy;

import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.DisplayName;

/**
 * The HTTP contract against the vertx engine with the production (Hazelcast, leasing) store: its decisions complete
 * later than the in-memory store's, which is where a proxy that reads the request before the decision goes wrong.
 */
@DisplayName("Gateway over HTTP, vertx engine, Hazelcast counters")
class VertxEngineHazelcastGatewayTest extends HazelcastGatewayTest {

  @Override
  protected JsonObject engineConfig() {
    return new JsonObject().put("proxy", new JsonObject().put("engine", "vertx"));
  }
}
