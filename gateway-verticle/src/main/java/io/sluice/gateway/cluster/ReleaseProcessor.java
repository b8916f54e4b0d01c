package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;

import java.util.Map;

/** Gives back a slot on the key's owner, for a request another policy denied. */
final class ReleaseProcessor implements EntryProcessor<String, WindowState, Boolean> {

  private static final long serialVersionUID = 1L;

  private final WindowSpec spec;
  private final long nowMillis;
  private final long bucket;

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
}
