package io.sluice.gateway.proxy;

import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.RateLimiter;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.PoolOptions;
import io.vertx.httpproxy.HttpProxy;

import java.time.Clock;
import java.util.concurrent.TimeUnit;

/**
 * The proxy port: every request goes through the interceptors (failures → rate limit → forwarding headers) and
 * then to an upstream. The port answers nothing by itself.
 */
public final class ProxyServer {

  private final Vertx vertx;
  private final GatewayConfig config;
  private final HttpProxy proxy;
  private final HttpClient client;
  private HttpServer server;

  public ProxyServer(Vertx vertx, GatewayConfig config, RateLimiter limiter, GatewayStats stats, Clock clock) {
    this.vertx = vertx;
    this.config = config;
    this.client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
        new PoolOptions().setHttp1MaxSize(256));
    RateLimitInterceptor limits = new RateLimitInterceptor(vertx, limiter, stats, clock);
    this.proxy = HttpProxy.reverseProxy(client)
        .origin(new UpstreamPool(config.upstreams(), config.upstreamTimeoutMillis(), limits::confirmBeforeSend))
        .addInterceptor(new FailureInterceptor(stats, limits))
        .addInterceptor(limits)
        .addInterceptor(new ForwardingInterceptor());
  }

  public Future<HttpServer> start() {
    server = vertx.createHttpServer(new HttpServerOptions()
        .setHost(config.http().host())
        .setPort(config.http().port())
        .setTcpNoDelay(true));
    return server.requestHandler(proxy).listen();
  }

  /** Stops accepting connections, lets in-flight requests (delayed ones too) finish within the grace time. */
  public Future<Void> stop(long graceMillis) {
    Future<Void> closed = server == null ? Future.succeededFuture() : server.shutdown(graceMillis, TimeUnit.MILLISECONDS);
    return closed.eventually(client::close);
  }

  public int actualPort() {
    return server.actualPort();
  }
}
