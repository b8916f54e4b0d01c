package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of what the gateway decided, served as JSON on the management port ({@code GET /stats}) and, with the
 * same meaning, on {@code GET /metrics} (see {@code metrics.GatewayMetrics}, which exposes every {@link LongAdder}
 * and {@link AtomicInteger} field of this class, so a counter added here appears there without more wiring).
 */
public final class GatewayStats {

  /** What a decision meant for one policy that counted the request (the {@code outcome} of each policy's count). */
  public enum PolicyOutcome {
    /** The request was forwarded upstream; every policy that counted it says so. */
    FORWARDED,
    /** This delaying policy held the request before it was forwarded (it is counted forwarded too, once it goes). */
    DELAYED,
    /** This policy refused the request (429). */
    REJECTED,
    /** This policy found no key on the request and refused it (401). */
    MISSING_KEY
  }

  /**
   * Durations measured on the request path, for the metrics' histograms; {@link #NONE} where nobody listens. Called
   * on event loops: implementations must be quick and never block.
   */
  public interface Timings {

    Timings NONE = new Timings() {
      @Override
      public void heldByPolicy(long millis) {
      }

      @Override
      public void upstreamAnswered(long nanos) {
      }
    };

    /** A request was held this long because a delaying policy said so. */
    void heldByPolicy(long millis);

    /** An upstream's response head arrived this long after the request head was sent. */
    void upstreamAnswered(long nanos);
  }

  /** Requests forwarded upstream. */
  public final LongAdder forwarded = new LongAdder();
  /** Requests held before forwarding because a delaying policy gave them a later slot (not: any wait at all). */
  public final LongAdder delayed = new LongAdder();
  final LongAdder rejected = new LongAdder();
  final LongAdder missingKey = new LongAdder();
  public final LongAdder upstreamFailures = new LongAdder();
  final LongAdder limiterFailures = new LongAdder();
  final LongAdder overloaded = new LongAdder();
  /** Requests refused with 503 limiter-full: a new key while the in-memory table held limiter.maxKeys live keys. */
  final LongAdder keysRefused = new LongAdder();
  public final LongAdder idleClosed = new LongAdder();
  public final LongAdder tlsHandshakeFailures = new LongAdder();
  /** Client connections open now, on every event loop of the gateway (checked against http.maxConnections). */
  public final AtomicInteger openConnections = new AtomicInteger();
  /** Connections closed as they were accepted because http.maxConnections were open. */
  public final LongAdder connectionsRefused = new LongAdder();
  /** Forwarded requests a shadow policy would have refused with 429 (see Policy.Mode). */
  final LongAdder shadowRejected = new LongAdder();
  /** Forwarded requests a delaying shadow policy would have held longer than they were held. */
  final LongAdder shadowDelayed = new LongAdder();
  /** Forwarded requests a shadow policy would have refused with 401 for want of a key. */
  final LongAdder shadowMissingKey = new LongAdder();
  private final CounterStore store;
  private final RateLimiter limiter;
  private final Timings timings;
  /**
   * Per policy name: a counter per {@link PolicyOutcome}, by ordinal. By name, so a policy's counts go on across a
   * change of its settings (see {@link RateLimiter#replacePolicies}); a name is added when a policy of that name is put
   * in force, and kept (policy names are few).
   */
  private final Map<String, LongAdder[]> perPolicy = new ConcurrentHashMap<>();

  public GatewayStats(CounterStore store, RateLimiter limiter) {
    this(store, limiter, Timings.NONE);
  }

  public GatewayStats(CounterStore store, RateLimiter limiter, Timings timings) {
    this.store = store;
    this.limiter = limiter;
    this.timings = timings;
    track(limiter.policies());
    limiter.onPoliciesReplaced(this::track);
  }

  private void track(List<Policy> policies) {
    for (Policy policy : policies) {
      perPolicy.computeIfAbsent(policy.name(), name -> {
        LongAdder[] counts = new LongAdder[PolicyOutcome.values().length];
        for (int i = 0; i < counts.length; i++) {
          counts[i] = new LongAdder();
        }
        return counts;
      });
    }
  }

  /** The policies counted per outcome: those of the gateway's limiter, in order. */
  public List<Policy> policies() {
    return limiter.policies();
  }

  /**
   * How many requests a policy of this name counted with {@code outcome} since start, under any of its versions (0 for
   * a policy never in force here).
   */
  public long decisions(String policyName, PolicyOutcome outcome) {
    LongAdder[] counts = perPolicy.get(policyName);
    return counts == null ? 0 : counts[outcome.ordinal()].sum();
  }

  /** An admitted request went upstream: forwarded for the gateway and for every policy that counted it. */
  public void countForwarded(Decision decision) {
    forwarded.increment();
    for (Decision.PolicyStatus status : decision.statuses()) {
      count(status.policy(), PolicyOutcome.FORWARDED);
    }
  }

  /**
   * An admitted request waits {@code waitMillis} before it may leave. Delayed only when a delaying policy said so
   * ({@link Decision#delayedBy()}); a request that waits for the instant it was decided for (the store's expected
   * latency ahead) or for a rejecting policy's slot a few ms ahead is not. Returns whether it counted, so an exchange
   * decided again counts one request once.
   */
  public boolean countHeld(Decision decision, long waitMillis) {
    Policy holder = decision.delayedBy();
    if (holder == null || waitMillis <= 0) {
      return false;
    }
    delayed.increment();
    count(holder, PolicyOutcome.DELAYED);
    timings.heldByPolicy(waitMillis);
    return true;
  }

  /** The upstream's response head arrived {@code nanos} after the request head left. */
  public void upstreamAnswered(long nanos) {
    timings.upstreamAnswered(nanos);
  }

  void countRejected(Decision denied) {
    rejected.increment();
    count(denied.policy(), PolicyOutcome.REJECTED);
  }

  void countMissingKey(Decision refused) {
    missingKey.increment();
    count(refused.policy(), PolicyOutcome.MISSING_KEY);
  }

  private void count(Policy policy, PolicyOutcome outcome) {
    LongAdder[] counts = perPolicy.get(policy.name());
    if (counts != null) {
      counts[outcome.ordinal()].increment();
    }
  }

  public JsonObject toJson() {
    return new JsonObject()
        .put("forwarded", forwarded.sum())
        .put("delayed", delayed.sum())
        .put("rejected", rejected.sum())
        .put("missingKey", missingKey.sum())
        .put("upstreamFailures", upstreamFailures.sum())
        .put("limiterFailures", limiterFailures.sum())
        .put("overloaded", overloaded.sum())
        .put("keysRefused", keysRefused.sum())
        .put("idleConnectionsClosed", idleClosed.sum())
        .put("tlsHandshakeFailures", tlsHandshakeFailures.sum())
        .put("openConnections", openConnections.get())
        .put("connectionsRefused", connectionsRefused.sum())
        .put("rejectedLocally", limiter.localDenials())
        .put("decidedAgainWhenLate", limiter.redecisions())
        .put("decidedAgainLateBy", lateness(limiter.redecisionsByLateness()))
        .put("staleOnStoreAnswer", limiter.staleOnAnswer())
        .put("storeRoundTrips", store.remoteCalls())
        .put("limiterMode", store.mode().name())
        .put("limiterModeSwitches", store.modeSwitches())
        .put("limiterPlacesAlone", store.placesAlone())
        .put("storeFailures", store.storeFailures())
        .put("storeEvictedKeys", store.evictedKeys())
        .put("shadowRejected", shadowRejected.sum())
        .put("shadowDelayed", shadowDelayed.sum())
        .put("shadowMissingKey", shadowMissingKey.sum());
  }

  /**
   * Counts by lateness class ({@link RateLimiter#LATE_CLASS_BOUNDS_MILLIS}), each named by its upper bound, the last
   * one "later": {@code {"10ms": …, "50ms": …, "250ms": …, "later": …}}.
   */
  private static JsonObject lateness(long[] counts) {
    JsonObject classes = new JsonObject();
    long[] bounds = RateLimiter.LATE_CLASS_BOUNDS_MILLIS;
    for (int i = 0; i < counts.length; i++) {
      classes.put(i < bounds.length ? bounds[i] + "ms" : "later", counts[i]);
    }
    return classes;
  }
}
