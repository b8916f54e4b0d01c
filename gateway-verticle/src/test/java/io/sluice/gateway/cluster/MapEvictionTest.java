package io.sluice.gateway.cluster;

import ch.qos.logback.classic.Level;
import com.hazelcast.config.Config;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Hazelcast store's bound is the map's eviction (cluster.xml: LRU, a size per member), not limiter.maxKeys: a full
 * map drops entries to take new keys. That must not be silent: each eviction on the member is counted and logged.
 * Here the map's size is 2 entries per partition, so a few thousand keys are enough.
 */
@DisplayName("Hazelcast store: evictions from a full map are counted and logged")
class MapEvictionTest {

  private static final String MAP = "sluice.evict-test";
  private static final int PER_PARTITION = 2;
  private static final long WAIT_MILLIS = 10_000;
  private static Vertx vertx;
  private static HazelcastInstance member;

  @BeforeAll
  static void start() {
    Config config = ClusterSetup.load(Map.of("SLUICE_CLUSTER_NAME", "evict-" + UUID.randomUUID()), new Properties());
    MapConfig small = new MapConfig(config.getMapConfig(HazelcastCounterStoreTest.MAP)).setName(MAP);
    small.getEvictionConfig().setMaxSizePolicy(MaxSizePolicy.PER_PARTITION).setSize(PER_PARTITION);
    config.addMapConfig(small);
    member = Hazelcast.newHazelcastInstance(config);
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() {
    vertx.close().await();
    member.shutdown();
  }

  @Test
  @DisplayName("more live keys than the map holds: the map stays bounded, the store counts what was evicted and logs "
      + "one line")
  void evictionsAreCountedAndLogged() throws InterruptedException {
    try (LogCapture log = LogCapture.of(HazelcastCounterStore.class)) {
      HazelcastCounterStore store = new HazelcastCounterStore(vertx, member, MAP);
      WindowSpec minute = new WindowSpec(5, 60_000);
      long now = System.currentTimeMillis();
      int keys = 3_000;
      List<Future<?>> reservations = new ArrayList<>();
      for (int i = 0; i < keys; i++) {
        reservations.add(store.reserve("flood|" + i, minute, now, now, now));
      }
      Future.join(new ArrayList<>(reservations)).await();
      int held = member.getMap(MAP).size();
      long deadline = System.currentTimeMillis() + WAIT_MILLIS;
      while (store.evictedKeys() < keys - held && System.currentTimeMillis() < deadline) {
        Thread.sleep(20);
      }

      int partitions = member.getPartitionService().getPartitions().size();
      assertTrue(held <= partitions * PER_PARTITION, held + " entries held");
      assertEquals(keys - held, store.evictedKeys(), "every key the map no longer holds was counted as evicted");
      List<String> warnings = log.messages(Level.WARN);
      assertEquals(1, warnings.size(), warnings::toString);
      assertTrue(warnings.get(0).contains("evicted from map '" + MAP + "'"), warnings.get(0));
    }
  }
}
