package io.sluice.gateway.proxy;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The API goes away under load and comes back on the same port: clients get 502 only while it is away, full service
 * within a second of its return, and no upstream connection or slot is left stuck (a burst afterwards is served).
 */
@DisplayName("The upstream restarted under load")
class UpstreamRestartTest {

  /** One request every this many ms, from several client connections. */
  private static final long PERIOD_MILLIS = 5;
  private static final long DOWN_AT_MILLIS = 1_000;
  private static final long UP_AT_MILLIS = 3_000;
  private static final long END_MILLIS = 5_000;
  /** Full service must be back this long after the upstream is. */
  private static final long RECOVERY_MILLIS = 1_000;

  private Vertx vertx;
  private int apiPort;
  private String apiDeployment;
  private GatewayVerticle gateway;

  @BeforeEach
  void start() throws IOException {
    vertx = Vertx.vertx();
    try (ServerSocket probe = new ServerSocket()) {
      probe.bind(new InetSocketAddress("127.0.0.1", 0));
      apiPort = probe.getLocalPort();
    }
    apiDeployment = deployApi().await();
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + apiPort))
        .put("upstreamTimeout", "1s")
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "global").put("key", "global")
            .put("requests", 100_000).put("window", "1s")));
    gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
  }

  private Future<String> deployApi() {
    return vertx.deployVerticle(new ApiVerticle(Map.of(), Clock.systemUTC()), new DeploymentOptions().setConfig(
        new JsonObject().put("http", new JsonObject().put("host", "127.0.0.1").put("port", apiPort))));
  }

  @AfterEach
  void stop() {
    vertx.close().await();
  }

  @Test
  @DisplayName("502 only while the API is down; all 200 from 1 s after it is back; a burst afterwards is all 200")
  void recoversWithinASecond() throws Exception {
    WebClient client = WebClient.create(vertx, new WebClientOptions(), new PoolOptions().setHttp1MaxSize(8));
    record Outcome(long atMillis, long doneMillis, int status, String body) {
    }
    List<Outcome> outcomes = new ArrayList<>();
    long started = System.currentTimeMillis();
    long[] upAt = {Long.MAX_VALUE};
    long[] downAt = {Long.MAX_VALUE};
    vertx.setTimer(DOWN_AT_MILLIS, id -> {
      downAt[0] = System.currentTimeMillis() - started;
      vertx.undeploy(apiDeployment);
    });
    vertx.setTimer(UP_AT_MILLIS, id -> deployApi().onSuccess(d -> upAt[0] = System.currentTimeMillis() - started));
    List<Future<?>> all = new ArrayList<>();
    for (long at = 0; at < END_MILLIS; at += PERIOD_MILLIS) {
      long sendAt = at;
      io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
      all.add(done.future());
      vertx.setTimer(Math.max(1, sendAt), id -> {
        long sentAt = System.currentTimeMillis() - started; // timers run late on a busy machine: the real instant
        client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello").timeout(3_000).send().onComplete(answer -> {
          synchronized (outcomes) {
            outcomes.add(answer.succeeded()
                ? new Outcome(sentAt, System.currentTimeMillis() - started, answer.result().statusCode(),
                    answer.result().bodyAsString())
                : new Outcome(sentAt, System.currentTimeMillis() - started, -1, String.valueOf(answer.cause())));
          }
          done.complete();
        });
      });
    }
    Future.join(all).await();

    TreeMap<Integer, Integer> statuses = new TreeMap<>();
    outcomes.forEach(o -> statuses.merge(o.status(), 1, Integer::sum));
    String summary = "statuses " + statuses + ", API down at " + downAt[0] + " ms, back at " + upAt[0] + " ms";
    long firstOkAfterUp = outcomes.stream().filter(o -> o.atMillis() >= upAt[0] && o.status() == 200)
        .mapToLong(Outcome::atMillis).min().orElse(-1);
    System.out.println("upstream restart: " + summary + ", first 200 sent at " + firstOkAfterUp + " ms");
    for (Outcome o : outcomes) {
      // the outage touches a request unanswered when the API stopped (on a busy machine one may wait a while for
      // its turn) or sent before the API had been back for RECOVERY_MILLIS
      boolean touched = o.doneMillis() >= downAt[0] && o.atMillis() <= upAt[0] + RECOVERY_MILLIS;
      if (!touched) {
        assertEquals(200, o.status(), () -> "sent at " + o.atMillis() + " ms, answered at " + o.doneMillis() + " ms, the API up: " + o.body() + "; " + summary);
      } else {
        assertTrue(o.status() == 200 || o.status() == 502,
            () -> "sent at " + o.atMillis() + " ms, around the outage: " + o.status() + "; " + summary);
      }
    }
    assertTrue(statuses.getOrDefault(502, 0) > 0, () -> "the outage was seen: " + summary);

    // nothing stuck: a burst of concurrent requests, more than the pool's connections, is served whole
    List<Future<Integer>> burst = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      burst.add(client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello").timeout(3_000).send()
          .map(r -> r.statusCode()));
    }
    Future.all(burst).await();
    burst.forEach(f -> assertEquals(200, f.result()));
  }
}
