package io.sluice.gateway.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.util.Map;

/** On the key's owner (and its backup): forgets every admission of the key (the admin API's reset). */
final class ResetProcessor extends WindowProcessor<Boolean> {

  ResetProcessor() {
  }

  ResetProcessor(WindowSpec spec, long nowMillis) {
    super(spec, nowMillis);
  }

  @Override
  public Boolean process(Map.Entry<String, WindowState> entry) {
    boolean had = entry.getValue() != null;
    entry.setValue(null);
    return had;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.RESET;
  }

  @Override
  void writeFields(ObjectDataOutput out) {
  }

  @Override
  void readFields(ObjectDataInput in) {
  }
}
