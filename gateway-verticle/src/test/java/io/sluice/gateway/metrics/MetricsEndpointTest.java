package io.sluice.gateway.metrics;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.testing.TestApi;
import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code GET /metrics} of a running gateway, over real HTTP, after real traffic: forwarded, held by a delaying policy,
 * rejected, refused for a missing key. The Vertx is built as the launcher builds it ({@link VertxMetricsSetup}), so
 * Vert.x's own meters are there too.
 */
@DisplayName("GET /metrics")
class MetricsEndpointTest {

  private static final String API_KEY = "alpha-secret-key-7f3c";
  private static final String OTHER_KEY = "beta-secret-key-91aa";
  private static final String LAST_KEY = "gamma-secret-key-0b2d";
  private static final String TOKEN = "tok-4d9e8c7b6a5f";
  private static final String PATH_SECRET = "path-secret-5e6f";

  private Vertx vertx;
  private WebClient client;

  @AfterEach
  void stop() {
    if (client != null) {
      client.close();
    }
    if (vertx != null) {
      vertx.close().await();
    }
  }

  /** A gateway with a global limit of 3 per 10 s, a delaying limit of 1 per 500 ms per key, and one per token. */
  private GatewayVerticle gateway(String engine) {
    vertx = VertxMetricsSetup.builder(new VertxOptions()).build();
    client = WebClient.create(vertx);
    ApiVerticle api = TestApi.deploy(vertx);
    JsonArray policies = new JsonArray()
        .add(new JsonObject().put("name", "global").put("key", "global").put("requests", 3).put("window", "10s"))
        .add(new JsonObject().put("name", "per-key").put("key", "header:X-Api-Key").put("requests", 1)
            .put("window", "500ms").put("onExceed", "delay").put("maxDelay", "1500ms"))
        .add(new JsonObject().put("name", "per-token").put("key", "bearer").put("requests", 100).put("window", "1s")
            .put("onMissingKey", "skip"));
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + api.actualPort()))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 3))
        .put("proxy", new JsonObject().put("engine", engine))
        .put("policies", policies);
    GatewayVerticle gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    return gateway;
  }

  private HttpRequest<Buffer> request(GatewayVerticle gateway, HttpMethod method, String apiKey) {
    HttpRequest<Buffer> request = client.request(method, gateway.proxyPort(), "127.0.0.1",
        "/api/hello?secret=" + PATH_SECRET).putHeader("Authorization", "Bearer " + TOKEN);
    return apiKey == null ? request : request.putHeader("X-Api-Key", apiKey);
  }

  /** Forwarded 3 (one of them held by per-key), then 401 for a missing key, then 429 from global. */
  private void traffic(GatewayVerticle gateway) {
    Future<HttpResponse<Buffer>> first = request(gateway, HttpMethod.GET, API_KEY).send();
    Future<HttpResponse<Buffer>> held = request(gateway, HttpMethod.GET, API_KEY).send();
    assertEquals(List.of(200, 200), List.of(first.await().statusCode(), held.await().statusCode()));
    assertEquals(401, request(gateway, HttpMethod.GET, null).send().await().statusCode());
    assertEquals(200, request(gateway, HttpMethod.GET, OTHER_KEY).send().await().statusCode());
    assertEquals(429, request(gateway, HttpMethod.GET, LAST_KEY).send().await().statusCode());
    assertEquals(200, client.get(gateway.managementPort(), "127.0.0.1", "/health/live").send().await().statusCode());
  }

  private String scrape(GatewayVerticle gateway) {
    HttpResponse<Buffer> metrics = client.get(gateway.managementPort(), "127.0.0.1", "/metrics").send().await();
    assertEquals(200, metrics.statusCode(), metrics::bodyAsString);
    assertTrue(metrics.getHeader("content-type").startsWith("text/plain; version=0.0.4"),
        metrics.getHeader("content-type"));
    return metrics.bodyAsString();
  }

  @ParameterizedTest(name = "{0} engine")
  @ValueSource(strings = {"netty", "vertx"})
  @DisplayName("a running gateway serves its decisions per policy and outcome, its histograms, store, cluster and "
      + "connection figures, and Vert.x's own HTTP metrics")
  void servesNamedMetrics(String engine) {
    GatewayVerticle gateway = gateway(engine);
    traffic(gateway);
    String text = scrape(gateway);

    assertEquals(3, value(text, "sluice_decisions_total", "policy=\"global\"", "outcome=\"forwarded\""), text);
    assertEquals(3, value(text, "sluice_decisions_total", "policy=\"per-key\"", "outcome=\"forwarded\""), text);
    assertEquals(1, value(text, "sluice_decisions_total", "policy=\"per-key\"", "outcome=\"delayed\""), text);
    assertEquals(1, value(text, "sluice_decisions_total", "policy=\"global\"", "outcome=\"rejected\""), text);
    assertEquals(1, value(text, "sluice_decisions_total", "policy=\"per-key\"", "outcome=\"missing_key\""), text);
    assertEquals(0, value(text, "sluice_decisions_total", "policy=\"per-token\"", "outcome=\"rejected\""), text);
    assertEquals(3, value(text, "sluice_forwarded_total"), text);
    assertEquals(1, value(text, "sluice_delayed_total"), text);
    assertEquals(1, value(text, "sluice_rejected_total"), text);
    assertEquals(1, value(text, "sluice_missing_key_total"), text);

    assertEquals(1, value(text, "sluice_delay_seconds_count"), text);
    assertTrue(value(text, "sluice_delay_seconds_sum") > 0.2, "held for about one 500 ms window: " + text);
    assertEquals(1, value(text, "sluice_delay_seconds_bucket", "le=\"1.0\""), text);
    assertEquals(3, value(text, "sluice_upstream_response_seconds_count"), text);
    assertEquals(3, value(text, "sluice_upstream_response_seconds_bucket", "le=\"+Inf\""), text);

    assertEquals(1, value(text, "sluice_store_mode", "mode=\"shared\""), text);
    assertEquals(0, value(text, "sluice_store_mode", "mode=\"degraded\""), text);
    assertEquals(0, value(text, "sluice_store_round_trips_total"), "in-memory counters: " + text);
    assertEquals(0, value(text, "sluice_cluster_members"), "not clustered: " + text);
    assertEquals(0, value(text, "sluice_store_places_alone"), "every key shared: " + text);
    assertEquals(1, value(text, "sluice_config_version"), text);
    assertTrue(value(text, "sluice_open_connections") >= 1, text);
    for (String name : List.of("sluice_store_failures_total", "sluice_store_lease_requests_total",
        "sluice_store_leased_permits_total", "sluice_store_mode_switches_total", "sluice_limited_decisions_total",
        "sluice_rejected_locally_total", "sluice_decided_again_total", "sluice_upstream_failures_total",
        "sluice_limiter_failures_total", "sluice_overloaded_total", "sluice_connections_refused_total")) {
      assertTrue(value(text, name) >= 0, name);
    }

    // Vert.x's own: every HTTP server and client of this Vertx (the API upstream and the test's client too)
    assertTrue(sum(text, "vertx_http_server_requests_total", "code=\"200\"") >= 1, text);
    assertTrue(value(text, "jvm_threads_live_threads") >= 1, text);
    if (engine.equals("vertx")) {
      assertEquals(1, sum(text, "vertx_http_server_requests_total", "code=\"429\""),
          "the vertx engine's proxy port is a Vert.x HTTP server: " + text);
    } else {
      assertFalse(text.lines().anyMatch(line -> line.startsWith("vertx_http_server_") && line.contains("code=\"429\"")),
          "the netty engine's proxy port is raw Netty, unseen by Vert.x: " + text);
    }
  }

  @ParameterizedTest(name = "{0} engine")
  @ValueSource(strings = {"netty", "vertx"})
  @DisplayName("no key value, token, store key, path or client-chosen method appears in /metrics")
  void noKeyOrTokenInMetrics(String engine) throws Exception {
    GatewayVerticle gateway = gateway(engine);
    traffic(gateway);
    request(gateway, HttpMethod.valueOf("BREWSECRET"), LAST_KEY).send().await();
    String text = scrape(gateway);
    for (String secret : List.of(API_KEY, OTHER_KEY, LAST_KEY, TOKEN, PATH_SECRET, "BREWSECRET",
        hashed(API_KEY), hashed(OTHER_KEY), hashed(LAST_KEY), hashed(TOKEN))) {
      assertFalse(text.contains(secret), secret + " in /metrics:\n" + text);
    }
    if (engine.equals("vertx")) {
      assertTrue(sum(text, "vertx_http_server_requests_total", "method=\"other\"") >= 1,
          "a method no standard names is counted as other: " + text);
    }
  }

  /** The first hex digits of what the limiter stores for an identity (its SHA-256). */
  private static String hashed(String identity) throws Exception {
    byte[] digest = MessageDigest.getInstance("SHA-256").digest(identity.getBytes(StandardCharsets.UTF_8));
    return HexFormat.of().formatHex(digest, 0, 8);
  }

  /** The sum of the series named {@code name} whose labels include each of {@code labels}; fails if there is none. */
  static double sum(String text, String name, String... labels) {
    double total = 0;
    boolean any = false;
    for (String line : text.split("\n")) {
      if (!line.startsWith("#") && line.startsWith(name + "{") && containsAll(line, labels)) {
        total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
        any = true;
      }
    }
    assertTrue(any, "no series " + name + " " + List.of(labels) + " in:\n" + text);
    return total;
  }

  private static boolean containsAll(String line, String... labels) {
    String series = line.substring(0, line.lastIndexOf(' '));
    for (String label : labels) {
      if (!series.contains(label)) {
        return false;
      }
    }
    return true;
  }

  /**
   * The value of the one series named {@code name} whose labels include each of {@code labels} ({@code k="v"} or any
   * text of the label list); fails if there is none or several.
   */
  static double value(String text, String name, String... labels) {
    Double found = null;
    for (String line : text.split("\n")) {
      if (line.startsWith("#") || !(line.startsWith(name + " ") || line.startsWith(name + "{"))) {
        continue;
      }
      if (containsAll(line, labels)) {
        assertTrue(found == null, "several series " + name + " " + List.of(labels) + " in:\n" + text);
        found = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    assertNotNull(found, "no series " + name + " " + List.of(labels) + " in:\n" + text);
    return found;
  }
}
