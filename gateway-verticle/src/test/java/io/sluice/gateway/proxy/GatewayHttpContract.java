package io.sluice.gateway.proxy;

import ch.qos.logback.classic.Level;
import io.sluice.api.ApiVerticle;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.StoreFactory;
import io.sluice.gateway.http.UpstreamProbe;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.Promise;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SelfSignedCertificate;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The gateway through real HTTP: a real API verticle upstream, a real gateway, a real client. Runs once per
 * counter store, because an asynchronous store exercises paths a synchronous one does not.
 */
public abstract class GatewayHttpContract {

  protected Vertx vertx;
  private WebClient client;
  private int apiPort;
  private final List<String> deployments = new ArrayList<>();

  /** How the gateway under test keeps its counters; null means the default (in-memory). */
  protected abstract StoreFactory storeFactory();

  /** Configuration merged into every gateway of the suite: which proxy engine serves (here netty; VertxEngine* subclasses say vertx). */
  protected JsonObject engineConfig() {
    return new JsonObject().put("proxy", new JsonObject().put("engine", "netty"));
  }

  @BeforeEach
  void startUpstream() {
    vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    client = WebClient.create(vertx);
    ApiVerticle api = new ApiVerticle();
    deployments.add(vertx.deployVerticle(api, new DeploymentOptions()
        .setConfig(new JsonObject().put("http", new JsonObject().put("port", 0)))).await());
    apiPort = api.actualPort();
  }

  @AfterEach
  void stop() {
    client.close();
    vertx.close().await();
  }

  private GatewayVerticle gateway(JsonArray policies) {
    return gateway(policies, "5s", "http://127.0.0.1:" + apiPort);
  }

  private GatewayVerticle gateway(JsonArray policies, String upstreamTimeout, String upstream) {
    return gateway(policies, upstreamTimeout, upstream, new JsonObject());
  }

  private GatewayVerticle gateway(JsonArray policies, String upstreamTimeout, String upstream, JsonObject extra) {
    return gateway(policies, upstreamTimeout, upstream, extra, storeFactory());
  }

  private GatewayVerticle gateway(JsonArray policies, String upstreamTimeout, String upstream, JsonObject extra,
                                  StoreFactory stores) {
    JsonArray upstreamList = new JsonArray().add(upstream);
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", upstreamList)
        .put("upstreamTimeout", upstreamTimeout)
        // a few warm-up requests go upstream unlimited before the gateway is ready: they must cost no quota
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 3))
        .put("policies", policies)
        .mergeIn(engineConfig())
        .mergeIn(extra);
    GatewayVerticle gateway = stores == null ? new GatewayVerticle() : new GatewayVerticle(stores);
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    return gateway;
  }

  /** The check named {@code id} in a vertx-health-check answer. */
  static JsonObject check(JsonObject health, String id) {
    for (Object check : health.getJsonArray("checks")) {
      if (check instanceof JsonObject named && id.equals(named.getString("id"))) {
        return named;
      }
    }
    throw new AssertionError("no check '" + id + "' in " + health.encode());
  }

  private static JsonObject policy(String name, String key, int requests, String window) {
    return new JsonObject().put("name", name).put("key", key).put("requests", requests).put("window", window);
  }

  private HttpResponse<Buffer> get(GatewayVerticle gateway, String path, String apiKey) {
    var request = client.get(gateway.proxyPort(), "127.0.0.1", path);
    if (apiKey != null) {
      request.putHeader("X-Api-Key", apiKey);
    }
    return request.send().await();
  }

  @Test
  @DisplayName("accessLog common: one line per answer, forwarded or refused, with status and body bytes, never the key")
  void accessLogCommon() {
    String secret = "access-log-key-" + java.util.UUID.randomUUID();
    try (LogCapture access = LogCapture.of(AccessLog.LOGGER)) {
      GatewayVerticle gateway = gateway(new JsonArray().add(policy("per-key", "header:X-Api-Key", 1, "10s")), "5s",
          "http://127.0.0.1:" + apiPort, new JsonObject().put("accessLog", "common"));
      HttpResponse<Buffer> forwarded = get(gateway, "/api/hello?who=%22x%22", secret);
      HttpResponse<Buffer> refused = get(gateway, "/api/hello", secret);
      assertEquals(List.of(200, 429), List.of(forwarded.statusCode(), refused.statusCode()));

      List<String> lines = awaitLines(access, 2);
      assertTrue(lines.get(0).matches("127\\.0\\.0\\.1 - - \\[\\d{2}/\\w{3}/\\d{4}:\\d{2}:\\d{2}:\\d{2} \\+0000] "
          + "\"GET /api/hello\\?who=%22x%22 HTTP/1\\.1\" 200 " + forwarded.body().length()), lines.get(0));
      assertTrue(lines.get(1).endsWith("\"GET /api/hello HTTP/1.1\" 429 " + refused.body().length()), lines.get(1));
      assertTrue(lines.stream().noneMatch(line -> line.contains(secret)), lines::toString);
    }
  }

  @Test
  @DisplayName("accessLog json: one JSON object per answer; off (the default): no line at all")
  void accessLogJson() {
    try (LogCapture access = LogCapture.of(AccessLog.LOGGER)) {
      GatewayVerticle quiet = gateway(new JsonArray());
      assertEquals(200, get(quiet, "/api/hello", null).statusCode());
      GatewayVerticle gateway = gateway(new JsonArray(), "5s", "http://127.0.0.1:" + apiPort,
          new JsonObject().put("accessLog", "json"));
      HttpResponse<Buffer> echo = client.request(HttpMethod.POST, gateway.proxyPort(), "127.0.0.1", "/api/echo")
          .sendBuffer(Buffer.buffer("twelve bytes")).await();
      assertEquals(200, echo.statusCode());

      List<String> lines = awaitLines(access, 1);
      JsonObject line = new JsonObject(lines.get(0));
      assertEquals(List.of("127.0.0.1", "POST", "/api/echo", "HTTP/1.1", 200, 12L),
          List.of(line.getString("client"), line.getString("method"), line.getString("target"),
              line.getString("protocol"), line.getInteger("status"), line.getLong("bytes")), line::encode);
      assertTrue(line.getDouble("durationMs") >= 0 && line.getString("time").endsWith("Z"), line::encode);
      assertEquals(1, access.lines().size(), "the gateway without an access log wrote none: " + access.lines());
    }
  }

  /** The access log's lines once there are {@code count} (the vertx engine logs when the answer's end is written). */
  private List<String> awaitLines(LogCapture access, int count) {
    for (int i = 0; i < 250 && access.messages(Level.INFO).size() < count; i++) {
      vertx.timer(20).await();
    }
    assertEquals(count, access.messages(Level.INFO).size(), () -> access.messages(Level.INFO).toString());
    return access.messages(Level.INFO);
  }

  @Test
  @DisplayName("forwards method, path, query, headers and body, and answers with the upstream's response")
  void passesThrough() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 100, "10s")));
    HttpResponse<Buffer> echo = client.request(HttpMethod.POST, gateway.proxyPort(), "127.0.0.1", "/api/echo?x=1")
        .putHeader("content-type", "text/plain")
        .sendBuffer(Buffer.buffer("hello through the gateway")).await();
    assertEquals(200, echo.statusCode());
    assertEquals("hello through the gateway", echo.bodyAsString());
    assertTrue(echo.getHeader("content-type").startsWith("text/plain"));
    assertNotNull(echo.getHeader("RateLimit"));

    HttpResponse<Buffer> headers = client.get(gateway.proxyPort(), "127.0.0.1", "/api/headers")
        .putHeader("X-Api-Key", "k1")
        .putHeader("Connection", "keep-alive, X-Hop")
        .putHeader("X-Hop", "should not pass")
        .send().await();
    JsonObject seen = headers.bodyAsJsonObject();
    assertEquals("k1", seen.getJsonArray("x-api-key").getString(0));
    assertEquals("127.0.0.1", seen.getJsonArray("x-forwarded-for").getString(0));
    assertEquals("http", seen.getJsonArray("x-forwarded-proto").getString(0));
    assertEquals("127.0.0.1:" + gateway.proxyPort(), seen.getJsonArray("x-forwarded-host").getString(0));
    assertNull(seen.getJsonArray("x-hop"), "headers named by Connection are hop-by-hop");
  }

  @Test
  @DisplayName("a WebSocket upgrade is counted by the limiter, then tunnelled both ways to the upstream; over the limit it gets 429")
  void webSocketThroughTheGateway() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 2, "10s")));
    WebSocketClient sockets = vertx.createWebSocketClient();
    WebSocketConnectOptions options = new WebSocketConnectOptions().setHost("127.0.0.1")
        .setPort(gateway.proxyPort()).setURI("/api/ws");
    WebSocket socket = sockets.connect(options).await();
    Promise<String> text = Promise.promise();
    Promise<Buffer> binary = Promise.promise();
    socket.textMessageHandler(text::tryComplete);
    socket.binaryMessageHandler(binary::tryComplete);
    socket.writeTextMessage("hello through the tunnel").await();
    assertEquals("hello through the tunnel", text.future().await());
    Buffer big = Buffer.buffer(new byte[200_000]).setByte(199_999, (byte) 7); // several frames, under the API's message limit
    socket.writeBinaryMessage(big).await();
    assertEquals(big, binary.future().await());
    Promise<Short> closed = Promise.promise();
    socket.closeHandler(v -> closed.tryComplete(socket.closeStatusCode()));
    socket.close((short) 1000).await();
    assertEquals((short) 1000, closed.future().await());

    assertEquals(200, get(gateway, "/api/hello", null).statusCode(), "the upgrade used one of two slots");
    Throwable refused = assertThrows(Exception.class, () -> sockets.connect(options).await());
    assertTrue(refused.getMessage().contains("429"), refused.getMessage());
    sockets.close().await();
  }

  @Test
  @DisplayName("a WebSocket tunnel is kept while bytes flow either way and closed after clientIdleTimeout of silence")
  void idleWebSocketTunnelIsClosed() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 100, "10s")), "5s",
        "http://127.0.0.1:" + apiPort, new JsonObject().put("clientIdleTimeout", "400ms"));
    WebSocketClient sockets = vertx.createWebSocketClient();
    WebSocket socket = sockets.connect(new WebSocketConnectOptions().setHost("127.0.0.1")
        .setPort(gateway.proxyPort()).setURI("/api/ws")).await();
    Promise<Void> closed = Promise.promise();
    socket.closeHandler(v -> closed.tryComplete());
    List<String> echoes = new ArrayList<>();
    socket.textMessageHandler(echoes::add);
    long start = System.nanoTime();
    for (int i = 0; i < 6; i++) {
      // a message every 200 ms: traffic keeps the tunnel open for longer than the idle timeout
      socket.writeTextMessage("ping " + i).await();
      vertx.timer(200).await();
    }
    assertFalse(closed.future().isComplete(), "closed while messages still flowed");
    closed.future().await();
    long lived = (System.nanoTime() - start) / 1_000_000;
    assertEquals(6, echoes.size());
    // the last message went at 1 000 ms: the tunnel lives at least the idle timeout after it, and not much longer
    assertTrue(lived >= 1_000 + 400 && lived < 1_000 + 4_000, "closed after " + lived + " ms");
    sockets.close().await();
  }

  @Test
  @DisplayName("over the limit: 429 with Retry-After, RateLimit-Policy, RateLimit and a problem body, upstream untouched")
  void rejectsOverLimit() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 3, "10s")));
    for (int i = 0; i < 3; i++) {
      HttpResponse<Buffer> ok = get(gateway, "/api/hello", null);
      assertEquals(200, ok.statusCode());
      assertEquals("\"global\";q=3;w=10", ok.getHeader("RateLimit-Policy"));
      assertTrue(ok.getHeader("RateLimit").startsWith("\"global\";r=" + (2 - i) + ";t="));
    }
    HttpResponse<Buffer> limited = get(gateway, "/api/hello", null);
    assertEquals(429, limited.statusCode());
    assertEquals("application/problem+json", limited.getHeader("content-type"));
    long retryAfter = Long.parseLong(limited.getHeader("Retry-After"));
    assertTrue(retryAfter >= 9 && retryAfter <= 11, "Retry-After " + retryAfter);
    assertEquals("\"global\";q=3;w=10", limited.getHeader("RateLimit-Policy"));
    assertTrue(limited.getHeader("RateLimit").startsWith("\"global\";r=0;t="));
    JsonObject problem = limited.bodyAsJsonObject();
    assertEquals(429, problem.getInteger("status"));
    assertEquals("global", problem.getString("policy"));
    assertNull(limited.getHeader("X-Upstream-Received-At"), "answered by the gateway itself");
  }

  @Test
  @DisplayName("in-memory counters full of live keys: a new key gets 503 limiter-full with Retry-After, counted, "
      + "logged once; known keys stay exact")
  void fullKeyTableRefusesNewKeys() {
    org.junit.jupiter.api.Assumptions.assumeTrue(storeFactory() == null, "limiter.maxKeys bounds the in-memory store");
    try (LogCapture log = LogCapture.of(LimitGate.class)) {
      GatewayVerticle gateway = gateway(new JsonArray().add(policy("per-key", "header:X-Api-Key", 2, "1m")), "5s",
          "http://127.0.0.1:" + apiPort, new JsonObject().put("limiter", new JsonObject().put("maxKeys", 2))
              // no warm-up: its private policies would take places in the table for a second
              .put("warmup", new JsonObject().put("requests", 0)));
      assertEquals(200, get(gateway, "/api/hello", "alice").statusCode());
      assertEquals(200, get(gateway, "/api/hello", "bob").statusCode());

      for (int i = 0; i < 3; i++) {
        HttpResponse<Buffer> refused = get(gateway, "/api/hello", "carol-" + i);
        assertEquals(503, refused.statusCode());
        assertEquals("application/problem+json", refused.getHeader("content-type"));
        assertEquals("1", refused.getHeader("Retry-After"));
        assertEquals("urn:sluice:problem:limiter-full", refused.bodyAsJsonObject().getString("type"));
        assertTrue(refused.bodyAsJsonObject().getString("detail").contains("limiter.maxKeys = 2"),
            refused.bodyAsString());
        assertNull(refused.getHeader("X-Upstream-Received-At"), "answered by the gateway itself");
      }
      // known keys are decided as always: alice has one request left of 2 per minute
      assertEquals(200, get(gateway, "/api/hello", "alice").statusCode());
      assertEquals(429, get(gateway, "/api/hello", "alice").statusCode());

      JsonObject stats = client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await()
          .bodyAsJsonObject();
      assertEquals(3, stats.getLong("keysRefused"), stats::encode);
      assertEquals(0, stats.getLong("limiterFailures"), stats::encode);
      String metrics = client.get(gateway.managementPort(), "127.0.0.1", "/metrics").send().await().bodyAsString();
      assertTrue(metrics.contains("sluice_keys_refused_total 3.0"), metrics);
      List<String> warnings = log.messages(Level.WARN);
      assertEquals(1, warnings.size(), warnings::toString);
      assertTrue(warnings.get(0).contains("1 request(s) with a new key refused")
          && warnings.get(0).contains("limiter.maxKeys = 2"), warnings.get(0));
    }
  }

  @Test
  @DisplayName("delay action: an excess request is held and forwarded late; past maxDelay it gets 429")
  void delaysExcessRequests() {
    JsonObject delay = policy("per-token", "header:X-Api-Key", 1, "500ms")
        .put("onExceed", "delay").put("maxDelay", "1200ms");
    GatewayVerticle gateway = gateway(new JsonArray().add(delay));
    assertEquals(200, get(gateway, "/api/hello", "warm-up").statusCode(), "a warm upstream connection");
    long start = System.nanoTime();
    List<Future<HttpResponse<Buffer>>> answers = new ArrayList<>();
    List<Long> doneAt = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      answers.add(client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello").putHeader("X-Api-Key", "slowpoke")
          .send().onSuccess(r -> doneAt.add((System.nanoTime() - start) / 1_000_000)));
      vertx.timer(20).await();
    }
    Future.join(answers).await();
    List<Integer> statuses = answers.stream().map(f -> f.result().statusCode()).sorted().toList();
    assertEquals(List.of(200, 200, 200, 429), statuses, "slots at 0, ~0.5 s and ~1 s; the fourth would wait ~1.5 s");
    doneAt.sort(Long::compare);
    assertTrue(doneAt.get(2) >= 450, "second forwarded after about one window: " + doneAt);
    assertTrue(doneAt.get(3) >= 950, "third forwarded after about two windows: " + doneAt);
  }

  @Test
  @DisplayName("/stats counts as delayed only the requests a delaying policy held, not those that waited out the "
      + "store's expected latency or a rejecting policy's grace")
  void delayedCountsOnlyPolicyHolds() {
    JsonObject global = policy("global", "global", 100, "10s");
    JsonObject delay = policy("per-token", "header:X-Api-Key", 1, "500ms")
        .put("onExceed", "delay").put("maxDelay", "1200ms");
    StoreFactory inner = storeFactory();
    StoreFactory slow = (v, config) -> new ExpectedLatencyStore(inner == null
        ? new io.sluice.gateway.limit.InMemoryCounterStore(java.time.Clock.systemUTC(), config.limiter().maxKeys())
        : inner.create(v, config), ExpectedLatencyStore.LEAD_MILLIS);
    GatewayVerticle gateway = gateway(new JsonArray().add(global).add(delay), "5s", "http://127.0.0.1:" + apiPort,
        new JsonObject(), slow);
    for (int i = 0; i < 5; i++) {
      assertEquals(200, get(gateway, "/api/hello", "key-" + i).statusCode());
    }
    JsonObject stats = client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
    assertEquals(5, stats.getLong("forwarded"), stats::encode);
    assertEquals(0, stats.getLong("delayed"), () -> "each request waited about " + ExpectedLatencyStore.LEAD_MILLIS
        + " ms for the instant it was decided for, no policy held it: " + stats.encode());

    Future<HttpResponse<Buffer>> first = client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello")
        .putHeader("X-Api-Key", "twice").send();
    Future<HttpResponse<Buffer>> second = client.get(gateway.proxyPort(), "127.0.0.1", "/api/hello")
        .putHeader("X-Api-Key", "twice").send();
    assertEquals(List.of(200, 200), List.of(first.await().statusCode(), second.await().statusCode()));
    JsonObject after = client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
    // a request whose timer fires late on a busy box is decided again, and may then be held by the policy too
    long delayed = after.getLong("delayed");
    assertTrue(delayed >= 1 && delayed <= 1 + after.getLong("decidedAgainWhenLate"),
        () -> "the second request of the key waited for its slot: " + after.encode());
  }

  @Test
  @DisplayName("missing key: reject answers 401 with a problem body and a WWW-Authenticate challenge naming the scheme or header, skip forwards the request")
  void missingKeyModes() {
    GatewayVerticle strict = gateway(new JsonArray().add(policy("per-token", "header:X-Api-Key", 5, "1s")));
    HttpResponse<Buffer> unauthorized = get(strict, "/api/hello", null);
    assertEquals(401, unauthorized.statusCode());
    assertEquals("application/problem+json", unauthorized.getHeader("content-type"));
    assertTrue(unauthorized.bodyAsJsonObject().getString("detail").contains("X-Api-Key"));
    assertEquals("ApiKey realm=\"sluice\", header=\"X-Api-Key\"", unauthorized.getHeader("WWW-Authenticate"),
        "RFC 9110: a 401 names the scheme it expects");

    GatewayVerticle bearer = gateway(new JsonArray().add(policy("per-token", "bearer", 5, "1s")));
    HttpResponse<Buffer> noToken = get(bearer, "/api/hello", null);
    assertEquals(401, noToken.statusCode());
    assertEquals("Bearer realm=\"sluice\"", noToken.getHeader("WWW-Authenticate"));

    GatewayVerticle lenient = gateway(new JsonArray().add(
        policy("per-token", "bearer", 1, "10s").put("onMissingKey", "skip")));
    assertEquals(200, get(lenient, "/api/hello", null).statusCode());
    assertEquals(200, get(lenient, "/api/hello", null).statusCode());
  }

  @Test
  @DisplayName("upstream refusing connections gives 502, upstream too slow gives 504, both with JSON")
  void upstreamFailures() {
    NetServer closed = vertx.createNetServer().connectHandler(socket -> socket.close()).listen(0, "127.0.0.1").await();
    int deadPort = closed.actualPort();
    closed.close().await();
    GatewayVerticle refused = gateway(new JsonArray(), "5s", "http://127.0.0.1:" + deadPort);
    HttpResponse<Buffer> badGateway = get(refused, "/api/hello", null);
    assertEquals(502, badGateway.statusCode());
    assertEquals("application/problem+json", badGateway.getHeader("content-type"));
    assertEquals(502, badGateway.bodyAsJsonObject().getInteger("status"));

    GatewayVerticle impatient = gateway(new JsonArray(), "300ms", "http://127.0.0.1:" + apiPort);
    HttpResponse<Buffer> timeout = get(impatient, "/api/slow?ms=3000", null);
    assertEquals(504, timeout.statusCode());
    assertEquals(504, timeout.bodyAsJsonObject().getInteger("status"));
  }

  /** A loopback port nothing listens on (it did a moment ago). */
  private int deadPort() {
    NetServer closed = vertx.createNetServer().connectHandler(NetSocket::close).listen(0, "127.0.0.1").await();
    int port = closed.actualPort();
    closed.close().await();
    return port;
  }

  @Test
  @DisplayName("no upstream reachable: the gateway still reports ready, shows upstreams DOWN, and logs one warning "
      + "naming the upstream")
  void readyWithoutUpstream() {
    String upstream = "http://127.0.0.1:" + deadPort();
    try (LogCapture log = LogCapture.of(UpstreamProbe.class)) {
      GatewayVerticle gateway = gateway(new JsonArray(), "5s", upstream);

      HttpResponse<Buffer> ready = client.get(gateway.managementPort(), "127.0.0.1", "/health/ready").send().await();
      assertEquals(200, ready.statusCode(), ready::bodyAsString);
      JsonObject health = ready.bodyAsJsonObject();
      assertEquals("UP", health.getString("status"), health::encode);
      JsonObject upstreams = check(health, "upstreams");
      assertEquals("DOWN", upstreams.getString("status"), health::encode);
      assertEquals(new JsonObject().put(upstream, "DOWN"), upstreams.getJsonObject("data"));
      List<String> warnings = log.messagesFrom(Level.WARN);
      assertEquals(1, warnings.size(), () -> "one warning: " + warnings);
      String message = warnings.get(0);
      assertTrue(message.contains(upstream) && message.contains("connection refused"), message);
    }
  }

  /** Needs Exchange.upstreamFailed to count only counted requests (the lead's one-line change in proxy/Exchange.java). */
  @Test
  @DisplayName("warm-up requests that fail upstream are not counted as upstream failures; a real request is")
  void warmUpFailuresAreNotCounted() {
    GatewayVerticle gateway = gateway(new JsonArray(), "5s", "http://127.0.0.1:" + deadPort());

    JsonObject before = client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
    assertEquals(502, get(gateway, "/api/hello", null).statusCode());
    JsonObject after = client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();

    assertEquals(0, before.getLong("upstreamFailures"), () -> "after 3 failed warm-up requests: " + before.encode());
    assertEquals(1, after.getLong("upstreamFailures"), after::encode);
  }

  @Test
  @DisplayName("the management port answers health and stats; the proxy port sends everything upstream")
  void managementPort() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 1, "10s")));
    assertEquals(404, get(gateway, "/health/ready", null).statusCode(),
        "the proxy port forwards /health/ready to the API, which does not have it");
    assertEquals(429, get(gateway, "/api/hello", null).statusCode());
    assertEquals(200, client.get(gateway.managementPort(), "127.0.0.1", "/health/live").send().await().statusCode());
    HttpResponse<Buffer> ready = client.get(gateway.managementPort(), "127.0.0.1", "/health/ready").send().await();
    assertEquals(200, ready.statusCode());
    JsonObject health = ready.bodyAsJsonObject();
    assertEquals("UP", health.getString("status"), health::encode);
    assertEquals("UP", health.getString("outcome"), health::encode);
    for (String id : List.of("deployed", "cluster-member", "store", "upstreams")) {
      assertEquals("UP", check(health, id).getString("status"), health::encode);
    }
    assertEquals(new JsonObject().put("mode", "SHARED"), check(health, "store").getJsonObject("data"));
    assertEquals(new JsonObject().put("http://127.0.0.1:" + apiPort, "UP"),
        check(health, "upstreams").getJsonObject("data"));
    JsonObject live = client.get(gateway.managementPort(), "127.0.0.1", "/health/live").send().await()
        .bodyAsJsonObject();
    assertEquals("UP", check(live, "event-loop").getString("status"), live::encode);
    JsonObject stats = client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
    assertEquals(1, stats.getLong("forwarded"));
    assertEquals(1, stats.getLong("rejected"));
  }

  @Test
  @DisplayName("/metrics serves Sluice's own metrics on a Vertx built without Vert.x metrics")
  void metricsWithoutVertxMetrics() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 1, "10s")));
    assertEquals(200, get(gateway, "/api/hello", null).statusCode());
    assertEquals(429, get(gateway, "/api/hello", null).statusCode());
    HttpResponse<Buffer> scraped = client.get(gateway.managementPort(), "127.0.0.1", "/metrics").send().await();
    assertEquals(200, scraped.statusCode());
    String text = scraped.bodyAsString();
    assertTrue(text.contains("\nsluice_decisions_total{outcome=\"forwarded\",policy=\"global\"} 1.0\n"), text);
    assertTrue(text.contains("\nsluice_decisions_total{outcome=\"rejected\",policy=\"global\"} 1.0\n"), text);
    assertTrue(text.contains("\nsluice_upstream_response_seconds_count 1\n"), text);
    assertTrue(text.contains("\nsluice_cluster_members "), text);
    assertFalse(text.contains("\nvertx_"), "this Vertx has no metrics of its own: " + text);
  }

  @Test
  @DisplayName("the management port answers an unknown path 404 and a wrong method 405 (with Allow), as problem+json; "
      + "HEAD works wherever GET does")
  void managementPortProblems() {
    GatewayVerticle gateway = gateway(new JsonArray());
    int port = gateway.managementPort();

    HttpResponse<Buffer> notFound = client.get(port, "127.0.0.1", "/nope?x=1").send().await();
    assertEquals(404, notFound.statusCode());
    assertEquals("application/problem+json", notFound.getHeader("content-type"));
    JsonObject problem = notFound.bodyAsJsonObject();
    assertEquals("urn:sluice:problem:not-found", problem.getString("type"));
    assertEquals(404, problem.getInteger("status"));
    assertTrue(problem.getString("detail").contains("/nope"), problem::encode);

    HttpResponse<Buffer> wrongMethod = client.post(port, "127.0.0.1", "/stats").send().await();
    assertEquals(405, wrongMethod.statusCode());
    assertEquals("application/problem+json", wrongMethod.getHeader("content-type"));
    assertEquals("GET, HEAD", wrongMethod.getHeader("Allow"));
    JsonObject refused = wrongMethod.bodyAsJsonObject();
    assertEquals("urn:sluice:problem:method-not-allowed", refused.getString("type"));
    assertEquals(405, refused.getInteger("status"));

    HttpResponse<Buffer> head = client.head(port, "127.0.0.1", "/health/ready").send().await();
    assertEquals(200, head.statusCode());
    assertNull(head.body(), "HEAD answers carry no body");
  }

  @Test
  @DisplayName("several instances (event loops) of one gateway deployment share one limit")
  void instancesShareOneLimit() throws Exception {
    int port;
    try (java.net.ServerSocket probe = new java.net.ServerSocket(0)) {
      port = probe.getLocalPort();
    }
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", port))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + apiPort))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("policies", new JsonArray().add(policy("global", "global", 4, "10s")))
        .mergeIn(engineConfig());
    StoreFactory factory = storeFactory();
    vertx.deployVerticle(() -> factory == null ? new GatewayVerticle() : new GatewayVerticle(factory),
        new DeploymentOptions().setInstances(2).setConfig(config)).await();
    List<Future<HttpResponse<Buffer>>> answers = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      // a fresh connection each time, so both instances take some
      answers.add(client.get(port, "127.0.0.1", "/api/hello").putHeader("Connection", "close").send());
    }
    Future.join(answers).await();
    assertEquals(4, answers.stream().filter(f -> f.result().statusCode() == 200).count());
  }

  @Test
  @DisplayName("concurrent requests over two pipelined upstream connections each get their own answer")
  void pipelinedAnswersMatchRequests() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 10_000, "10s")), "5s",
        "http://127.0.0.1:" + apiPort,
        new JsonObject().put("upstreamPool", new JsonObject().put("connections", 2).put("pipelining", 8)));
    WebClient wide = WebClient.create(vertx, new WebClientOptions(), new PoolOptions().setHttp1MaxSize(64));
    List<Future<HttpResponse<Buffer>>> gets = new ArrayList<>();
    List<Future<HttpResponse<Buffer>>> posts = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      gets.add(wide.get(gateway.proxyPort(), "127.0.0.1", "/api/headers").putHeader("X-Id", "id-" + i).send());
      if (i % 10 == 0) {
        posts.add(wide.post(gateway.proxyPort(), "127.0.0.1", "/api/echo").sendBuffer(Buffer.buffer("body-" + i)));
      }
    }
    Future.join(gets).await();
    Future.join(posts).await();
    for (int i = 0; i < gets.size(); i++) {
      HttpResponse<Buffer> answer = gets.get(i).result();
      assertEquals(200, answer.statusCode());
      assertEquals("id-" + i, answer.bodyAsJsonObject().getJsonArray("x-id").getString(0));
    }
    for (int i = 0; i < posts.size(); i++) {
      assertEquals("body-" + (i * 10), posts.get(i).result().bodyAsString());
    }
    wide.close();
  }

  @Test
  @DisplayName("malformed requests get 400 (or 414) with a problem body, and the connection closes")
  void malformedRequests() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 100, "10s")));
    assertBadRequest(gateway, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400);
    assertBadRequest(gateway, "GET /api/hello HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n", 400);
    assertBadRequest(gateway, "GET /" + "a".repeat(9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414);
  }

  @Test
  @DisplayName("requests pipelined by the client, forwarded and refused, are answered in order; HEAD answers carry no body")
  void refusalsKeepPipelinedAnswersInOrder() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("per-token", "header:X-Api-Key", 1, "10s")));
    String[] methods = {"GET", "HEAD", "GET", "HEAD", "GET"};
    String[] keys = {"a", "a", "a", "b", "b"};
    StringBuilder requests = new StringBuilder();
    for (int i = 0; i < methods.length; i++) {
      requests.append(methods[i]).append(" /api/hello HTTP/1.1\r\nHost: x\r\nX-Api-Key: ").append(keys[i])
          .append(i == methods.length - 1 ? "\r\nConnection: close" : "").append("\r\n\r\n");
    }
    String stream = sendUntilClosed(gateway, requests.toString());
    int[] expected = {200, 429, 429, 200, 429};
    int at = 0;
    for (int i = 0; i < methods.length; i++) {
      int headEnd = stream.indexOf("\r\n\r\n", at);
      assertTrue(headEnd > 0, "answer " + i + " missing in: " + stream);
      String head = stream.substring(at, headEnd);
      assertTrue(head.startsWith("HTTP/1.1 " + expected[i] + " "), "answer " + i + ": " + head);
      java.util.regex.Matcher length = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)").matcher(head);
      assertTrue(methods[i].equals("HEAD") || length.find(), head);
      int bodyLength = methods[i].equals("HEAD") ? 0 : Integer.parseInt(length.group(1));
      at = headEnd + 4 + bodyLength;
      if (expected[i] == 429 && bodyLength > 0) {
        JsonObject problem = new JsonObject(stream.substring(headEnd + 4, at));
        assertEquals("per-token", problem.getString("policy"));
      }
    }
    assertEquals(stream.length(), at, "nothing after the last answer: " + stream.substring(at));
  }

  @Test
  @DisplayName("an HTTP/1.0 client gets a chunked upstream body unchunked, ended by closing the connection")
  void http10ClientGetsChunkedBodyUntilClose() {
    HttpServer chunked = vertx.createHttpServer()
        .requestHandler(request -> {
          var response = request.response().setChunked(true);
          response.write("part one, ");
          response.end("part two");
        })
        .listen(0, "127.0.0.1").await();
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 100, "10s")), "5s",
        "http://127.0.0.1:" + chunked.actualPort());
    String answer = sendUntilClosed(gateway, "GET /stream HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    assertTrue(answer.startsWith("HTTP/1.0 200 "), answer);
    assertTrue(!answer.toLowerCase().contains("transfer-encoding"), answer);
    assertTrue(answer.toLowerCase().contains("connection: close"), answer);
    assertTrue(answer.endsWith("\r\n\r\npart one, part two"), answer);
  }

  @Test
  @DisplayName("a client connection waiting on its client is closed after clientIdleTimeout: kept alive after an "
      + "answer, sending a request head too slowly, or stopping in the middle of a request body")
  void idleClientConnectionsAreClosed() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 100, "10s")), "5s",
        "http://127.0.0.1:" + apiPort, new JsonObject().put("clientIdleTimeout", "300ms"));

    long start = System.nanoTime();
    String answer = sendUntilClosed(gateway, "GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n");
    long keptAliveMillis = (System.nanoTime() - start) / 1_000_000;
    assertTrue(answer.startsWith("HTTP/1.1 200 "), answer);
    assertTrue(keptAliveMillis >= 300 && keptAliveMillis < 5_000, "closed after " + keptAliveMillis + " ms");

    // a header line every 100 ms, never the blank line that ends the head: bytes arrive, but no request starts
    NetClient raw = vertx.createNetClient();
    try {
      NetSocket socket = raw.connect(gateway.proxyPort(), "127.0.0.1").await();
      Buffer received = Buffer.buffer();
      Promise<Long> closed = Promise.promise();
      long slowStart = System.nanoTime();
      socket.handler(received::appendBuffer);
      socket.closeHandler(v -> closed.tryComplete((System.nanoTime() - slowStart) / 1_000_000));
      socket.write("GET /api/hello HTTP/1.1\r\nHost: x\r\n");
      int[] lines = {0};
      long trickle = vertx.setPeriodic(100, id -> {
        if (++lines[0] > 50) {
          vertx.cancelTimer(id);
        } else {
          socket.write("X-Slow-" + lines[0] + ": 1\r\n");
        }
      });
      long slowMillis = closed.future().await();
      vertx.cancelTimer(trickle);
      assertTrue(slowMillis >= 300 && slowMillis < 5_000, "closed after " + slowMillis + " ms");
      assertEquals("", received.toString(), "no answer to a request that never arrived");
    } finally {
      raw.close();
    }
    // 10 of the 100 body bytes announced, then nothing: closed long before the upstream timeout (5 s) would answer
    long stalledStart = System.nanoTime();
    String stalled = sendUntilClosed(gateway, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        + "0123456789");
    long stalledMillis = (System.nanoTime() - stalledStart) / 1_000_000;
    assertEquals("", stalled, "no answer to a request whose body never came");
    assertTrue(stalledMillis >= 300 && stalledMillis < 4_000, "closed after " + stalledMillis + " ms");

    JsonObject stats = client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
    assertEquals(3L, stats.getLong("idleConnectionsClosed"), stats::encode);
  }

  @Test
  @DisplayName("a request that takes longer than clientIdleTimeout is answered: the timeout counts only idle time")
  void slowRequestOutlivesIdleTimeout() {
    HttpServer slow = vertx.createHttpServer()
        .requestHandler(request -> vertx.setTimer(700, id -> request.response().end("late but whole")))
        .listen(0, "127.0.0.1").await();
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 100, "10s")), "5s",
        "http://127.0.0.1:" + slow.actualPort(), new JsonObject().put("clientIdleTimeout", "200ms"));
    String answer = sendUntilClosed(gateway, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    assertTrue(answer.startsWith("HTTP/1.1 200 ") && answer.endsWith("late but whole"), answer);
  }

  /** Writes raw bytes to the proxy port and returns everything read until the gateway closes the connection. */
  private String sendUntilClosed(GatewayVerticle gateway, String bytes) {
    NetClient raw = vertx.createNetClient();
    try {
      NetSocket socket = raw.connect(gateway.proxyPort(), "127.0.0.1").await();
      Buffer received = Buffer.buffer();
      Promise<Buffer> closed = Promise.promise();
      socket.handler(received::appendBuffer);
      socket.closeHandler(v -> closed.complete(received));
      socket.write(bytes);
      return closed.future().await().toString();
    } finally {
      raw.close();
    }
  }

  private void assertBadRequest(GatewayVerticle gateway, String request, int status) {
    String answer = sendUntilClosed(gateway, request);
    assertTrue(answer.startsWith("HTTP/1.1 " + status) || answer.startsWith("HTTP/1.0 " + status), answer);
    assertTrue(answer.contains("application/problem+json"), answer);
    assertTrue(answer.contains("\"status\":" + status), answer);
  }

  /** An https upstream on loopback with {@code certificate}, answering "over tls". */
  private HttpServer tlsUpstream(SelfSignedCertificate certificate) {
    return vertx.createHttpServer(new HttpServerOptions().setSsl(true).setKeyCertOptions(certificate.keyCertOptions()))
        .requestHandler(request -> request.response().end("over tls"))
        .listen(0, "127.0.0.1").await();
  }

  @Test
  @DisplayName("an https upstream is spoken to over TLS, and a certificate nobody trusts gives 502")
  void httpsUpstreamIsVerified() {
    SelfSignedCertificate certificate = SelfSignedCertificate.create("localhost");
    HttpServer tls = tlsUpstream(certificate);
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("global", "global", 100, "10s")), "5s",
        "https://localhost:" + tls.actualPort());
    HttpResponse<Buffer> answer = get(gateway, "/api/hello", null);
    assertEquals(502, answer.statusCode());
    String detail = answer.bodyAsJsonObject().getString("detail").toLowerCase(java.util.Locale.ROOT);
    assertTrue(detail.contains("pkix") || detail.contains("certificate"), detail);
  }

  @Test
  @DisplayName("an https upstream whose certificate is in upstreamTrust is spoken to over TLS; its host name is checked")
  void httpsUpstreamTrustedByConfiguration() {
    SelfSignedCertificate certificate = SelfSignedCertificate.create("localhost");
    HttpServer tls = tlsUpstream(certificate);
    JsonObject trust = new JsonObject().put("upstreamTrust", certificate.certificatePath());
    GatewayVerticle trusting = gateway(new JsonArray().add(policy("global", "global", 100, "10s")), "5s",
        "https://localhost:" + tls.actualPort(), trust);
    HttpResponse<Buffer> answer = get(trusting, "/api/hello", null);
    assertEquals(200, answer.statusCode(), answer::bodyAsString);
    assertEquals("over tls", answer.bodyAsString());

    // the same certificate, reached under another name: refused, not forwarded
    GatewayVerticle wrongName = gateway(new JsonArray().add(policy("global", "global", 100, "10s")), "5s",
        "https://127.0.0.1:" + tls.actualPort(), trust);
    assertEquals(502, get(wrongName, "/api/hello", null).statusCode());
  }
  // ---- per-route and shadow policies

  private static JsonObject matching(JsonObject policy, JsonObject match) {
    return policy.put("match", match);
  }

  private static JsonArray strings(String... items) {
    return new JsonArray(List.of((Object[]) items));
  }

  /** The status of the one answer to a raw request sent on a connection of its own ("Connection: close"). */
  private int rawStatus(GatewayVerticle gateway, String requestLine, String host) {
    String answer = sendUntilClosed(gateway, requestLine + "\r\n" + (host == null ? "" : "Host: " + host + "\r\n")
        + "Connection: close\r\n\r\n");
    assertTrue(answer.startsWith("HTTP/1.1 ") || answer.startsWith("HTTP/1.0 "), answer);
    return Integer.parseInt(answer.substring(9, 12));
  }

  /** A RateLimit or RateLimit-Policy field without its {@code t} parameters (seconds to a reset that includes slack). */
  private static String withoutResets(String field) {
    return field == null ? null : field.replaceAll(";t=\\d+", "");
  }

  private JsonObject stats(GatewayVerticle gateway) {
    return client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
  }

  @Test
  @DisplayName("a POST /api/login limit counts logins however the path is spelled, and never a GET /api/hello")
  void loginLimitCountsOnlyLogins() {
    GatewayVerticle gateway = gateway(new JsonArray().add(matching(policy("login", "global", 1, "10s"),
        new JsonObject().put("paths", strings("/api/login")).put("methods", strings("POST")))));
    HttpResponse<Buffer> first = client.post(gateway.proxyPort(), "127.0.0.1", "/api/login").send().await();
    assertEquals(404, first.statusCode(), "forwarded: the API has no login, its 404 comes back");
    assertEquals("\"login\";r=0", withoutResets(first.getHeader("RateLimit")));
    for (String spelling : List.of("/api/login", "/API/Login?next=/", "/api/x/../login", "/api//login/",
        "/api/%6cogin", "/api/login;jsessionid=7", "/api%2Flogin")) {
      HttpResponse<Buffer> again = client.post(gateway.proxyPort(), "127.0.0.1", spelling).send().await();
      assertEquals(429, again.statusCode(), spelling);
      assertEquals("login", again.bodyAsJsonObject().getString("policy"));
    }
    for (int i = 0; i < 5; i++) {
      HttpResponse<Buffer> hello = get(gateway, "/api/hello", null);
      assertEquals(200, hello.statusCode());
      assertNull(hello.getHeader("RateLimit"), "no policy applied to it");
    }
    assertEquals(200, get(gateway, "/api/login/../hello", null).statusCode(), "a GET is not a login");
  }

  @Test
  @DisplayName("a prefix limit counts the paths under it, and the others not")
  void prefixLimit() {
    GatewayVerticle gateway = gateway(new JsonArray().add(matching(policy("api", "global", 2, "10s"),
        new JsonObject().put("paths", strings("/api/*")))));
    assertEquals(200, get(gateway, "/api/hello", null).statusCode());
    assertEquals(200, get(gateway, "/api/headers", null).statusCode());
    assertEquals(429, get(gateway, "/API/hello", null).statusCode());
    assertEquals(429, get(gateway, "/api", null).statusCode(), "the prefix itself");
    for (int i = 0; i < 3; i++) {
      assertEquals(200, get(gateway, "/health", null).statusCode(), "outside /api/*");
      assertEquals(404, get(gateway, "/apix", null).statusCode(), "not under /api/: forwarded, the API's 404");
    }
  }

  @Test
  @DisplayName("a host limit counts its host on any port, in any case, also named by an absolute target; not others")
  void hostLimit() {
    GatewayVerticle gateway = gateway(new JsonArray().add(matching(policy("api-host", "global", 1, "10s"),
        new JsonObject().put("hosts", strings("api.example.com")))));
    assertEquals(200, rawStatus(gateway, "GET /api/hello HTTP/1.1", "api.example.com:8080"));
    assertEquals(429, rawStatus(gateway, "GET /api/hello HTTP/1.1", "API.Example.COM"));
    assertEquals(429, rawStatus(gateway, "GET /api/hello HTTP/1.1", "api.example.com."));
    assertEquals(429, rawStatus(gateway, "GET http://api.example.com/api/hello HTTP/1.1", "other.example.com"),
        "the absolute target's authority is the host");
    assertEquals(200, rawStatus(gateway, "GET /api/hello HTTP/1.1", "other.example.com"));
    assertEquals(200, rawStatus(gateway, "GET http://other.example.com/api/hello HTTP/1.1", "api.example.com"));
    // the API answers 400 to a request without Host through the netty engine (which forwards none); never 429
    assertNotEquals(429, rawStatus(gateway, "GET /api/hello HTTP/1.0", null), "no host at all");
  }

  @Test
  @DisplayName("a shadow policy forwards everything, and its RateLimit item and /stats say what it would have done")
  void shadowPolicyForwardsAndReports() {
    GatewayVerticle gateway = gateway(new JsonArray()
        // under 100 per window: no leases, so RateLimit counts down one by one on every store
        .add(policy("global", "global", 50, "10s"))
        .add(policy("trial", "global", 2, "10s").put("mode", "shadow")));
    List<HttpResponse<Buffer>> answers = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      HttpResponse<Buffer> answer = get(gateway, "/api/hello", null);
      assertEquals(200, answer.statusCode(), "never refused by the shadow policy");
      answers.add(answer);
    }
    assertEquals("\"global\";q=50;w=10, \"trial\";q=2;w=10;shadow=forward",
        answers.get(0).getHeader("RateLimit-Policy"));
    assertEquals("\"global\";r=49, \"trial\";r=1;shadow=forward",
        withoutResets(answers.get(0).getHeader("RateLimit")));
    assertEquals("\"global\";r=48, \"trial\";r=0;shadow=forward",
        withoutResets(answers.get(1).getHeader("RateLimit")));
    for (int i = 2; i < 4; i++) {
      assertEquals("\"global\";r=" + (47 - (i - 2)) + ", \"trial\";r=0;shadow=reject",
          withoutResets(answers.get(i).getHeader("RateLimit")));
      assertTrue(answers.get(i).getHeader("RateLimit").matches(".*\"trial\";r=0;t=1[01];shadow=reject"),
          "t: when it would have had room again");
    }
    JsonObject stats = stats(gateway);
    assertEquals(4L, stats.getLong("forwarded"), stats::encode);
    assertEquals(0L, stats.getLong("rejected"), stats::encode);
    assertEquals(2L, stats.getLong("shadowRejected"), stats::encode);
    assertEquals(0L, stats.getLong("shadowDelayed"), stats::encode);
  }

  @Test
  @DisplayName("a delaying shadow policy forwards at once what it would have held, and counts it as shadowDelayed")
  void shadowDelayIsCounted() {
    GatewayVerticle gateway = gateway(new JsonArray().add(policy("trial", "header:X-Api-Key", 1, "10s")
        .put("onExceed", "delay").put("maxDelay", "30s").put("mode", "shadow")));
    long start = System.nanoTime();
    assertEquals(200, get(gateway, "/api/hello", "k").statusCode());
    HttpResponse<Buffer> held = get(gateway, "/api/hello", "k");
    assertEquals(200, held.statusCode());
    assertTrue(held.getHeader("RateLimit").endsWith(";shadow=delay"), held.getHeader("RateLimit"));
    HttpResponse<Buffer> unkeyed = get(gateway, "/api/hello", null);
    assertEquals(200, unkeyed.statusCode(), "a missing key is not answered 401 by a shadow policy");
    assertTrue(unkeyed.getHeader("RateLimit").endsWith(";shadow=missing-key"), unkeyed.getHeader("RateLimit"));
    assertTrue(System.nanoTime() - start < 5_000_000_000L, "nothing was held for the 10 s window");
    JsonObject stats = stats(gateway);
    assertEquals(1L, stats.getLong("shadowDelayed"), stats::encode);
    assertEquals(1L, stats.getLong("shadowMissingKey"), stats::encode);
  }
}
