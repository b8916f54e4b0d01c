package io.sluice.gateway.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;

/** Gives back a slot on the key's owner, for a request another policy denied. */
final class ReleaseProcessor extends WindowProcessor<Boolean> {

  private long bucket;

  ReleaseProcessor() {
  }

  ReleaseProcessor(WindowSpec spec, long nowMillis, long bucket) {
    super(spec, nowMillis);
    this.bucket = bucket;
  }

  @Override
  public Boolean process(Map.Entry<String, WindowState> entry) {
    WindowState state = entry.getValue();
    if (state == null) {
      return false;
    }
    state.release(bucket);
    store(entry, state);
    return true;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.RELEASE;
  }

  @Override
  void writeFields(ObjectDataOutput out) throws IOException {
    out.writeLong(bucket);
  }

  @Override
  void readFields(ObjectDataInput in) throws IOException {
    bucket = in.readLong();
  }
}
