package io.sluice.gateway.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.StoreFactory;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.FailoverCounterStore;
import io.sluice.gateway.limit.Seat;
import io.sluice.gateway.policy.PolicyStore;
import io.vertx.core.Vertx;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * The one place the clustered store is put together: the launcher uses it, and so do the tests that run gateways
 * over Hazelcast, so they test the wiring production runs (counters in a Hazelcast map, with {@code limiter.batch} the
 * calls of one event-loop turn sent together, high limits leased in batches, every call on the decision path given
 * {@code limiter.storeTimeout} before the gateway decides as {@code limiter.onStoreFailure} says).
 */
public final class ClusteredStores {

  private ClusteredStores() {
  }

  /** The store of a clustered gateway, over the map {@code limiter.mapName()} of {@code hazelcast}. */
  public static CounterStore production(Vertx vertx, HazelcastInstance hazelcast, GatewayConfig.Limiter limiter) {
    HazelcastCounterStore counters = limiter.batch()
        ? HazelcastCounterStore.batching(vertx, hazelcast, limiter.mapName())
        : new HazelcastCounterStore(vertx, hazelcast, limiter.mapName());
    CounterStore shared = new LeasingCounterStore(counters);
    return new FailoverCounterStore(vertx, shared, limiter.onStoreFailure(), limiter.storeTimeoutMillis(),
        () -> seat(hazelcast), Clock.systemUTC(), limiter.maxKeys());
  }

  /**
   * {@link #production} with the gateway's configuration, and the cluster's policy document in {@code hazelcast}
   * ({@link HazelcastPolicyStore}).
   */
  public static StoreFactory production(HazelcastInstance hazelcast) {
    return new StoreFactory() {
      @Override
      public CounterStore create(Vertx vertx, GatewayConfig config) {
        return production(vertx, hazelcast, config.limiter());
      }

      @Override
      public PolicyStore policyStore(Vertx vertx) {
        return new HazelcastPolicyStore(vertx, hazelcast);
      }
    };
  }

  /**
   * This member's seat among the gateways it sees in the cluster: its data members (a lite member or a client is no
   * gateway), by UUID. Members that see the same list agree on every seat; while a member joins or leaves they may
   * briefly not (Hazelcast updates each member's list within milliseconds, this is read every probe interval). With
   * an expected number of gateways ({@code SLUICE_CLUSTER_EXPECTED_GATEWAYS}), the seat is one of at least that many:
   * a gateway cut off with a few others splits the limit as if all were there, so the small side of a split admits
   * only its members' parts, not a whole limit.
   */
  static Seat seat(HazelcastInstance hazelcast) {
    List<UUID> gateways = new ArrayList<>();
    for (Member member : hazelcast.getCluster().getMembers()) {
      if (!member.isLiteMember()) {
        gateways.add(member.getUuid());
      }
    }
    Member self = hazelcast.getCluster().getLocalMember();
    String expected = self.getAttribute(ClusterSetup.EXPECTED_GATEWAYS_ATTRIBUTE);
    return Seat.of(self.getUuid(), gateways, expected == null ? 1 : Integer.parseInt(expected));
  }
}
