package io.sluice.gateway.proxy;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.proxy.BodyTraffic.Answer;
import io.sluice.gateway.proxy.BodyTraffic.Download;
import io.sluice.gateway.proxy.BodyTraffic.Pacing;
import io.vertx.core.Context;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClient;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Request and response bodies of every size around the interesting boundaries (empty, one byte, either side of
 * 64 KiB, 1 MiB, 50 MiB), with a Content-Length or chunked, sent or read at full speed or slowly, through a real
 * gateway (in-memory store, a limit never reached, default timeouts) in front of the real API verticle. Bodies
 * are the API's byte pattern: both ends check every byte as it streams, nothing holds a whole body.
 */
@DisplayName("Bodies of every size, framing and pace pass through the gateway in both directions")
class BodyMatrixTest {

  private static final long KIB = 1024;
  private static final long MIB = 1024 * KIB;
  private static final List<Long> SIZES = List.of(0L, 1L, 64 * KIB - 1, 64 * KIB, MIB, 50 * MIB);
  /**
   * "Slow" spreads a body over about a second, in 64 KiB pieces (at least 8). A 50 MiB body is 800 pieces with
   * 1 ms pauses: slow next to loopback speed, with the sender's or reader's queue emptying between pieces, yet
   * bounded (1–3 s here) so that the whole class stays near a minute on two cores.
   */
  private static final Duration SLOW = Duration.ofSeconds(1);
  /** An early answer must reach the client well before the gateway's 5 s upstream timeout could give a 504. */
  private static final Duration PROMPT = Duration.ofSeconds(2);
  /** Longest wait for any one case: the default upstream timeout (5 s), a slow 50 MiB body, and slack. */
  private static final Duration CASE_LIMIT = Duration.ofSeconds(20);
  private static final Duration STOP_LIMIT = Duration.ofSeconds(3);
  private static final int EARLY_STATUS = 413;

  private static final Map<Long, String> CRCS = new ConcurrentHashMap<>();

  private static Vertx vertx;
  private static int apiPort;
  private GatewayVerticle gateway;
  private HttpClient http;
  /** Where every request of a case starts (see BodyTraffic.on). */
  private Context context;

  enum Framing {
    FIXED_LENGTH("Content-Length"), CHUNKED("chunked");

    final String label;

    Framing(String label) {
      this.label = label;
    }
  }

  enum Pace { FAST, SLOW }

  enum Upstream {
    READS_ALL("upstream reads it all"), ANSWERS_EARLY("upstream answers " + EARLY_STATUS + " before reading");

    final String label;

    Upstream(String label) {
      this.label = label;
    }
  }

  record UploadCase(long size, Framing framing, Pace pace, Upstream upstream) {
    @Override
    public String toString() {
      return "upload " + sizeLabel(size) + ", " + framing.label + ", " + (pace == Pace.SLOW ? "slow" : "fast")
          + " sender, " + upstream.label;
    }
  }

  record DownloadCase(long size, Framing framing, Pace pace) {
    @Override
    public String toString() {
      return "download " + sizeLabel(size) + ", " + framing.label + ", " + (pace == Pace.SLOW ? "slow" : "fast")
          + " reader";
    }
  }

  static Stream<UploadCase> uploads() {
    return SIZES.stream().flatMap(size -> Stream.of(Framing.values()).flatMap(framing ->
        Stream.of(Pace.values()).flatMap(pace ->
            Stream.of(Upstream.values()).map(upstream -> new UploadCase(size, framing, pace, upstream)))));
  }

  static Stream<DownloadCase> downloads() {
    return SIZES.stream().flatMap(size -> Stream.of(Framing.values()).flatMap(framing ->
        Stream.of(Pace.values()).map(pace -> new DownloadCase(size, framing, pace))));
  }

  @BeforeAll
  static void startApi() {
    vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    ApiVerticle api = new ApiVerticle(Map.of(), Clock.systemUTC());
    vertx.deployVerticle(api, new DeploymentOptions().setConfig(new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0)))).await();
    apiPort = api.actualPort();
  }

  @AfterAll
  static void stopAll() {
    BodyTraffic.awaitQuietly(vertx.close(), STOP_LIMIT, "closing Vert.x");
  }

  /** A gateway of its own for every case, so that one case's failure cannot leave another a broken connection. */
  /** The proxy engine under test ({@code proxy.engine}). */
  protected String engine() {
    return "netty";
  }

  @BeforeEach
  void startGateway() {
    gateway = deployGateway(vertx, apiPort, engine());
    http = vertx.createHttpClient();
    context = vertx.getOrCreateContext();
  }

  @AfterEach
  void stopGateway() {
    // a failed case may leave a request in flight: neither end waits for it long
    BodyTraffic.awaitQuietly(http.shutdown(0, TimeUnit.SECONDS), STOP_LIMIT, "closing the client");
    BodyTraffic.awaitQuietly(vertx.undeploy(gateway.deploymentID()), STOP_LIMIT, "undeploying the gateway");
  }

  /** The gateway as configured by default, but on loopback port 0, without warm-up and with a limit never reached. */
  static GatewayVerticle deployGateway(Vertx vertx, int apiPort) {
    return deployGateway(vertx, apiPort, "netty");
  }

  static GatewayVerticle deployGateway(Vertx vertx, int apiPort, String engine) {
    JsonObject config = new JsonObject()
        .put("proxy", new JsonObject().put("engine", engine))
        // the matrix goes past the default 10 MiB body limit: bodies of any size pass when it is off
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0).put("maxBodySize", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + apiPort))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("policies", new JsonArray().add(new JsonObject()
            .put("name", "global").put("key", "global").put("requests", 1_000_000).put("window", "1s")));
    GatewayVerticle gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    return gateway;
  }

  /** The large uploads again, straight to the API: a control, so a failure above is the gateway's, not the client's. */
  static Stream<UploadCase> largeUploads() {
    return uploads().filter(c -> c.size >= MIB);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("uploads")
  @DisplayName("uploads: the upstream gets every byte and its answer reaches the client; an early answer comes at once")
  void upload(UploadCase c) {
    checkUpload(c, gateway.proxyPort());
  }

  @ParameterizedTest(name = "control, straight to the API: {0}")
  @MethodSource("largeUploads")
  @DisplayName("control: the same large uploads straight to the API pass")
  void uploadDirect(UploadCase c) {
    checkUpload(c, apiPort);
  }

  private void checkUpload(UploadCase c, int port) {
    String uri = c.upstream == Upstream.ANSWERS_EARLY ? "/api/sink?answerEarly=" + EARLY_STATUS : "/api/sink";
    Pacing pacing = c.pace == Pace.SLOW ? Pacing.spread(c.size, SLOW) : Pacing.FAST;
    Answer answer = BodyTraffic.await(BodyTraffic.on(context, () -> BodyTraffic.upload(vertx, http, port, uri, c.size,
        c.framing == Framing.CHUNKED, pacing)), CASE_LIMIT, c.toString());

    if (c.upstream == Upstream.ANSWERS_EARLY) {
      assertEquals(EARLY_STATUS, answer.status(), () -> c + ": " + answer.body());
      assertEquals(EARLY_STATUS, answer.body().toJsonObject().getInteger("status"), () -> answer.body().toString());
      assertTrue(answer.headAfterMs() < PROMPT.toMillis(), () -> c + ": the early answer took " + answer.headAfterMs()
          + " ms (" + answer.bytesSent() + " body bytes sent by then)");
      return;
    }
    assertEquals(200, answer.status(), () -> c + ": " + answer.body());
    JsonObject sunk = answer.body().toJsonObject();
    assertEquals(c.size, sunk.getLong("bytes"), () -> c + ": " + sunk);
    assertEquals(crcOf(c.size), sunk.getString("crc32"), () -> c + ": " + sunk);
    assertTrue(sunk.getBoolean("pattern"), () -> c + ": " + sunk);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("downloads")
  @DisplayName("downloads: the client gets every byte of the pattern, with the upstream's length when it gave one")
  void download(DownloadCase c) {
    String uri = "/api/bytes?n=" + c.size + (c.framing == Framing.CHUNKED ? "&chunked=true" : "");
    Pacing pacing = c.pace == Pace.SLOW ? Pacing.spread(c.size, SLOW) : Pacing.FAST;
    int port = gateway.proxyPort();
    Download got = BodyTraffic.await(BodyTraffic.on(context, () -> BodyTraffic.download(vertx, http, port, uri, pacing)),
        CASE_LIMIT, c.toString());

    assertEquals(200, got.status(), c::toString);
    if (c.framing == Framing.FIXED_LENGTH) {
      assertEquals(Long.toString(c.size), got.headers().get("content-length"), c::toString);
    }
    assertEquals(c.size, got.digest().bytes(), c::toString);
    assertTrue(got.digest().patternIntact(), () -> c + ": first wrong byte at " + got.digest().firstMismatch());
  }

  @Test
  @DisplayName("an upstream that reads a 1 MiB body slowly (5 ms after each piece) still gets all of it")
  void slowReadingUpstream() {
    Answer answer = BodyTraffic.await(BodyTraffic.on(context, () -> BodyTraffic.upload(vertx, http, gateway.proxyPort(),
        "/api/sink?readMs=5", MIB, false, Pacing.FAST)), CASE_LIMIT, "1 MiB to a slow reader");
    assertEquals(200, answer.status(), answer.body()::toString);
    JsonObject sunk = answer.body().toJsonObject();
    assertEquals(MIB, sunk.getLong("bytes"), sunk::encode);
    assertEquals(crcOf(MIB), sunk.getString("crc32"), sunk::encode);
  }

  @Test
  @DisplayName("a slow sender on the upstream side (delayMs between pieces) streams through to the client")
  void slowSendingUpstream() {
    String uri = "/api/bytes?n=" + MIB + "&delayMs=50";
    int port = gateway.proxyPort();
    Download got = BodyTraffic.await(BodyTraffic.on(context, () -> BodyTraffic.download(vertx, http, port, uri,
        Pacing.FAST)), CASE_LIMIT, "1 MiB from a slow sender");
    assertEquals(200, got.status());
    assertEquals(MIB, got.digest().bytes());
    assertTrue(got.digest().patternIntact());
    assertTrue(got.tookMs() >= 15 * 50, "16 pieces, 15 pauses of 50 ms, took " + got.tookMs() + " ms");
  }

  private static String crcOf(long size) {
    return CRCS.computeIfAbsent(size, BodyTraffic::patternCrc);
  }

  private static String sizeLabel(long size) {
    if (size >= MIB && size % MIB == 0) {
      return size / MIB + " MiB";
    }
    if (size >= KIB && size % KIB == 0) {
      return size / KIB + " KiB";
    }
    if (size == 64 * KIB - 1) {
      return "64 KiB - 1";
    }
    return size + " B";
  }
}
