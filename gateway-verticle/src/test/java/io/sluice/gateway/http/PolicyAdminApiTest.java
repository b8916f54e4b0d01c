package io.sluice.gateway.http;

import ch.qos.logback.classic.Level;
import io.sluice.api.ApiVerticle;
import io.sluice.gateway.testing.TestApi;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.policy.PolicyFollower;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET} and {@code PUT /admin/policies} on one gateway without a cluster, over real HTTP (two clustered
 * gateways: cluster.ClusteredPoliciesTest).
 */
@DisplayName("The policies admin API, on a gateway alone")
class PolicyAdminApiTest {

  private static final String TOKEN = "test-admin-token-" + UUID.randomUUID();
  private static final String POLICIES = "/admin/policies";
  /** How ConfigLoader names a configuration given as a deployment's config, as its messages start. */
  private static final String STARTUP_SOURCE = "deployment config";

  private Vertx vertx;
  private WebClient client;
  private int apiPort;
  private GatewayVerticle gateway;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    client = WebClient.create(vertx);
    ApiVerticle api = TestApi.deploy(vertx);
    apiPort = api.actualPort();
    gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config(policies(perKey(2, "60s"))))).await();
  }

  @AfterEach
  void stop() {
    vertx.close().await();
  }

  private JsonObject config(JsonArray policies) {
    return new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0).put("adminToken", TOKEN))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + apiPort))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("policies", policies);
  }

  private static JsonObject perKey(int requests, String window) {
    return new JsonObject().put("name", "per-key").put("key", "header:X-Api-Key").put("requests", requests)
        .put("window", window);
  }

  private static JsonArray policies(JsonObject... policies) {
    JsonArray array = new JsonArray();
    for (JsonObject policy : policies) {
      array.add(policy);
    }
    return array;
  }

  private HttpRequest<Buffer> admin(HttpMethod method, String path) {
    return client.request(method, gateway.managementPort(), "127.0.0.1", path)
        .putHeader("Authorization", "Bearer " + TOKEN);
  }

  private HttpResponse<Buffer> put(JsonObject body) {
    return admin(HttpMethod.PUT, POLICIES).sendJsonObject(body).await();
  }

  private JsonObject show() {
    HttpResponse<Buffer> answer = admin(HttpMethod.GET, POLICIES).send().await();
    assertEquals(200, answer.statusCode(), answer::bodyAsString);
    return answer.bodyAsJsonObject();
  }

  private int forward(String key) {
    return client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello").putHeader("X-Api-Key", key).send().await()
        .statusCode();
  }

  @Test
  @DisplayName("GET shows the configuration's policies as version 1, applied by this gateway")
  void seededFromConfiguration() {
    JsonObject shown = show();
    assertEquals(1, shown.getLong("version"), shown::encode);
    assertEquals(new JsonObject().put("name", "per-key").put("key", "header:X-Api-Key").put("requests", 2)
        .put("window", "1m").put("onExceed", "reject").put("onMissingKey", "reject").put("mode", "enforce"),
        shown.getJsonArray("policies").getJsonObject(0));
    assertNotNull(shown.getString("changedAt"));
    JsonObject applied = shown.getJsonArray("gateways").getJsonObject(0);
    assertEquals(1, applied.getLong("version"), shown::encode);
    assertNotNull(applied.getString("appliedAt"), shown::encode);
  }

  @Test
  @DisplayName("PUT makes the next version, in force when it answers, logged as 'policy version 2 applied'; a "
      + "higher limit counts on from the requests already in the window")
  void putReplacesAndKeepsCounters() {
    assertEquals(200, forward("k"));
    assertEquals(200, forward("k"));
    assertEquals(429, forward("k"));
    try (LogCapture logs = LogCapture.of(PolicyFollower.class)) {
      HttpResponse<Buffer> answer = put(new JsonObject().put("policies", policies(perKey(3, "60s"))));
      assertEquals(200, answer.statusCode(), answer::bodyAsString);
      JsonObject body = answer.bodyAsJsonObject();
      assertEquals(2, body.getLong("version"), body::encode);
      assertEquals("changed per-key requests 2 -> 3", body.getString("differences"));
      assertTrue(logs.messages(Level.INFO).stream().anyMatch(line -> line.startsWith("policy version 2 applied")
          && line.contains("per-key requests 2 -> 3")), () -> logs.lines().toString());
    }
    assertEquals(200, forward("k"), "3 per minute now, 2 of them used");
    assertEquals(429, forward("k"));
    JsonObject shown = show();
    assertEquals(2, shown.getLong("version"));
    assertEquals(2, shown.getJsonArray("gateways").getJsonObject(0).getLong("version"), shown::encode);
    assertEquals(3, admin(HttpMethod.GET, "/admin/limits/per-key/k").send().await().bodyAsJsonObject()
        .getInteger("requests"));
  }

  @Test
  @DisplayName("/metrics follows the policies: a policy put in force gets its meters, a removed one's leave, and "
      + "sluice_config_version shows the version")
  void metricsFollowPolicies() {
    assertEquals(200, forward("k"));
    JsonObject other = new JsonObject().put("name", "other").put("key", "ip").put("requests", 5).put("window", "1s");
    assertEquals(200, put(new JsonObject().put("policies", policies(other))).statusCode());
    assertEquals(200, forward("k"));
    String metrics = client.get(gateway.managementPort(), "127.0.0.1", "/metrics").send().await().bodyAsString();
    assertTrue(metrics.contains("sluice_decisions_total{outcome=\"forwarded\",policy=\"other\"} 1.0"), metrics);
    assertFalse(metrics.contains("policy=\"per-key\""), metrics);
    assertTrue(metrics.contains("sluice_config_version 2.0"), metrics);
  }

  @Test
  @DisplayName("a new window or key starts from empty counters")
  void windowOrKeyChangeResetsCounters() {
    assertEquals(200, forward("k"));
    assertEquals(200, forward("k"));
    assertEquals(429, forward("k"));
    assertEquals(200, put(new JsonObject().put("policies", policies(perKey(2, "30s")))).statusCode());
    assertEquals(200, forward("k"), "another window: its own counters");
    assertEquals(200, forward("k"));
    assertEquals(429, forward("k"));
    JsonObject byBearer = perKey(2, "30s").put("key", "bearer");
    assertEquals(200, put(new JsonObject().put("policies", policies(byBearer))).statusCode());
    assertEquals(200, client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello")
        .putHeader("Authorization", "Bearer k").send().await().statusCode(), "another key source: its own counters");
  }

  @Test
  @DisplayName("a bad policy is a 400 problem with the message startup gives, and nothing changes")
  void invalidPoliciesGetStartupMessages() {
    JsonArray bad = policies(perKey(0, "60s"));
    Throwable startup = null;
    try {
      vertx.deployVerticle(new GatewayVerticle(), new DeploymentOptions().setConfig(config(bad))).await();
    } catch (Throwable e) {
      startup = e;
    }
    assertNotNull(startup, "a gateway does not start with requests 0");
    assertTrue(startup.getMessage().startsWith(STARTUP_SOURCE + ": "), startup.getMessage());

    HttpResponse<Buffer> answer = put(new JsonObject().put("policies", bad));
    assertEquals(400, answer.statusCode(), answer::bodyAsString);
    assertEquals("application/problem+json", answer.getHeader("content-type"));
    assertEquals(ManagementServer.SOURCE + startup.getMessage().substring(STARTUP_SOURCE.length()),
        answer.bodyAsJsonObject().getString("detail"));

    HttpResponse<Buffer> duplicate = put(new JsonObject().put("policies", policies(perKey(1, "1s"), perKey(2, "1s"))));
    assertEquals(400, duplicate.statusCode());
    assertEquals("PUT /admin/policies: key 'policies[1].name' must be unique among policies, got \"per-key\"",
        duplicate.bodyAsJsonObject().getString("detail"));
    HttpResponse<Buffer> notJson = admin(HttpMethod.PUT, POLICIES).putHeader("content-type", "application/json")
        .sendBuffer(Buffer.buffer("{not json")).await();
    assertEquals(400, notJson.statusCode());
    HttpResponse<Buffer> unknownKey = put(new JsonObject().put("policies", new JsonArray()).put("http", 1));
    assertEquals(400, unknownKey.statusCode());
    assertTrue(unknownKey.bodyAsJsonObject().getString("detail").contains("'http' is not a known key"),
        unknownKey::bodyAsString);
    assertEquals(1, show().getLong("version"), "nothing stored");
  }

  @Test
  @DisplayName("?dryRun=true checks and says what would change, without changing anything")
  void dryRun() {
    HttpResponse<Buffer> answer = admin(HttpMethod.PUT, POLICIES + "?dryRun=true")
        .sendJsonObject(new JsonObject().put("policies", policies(perKey(5, "60s")))).await();
    assertEquals(200, answer.statusCode(), answer::bodyAsString);
    JsonObject body = answer.bodyAsJsonObject();
    assertEquals(true, body.getBoolean("valid"));
    assertEquals("changed per-key requests 2 -> 5", body.getString("differences"));
    assertEquals(1, body.getLong("version"));
    HttpResponse<Buffer> bad = admin(HttpMethod.PUT, POLICIES + "?dryRun=true")
        .sendJsonObject(new JsonObject().put("policies", policies(perKey(5, "soon")))).await();
    assertEquals(400, bad.statusCode());
    assertTrue(bad.bodyAsJsonObject().getString("detail").contains("key 'policies[0].window' must be a positive "
        + "duration"), bad::bodyAsString);
    assertEquals(1, show().getLong("version"));
    assertEquals(2, show().getJsonArray("policies").getJsonObject(0).getInteger("requests"));
  }

  @Test
  @DisplayName("conf/routes.example.json is a policy document as PUT takes it (bin/sluice policies apply FILE)")
  void exampleFileApplies() throws java.io.IOException {
    Buffer example = Buffer.buffer(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("../conf/routes.example.json")));
    HttpResponse<Buffer> answer = admin(HttpMethod.PUT, POLICIES + "?dryRun=true")
        .putHeader("content-type", "application/json").sendBuffer(example).await();
    assertEquals(200, answer.statusCode(), answer::bodyAsString);
    assertTrue(answer.bodyAsJsonObject().getString("differences").startsWith("added global"), answer::bodyAsString);
  }

  @Test
  @DisplayName("without the token, 401 for GET and PUT; the same policies again make no new version")
  void needsTokenAndIsIdempotent() {
    for (HttpMethod method : new HttpMethod[] {HttpMethod.GET, HttpMethod.PUT}) {
      HttpResponse<Buffer> answer = client.request(method, gateway.managementPort(), "127.0.0.1", POLICIES)
          .sendJsonObject(new JsonObject().put("policies", new JsonArray())).await();
      assertEquals(401, answer.statusCode(), method.name());
      assertEquals("Bearer realm=\"sluice-admin\"", answer.getHeader("www-authenticate"));
    }
    HttpResponse<Buffer> same = put(new JsonObject().put("policies", policies(perKey(2, "1m"))));
    assertEquals(200, same.statusCode());
    assertEquals(false, same.bodyAsJsonObject().getBoolean("changed"));
    assertEquals(1, same.bodyAsJsonObject().getLong("version"));
  }

  @Test
  @DisplayName("a stale version is 409, a body that is not JSON 415, one over 1 MiB 413, POST 405 with its allow")
  void refusals() {
    assertEquals(200, put(new JsonObject().put("version", 1).put("policies", policies(perKey(3, "1m"))))
        .statusCode());
    HttpResponse<Buffer> stale = put(new JsonObject().put("version", 1).put("policies", policies(perKey(4, "1m"))));
    assertEquals(409, stale.statusCode(), stale::bodyAsString);
    assertTrue(stale.bodyAsJsonObject().getString("detail").contains("at version 2, not 1"), stale::bodyAsString);

    HttpResponse<Buffer> text = admin(HttpMethod.PUT, POLICIES).putHeader("content-type", "text/plain")
        .sendBuffer(Buffer.buffer("{}")).await();
    assertEquals(415, text.statusCode());
    assertEquals("application/problem+json", text.getHeader("content-type"));

    Buffer huge = Buffer.buffer("{\"policies\": [], \"pad\": \"")
        .appendString("x".repeat((int) ManagementServer.MAX_POLICY_DOCUMENT_BYTES)).appendString("\"}");
    HttpResponse<Buffer> tooLarge = admin(HttpMethod.PUT, POLICIES).putHeader("content-type", "application/json")
        .sendBuffer(huge).await();
    assertEquals(413, tooLarge.statusCode());
    assertEquals("application/problem+json", tooLarge.getHeader("content-type"));

    HttpResponse<Buffer> post = admin(HttpMethod.POST, POLICIES).send().await();
    assertEquals(405, post.statusCode());
    assertEquals("GET, HEAD, PUT", post.getHeader("allow"));
    assertTrue(post.bodyAsJsonObject().getString("detail").endsWith("only GET, HEAD and PUT"), post::bodyAsString);
    assertEquals(2, show().getLong("version"));
  }
}
