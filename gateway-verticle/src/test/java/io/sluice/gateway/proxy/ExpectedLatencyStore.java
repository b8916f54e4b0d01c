package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.StoreMode;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Future;

/**
 * A store that says its answers take at least {@code leadMillis} (as a remote store does), so the limiter decides
 * each request for an instant that far ahead, but answers as fast as the store it wraps.
 */
final class ExpectedLatencyStore implements CounterStore {

  /** Long enough that a request answered at once clearly waits for the instant it was decided for. */
  static final long LEAD_MILLIS = 40;

  private final CounterStore inner;
  private final long leadMillis;

  ExpectedLatencyStore(CounterStore inner, long leadMillis) {
    this.inner = inner;
    this.leadMillis = leadMillis;
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
  public boolean isReady() {
    return inner.isReady();
  }

  @Override
  public long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
    return Math.max(leadMillis, inner.expectedLatencyMillis(key, spec, nowMillis));
  }

  @Override
  public long remoteCalls() {
    return inner.remoteCalls();
  }

  @Override
  public long remoteOperations() {
    return inner.remoteOperations();
  }

  @Override
  public StoreMode.State mode() {
    return inner.mode();
  }

  @Override
  public long modeSwitches() {
    return inner.modeSwitches();
  }

  @Override
  public long storeFailures() {
    return inner.storeFailures();
  }
}
