package io.sluice.gateway.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.StoreFactory;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.FailoverCounterStore;
import io.vertx.core.Vertx;

import java.time.Clock;

/**
 * The one place the clustered store is put together: the launcher uses it, and so do the tests that run gateways
 * over Hazelcast, so they test the wiring production runs (counters in a Hazelcast map, high limits leased in
 * batches, every call on the decision path given {@code limiter.storeTimeout} before the gateway decides as
 * {@code limiter.onStoreFailure} says).
 */
public final class ClusteredStores {

  private ClusteredStores() {
  }

  /** The store of a clustered gateway, over the map {@code limiter.mapName()} of {@code hazelcast}. */
  public static CounterStore production(Vertx vertx, HazelcastInstance hazelcast, GatewayConfig.Limiter limiter) {
    CounterStore shared = new LeasingCounterStore(new HazelcastCounterStore(vertx, hazelcast, limiter.mapName()));
    return new FailoverCounterStore(vertx, shared, limiter.onStoreFailure(), limiter.storeTimeoutMillis(),
        () -> gateways(hazelcast), Clock.systemUTC(), limiter.maxKeys());
  }

  /** {@link #production} with the gateway's configuration. */
  public static StoreFactory production(HazelcastInstance hazelcast) {
    return (vertx, config) -> production(vertx, hazelcast, config.limiter());
  }

  /** The gateways this member sees in the cluster: its data members (a lite member or a client is no gateway). */
  static int gateways(HazelcastInstance hazelcast) {
    int members = 0;
    for (Member member : hazelcast.getCluster().getMembers()) {
      if (!member.isLiteMember()) {
        members++;
      }
    }
    return Math.max(1, members);
  }
}
