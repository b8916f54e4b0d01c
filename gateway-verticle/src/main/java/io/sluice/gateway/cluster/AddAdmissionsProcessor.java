package io.sluice.gateway.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;

/**
 * On the key's owner: adds admissions a gateway made without the store (see
 * {@link io.sluice.gateway.limit.FailoverCounterStore}). Empty, it is a probe: the key's state is written back as it
 * is, so the answer comes only once the owner and its backup have it, as for a decision.
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
    WindowState state = entry.getValue();
    if (admitted.isEmpty()) {
      if (state != null) {
        // written back unchanged, so the probe also waits for the backup, as every decision does: a suspended
        // backup member stalls decisions on this key, and must fail the probe too
        store(entry, state);
      }
      return false;
    }
    state = state == null ? new WindowState() : state;
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
