package io.sluice.gateway.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.micrometer.Label;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;
import io.vertx.micrometer.backends.BackendRegistries;

import java.util.EnumSet;
import java.util.Set;

/**
 * Vert.x's own metrics (HTTP server and client, pools, JVM), turned on where the Vertx instance is built: by the
 * launcher, and by tests that want them. They go to one Prometheus registry per Vertx, found again by
 * {@link #registryOf} and served beside Sluice's own on {@code GET /metrics}. A Vertx built any other way (most tests
 * build their own) has none; Sluice's metrics do not depend on them.
 */
public final class VertxMetricsSetup {

  /**
   * The name Vert.x files the registry under (vertx-micrometer keeps registries in a JVM-wide map by name): one
   * Vertx with metrics per JVM, as the launcher makes; two at once in one JVM would share it.
   */
  public static final String REGISTRY_NAME = "sluice-vertx";

  /**
   * Labels on Vert.x's meters: the default ones (method, code, pool type and name, event-bus side) and the local
   * address, which tells the proxy port from the management port. Never the remote address (a client's, unbounded)
   * nor the path (the client chooses it).
   */
  private static final Set<Label> LABELS = EnumSet.of(Label.HTTP_METHOD, Label.HTTP_CODE, Label.POOL_TYPE,
      Label.POOL_NAME, Label.EB_SIDE, Label.LOCAL);

  /** The methods kept as they are in the {@code method} label; any other token a client sends becomes "other". */
  static final Set<String> KNOWN_METHODS = Set.of("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
      "TRACE", "PATCH");
  static final String OTHER_METHOD = "other";

  private VertxMetricsSetup() {
  }

  /** A builder of a Vertx with {@code options} whose own metrics go to a Prometheus registry for {@code /metrics}. */
  public static VertxBuilder builder(VertxOptions options) {
    MicrometerMetricsOptions metrics = new MicrometerMetricsOptions()
        .setEnabled(true)
        .setRegistryName(REGISTRY_NAME)
        .setLabels(LABELS)
        .setJvmMetricsEnabled(true)
        .setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true));
    return Vertx.builder()
        .with(options.setMetricsOptions(metrics))
        .withMetrics(new MicrometerMetricsFactory(registry()));
  }

  /** The registry of Vert.x's own metrics of {@code vertx}, or null when it was built without them. */
  public static PrometheusMeterRegistry registryOf(Vertx vertx) {
    if (!vertx.isMetricsEnabled()) {
      return null;
    }
    MeterRegistry registry = BackendRegistries.getNow(REGISTRY_NAME);
    return registry instanceof PrometheusMeterRegistry prometheus ? prometheus : null;
  }

  /** A Prometheus registry whose {@code method} label takes a bounded set of values, whatever clients send. */
  private static PrometheusMeterRegistry registry() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    registry.config().meterFilter(MeterFilter.replaceTagValues(Label.HTTP_METHOD.toString(),
        method -> KNOWN_METHODS.contains(method) ? method : OTHER_METHOD));
    return registry;
  }
}
