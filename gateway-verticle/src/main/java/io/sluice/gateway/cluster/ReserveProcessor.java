package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.ExtendedMapEntry;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs on the member that owns the key: one atomic read-modify-write of a key's window, which also renews the
 * entry's time-to-live. Deterministic in its arguments, so the backup replays it to the same result.
 */
final class ReserveProcessor implements EntryProcessor<String, WindowState, Reservation>,
    IdentifiedDataSerializable {

  /** Kept a little past expiry so clock differences between members never drop live state. */
  static final long TTL_MARGIN_MILLIS = 5_000;

  private WindowSpec spec;
  private long nowMillis;
  private long notBeforeMillis;
  private long latestMillis;

  /** For {@link ClusterSerialization}, which then reads the fields. */
  ReserveProcessor() {
  }

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

  @Override
  public int getFactoryId() {
    return ClusterSerialization.FACTORY_ID;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.RESERVE;
  }

  @Override
  public void writeData(ObjectDataOutput out) throws IOException {
    ClusterSerialization.writeSpec(out, spec);
    out.writeLong(nowMillis);
    out.writeLong(notBeforeMillis);
    out.writeLong(latestMillis);
  }

  @Override
  public void readData(ObjectDataInput in) throws IOException {
    spec = ClusterSerialization.readSpec(in);
    nowMillis = in.readLong();
    notBeforeMillis = in.readLong();
    latestMillis = in.readLong();
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
