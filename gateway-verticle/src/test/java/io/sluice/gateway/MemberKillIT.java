package io.sluice.gateway;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.GatewayProcessesIT.JavaProcess;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import static io.sluice.gateway.StoreOutageIT.awaitTrue;
import static io.sluice.gateway.StoreOutageIT.freePorts;
import static io.sluice.gateway.StoreOutageIT.sleepUntil;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 13's crash: three clustered gateway jars under load on a global limit and on per-token limits, one killed with
 * SIGKILL mid-run, as deployed. Once the gateway that owns the global key's partition, once one that does not (the
 * owner is read through a Hazelcast client, which is no gateway: the seats stay three). The client keeps sending to
 * the survivors. Figures go to stdout.
 */
@DisplayName("three clustered gateways under load, one killed (kill -9): the survivors serve, the limits hold at the "
    + "API")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MemberKillIT {

  private static final Path GATEWAY_JAR = Path.of(System.getProperty("sluice.gateway.jar", "")).toAbsolutePath();
  private static final Path API_JAR = Path.of(System.getProperty("sluice.api.jar", "")).toAbsolutePath();
  private static final String CLUSTER = "sluice-kill-" + UUID.randomUUID().toString().substring(0, 8);
  private static final String MAP = "sluice.limits";
  private static final int GATEWAYS = 3;
  private static final int LIMIT = 10;
  private static final int GLOBAL_RATE = 30;
  private static final int TOKENS = 40;
  private static final int TOKEN_LIMIT = 1;
  /** Each token's requests per second: twice its limit. */
  private static final int TOKEN_RATE = 2;
  private static final long KILL_AT_MILLIS = 3_000;
  private static final long WARM_UP_MILLIS = 8_000;
  private static final long RUN_MILLIS = 9_000;
  /** From this long after the kill the survivors are expected to forward the whole limit again. */
  private static final long SETTLED_AFTER_KILL_MILLIS = 2_000;
  private static final String RECEIVED_AT = "X-Upstream-Received-At";
  private static final String OVERLOADED = "urn:sluice:problem:overloaded";
  /**
   * The most requests on the survivors that may be shed as 503 {@code overloaded}, in percent: 0-16 of about 720 were
   * measured (2.2%), a slow spell around the kill on two shared cores.
   */
  private static final int MAX_SHED_PERCENT = 5;
  /** As in {@link StoreOutageIT}: windows counted this much short of 1 s, for the transit spread of a busy box. */
  private static final long TRANSIT_SLACK_MILLIS = 50;

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(2)).build();
  private final JavaProcess[] gateways = new JavaProcess[GATEWAYS];
  /** Per gateway: proxy, management and Hazelcast port. */
  private final int[][] ports = new int[GATEWAYS][];
  private JavaProcess api;
  private int apiPort;
  private String members;
  private String policies;
  private HazelcastInstance client;

  @BeforeAll
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void startApiAndGateways() throws Exception {
    int[] free = freePorts(1 + 3 * GATEWAYS);
    apiPort = free[0];
    List<String> addresses = new ArrayList<>();
    for (int i = 0; i < GATEWAYS; i++) {
      ports[i] = new int[] {free[1 + 3 * i], free[2 + 3 * i], free[3 + 3 * i]};
      addresses.add("127.0.0.1:" + ports[i][2]);
    }
    members = String.join(",", addresses);
    policies = new JsonArray()
        .add(new JsonObject().put("name", "global").put("key", "header:X-Global").put("requests", LIMIT)
            .put("window", "1s").put("onMissingKey", "skip"))
        .add(new JsonObject().put("name", "per-token").put("key", "header:X-Api-Key").put("requests", TOKEN_LIMIT)
            .put("window", "1s").put("onMissingKey", "skip"))
        .encode();
    api = JavaProcess.start("kill-api", API_JAR, Map.of(), "-conf", new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", apiPort)).encode());
    for (int i = 0; i < GATEWAYS; i++) {
      gateways[i] = startGateway(i);
    }
    awaitTrue("the API to answer", () -> status("http://127.0.0.1:" + apiPort + "/health") == 200, api);
    awaitCluster();
    ClientConfig config = new ClientConfig();
    config.setClusterName(CLUSTER);
    config.getNetworkConfig().setAddresses(addresses);
    client = HazelcastClient.newHazelcastClient(config);
    warmUp();
  }

  /**
   * The same load for {@link #WARM_UP_MILLIS} before anything is measured: this test is about a kill, not a cold start
   * (three JVMs fresh from their 100 warm-up requests shed 503 {@code overloaded} at first: bench/soak.sh counts
   * those).
   */
  private void warmUp() throws Exception {
    Load warm = load(WARM_UP_MILLIS, -1, () -> { });
    System.out.println("member kill, warm-up: statuses " + warm.results.stream()
        .collect(Collectors.groupingBy(Result::status, TreeMap::new, Collectors.counting())));
  }

  /** The requests of one load and when its victim was killed (ms from the start; -1: nobody was). */
  private record Load(List<Result> results, long killedAt) {
  }

  /**
   * Sends both streams round robin over the gateways for {@code millis}, one schedule for both: each 5 ms step sends
   * the requests due by then. With a {@code victim}, runs {@code beforeKill} and kills it at {@link #KILL_AT_MILLIS},
   * then sends only to the others. Returns once every request is answered.
   */
  private Load load(long millis, int victim, Runnable beforeKill) throws Exception {
    long start = System.nanoTime();
    long startEpochMillis = System.currentTimeMillis();
    List<CompletableFuture<Result>> pending = new ArrayList<>();
    AtomicInteger next = new AtomicInteger();
    int tokenRate = TOKENS * TOKEN_RATE;
    long killedAt = -1;
    long globalSent = 0;
    long tokenSent = 0;
    for (long at = 0; at < millis; at += 5) {
      sleepUntil(start, at);
      if (victim >= 0 && killedAt < 0 && at >= KILL_AT_MILLIS) {
        beforeKill.run();
        gateways[victim].kill();
        killedAt = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      }
      int dead = killedAt < 0 ? -1 : victim;
      for (; globalSent * 1_000 / GLOBAL_RATE <= at; globalSent++) {
        pending.add(send(pick(next, dead), "global", "X-Global", "all", start, startEpochMillis, at));
      }
      for (; tokenSent * 1_000 / tokenRate <= at; tokenSent++) {
        String token = "token-" + (tokenSent % TOKENS);
        pending.add(send(pick(next, dead), token, "X-Api-Key", token, start, startEpochMillis, at));
      }
    }
    CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
    return new Load(pending.stream().map(CompletableFuture::join).toList(), killedAt);
  }


  @AfterAll
  void stopAll() {
    if (client != null) {
      client.shutdown();
    }
    for (JavaProcess child : gateways) {
      if (child != null) {
        child.stop(Duration.ofSeconds(15));
      }
    }
    if (api != null) {
      api.stop(Duration.ofSeconds(15));
    }
  }

  @Test
  @Order(1)
  @DisplayName("the owner of the global key's partition killed: every request on the survivors answered clearly, "
      + "at most the bound docs/exactness.md states in any window at the API, and the survivors forward the limit "
      + "again within 2 s")
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void ownerKilled() throws Exception {
    Run run = run(ownerOfGlobalKey(), "owner");
    assertHolds(run);
  }

  @Test
  @Order(2)
  @DisplayName("a gateway that does not own the global key's partition killed: the same")
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void otherKilled() throws Exception {
    Run run = run((ownerOfGlobalKey() + 1) % GATEWAYS, "not the owner");
    assertHolds(run);
  }

  /**
   * What a kill may cost, as docs/exactness.md states it: no request on a survivor unanswered; an answer other than
   * 200 and 429 only as 503 {@code overloaded} (a request late for its slots round after round), for at most
   * {@link #MAX_SHED_PERCENT}% of them; in any window at most the limit plus the parts the gateways admit alone for
   * calls that failed (those parts add up to the limit); the survivors forwarding at least 80% of the limit once 2 s
   * have passed.
   */
  private void assertHolds(Run run) {
    List<Result> onSurvivors = run.results.stream()
        .filter(r -> r.gateway != run.victim || r.sentAt < KILL_AT_MILLIS - 1_000).toList();
    assertEquals(List.of(), onSurvivors.stream().filter(r -> r.status < 0).toList(),
        run.report("every request on a survivor (and on the victim until a second before the kill) answered"));
    assertEquals(List.of(), onSurvivors.stream().filter(r -> r.status != 200 && r.status != 429
        && !(r.status == 503 && r.why.equals(OVERLOADED))).toList(), run.report("200, 429, or 503 overloaded"));
    long shed = onSurvivors.stream().filter(r -> r.status == 503).count();
    assertTrue(shed * 100 <= MAX_SHED_PERCENT * onSurvivors.size(),
        run.report(shed + " shed of " + onSurvivors.size()));
    assertTrue(run.mostInAWindow("global") <= 2 * LIMIT, run.report("at most twice the limit in any window"));
    int worstToken = run.tokens().stream().mapToInt(run::mostInAWindow).max().orElse(0);
    assertTrue(worstToken <= 2 * TOKEN_LIMIT, run.report("at most twice a token's limit in any window"));
    long settled = KILL_AT_MILLIS + SETTLED_AFTER_KILL_MILLIS;
    long forwardedAfter = run.results.stream().filter(r -> r.key.equals("global") && r.status == 200
        && r.sentAt >= settled).count();
    long seconds = (RUN_MILLIS - settled) / 1_000;
    assertTrue(forwardedAfter * 10 >= 8L * LIMIT * seconds,
        run.report(forwardedAfter + " global forwarded in the last " + seconds + " s: 80% of the limit or more"));
  }

  /** Sends the load round robin over the live gateways, kills {@code victim} on the way, then starts it again. */
  private Run run(int victim, String which) throws Exception {
    Map<Integer, Integer> placesAlone = new java.util.concurrent.ConcurrentSkipListMap<>();
    java.util.concurrent.atomic.AtomicBoolean victimDown = new java.util.concurrent.atomic.AtomicBoolean();
    // every 100 ms, off the send loop: how many places each live gateway decides alone
    java.util.concurrent.ScheduledExecutorService sampler = java.util.concurrent.Executors
        .newSingleThreadScheduledExecutor();
    sampler.scheduleAtFixedRate(() -> {
      for (int i = 0; i < GATEWAYS; i++) {
        if (i != victim || !victimDown.get()) {
          sampleAlone(i, placesAlone);
        }
      }
    }, 0, 100, TimeUnit.MILLISECONDS);
    Load load;
    try {
      load = load(RUN_MILLIS, victim, () -> victimDown.set(true));
    } finally {
      sampler.shutdownNow();
      sampler.awaitTermination(5, TimeUnit.SECONDS);
    }
    Map<Integer, String> limiters = new TreeMap<>();
    for (int i = 0; i < GATEWAYS; i++) {
      if (i != victim) {
        JsonObject stats = stats(i);
        limiters.put(i, "overloaded " + stats.getLong("overloaded") + ", decidedAgainWhenLate "
            + stats.getLong("decidedAgainWhenLate") + " " + stats.getValue("decidedAgainLateBy") + ", storeFailures "
            + stats.getLong("storeFailures") + ", limiterModeSwitches " + stats.getLong("limiterModeSwitches"));
      }
    }
    Run run = new Run(which, victim, load.killedAt, load.results, placesAlone, limiters);
    System.out.println(run.figures());
    gateways[victim] = startGateway(victim);
    awaitCluster();
    return run;
  }

  /** The next gateway round robin, skipping {@code dead} (-1: none). */
  private static int pick(AtomicInteger next, int dead) {
    int gateway;
    do {
      gateway = Math.floorMod(next.getAndIncrement(), GATEWAYS);
    } while (gateway == dead);
    return gateway;
  }

  /** The most places deciding alone that gateway {@code i} reported, per gateway. */
  private void sampleAlone(int i, Map<Integer, Integer> most) {
    try {
      HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(managementUrl(i, "/stats")))
          .timeout(Duration.ofMillis(500)).GET().build(), HttpResponse.BodyHandlers.ofString());
      int alone = new JsonObject(response.body()).getInteger("limiterPlacesAlone", 0);
      most.merge(i, alone, Math::max);
    } catch (IOException | RuntimeException e) {
      most.putIfAbsent(i, 0);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The gateway whose Hazelcast member owns the global key's partition (the key is made by the first requests). */
  private int ownerOfGlobalKey() throws Exception {
    String key = null;
    for (int attempt = 0; attempt < 50 && key == null; attempt++) {
      send(attempt % GATEWAYS, "global", "X-Global", "all", System.nanoTime(), System.currentTimeMillis(), 0)
          .get(5, TimeUnit.SECONDS);
      key = client.<String, Object>getMap(MAP).keySet().stream().filter(k -> k.startsWith("global@"))
          .findFirst().orElse(null);
    }
    assertTrue(key != null, "the global key in the map");
    Member owner = client.getPartitionService().getPartition(key).getOwner();
    for (int i = 0; i < GATEWAYS; i++) {
      if (owner.getAddress().getPort() == ports[i][2]) {
        return i;
      }
    }
    throw new AssertionError("no gateway on the owner's port " + owner.getAddress());
  }

  private CompletableFuture<Result> send(int gateway, String key, String header, String value, long start,
                                         long startEpochMillis, long at) {
    HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ports[gateway][0] + "/api/hello"))
        .header(header, value).timeout(Duration.ofSeconds(5)).GET().build();
    return http.sendAsync(request, HttpResponse.BodyHandlers.ofString())
        .handle((response, failure) -> failure != null
            ? new Result(key, gateway, at, -1, -1, String.valueOf(failure.getCause() != null ? failure.getCause()
                : failure))
            : new Result(key, gateway, at, response.headers().firstValue(RECEIVED_AT)
                .map(micros -> Long.parseLong(micros) / 1_000 - startEpochMillis).orElse(-1L),
                response.statusCode(), response.statusCode() >= 500 ? problemType(response.body()) : ""));
  }

  /** The {@code type} of a problem document, or the body's start. */
  private static String problemType(String body) {
    try {
      return new JsonObject(body).getString("type", "");
    } catch (RuntimeException notJson) {
      return body.substring(0, Math.min(80, body.length()));
    }
  }

  /**
   * One request: its key, the gateway it went to, when it was sent and arrived at the API (-1: not), its status (-1:
   * no answer), and for an error its problem type or the client's failure.
   */
  private record Result(String key, int gateway, long sentAt, long arrivedAt, int status, String why) {
  }

  /** One run's requests and what the survivors reported. */
  private record Run(String which, int victim, long killedAt, List<Result> results, Map<Integer, Integer> placesAlone,
                     Map<Integer, String> limiters) {

    List<String> tokens() {
      return results.stream().map(Result::key).filter(key -> key.startsWith("token-")).distinct().toList();
    }

    /** The most requests for {@code key} that arrived at the API in any window of 1 s less the slack. */
    int mostInAWindow(String key) {
      List<Long> times = results.stream().filter(r -> r.key.equals(key) && r.arrivedAt >= 0)
          .map(Result::arrivedAt).sorted().toList();
      int most = 0;
      for (int i = 0, j = 0; i < times.size(); i++) {
        while (j < times.size() && times.get(j) < times.get(i) + 1_000 - TRANSIT_SLACK_MILLIS) {
          j++;
        }
        most = Math.max(most, j - i);
      }
      return most;
    }

    String figures() {
      Map<Long, Map<Integer, Long>> global = results.stream().filter(r -> r.key.equals("global"))
          .collect(Collectors.groupingBy(r -> r.sentAt / 1_000, TreeMap::new,
              Collectors.groupingBy(Result::status, TreeMap::new, Collectors.counting())));
      Map<Integer, Long> tokenStatuses = results.stream().filter(r -> r.key.startsWith("token-"))
          .collect(Collectors.groupingBy(Result::status, TreeMap::new, Collectors.counting()));
      Map<Integer, Long> overByTokens = new HashMap<>();
      for (String token : tokens()) {
        overByTokens.merge(mostInAWindow(token), 1L, Long::sum);
      }
      return String.format("member kill (%s): gateway %d killed at %d ms; global statuses by second sent %s; most "
              + "global in a window %d; token statuses %s; tokens by their most in a window %s; most places alone "
              + "seen per gateway %s; errors by cause %s; survivors' limiters (since start) %s",
          which, victim, killedAt, global, mostInAWindow("global"), tokenStatuses, new TreeMap<>(overByTokens),
          placesAlone, results.stream().filter(r -> r.status != 200 && r.status != 429)
              .collect(Collectors.groupingBy(Result::why, TreeMap::new, Collectors.counting())), limiters)
          + "\n  errors (sent@gateway): " + results.stream().filter(r -> r.status != 200 && r.status != 429)
              .map(r -> r.sentAt + "@" + r.gateway).collect(Collectors.joining(" "))
          + tokensOver();
    }

    /** Each key over its limit in a window: its forwarded requests as sent/arrived@gateway (ms), around the kill. */
    private String tokensOver() {
      StringBuilder over = new StringBuilder();
      if (mostInAWindow("global") > LIMIT) {
        over.append("\n  global: ").append(results.stream()
            .filter(r -> r.key.equals("global") && r.arrivedAt >= 0 && Math.abs(r.sentAt - KILL_AT_MILLIS) < 2_500)
            .map(r -> r.sentAt + "/" + r.arrivedAt + "@" + r.gateway).collect(Collectors.joining(" ")));
      }
      for (String token : tokens()) {
        if (mostInAWindow(token) > TOKEN_LIMIT) {
          over.append("\n  ").append(token).append(": ").append(results.stream()
              .filter(r -> r.key.equals(token) && r.arrivedAt >= 0)
              .map(r -> r.sentAt + "/" + r.arrivedAt + "@" + r.gateway).collect(Collectors.joining(" ")));
        }
      }
      return over.toString();
    }

    String report(String expectation) {
      return expectation + "\n" + figures();
    }
  }

  private JavaProcess startGateway(int i) throws IOException {
    Map<String, String> env = Map.of(
        "SLUICE_HTTP_HOST", "127.0.0.1",
        "SLUICE_HTTP_PORT", Integer.toString(ports[i][0]),
        "SLUICE_MANAGEMENT_HOST", "127.0.0.1",
        "SLUICE_MANAGEMENT_PORT", Integer.toString(ports[i][1]),
        "SLUICE_UPSTREAMS", "http://127.0.0.1:" + apiPort,
        "SLUICE_CLUSTER_NAME", CLUSTER,
        "SLUICE_CLUSTER_MEMBERS", members,
        "SLUICE_CLUSTER_PORT", Integer.toString(ports[i][2]),
        "SLUICE_POLICIES", policies,
        "SLUICE_WARMUP_REQUESTS", "100");
    return JavaProcess.start("kill-gateway-" + i + "-" + System.currentTimeMillis(), GATEWAY_JAR, env, "-cluster",
        "-conf", "conf/gateway.json");
  }

  /** Waits until every gateway is ready in a cluster of three, sharing its counters. */
  private void awaitCluster() throws Exception {
    for (int i = 0; i < GATEWAYS; i++) {
      int gateway = i;
      awaitTrue("gateway " + i + " ready, sharing, in a cluster of " + GATEWAYS,
          () -> status(managementUrl(gateway, "/health/ready")) == 200
              && gateways[gateway].stderr().contains("Members {size:" + GATEWAYS)
              && "SHARED".equals(stats(gateway).getString("limiterMode")), gateways[gateway], api);
    }
  }

  private String managementUrl(int gateway, String path) {
    return "http://127.0.0.1:" + ports[gateway][1] + path;
  }

  private JsonObject stats(int gateway) throws IOException, InterruptedException {
    return new JsonObject(http.send(HttpRequest.newBuilder(URI.create(managementUrl(gateway, "/stats")))
        .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString()).body());
  }

  private int status(String url) {
    return StoreOutageIT.status(http, url);
  }
}
