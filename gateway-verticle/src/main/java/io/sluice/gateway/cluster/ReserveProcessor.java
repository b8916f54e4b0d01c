package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.ExtendedMapEntry;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs on the member that owns the key: one atomic read-modify-write of a key's window, which also renews the
 * entry's time-to-live. Deterministic in its arguments, so the backup replays it to the same result.
 */
final class ReserveProcessor implements EntryProcessor<String, WindowState, Reservation> {

  private static final long serialVersionUID = 1L;
  /** Kept a little past expiry so clock differences between members never drop live state. */
  static final long TTL_MARGIN_MILLIS = 5_000;

  private final WindowSpec spec;
  private final long nowMillis;
  private final long notBeforeMillis;
  private final long latestMillis;

  ReserveProcessor(WindowSpec spec, long nowMillis, long notBeforeMillis, long latestMillis) {
    this.spec = spec;
    this.nowMillis = nowMillis;
    this.notBeforeMillis = notBeforeMillis;
    this.latestMillis = latestMillis;
  }

  @Override
  public Reservation process(Map.Entry<String, WindowState> entry) {
    WindowState state = entry.getValue() == null ? new WindowState() : entry.getValue();
    Reservation reservation = state.reserve(spec, nowMillis, notBeforeMillis, latestMillis);
    store(entry, state, spec, nowMillis);
    return reservation;
  }

  /** Writes the state back with a TTL that ends when the window no longer constrains anything. */
  static void store(Map.Entry<String, WindowState> entry, WindowState state, WindowSpec spec, long nowMillis) {
    if (state.isEmpty()) {
      entry.setValue(null);
      return;
    }
    long ttl = Math.max(1, state.expiresAtMillis(spec) - nowMillis) + TTL_MARGIN_MILLIS;
    ((ExtendedMapEntry<String, WindowState>) entry).setValue(state, ttl, TimeUnit.MILLISECONDS);
  }
}
