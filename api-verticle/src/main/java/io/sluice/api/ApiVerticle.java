package io.sluice.api;

import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

import java.time.Clock;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The upstream service that Sluice protects: a handful of small JSON endpoints used by the
 * gateway tests, the demo script and the load client, plus bodies of any size in both directions
 * ({@code /api/bytes}, {@code /api/sink}) and a WebSocket echo ({@code /api/ws}).
 */
public class ApiVerticle extends VerticleBase {

  public static final String RECEIVED_AT_HEADER = "X-Upstream-Received-At";
  public static final long ECHO_BODY_LIMIT = 1024 * 1024;
  public static final long SLOW_MAX_MS = 30_000;

  private static final System.Logger LOG = System.getLogger(ApiVerticle.class.getName());
  private static final String JSON = "application/json";
  private static final String OCTET_STREAM = "application/octet-stream";

  private final Map<String, String> env;
  private final Clock clock;
  private HttpServer server;

  public ApiVerticle() {
    this(System.getenv(), Clock.systemUTC());
  }

  /** For tests: the environment and the clock are injected instead of read from the JVM. */
  public ApiVerticle(Map<String, String> env, Clock clock) {
    this.env = Objects.requireNonNull(env, "env");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  @Override
  public Future<?> start() {
    ApiConfig config;
    try {
      config = ApiConfig.from(config(), env);
    } catch (IllegalArgumentException e) {
      return Future.failedFuture(e);
    }
    Router router = router();
    return vertx.createHttpServer()
      .requestHandler(request -> {
        // stamped before routing: the earliest instant this JVM can tell a request arrived
        if (request.path().startsWith("/api/")) {
          request.response().putHeader(RECEIVED_AT_HEADER, Long.toString(epochMicros(clock.instant())));
        }
        router.handle(request);
      })
      .listen(config.port(), config.host())
      .compose(listening -> {
        server = listening;
        return warmUp(listening.actualPort(), config.warmupRequests());
      })
      .onSuccess(warm ->
        LOG.log(System.Logger.Level.INFO, "Sluice API listening on port " + server.actualPort()));
  }

  /**
   * Sends itself a few requests before it reports ready, so the first real requests do not pay for class loading
   * and compilation (hundreds of ms on a small machine, enough to blur the gateway's timing measurements).
   */
  private Future<Void> warmUp(int port, int requests) {
    if (requests == 0) {
      return Future.succeededFuture();
    }
    HttpClient client = vertx.createHttpClient(new PoolOptions().setHttp1MaxSize(4));
    Future<Void> chain = Future.succeededFuture();
    for (int i = 0; i < requests; i++) {
      chain = chain.compose(v -> client.request(HttpMethod.GET, port, "127.0.0.1", "/api/hello")
        .compose(request -> request.send())
        .compose(response -> response.body())
        .mapEmpty());
    }
    return chain.eventually(client::close);
  }

  @Override
  public Future<?> stop() {
    return server == null ? Future.succeededFuture() : server.close();
  }

  /** The port actually bound (useful with port 0), or -1 before the server listens. */
  public int actualPort() {
    return server == null ? -1 : server.actualPort();
  }

  Router router() {
    Router router = Router.router(vertx);
    // HEAD is answered like GET; Vert.x leaves the body out and keeps its length
    router.route("/api/hello").method(HttpMethod.GET).method(HttpMethod.HEAD)
      .handler(ctx -> sendJson(ctx, 200, new JsonObject().put("message", "hello")));
    router.post("/api/echo").handler(this::echo);
    router.route("/api/slow").method(HttpMethod.GET).method(HttpMethod.HEAD).handler(this::slow);
    router.route("/api/headers").method(HttpMethod.GET).method(HttpMethod.HEAD).handler(this::headers);
    router.route("/api/bytes").method(HttpMethod.GET).method(HttpMethod.HEAD).handler(this::bytes);
    router.route("/api/sink").method(HttpMethod.POST).method(HttpMethod.PUT).handler(this::sink);
    router.get("/api/ws").handler(this::webSocket);
    router.route("/health").method(HttpMethod.GET).method(HttpMethod.HEAD)
      .handler(ctx -> sendJson(ctx, 200, new JsonObject().put("status", "UP")));

    router.route().failureHandler(this::failure);
    router.errorHandler(404, ctx -> sendJson(ctx, 404, error("not found").put("path", ctx.request().path())));
    router.errorHandler(405, ctx -> sendJson(ctx, 405,
      error("method not allowed").put("method", ctx.request().method().name()).put("path", ctx.request().path())));
    router.errorHandler(500, this::failure);
    return router;
  }

  private void echo(RoutingContext ctx) {
    String contentType = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    BoundedBody.read(ctx.request(), ECHO_BODY_LIMIT)
      .onSuccess(body -> ctx.response()
        .putHeader(HttpHeaders.CONTENT_TYPE, contentType == null || contentType.isBlank() ? OCTET_STREAM : contentType)
        .end(body))
      .onFailure(ctx::fail);
  }

  /** {@code n} bytes of {@link BytePattern}, with Content-Length or chunked, optionally a pause between pieces. */
  private void bytes(RoutingContext ctx) {
    Long n = parseBounded(ctx.request().getParam("n"), Long.MAX_VALUE);
    Long delayMs = parseBounded(ctx.request().getParam("delayMs", "0"), SLOW_MAX_MS);
    String chunked = ctx.request().getParam("chunked", "false");
    if (n == null || delayMs == null || !(chunked.equals("true") || chunked.equals("false"))) {
      sendJson(ctx, 400, error("bad request").put("detail", "expected n=0.." + Long.MAX_VALUE
        + ", optional chunked=true|false and delayMs=0.." + SLOW_MAX_MS + ", got " + describe(ctx.request().query())));
      return;
    }
    HttpServerResponse response = ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, OCTET_STREAM);
    if (chunked.equals("true")) {
      response.setChunked(true);
    } else {
      response.putHeader(HttpHeaders.CONTENT_LENGTH, Long.toString(n));
    }
    if (ctx.request().method() == HttpMethod.HEAD) {
      response.end();
      return;
    }
    PatternStream.start(vertx, response, n, delayMs);
  }

  /**
   * Reads a body of any size without keeping it and answers its length, CRC-32 and whether it is the pattern;
   * {@code readMs} makes it a slow reader, {@code answerEarly} answers that status before reading anything.
   */
  private void sink(RoutingContext ctx) {
    String early = ctx.request().getParam("answerEarly");
    Long readMs = parseBounded(ctx.request().getParam("readMs", "0"), SLOW_MAX_MS);
    Long earlyStatus = early == null ? null : parseBounded(early, 599);
    boolean badEarly = early != null && (earlyStatus == null || earlyStatus < 400);
    if (readMs == null || badEarly) {
      answerEarly(ctx, 400, error("bad request").put("detail",
        "expected optional readMs=0.." + SLOW_MAX_MS + " and answerEarly=400..599, got " + describe(ctx.request().query())));
      return;
    }
    if (earlyStatus != null) {
      int status = earlyStatus.intValue();
      answerEarly(ctx, status, error("answered before reading the body").put("status", status));
      return;
    }
    BodySink.read(vertx, ctx.request(), readMs, summary -> sendJson(ctx, 200, summary));
  }

  private void answerEarly(RoutingContext ctx, int status, JsonObject body) {
    sendJson(ctx, status, body);
    BodySink.discard(vertx, ctx.request());
  }

  /** Echoes every text and binary message, and a close with its status; reads no faster than the client takes echoes. */
  private void webSocket(RoutingContext ctx) {
    if (!ctx.request().canUpgradeToWebSocket()) {
      sendJson(ctx, 400, error("bad request").put("detail", "expected a WebSocket upgrade"));
      return;
    }
    ctx.request().toWebSocket()
      .onSuccess(socket -> {
        socket.textMessageHandler(text -> {
          socket.writeTextMessage(text);
          holdWhileFull(socket);
        });
        socket.binaryMessageHandler(bytes -> {
          socket.writeBinaryMessage(bytes);
          holdWhileFull(socket);
        });
      })
      .onFailure(ctx::fail);
  }

  private static void holdWhileFull(ServerWebSocket socket) {
    if (socket.writeQueueFull()) {
      socket.pause();
      socket.drainHandler(v -> {
        socket.drainHandler(null);
        socket.resume();
      });
    }
  }

  private void slow(RoutingContext ctx) {
    String raw = ctx.request().getParam("ms");
    Long ms = parseDelay(raw);
    if (ms == null) {
      sendJson(ctx, 400, error("bad request")
        .put("detail", "query parameter 'ms' must be an integer 0.." + SLOW_MAX_MS + ", got " + describe(raw)));
      return;
    }
    JsonObject answer = new JsonObject().put("message", "slow").put("ms", ms);
    if (ms == 0) {
      sendJson(ctx, 200, answer);
      return;
    }
    long timer = vertx.setTimer(ms, id -> sendJson(ctx, 200, answer));
    // a client that gives up should not keep a timer alive for up to 30 s
    ctx.response().closeHandler(v -> vertx.cancelTimer(timer));
  }

  /** The requested delay, or null when it is missing, not a number or out of bounds. */
  private static Long parseDelay(String raw) {
    return parseBounded(raw, SLOW_MAX_MS);
  }

  /** {@code raw} as a number 0..max, or null when it is missing, not an integer or out of bounds. */
  private static Long parseBounded(String raw, long max) {
    if (raw == null) {
      return null;
    }
    try {
      long value = Long.parseLong(raw.trim());
      return value >= 0 && value <= max ? value : null;
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private void headers(RoutingContext ctx) {
    MultiMap headers = ctx.request().headers();
    JsonObject json = new JsonObject();
    for (String name : headers.names()) {
      String key = name.toLowerCase(Locale.ROOT);
      JsonArray values = json.containsKey(key) ? json.getJsonArray(key) : new JsonArray();
      headers.getAll(name).forEach(values::add);
      json.put(key, values);
    }
    sendJson(ctx, 200, json);
  }

  private void failure(RoutingContext ctx) {
    int status = ctx.statusCode() >= 400 ? ctx.statusCode() : 500;
    JsonObject body = switch (status) {
      case 413 -> error("payload too large").put("detail", "request body exceeds " + ECHO_BODY_LIMIT + " bytes");
      case 500 -> error("internal error");
      default -> error("request failed").put("detail", "status " + status);
    };
    if (status >= 500) {
      LOG.log(System.Logger.Level.ERROR, "request " + ctx.request().method() + " " + ctx.request().path() + " failed",
        ctx.failure());
    }
    sendJson(ctx, status, body);
  }

  private static void sendJson(RoutingContext ctx, int status, JsonObject body) {
    HttpServerResponse response = ctx.response();
    if (response.ended() || response.closed()) {
      return;
    }
    if (response.headWritten()) {
      response.reset();
      return;
    }
    response.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, JSON).end(body.toBuffer());
  }

  private static JsonObject error(String message) {
    return new JsonObject().put("error", message);
  }

  private static String describe(String raw) {
    return raw == null ? "nothing" : "\"" + raw + "\"";
  }

  static long epochMicros(Instant instant) {
    return instant.getEpochSecond() * 1_000_000L + instant.getNano() / 1_000;
  }
}
