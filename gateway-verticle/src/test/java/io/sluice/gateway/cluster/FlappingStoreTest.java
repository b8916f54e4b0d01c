package io.sluice.gateway.cluster;

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
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Two clustered gateways whose store answers too late for {@code limiter.storeTimeout} (1 ms) again and again, so
 * they keep switching between shared and local counting while bursts of requests arrive: every request gets an
 * answer (forwarded, 429 or 503), none waits for ever. Found on the vertx engine: an admitted request re-decided
 * while it held a pipelined upstream stream, then reset it, left the client pool stuck, and the requests waiting for
 * an upstream connection hung.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FlappingStoreTest {

  private static final int ROUNDS = 8;
  private static final int BURST = 40;
  private static final int ANSWER_WITHIN_MILLIS = 5_000;

  private Vertx upstreamVertx;
  private final List<Vertx> members = new ArrayList<>();
  private WebClient client;
  private int apiPort;
  private String cluster;

  @BeforeAll
  void startApi() {
    upstreamVertx = Vertx.vertx();
    ApiVerticle api = TestApi.deploy(upstreamVertx);
    apiPort = api.actualPort();
    client = WebClient.create(upstreamVertx);
  }

  @AfterAll
  void stop() {
    for (Vertx vertx : members) {
      vertx.close().await();
    }
    upstreamVertx.close().await();
  }

  private List<GatewayVerticle> gateways(String engine) {
    cluster = "flapping-" + engine + "-" + UUID.randomUUID();
    List<GatewayVerticle> gateways = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      HazelcastClusterManager manager = new HazelcastClusterManager(
          ClusterSetup.load(Map.of("SLUICE_CLUSTER_NAME", cluster), new Properties()));
      // one event loop, as the jar runs (GatewayLauncher): every connection shares one client pool
      Vertx vertx = Vertx.builder().with(new VertxOptions().setEventLoopPoolSize(1)).withClusterManager(manager)
          .buildClustered().await();
      members.add(vertx);
      GatewayVerticle gateway = new GatewayVerticle(ClusteredStores.production(manager.getHazelcastInstance()));
      JsonObject config = new JsonObject()
          .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
          .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
          .put("upstreams", new JsonArray().add("http://127.0.0.1:" + apiPort))
          .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
          .put("proxy", new JsonObject().put("engine", engine))
          .put("limiter", new JsonObject().put("storeTimeout", "1ms"))
          .put("policies", new JsonArray().add(new JsonObject().put("name", "global").put("key", "global")
              .put("requests", 5).put("window", "2s").put("onExceed", "reject")));
      vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
      gateways.add(gateway);
    }
    return gateways;
  }

  @ParameterizedTest(name = "{0} engine")
  @ValueSource(strings = {"vertx", "netty"})
  @DisplayName("while the store keeps timing out, every request of every burst is answered")
  void everyRequestAnswered(String engine) throws InterruptedException {
    List<GatewayVerticle> gateways = gateways(engine);
    Map<String, Integer> outcomes = new TreeMap<>();
    for (int round = 0; round < ROUNDS; round++) {
      List<Future<HttpResponse<Buffer>>> burst = new ArrayList<>();
      for (int i = 0; i < BURST; i++) {
        burst.add(client.get(gateways.get(i % 2).proxyPort(), "127.0.0.1", "/api/hello")
            .timeout(ANSWER_WITHIN_MILLIS).send());
      }
      Future.join(burst).otherwiseEmpty().await();
      for (Future<HttpResponse<Buffer>> answer : burst) {
        outcomes.merge(answer.succeeded() ? String.valueOf(answer.result().statusCode()) : "no answer", 1,
            Integer::sum);
      }
      Thread.sleep(700);
    }
    System.out.println(engine + " engine: outcomes " + outcomes);
    assertEquals(ROUNDS * BURST, outcomes.entrySet().stream()
        .filter(e -> List.of("200", "429", "503").contains(e.getKey())).mapToInt(Map.Entry::getValue).sum(),
        () -> "outcomes " + outcomes);
  }
}
