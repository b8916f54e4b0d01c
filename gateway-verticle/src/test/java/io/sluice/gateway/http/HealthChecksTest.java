package io.sluice.gateway.http;

import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.limit.InMemoryCounterStore;
import io.sluice.gateway.limit.StoreMode;
import io.sluice.gateway.testing.ForwardingCounterStore;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.healthchecks.CheckResult;
import io.vertx.ext.healthchecks.Status;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /health/live} and {@code /health/ready} over real HTTP, as vertx-health-check writes them: readiness is
 * deployed and a cluster member; the store and upstream checks show, and do not count.
 */
@DisplayName("Health checks on the management port")
class HealthChecksTest {

  private Vertx vertx;
  private WebClient client;
  private final SwitchableStore store = new SwitchableStore();
  private GatewayVerticle gateway;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    client = WebClient.create(vertx);
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        // nothing listens on port 9 (discard): the upstream check is down
        .put("upstreams", new JsonArray().add("http://127.0.0.1:9"))
        .put("warmup", new JsonObject().put("requests", 0))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "global").put("key", "global")
            .put("requests", 10).put("window", "1s")));
    gateway = new GatewayVerticle((v, c) -> store);
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
  }

  @AfterEach
  void stop() {
    client.close();
    vertx.close().await();
  }

  private HttpResponse<Buffer> ready() {
    return client.get(gateway.managementPort(), "127.0.0.1", "/health/ready").send().await();
  }

  private static JsonObject check(JsonObject health, String id) {
    for (Object check : health.getJsonArray("checks")) {
      if (check instanceof JsonObject named && id.equals(named.getString("id"))) {
        return named;
      }
    }
    throw new AssertionError("no check '" + id + "' in " + health.encode());
  }

  @Test
  @DisplayName("live: 200 with one check, the management event loop")
  void live() {
    HttpResponse<Buffer> live = client.get(gateway.managementPort(), "127.0.0.1", "/health/live").send().await();
    assertEquals(200, live.statusCode());
    assertEquals(new JsonObject().put("status", "UP")
        .put("checks", new JsonArray().add(new JsonObject().put("id", "event-loop").put("status", "UP")))
        .put("outcome", "UP"), live.bodyAsJsonObject());
  }

  @Test
  @DisplayName("ready: 200 while deployed and a member, though the upstream is down and the store degraded")
  void readyWhileStoreDegradedAndUpstreamDown() {
    store.mode = StoreMode.State.DEGRADED;
    HttpResponse<Buffer> ready = ready();
    assertEquals(200, ready.statusCode(), ready::bodyAsString);
    JsonObject health = ready.bodyAsJsonObject();
    assertEquals("UP", health.getString("status"));
    assertEquals("UP", health.getString("outcome"));
    assertEquals("UP", check(health, "deployed").getString("status"));
    assertEquals("UP", check(health, "cluster-member").getString("status"));
    assertEquals(new JsonObject().put("members", 3), check(health, "cluster-member").getJsonObject("data"));
    assertEquals("DOWN", check(health, "store").getString("status"));
    assertEquals(new JsonObject().put("mode", "DEGRADED").put("placesAlone", 7),
        check(health, "store").getJsonObject("data"));
    assertEquals("DOWN", check(health, "upstreams").getString("status"));
    assertEquals(new JsonObject().put("http://127.0.0.1:9", "DOWN"), check(health, "upstreams").getJsonObject("data"));
  }

  @Test
  @DisplayName("ready: a store only suspected (a call failed, decisions still shared) shows its check UP, as documented")
  void suspectedStoreIsUp() {
    store.mode = StoreMode.State.SUSPECT;
    JsonObject health = ready().bodyAsJsonObject();
    assertEquals("UP", check(health, "store").getString("status"));
    assertEquals("SUSPECT", check(health, "store").getJsonObject("data").getString("mode"));
  }

  @Test
  @DisplayName("ready: 503 when the gateway is no member of the cluster its counters live in")
  void notReadyOutsideTheCluster() {
    store.member = false;
    HttpResponse<Buffer> ready = ready();
    assertEquals(503, ready.statusCode(), ready::bodyAsString);
    JsonObject health = ready.bodyAsJsonObject();
    assertEquals("DOWN", health.getString("status"));
    assertEquals("DOWN", health.getString("outcome"));
    assertEquals("DOWN", check(health, "cluster-member").getString("status"));
    assertEquals("UP", check(health, "deployed").getString("status"));
  }

  @Test
  @DisplayName("ready: a check that does not count never makes it DOWN; one that counts always does")
  void onlyCountedChecksDecide() {
    List<CheckResult> shownOnly = List.of(CheckResult.from("deployed", Status.OK()),
        CheckResult.from("cluster-member", Status.OK()), CheckResult.from("store", Status.KO()),
        CheckResult.from("upstreams", Status.KO()));
    assertTrue(ManagementServer.readinessOf(new CheckResult().setChecks(shownOnly)).getUp());
    List<CheckResult> notDeployed = List.of(CheckResult.from("deployed", Status.KO()),
        CheckResult.from("cluster-member", Status.OK()));
    assertFalse(ManagementServer.readinessOf(new CheckResult().setChecks(notDeployed)).getUp());
    assertEquals(2, ManagementServer.readinessOf(new CheckResult().setChecks(notDeployed)).getChecks().size());
  }

  /** In-memory counters whose cluster membership and mode the test sets. */
  private static final class SwitchableStore extends ForwardingCounterStore {
    volatile boolean member = true;
    volatile StoreMode.State mode = StoreMode.State.SHARED;

    SwitchableStore() {
      super(new InMemoryCounterStore(Clock.systemUTC(), 1_000));
    }

    @Override
    public boolean isReady() {
      return member;
    }

    @Override
    public StoreMode.State mode() {
      return mode;
    }

    @Override
    public int placesAlone() {
      return mode.alone() ? 7 : 0;
    }

    @Override
    public int clusterMembers() {
      return 3;
    }
  }
}
