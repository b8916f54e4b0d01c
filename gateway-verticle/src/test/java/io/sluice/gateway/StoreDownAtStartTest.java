package io.sluice.gateway;

import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A gateway whose counter store fails every call from the start (a cluster whose first calls time out, a store in
 * closed mode that is down) still starts and reports ready: its warm-up of the decision path is an optimisation,
 * and the limited requests get the store-failure answer, not a gateway that never comes up.
 */
@DisplayName("The counter store failing from the start")
class StoreDownAtStartTest {

  private Vertx vertx;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void stop() {
    vertx.close().await();
  }

  @Test
  @DisplayName("the gateway starts and is ready; a limited request gets 503 with a problem body, a free one 200")
  void startsAnyway() {
    HttpServer upstream = vertx.createHttpServer().requestHandler(r -> r.response().end("ok")).listen(0).await();
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + upstream.actualPort()))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 5))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "per-key").put("key", "header:X-Api-Key")
            .put("requests", 5).put("window", "1s").put("onMissingKey", "skip")));
    GatewayVerticle gateway = new GatewayVerticle((v, c) -> new DownStore());
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();

    WebClient client = WebClient.create(vertx);
    HttpResponse<Buffer> ready = client.get(gateway.managementPort(), "127.0.0.1", "/health/ready").send().await();
    assertEquals(200, ready.statusCode(), ready.bodyAsString());
    HttpResponse<Buffer> limited = client.get(gateway.proxyPort(), "127.0.0.1", "/x").putHeader("X-Api-Key", "k")
        .send().await();
    assertEquals(503, limited.statusCode(), limited.bodyAsString());
    assertTrue(limited.getHeader("content-type").startsWith("application/problem+json"));
    assertEquals(200, client.get(gateway.proxyPort(), "127.0.0.1", "/x").send().await().statusCode(),
        "a request no policy counts does not need the store");
  }

  /** A store that is down: every call fails at once. */
  private static final class DownStore implements CounterStore {
    private static <T> Future<T> down() {
      return Future.failedFuture(new IllegalStateException("the counter store is down"));
    }

    @Override
    public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                       long latestMillis) {
      return down();
    }

    @Override
    public Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket) {
      return down();
    }

    @Override
    public Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted) {
      return down();
    }
  }
}
