package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.StoreMode;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.testing.ForwardingCounterStore;

/**
 * A store that says its answers take at least {@code leadMillis} (as a remote store does), so the limiter decides
 * each request for an instant that far ahead, but answers as fast as the store it wraps.
 */
final class ExpectedLatencyStore extends ForwardingCounterStore {

  /** Long enough that a request answered at once clearly waits for the instant it was decided for. */
  static final long LEAD_MILLIS = 40;

  private final long leadMillis;

  ExpectedLatencyStore(CounterStore inner, long leadMillis) {
    super(inner);
    this.leadMillis = leadMillis;
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
