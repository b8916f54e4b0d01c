package io.sluice.gateway.cluster;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.CounterStoreContract;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The contract suite against a real two-member Hazelcast cluster built from the project's cluster.xml. */
@DisplayName("Hazelcast counter store (two members)")
class HazelcastCounterStoreTest extends CounterStoreContract {

  static final String MAP = "sluice.limits";
  private static Vertx vertx;
  private static HazelcastInstance first;
  private static HazelcastInstance second;
  private static HazelcastCounterStore store;
  private static HazelcastCounterStore peer;

  @BeforeAll
  static void startCluster() {
    Map<String, String> env = Map.of("SLUICE_CLUSTER_NAME", "store-test-" + UUID.randomUUID());
    first = Hazelcast.newHazelcastInstance(ClusterSetup.load(env, new Properties()));
    second = Hazelcast.newHazelcastInstance(ClusterSetup.load(env, new Properties()));
    assertEquals(2, first.getCluster().getMembers().size());
    vertx = Vertx.vertx();
    store = new HazelcastCounterStore(vertx, first, MAP);
    peer = new HazelcastCounterStore(vertx, second, MAP);
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

  @Test
  @DisplayName("entries carry a TTL, hold no raw token, and the map keeps a backup")
  void entriesExpireAndAreBackedUp() {
    String key = "ttl|" + UUID.randomUUID();
    store.reserve(key, new WindowSpec(3, 1_000), T0, T0, T0).await();
    IMap<String, WindowState> map = first.getMap(MAP);
    long expiration = map.getEntryView(key).getExpirationTime();
    assertTrue(expiration > 0 && expiration != Long.MAX_VALUE, "entry has a TTL");
    assertEquals(1, first.getConfig().getMapConfig(MAP).getBackupCount());
    assertTrue(first.getConfig().getMapConfig(MAP).getEvictionConfig().getSize() > 0, "map has a max size");
  }

  @Test
  @DisplayName("a store reports ready only while its member is in the cluster")
  void readiness() {
    assertTrue(store.isReady());
    assertTrue(store.remoteCalls() > 0);
    assertEquals(0, new HazelcastCounterStore(vertx, first, MAP).remoteCalls());
  }
}
