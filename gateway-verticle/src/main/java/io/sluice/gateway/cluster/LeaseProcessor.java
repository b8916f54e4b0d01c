package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import io.sluice.gateway.limit.LeaseGrant;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.util.Map;

/** On the key's owner: returns a gateway's unused permits and grants it a new batch, in one atomic step. */
final class LeaseProcessor implements EntryProcessor<String, WindowState, LeaseGrant> {

  private static final long serialVersionUID = 1L;

  private final WindowSpec spec;
  private final long nowMillis;
  private final long startMillis;
  private final long endMillis;
  private final int wanted;
  private final long returnBucket;
  private final int returned;

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
}
