package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.map.ExtendedMapEntry;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the limiter's entry processors share: the window and the caller's clock, written to the wire first (see
 * {@link ClusterSerialization}), and how a changed state is stored back. Each runs on the member that owns the key,
 * as one atomic read-modify-write; deterministic in its fields, so the backup replays it to the same result.
 */
abstract class WindowProcessor<R> implements EntryProcessor<String, WindowState, R>, IdentifiedDataSerializable {

  /** Kept a little past expiry so clock differences between members never drop live state. */
  static final long TTL_MARGIN_MILLIS = 5_000;

  /** Processors deserialized in this JVM (by an owner or a backup), for tests of what crosses the cluster. */
  private static final LongAdder READ = new LongAdder();

  WindowSpec spec;
  long nowMillis;

  /** For {@link ClusterSerialization}, which then reads the fields. */
  WindowProcessor() {
  }

  WindowProcessor(WindowSpec spec, long nowMillis) {
    this.spec = spec;
    this.nowMillis = nowMillis;
  }

  /** The processor's own fields, after the window and the clock. */
  abstract void writeFields(ObjectDataOutput out) throws IOException;

  abstract void readFields(ObjectDataInput in) throws IOException;

  /** Writes the state back with a TTL that ends when the window no longer constrains anything. */
  void store(Map.Entry<String, WindowState> entry, WindowState state) {
    if (state.isEmpty()) {
      entry.setValue(null);
      return;
    }
    long ttl = Math.max(1, state.expiresAtMillis(spec) - nowMillis) + TTL_MARGIN_MILLIS;
    ((ExtendedMapEntry<String, WindowState>) entry).setValue(state, ttl, TimeUnit.MILLISECONDS);
  }

  @Override
  public final int getFactoryId() {
    return ClusterSerialization.FACTORY_ID;
  }

  @Override
  public final void writeData(ObjectDataOutput out) throws IOException {
    ClusterSerialization.writeSpec(out, spec);
    out.writeLong(nowMillis);
    writeFields(out);
  }

  @Override
  public final void readData(ObjectDataInput in) throws IOException {
    spec = ClusterSerialization.readSpec(in);
    nowMillis = in.readLong();
    readFields(in);
    READ.increment();
  }

  static long operationsRead() {
    return READ.sum();
  }
}
