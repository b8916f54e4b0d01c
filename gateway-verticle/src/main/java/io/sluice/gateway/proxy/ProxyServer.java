package io.sluice.gateway.proxy;

import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.RateLimiter;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.RequestOptions;
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

  private static final long WARMUP_LIMIT_MILLIS = 10_000;

  private final Vertx vertx;
  private final GatewayConfig config;
  private final HttpProxy proxy;
  private final HttpClient client;
  private final RateLimitInterceptor limits;
  private HttpServer server;

  public ProxyServer(Vertx vertx, GatewayConfig config, RateLimiter limiter, GatewayStats stats, Clock clock,
                     String warmupSecret) {
    this.vertx = vertx;
    this.config = config;
    this.client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
        new PoolOptions().setHttp1MaxSize(256));
    this.limits = new RateLimitInterceptor(vertx, limiter, stats, clock, warmupSecret);
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

  /**
   * Sends requests through this proxy to the upstreams, past the limiter, so that the first real requests find the
   * code compiled and connections open: otherwise they spend hundreds of ms between being counted and arriving
   * upstream, which blurs the limiter's timing. Failures are ignored; the whole warm-up is bounded in time.
   */
  public Future<Void> warmUp(GatewayConfig.Warmup warmup) {
    if (warmup.requests() == 0) {
      return Future.succeededFuture();
    }
    String secret = limits.warmupSecret();
    String host = config.http().host().equals("0.0.0.0") ? "127.0.0.1" : config.http().host();
    HttpClient self = vertx.createHttpClient(new PoolOptions().setHttp1MaxSize(4));
    RequestOptions options = new RequestOptions().setHost(host).setPort(actualPort()).setURI(warmup.path())
        .putHeader(RateLimitInterceptor.WARMUP_HEADER, secret).setIdleTimeout(config.upstreamTimeoutMillis());
    long deadline = System.currentTimeMillis() + WARMUP_LIMIT_MILLIS;
    Future<Void> chain = Future.succeededFuture();
    for (int i = 0; i < warmup.requests(); i++) {
      chain = chain.transform(previous -> System.currentTimeMillis() > deadline
          ? Future.succeededFuture()
          : self.request(options).compose(HttpClientRequest::send).compose(HttpClientResponse::body).mapEmpty());
    }
    return chain.transform(done -> self.close());
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
