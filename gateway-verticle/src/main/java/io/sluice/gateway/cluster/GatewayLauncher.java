package io.sluice.gateway.cluster;

import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.config.ConfigException;
import io.sluice.gateway.config.ConfigLoader;
import io.vertx.core.Deployable;
import io.vertx.core.Vertx;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.launcher.application.HookContext;
import io.vertx.launcher.application.VertxApplication;
import io.vertx.launcher.application.VertxApplicationHooks;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The gateway's {@code main}: Vert.x's launcher ({@code -cluster}, {@code -conf}, ...) plus three things it cannot
 * know: the configuration is validated before anything starts (one line on stderr, exit code 2), the clustered
 * instance uses our Hazelcast setup and hands its map to the verticle, and shutdown is bounded in time.
 */
public final class GatewayLauncher extends VertxApplication implements VertxApplicationHooks {

  /** After SIGTERM the process is gone within this time, whatever is still closing. */
  static final long SHUTDOWN_LIMIT_MILLIS = 9_500;

  private final boolean clustered;
  private volatile HazelcastClusterManager clusterManager;

  GatewayLauncher(String[] args) {
    super(args);
    this.clustered = Arrays.stream(args).anyMatch(a -> a.equalsIgnoreCase("-cluster") || a.equalsIgnoreCase("--cluster"));
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equalsIgnoreCase("-conf") || args[i].equalsIgnoreCase("--conf")) {
        String conf = args[i + 1].trim();
        System.setProperty(ConfigLoader.CONF_SOURCE_PROPERTY, conf.startsWith("{") ? "-conf JSON" : conf);
      }
    }
  }

  public static void main(String[] args) {
    new GatewayLauncher(args).launch();
  }

  @Override
  public JsonObject afterConfigParsed(JsonObject config) {
    Vertx probe = Vertx.vertx();
    try {
      ConfigLoader.load(probe, config == null ? new JsonObject() : config).await(30, TimeUnit.SECONDS);
    } catch (ConfigException e) {
      System.err.println("sluice: invalid configuration: " + e.getMessage());
      System.exit(2);
    } catch (Exception e) {
      System.err.println("sluice: could not read configuration: " + e);
      System.exit(2);
    } finally {
      probe.close();
    }
    return config;
  }

  @Override
  public VertxBuilder createVertxBuilder(VertxOptions options) {
    // epoll when the platform has it (Linux x86-64): fewer syscalls per request, and a shareable proxy port
    VertxBuilder builder = Vertx.builder().with(options.setPreferNativeTransport(true));
    if (clustered) {
      clusterManager = new HazelcastClusterManager(ClusterSetup.load(System.getenv(), System.getProperties()));
      builder.withClusterManager(clusterManager);
    }
    return builder;
  }

  @Override
  public void afterVertxStarted(HookContext context) {
    // A shutdown hook of its own that only arms a daemon timer: the JVM waits for hooks, never for daemons.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      Thread watchdog = new Thread(() -> {
        try {
          Thread.sleep(SHUTDOWN_LIMIT_MILLIS);
          System.err.println("sluice: shutdown took longer than " + SHUTDOWN_LIMIT_MILLIS + " ms, halting");
          Runtime.getRuntime().halt(1);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }, "sluice-shutdown-watchdog");
      watchdog.setDaemon(true);
      watchdog.start();
    }, "sluice-shutdown-arm"));
  }

  @Override
  public Supplier<? extends Deployable> verticleSupplier() {
    HazelcastClusterManager manager = clusterManager;
    if (manager == null) {
      return GatewayVerticle::new;
    }
    return () -> new GatewayVerticle((vertx, config) -> new LeasingCounterStore(
        new HazelcastCounterStore(vertx, manager.getHazelcastInstance(), config.limiter().mapName())));
  }

  @Override
  public void afterFailureToDeployVerticle(HookContext context, Throwable t) {
    if (t instanceof ConfigException) {
      System.err.println("sluice: invalid configuration: " + t.getMessage());
    }
    context.vertx().close();
  }
}
