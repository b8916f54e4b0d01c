package io.sluice.gateway.cluster;

import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.StoreFactory;
import io.sluice.gateway.limit.CounterStore;
import io.vertx.core.Vertx;

/**
 * The one place the clustered store is put together: the launcher uses it, and so do the tests that run gateways
 * over Hazelcast, so they test the wiring production runs (counters in a Hazelcast map, high limits leased in
 * batches).
 */
public final class ClusteredStores {

  private ClusteredStores() {
  }

  /** The store of a clustered gateway, over the map {@code mapName} of {@code hazelcast}. */
  public static CounterStore production(Vertx vertx, HazelcastInstance hazelcast, String mapName) {
    return new LeasingCounterStore(new HazelcastCounterStore(vertx, hazelcast, mapName));
  }

  /** {@link #production} on the map the gateway's configuration names ({@code limiter.mapName}). */
  public static StoreFactory production(HazelcastInstance hazelcast) {
    return (vertx, config) -> production(vertx, hazelcast, config.limiter().mapName());
  }
}
