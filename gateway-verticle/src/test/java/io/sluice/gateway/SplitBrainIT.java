package io.sluice.gateway;

import io.sluice.gateway.GatewayProcessesIT.JavaProcess;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A split brain as deployed: the API and three clustered gateway jars that expect 3 gateways
 * ({@code SLUICE_CLUSTER_EXPECTED_GATEWAYS}, so their counters need a majority of 2), failure detection shortened to a
 * few seconds. Gateway C is suspended (SIGSTOP) until A and B have removed it, then resumed (SIGCONT): C finds itself
 * alone, a cluster of one without a majority, until Hazelcast's split-brain handler merges it back. Load on a global
 * limit goes to every gateway not suspended; a second, per-account limit of a minute counts a few requests on each
 * side, to read the counters before and after the merge. Figures go to stdout.
 */
@DisplayName("three clustered gateways, one suspended past failure detection and resumed: split brain, then merge")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SplitBrainIT {

  private static final Path GATEWAY_JAR = Path.of(System.getProperty("sluice.gateway.jar", "")).toAbsolutePath();
  private static final Path API_JAR = Path.of(System.getProperty("sluice.api.jar", "")).toAbsolutePath();
  private static final String CLUSTER = "sluice-split-" + UUID.randomUUID().toString().substring(0, 8);
  private static final int GATEWAYS = 3;
  private static final int LIMIT = 10;
  /** What the gateway cut off admits alone: its part as one of the 3 expected, at most ceil(10/3). */
  private static final int PART = (LIMIT + GATEWAYS - 1) / GATEWAYS;
  /** Per account, a minute: below 100, so counted request by request (no leases), and it outlasts the test. */
  private static final int ACCOUNT_LIMIT = 60;
  /** Load on the global limit, per gateway: 3 × 10 r/s, three times the limit, well below heavy load. */
  private static final int RATE_PER_GATEWAY = 10;
  private static final long LOAD_BEFORE_MILLIS = 2_000;
  private static final long LOAD_AFTER_MILLIS = 3_000;
  /**
   * Failure detection shortened from cluster.xml's 15 s, and the split-brain handler's first and later runs from
   * Hazelcast's 300 s and 120 s, so the test takes seconds. The heartbeat stays cluster.xml's 1 s.
   */
  private static final List<String> HAZELCAST_TIMING = List.of(
      "-Dhazelcast.max.no.heartbeat.seconds=4",
      "-Dhazelcast.merge.first.run.delay.seconds=5",
      "-Dhazelcast.merge.next.run.delay.seconds=3");
  /**
   * Longer than the default 50 ms: beside other builds on two cores (load average 13 was seen), 50 ms calls time out
   * about once a second even without a split, and every switch in and out of local decisions may let one request
   * more through (the crash part of issue 13, not what this test is about). The split's own failures are not
   * affected: on the cut-off side the protection fails calls at once.
   */
  private static final String STORE_TIMEOUT = "250ms";
  /** Stamped by the API on every response: when the request arrived there, where the limit is promised. */
  private static final String RECEIVED_AT = "X-Upstream-Received-At";
  /** As in StoreOutageIT: windows counted a little shorter than 1 s for the spread of five JVMs on two cores. */
  private static final long TRANSIT_SLACK_MILLIS = 50;
  /** Sent times are this test's clock, arrival times the API's: both the machine's, read a few ms apart. */
  private static final long CLOCKS_MILLIS = 10;
  private static final Duration WAIT_LIMIT = Duration.ofSeconds(60);
  /**
   * What C logs when it counts on the shared counters again, having written back what it admitted alone
   * ({@code RECOVERING -> SHARED}, or {@code -> SUSPECT} when another place is suspected at that moment).
   */
  private static final String BACK_TO_SHARED = "counting on the shared counters again";
  private static final String OVERLOADED = "urn:sluice:problem:overloaded";
  private static final Pattern ACCOUNT_REMAINING = Pattern.compile("\"split-account\";r=(\\d+)");

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(2)).build();
  private final Map<String, Gateway> gateways = new LinkedHashMap<>();
  private final List<CompletableFuture<Result>> load = new CopyOnWriteArrayList<>();
  private final String account = "acct-" + UUID.randomUUID();
  private JavaProcess api;
  private long startNanos;
  private long startEpochMillis;

  @AfterAll
  void stopAll() {
    for (Gateway gateway : gateways.values()) {
      signal(gateway.process, "CONT");
      gateway.process.stop(Duration.ofSeconds(15));
    }
    if (api != null) {
      api.stop(Duration.ofSeconds(15));
    }
  }

  @Test
  @DisplayName("during the split the majority side forwards at most the limit per window and the cut-off gateway at "
      + "most its part; after the merge the counters hold at least either side's count, and 3 members share one limit")
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  void splitAndMerge() throws Exception {
    startAll();
    Gateway a = gateways.get("A");
    Gateway b = gateways.get("B");
    Gateway c = gateways.get("C");
    startNanos = System.nanoTime();
    startEpochMillis = System.currentTimeMillis();
    Load traffic = new Load(Set.of(a, b, c));
    traffic.start();
    int before = 0;
    for (Gateway gateway : List.of(a, b, c, a, b, c)) {
      before += account(gateway).status == 200 ? 1 : 0;
    }
    traffic.join(LOAD_BEFORE_MILLIS);  // the load runs on meanwhile; the join ends early only if it stopped

    int logA = a.process.stderr().length();
    // no request in flight on C as it stops: one would wait out the client's timeout, and be decided who knows when
    traffic.targets = Set.of(a, b);
    long roundsBefore = traffic.rounds;
    await("C to answer what it was sent", () -> traffic.rounds > roundsBefore + 1 && traffic.inFlight(c) == 0,
        c.process);
    signal(c.process, "STOP");
    long stoppedAt = now();
    await("A and B to remove C", () -> a.process.stderr().substring(logA).contains("Members {size:2")
        && gateways.values().stream().limit(2).allMatch(g -> "SHARED".equals(mode(g))), a.process, b.process);
    long removedAt = now();

    int logC = c.process.stderr().length();
    signal(c.process, "CONT");
    long resumedAt = now();
    traffic.targets = Set.of(a, b, c);
    await("C to decide alone", () -> "DEGRADED".equals(mode(c)), c.process);
    // the counts each side makes during the split: on the majority, in the shared counters; on C, alone
    int majority = 0;
    int remainingOnMajority = -1;
    for (int i = 0; i < 5; i++) {
      Result result = account(i % 2 == 0 ? a : b);
      majority += result.status == 200 ? 1 : 0;
      remainingOnMajority = result.remaining;
    }
    int alone = 0;
    for (int i = 0; i < 3; i++) {
      alone += account(c).status == 200 ? 1 : 0;
    }
    String degradedAlone = c.process.stderr().substring(logC);
    // C rejoins the others (and shares their counters again) before Hazelcast reports the merge done: alone ends at
    // the instant C logged its switch back to shared counting, read from its log (the machine's clock, as ours)
    await("C to share the counters again", () -> c.process.stderr().substring(logC).contains(BACK_TO_SHARED),
        c.process);
    long sharedAt = loggedAt(c.process.stderr().substring(logC), BACK_TO_SHARED);
    await("C to merge back into the cluster", () -> c.process.stderr().substring(logC).contains("is MERGED"),
        c.process);
    long mergedAt = now();
    // read on a decision the shared counters made (not one B made alone on its part in a moment of slowness)
    int afterMergeAdmitted = 0;
    Result afterMerge = null;
    for (int attempt = 0; attempt < 5 && afterMerge == null; attempt++) {
      await("B to share its counters for a second", () -> sharedForASecond(b), b.process);
      long switches = switches(b);
      Result result = account(b);
      afterMergeAdmitted += result.status == 200 ? 1 : 0;
      afterMerge = switches(b) == switches ? result : null;
    }
    assertTrue(afterMerge != null, "B kept switching modes after the merge" + tails());
    traffic.join(LOAD_AFTER_MILLIS);
    traffic.targets = Set.of();
    traffic.join(5_000);
    List<Result> results = new ArrayList<>();
    for (CompletableFuture<Result> pending : load) {
      results.add(pending.get(30, TimeUnit.SECONDS));
    }

    int majorityCount = before + majority;
    int minorityCount = before + alone;
    int countAfter = ACCOUNT_LIMIT - afterMerge.remaining - afterMergeAdmitted;
    Predicate<Result> majoritySide = r -> !r.gateway.equals("C") && r.arrivedAt >= stoppedAt && r.arrivedAt < sharedAt;
    Predicate<Result> aloneOnC = r -> r.gateway.equals("C") && r.arrivedAt >= resumedAt && r.arrivedAt < sharedAt;
    // every request sent once C shares again was decided on the one set of counters, whatever the merge still does
    Predicate<Result> afterTheMerge = r -> r.sentAt >= sharedAt;
    List<Result> majorityWindow = fullestDecidedWindow(results, majoritySide);
    List<Result> aloneWindow = fullestDecidedWindow(results, aloneOnC);
    List<Result> afterWindow = fullestDecidedWindow(results, afterTheMerge);
    long afterForwarded = results.stream().filter(afterTheMerge).filter(r -> r.status == 200).count();
    List<Result> failed = results.stream().filter(r -> r.status != 200 && r.status != 429).toList();
    long overloaded = failed.stream().filter(Result::expected).count();
    String figures = String.format("split brain: stopped C at %d ms, A and B removed it at %d, resumed at %d, merged "
            + "at %d, C shared again (its log) at %d; account counts: before %d, majority side %d (its remaining %d), "
            + "C alone %d + %d before = %d, after the merge %d (remaining %d); most forwarded in a window (certainly "
            + "decided in it / arrived at the API in 950 ms): majority side (A+B) %d / %d, C alone %d / %d, all after "
            + "the merge %d / %d (%d forwarded in %d ms); forwarded per second and gateway %s; statuses %s; not "
            + "answered 200/429 (%d of them 503 overloaded) %s; fullest windows (gateway@arrived(sent)): majority side "
            + "[%s], C alone [%s], after [%s]",
        stoppedAt, removedAt, resumedAt, mergedAt, sharedAt, before, majorityCount, remainingOnMajority, alone,
        before, minorityCount, countAfter, afterMerge.remaining, majorityWindow.size(),
        mostInAWindow(results, majoritySide), aloneWindow.size(), mostInAWindow(results, aloneOnC),
        afterWindow.size(), mostInAWindow(results, afterTheMerge), afterForwarded, now() - sharedAt,
        perSecond(results), statuses(results), overloaded, describe(failed), describe(majorityWindow),
        describe(aloneWindow), describe(afterWindow));
    System.out.println(figures);
    String report = figures + "\n" + tails();

    assertTrue(results.stream().allMatch(Result::expected), "only 200, 429 and 503 overloaded\n" + report);
    assertTrue(majorityWindow.size() <= LIMIT, "the majority side: at most the limit per window\n" + report);
    assertTrue(aloneWindow.size() <= PART, "C alone: at most its part, ceil(limit/3), per window\n" + report);
    assertTrue(!aloneWindow.isEmpty(), "C served alone during the split\n" + report);
    assertTrue(degradedAlone.contains("-> DEGRADED ("), "C logged its switch\n" + report);
    assertTrue(countAfter >= Math.max(majorityCount, minorityCount),
        "after the merge the counters hold at least either side's count\n" + report);
    assertTrue(afterWindow.size() <= LIMIT, "one shared limit after the merge\n" + report);
    assertTrue(afterForwarded >= (long) LIMIT * (LOAD_AFTER_MILLIS / 1_000 - 1),
        "the full limit is forwarded after the merge\n" + report);
    for (Gateway gateway : gateways.values()) {
      String log = gateway.process.stderr();
      assertTrue(log.lastIndexOf("Members {size:3") > log.lastIndexOf("Members {size:2")
          && log.lastIndexOf("Members {size:3") > log.lastIndexOf("Members {size:1"),
          gateway.name + " sees 3 members at the end\n" + report);
      // a store call slower than storeTimeout on this loaded machine is a short outage of its own: wait it out
      await(gateway.name + " to share the counters at the end", () -> "SHARED".equals(mode(gateway)),
          gateway.process);
    }
  }

  private void startAll() throws Exception {
    int[] ports = freePorts(1 + 3 * GATEWAYS);
    int apiPort = ports[0];
    // each member on a port of its own, listed exactly: the split-brain handler looks for the other side only there
    // (with cluster.xml's port range, it spends 5 s on every port of the range nobody answers on)
    List<String> members = new ArrayList<>();
    for (int m = 0; m < GATEWAYS; m++) {
      members.add("127.0.0.1:" + ports[1 + 2 * GATEWAYS + m]);
    }
    api = JavaProcess.start("split-api", API_JAR, Map.of(),
        "-conf", new JsonObject().put("http", new JsonObject().put("host", "127.0.0.1").put("port", apiPort)).encode());
    String policies = new JsonArray()
        .add(new JsonObject().put("name", "split-global").put("key", "header:X-Load").put("requests", LIMIT)
            .put("window", "1s").put("onExceed", "reject").put("onMissingKey", "skip"))
        .add(new JsonObject().put("name", "split-account").put("key", "header:X-Account")
            .put("requests", ACCOUNT_LIMIT).put("window", "1m").put("onExceed", "reject").put("onMissingKey", "skip"))
        .encode();
    await("the API to answer", () -> status("http://127.0.0.1:" + apiPort + "/health") == 200, api);
    int i = 1;
    for (String name : List.of("A", "B", "C")) {
      int proxyPort = ports[i++];
      int managementPort = ports[i++];
      Map<String, String> env = Map.ofEntries(
          Map.entry("SLUICE_CLUSTER_MEMBERS", String.join(",", members)),
          Map.entry("SLUICE_CLUSTER_PORT", Integer.toString(ports[1 + 2 * GATEWAYS + gateways.size()])),
          Map.entry("SLUICE_HTTP_HOST", "127.0.0.1"),
          Map.entry("SLUICE_HTTP_PORT", Integer.toString(proxyPort)),
          Map.entry("SLUICE_MANAGEMENT_HOST", "127.0.0.1"),
          Map.entry("SLUICE_MANAGEMENT_PORT", Integer.toString(managementPort)),
          Map.entry("SLUICE_UPSTREAMS", "http://127.0.0.1:" + apiPort),
          Map.entry("SLUICE_CLUSTER_NAME", CLUSTER),
          Map.entry("SLUICE_CLUSTER_EXPECTED_GATEWAYS", Integer.toString(GATEWAYS)),
          Map.entry("SLUICE_POLICIES", policies),
          Map.entry("SLUICE_LIMITER_ON_STORE_FAILURE", "local"),
          Map.entry("SLUICE_LIMITER_STORE_TIMEOUT", STORE_TIMEOUT),
          Map.entry("SLUICE_WARMUP_REQUESTS", "100"));
      JavaProcess process = JavaProcess.start("split-" + name, GATEWAY_JAR, HAZELCAST_TIMING, env,
          "-cluster", "-conf", "conf/gateway.json");
      gateways.put(name, new Gateway(name, process, proxyPort, managementPort));
      // one after the other: the oldest member (A) is the master, and C the one cut off is not
      await(name + " to be ready", () -> status("http://127.0.0.1:" + managementPort + "/health/ready") == 200,
          process, api);
    }
    for (Gateway gateway : gateways.values()) {
      await(gateway.name + " to share its counters in a cluster of 3", () -> gateway.process.stderr()
          .contains("Members {size:3") && sharedForASecond(gateway), gateway.process);
    }
  }

  /** One request on the account limit, answered. */
  private Result account(Gateway gateway) throws Exception {
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(gateway.proxyUrl("/api/hello")))
        .header("X-Account", account).timeout(Duration.ofSeconds(5)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    Matcher remaining = ACCOUNT_REMAINING.matcher(response.headers().firstValue("RateLimit").orElse(""));
    return new Result(gateway.name, now(), -1, response.statusCode(), remaining.find()
        ? Integer.parseInt(remaining.group(1)) : -1, problemType(response));
  }

  /** Sends {@link #RATE_PER_GATEWAY} requests a second on the global limit to each gateway in {@link #targets}. */
  private final class Load extends Thread {
    private volatile Set<Gateway> targets;
    /** Rounds of sending done: a round begun after {@code targets} changed sends only to the new ones. */
    private volatile long rounds;
    private final Map<String, java.util.concurrent.atomic.AtomicInteger> inFlight =
        new java.util.concurrent.ConcurrentHashMap<>();

    Load(Set<Gateway> targets) {
      super("split-load");
      setDaemon(true);
      this.targets = targets;
    }

    @Override
    public void run() {
      long tick = 0;
      while (!targets.isEmpty()) {
        for (Gateway gateway : targets) {
          load.add(send(gateway));
        }
        tick++;
        rounds = tick;
        long wait = startNanos + TimeUnit.MILLISECONDS.toNanos(tick * 1_000 / RATE_PER_GATEWAY) - System.nanoTime();
        if (wait > 0) {
          try {
            TimeUnit.NANOSECONDS.sleep(wait);
          } catch (InterruptedException e) {
            return;
          }
        }
      }
    }

    int inFlight(Gateway gateway) {
      java.util.concurrent.atomic.AtomicInteger count = inFlight.get(gateway.name);
      return count == null ? 0 : count.get();
    }

    private CompletableFuture<Result> send(Gateway gateway) {
      java.util.concurrent.atomic.AtomicInteger count =
          inFlight.computeIfAbsent(gateway.name, name -> new java.util.concurrent.atomic.AtomicInteger());
      count.incrementAndGet();
      long sentAt = now();
      HttpRequest request = HttpRequest.newBuilder(URI.create(gateway.proxyUrl("/api/hello")))
          .header("X-Load", "all").timeout(Duration.ofSeconds(5)).GET().build();
      return http.sendAsync(request, HttpResponse.BodyHandlers.ofString())
          .handle((response, failure) -> failure != null ? new Result(gateway.name, sentAt, -1, -1, -1, null)
              : new Result(gateway.name, sentAt, response.headers().firstValue(RECEIVED_AT)
                  .map(micros -> Long.parseLong(micros) / 1_000 - startEpochMillis).orElse(-1L),
                  response.statusCode(), -1, problemType(response)))
          .whenComplete((result, failure) -> count.decrementAndGet());
    }
  }

  /**
   * One request: the gateway it went to, when it was sent and when it arrived at the API (-1 if it did not), in ms
   * from the start; its status; what the account limit said was left (-1 if not asked).
   */
  private record Result(String gateway, long sentAt, long arrivedAt, int status, int remaining, String problem) {
    /**
     * The answers a client may get here: forwarded, refused by the limit, or (while the members rearrange their
     * partitions and store answers come later than the slots they grant) 503 overloaded, the gateway's refusal to
     * forward a request outside its slots, which it answers rather than go over the limit.
     */
    boolean expected() {
      return status == 200 || status == 429 || status == 503 && OVERLOADED.equals(problem);
    }
  }

  private record Gateway(String name, JavaProcess process, int proxyPort, int managementPort) {
    String proxyUrl(String path) {
      return "http://127.0.0.1:" + proxyPort + path;
    }

    String managementUrl(String path) {
      return "http://127.0.0.1:" + managementPort + path;
    }
  }

  /** The most requests among {@code filter}'s that arrived at the API in any window (see TRANSIT_SLACK). */
  private static int mostInAWindow(List<Result> results, Predicate<Result> filter) {
    return fullestWindow(results, filter).size();
  }

  /** The requests of the fullest window among {@code filter}'s, by arrival at the API, in order of arrival. */
  private static List<Result> fullestWindow(List<Result> results, Predicate<Result> filter) {
    List<Result> arrived = results.stream().filter(r -> r.arrivedAt >= 0).filter(filter)
        .sorted(java.util.Comparator.comparingLong(Result::arrivedAt)).toList();
    List<Result> fullest = List.of();
    for (int i = 0; i < arrived.size(); i++) {
      int j = i;
      while (j < arrived.size() && arrived.get(j).arrivedAt < arrived.get(i).arrivedAt + 1_000 - TRANSIT_SLACK_MILLIS) {
        j++;
      }
      if (j - i > fullest.size()) {
        fullest = arrived.subList(i, j);
      }
    }
    return fullest;
  }

  /**
   * The most requests among {@code filter}'s that were certainly decided within one window: sent at or after its
   * start and arrived at the API before its end, so that the gateway's decision, made in between, fell inside it.
   * On a quiet machine the same as {@link #mostInAWindow}; on a loaded one (this runs beside other builds on two
   * cores, and a resumed JVM stalls for hundreds of ms) a request held up after its decision no longer lands in a
   * window whose other requests were decided a second later.
   */
  private static List<Result> fullestDecidedWindow(List<Result> results, Predicate<Result> filter) {
    List<Result> arrived = results.stream().filter(r -> r.arrivedAt >= 0).filter(filter)
        .sorted(java.util.Comparator.comparingLong(Result::sentAt)).toList();
    List<Result> fullest = List.of();
    for (Result first : arrived) {
      long start = first.sentAt;
      List<Result> inside = arrived.stream()
          .filter(r -> r.sentAt >= start && r.arrivedAt < start + 1_000 - CLOCKS_MILLIS).toList();
      if (inside.size() > fullest.size()) {
        fullest = inside;
      }
    }
    return fullest;
  }

  /**
   * When the first line of {@code log} containing {@code marker} was logged, in ms from the start: the line begins
   * with its ISO-8601 instant (logback.xml's pattern).
   */
  private long loggedAt(String log, String marker) {
    int lineStart = log.lastIndexOf('\n', log.indexOf(marker)) + 1;
    String instant = log.substring(lineStart, log.indexOf(' ', lineStart));
    return java.time.OffsetDateTime.parse(instant).toInstant().toEpochMilli() - startEpochMillis;
  }

  /** The problem type of a gateway's own answer (its problem+json body), or null. */
  private static String problemType(HttpResponse<String> response) {
    if (!response.headers().firstValue("content-type").orElse("").startsWith("application/problem+json")) {
      return null;
    }
    try {
      return new JsonObject(response.body()).getString("type");
    } catch (RuntimeException e) {
      return null;
    }
  }

  /** A window's requests as gateway@arrived(sent), ms from the start. */
  private static String describe(List<Result> window) {
    StringBuilder text = new StringBuilder();
    for (Result r : window) {
      text.append(r.gateway).append('@').append(r.arrivedAt).append('(').append(r.sentAt).append(')');
      if (r.status != 200 && r.status != 429) {
        text.append('=').append(r.status).append(r.problem == null ? "" : " " + r.problem);
      }
      text.append(' ');
    }
    return text.toString().trim();
  }

  private static Map<String, Map<Long, Long>> perSecond(List<Result> results) {
    Map<String, Map<Long, Long>> seconds = new java.util.TreeMap<>();
    for (Result r : results) {
      if (r.arrivedAt >= 0) {
        seconds.computeIfAbsent(r.gateway, g -> new java.util.TreeMap<>()).merge(r.arrivedAt / 1_000, 1L, Long::sum);
      }
    }
    return seconds;
  }

  private static Map<Integer, Long> statuses(List<Result> results) {
    Map<Integer, Long> statuses = new java.util.TreeMap<>();
    results.forEach(r -> statuses.merge(r.status, 1L, Long::sum));
    return statuses;
  }

  private long now() {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
  }

  private String tails() {
    StringBuilder tails = new StringBuilder();
    // first, as the tails may be cut short: where each gateway's limiter stands, and C's last lines about it
    gateways.forEach((name, g) -> tails.append('\n').append(name).append(": ").append(limiterStats(g)));
    List<String> aboutTheStore = gateways.get("C").process.stderr().lines()
        .filter(line -> line.contains("limiter store")).toList();
    aboutTheStore.subList(Math.max(0, aboutTheStore.size() - 8), aboutTheStore.size())
        .forEach(line -> tails.append("\nC: ").append(line));
    gateways.values().forEach(g -> tails.append(g.process.tails()));
    return tails.toString();
  }

  /** The limiter's figures in {@code gateway}'s /stats, for a failure's message. */
  private String limiterStats(Gateway gateway) {
    try {
      HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/stats")))
          .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
      JsonObject stats = new JsonObject(response.body());
      return "limiterMode=" + stats.getString("limiterMode") + " limiterPlacesAlone="
          + stats.getValue("limiterPlacesAlone") + " limiterModeSwitches=" + stats.getValue("limiterModeSwitches");
    } catch (IOException | RuntimeException e) {
      return "stats unreadable: " + e;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  private String mode(Gateway gateway) {
    try {
      HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/stats")))
          .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
      return new JsonObject(response.body()).getString("limiterMode");
    } catch (IOException | RuntimeException e) {
      return "unreadable";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  private long switches(Gateway gateway) throws IOException, InterruptedException {
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(gateway.managementUrl("/stats")))
        .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
    return new JsonObject(response.body()).getLong("limiterModeSwitches");
  }

  private boolean sharedForASecond(Gateway gateway) throws InterruptedException {
    for (int i = 0; i < 4; i++) {
      if (!"SHARED".equals(mode(gateway))) {
        return false;
      }
      gateway.process.awaitExitUpTo(java.time.Duration.ofMillis(250));
    }
    return true;
  }

  private int status(String url) {
    return StoreOutageIT.status(http, url);
  }

  private static void signal(JavaProcess process, String signal) {
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

  @FunctionalInterface
  private interface Check {
    boolean holds() throws Exception;
  }

  /**
   * Polls {@code check} every 100 ms (sooner when {@code first} exits) for at most {@link #WAIT_LIMIT}; fails early
   * if a watched process exits.
   */
  private void await(String what, Check check, JavaProcess first, JavaProcess... others) throws Exception {
    List<JavaProcess> watched = new ArrayList<>(List.of(others));
    watched.add(0, first);
    long deadline = System.nanoTime() + WAIT_LIMIT.toNanos();
    while (!check.holds()) {
      for (JavaProcess process : watched) {
        if (!process.isAlive()) {
          fail(process.name + " exited with " + process.exitCode() + " while waiting for " + what + process.tails());
        }
      }
      if (System.nanoTime() > deadline) {
        fail("gave up after " + WAIT_LIMIT.toSeconds() + " s waiting for " + what + tails());
      }
      first.awaitExitUpTo(java.time.Duration.ofMillis(100));
    }
  }


  /** Ports the OS reports free, all distinct (held open together while asking). */
  private static int[] freePorts(int count) throws IOException {
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
