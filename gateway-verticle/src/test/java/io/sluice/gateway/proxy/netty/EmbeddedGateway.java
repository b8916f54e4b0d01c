package io.sluice.gateway.proxy.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.InMemoryCounterStore;
import io.sluice.gateway.limit.OnStoreFailure;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.TestClock;
import io.sluice.gateway.proxy.GatewayStats;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;

import java.net.SocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The Netty proxy with no socket under it: its client connections and the connections its lane opens to the upstream
 * are embedded channels on one embedded event loop, whose clock the test moves by hand (the limiter's clock moves
 * with it). The limiter is the real one, on an in-memory store; the test plays both the clients and the upstream.
 */
final class EmbeddedGateway {

  /** Settings a test may change; the rest are the gateway's usual ones. */
  record Settings(int connections, int pipelining, long maxBodySize, List<Policy> policies) {

    /** One upstream connection without pipelining, no body limit, no policies (every request is admitted). */
    static Settings plain() {
      return new Settings(1, 1, 0, List.of());
    }

    Settings pool(int poolConnections, int poolPipelining) {
      return new Settings(poolConnections, poolPipelining, maxBodySize, policies);
    }

    Settings maxBody(long bytes) {
      return new Settings(connections, pipelining, bytes, policies);
    }

    Settings limitedBy(Policy... limits) {
      return new Settings(connections, pipelining, maxBodySize, List.of(limits));
    }
  }

  static final URI UPSTREAM = URI.create("http://upstream.test:8000");
  /** How long the gateway waits on a silent upstream before answering 504. */
  static final long UPSTREAM_TIMEOUT_MILLIS = 5_000;
  /** Any fixed instant: the limiter's windows and the RateLimit headers are computed from it. */
  private static final long START_MILLIS = 1_700_000_000_000L;
  /** Tasks that queue more tasks settle within a few rounds; more means a loop that never ends. */
  private static final int MAX_SETTLE_ROUNDS = 1_000;
  static final int MAX_REQUEST_LINE = 8192;
  private static final int MAX_HEADER_SIZE = 16384;
  private static final int MAX_HEADERS = 100;
  private static final int MAX_CONNECTIONS = 100;
  /** As {@code ProxyServer} hands body parts on. */
  private static final int MAX_CHUNK_SIZE = 8192;
  private static final long CLIENT_IDLE_TIMEOUT_MILLIS = 60_000;
  /** The user-defined writability bit {@link #congest} turns off (bit 0 is Netty's own). */
  private static final int CONGESTION = 1;

  /** Owns the event loop every channel here is registered on; its time is the gateway's. */
  private final EmbeddedChannel events = new EmbeddedChannel();
  private final TestClock clock = new TestClock(START_MILLIS);
  private final ProxyServer server;
  private final UpstreamLane lane;
  private final List<EmbeddedChannel> clients = new ArrayList<>();
  private final List<EmbeddedChannel> upstreams = new ArrayList<>();
  /** Why connections to the upstream fail from now on; null while they succeed. */
  private Throwable connectFailure;

  EmbeddedGateway(Vertx vertx, Settings settings) {
    events.freezeTime();
    EventLoop loop = events.eventLoop();
    GatewayConfig config = new GatewayConfig(new GatewayConfig.Endpoint("127.0.0.1", 0),
        new GatewayConfig.Endpoint("127.0.0.1", 0), List.of(UPSTREAM), List.of(), UPSTREAM_TIMEOUT_MILLIS,
        new GatewayConfig.UpstreamPool(settings.connections(), settings.pipelining()), 0, CLIENT_IDLE_TIMEOUT_MILLIS,
        new GatewayConfig.Limiter("embedded", 1_000, OnStoreFailure.CLOSED, 50), new GatewayConfig.Warmup("/", 0),
        settings.policies(), new GatewayConfig.HttpLimits(settings.maxBodySize(), MAX_REQUEST_LINE, MAX_HEADER_SIZE,
        MAX_HEADERS, MAX_CONNECTIONS), Optional.empty(), GatewayConfig.Engine.NETTY, false,
        GatewayConfig.AccessLog.OFF, Optional.empty(), false);
    InMemoryCounterStore store = new InMemoryCounterStore(clock, 1_000);
    RateLimiter limiter = new RateLimiter(settings.policies(), store, clock);
    ContextInternal context = ((VertxInternal) vertx).contextBuilder().withEventLoop(loop)
        .withThreadingModel(ThreadingModel.EVENT_LOOP).build();
    server = new ProxyServer(vertx, context, config, limiter, new GatewayStats(store, limiter), clock,
        "embedded-warmup-secret");
    Bootstrap bootstrap = new Bootstrap().group(loop).disableResolver().channelFactory(() -> {
      EmbeddedChannel upstream = connectFailure == null ? new EmbeddedChannel(false, false)
          : new EmbeddedChannel(false, false, new RefusingConnect(connectFailure));
      upstreams.add(upstream);
      return upstream;
    });
    lane = new UpstreamLane(UPSTREAM, null, loop, bootstrap, settings.connections(), settings.pipelining());
    server.useLanes(List.of(lane));
  }

  /** A client connection just accepted, as the proxy port sets it up. */
  EmbeddedChannel connect() {
    EmbeddedChannel client = new EmbeddedChannel(false, false,
        new ServerCodec(new HttpDecoderConfig().setMaxInitialLineLength(MAX_REQUEST_LINE)
            .setMaxHeaderSize(MAX_HEADER_SIZE).setMaxChunkSize(MAX_CHUNK_SIZE)),
        new ClientConnection(server));
    clients.add(client);
    events.eventLoop().register(client);
    settle();
    return client;
  }

  /** Connections the lane opens from now on fail with {@code cause} (refused, timed out...). */
  void refuseConnections(Throwable cause) {
    connectFailure = cause;
  }

  /** The upstream's host as the connection attempt sees it when it cannot be reached. */
  private static final class RefusingConnect extends ChannelOutboundHandlerAdapter {

    private final Throwable cause;

    RefusingConnect(Throwable cause) {
      this.cause = cause;
    }

    @Override
    public void connect(ChannelHandlerContext ctx, SocketAddress remote, SocketAddress local, ChannelPromise promise) {
      promise.setFailure(cause);
    }
  }

  /** The upstream connections the lane has opened, oldest first (closed ones too). */
  List<EmbeddedChannel> upstreams() {
    return upstreams;
  }

  /** The one upstream connection a test expects to have been opened. */
  EmbeddedChannel upstream() {
    if (upstreams.size() != 1) {
      throw new AssertionError("expected one upstream connection, the lane opened " + upstreams.size());
    }
    return upstreams.get(0);
  }

  ProxyServer server() {
    return server;
  }

  /** Bytes arrive on {@code channel} (from a client or the upstream); then the event loop runs what they queued. */
  void send(EmbeddedChannel channel, String raw) {
    channel.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.ISO_8859_1));
    settle();
  }

  /**
   * {@code channel} looks full (not writable), as when its peer reads slower than the gateway writes; or no longer.
   */
  void congest(EmbeddedChannel channel, boolean full) {
    channel.unsafe().outboundBuffer().setUserDefinedWritability(CONGESTION, !full);
    settle();
  }

  /** The peer of {@code channel} closes it. */
  void hangUp(EmbeddedChannel channel) {
    channel.close();
    settle();
  }

  /** Runs what is queued on the event loop, and what that queues, until nothing is left to run now. */
  void settle() {
    for (int round = 0; events.hasPendingTasks(); round++) {
      if (round == MAX_SETTLE_ROUNDS) {
        throw new AssertionError("the event loop never settled");
      }
      events.runPendingTasks();
    }
  }

  /** Time passes: the event loop's clock and the limiter's; timers due by then fire. */
  void advance(long millis) {
    clock.advance(millis);
    events.advanceTimeBy(millis, TimeUnit.MILLISECONDS);
    events.runScheduledPendingTasks();
    settle();
  }

  void close() {
    for (EmbeddedChannel client : clients) {
      client.finishAndReleaseAll();
    }
    for (EmbeddedChannel upstream : upstreams) {
      upstream.finishAndReleaseAll();
    }
    events.finishAndReleaseAll();
  }
}
