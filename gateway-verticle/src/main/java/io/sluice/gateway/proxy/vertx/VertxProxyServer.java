package io.sluice.gateway.proxy.vertx;

import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.proxy.ForwardingHeaders;
import io.sluice.gateway.proxy.AccessLog;
import io.sluice.gateway.proxy.GatewayStats;
import io.sluice.gateway.proxy.LimitGate;
import io.sluice.gateway.proxy.ProxyEngine;
import io.sluice.gateway.proxy.RequestCheck;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.impl.Http1xServerConnection;
import io.vertx.core.http.impl.VertxHttpRequestDecoder;
import io.vertx.core.net.impl.ConnectionBase;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.timeout.IdleStateHandler;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.httpproxy.HttpProxy;
import io.vertx.httpproxy.ProxyOptions;

import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.Base64;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The "vertx" proxy engine ({@code proxy.engine: vertx}): a Vert.x {@link HttpServer} (HTTP/1.x; HTTP/2 by ALPN
 * over TLS, and h2c when {@code proxy.h2c} is set) whose request
 * handler checks each request ({@link RequestCheck}, where Vert.x's codec has not already refused it), asks the
 * shared {@link LimitGate}, answers refusals itself, and hands admitted requests to vertx-http-proxy's
 * {@link HttpProxy} over one pooled, keep-alive {@link HttpClient}. Runs on the event loop of the verticle that
 * owns it. What it does not yet do as the Netty engine does: docs/vertx-engine.md.
 */
public final class VertxProxyServer implements ProxyEngine {

  private static final long WARMUP_LIMIT_MILLIS = 10_000;

  private final Vertx vertx;
  /**
   * Where the server, its connections and the upstream client run: the verticle's own event loop, in a context that
   * belongs to no deployment. Vert.x 5.0.x builds a new context for every pooled client request and copies the
   * current deployment's options, its whole JSON config included, into it
   * ({@code SharedHttpClientConnectionGroup.requestConnection2}): 11% of the engine's time under load, measured with
   * JFR (bench/README.md). A context without a deployment has no config to copy. Internal Vert.x API.
   */
  private final ContextInternal engineContext;
  private final GatewayConfig config;
  private final LimitGate gate;
  private final GatewayStats stats;
  private final AccessLog accessLog;
  private final Clock clock;
  private final RequestCheck check;
  private final IdleConnections idle;
  private final long sweepMillis;
  /** Admitted requests handed to the proxy, until its interceptor claims them (the same turn of the event loop). */
  private final Map<HttpServerRequest, VertxExchange> handedOver = new IdentityHashMap<>();
  private HttpServer server;
  private HttpServerOptions serverOptions;
  private HttpClient client;
  private HttpProxy proxy;
  private long sweepTimer = -1;
  private int actualPort = -1;
  /** Set by {@link #stop}: answers given from then on say Connection: close (HTTP/1.x). */
  private volatile boolean stopping;

  public VertxProxyServer(Vertx vertx, Context context, GatewayConfig config, RateLimiter limiter, GatewayStats stats,
                          Clock clock, String warmupSecret) {
    this.vertx = vertx;
    this.engineContext = ((VertxInternal) vertx).contextBuilder()
        .withEventLoop(((ContextInternal) context).nettyEventLoop())
        .withCloseFuture(((ContextInternal) context).closeFuture())
        .withClassLoader(((ContextInternal) context).classLoader())
        .build();
    this.config = config;
    this.stats = stats;
    this.accessLog = AccessLog.of(config.accessLog());
    this.clock = clock;
    this.gate = new LimitGate(limiter, stats, clock, warmupSecret);
    this.check = new RequestCheck(config.httpLimits().maxBodySize(), config.httpLimits().maxHeaders());
    long idleMillis = config.clientIdleTimeoutMillis();
    this.sweepMillis = Math.max(10, Math.min(1_000, idleMillis / 4));
    this.idle = new IdleConnections((idleMillis + sweepMillis - 1) / sweepMillis, stats);
  }

  @Override
  public Future<Integer> start(int port) {
    Promise<Integer> started = Promise.promise();
    engineContext.runOnContext(v -> listen(port).onComplete(started));
    return started.future();
  }

  private Future<Integer> listen(int port) {
    HttpClientOptions clientOptions = clientOptions();
    client = vertx.httpClientBuilder()
        .with(clientOptions)
        .with(new PoolOptions().setHttp1MaxSize(upstreamConnections(config)))
        // before the connection carries its first request (Vert.x calls this as the pool gets it)
        .withConnectHandler(connection -> {
          if (connection instanceof ConnectionBase http1) {
            UpstreamGuard.install(http1.channelHandlerContext().pipeline(), clientOptions);
          }
        })
        .build();
    proxy = HttpProxy.reverseProxy(new ProxyOptions().setSupportWebSocket(true), client)
        .origin(new RoundRobinOrigins(config.upstreams(), config.upstreamTimeoutMillis()))
        .addInterceptor(new GatewayInterceptor(this, gate), true);
    GatewayConfig.HttpLimits limits = config.httpLimits();
    HttpServerOptions options = new HttpServerOptions()
        .setHost(config.http().host())
        .setTcpNoDelay(true)
        .setReusePort(vertx.isNativeTransportEnabled())
        // h2c (prior knowledge and upgrade) only if asked: the first request of a clear-text connection is then read
        // by Vert.x's decoder before the strict one can take its place (see opened, and docs/vertx-engine.md)
        .setHttp2ClearTextEnabled(config.h2c())
        // WebSockets are tunnelled to the upstream, which negotiates their extensions: Vert.x's own compression
        // handlers would only look at every request on the way (case upgrade-websocket-extensions-untouched)
        .setPerMessageWebSocketCompressionSupported(false)
        .setPerFrameWebSocketCompressionSupported(false)
        .setMaxInitialLineLength(limits.maxRequestLine())
        .setMaxHeaderSize(limits.maxHeaderSize());
    config.httpTls().ifPresent(tls -> ServerTls.apply(options, tls, config.clientIdleTimeoutMillis()));
    serverOptions = options;
    server = vertx.createHttpServer(options)
        .exceptionHandler(this::connectionFailed)
        .connectionHandler(this::opened)
        .invalidRequestHandler(this::undecodable)
        .requestHandler(this::handle);
    return server.listen(port).map(listening -> {
      actualPort = listening.actualPort();
      scheduleSweep();
      return actualPort;
    });
  }

  /**
   * The next idle sweep, {@code sweepMillis} after this one: never a periodic timer, whose sweeps missed while the
   * event loop stalled would run back to back and close connections accepted meanwhile long before their timeout
   * (IdleSweepStallTest).
   */
  private void scheduleSweep() {
    sweepTimer = vertx.setTimer(sweepMillis, id -> {
      idle.sweep();
      if (!stopping) {
        scheduleSweep();
      }
    });
  }

  /**
   * Upstream connections per event loop: as many as the Netty engine may have requests in flight
   * ({@code upstreamPool.connections} × {@code upstreamPool.pipelining}), each carrying one request at a time. This
   * engine does not pipeline upstream: a request takes its stream when it is about to leave and the gate confirms it
   * then (a store round trip, a wait, or a reset if it is decided again); on a pipelined connection every request
   * queued behind it waited for that, and with a store that kept timing out, requests waited for an upstream connection
   * for ever (bench/flapping-store.sh: 52 of 400 requests unanswered, none without pipelining).
   */
  static int upstreamConnections(GatewayConfig config) {
    return config.upstreamPool().connections() * Math.max(1, config.upstreamPool().pipelining());
  }

  private HttpClientOptions clientOptions() {
    HttpClientOptions options = new HttpClientOptions()
        .setKeepAlive(true)
        .setPipelining(false)
        .setTcpNoDelay(true)
        .setMaxHeaderSize(ForwardingHeaders.MAX_UPSTREAM_HEAD_BYTES)
        .setConnectTimeout((int) Math.min(Integer.MAX_VALUE, config.upstreamTimeoutMillis()));
    if (!config.upstreamTrust().isEmpty()) {
      PemTrustOptions trust = new PemTrustOptions();
      config.upstreamTrust().forEach(certificate -> trust.addCertValue(Buffer.buffer(pem(certificate))));
      options.setTrustOptions(trust);
    }
    return options.setVerifyHost(true);
  }

  private static String pem(X509Certificate certificate) {
    try {
      return "-----BEGIN CERTIFICATE-----\n"
          + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(certificate.getEncoded())
          + "\n-----END CERTIFICATE-----\n";
    } catch (CertificateEncodingException e) {
      throw new IllegalStateException("cannot encode a certificate of upstreamTrust", e);
    }
  }

  /**
   * A new client connection. An HTTP/1.x one gets the {@link StrictRequestDecoder} in place of Vert.x's (before it has
   * read a byte), and this engine's request handler in place of Vert.x's, which would answer a request of an unknown
   * HTTP version with a bare 501 before any handler sees it. Both through Vert.x's internal connection type.
   */
  private void opened(HttpConnection connection) {
    if (!admitted(connection)) {
      return;
    }
    idle.opened(connection);
    if (connection instanceof Http1xServerConnection http1) {
      ChannelPipeline pipeline = http1.channelHandlerContext().pipeline();
      if (pipeline.get(StrictRequestDecoder.NAME) instanceof VertxHttpRequestDecoder) {
        IdleConnections.State state = idle.of(connection);
        StrictRequestDecoder decoder = new StrictRequestDecoder(serverOptions, config.httpLimits().maxBodySize(),
            refusal -> brokenBody(connection, refusal), new StrictRequestDecoder.Activity() {
              @Override
              public void bytesArrived() {
                idle.bytesArrived(state);
              }

              @Override
              public void bodyPending(boolean pending) {
                idle.bodyPending(state, pending);
              }

              @Override
              public void trailers(int request, io.netty.handler.codec.http.HttpHeaders fields) {
                state.trailers(request, fields);
              }
              // with h2c on, Vert.x's own decoder read the first request before this one took over
            }, config.h2c() ? 1 : 0);
        pipeline.replace(StrictRequestDecoder.NAME, StrictRequestDecoder.NAME, decoder);
        state.decoder(decoder);
      }
      http1.handler(this::handle);
    }
  }

  /**
   * A request became a tunnel (101): the connection is no longer HTTP, so it is closed after clientIdleTimeout without
   * a byte either way, by Netty's idle handler in front of the pipeline (Vert.x closes a connection on its event).
   */
  void tunnelOpened(HttpServerRequest request) {
    if (request.connection() instanceof Http1xServerConnection http1) {
      IdleConnections.State state = idle.of(request.connection());
      idle.ended(state);
      idle.forget(request.connection());
      http1.channelHandlerContext().pipeline().addFirst("sluiceTunnelIdle",
          new IdleStateHandler(0, 0, config.clientIdleTimeoutMillis(), TimeUnit.MILLISECONDS) {
            @Override
            protected void channelIdle(io.netty.channel.ChannelHandlerContext ctx,
                                       io.netty.handler.timeout.IdleStateEvent event) {
              stats.idleClosed.increment();
              ctx.close();
            }
          });
    }
  }

  /** A connection failed before it carried a request: counted if its TLS handshake failed, never logged. */
  private void connectionFailed(Throwable failure) {
    for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
      if (cause instanceof javax.net.ssl.SSLException) {
        stats.tlsHandshakeFailures.increment();
        return;
      }
    }
  }

  /** Nothing more is read from {@code connection}: it closes after the answer being written. */
  void stopReading(HttpConnection connection) {
    IdleConnections.State state = idle.of(connection);
    if (state != null) {
      state.markClosing();
    }
    if (state != null && state.decoder() != null) {
      state.decoder().discardRest();
    }
  }

  /**
   * Counts a new connection against {@code http.maxConnections} (one count for the whole gateway, as the Netty engine
   * keeps it); over it, the connection is reset at once and counted. Vert.x calls this before reading a request
   * (with h2c on, after the first bytes that tell HTTP/1 from HTTP/2).
   */
  private boolean admitted(HttpConnection connection) {
    Channel channel = ((ConnectionBase) connection).channelHandlerContext().channel();
    if (stats.openConnections.incrementAndGet() > config.httpLimits().maxConnections()) {
      stats.openConnections.decrementAndGet();
      stats.connectionsRefused.increment();
      channel.config().setOption(ChannelOption.SO_LINGER, 0);
      channel.close();
      return false;
    }
    channel.closeFuture().addListener(closed -> stats.openConnections.decrementAndGet());
    return true;
  }

  private void brokenBody(HttpConnection connection, RequestCheck.Refusal refusal) {
    IdleConnections.State state = idle.of(connection);
    if (state != null && state.decoder() != null && state.decoder().decoded() > state.dispatched()) {
      // the broken body is a pipelined request's that Vert.x still holds back: the ones before it are served first
      state.brokenWhileQueued(state.decoder().decoded(), refusal);
      return;
    }
    VertxExchange exchange = state == null ? null : state.latest();
    if (exchange == null) {
      connection.close();
    } else {
      exchange.brokenBody(refusal);
    }
  }

  private void handle(HttpServerRequest request) {
    // nothing of the body is read until the request is admitted (and the proxy resumes it)
    request.pause();
    if (request.version() == null && request.connection() instanceof Http1xServerConnection http1) {
      // Vert.x would answer in the request's own version ("HTTP/2.0 505"): the answer goes out as HTTP/1.1 bytes
      FullHttpResponse refusal = Answers.problem(new RequestCheck.Refusal(505, "http-version-not-supported",
          "HTTP Version Not Supported", "this port speaks HTTP/1.0 and HTTP/1.1"
              + (config.h2c() ? ", and HTTP/2" : "") + "; not this version"));
      refusal.headers().set(HttpHeaderNames.CONNECTION, "close");
      stopReading(request.connection());
      http1.channelHandlerContext().channel().writeAndFlush(refusal).addListener(ChannelFutureListener.CLOSE);
      return;
    }
    IdleConnections.State known = idle.of(request.connection());
    if (known != null && known.closing()) {
      // pipelined behind a refusal that closes the connection: Vert.x decoded and queued it before the refusal and
      // hands it over once the refusal is written; it must not go upstream
      request.connection().close();
      return;
    }
    RequestCheck.Refusal broken = known == null ? null : known.dispatch();
    if (broken != null) {
      stopReading(request.connection());
      Answers.send(request, Answers.problem(broken), true);
      return;
    }
    IdleConnections.State state = idle.started(request.connection());
    VertxExchange exchange = new VertxExchange(this, request, state);
    if (state != null) {
      state.latest(exchange);
    }
    exchange.start();
  }

  /** A request Vert.x's codec could not decode (bad request line or header, too long): the gateway's problem. */
  private void undecodable(HttpServerRequest request) {
    Throwable cause = request.decoderResult().cause();
    Answers.send(request, Answers.problem(RequestCheck.undecodable(cause)), true);
  }

  /** Hands an admitted exchange to the proxy; its interceptor {@link #claim}s it. */
  void proxy(VertxExchange exchange) {
    handedOver.put(exchange.request(), exchange);
    proxy.handle(exchange.request());
  }

  VertxExchange claim(HttpServerRequest request) {
    return handedOver.remove(request);
  }

  @Override
  public Future<Void> warmUp(GatewayConfig.Warmup warmup) {
    if (warmup.requests() == 0 || actualPort < 0) {
      return Future.succeededFuture();
    }
    String host = config.http().host().equals("0.0.0.0") ? "127.0.0.1" : config.http().host();
    HttpClientOptions selfOptions = new HttpClientOptions();
    config.httpTls().ifPresent(tls -> selfOptions.setSsl(true).setTrustOptions(ServerTls.trustingOnly(tls))
        .setVerifyHost(false));
    HttpClient self = vertx.createHttpClient(selfOptions, new PoolOptions().setHttp1MaxSize(4));
    RequestOptions options = new RequestOptions().setHost(host).setPort(actualPort).setURI(warmup.path())
        .putHeader(LimitGate.WARMUP_HEADER, gate.warmupSecret()).setIdleTimeout(config.upstreamTimeoutMillis());
    long deadline = System.currentTimeMillis() + WARMUP_LIMIT_MILLIS;
    Future<Void> chain = Future.succeededFuture();
    for (int i = 0; i < warmup.requests(); i++) {
      chain = chain.transform(previous -> System.currentTimeMillis() > deadline
          ? Future.succeededFuture()
          : self.request(options).compose(HttpClientRequest::send).compose(HttpClientResponse::body).mapEmpty());
    }
    return chain.transform(done -> self.close());
  }

  /**
   * Vert.x's graceful shutdown: no new connections, idle ones closed, requests in progress (held ones too) get the
   * grace time, and their answers say Connection: close.
   */
  @Override
  public Future<Void> stop(long graceMillis) {
    stopping = true;
    if (sweepTimer >= 0) {
      vertx.cancelTimer(sweepTimer);
    }
    Future<Void> closed = server == null ? Future.succeededFuture()
        : server.shutdown(Math.max(1, graceMillis), TimeUnit.MILLISECONDS);
    return closed.eventually(() -> {
      idle.closeAll();
      return client == null ? Future.succeededFuture() : client.close();
    });
  }

  @Override
  public int actualPort() {
    return actualPort;
  }

  // ---- for the exchange and the interceptor, on the event loop

  boolean stopping() {
    return stopping;
  }

  LimitGate gate() {
    return gate;
  }

  RequestCheck check() {
    return check;
  }

  AccessLog accessLog() {
    return accessLog;
  }

  GatewayStats stats() {
    return stats;
  }

  Clock clock() {
    return clock;
  }

  Vertx vertx() {
    return vertx;
  }

  IdleConnections idle() {
    return idle;
  }

  long upstreamTimeoutMillis() {
    return config.upstreamTimeoutMillis();
  }
}
