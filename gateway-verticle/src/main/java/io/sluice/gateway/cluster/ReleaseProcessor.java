package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;

/** Gives back a slot on the key's owner, for a request another policy denied. */
final class ReleaseProcessor implements EntryProcessor<String, WindowState, Boolean>, IdentifiedDataSerializable {

  private WindowSpec spec;
  private long nowMillis;
  private long bucket;

  /** For {@link ClusterSerialization}, which then reads the fields. */
  ReleaseProcessor() {
  }

  ReleaseProcessor(WindowSpec spec, long nowMillis, long bucket) {
    this.spec = spec;
    this.nowMillis = nowMillis;
    this.bucket = bucket;
  }

  @Override
  public Boolean process(Map.Entry<String, WindowState> entry) {
    WindowState state = entry.getValue();
    if (state == null) {
      return false;
    }
    state.release(bucket);
    ReserveProcessor.store(entry, state, spec, nowMillis);
    return true;
  }

  @Override
  public int getFactoryId() {
    return ClusterSerialization.FACTORY_ID;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.RELEASE;
  }

  @Override
  public void writeData(ObjectDataOutput out) throws IOException {
    ClusterSerialization.writeSpec(out, spec);
    out.writeLong(nowMillis);
    out.writeLong(bucket);
  }

  @Override
  public void readData(ObjectDataInput in) throws IOException {
    spec = ClusterSerialization.readSpec(in);
    nowMillis = in.readLong();
    bucket = in.readLong();
  }
}
