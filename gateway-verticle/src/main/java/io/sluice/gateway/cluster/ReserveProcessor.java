package io.sluice.gateway.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;

/** On the key's owner: reserves the earliest slot in the window between two instants, if any. */
final class ReserveProcessor extends WindowProcessor<Reservation> {

  private long notBeforeMillis;
  private long latestMillis;

  ReserveProcessor() {
  }

  ReserveProcessor(WindowSpec spec, long nowMillis, long notBeforeMillis, long latestMillis) {
    super(spec, nowMillis);
    this.notBeforeMillis = notBeforeMillis;
    this.latestMillis = latestMillis;
  }

  @Override
  public Reservation process(Map.Entry<String, WindowState> entry) {
    WindowState state = entry.getValue() == null ? new WindowState() : entry.getValue();
    Reservation reservation = state.reserve(spec, nowMillis, notBeforeMillis, latestMillis);
    store(entry, state);
    return reservation;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.RESERVE;
  }

  @Override
  void writeFields(ObjectDataOutput out) throws IOException {
    out.writeLong(notBeforeMillis);
    out.writeLong(latestMillis);
  }

  @Override
  void readFields(ObjectDataInput in) throws IOException {
    notBeforeMillis = in.readLong();
    latestMillis = in.readLong();
  }
}
