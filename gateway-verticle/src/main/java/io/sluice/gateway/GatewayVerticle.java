package io.sluice.gateway;

import io.sluice.gateway.config.ConfigLoader;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.http.ManagementServer;
import io.sluice.gateway.http.UpstreamProbe;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.InMemoryCounterStore;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.metrics.GatewayMetrics;
import io.sluice.gateway.policy.PolicyFollower;
import io.sluice.gateway.policy.PolicyStore;
import io.sluice.gateway.proxy.GatewayStats;
import io.sluice.gateway.proxy.ProxyEngine;
import io.sluice.gateway.proxy.netty.ProxyServer;
import io.sluice.gateway.proxy.vertx.VertxProxyServer;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.shareddata.LocalMap;
import io.vertx.core.shareddata.Shareable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The gateway: reads and validates its configuration, then starts the proxy port (rate limiting + reverse proxy)
 * and the management port (health, stats, metrics). Deployment succeeds only when both ports listen.
 *
 * <p>Several instances may be deployed ({@code -instances N}); they share the ports and one limiter, store and set
 * of counters per deployment, so limits stay exact however many event loops serve.
 */
public class GatewayVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(GatewayVerticle.class);
  private static final long EVICTION_PERIOD_MILLIS = 5_000;
  private static final int WARMUP_DECISIONS = 300;

  private final StoreFactory storeFactory;
  private final Clock clock;
  private ProxyEngine proxy;
  private ManagementServer management;
  private UpstreamProbe upstreams;
  private GatewayConfig gatewayConfig;
  private RateLimiter limiter;

  /** A gateway whose limits live in this JVM only. */
  public GatewayVerticle() {
    this(null);
  }

  /** A gateway whose limits live where {@code storeFactory} puts them (e.g. a Hazelcast map). */
  public GatewayVerticle(StoreFactory storeFactory) {
    this(storeFactory, Clock.systemUTC());
  }

  GatewayVerticle(StoreFactory storeFactory, Clock clock) {
    this.storeFactory = storeFactory;
    this.clock = clock;
  }

  @Override
  public Future<?> start() {
    return ConfigLoader.load(vertx, config()).compose(config -> {
      gatewayConfig = config;
      Shared shared = shared(config);
      limiter = shared.limiter();
      proxy = config.engine() == GatewayConfig.Engine.VERTX
          ? new VertxProxyServer(vertx, context, config, shared.limiter(), shared.stats(), clock, shared.warmupSecret())
          : new ProxyServer(vertx, context, config, shared.limiter(), shared.stats(), clock, shared.warmupSecret());
      upstreams = shared.upstreams();
      management = new ManagementServer(vertx, config.management(), shared.store(), shared.limiter(),
          shared.stats(), upstreams, shared.metrics(), config.adminToken(), shared.policies());
      return warmUp(shared.store())
          // before the proxy port opens: a gateway joining a cluster enforces the cluster's policies from its first
          // request, not its own configuration's
          .compose(warm -> shared.policies().start(config.policies()))
          .compose(policies -> Future.all(startProxy(shared, config), startManagement(config)))
          .compose(listening -> proxy.warmUp(config.warmup()))
          .compose(warm -> upstreams.checkAtStartup());
    }).onSuccess(ready -> {
      management.markReady();
      LOG.info("effective configuration: {}", gatewayConfig);
      // one write of the whole line: printf writes it in pieces, and a log line written to the same file meanwhile
      // (scripts redirect both streams there and read the ports from this line) landed in the middle of it
      String readyLine = String.format("Sluice gateway ready: proxy port %d, management port %d, %d policies, %s "
              + "store, %s engine%n", proxyPort(), management.actualPort(), limiter.policies().size(),
          storeFactory == null ? "in-memory" : "clustered",
          gatewayConfig.engine().name().toLowerCase(java.util.Locale.ROOT));
      System.out.print(readyLine);
    });
  }

  @Override
  public Future<?> stop() {
    long stopping = System.nanoTime();
    if (gatewayConfig != null) {
      LOG.info("stopping: no new connections; requests in flight have {} ms (shutdownGrace)",
          gatewayConfig.shutdownGraceMillis());
    }
    Shared shared = vertx.sharedData().<String, Shared>getLocalMap(Shared.class.getName()).remove(context.deploymentID());
    if (shared != null) {
      shared.policies().stop();
    }
    if (management != null) {
      management.markNotReady();
    }
    Future<Void> proxyStopped = proxy == null ? Future.succeededFuture() : proxy.stop(gatewayConfig.shutdownGraceMillis());
    return proxyStopped
        .eventually(() -> upstreams == null ? Future.succeededFuture() : upstreams.stop())
        .eventually(() -> management == null ? Future.succeededFuture() : management.stop())
        .onComplete(stopped -> LOG.info("stopped in {} ms", (System.nanoTime() - stopping) / 1_000_000));
  }

  /**
   * The first instance of the deployment binds the configured port (0 = any free one); the others bind the same
   * port beside it (SO_REUSEPORT, native transport), so every instance's event loop serves connections. Without the
   * native transport the port cannot be shared and the first instance serves it alone.
   */
  private Future<Integer> startProxy(Shared shared, GatewayConfig config) {
    if (shared.firstToBind().compareAndSet(false, true)) {
      String host = config.http().host();
      int port = config.http().port();
      return portFree(host, port)
          .compose(free -> proxy.start(port))
          .recover(failure -> Future.failedFuture(new ListenFailure("proxy", host, port, failure)))
          .andThen(shared.port()::handle);
    }
    return shared.port().future().compose(port -> vertx.isNativeTransportEnabled()
        ? proxy.start(port)
        : Future.succeededFuture(port));
  }

  private Future<?> startManagement(GatewayConfig config) {
    return management.start().recover(failure -> Future.failedFuture(
        new ListenFailure("management", config.management().host(), config.management().port(), failure)));
  }

  /**
   * Fails if something already listens on the proxy port. With the native transport the proxy port is bound with
   * SO_REUSEPORT (so that this deployment's instances share it), and a bind would then succeed beside another gateway
   * of the same user and split the traffic with it; a plain bind first, released at once, refuses that.
   */
  private Future<Void> portFree(String host, int port) {
    if (port == 0 || !vertx.isNativeTransportEnabled()) {
      return Future.succeededFuture();
    }
    return vertx.executeBlocking(() -> {
      try (ServerSocket probe = new ServerSocket()) {
        probe.bind(new InetSocketAddress(host, port));
      }
      return null;
    }, false);
  }

  public int proxyPort() {
    return proxy.actualPort() >= 0 ? proxy.actualPort() : gatewayConfig.http().port();
  }

  public int managementPort() {
    return management.actualPort();
  }

  /**
   * Runs the store's decision path a few hundred times on a private key before taking traffic, so the first real
   * requests do not pay for class loading and compilation (or a cold cluster connection) between being counted and
   * being forwarded.
   */
  private Future<Void> warmUp(CounterStore store) {
    String key = "sluice.warmup|" + UUID.randomUUID();
    WindowSpec spec = new WindowSpec(1_000_000, 1_000);
    Future<Void> chain = Future.succeededFuture();
    for (int i = 0; i < WARMUP_DECISIONS; i++) {
      chain = chain.compose(v -> {
        long now = clock.millis();
        // a store that fails now (down, or slow while the cluster settles) must not keep the gateway from starting:
        // the warm-up only saves the first real requests some compilation
        return store.reserve(key, spec, now, now, now)
            .compose(reservation -> store.release(key, spec, now, reservation.bucket()))
            .otherwiseEmpty();
      });
    }
    return chain;
  }

  /** The limiter, its store and the counters of this deployment, made by the first of its instances to start. */
  private Shared shared(GatewayConfig config) {
    LocalMap<String, Shared> map = vertx.sharedData().getLocalMap(Shared.class.getName());
    Shared existing = map.get(context.deploymentID());
    if (existing != null) {
      return existing;
    }
    CounterStore store = storeFactory != null ? storeFactory.create(vertx, config) : inMemoryStore(config);
    RateLimiter limiter = new RateLimiter(config.policies(), store, clock);
    GatewayMetrics metrics = new GatewayMetrics();
    GatewayStats stats = new GatewayStats(store, limiter, metrics);
    metrics.watch(stats, limiter, store);
    PolicyStore policyStore = storeFactory != null ? storeFactory.policyStore(vertx) : PolicyStore.local();
    PolicyFollower policies = new PolicyFollower(vertx, policyStore, limiter,
        config.limiter().transitAllowanceMillis(), clock, metrics::configVersion);
    Shared created = new Shared(store, limiter, stats, UUID.randomUUID().toString(),
        new AtomicBoolean(), Promise.promise(),
        new UpstreamProbe(vertx, config.upstreams(), config.upstreamTimeoutMillis(), UpstreamProbe.RECHECK_MILLIS),
        metrics, policies);
    existing = map.putIfAbsent(context.deploymentID(), created);
    return existing != null ? existing : created;
  }

  /** Parts shared by every instance in one Vert.x: one limiter means one set of limits. */
  record Shared(CounterStore store, RateLimiter limiter, GatewayStats stats, String warmupSecret,
                AtomicBoolean firstToBind, Promise<Integer> port, UpstreamProbe upstreams, GatewayMetrics metrics,
                PolicyFollower policies)
      implements Shareable {
  }

  private CounterStore inMemoryStore(GatewayConfig config) {
    InMemoryCounterStore store = new InMemoryCounterStore(clock, config.limiter().maxKeys());
    // a sweep over many keys is not event-loop work
    vertx.setPeriodic(EVICTION_PERIOD_MILLIS, id -> vertx.executeBlocking(() -> {
      store.evictExpired();
      return null;
    }, false));
    return store;
  }
}
