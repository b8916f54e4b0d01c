package io.sluice.gateway.cluster;

import com.hazelcast.core.DistributedObject;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.internal.serialization.SerializationService;
import com.hazelcast.map.IMap;
import com.hazelcast.spi.impl.SerializationServiceSupport;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import org.example.gadget.Gadget;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a member accepts from the cluster network, and what it keeps of a client's identity: two members built from
 * the project's cluster.xml by {@link ClusterSetup}, and a gateway counting on them.
 */
@DisplayName("Cluster security: the deserialization filter, and no raw token in the grid, the logs or /stats")
class ClusterSecurityTest {

  private static HazelcastInstance first;
  private static HazelcastInstance second;

  @BeforeAll
  static void startCluster() {
    List<HazelcastInstance> members = TestMembers.start(2, "security-test");
    first = members.get(0);
    second = members.get(1);
  }

  @AfterAll
  static void stopCluster() {
    second.shutdown();
    first.shutdown();
  }

  @Test
  @DisplayName("a Java-serialized object of a foreign class is refused when a member deserializes it; JDK types pass")
  void foreignClassesAreNotDeserialized() {
    IMap<String, Object> sent = first.getMap("probe-" + UUID.randomUUID());
    IMap<String, Object> read = second.getMap(sent.getName());
    sent.put("gadget", new Gadget("would run code in a real exploit"));
    sent.put("list", new ArrayList<>(List.of("a", "b")));

    Exception refused = assertThrows(Exception.class, () -> read.get("gadget"));
    assertTrue(causes(refused).contains("org.example.gadget.Gadget is not allowed"), () -> causes(refused));
    assertEquals(List.of("a", "b"), read.get("list"));
  }

  @Test
  @DisplayName("tokens counted by the limiter appear nowhere in the grid's entries, the logs or /stats: only hashes")
  void rawTokensStayOut() throws Exception {
    String headerToken = "raw-header-token-" + UUID.randomUUID();
    String bearerToken = "raw-bearer-token-" + UUID.randomUUID();
    LogCapture logged = LogCapture.everything();
    Vertx vertx = Vertx.vertx();
    try {
      HttpServer upstream = vertx.createHttpServer().requestHandler(r -> r.response().end("ok")).listen(0).await();
      String map = "limits-" + UUID.randomUUID();
      JsonArray policies = new JsonArray()
          .add(new JsonObject().put("name", "per-key").put("key", "header:X-Api-Key").put("requests", 3)
              .put("window", "60s"))
          .add(new JsonObject().put("name", "per-bearer").put("key", "bearer").put("requests", 100)
              .put("window", "60s"));
      JsonObject config = new JsonObject()
          .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
          .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
          .put("upstreams", new JsonArray().add("http://127.0.0.1:" + upstream.actualPort()))
          .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
          .put("policies", policies)
          // a generous store timeout: a first call slow on a loaded machine would switch the gateway to deciding
          // alone on its share of the limit, and this test is about where tokens go, not about failures
          .put("limiter", new JsonObject().put("storeTimeout", "1s"));
      GatewayVerticle gateway =
          new GatewayVerticle((v, c) -> ClusteredStores.production(v, first, c.limiter().withMapName(map)));
      vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
      WebClient client = WebClient.create(vertx);
      List<Integer> statuses = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        statuses.add(client.get(gateway.proxyPort(), "127.0.0.1", "/api/x").putHeader("X-Api-Key", headerToken)
            .putHeader("Authorization", "Bearer " + bearerToken).send().await().statusCode());
      }
      assertEquals(List.of(200, 200, 200, 429, 429), statuses, "the tokens were counted");
      String stats = client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsString();

      String grid = everyEntry(first) + everyEntry(second);
      assertTrue(grid.length() > 0, "the counters are in the grid");
      for (String token : List.of(headerToken, bearerToken)) {
        assertFalse(grid.contains(token), () -> "raw token in the grid: " + token);
        assertFalse(stats.contains(token), () -> "raw token in /stats: " + token);
        assertFalse(String.join("\n", logged.lines()).contains(token), () -> "raw token in the logs: " + token);
      }
    } finally {
      logged.close();
      vertx.close().await();
    }
  }

  /** Keys and values of every map on {@code member}, as text and as the bytes they are stored and sent as. */
  private static String everyEntry(HazelcastInstance member) {
    SerializationService serialization = ((SerializationServiceSupport) member).getSerializationService();
    StringBuilder all = new StringBuilder();
    for (DistributedObject object : member.getDistributedObjects()) {
      if (object instanceof IMap<?, ?> map) {
        map.forEach((key, value) -> all.append(key).append('=').append(value).append('\n')
            .append(new String(serialization.toData(key).toByteArray(), StandardCharsets.ISO_8859_1))
            .append(new String(serialization.toData(value).toByteArray(), StandardCharsets.ISO_8859_1)));
      }
    }
    return all.toString();
  }

  private static String causes(Throwable thrown) {
    StringBuilder all = new StringBuilder();
    for (Throwable t = thrown; t != null; t = t.getCause()) {
      all.append(t).append('\n');
    }
    return all.toString();
  }
}
