package io.sluice.gateway.http;

import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.proxy.GatewayStats;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;

/**
 * The management port, kept apart from proxied traffic: {@code /health/live}, {@code /health/ready} (deployed
 * and, when clustered, a member of the cluster) and {@code /stats}.
 */
public final class ManagementServer {

  private final Vertx vertx;
  private final GatewayConfig.Endpoint endpoint;
  private final CounterStore store;
  private final GatewayStats stats;
  private volatile boolean ready;
  private HttpServer server;

  public ManagementServer(Vertx vertx, GatewayConfig.Endpoint endpoint, CounterStore store, GatewayStats stats) {
    this.vertx = vertx;
    this.endpoint = endpoint;
    this.store = store;
    this.stats = stats;
  }

  public Future<HttpServer> start() {
    Router router = Router.router(vertx);
    router.get("/health/live").handler(ctx -> json(ctx, 200, new JsonObject().put("status", "UP")));
    router.get("/health/ready").handler(this::readiness);
    router.get("/stats").handler(ctx -> json(ctx, 200, stats.toJson()));
    router.route().last().handler(ctx -> json(ctx, 404,
        new JsonObject().put("error", "not found").put("path", ctx.request().path())));
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
    json(ctx, up ? 200 : 503, new JsonObject()
        .put("status", up ? "UP" : "DOWN")
        .put("deployed", ready)
        .put("limiterStore", storeReady ? "UP" : "DOWN"));
  }

  private static void json(RoutingContext ctx, int status, JsonObject body) {
    ctx.response().setStatusCode(status).putHeader("content-type", "application/json").end(body.encode());
  }
}
