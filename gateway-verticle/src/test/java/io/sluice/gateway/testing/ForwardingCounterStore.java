package io.sluice.gateway.testing;

import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Future;

/**
 * A store that passes every counting call to another: tests extend it and override only what they change (what the
 * store says about itself, its latency or its mode).
 */
public class ForwardingCounterStore implements CounterStore {

  protected final CounterStore inner;

  public ForwardingCounterStore(CounterStore inner) {
    this.inner = inner;
  }

  @Override
  public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                     long latestMillis) {
    return inner.reserve(key, spec, nowMillis, notBeforeMillis, latestMillis);
  }

  @Override
  public Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket) {
    return inner.release(key, spec, nowMillis, bucket);
  }

  @Override
  public Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted) {
    return inner.addAdmissions(key, spec, nowMillis, admitted);
  }

  @Override
  public Future<Reservation> peek(String key, WindowSpec spec, long nowMillis) {
    return inner.peek(key, spec, nowMillis);
  }

  @Override
  public Future<Void> reset(String key, WindowSpec spec, long nowMillis) {
    return inner.reset(key, spec, nowMillis);
  }

  @Override
  public boolean isReady() {
    return inner.isReady();
  }
}
