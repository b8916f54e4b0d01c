package io.sluice.gateway.proxy;

import io.sluice.gateway.StoreFactory;
import org.junit.jupiter.api.DisplayName;

@DisplayName("Gateway over HTTP, in-memory counters")
class InMemoryGatewayTest extends GatewayHttpContract {

  @Override
  protected StoreFactory storeFactory() {
    return null;
  }
}
