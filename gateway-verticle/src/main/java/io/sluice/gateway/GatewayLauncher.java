package io.sluice.gateway;

import io.sluice.gateway.cluster.ClusterSetup;
import io.sluice.gateway.cluster.ClusteredStores;
import io.sluice.gateway.config.ConfArgument;
import io.sluice.gateway.config.ConfigException;
import io.sluice.gateway.config.ConfigLoader;
import io.sluice.gateway.metrics.VertxMetricsSetup;
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
 * The gateway's {@code main}: Vert.x's launcher ({@code -cluster}, {@code -conf}, ...) plus what it cannot know: the
 * configuration ({@code -conf} included) is read and validated before anything starts, and a port that cannot be
 * listened on is reported by name (each one line on stderr, exit code 2); the clustered instance uses our Hazelcast
 * setup and hands its map to the verticle; shutdown is bounded in time.
 */
public final class GatewayLauncher extends VertxApplication implements VertxApplicationHooks {

  /** After SIGTERM the process is gone within this time, whatever is still closing. */
  static final long SHUTDOWN_LIMIT_MILLIS = 9_500;

  /** Exit code of a gateway that cannot start as configured: invalid configuration, a port it cannot listen on. */
  static final int EXIT_CANNOT_START = 2;

  /** Hazelcast's choice of logging library (cluster.xml says the same, but Hazelcast logs before reading it). */
  private static final String HAZELCAST_LOGGING = "hazelcast.logging.type";

  private final boolean clustered;
  /** {@code vertxMetrics} of the configuration: Vert.x's own meters cost CPU on every request (see the README). */
  private volatile boolean vertxMetrics = true;
  /** The -conf JSON, read by us (not Vert.x, which would warn and go on with the defaults); null without -conf. */
  private final JsonObject conf;
  private volatile HazelcastClusterManager clusterManager;

  GatewayLauncher(String[] args, JsonObject conf) {
    super(args);
    this.clustered = Arrays.stream(args).anyMatch(a -> a.equalsIgnoreCase("-cluster") || a.equalsIgnoreCase("--cluster"));
    this.conf = conf;
  }

  public static void main(String[] args) {
    // Hazelcast logs through SLF4J (and so Logback) from its first line on, before cluster.xml is read
    if (System.getProperty(HAZELCAST_LOGGING) == null) {
      System.setProperty(HAZELCAST_LOGGING, "slf4j");
    }
    String argument = ConfArgument.find(args);
    JsonObject conf = null;
    if (argument != null) {
      try {
        conf = ConfArgument.read(argument);
      } catch (ConfigException e) {
        exit("invalid configuration: " + e.getMessage());
      }
      System.setProperty(ConfigLoader.CONF_SOURCE_PROPERTY, ConfArgument.sourceOf(argument));
    }
    new GatewayLauncher(args, conf).launch();
  }

  /** One line on stderr, then exit code 2 (shutdown hooks still close whatever was started). */
  private static void exit(String problem) {
    System.err.println("sluice: " + problem);
    System.exit(EXIT_CANNOT_START);
  }

  @Override
  public JsonObject afterConfigParsed(JsonObject config) {
    JsonObject effective = conf != null ? conf : config == null ? new JsonObject() : config;
    Vertx probe = Vertx.vertx();
    try {
      vertxMetrics = ConfigLoader.load(probe, effective).await(30, TimeUnit.SECONDS).vertxMetrics();
    } catch (ConfigException e) {
      exit("invalid configuration: " + e.getMessage());
    } catch (Exception e) {
      exit("could not read configuration: " + e);
    } finally {
      probe.close();
    }
    return effective;
  }

  @Override
  public VertxBuilder createVertxBuilder(VertxOptions options) {
    // epoll when the platform has it (Linux x86-64): fewer syscalls per request, and a shareable proxy port; Vert.x's
    // own metrics for GET /metrics
    options.setPreferNativeTransport(true);
    VertxBuilder builder = vertxMetrics ? VertxMetricsSetup.builder(options) : Vertx.builder().with(options);
    if (clustered) {
      try {
        clusterManager = new HazelcastClusterManager(ClusterSetup.load(System.getenv(), System.getProperties()));
      } catch (IllegalArgumentException e) {
        // a bad SLUICE_CLUSTER_* setting or a missing cluster.xml: one line, as for the gateway's own settings
        exit("invalid configuration: " + e.getMessage());
      }
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
  public void afterVertxStopped(HookContext context) {
    stopLogging();
  }

  @Override
  public void afterFailureToStopVertx(HookContext context, Throwable t) {
    stopLogging();
  }

  /** Writes out what the log queues hold (Logback waits up to a second per queue) and stops Logback. */
  private static void stopLogging() {
    if (org.slf4j.LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext logback) {
      logback.stop();
    }
  }

  @Override
  public Supplier<? extends Deployable> verticleSupplier() {
    HazelcastClusterManager manager = clusterManager;
    if (manager == null) {
      return GatewayVerticle::new;
    }
    StoreFactory store = ClusteredStores.production(manager.getHazelcastInstance());
    return () -> new GatewayVerticle(store);
  }

  @Override
  public void afterFailureToDeployVerticle(HookContext context, Throwable t) {
    // before Vert.x logs the failure with its stack trace: these two are said in one line, exit code 2
    ListenFailure listen = ListenFailure.in(t);
    if (listen != null) {
      exit("cannot listen: " + listen.getMessage());
    }
    if (t instanceof ConfigException) {
      exit("invalid configuration: " + t.getMessage());
    }
    context.vertx().close();
  }
}
