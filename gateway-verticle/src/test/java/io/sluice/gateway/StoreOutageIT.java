package io.sluice.gateway;

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
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What a gateway does when its shared counters stall, as deployed: the API and two clustered gateway jars, the second
 * suspended with SIGSTOP while the first takes traffic, then resumed with SIGCONT. Whichever member owns the limit's
 * key, the live gateway's decisions stall: on the owner, or on the backup every counted decision waits for. One live
 * gateway per {@code limiter.onStoreFailure} mode, started against the same held member. Figures go to stdout.
 */
@DisplayName("two clustered gateways, one suspended (SIGSTOP, then SIGCONT): the live one in each store failure mode")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StoreOutageIT {

  private static final Path GATEWAY_JAR = Path.of(System.getProperty("sluice.gateway.jar", "")).toAbsolutePath();
  private static final Path API_JAR = Path.of(System.getProperty("sluice.api.jar", "")).toAbsolutePath();
  private static final String CLUSTER = "sluice-outage-" + UUID.randomUUID().toString().substring(0, 8);
  private static final int LIMIT = 10;
  /** The live gateway's part of the limit alone: an even limit splits alike over both seats. */
  private static final int SHARE = LIMIT / 2;
  private static final int RATE = 30;
  private static final long OUTAGE_MILLIS = 3_000;
  private static final long AFTER_MILLIS = 3_000;
  private static final long WATCH_EVERY_MILLIS = 50;
  /** Stamped by the API on every response: when the request arrived there, where the limit is promised. */
  private static final String RECEIVED_AT = "X-Upstream-Received-At";
  /**
   * Windows are counted this much shorter than the policy's 1 s. The limit holds at the API only while one request's
   * way there takes at most {@code limiter.transitAllowance} (12 ms) longer than another's; with this test's five JVMs
   * and a build on two cores, it sometimes takes more (11 in 1 s was seen in closed mode, which only shares). A mode
   * that let a burst through would show it anyway: 15 in a window, not 11.
   */
  private static final long TRANSIT_SLACK_MILLIS = 50;
  private static final Duration START_LIMIT = Duration.ofSeconds(90);

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(2)).build();
  private JavaProcess api;
  private JavaProcess held;
  private int apiPort;
  /** Ports the OS reported free, all distinct, taken at the start for every process of this class. */
  private Deque<Integer> nextPorts;
  /** Each gateway's proxy and management ports. */
  private final Map<JavaProcess, int[]> ports = new ConcurrentHashMap<>();
  /** When the held member was resumed, in ms from the start of the current outage's traffic; -1 while suspended. */
  private long resumedAt = -1;
  private String policies;

  @BeforeAll
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void startApiAndHeldGateway() throws Exception {
    int[] ports = freePorts(3 + 2 * 3);
    nextPorts = new ArrayDeque<>(Arrays.stream(ports).boxed().toList());
    apiPort = nextPorts.pop();
    policies = new JsonArray().add(new JsonObject().put("name", "outage-global").put("key", "global")
        .put("requests", LIMIT).put("window", "1s").put("onExceed", "reject")).encode();
    api = JavaProcess.start("outage-api", API_JAR, Map.of(),
        "-conf", new JsonObject().put("http", new JsonObject().put("host", "127.0.0.1").put("port", apiPort)).encode());
    held = startGateway("outage-held", "local", nextPorts.pop(), nextPorts.pop());
    awaitTrue("the API to answer", () -> status("http://127.0.0.1:" + apiPort + "/health") == 200, api);
    awaitTrue(held.name + " to be ready", () -> status(managementUrl(held, "/health/ready")) == 200, held);
  }

  @AfterAll
  void stopAll() {
    for (JavaProcess child : new JavaProcess[] {held, api}) {
      if (child != null) {
        signal(child, "CONT");
        child.stop(Duration.ofSeconds(15));
      }
    }
  }

  @Test
  @Order(1)
  @DisplayName("local: the live gateway keeps forwarding its part (limit/2) per window on its own, and after SIGCONT "
      + "shares the limit again with no window over it")
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void local() throws Exception {
    Outage outage = outage("local");

    assertTrue(outage.during(r -> r.status != 200 && r.status != 429).isEmpty(), outage.report("only 200 and 429"));
    int forwarded = outage.during(r -> r.status == 200).size();
    long windows = OUTAGE_MILLIS / 1_000;
    assertTrue(forwarded >= SHARE * (windows - 1) && forwarded <= SHARE * (windows + 1),
        outage.report(forwarded + " forwarded in the outage, about " + SHARE + " per second expected"));
    assertTrue(outage.maxForwardedInAWindow(0, outage.resumedAt() - 1_000) <= SHARE,
        outage.report("at most its part, limit/2, in any window of the outage"));
    assertTrue(outage.maxForwardedInAWindow(0, Long.MAX_VALUE) <= LIMIT,
        outage.report("at most the limit in any window, also the one that spans the return"));
    assertTrue(outage.after(r -> r.status == 200).size() >= LIMIT, outage.report("the full limit again after"));
  }

  @Test
  @Order(2)
  @DisplayName("closed: the live gateway answers 503 problem+json while the store is stalled, then forwards again")
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void closed() throws Exception {
    Outage outage = outage("closed");

    List<Result> during = outage.during(r -> true);
    assertTrue(during.stream().allMatch(r -> r.status == 503 && r.problem), outage.report("503 problem+json only"));
    assertTrue(outage.after(r -> r.status == 200).size() >= LIMIT, outage.report("forwards again after"));
    assertTrue(outage.maxForwardedInAWindow(0, Long.MAX_VALUE) <= LIMIT, outage.report("never over the limit"));
  }

  @Test
  @Order(3)
  @DisplayName("open: the live gateway forwards everything while the store is stalled, and limits again after "
      + "SIGCONT")
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void open() throws Exception {
    Outage outage = outage("open");

    List<Result> during = outage.during(r -> true);
    assertTrue(during.stream().allMatch(r -> r.status == 200), outage.report("everything forwarded"));
    assertTrue(during.size() > 2 * LIMIT * OUTAGE_MILLIS / 1_000, outage.report("far more than the limit"));
    // after the return the limit holds again; a store call slower than storeTimeout after it (the resumed member
    // catching up, a loaded machine) is another short outage, and open forwards through that one too, so the
    // windows are not counted here: the unit test counts them (FailoverCounterStoreTest.Open)
    assertTrue(outage.lastReturnToShared() > outage.resumedAt(), outage.report("back to SHARED after SIGCONT"));
    assertTrue(outage.after(r -> r.status == 429).size() > 0, outage.report("limited again after the return"));
  }

  /**
   * Starts a live gateway in {@code mode} beside the held one; suspends the held one; sends {@link #RATE} requests a
   * second to the live one for the outage and after it, resuming the held one in between; then stops the live one.
   */
  private Outage outage(String mode) throws Exception {
    JavaProcess live = startGateway("outage-live-" + mode, mode, nextPorts.pop(), nextPorts.pop());
    try {
      awaitTrue(live.name + " to be ready in a cluster of 2",
          () -> status(managementUrl(live, "/health/ready")) == 200 && live.stderr().contains("Members {size:2"),
          live, held);
      // joining moves partitions, which can stall a store call past the timeout: start from a settled, shared state
      awaitTrue(live.name + " to share its counters for a second", () -> sharedForASecond(live), live, held);

      signal(held, "STOP");
      long start = System.nanoTime();
      long startEpochMillis = System.currentTimeMillis();
      ModeWatcher modes = new ModeWatcher(live, start);
      modes.start();
      List<CompletableFuture<Result>> pending = new ArrayList<>();
      JsonObject readyDuringOutage = null;
      long total = RATE * (OUTAGE_MILLIS + AFTER_MILLIS) / 1_000;
      for (int i = 0; i < total; i++) {
        long at = i * 1_000L / RATE;
        sleepUntil(start, at);
        if (readyDuringOutage == null && at >= OUTAGE_MILLIS - 300) {
          readyDuringOutage = json(managementUrl(live, "/health/ready"));
        }
        if (at >= OUTAGE_MILLIS && isStopped()) {
          signal(held, "CONT");
          // the request due at `at` goes after the signal: it belongs to the return, not the outage, however late
          // this loop runs (42 ms late in a CI run, and that request, sent into a store already answering again,
          // was counted as sent during the outage)
          resumedAt = at;
        }
        pending.add(send(live, start, startEpochMillis, at));
      }
      CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
      modes.interrupt();
      modes.join(5_000);
      awaitTrue(live.name + " to be back in SHARED mode",
          () -> "SHARED".equals(json(managementUrl(live, "/stats")).getString("limiterMode")), live, held);
      JsonObject stats = json(managementUrl(live, "/stats"));
      Outage outage = new Outage(mode, pending.stream().map(CompletableFuture::join).toList(), resumedAt,
          List.copyOf(modes.changes), readyDuringOutage, stats, live);
      System.out.println(outage.figures());
      JsonObject storeCheck = storeCheck(readyDuringOutage);
      assertNotEquals("SHARED", storeCheck.getJsonObject("data").getString("mode"),
          outage.report("/health/ready shows it"));
      assertEquals("DOWN", storeCheck.getString("status"), outage.report("its store check is down"));
      assertEquals("UP", readyDuringOutage.getString("status"), outage.report("degraded is still ready"));
      assertTrue(stats.getLong("limiterModeSwitches") >= 3, outage.report("switches counted"));
      assertTrue(live.stderr().contains("-> DEGRADED ("), outage.report("the switch is logged"));
      return outage;
    } finally {
      signal(held, "CONT");
      live.stop(Duration.ofSeconds(15));
      resumedAt = -1;
    }
  }


  private boolean isStopped() {
    return resumedAt < 0;
  }

  private boolean sharedForASecond(JavaProcess live) throws Exception {
    for (int i = 0; i < 4; i++) {
      if (!"SHARED".equals(json(managementUrl(live, "/stats")).getString("limiterMode"))) {
        return false;
      }
      Thread.sleep(250);
    }
    return true;
  }

  private CompletableFuture<Result> send(JavaProcess live, long start, long startEpochMillis, long at) {
    HttpRequest request = HttpRequest.newBuilder(URI.create(proxyUrl(live, "/api/hello")))
        .timeout(Duration.ofSeconds(5)).GET().build();
    return http.sendAsync(request, HttpResponse.BodyHandlers.ofString())
        .handle((response, failure) -> failure != null
            ? new Result(at, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), -1, -1, false)
            : new Result(at, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
                response.headers().firstValue(RECEIVED_AT).map(micros -> Long.parseLong(micros) / 1_000
                    - startEpochMillis).orElse(-1L),
                response.statusCode(),
                response.headers().firstValue("content-type").orElse("").startsWith("application/problem+json")));
  }

  /**
   * One request: when it was sent and answered, and when it arrived at the API (-1 if it did not), in ms from the
   * start; its status; whether it was a problem document.
   */
  private record Result(long sentAt, long answeredAt, long arrivedAt, int status, boolean problem) {
  }

  /** What the live gateway answered in one mode, and the figures to print. */
  private record Outage(String mode, List<Result> results, long resumedAt, List<String> modes, JsonObject ready,
                        JsonObject stats, JavaProcess live) {

    /** When the live gateway was last seen switching to SHARED (ms from the start), or -1. */
    long lastReturnToShared() {
      for (int i = modes.size() - 1; i >= 0; i--) {
        if (modes.get(i).startsWith("SHARED@")) {
          return Long.parseLong(modes.get(i).substring("SHARED@".length()));
        }
      }
      return -1;
    }

    /** Requests sent while the held member was suspended. */
    List<Result> during(Predicate<Result> filter) {
      return results.stream().filter(r -> r.sentAt < resumedAt).filter(filter).toList();
    }

    /** Requests sent a second or more after the held member was resumed. */
    List<Result> after(Predicate<Result> filter) {
      return results.stream().filter(r -> r.sentAt >= resumedAt + 1_000).filter(filter).toList();
    }

    /** The most requests that arrived at the API in any window (see TRANSIT_SLACK) starting within [from, to). */
    int maxForwardedInAWindow(long from, long to) {
      List<Long> times = results.stream().filter(r -> r.arrivedAt >= 0).map(Result::arrivedAt).sorted().toList();
      int most = 0;
      for (int i = 0; i < times.size(); i++) {
        if (times.get(i) < from || times.get(i) >= to) {
          continue;
        }
        int j = i;
        while (j < times.size() && times.get(j) < times.get(i) + 1_000 - TRANSIT_SLACK_MILLIS) {
          j++;
        }
        most = Math.max(most, j - i);
      }
      return most;
    }

    String figures() {
      Map<Long, Map<Integer, Long>> perSecond = results.stream().collect(Collectors.groupingBy(
          r -> r.sentAt / 1_000, TreeMap::new,
          Collectors.groupingBy(Result::status, TreeMap::new, Collectors.counting())));
      return String.format("store outage, onStoreFailure=%s: resumed at %d ms; modes seen (state@ms) %s; statuses "
              + "by second sent %s; most forwarded in a window: outage %d, whole run %d; /health/ready during outage "
              + "%s; /stats after %s",
          mode, resumedAt, modes, perSecond, maxForwardedInAWindow(0, resumedAt - 1_000),
          maxForwardedInAWindow(0, Long.MAX_VALUE), ready.encode(), stats.encode());
    }

    String report(String expectation) {
      return expectation + "\n" + figures() + live.tails();
    }
  }

  /** The {@code store} check of a {@code /health/ready} answer. */
  private static JsonObject storeCheck(JsonObject ready) {
    for (Object check : ready.getJsonArray("checks")) {
      if (check instanceof JsonObject named && "store".equals(named.getString("id"))) {
        return named;
      }
    }
    throw new AssertionError("no store check in " + ready.encode());
  }

  /** Polls the live gateway's mode every {@value #WATCH_EVERY_MILLIS} ms and keeps each change, as "STATE@ms". */
  private final class ModeWatcher extends Thread {
    final List<String> changes = new CopyOnWriteArrayList<>();
    private final JavaProcess live;
    private final long start;

    ModeWatcher(JavaProcess live, long start) {
      super("outage-mode-watcher");
      setDaemon(true);
      this.live = live;
      this.start = start;
    }

    @Override
    public void run() {
      String last = "SHARED";
      long limit = start + TimeUnit.MILLISECONDS.toNanos(OUTAGE_MILLIS + AFTER_MILLIS + 10_000);
      while (!isInterrupted() && System.nanoTime() < limit) {
        try {
          String mode = json(managementUrl(live, "/stats")).getString("limiterMode");
          if (!mode.equals(last)) {
            changes.add(mode + "@" + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            last = mode;
          }
          Thread.sleep(WATCH_EVERY_MILLIS);
        } catch (InterruptedException e) {
          return;
        } catch (IOException | RuntimeException e) {
          changes.add("unreadable@" + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        }
      }
    }
  }

  private JavaProcess startGateway(String name, String mode, int proxyPort, int managementPort) throws IOException {
    Map<String, String> env = Map.of(
        "SLUICE_HTTP_HOST", "127.0.0.1",
        "SLUICE_HTTP_PORT", Integer.toString(proxyPort),
        "SLUICE_MANAGEMENT_HOST", "127.0.0.1",
        "SLUICE_MANAGEMENT_PORT", Integer.toString(managementPort),
        "SLUICE_UPSTREAMS", "http://127.0.0.1:" + apiPort,
        "SLUICE_CLUSTER_NAME", CLUSTER,
        "SLUICE_POLICIES", policies,
        "SLUICE_LIMITER_ON_STORE_FAILURE", mode,
        // the same small warm-up as the default, quicker on a shared machine
        "SLUICE_WARMUP_REQUESTS", "100");
    JavaProcess process = JavaProcess.start(name, GATEWAY_JAR, env, "-cluster", "-conf", "conf/gateway.json");
    ports.put(process, new int[] {proxyPort, managementPort});
    return process;
  }


  private String proxyUrl(JavaProcess gateway, String path) {
    return "http://127.0.0.1:" + ports.get(gateway)[0] + path;
  }

  private String managementUrl(JavaProcess gateway, String path) {
    return "http://127.0.0.1:" + ports.get(gateway)[1] + path;
  }

  static void signal(JavaProcess process, String signal) {
    if (!process.isAlive()) {
      return;
    }
    try {
      int exit = new ProcessBuilder("kill", "-" + signal, Long.toString(process.process.pid())).start().waitFor();
      assertEquals(0, exit, "kill -" + signal + " " + process.name);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private int status(String url) {
    return status(http, url);
  }

  /** The status {@code url} answers a GET with, or -1 when it does not answer within 2 s. */
  static int status(HttpClient http, String url) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).GET().build(),
          HttpResponse.BodyHandlers.discarding()).statusCode();
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  private JsonObject json(String url) throws IOException, InterruptedException {
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(url))
        .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
    return new JsonObject(response.body());
  }

  @FunctionalInterface
  interface Check {
    boolean holds() throws Exception;
  }

  /** Polls {@code check} every 250 ms for at most {@link #START_LIMIT}; fails early if a watched process exits. */
  static void awaitTrue(String what, Check check, JavaProcess... watched) throws Exception {
    long deadline = System.nanoTime() + START_LIMIT.toNanos();
    while (!check.holds()) {
      for (JavaProcess process : watched) {
        if (!process.isAlive()) {
          fail(process.name + " exited with " + process.exitCode() + " while waiting for " + what + process.tails());
        }
      }
      if (System.nanoTime() > deadline) {
        StringBuilder tails = new StringBuilder();
        for (JavaProcess process : watched) {
          tails.append(process.tails());
        }
        fail("gave up after " + START_LIMIT.toSeconds() + " s waiting for " + what + tails);
      }
      Thread.sleep(250);
    }
  }

  static void sleepUntil(long startNanos, long atMillis) throws InterruptedException {
    long wait = startNanos + TimeUnit.MILLISECONDS.toNanos(atMillis) - System.nanoTime();
    if (wait > 0) {
      TimeUnit.NANOSECONDS.sleep(wait);
    }
  }

  /** Ports the OS reports free, all distinct (held open together while asking). */
  static int[] freePorts(int count) throws IOException {
    List<ServerSocket> sockets = new ArrayList<>();
    try {
      int[] ports = new int[count];
      for (int i = 0; i < count; i++) {
        ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        sockets.add(socket);
        ports[i] = socket.getLocalPort();
      }
      return ports;
    } finally {
      for (ServerSocket socket : sockets) {
        socket.close();
      }
    }
  }
}
