package io.sluice.gateway.metrics;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.testing.TestApi;
import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Grafana dashboard in {@code conf/grafana/dashboards/sluice.json} only queries metrics a running gateway serves:
 * a renamed meter would otherwise leave a panel silently empty.
 */
@DisplayName("The Grafana dashboard")
class DashboardMetricsTest {

  private static final Path ROOT = Path.of(System.getProperty("sluice.root", "..")).toAbsolutePath().normalize();
  private static final Path DASHBOARD = ROOT.resolve("conf/grafana/dashboards/sluice.json");
  private static final Path DATASOURCE = ROOT.resolve("conf/grafana/provisioning/datasources/prometheus.yml");

  /** Words of PromQL that are not metric names where {@link #metricNames} looks. */
  private static final Set<String> KEYWORDS = Set.of("and", "or", "unless", "bool", "offset", "by", "without", "on",
      "ignoring", "group_left", "group_right", "inf", "nan");
  private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`");
  private static final Pattern LABEL_MATCHERS = Pattern.compile("\\{[^}]*}");
  private static final Pattern RANGE = Pattern.compile("\\[[^]]*]");
  private static final Pattern GROUPING =
      Pattern.compile("\\b(?:by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)");
  private static final Pattern VARIABLE = Pattern.compile("\\$\\{?\\w+}?");
  private static final Pattern NUMBER_OR_DURATION = Pattern.compile("(?<![\\w:])\\d[\\w.]*");
  private static final Pattern IDENTIFIER = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");

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

  @Test
  @DisplayName("queries only metrics that appear in /metrics of a running gateway after forwarded, delayed and "
      + "rejected requests")
  void queriesOnlyServedMetrics() throws IOException {
    Set<String> queried = new TreeSet<>();
    for (String expr : expressions(dashboard())) {
      queried.addAll(metricNames(expr));
    }
    assertTrue(queried.containsAll(List.of("sluice_decisions_total", "sluice_upstream_response_seconds_bucket",
        "sluice_delay_seconds_bucket", "sluice_store_round_trips_total", "sluice_cluster_members")),
        "the dashboard shows decisions, latency, delays, store round trips and cluster size: " + queried);

    GatewayVerticle gateway = gateway();
    traffic(gateway);
    String text = scrape(gateway);

    List<String> missing = queried.stream().filter(name -> !served(text, name)).toList();
    assertEquals(List.of(), missing, "queried by the dashboard but not in /metrics:\n" + text);
  }

  @Test
  @DisplayName("has a query in every panel, all on the Prometheus datasource that Grafana is provisioned with")
  void everyPanelQueriesTheProvisionedDatasource() throws IOException {
    String provisioned = Files.readString(DATASOURCE);
    List<JsonObject> panels = panels(dashboard().getJsonArray("panels"));
    assertFalse(panels.isEmpty(), "no panels in " + DASHBOARD);
    for (JsonObject panel : panels) {
      JsonArray targets = panel.getJsonArray("targets", new JsonArray());
      assertFalse(targets.isEmpty(), "panel without a query: " + panel.getString("title"));
      for (Object target : targets) {
        JsonObject query = (JsonObject) target;
        assertFalse(query.getString("expr", "").isBlank(), "empty query in " + panel.getString("title"));
        String uid = query.getJsonObject("datasource").getString("uid");
        assertTrue(provisioned.contains("uid: " + uid), panel.getString("title") + " queries datasource " + uid
            + ", which " + DATASOURCE + " does not provision");
      }
    }
  }

  @Test
  @DisplayName("reads metric names from PromQL, leaving out functions, labels, groupings, ranges, numbers and "
      + "Grafana variables")
  void readsMetricNamesFromPromQl() {
    assertEquals(Set.of("sluice_upstream_response_seconds_bucket"), metricNames(
        "histogram_quantile(0.99, sum by (le) (rate(sluice_upstream_response_seconds_bucket[$__rate_interval])))"));
    assertEquals(Set.of("sluice_decisions_total"), metricNames(
        "sum by (policy, outcome) (rate(sluice_decisions_total{outcome!=\"forwarded\", policy=~\"a|b\"}[1m]))"));
    assertEquals(Set.of("sluice_rejected_total", "sluice_forwarded_total"), metricNames(
        "rate(sluice_rejected_total[5m] offset 1h) / on (instance) group_left rate(sluice_forwarded_total[${range}])"
            + " > bool 1e-3"));
    assertEquals(Set.of("sluice_cluster_members"), metricNames("sluice_cluster_members"));
  }

  /**
   * The metric names in one PromQL expression, as the exposition names its series: a histogram is queried through its
   * {@code _bucket}, {@code _sum} or {@code _count} series and those are what a scrape has lines for, so no suffix is
   * stripped.
   */
  static Set<String> metricNames(String expr) {
    String bare = expr;
    for (Pattern noise : List.of(STRING, LABEL_MATCHERS, RANGE, GROUPING, VARIABLE, NUMBER_OR_DURATION)) {
      bare = noise.matcher(bare).replaceAll(" ");
    }
    Set<String> names = new TreeSet<>();
    Matcher word = IDENTIFIER.matcher(bare);
    while (word.find()) {
      boolean function = bare.substring(word.end()).stripLeading().startsWith("(");
      if (!function && !KEYWORDS.contains(word.group().toLowerCase())) {
        names.add(word.group());
      }
    }
    return names;
  }

  /** Whether the scrape has a sample line for {@code name}, with or without labels. */
  private static boolean served(String text, String name) {
    return text.lines().anyMatch(line -> line.startsWith(name + "{") || line.startsWith(name + " "));
  }

  private static JsonObject dashboard() throws IOException {
    return new JsonObject(Files.readString(DASHBOARD));
  }

  /** Every panel, rows' collapsed panels included. */
  private static List<JsonObject> panels(JsonArray array) {
    List<JsonObject> all = new ArrayList<>();
    for (Object item : array) {
      JsonObject panel = (JsonObject) item;
      all.add(panel);
      all.addAll(panels(panel.getJsonArray("panels", new JsonArray())));
    }
    return all.stream().filter(panel -> !"row".equals(panel.getString("type"))).toList();
  }

  private static List<String> expressions(JsonObject dashboard) {
    List<String> exprs = new ArrayList<>();
    for (JsonObject panel : panels(dashboard.getJsonArray("panels"))) {
      for (Object target : panel.getJsonArray("targets", new JsonArray())) {
        exprs.add(((JsonObject) target).getString("expr", ""));
      }
    }
    return exprs;
  }

  /** A gateway with a global limit of 3 per 10 s and a delaying limit of 1 per 500 ms per key, before the real API. */
  private GatewayVerticle gateway() {
    vertx = VertxMetricsSetup.builder(new VertxOptions()).build();
    client = WebClient.create(vertx);
    ApiVerticle api = TestApi.deploy(vertx);
    JsonArray policies = new JsonArray()
        .add(new JsonObject().put("name", "global").put("key", "global").put("requests", 3).put("window", "10s"))
        .add(new JsonObject().put("name", "per-key").put("key", "header:X-Api-Key").put("requests", 1)
            .put("window", "500ms").put("onExceed", "delay").put("maxDelay", "1500ms"));
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + api.actualPort()))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 3))
        .put("policies", policies);
    GatewayVerticle gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    return gateway;
  }

  /** Three forwarded (the second held by per-key), then a 429 from global. */
  private void traffic(GatewayVerticle gateway) {
    Future<HttpResponse<Buffer>> first = send(gateway, "key-a");
    Future<HttpResponse<Buffer>> held = send(gateway, "key-a");
    assertEquals(List.of(200, 200), List.of(first.await().statusCode(), held.await().statusCode()));
    assertEquals(200, send(gateway, "key-b").await().statusCode());
    assertEquals(429, send(gateway, "key-c").await().statusCode());
  }

  private Future<HttpResponse<Buffer>> send(GatewayVerticle gateway, String apiKey) {
    return client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello").putHeader("X-Api-Key", apiKey).send();
  }

  private String scrape(GatewayVerticle gateway) {
    HttpResponse<Buffer> metrics = client.get(gateway.managementPort(), "127.0.0.1", "/metrics").send().await();
    assertEquals(200, metrics.statusCode(), metrics::bodyAsString);
    return metrics.bodyAsString();
  }
}
