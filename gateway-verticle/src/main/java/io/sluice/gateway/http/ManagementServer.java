package io.sluice.gateway.http;

import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.StoreMode;
import io.sluice.gateway.proxy.GatewayStats;
import io.sluice.gateway.proxy.Problems;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

/**
 * The management port, kept apart from proxied traffic: {@code /health/live}, {@code /health/ready} (deployed
 * and, when clustered, a member of the cluster; it also shows whether the upstreams accept connections, which does
 * not change readiness, see {@link UpstreamProbe}) and {@code /stats}, each for GET and HEAD. Anything else is
 * answered with a problem document, as on the proxy port.
 */
public final class ManagementServer {

  private final Vertx vertx;
  private final GatewayConfig.Endpoint endpoint;
  private final CounterStore store;
  private final RateLimiter limiter;
  private final GatewayStats stats;
  private final UpstreamProbe upstreams;
  private volatile boolean ready;
  private HttpServer server;

  public ManagementServer(Vertx vertx, GatewayConfig.Endpoint endpoint, CounterStore store, RateLimiter limiter,
                          GatewayStats stats, UpstreamProbe upstreams) {
    this.vertx = vertx;
    this.endpoint = endpoint;
    this.store = store;
    this.limiter = limiter;
    this.stats = stats;
    this.upstreams = upstreams;
  }

  public Future<HttpServer> start() {
    Router router = Router.router(vertx);
    resource(router, "/health/live", ctx -> json(ctx, 200, new JsonObject().put("status", "UP")));
    resource(router, "/health/ready", this::readiness);
    resource(router, "/stats", ctx -> json(ctx, 200, withStoreTraffic(stats.toJson())));
    router.errorHandler(404, ctx -> problem(ctx, 404, "not-found", "Not Found", "nothing at "
        + shortened(ctx.request().path()) + " on the management port: it serves /health/live, /health/ready and /stats"));
    router.errorHandler(405, ctx -> {
      ctx.response().putHeader("allow", "GET, HEAD");
      problem(ctx, 405, "method-not-allowed", "Method Not Allowed",
          ctx.request().method() + " is not allowed on " + shortened(ctx.request().path()) + ": only GET and HEAD");
    });
    router.errorHandler(500, ctx -> problem(ctx, 500, "internal-error", "Internal Server Error",
        "the management port failed to answer: " + ctx.failure()));
    server = vertx.createHttpServer().requestHandler(router);
    return server.listen(endpoint.port(), endpoint.host());
  }

  public void markReady() {
    ready = true;
  }

  public void markNotReady() {
    ready = false;
  }

  public Future<Void> stop() {
    return server == null ? Future.succeededFuture() : server.close();
  }

  public int actualPort() {
    return server.actualPort();
  }

  private void readiness(RoutingContext ctx) {
    boolean storeReady = store.isReady();
    boolean up = ready && storeReady;
    StoreMode.State mode = store.mode();
    json(ctx, up ? 200 : 503, new JsonObject()
        .put("status", up ? "UP" : "DOWN")
        .put("deployed", ready)
        // degraded is still ready: the gateway decides without its store, as limiter.onStoreFailure says
        .put("limiterStore", !storeReady ? "DOWN" : mode == StoreMode.State.SHARED ? "UP" : "DEGRADED")
        .put("limiterMode", mode.name())
        .put("upstreams", upstreams.summary())
        .put("upstreamStatus", upstreams.details()));
  }

  /**
   * What the limiter's decisions cost in round trips to its store: {@code storeCalls} round trips carried
   * {@code storeOperations} operations (more than one each when batched) for {@code limitedDecisions} decisions.
   */
  private JsonObject withStoreTraffic(JsonObject json) {
    long calls = store.remoteCalls();
    long operations = store.remoteOperations();
    long decisions = limiter.limitedDecisions();
    return json.put("storeCalls", calls)
        .put("storeOperations", operations)
        .put("limitedDecisions", decisions)
        .put("storeOperationsPerCall", ratio(operations, calls))
        .put("storeCallsPerDecision", ratio(calls, decisions));
  }

  private static double ratio(long numerator, long denominator) {
    return denominator == 0 ? 0 : Math.round(1000.0 * numerator / denominator) / 1000.0;
  }

  private static void resource(Router router, String path, Handler<RoutingContext> handler) {
    router.route(path).method(HttpMethod.GET).method(HttpMethod.HEAD).handler(handler);
  }

  private static void json(RoutingContext ctx, int status, JsonObject body) {
    ctx.response().setStatusCode(status).putHeader("content-type", "application/json").end(body.encode());
  }

  private static void problem(RoutingContext ctx, int status, String type, String title, String detail) {
    ctx.response().setStatusCode(status).putHeader("content-type", Problems.CONTENT_TYPE)
        .putHeader("cache-control", "no-store")
        .end(Problems.problem(status, type, title, detail).encode());
  }

  private static String shortened(String path) {
    return path == null ? "" : path.length() <= 200 ? path : path.substring(0, 200) + "…";
  }
}
