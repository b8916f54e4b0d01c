package io.sluice.gateway;

import io.sluice.gateway.GatewayProcessesIT.JavaProcess;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

import static io.sluice.gateway.GatewayProcessesIT.freePorts;
import static io.sluice.gateway.GatewayProcessesIT.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A rolling restart as an operator does it: two clustered gateway processes from the built jar, a client with a
 * connection pool sending to both all along (retrying a request once, on the other gateway, when its connection was
 * closed or refused, as a client behind a load balancer does), one gateway stopped with SIGTERM while a slow request
 * is in flight on it, then started again.
 */
@DisplayName("A rolling restart of one of two clustered gateways, under a client with a connection pool")
class RollingRestartIT {

  private static final Path GATEWAY_JAR = Path.of(System.getProperty("sluice.gateway.jar")).toAbsolutePath();
  private static final Path API_JAR = Path.of(System.getProperty("sluice.api.jar")).toAbsolutePath();
  private static final String CLUSTER = "sluice-rolling-" + java.util.UUID.randomUUID().toString().substring(0, 8);
  /** Far above what the client sends: every answer should be a 200. */
  private static final String POLICIES = new JsonArray().add(new JsonObject().put("name", "global")
      .put("key", "global").put("requests", 100_000).put("window", "1s")).encode();
  private static final Duration START_LIMIT = Duration.ofSeconds(90);
  /** The in-flight request: long enough to be cut by a careless stop, short of shutdownGrace (5 s). */
  private static final int SLOW_MILLIS = 2_000;
  /** What a JVM stopped by SIGTERM exits with (128 + 15). */
  private static final int SIGTERM_EXIT = 143;
  /** Client threads, each sending one request at a time, alternating between the gateways. */
  private static final int CLIENTS = 2;

  private final List<JavaProcess> started = new ArrayList<>();
  private final HttpClient pooled = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(2)).build();

  @AfterEach
  void stopAll() {
    started.forEach(process -> process.stop(Duration.ofSeconds(15)));
  }

  @Test
  @DisplayName("the request in flight gets its whole answer with Connection: close, the gateway exits, the client "
      + "sees no error (at most a retry on the other gateway), and the restarted gateway rejoins and serves")
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void rollingRestart() throws Exception {
    int[] ports = freePorts(5);
    int api = ports[0];
    start("rr-api", API_JAR, Map.of(), "-conf",
        new JsonObject().put("http", new JsonObject().put("host", "127.0.0.1").put("port", api)).encode());
    JavaProcess one = startGateway("rr-gateway-1", ports[1], ports[2], api);
    JavaProcess two = startGateway("rr-gateway-2", ports[3], ports[4], api);
    awaitClustered(one, ports[2], two);
    awaitClustered(two, ports[4], one);

    Load load = new Load(ports[1], ports[3]);
    load.start();
    load.await(() -> load.answered.get() >= 100, "100 answers through both gateways");

    CompletableFuture<HttpResponse<String>> slow = pooled.sendAsync(
        get("http://127.0.0.1:" + ports[3] + "/api/slow?ms=" + SLOW_MILLIS), HttpResponse.BodyHandlers.ofString());
    // a quarter of its time upstream: it is in flight when the SIGTERM comes (cut short only if gateway 2 dies)
    two.awaitExitUpTo(Duration.ofMillis(SLOW_MILLIS / 4));
    long stopAt = System.nanoTime();
    two.process.destroy();
    HttpResponse<String> inFlight = slow.get(SLOW_MILLIS * 3L, TimeUnit.MILLISECONDS);
    Duration exited = two.awaitExit(Duration.ofSeconds(10));
    assertTrue(!two.isAlive(), "gateway 2 still runs 10 s after SIGTERM" + two.tails());
    long answeredWhileStopping = load.answered.get();
    System.out.printf("in-flight request: %d %s, connection: %s; gateway 2 exited %d ms after SIGTERM (code %d)%n",
        inFlight.statusCode(), inFlight.body().trim(), inFlight.headers().firstValue("connection").orElse("-"),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopAt), two.exitCode());

    JavaProcess again = startGateway("rr-gateway-2-again", ports[3], ports[4], api);
    awaitClustered(again, ports[4], one);
    long rejoined = load.answeredBy[1].get();
    load.await(() -> load.answeredBy[1].get() >= rejoined + 50, "50 answers from the restarted gateway");
    load.stop();

    System.out.printf("rolling restart: %d answers %s, %d retried on the other gateway, errors %s; "
            + "answers per gateway %d / %d; exit took %d ms%n", load.answered.get(), load.statuses, load.retried.get(),
        load.errors, load.answeredBy[0].get(), load.answeredBy[1].get(), exited.toMillis());
    assertEquals(200, inFlight.statusCode(), inFlight::body);
    assertTrue(inFlight.body().contains("\"ms\":" + SLOW_MILLIS), inFlight::body);
    assertEquals("close", inFlight.headers().firstValue("connection").orElse(""),
        "the stopping gateway tells the client not to reuse the connection");
    assertTrue(load.errors.isEmpty(), () -> "errors seen by the client: " + load.errors + one.tails() + two.tails());
    assertEquals(Map.of(200, load.answered.get()), new TreeMap<>(load.statuses), "every answer a 200");
    assertTrue(load.answered.get() > answeredWhileStopping, "the client was served after the stop");
    assertTrue(two.exitCode() == 0 || two.exitCode() == SIGTERM_EXIT, () -> "exit code " + two.exitCode() + two.tails());
  }

  private JavaProcess start(String name, Path jar, Map<String, String> env, String... args) throws IOException {
    JavaProcess process = JavaProcess.start(name, jar, env, args);
    started.add(process);
    return process;
  }

  private JavaProcess startGateway(String name, int proxyPort, int managementPort, int api) throws IOException {
    return start(name, GATEWAY_JAR, Map.of(
        "SLUICE_HTTP_HOST", "127.0.0.1",
        "SLUICE_HTTP_PORT", Integer.toString(proxyPort),
        "SLUICE_MANAGEMENT_HOST", "127.0.0.1",
        "SLUICE_MANAGEMENT_PORT", Integer.toString(managementPort),
        "SLUICE_UPSTREAMS", "http://127.0.0.1:" + api,
        "SLUICE_CLUSTER_NAME", CLUSTER,
        "SLUICE_POLICIES", POLICIES), "-cluster", "-conf", "conf/gateway.json");
  }

  /** Waits until {@code gateway} is ready and sees a cluster of two with {@code other}. */
  private void awaitClustered(JavaProcess gateway, int managementPort, JavaProcess other) throws InterruptedException {
    long deadline = System.nanoTime() + START_LIMIT.toNanos();
    String ready = "http://127.0.0.1:" + managementPort + "/health/ready";
    while (!(answers200(ready) && gateway.stderr().contains("Members {size:2"))) {
      if (!gateway.isAlive() || System.nanoTime() > deadline) {
        fail(gateway.name + (gateway.isAlive() ? " not ready and clustered in time" : " exited") + gateway.tails()
            + other.tails());
      }
      gateway.awaitExitUpTo(Duration.ofMillis(250));
    }
  }

  private boolean answers200(String url) {
    try {
      return pooled.send(get(url), HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** {@link #CLIENTS} threads sending GET /api/hello through the pool, alternating gateways, until stopped. */
  private final class Load {
    private final int[] proxyPorts;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final ExecutorService threads = Executors.newFixedThreadPool(CLIENTS);
    private final List<Future<?>> loops = new ArrayList<>();
    final AtomicLong answered = new AtomicLong();
    final AtomicLong[] answeredBy = {new AtomicLong(), new AtomicLong()};
    final AtomicInteger retried = new AtomicInteger();
    final Map<Integer, Long> statuses = new ConcurrentHashMap<>();
    final List<String> errors = java.util.Collections.synchronizedList(new ArrayList<>());
    /** Bounds the whole run, whatever happens to the gateways. */
    private final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);

    Load(int first, int second) {
      this.proxyPorts = new int[] {first, second};
    }

    void start() {
      for (int c = 0; c < CLIENTS; c++) {
        int offset = c;
        loops.add(threads.submit(() -> {
          for (int i = offset; running.get() && System.nanoTime() < deadline; i++) {
            send(i % 2);
          }
        }));
      }
    }

    private void send(int gateway) {
      try {
        count(gateway, once(gateway));
      } catch (IOException first) {
        retried.incrementAndGet();
        try {
          count(1 - gateway, once(1 - gateway));
        } catch (IOException second) {
          errors.add(second.toString());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    private HttpResponse<String> once(int gateway) throws IOException, InterruptedException {
      return pooled.send(get("http://127.0.0.1:" + proxyPorts[gateway] + "/api/hello"),
          HttpResponse.BodyHandlers.ofString());
    }

    private void count(int gateway, HttpResponse<String> response) {
      statuses.merge(response.statusCode(), 1L, Long::sum);
      answeredBy[gateway].incrementAndGet();
      answered.incrementAndGet();
      synchronized (this) {
        notifyAll();
      }
    }

    /** Waits until {@code condition} holds, looking again at every answer (and at least every 50 ms). */
    synchronized void await(BooleanSupplier condition, String what) throws InterruptedException {
      long until = System.nanoTime() + START_LIMIT.toNanos();
      while (!condition.getAsBoolean()) {
        assertTrue(System.nanoTime() < until, "gave up waiting for " + what + "; errors " + errors);
        wait(50);
      }
    }

    void stop() throws Exception {
      running.set(false);
      for (Future<?> loop : loops) {
        loop.get(30, TimeUnit.SECONDS);
      }
      threads.shutdown();
    }
  }
}
