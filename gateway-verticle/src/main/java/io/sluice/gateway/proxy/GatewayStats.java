package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.RateLimiter;
import io.vertx.core.json.JsonObject;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/** Counters of what the gateway decided, served as JSON on the management port ({@code GET /stats}). */
public final class GatewayStats {

  public final LongAdder forwarded = new LongAdder();
  public final LongAdder delayed = new LongAdder();
  final LongAdder rejected = new LongAdder();
  final LongAdder missingKey = new LongAdder();
  public final LongAdder upstreamFailures = new LongAdder();
  final LongAdder limiterFailures = new LongAdder();
  final LongAdder overloaded = new LongAdder();
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

  public GatewayStats(CounterStore store, RateLimiter limiter) {
    this.store = store;
    this.limiter = limiter;
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
        .put("idleConnectionsClosed", idleClosed.sum())
        .put("tlsHandshakeFailures", tlsHandshakeFailures.sum())
        .put("openConnections", openConnections.get())
        .put("connectionsRefused", connectionsRefused.sum())
        .put("rejectedLocally", limiter.localDenials())
        .put("decidedAgainWhenLate", limiter.redecisions())
        .put("storeRoundTrips", store.remoteCalls())
        .put("limiterMode", store.mode().name())
        .put("limiterModeSwitches", store.modeSwitches())
        .put("storeFailures", store.storeFailures())
        .put("shadowRejected", shadowRejected.sum())
        .put("shadowDelayed", shadowDelayed.sum())
        .put("shadowMissingKey", shadowMissingKey.sum());
  }
}
