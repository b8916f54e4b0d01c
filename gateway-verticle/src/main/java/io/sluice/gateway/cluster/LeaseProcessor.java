package io.sluice.gateway.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import io.sluice.gateway.limit.LeaseGrant;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.Map;

/** On the key's owner: returns a gateway's unused permits and grants it a new batch, in one atomic step. */
final class LeaseProcessor extends WindowProcessor<LeaseGrant> {

  private long startMillis;
  private long endMillis;
  private int wanted;
  private long returnBucket;
  private int returned;

  LeaseProcessor() {
  }

  LeaseProcessor(WindowSpec spec, long nowMillis, long startMillis, long endMillis, int wanted, long returnBucket,
                 int returned) {
    super(spec, nowMillis);
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
    store(entry, state);
    return grant;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.LEASE;
  }

  @Override
  void writeFields(ObjectDataOutput out) throws IOException {
    out.writeLong(startMillis);
    out.writeLong(endMillis);
    out.writeInt(wanted);
    out.writeLong(returnBucket);
    out.writeInt(returned);
  }

  @Override
  void readFields(ObjectDataInput in) throws IOException {
    startMillis = in.readLong();
    endMillis = in.readLong();
    wanted = in.readInt();
    returnBucket = in.readLong();
    returned = in.readInt();
  }
}
