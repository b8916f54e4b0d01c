package io.sluice.gateway.cluster;

import ch.qos.logback.classic.Level;
import io.sluice.api.ApiVerticle;
import io.sluice.gateway.testing.TestApi;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.policy.PolicyFollower;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The policy document shared by clustered gateways (real Hazelcast members in this JVM), over real HTTP: a change on
 * one gateway is enforced by the other within a second, and a gateway that joins with other policies adopts the
 * cluster's.
 */
@DisplayName("Policies of clustered gateways")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusteredPoliciesTest {

  private static final String ADMIN_TOKEN = "admin-" + UUID.randomUUID();
  /** What the issue promises: every gateway applies a new version within 1 s. */
  private static final long APPLY_WITHIN_MILLIS = 1_000;
  /** Between two looks at another gateway while waiting for it to apply a version. */
  private static final long POLL_MILLIS = 20;
  private static final Map<String, String> ENV = Map.of("SLUICE_CLUSTER_NAME", "policies-test-" + UUID.randomUUID());
  private static Vertx upstreamVertx;
  private static int apiPort;
  private static final List<Vertx> members = new ArrayList<>();
  private static final List<GatewayVerticle> gateways = new ArrayList<>();
  private static WebClient client;

  @BeforeAll
  static void start() {
    upstreamVertx = Vertx.vertx();
    ApiVerticle api = TestApi.deploy(upstreamVertx);
    apiPort = api.actualPort();
    client = WebClient.create(upstreamVertx);
    for (int i = 0; i < 2; i++) {
      startGateway(10);
    }
  }

  /** A gateway in the test's cluster whose configuration says {@code global} allows {@code globalRequests}. */
  private static void startGateway(int globalRequests) {
    HazelcastClusterManager manager = new HazelcastClusterManager(ClusterSetup.load(ENV, new Properties()));
    Vertx vertx = Vertx.builder().withClusterManager(manager).buildClustered().await();
    members.add(vertx);
    GatewayVerticle gateway = new GatewayVerticle(ClusteredStores.production(manager.getHazelcastInstance()));
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0).put("adminToken", ADMIN_TOKEN))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + apiPort))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        // exact shared counting: a cold cluster's first call may take longer than the default 50 ms
        .put("limiter", new JsonObject().put("storeTimeout", "1s"))
        .put("policies", new JsonArray().add(global(globalRequests)));
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    gateways.add(gateway);
  }

  private static JsonObject global(int requests) {
    return new JsonObject().put("name", "global").put("key", "global").put("requests", requests)
        .put("window", "20s");
  }

  @AfterAll
  static void stop() {
    for (Vertx vertx : members) {
      vertx.close().await();
    }
    upstreamVertx.close().await();
  }

  private static HttpResponse<Buffer> admin(int gateway, HttpMethod method, String path, JsonObject body) {
    var request = client.request(method, gateways.get(gateway).managementPort(), "127.0.0.1", path)
        .putHeader("Authorization", "Bearer " + ADMIN_TOKEN);
    return (body == null ? request.send() : request.sendJsonObject(body)).await();
  }

  /** The limit {@code global} has on that gateway now, as its limiter sees it. */
  private static int enforcedGlobal(int gateway) {
    return admin(gateway, HttpMethod.GET, "/admin/limits/global/any", null).bodyAsJsonObject().getInteger("requests");
  }

  private static int forwarded(int gateway, int requests) {
    int ok = 0;
    for (int i = 0; i < requests; i++) {
      int status = client.get(gateways.get(gateway).proxyPort(), "127.0.0.1", "/api/hello").send().await()
          .statusCode();
      ok += status == 200 ? 1 : 0;
    }
    return ok;
  }

  @Test
  @Order(1)
  @DisplayName("a PUT on one gateway changes what the other enforces within 1 s, and the counters carry over")
  void changeOnOneIsEnforcedByTheOther() {
    assertEquals(2, forwarded(1, 2), "2 of global's 10 used, through the other gateway");
    try (LogCapture logs = LogCapture.of(PolicyFollower.class)) {
      HttpResponse<Buffer> put = admin(0, HttpMethod.PUT, "/admin/policies",
          new JsonObject().put("policies", new JsonArray().add(global(5))));
      long stored = System.nanoTime();
      assertEquals(200, put.statusCode(), put::bodyAsString);
      assertEquals(2, put.bodyAsJsonObject().getLong("version"));
      assertEquals(5, enforcedGlobal(0), "in force on the gateway that took the PUT when it answers");
      long waitedMillis = 0;
      while (enforcedGlobal(1) != 5) {
        waitedMillis = (System.nanoTime() - stored) / 1_000_000;
        assertTrue(waitedMillis < APPLY_WITHIN_MILLIS, "the other gateway still enforces the old limit");
        upstreamVertx.timer(POLL_MILLIS).await();
      }
      assertEquals(2, logs.messages(Level.INFO).stream()
          .filter(line -> line.startsWith("policy version 2 applied") && line.contains("global requests 10 -> 5"))
          .count(), () -> "one line per gateway: " + logs.lines());
    }
    assertEquals(3, forwarded(1, 5), "5 per window, 2 already used before the change");
    assertEquals(0, forwarded(0, 2));

    JsonObject shown = admin(1, HttpMethod.GET, "/admin/policies", null).bodyAsJsonObject();
    assertEquals(2, shown.getLong("version"), shown::encode);
    JsonArray applied = shown.getJsonArray("gateways");
    assertEquals(2, applied.size(), shown::encode);
    for (int i = 0; i < applied.size(); i++) {
      assertEquals(2, applied.getJsonObject(i).getLong("version"), shown::encode);
      assertTrue(applied.getJsonObject(i).getString("appliedAt").endsWith("Z"), shown::encode);
    }
  }

  @Test
  @Order(2)
  @DisplayName("a gateway that joins with other policies adopts the cluster's document and logs the difference")
  void joinerAdoptsTheDocument() {
    try (LogCapture logs = LogCapture.of(PolicyFollower.class)) {
      startGateway(30);
      assertTrue(logs.messages(Level.WARN).stream().anyMatch(line -> line.contains("differ from the cluster's policy "
          + "document version 2") && line.contains("global requests 30 -> 5")), () -> logs.lines().toString());
    }
    assertEquals(5, enforcedGlobal(2), "the cluster's 5, not its own 30");
    assertEquals(0, forwarded(2, 15), "the window's 5 are used up: the joiner forwards none of 15");
    JsonObject shown = admin(2, HttpMethod.GET, "/admin/policies", null).bodyAsJsonObject();
    assertEquals(3, shown.getJsonArray("gateways").size(), shown::encode);
  }

  @Test
  @Order(3)
  @DisplayName("two changes sent at once to two gateways from the same version: one is stored, the other is a 409")
  void concurrentChangesDoNotBothWin() {
    long version = admin(0, HttpMethod.GET, "/admin/policies", null).bodyAsJsonObject().getLong("version");
    List<Future<HttpResponse<Buffer>>> answers = new ArrayList<>();
    for (int gateway = 0; gateway < 2; gateway++) {
      JsonObject change = new JsonObject().put("version", version)
          .put("policies", new JsonArray().add(global(6 + gateway)));
      answers.add(client.request(HttpMethod.PUT, gateways.get(gateway).managementPort(), "127.0.0.1",
          "/admin/policies").putHeader("Authorization", "Bearer " + ADMIN_TOKEN).sendJsonObject(change));
    }
    Future.join(answers).await();
    List<Integer> statuses = answers.stream().map(answer -> answer.result().statusCode()).sorted().toList();
    assertEquals(List.of(200, 409), statuses, () -> answers.stream().map(a -> a.result().bodyAsString()).toList()
        .toString());
    JsonObject shown = admin(1, HttpMethod.GET, "/admin/policies", null).bodyAsJsonObject();
    assertEquals(version + 1, shown.getLong("version"), shown::encode);
  }
}
