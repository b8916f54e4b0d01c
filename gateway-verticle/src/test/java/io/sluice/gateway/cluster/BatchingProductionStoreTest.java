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

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The contract suite against the store clustered gateways run with {@code limiter.batch} on: the failover guard over
 * leases over the batching store, on a real two-member cluster, one gateway's store on each member.
 */
@DisplayName("Production counter store with limiter.batch (two members)")
class BatchingProductionStoreTest extends CounterStoreContract {

  private static Vertx vertx;
  private static HazelcastInstance first;
  private static HazelcastInstance second;
  private static CounterStore store;
  private static CounterStore peer;

  @BeforeAll
  static void startCluster() {
    List<HazelcastInstance> members = TestMembers.start(2, "batch-production");
    first = members.get(0);
    second = members.get(1);
    vertx = Vertx.vertx();
    // a generous store timeout: this suite is about the counters, BatchMemberLeavesTest about their failures
    GatewayConfig.Limiter limiter = new GatewayConfig.Limiter(HazelcastCounterStoreTest.MAP, 10_000,
        OnStoreFailure.LOCAL, 1_000, true);
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
}
