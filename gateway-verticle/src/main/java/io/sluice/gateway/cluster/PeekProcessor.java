package io.sluice.gateway.cluster;

import com.hazelcast.core.ReadOnly;
import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.util.Map;

/**
 * On the key's owner: what a request asking now would get, without taking it ({@link WindowState#peek} works on a
 * copy: the map keeps objects, so the stored state must not change). Read-only: no backup runs it.
 */
final class PeekProcessor extends WindowProcessor<Reservation> implements ReadOnly {

  PeekProcessor() {
  }

  PeekProcessor(WindowSpec spec, long nowMillis) {
    super(spec, nowMillis);
  }

  @Override
  public Reservation process(Map.Entry<String, WindowState> entry) {
    WindowState state = entry.getValue();
    return (state == null ? new WindowState() : state).peek(spec, nowMillis);
  }

  @Override
  public EntryProcessor<String, WindowState, Reservation> getBackupProcessor() {
    return null;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.PEEK;
  }

  @Override
  void writeFields(ObjectDataOutput out) {
  }

  @Override
  void readFields(ObjectDataInput in) {
  }
}
