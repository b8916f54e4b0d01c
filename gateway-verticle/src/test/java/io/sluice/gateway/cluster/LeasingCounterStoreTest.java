package io.sluice.gateway.cluster;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.CounterStoreContract;
import io.sluice.gateway.limit.OnStoreFailure;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The contract suite against the store clustered gateways run ({@link ClusteredStores#production}): leases over a
 * real two-member Hazelcast cluster built from the project's cluster.xml, one gateway's store on each member.
 */
@DisplayName("Leasing counter store (two members, as production wires it)")
class LeasingCounterStoreTest extends CounterStoreContract {

  private static Vertx vertx;
  private static HazelcastInstance first;
  private static HazelcastInstance second;
  private static CounterStore store;
  private static CounterStore peer;

  @BeforeAll
  static void startCluster() {
    List<HazelcastInstance> members = TestMembers.start(2, "leasing-test");
    first = members.get(0);
    second = members.get(1);
    vertx = Vertx.vertx();
    // a generous store timeout: this suite is about the counters, FailoverCounterStoreTest about their failures
    GatewayConfig.Limiter limiter = new GatewayConfig.Limiter(HazelcastCounterStoreTest.MAP, 10_000,
        OnStoreFailure.LOCAL, 1_000);
    store = ClusteredStores.production(vertx, first, limiter);
    peer = ClusteredStores.production(vertx, second, limiter);
  }

  @AfterAll
  static void stopCluster() {
    vertx.close().await();
    second.shutdown();
    first.shutdown();
  }

  @Override
  protected CounterStore store() {
    return store;
  }

  @Override
  protected CounterStore peer() {
    return peer;
  }

  /** At most one batch fetched ahead, and a batch is at most 1/20 of the limit. */
  @Override
  protected int heldAheadPerCaller(WindowSpec spec) {
    return spec.requests() / 20;
  }

  @Test
  @DisplayName("a flood of distinct keys on a leased limit keeps no lease past its batches: the leases held stay "
      + "near the keys leased for within one lease's time, not one per key ever seen")
  void leasesOfEndedBatchesAreDropped() {
    LeasingCounterStore leasing = new LeasingCounterStore(new HazelcastCounterStore(vertx, first,
        HazelcastCounterStoreTest.MAP));
    WindowSpec leased = new WindowSpec(1_000, 1_000);
    String flood = "flood-" + UUID.randomUUID() + "|";
    int keys = 3_000;
    long now = System.currentTimeMillis();
    for (int i = 0; i < keys; i++) {
      // one new key per millisecond: a batch lasts at most a lease (20 ms), so all but the last few have ended
      long at = now + i;
      assertTrue(leasing.reserve(flood + i, leased, at, at, at).await().granted());
    }
    assertTrue(leasing.leaseCount() < 200, leasing.leaseCount() + " leases held after " + keys + " keys");
  }
}
