package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;
import io.sluice.gateway.limit.LeaseGrant;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;

/** On the key's owner: returns a gateway's unused permits and grants it a new batch, in one atomic step. */
final class LeaseProcessor implements EntryProcessor<String, WindowState, LeaseGrant>, IdentifiedDataSerializable {

  private WindowSpec spec;
  private long nowMillis;
  private long startMillis;
  private long endMillis;
  private int wanted;
  private long returnBucket;
  private int returned;

  /** For {@link ClusterSerialization}, which then reads the fields. */
  LeaseProcessor() {
  }

  LeaseProcessor(WindowSpec spec, long nowMillis, long startMillis, long endMillis, int wanted, long returnBucket,
                 int returned) {
    this.spec = spec;
    this.nowMillis = nowMillis;
    this.startMillis = startMillis;
    this.endMillis = endMillis;
    this.wanted = wanted;
    this.returnBucket = returnBucket;
    this.returned = returned;
  }

  @Override
  public LeaseGrant process(Map.Entry<String, WindowState> entry) {
    WindowState state = entry.getValue() == null ? new WindowState() : entry.getValue();
    LeaseGrant grant = state.lease(spec, nowMillis, startMillis, endMillis, wanted, returnBucket, returned);
    ReserveProcessor.store(entry, state, spec, nowMillis);
    return grant;
  }

  @Override
  public int getFactoryId() {
    return ClusterSerialization.FACTORY_ID;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.LEASE;
  }

  @Override
  public void writeData(ObjectDataOutput out) throws IOException {
    ClusterSerialization.writeSpec(out, spec);
    out.writeLong(nowMillis);
    out.writeLong(startMillis);
    out.writeLong(endMillis);
    out.writeInt(wanted);
    out.writeLong(returnBucket);
    out.writeInt(returned);
  }

  @Override
  public void readData(ObjectDataInput in) throws IOException {
    spec = ClusterSerialization.readSpec(in);
    nowMillis = in.readLong();
    startMillis = in.readLong();
    endMillis = in.readLong();
    wanted = in.readInt();
    returnBucket = in.readLong();
    returned = in.readInt();
  }
}
