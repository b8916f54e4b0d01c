package io.sluice.gateway.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;

/**
 * On the key's owner: adds admissions a gateway made without the store (see
 * {@link io.sluice.gateway.limit.FailoverCounterStore}). Empty, it is a probe: the owner answers and nothing changes.
 */
final class AddAdmissionsProcessor extends WindowProcessor<Boolean> {

  private WindowState admitted;

  AddAdmissionsProcessor() {
  }

  AddAdmissionsProcessor(WindowSpec spec, long nowMillis, WindowState admitted) {
    super(spec, nowMillis);
    this.admitted = admitted;
  }

  @Override
  public Boolean process(Map.Entry<String, WindowState> entry) {
    if (admitted.isEmpty()) {
      return false;
    }
    WindowState state = entry.getValue() == null ? new WindowState() : entry.getValue();
    state.addAll(spec, nowMillis, admitted);
    store(entry, state);
    return true;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.ADD_ADMISSIONS;
  }

  @Override
  void writeFields(ObjectDataOutput out) throws IOException {
    admitted.writeTo(out);
  }

  @Override
  void readFields(ObjectDataInput in) throws IOException {
    admitted = WindowState.readFrom(in);
  }
}
