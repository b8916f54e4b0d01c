package io.sluice.gateway;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Sluice as it is deployed: the fat jars started with {@code java -jar}, one JVM per process, from the repository
 * root so that {@code ./cluster.xml} and {@code conf/gateway.json} are the files under test. Runs in {@code mvn
 * verify} after {@code package}; child output goes to {@code target/it-logs/<run>/}.
 */
@DisplayName("Sluice started from the built jars as separate processes")
class GatewayProcessesIT {

  private static final Path ROOT = Path.of(required("sluice.root")).toAbsolutePath().normalize();
  private static final Path GATEWAY_JAR = Path.of(required("sluice.gateway.jar")).toAbsolutePath().normalize();
  private static final Path API_JAR = Path.of(required("sluice.api.jar")).toAbsolutePath().normalize();
  /** Unique per run: no other Hazelcast cluster on this machine can join ours, and logs of runs stay apart. */
  private static final String RUN = "sluice-it-" + UUID.randomUUID().toString().substring(0, 8);
  private static final Path LOGS = GATEWAY_JAR.getParent().resolve("it-logs").resolve(RUN);

  private static final Duration START_LIMIT = Duration.ofSeconds(90);

  private static final Duration POLL = Duration.ofMillis(250);
  private static final Duration EXIT_AFTER_SIGTERM_LIMIT = Duration.ofSeconds(10);
  private static final Duration BAD_CONFIG_EXIT_LIMIT = Duration.ofSeconds(30);
  private static final int LIMIT = 5;
  private static final Duration WINDOW = Duration.ofSeconds(10);
  private static final int REQUESTS = 40;

  /** Every child this test started; a JVM shutdown hook kills leftovers if the test JVM itself is stopped. */
  private static final List<JavaProcess> CHILDREN = new CopyOnWriteArrayList<>();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> CHILDREN.forEach(JavaProcess::kill), "it-children-reaper"));
  }

  private final HttpClient http = HttpClient.newBuilder()
      .version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(2))
      .build();

  @Test
  @DisplayName("a config file with a bad duration stops the jar with a non-zero exit and one line naming file and key")
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void badConfigFileExitsNonZero() throws Exception {
    Path fixture = Path.of(resource("/config/bad-duration.json"));
    JavaProcess gateway = JavaProcess.start("bad-config-file", GATEWAY_JAR, Map.of("SLUICE_CLUSTER_NAME", RUN),
        "-cluster", "-conf", fixture.toString());

    assertRejectedAtStartup(gateway, fixture.toString(), "'policies[1].window'");
  }

  @Test
  @DisplayName("a bad environment variable stops the jar with a non-zero exit and one line naming variable and key")
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void badEnvironmentVariableExitsNonZero() throws Exception {
    JavaProcess gateway = JavaProcess.start("bad-config-env", GATEWAY_JAR,
        Map.of("SLUICE_CLUSTER_NAME", RUN, "SLUICE_HTTP_PORT", "eighty"), "-cluster", "-conf", "conf/gateway.json");

    assertRejectedAtStartup(gateway, "environment variable SLUICE_HTTP_PORT", "'http.port'");
  }

  @Test
  @DisplayName("a bad SLUICE_CLUSTER_EXPECTED_GATEWAYS stops the clustered jar with exit code 2 and one line naming it")
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void badClusterSettingExitsTwo() throws Exception {
    JavaProcess gateway = JavaProcess.start("bad-cluster-env", GATEWAY_JAR,
        Map.of("SLUICE_CLUSTER_NAME", RUN, "SLUICE_CLUSTER_EXPECTED_GATEWAYS", "three"),
        "-cluster", "-conf", "conf/gateway.json");

    assertRejectedAtStartup(gateway, "SLUICE_CLUSTER_EXPECTED_GATEWAYS", "'three'");
  }

  @Test
  @DisplayName("SLUICE_HTTP_TLS_CERT without SLUICE_HTTP_TLS_KEY stops the jar with exit code 2 and one line naming the "
      + "variable and the missing key")
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void tlsCertificateWithoutKeyExitsNonZero() throws Exception {
    Path cert = Path.of(resource("/config/tls/cert.pem"));
    JavaProcess gateway = JavaProcess.start("tls-cert-alone", GATEWAY_JAR,
        Map.of("SLUICE_CLUSTER_NAME", RUN, "SLUICE_HTTP_TLS_CERT", cert.toString()), "-conf", "conf/gateway.json");

    assertRejectedAtStartup(gateway, "environment variable SLUICE_HTTP_TLS_CERT", "'http.tls.key'");
  }

  @Test
  @DisplayName("-conf naming a file that does not exist: exit code 2 and one line naming the file, not a start on the "
      + "defaults")
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void missingConfFileExitsTwo() throws Exception {
    String path = LOGS.resolve("does-not-exist.json").toString();
    JavaProcess gateway = JavaProcess.start("missing-conf-file", GATEWAY_JAR, Map.of(), "-conf", path);

    assertOnlyLine(gateway, "sluice: invalid configuration: " + path + ": no such file (-conf takes the path of a "
        + "JSON file, or a JSON object)");
  }

  @Test
  @DisplayName("-conf naming a file that is not JSON: exit code 2 and one line naming the file and where it breaks")
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void brokenConfFileExitsTwo() throws Exception {
    Files.createDirectories(LOGS);
    Path broken = Files.writeString(LOGS.resolve("broken.json"), "{\n  \"http\": {\"port\": 8080,}\n}\n");
    JavaProcess gateway = JavaProcess.start("broken-conf-file", GATEWAY_JAR, Map.of(), "-conf", broken.toString());

    assertOnlyLine(gateway, "sluice: invalid configuration: " + broken + ": is not valid JSON: ", " at line 2, column 25");
  }

  @Test
  @DisplayName("-conf with an inline object that is not JSON: exit code 2 and one line blaming -conf JSON")
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void brokenInlineConfExitsTwo() throws Exception {
    JavaProcess gateway = JavaProcess.start("broken-conf-inline", GATEWAY_JAR, Map.of(), "-conf", "{\"http\": {");

    assertOnlyLine(gateway, "sluice: invalid configuration: -conf JSON: is not valid JSON: ", " at line 1, column 11");
  }

  @Test
  @DisplayName("a proxy port in use (even with SO_REUSEPORT, as another gateway holds it): exit code 2, one line "
      + "naming the listener and the port, no stack trace")
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void proxyPortInUseExitsTwo() throws Exception {
    try (ServerSocket holder = new ServerSocket()) {
      if (holder.supportedOptions().contains(StandardSocketOptions.SO_REUSEPORT)) {
        holder.setOption(StandardSocketOptions.SO_REUSEPORT, true);
      }
      holder.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      int port = holder.getLocalPort();
      JavaProcess gateway = JavaProcess.start("proxy-port-in-use", GATEWAY_JAR, Map.of(
          "SLUICE_HTTP_HOST", "127.0.0.1", "SLUICE_HTTP_PORT", Integer.toString(port),
          "SLUICE_MANAGEMENT_HOST", "127.0.0.1", "SLUICE_MANAGEMENT_PORT", "0"), "-conf", "conf/gateway.json");

      assertCannotListen(gateway, "sluice: cannot listen: proxy port 127.0.0.1:" + port + " is already in use");
    }
  }

  @Test
  @DisplayName("a management port in use, clustered: exit code 2, one line naming the listener and the port, no stack "
      + "trace")
  @Timeout(value = 90, unit = TimeUnit.SECONDS)
  void managementPortInUseExitsTwo() throws Exception {
    try (ServerSocket holder = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      int port = holder.getLocalPort();
      JavaProcess gateway = JavaProcess.start("management-port-in-use", GATEWAY_JAR, Map.of(
          "SLUICE_CLUSTER_NAME", RUN, "SLUICE_HTTP_HOST", "127.0.0.1", "SLUICE_HTTP_PORT", "0",
          "SLUICE_MANAGEMENT_HOST", "127.0.0.1", "SLUICE_MANAGEMENT_PORT", Integer.toString(port)),
          "-cluster", "-conf", "conf/gateway.json");

      assertCannotListen(gateway, "sluice: cannot listen: management port 127.0.0.1:" + port + " is already in use");
    }
  }

  /** Exit code 2, and stderr is exactly one line, starting (and ending) as given. */
  private static void assertOnlyLine(JavaProcess gateway, String start, String... end) throws Exception {
    try {
      awaitExitCodeTwo(gateway);
      List<String> lines = gateway.stderrLines();
      assertEquals(1, lines.size(), () -> "one line on stderr" + gateway.tails());
      assertTrue(lines.get(0).startsWith(start) && (end.length == 0 || lines.get(0).endsWith(end[0])),
          () -> "expected [" + start + "..." + String.join("", end) + "]" + gateway.tails());
      assertFalse(gateway.stdout().contains("ready"), () -> "it must not start" + gateway.tails());
    } finally {
      gateway.stop(Duration.ofSeconds(5));
    }
  }

  /** Exit code 2, the line once, and nothing that looks like a stack trace. */
  private static void assertCannotListen(JavaProcess gateway, String line) throws Exception {
    try {
      awaitExitCodeTwo(gateway);
      List<String> lines = gateway.stderrLines();
      assertEquals(1, lines.stream().filter(line::equals).count(), () -> "expected the line [" + line + "] once"
          + gateway.tails());
      assertTrue(lines.stream().noneMatch(l -> l.startsWith("\tat ") || l.contains("SEVERE")),
          () -> "no stack trace, no SEVERE log" + gateway.tails());
    } finally {
      gateway.stop(Duration.ofSeconds(5));
    }
  }

  private static void awaitExitCodeTwo(JavaProcess gateway) throws InterruptedException {
    Duration took = gateway.awaitExit(BAD_CONFIG_EXIT_LIMIT);
    assertFalse(gateway.isAlive(), () -> gateway.name + " still runs after " + BAD_CONFIG_EXIT_LIMIT.toSeconds()
        + " s" + gateway.tails());
    System.out.printf("%s exited with %d after %d ms%n", gateway.name, gateway.exitCode(), took.toMillis());
    assertEquals(2, gateway.exitCode(), () -> "exit code" + gateway.tails());
  }

  private static void assertRejectedAtStartup(JavaProcess gateway, String source, String key) throws Exception {
    try {
      Duration took = gateway.awaitExit(BAD_CONFIG_EXIT_LIMIT);
      assertFalse(gateway.isAlive(), () -> gateway.name + " still runs after " + BAD_CONFIG_EXIT_LIMIT.toSeconds()
          + " s" + gateway.tails());
      System.out.printf("%s exited with %d after %d ms%n", gateway.name, gateway.exitCode(), took.toMillis());
      assertEquals(2, gateway.exitCode(), () -> "exit code" + gateway.tails());
      List<String> naming = gateway.stderrLines().stream()
          .filter(line -> line.contains(source) && line.contains(key))
          .toList();
      assertEquals(1, naming.size(), () -> "one stderr line should name [" + source + "] and [" + key + "]"
          + gateway.tails());
    } finally {
      gateway.stop(Duration.ofSeconds(5));
    }
  }

  @Nested
  @TestInstance(TestInstance.Lifecycle.PER_CLASS)
  @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
  @DisplayName("two clustered gateways in front of one API")
  class TwoClusteredGateways {

    private JavaProcess api;
    private Gateway one;
    private Gateway two;

    @BeforeAll
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void startApiAndGateways() throws Exception {
      int[] ports = freePorts(5);
      int apiPort = ports[0];
      String policies = new JsonArray().add(new JsonObject()
          .put("name", "it-global").put("key", "global").put("requests", LIMIT)
          .put("window", WINDOW.toSeconds() + "s").put("onExceed", "reject")).encode();
      long startedAt = System.nanoTime();
      api = JavaProcess.start("api", API_JAR, Map.of(),
          "-conf", new JsonObject().put("http", new JsonObject().put("host", "127.0.0.1").put("port", apiPort)).encode());
      one = Gateway.start("gateway-1", ports[1], ports[2], apiPort, policies);
      two = Gateway.start("gateway-2", ports[3], ports[4], apiPort, policies);

      awaitStatus(api, "http://127.0.0.1:" + apiPort + "/health", startedAt);
      long oneReady = awaitStatus(one.process, one.readyUrl(), startedAt);
      long twoReady = awaitStatus(two.process, two.readyUrl(), startedAt);
      long clustered = awaitLog(startedAt, "both gateways to see a cluster of 2 members", "Members {size:2", one, two);
      System.out.printf("ready after start: gateway-1 %d ms, gateway-2 %d ms; one cluster of 2 after %d ms%n",
          oneReady, twoReady, clustered);
    }

    @AfterAll
    void stopAll() {
      for (JavaProcess child : new JavaProcess[] {two == null ? null : two.process,
          one == null ? null : one.process, api}) {
        if (child != null) {
          child.stop(Duration.ofSeconds(15));
        }
      }
    }

    @Test
    @Order(1)
    @DisplayName("the limit holds across processes: of 40 requests spread over both gateways exactly 5 get through")
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void limitHoldsAcrossProcesses() throws Exception {
      long startedAt = System.nanoTime();
      List<CompletableFuture<HttpResponse<String>>> pending = new ArrayList<>();
      for (int i = 0; i < REQUESTS; i++) {
        Gateway gateway = i % 2 == 0 ? one : two;
        pending.add(http.sendAsync(get(gateway.proxyUrl("/api/hello")), HttpResponse.BodyHandlers.ofString()));
      }
      CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
      long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedAt);
      List<HttpResponse<String>> responses = pending.stream().map(CompletableFuture::join).toList();
      Map<Integer, Long> byStatus = responses.stream()
          .collect(Collectors.groupingBy(HttpResponse::statusCode, TreeMap::new, Collectors.counting()));
      JsonObject statsOne = stats(one);
      JsonObject statsTwo = stats(two);
      System.out.printf("%d requests in %d ms: statuses %s; /stats gateway-1 %s, gateway-2 %s%n",
          REQUESTS, elapsedMillis, byStatus, statsOne.encode(), statsTwo.encode());

      Supplier<String> report = () -> "statuses " + byStatus + ", gateway-1 " + statsOne.encode() + ", gateway-2 "
          + statsTwo.encode() + tails(one.process, two.process);
      assertTrue(elapsedMillis < WINDOW.toMillis(), () -> "requests took " + elapsedMillis
          + " ms, longer than one window: the count proves nothing (machine overloaded?)");
      assertEquals(Map.of(200, (long) LIMIT, 429, (long) (REQUESTS - LIMIT)), byStatus, report);
      assertEquals(LIMIT, statsOne.getLong("forwarded") + statsTwo.getLong("forwarded"), report);
      assertEquals(REQUESTS - LIMIT, statsOne.getLong("rejected") + statsTwo.getLong("rejected"), report);
      for (HttpResponse<String> response : responses) {
        if (response.statusCode() == 200) {
          assertTrue(response.body().contains("hello"), () -> "proxied answer from the API: " + response.body());
        } else {
          assertTrue(response.headers().firstValue("Retry-After").isPresent(), "429 carries Retry-After");
        }
      }
    }

    @Test
    @Order(2)
    @DisplayName("each gateway exits within 10 s of SIGTERM, without the shutdown watchdog having to halt it")
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void sigtermStopsEachGatewayQuickly() throws Exception {
      for (Gateway gateway : List.of(two, one)) {
        gateway.process.process.destroy();
        Duration took = gateway.process.awaitExit(EXIT_AFTER_SIGTERM_LIMIT);
        boolean exited = !gateway.process.isAlive();
        System.out.printf("%s after SIGTERM: %s in %d ms%n", gateway.process.name,
            exited ? "exited with " + gateway.process.exitCode() : "STILL RUNNING", took.toMillis());
        assertTrue(exited, () -> gateway.process.name + " still runs " + EXIT_AFTER_SIGTERM_LIMIT.toSeconds()
            + " s after SIGTERM" + gateway.process.tails());
        assertFalse(gateway.process.stderr().contains("shutdown took longer than"), () -> gateway.process.name
            + " was halted by the shutdown watchdog instead of closing cleanly" + gateway.process.tails());
      }
    }

    private JsonObject stats(Gateway gateway) throws IOException, InterruptedException {
      HttpResponse<String> response = http.send(get(gateway.managementUrl("/stats")),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, response.statusCode(), response::body);
      return new JsonObject(response.body());
    }

    /** Polls until {@code url} answers 200; returns milliseconds since {@code startedAt}. */
    private long awaitStatus(JavaProcess process, String url, long startedAt) throws InterruptedException {
      awaitCondition(startedAt, process.name + " to answer 200 on " + url, () -> answers200(url), process);
      return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedAt);
    }

    private long awaitLog(long startedAt, String what, String text, Gateway... gateways) throws InterruptedException {
      JavaProcess[] processes = Arrays.stream(gateways).map(g -> g.process).toArray(JavaProcess[]::new);
      awaitCondition(startedAt, what, () -> Arrays.stream(processes).allMatch(p -> p.stderr().contains(text)),
          processes);
      return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedAt);
    }

    private void awaitCondition(long startedAt, String what, BooleanSupplier condition, JavaProcess... watched)
        throws InterruptedException {
      long deadline = startedAt + START_LIMIT.toNanos();
      while (!condition.getAsBoolean()) {
        for (JavaProcess process : watched) {
          if (!process.isAlive()) {
            fail(process.name + " exited with " + process.exitCode() + " while waiting for " + what
                + tails(api, one.process, two.process));
          }
        }
        if (System.nanoTime() > deadline) {
          fail("gave up after " + START_LIMIT.toSeconds() + " s waiting for " + what
              + tails(api, one.process, two.process));
        }
        awaitAnyExit(watched, POLL);
      }
    }

    /** Waits up to {@code bound} for one of the processes to exit: the next check comes early if one dies. */
    private void awaitAnyExit(JavaProcess[] watched, Duration bound) throws InterruptedException {
      CompletableFuture<?>[] exits =
          Arrays.stream(watched).map(p -> p.process.onExit()).toArray(CompletableFuture[]::new);
      try {
        CompletableFuture.anyOf(exits).get(bound.toMillis(), TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException stillRunning) {
        // none exited within the bound: poll the condition again
      }
    }

    private boolean answers200(String url) {
      try {
        return http.send(get(url), HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
      } catch (IOException e) {
        return false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
  }

  /** A clustered gateway process and the ports it was given. */
  private record Gateway(JavaProcess process, int proxyPort, int managementPort) {

    static Gateway start(String name, int proxyPort, int managementPort, int apiPort, String policies)
        throws IOException {
      Map<String, String> env = Map.of(
          "SLUICE_HTTP_HOST", "127.0.0.1",
          "SLUICE_HTTP_PORT", Integer.toString(proxyPort),
          "SLUICE_MANAGEMENT_HOST", "127.0.0.1",
          "SLUICE_MANAGEMENT_PORT", Integer.toString(managementPort),
          "SLUICE_UPSTREAMS", "http://127.0.0.1:" + apiPort,
          "SLUICE_CLUSTER_NAME", RUN,
          // these tests count what shared counting admits: on a loaded machine a call slower than the default
          // 50 ms would switch a gateway to its local share (seen: 6, then 4 forwarded of a limit of 5)
          "SLUICE_LIMITER_STORE_TIMEOUT", "1s",
          "SLUICE_POLICIES", policies);
      return new Gateway(JavaProcess.start(name, GATEWAY_JAR, env, "-cluster", "-conf", "conf/gateway.json"),
          proxyPort, managementPort);
    }

    String proxyUrl(String path) {
      return "http://127.0.0.1:" + proxyPort + path;
    }

    String managementUrl(String path) {
      return "http://127.0.0.1:" + managementPort + path;
    }

    String readyUrl() {
      return managementUrl("/health/ready");
    }
  }

  /** A {@code java -jar} child started from the repository root, its output in files under {@link #LOGS}. */
  static final class JavaProcess {

    private static final int TAIL_LINES = 40;

    final String name;
    final Process process;
    final Path stdout;
    final Path stderr;

    private JavaProcess(String name, Process process, Path stdout, Path stderr) {
      this.name = name;
      this.process = process;
      this.stdout = stdout;
      this.stderr = stderr;
    }

    static JavaProcess start(String name, Path jar, Map<String, String> env, String... args) throws IOException {
      return start(name, jar, List.of(), env, args);
    }

    /** With {@code jvmOptions} (e.g. {@code -Dhazelcast.…}) before {@code -jar}. */
    static JavaProcess start(String name, Path jar, List<String> jvmOptions, Map<String, String> env, String... args)
        throws IOException {
      Files.createDirectories(LOGS);
      List<String> command = new ArrayList<>(List.of(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-Xmx256m",
          // one log record per line, as bin/sluice does
          "-Djava.util.logging.SimpleFormatter.format=%1$tT.%1$tL %4$s %3$s: %5$s%6$s%n"));
      command.addAll(jvmOptions);
      command.addAll(List.of("-jar", jar.toString()));
      command.addAll(List.of(args));
      ProcessBuilder builder = new ProcessBuilder(command)
          .directory(ROOT.toFile())
          .redirectOutput(LOGS.resolve(name + ".out").toFile())
          .redirectError(LOGS.resolve(name + ".err").toFile());
      builder.environment().keySet().removeIf(variable -> variable.startsWith("SLUICE_"));
      builder.environment().putAll(env);
      JavaProcess child = new JavaProcess(name, builder.start(), LOGS.resolve(name + ".out"),
          LOGS.resolve(name + ".err"));
      CHILDREN.add(child);
      return child;
    }

    boolean isAlive() {
      return process.isAlive();
    }

    /**
     * Waits up to {@code bound} for this process to exit, early if it does: the pause between two looks at another
     * condition, cut short when the process dies (the caller then reports its exit).
     */
    void awaitExitUpTo(Duration bound) throws InterruptedException {
      process.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS);
    }

    int exitCode() {
      return process.exitValue();
    }

    /** Waits at most {@code limit} for the process to end; returns how long it waited. */
    Duration awaitExit(Duration limit) throws InterruptedException {
      long start = System.nanoTime();
      process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS);
      return Duration.ofNanos(System.nanoTime() - start);
    }

    /** SIGTERM, then SIGKILL if it is still there after {@code grace}. */
    void stop(Duration grace) {
      if (!process.isAlive()) {
        return;
      }
      process.destroy();
      try {
        if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
          System.out.println(name + " ignored SIGTERM for " + grace.toSeconds() + " s, killing it" + tails());
          kill();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        kill();
      }
    }

    void kill() {
      if (process.isAlive()) {
        process.destroyForcibly();
      }
    }

    String stderr() {
      return read(stderr);
    }

    String stdout() {
      return read(stdout);
    }

    List<String> stderrLines() {
      return stderr().lines().toList();
    }

    String tails() {
      return "\n--- " + name + " (pid " + process.pid() + ", " + (process.isAlive() ? "running" : "exit "
          + process.exitValue()) + ") stdout, last lines ---\n" + tail(stdout)
          + "\n--- " + name + " stderr, last lines ---\n" + tail(stderr);
    }

    private static String tail(Path file) {
      List<String> lines = read(file).lines().toList();
      return String.join("\n", lines.subList(Math.max(0, lines.size() - TAIL_LINES), lines.size()));
    }

    private static String read(Path file) {
      try {
        return Files.exists(file) ? new String(Files.readAllBytes(file), StandardCharsets.UTF_8) : "";
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  private static String tails(JavaProcess... processes) {
    StringBuilder all = new StringBuilder("\nlogs in " + LOGS);
    for (JavaProcess process : processes) {
      if (process != null) {
        all.append(process.tails());
      }
    }
    String text = all.toString();
    System.out.println(text);
    return text;
  }

  static HttpRequest get(String url) {
    return HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build();
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

  private static URI resource(String path) throws URISyntaxException {
    var url = GatewayProcessesIT.class.getResource(path);
    if (url == null) {
      throw new IllegalStateException("missing test resource " + path);
    }
    return url.toURI();
  }

  private static String required(String property) {
    String value = System.getProperty(property);
    if (value == null || value.isBlank()) {
      throw new IllegalStateException("system property " + property + " is not set: run this test with "
          + "`mvn verify` (maven-failsafe-plugin sets it)");
    }
    return value;
  }
}
