package io.sluice.gateway.proxy.netty;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.ssl.SslContext;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.proxy.AccessLog;
import io.sluice.gateway.proxy.GatewayStats;
import io.sluice.gateway.proxy.LimitGate;
import io.sluice.gateway.proxy.ProxyEngine;
import io.sluice.gateway.proxy.RequestCheck;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.spi.transport.Transport;

import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The proxy port. A small HTTP/1.1 reverse proxy on Netty, run on the event loop of the verticle that owns it:
 * {@link ClientConnection} reads requests, {@link Exchange} takes each through the {@link LimitGate} to an
 * {@link UpstreamLane} and back. It answers nothing by itself except the limiter's refusals and problems.
 *
 * <p>Why not vertx-http-proxy: profiled under load, its per-request cost (a new context per pooled client request,
 * interceptor futures) kept the gateway at under half of HAProxy's throughput; this path does the same job with the
 * codec, a connection queue and the limiter.
 */
public final class ProxyServer implements ProxyEngine {

  private static final long WARMUP_LIMIT_MILLIS = 10_000;
  /** Body bytes per message the codec hands on: small enough that a body never sits whole in memory. */
  private static final int MAX_CHUNK_SIZE = 8192;
  /**
   * The idle sweep's period, a quarter of clientIdleTimeout within these bounds: how late past the timeout an idle
   * connection may be closed (250 ms: a visit to every connection 4 times a second costs little even with
   * http.maxConnections open; 10 ms: finer than any timeout worth setting).
   */
  private static final long MAX_SWEEP_MILLIS = 250;
  private static final long MIN_SWEEP_MILLIS = 10;

  private final Vertx vertx;
  private final ContextInternal context;
  private final GatewayConfig config;
  private final LimitGate gate;
  private final GatewayStats stats;
  private final AccessLog accessLog;
  private final Clock clock;
  private final GatewayConfig.HttpLimits limits;
  private final RequestCheck requestCheck;
  /** TLS for client connections when {@code http.tls} is set, else null (plain HTTP). */
  private final SslContext clientTls;
  private final Set<ClientConnection> connections = new HashSet<>();
  private List<UpstreamLane> lanes = List.of();
  private int nextLane;
  private Channel serverChannel;
  private int actualPort = -1;
  private int activeExchanges;
  private boolean stopping;
  private Promise<Void> drained;
  /** Idle client connections: counted in sweeps of {@link #sweepMillis}, closed after {@link #idleSweeps} of them. */
  private final long sweepMillis;
  private final long idleSweeps;
  private long sweeps;
  private ScheduledFuture<?> sweepTimer;

  public ProxyServer(Vertx vertx, Context context, GatewayConfig config, RateLimiter limiter, GatewayStats stats,
                     Clock clock, String warmupSecret) {
    this.vertx = vertx;
    this.context = (ContextInternal) context;
    this.config = config;
    this.stats = stats;
    this.accessLog = AccessLog.of(config.accessLog());
    this.clock = clock;
    this.gate = new LimitGate(limiter, stats, clock, warmupSecret);
    this.limits = config.httpLimits();
    this.requestCheck = new RequestCheck(limits.maxBodySize(), limits.maxHeaders());
    this.clientTls = config.httpTls().map(ClientTls::serverContext).orElse(null);
    long idle = config.clientIdleTimeoutMillis();
    this.sweepMillis = Math.max(MIN_SWEEP_MILLIS, Math.min(MAX_SWEEP_MILLIS, idle / 4));
    // a connection idle since sweep n is closed at sweep n + idleSweeps + 1: after idle to idle + sweepMillis
    this.idleSweeps = (idle + sweepMillis - 1) / sweepMillis;
  }

  /**
   * Listens on {@code port} (0 picks one) on this verticle's event loop. With the native transport the port may be
   * shared (SO_REUSEPORT) by the other instances of the deployment, each serving its own connections.
   */
  @Override
  public Future<Integer> start(int port) {
    EventLoop loop = context.nettyEventLoop();
    Transport transport = ((VertxInternal) vertx).transport();
    // one TLS set-up for every https upstream, built only if there is one
    SslContext tls = config.upstreams().stream().anyMatch(UpstreamLane::isHttps)
        ? UpstreamLane.clientTls(config.upstreamTrust()) : null;
    List<UpstreamLane> made = new ArrayList<>();
    config.upstreams().forEach(uri -> made.add(new UpstreamLane(uri, tls, loop, transport,
        config.upstreamTimeoutMillis(), config.upstreamPool().connections(), config.upstreamPool().pipelining())));
    useLanes(made);
    ServerBootstrap bootstrap = new ServerBootstrap()
        .group(loop, loop)
        .channelFactory(transport.serverChannelFactory(false))
        .childHandler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel channel) {
            if (!admitConnection(channel)) {
              return;
            }
            if (clientTls != null) {
              ClientTls.addTo(channel, clientTls, stats);
            }
            channel.pipeline().addLast(
                new ServerCodec(new HttpDecoderConfig().setMaxInitialLineLength(limits.maxRequestLine())
                    .setMaxHeaderSize(limits.maxHeaderSize()).setMaxChunkSize(MAX_CHUNK_SIZE)),
                new ClientConnection(ProxyServer.this));
          }
        });
    transport.configure(new NetServerOptions().setReusePort(vertx.isNativeTransportEnabled()).setTcpNoDelay(true),
        false, bootstrap);
    bootstrap.childOption(ChannelOption.TCP_NODELAY, true);
    Promise<Integer> bound = context.promise();
    bootstrap.bind(config.http().host(), port).addListener(done -> {
      if (done.isSuccess()) {
        serverChannel = ((io.netty.channel.ChannelFuture) done).channel();
        actualPort = ((InetSocketAddress) serverChannel.localAddress()).getPort();
        // on the event loop that owns the connections, like their handlers; with a fixed delay, never at a fixed
        // rate: after the loop stalled, sweeps missed at a fixed rate ran back to back and closed connections accepted
        // meanwhile long before their timeout (IdleSweepStallTest)
        sweepTimer = loop.scheduleWithFixedDelay(this::closeIdleConnections, sweepMillis, sweepMillis,
            TimeUnit.MILLISECONDS);
        bound.complete(actualPort);
      } else {
        bound.fail(done.cause());
      }
    });
    return bound.future();
  }

  /**
   * Sends requests through this proxy to the upstreams, past the limiter, so that the first real requests find the
   * code compiled and connections open: otherwise they spend hundreds of ms between being counted and arriving
   * upstream, which blurs the limiter's timing. Failures are ignored; the whole warm-up is bounded in time.
   */
  @Override
  public Future<Void> warmUp(GatewayConfig.Warmup warmup) {
    if (warmup.requests() == 0 || actualPort < 0) {
      return Future.succeededFuture();
    }
    String host = config.http().host().equals("0.0.0.0") ? "127.0.0.1" : config.http().host();
    HttpClientOptions overTls = new HttpClientOptions();
    config.httpTls().ifPresent(identity ->
        overTls.setSsl(true).setVerifyHost(false).setTrustOptions(ClientTls.trustingOnly(identity)));
    HttpClient self = vertx.createHttpClient(overTls, new PoolOptions().setHttp1MaxSize(4));
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
   * Stops accepting connections and closes idle ones; requests in progress (delayed ones too) may finish within the
   * grace time, then every connection closes.
   */
  @Override
  public Future<Void> stop(long graceMillis) {
    Promise<Void> stopped = context.promise();
    context.runOnContext(v -> {
      stopping = true;
      if (sweepTimer != null) {
        sweepTimer.cancel(false);
      }
      if (serverChannel != null) {
        serverChannel.close();
      }
      for (ClientConnection connection : new ArrayList<>(connections)) {
        if (connection.idle()) {
          connection.close();
        }
      }
      if (activeExchanges == 0) {
        closeAll(stopped);
      } else {
        drained = stopped;
        vertx.setTimer(Math.max(1, graceMillis), id -> closeAll(stopped));
      }
    });
    return stopped.future();
  }

  private void closeAll(Promise<Void> stopped) {
    for (ClientConnection connection : new ArrayList<>(connections)) {
      connection.close();
    }
    lanes.forEach(UpstreamLane::close);
    stopped.tryComplete();
  }

  @Override
  public int actualPort() {
    return actualPort;
  }

  // ---- for the connection and exchange classes, all called on the event loop

  /** Runs {@code handler} as part of this verticle's context (its timers, futures and store callbacks stay here). */
  <T> void onContext(T event, Handler<T> handler) {
    context.emit(event, handler);
  }

  RequestCheck requestCheck() {
    return requestCheck;
  }

  LimitGate gate() {
    return gate;
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

  /** What {@code X-Forwarded-Proto} tells the upstream: how clients reach this port. */
  String scheme() {
    return clientTls != null ? "https" : "http";
  }

  long upstreamTimeoutMillis() {
    return config.upstreamTimeoutMillis();
  }

  /** Where requests go: set as the server starts, or by a test that plays the upstreams itself without listening. */
  void useLanes(List<UpstreamLane> upstreamLanes) {
    lanes = upstreamLanes;
  }

  /** Upstreams take requests in turn. */
  UpstreamLane nextLane() {
    UpstreamLane lane = lanes.get(nextLane);
    nextLane = (nextLane + 1) % lanes.size();
    return lane;
  }

  /**
   * Counts a connection just accepted against {@code http.maxConnections} (one count for every event loop of the
   * gateway); over it, the connection is closed at once with a reset, before a byte is read, and counted. A client
   * that holds many connections open cannot take the gateway's memory and file descriptors from the others.
   */
  private boolean admitConnection(Channel channel) {
    if (stats.openConnections.incrementAndGet() > limits.maxConnections()) {
      stats.openConnections.decrementAndGet();
      stats.connectionsRefused.increment();
      channel.config().setOption(ChannelOption.SO_LINGER, 0);
      channel.close();
      return false;
    }
    channel.closeFuture().addListener(closed -> stats.openConnections.decrementAndGet());
    return true;
  }

  boolean stopping() {
    return stopping;
  }

  void opened(ClientConnection connection) {
    connections.add(connection);
    if (stopping) {
      connection.close();
    }
  }

  void closed(ClientConnection connection) {
    connections.remove(connection);
  }

  /** The current sweep's number: a connection that goes idle remembers it. */
  long sweep() {
    return sweeps;
  }

  /**
   * Closes client connections that have waited on their client, with no progress, for the client idle timeout: idle
   * keep-alive connections, request heads sent too slowly, request bodies that stopped (see
   * {@link ClientConnection#clientStalled}).
   */
  private void closeIdleConnections() {
    long now = ++sweeps;
    for (ClientConnection connection : new ArrayList<>(connections)) {
      if (connection.clientStalled(now, idleSweeps)) {
        stats.idleClosed.increment();
        connection.close();
      }
    }
  }

  void exchangeStarted() {
    activeExchanges++;
  }

  void exchangeFinished() {
    activeExchanges--;
    if (stopping && activeExchanges == 0 && drained != null) {
      Promise<Void> stopped = drained;
      drained = null;
      closeAll(stopped);
    }
  }
}
