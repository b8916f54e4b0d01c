package io.sluice.gateway.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.StoreMode;
import io.sluice.gateway.proxy.GatewayStats;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.ToLongFunction;

/**
 * Sluice's own metrics, in a Prometheus registry of one gateway deployment. Nothing here runs per request but the two
 * timers ({@link GatewayStats.Timings}): every count is read from the counters the gateway keeps anyway
 * ({@link GatewayStats}, the limiter, the store) when {@code /metrics} is scraped, each meter built once at startup
 * (a policy's meters when the policy comes into force).
 * Labels take bounded values only: policy names (configured), outcomes and store modes (enums); never a key or token.
 */
public final class GatewayMetrics implements GatewayStats.Timings {

  static final String PREFIX = "sluice.";

  /**
   * Bucket bounds of {@code sluice_delay_seconds}: from a slot a few ms ahead to the longest delays policies are
   * configured for (seconds: maxDelay is usually a few).
   */
  static final Duration[] DELAY_BUCKETS = millis(5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000);

  /**
   * Bucket bounds of {@code sluice_upstream_response_seconds}: from an upstream on loopback (under a ms) to the
   * default upstreamTimeout (5 s) and beyond it.
   */
  static final Duration[] UPSTREAM_BUCKETS = millis(1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000);

  /** The version of the policies in force until the gateway has applied a policy document (see policy.PolicyFollower). */
  static final long INITIAL_CONFIG_VERSION = 1;

  /** What the counters of {@link GatewayStats} mean, by field; a field not named here is described by its name. */
  private static final Map<String, String> STATS_DESCRIPTIONS = Map.ofEntries(
      Map.entry("forwarded", "Requests forwarded upstream"),
      Map.entry("delayed", "Requests held before forwarding because a delaying policy gave them a later slot"),
      Map.entry("rejected", "Requests refused with 429 by a policy"),
      Map.entry("missingKey", "Requests refused with 401 because a policy found no key"),
      Map.entry("upstreamFailures", "Requests answered 502/504 because the upstream failed"),
      Map.entry("limiterFailures", "Requests answered 503 because the limiter's store could not be reached"),
      Map.entry("overloaded", "Requests answered 503 because they could not leave in time for their slots"),
      Map.entry("keysRefused", "Requests answered 503 because the limiter held limiter.maxKeys live keys and theirs "
          + "was new"),
      Map.entry("idleClosed", "Client connections closed for being idle"),
      Map.entry("tlsHandshakeFailures", "Client TLS handshakes that failed"),
      Map.entry("openConnections", "Client connections open now"),
      Map.entry("connectionsRefused", "Client connections closed at once because http.maxConnections were open"));

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Timer delays;
  private final Timer upstreamAnswers;
  /** The version of the policy document in force here, for {@code sluice_config_version}. */
  private volatile long configVersion = INITIAL_CONFIG_VERSION;
  /** The per-policy meters, by policy name: added when a policy comes into force, removed when it goes. */
  private final Map<String, List<Meter>> policyMeters = new ConcurrentHashMap<>();

  public GatewayMetrics() {
    delays = Timer.builder(PREFIX + "delay")
        .description("How long requests were held because a delaying policy said so")
        .serviceLevelObjectives(DELAY_BUCKETS)
        .register(registry);
    upstreamAnswers = Timer.builder(PREFIX + "upstream.response")
        .description("From a request head sent upstream to the upstream's response head")
        .serviceLevelObjectives(UPSTREAM_BUCKETS)
        .register(registry);
  }

  /** Registers the gateway's counters, read at each scrape: decisions per policy, the limiter's, the store's. */
  public GatewayMetrics watch(GatewayStats stats, RateLimiter limiter, CounterStore store) {
    watchStats(stats);
    watchPolicies(stats, stats.policies());
    limiter.onPoliciesReplaced(policies -> watchPolicies(stats, policies));
    counter("limited.decisions", limiter, RateLimiter::limitedDecisions,
        "Decisions that charged at least one policy");
    counter("rejected.locally", limiter, RateLimiter::localDenials,
        "Requests denied from what earlier denials taught, without asking the store");
    counter("decided.again", limiter, RateLimiter::redecisions,
        "Admitted requests that left too late for their slots and were decided again");
    counter("store.round.trips", store, CounterStore::remoteCalls, "Round trips to the shared counters");
    counter("store.operations", store, CounterStore::remoteOperations,
        "Operations on the shared counters (several per round trip when batched)");
    counter("store.evicted.keys", store, CounterStore::evictedKeys,
        "Keys this member's part of the shared counters dropped to make room (cluster.xml's eviction size)");
    counter("store.failures", store, CounterStore::storeFailures,
        "Store calls on the decision path that timed out or failed");
    counter("store.mode.switches", store, CounterStore::modeSwitches,
        "Switches between deciding on the shared counters and deciding alone");
    counter("store.lease.requests", store, CounterStore::leaseRequests,
        "Batches of permits asked of the keys' owners (high limits)");
    counter("store.leased.permits", store, CounterStore::leasedPermits,
        "Permits received in those batches, handed out without a round trip each");
    for (StoreMode.State mode : StoreMode.State.values()) {
      Gauge.builder(PREFIX + "store.mode", store, s -> s.mode() == mode ? 1 : 0)
          .description("1 for the mode the limiter decides in now (shared counters, or alone while they fail)")
          .tag("mode", mode.name().toLowerCase(Locale.ROOT))
          .register(registry);
    }
    Gauge.builder(PREFIX + "store.places.alone", store, CounterStore::placesAlone)
        .description("Places of the shared counters (Hazelcast partitions) whose keys are decided alone now")
        .register(registry);
    Gauge.builder(PREFIX + "cluster.members", store, CounterStore::clusterMembers)
        .description("Members of the cluster the counters live in, as this gateway sees it (0: not clustered)")
        .register(registry);
    Gauge.builder(PREFIX + "config.version", this, GatewayMetrics::configVersion)
        .description("Version of the policies in force")
        .register(registry);
    return this;
  }

  /**
   * Meters of every policy in {@code policies} and of no other: a policy that comes into force gets its meters, one
   * that goes loses them (its counts stay in {@link GatewayStats}: they show again if it comes back).
   */
  private synchronized void watchPolicies(GatewayStats stats, List<Policy> policies) {
    Set<String> names = new HashSet<>();
    for (Policy policy : policies) {
      names.add(policy.name());
      policyMeters.computeIfAbsent(policy.name(), name -> decisionMeters(stats, name));
    }
    policyMeters.keySet().removeIf(name -> {
      if (names.contains(name)) {
        return false;
      }
      policyMeters.get(name).forEach(registry::remove);
      return true;
    });
  }

  private List<Meter> decisionMeters(GatewayStats stats, String policyName) {
    List<Meter> meters = new ArrayList<>();
    for (GatewayStats.PolicyOutcome outcome : GatewayStats.PolicyOutcome.values()) {
      meters.add(FunctionCounter.builder(PREFIX + "decisions", stats, s -> s.decisions(policyName, outcome))
          .description("Requests each policy counted, by what it meant for the policy")
          .tags("policy", policyName, "outcome", outcome.name().toLowerCase(Locale.ROOT))
          .register(registry));
    }
    return meters;
  }

  /** Sets the version of the policies in force shown as {@code sluice_config_version}. */
  public void configVersion(long version) {
    configVersion = version;
  }

  private double configVersion() {
    return configVersion;
  }

  /** Every counter of {@link GatewayStats}, under its field's name: a counter added there shows here too. */
  private void watchStats(GatewayStats stats) {
    for (Field field : GatewayStats.class.getDeclaredFields()) {
      if (Modifier.isStatic(field.getModifiers())
          || field.getType() != LongAdder.class && field.getType() != AtomicInteger.class) {
        continue;
      }
      String name = PREFIX + dotted(field.getName());
      String description = STATS_DESCRIPTIONS.getOrDefault(field.getName(), "GatewayStats." + field.getName());
      Object value = read(field, stats);
      if (value instanceof LongAdder adder) {
        FunctionCounter.builder(name, adder, LongAdder::sum).description(description).register(registry);
      } else {
        Gauge.builder(name, (AtomicInteger) value, AtomicInteger::get).description(description).register(registry);
      }
    }
  }

  private static Object read(Field field, GatewayStats stats) {
    try {
      field.setAccessible(true);
      return field.get(stats);
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("GatewayStats." + field.getName() + " cannot be read", e);
    }
  }

  private <T> void counter(String name, T source, ToLongFunction<T> count, String description) {
    FunctionCounter.builder(PREFIX + name, source, s -> count.applyAsLong(s)).description(description)
        .register(registry);
  }

  /** {@code missingKey} → {@code missing.key}: Micrometer's word separator, which Prometheus names turn into _. */
  static String dotted(String camelCase) {
    return camelCase.replaceAll("([a-z0-9])([A-Z])", "$1.$2").toLowerCase(Locale.ROOT);
  }

  @Override
  public void heldByPolicy(long millis) {
    delays.record(millis, TimeUnit.MILLISECONDS);
  }

  @Override
  public void upstreamAnswered(long nanos) {
    upstreamAnswers.record(nanos, TimeUnit.NANOSECONDS);
  }

  /** Sluice's metrics in the Prometheus text format (version 0.0.4). */
  public String scrape() {
    return registry.scrape();
  }

  private static Duration[] millis(long... bounds) {
    return Arrays.stream(bounds).mapToObj(Duration::ofMillis).toArray(Duration[]::new);
  }
}
