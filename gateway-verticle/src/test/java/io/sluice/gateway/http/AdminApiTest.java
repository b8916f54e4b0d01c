package io.sluice.gateway.http;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.testing.TestApi;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The admin API on the management port, over real HTTP, on one gateway (the cluster-wide case: ClusteredGatewaysTest). */
@DisplayName("The admin API")
class AdminApiTest {

  private static final String TOKEN = "test-admin-token-" + UUID.randomUUID();
  /** A key as a client may send it: spaces, a slash, a quote and non-ASCII. */
  private static final String KEY = "key with/slash \"quoted\" é";

  private Vertx vertx;
  private WebClient client;
  private int apiPort;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    client = WebClient.create(vertx);
    ApiVerticle api = TestApi.deploy(vertx);
    apiPort = api.actualPort();
  }

  @AfterEach
  void stop() {
    vertx.close().await();
  }

  private GatewayVerticle gateway(String adminToken) {
    JsonObject management = new JsonObject().put("host", "127.0.0.1").put("port", 0);
    if (adminToken != null) {
      management.put("adminToken", adminToken);
    }
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", management)
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + apiPort))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "per-key").put("key", "header:X-Api-Key")
            .put("requests", 2).put("window", "60s")));
    GatewayVerticle gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    return gateway;
  }

  private HttpResponse<Buffer> admin(GatewayVerticle gateway, HttpMethod method, String path, String token) {
    var request = client.request(method, gateway.managementPort(), "127.0.0.1", path);
    if (token != null) {
      request.putHeader("Authorization", "Bearer " + token);
    }
    return request.send().await();
  }

  private static String limitPath(String policy, String key) {
    return "/admin/limits/" + policy + "/" + URLEncoder.encode(key, StandardCharsets.UTF_8).replace("+", "%20");
  }

  private int forward(GatewayVerticle gateway, String key) {
    return client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello").putHeader("X-Api-Key", key).send().await()
        .statusCode();
  }

  @Test
  @DisplayName("off without management.adminToken: its paths are not found, with a problem saying how to turn it on")
  void offByDefault() {
    HttpResponse<Buffer> answer = admin(gateway(null), HttpMethod.GET, limitPath("per-key", "k"), TOKEN);
    assertEquals(404, answer.statusCode());
    assertTrue(answer.bodyAsString().contains("management.adminToken"), answer.bodyAsString());
    assertEquals("application/problem+json", answer.getHeader("content-type"));
  }

  @Test
  @DisplayName("without the token, or with another one (even one of the same length), 401 with a Bearer challenge")
  void needsTheToken() {
    GatewayVerticle gateway = gateway(TOKEN);
    for (String wrong : new String[] {null, "", "x", TOKEN.substring(1) + "y", TOKEN + "y"}) {
      HttpResponse<Buffer> answer = admin(gateway, HttpMethod.DELETE, limitPath("per-key", "k"), wrong);
      assertEquals(401, answer.statusCode(), "token " + wrong);
      assertEquals("Bearer realm=\"sluice-admin\"", answer.getHeader("www-authenticate"));
    }
    HttpResponse<Buffer> basic = client.get(gateway.managementPort(), "127.0.0.1", limitPath("per-key", "k"))
        .putHeader("Authorization", "Basic " + TOKEN).send().await();
    assertEquals(401, basic.statusCode());
  }

  @Test
  @DisplayName("GET shows what a raw key has left and when it fits again; DELETE lets it back in at once; the raw key "
      + "is never logged")
  void showAndReset() {
    GatewayVerticle gateway = gateway(TOKEN);
    try (LogCapture logs = LogCapture.everything()) {
      JsonObject fresh = admin(gateway, HttpMethod.GET, limitPath("per-key", KEY), TOKEN).bodyAsJsonObject();
      JsonObject shown = fresh.copy();
      assertTrue(shown.remove("nextAllowedAt") instanceof String, fresh::encode);
      assertEquals(new JsonObject().put("policy", "per-key").put("requests", 2).put("windowMillis", 60_000)
          .put("remaining", 2).put("used", 0).put("retryAfterMillis", 0), shown);
      assertEquals(200, forward(gateway, KEY));
      assertEquals(1, admin(gateway, HttpMethod.GET, limitPath("per-key", KEY), TOKEN).bodyAsJsonObject()
          .getInteger("remaining"));
      assertEquals(200, forward(gateway, KEY));
      assertEquals(429, forward(gateway, KEY));
      JsonObject full = admin(gateway, HttpMethod.GET, limitPath("per-key", KEY), TOKEN).bodyAsJsonObject();
      assertEquals(0, full.getInteger("remaining"), full::encode);
      assertTrue(full.getLong("retryAfterMillis") > 50_000, full::encode);

      HttpResponse<Buffer> reset = admin(gateway, HttpMethod.DELETE, limitPath("per-key", KEY), TOKEN);
      assertEquals(204, reset.statusCode(), reset::bodyAsString);
      assertEquals(200, forward(gateway, KEY), "let back in");
      assertEquals(200, forward(gateway, "another key"), "other keys untouched: their own 2");
      assertTrue(logs.lines().stream().anyMatch(line -> line.contains("policy 'per-key' reset")), () -> logs.lines().toString());
      assertFalse(logs.lines().stream().anyMatch(line -> line.contains("slash") || line.contains(TOKEN)), () -> logs.lines().toString());
    }
  }

  @Test
  @DisplayName("an unknown policy is 404, a method other than GET, HEAD or DELETE 405, both as problems")
  void badRequests() {
    GatewayVerticle gateway = gateway(TOKEN);
    HttpResponse<Buffer> unknown = admin(gateway, HttpMethod.GET, limitPath("nope", "k"), TOKEN);
    assertEquals(404, unknown.statusCode());
    assertTrue(unknown.bodyAsString().contains("no policy named 'nope'"), unknown.bodyAsString());
    HttpResponse<Buffer> post = admin(gateway, HttpMethod.POST, limitPath("per-key", "k"), TOKEN);
    assertEquals(405, post.statusCode());
    assertEquals("GET, HEAD, DELETE", post.getHeader("allow"));
  }
}
