package io.sluice.gateway.limit;

import io.vertx.core.Future;

/**
 * Where limiter state lives. Each call is one atomic step on one key; implementations never block the caller's
 * event loop and complete their futures on the caller's Vert.x context.
 */
public interface CounterStore {

  /** Reserves the earliest slot for {@code key} between {@code notBeforeMillis} and {@code latestMillis}. */
  Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis, long latestMillis);

  /** Returns a slot reserved earlier, for a request that will not be forwarded. */
  Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket);

  /** Whether the store can take decisions now (for readiness). */
  default boolean isReady() {
    return true;
  }

  /**
   * How long a reservation for this key is expected to take, generously (a high percentile); 0 when it will be
   * answered locally (a local store, or a batch of permits already in hand).
   */
  default long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
    return 0;
  }

  /** Round trips to remote state since start (0 for local stores); exposed for benchmarks. */
  default long remoteCalls() {
    return 0;
  }
}
