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
 * gateway tests, the demo script and the load client.
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
    if (raw == null) {
      return null;
    }
    try {
      long ms = Long.parseLong(raw.trim());
      return ms >= 0 && ms <= SLOW_MAX_MS ? ms : null;
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
