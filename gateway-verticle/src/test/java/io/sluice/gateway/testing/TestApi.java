package io.sluice.gateway.testing;

import io.sluice.api.ApiVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

/** The API verticle the gateway tests put behind a gateway: deployed on a free port, its port read back. */
public final class TestApi {

  private TestApi() {
  }

  /** Deploys the API verticle in {@code vertx} on a port the OS picks, and waits until it listens. */
  public static ApiVerticle deploy(Vertx vertx) {
    ApiVerticle api = new ApiVerticle();
    vertx.deployVerticle(api, new DeploymentOptions()
        .setConfig(new JsonObject().put("http", new JsonObject().put("port", 0)))).await();
    return api;
  }
}
