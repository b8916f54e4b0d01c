package io.sluice.gateway.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.SplitBrainProtectionConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.internal.serialization.Data;
import com.hazelcast.internal.serialization.SerializationService;
import com.hazelcast.spi.impl.SerializationServiceSupport;
import com.hazelcast.spi.impl.merge.MapMergingEntryImpl;
import com.hazelcast.splitbrainprotection.SplitBrainProtectionException;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.OnStoreFailure;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.Seat;
import io.sluice.gateway.limit.StoreMode;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the cluster configuration sets up for a split brain (the merge policy of the limiter's map, and the majority
 * its counters need when the expected number of gateways is given), and what a gateway cut off from that majority
 * does: its store calls fail at once, and it decides alone on its part of each limit.
 */
@DisplayName("Split brain: merge policy and split-brain protection of the limiter's counters")
class SplitBrainSetupTest {

  private static Config load(Map<String, String> env, Properties properties) {
    Map<String, String> withName = new java.util.HashMap<>(env);
    withName.put("SLUICE_CLUSTER_NAME", "split-setup-" + UUID.randomUUID());
    return ClusterSetup.load(withName, properties);
  }

  @Nested
  @DisplayName("configuration")
  class Configuration {

    @Test
    @DisplayName("cluster.xml merges sluice.limits with KeepHigherCountsMergePolicy; protection is off by default")
    void defaults() {
      Config config = load(Map.of(), new Properties());

      assertEquals(KeepHigherCountsMergePolicy.class.getName(),
          config.getMapConfig(ClusterSetup.LIMITS_MAP).getMergePolicyConfig().getPolicy());
      SplitBrainProtectionConfig protection =
          config.getSplitBrainProtectionConfigs().get(ClusterSetup.LIMITS_PROTECTION);
      assertFalse(protection.isEnabled(), "one gateway has no minority side");
      assertEquals(ClusterSetup.LIMITS_PROTECTION,
          config.getMapConfig(ClusterSetup.LIMITS_MAP).getSplitBrainProtectionName());
      assertNull(config.getMemberAttributeConfig().getAttribute(ClusterSetup.EXPECTED_GATEWAYS_ATTRIBUTE));
    }

    @Test
    @DisplayName("SLUICE_CLUSTER_EXPECTED_GATEWAYS=N protects the counters with a majority, floor(N/2) + 1 members")
    void majorityOfExpected() {
      for (int[] expectedAndMinimum : new int[][] {{2, 2}, {3, 2}, {4, 3}, {5, 3}, {7, 4}}) {
        Config config = load(Map.of("SLUICE_CLUSTER_EXPECTED_GATEWAYS", Integer.toString(expectedAndMinimum[0])),
            new Properties());
        SplitBrainProtectionConfig protection =
            config.getSplitBrainProtectionConfigs().get(ClusterSetup.LIMITS_PROTECTION);
        assertTrue(protection.isEnabled());
        assertEquals(expectedAndMinimum[1], protection.getMinimumClusterSize(), expectedAndMinimum[0] + " expected");
        assertEquals(Integer.toString(expectedAndMinimum[0]),
            config.getMemberAttributeConfig().getAttribute(ClusterSetup.EXPECTED_GATEWAYS_ATTRIBUTE));
      }
      Properties properties = new Properties();
      properties.setProperty("sluice.cluster.expectedGateways", "1");
      assertFalse(load(Map.of("SLUICE_CLUSTER_EXPECTED_GATEWAYS", "5"), properties).getSplitBrainProtectionConfigs()
          .get(ClusterSetup.LIMITS_PROTECTION).isEnabled(), "the system property wins, and 1 protects nothing");
    }

    @Test
    @DisplayName("an expected number that is not a whole number >= 1 is refused, naming the setting")
    void badExpected() {
      for (String bad : new String[] {"three", "0", "-2", "2.5"}) {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
            () -> load(Map.of("SLUICE_CLUSTER_EXPECTED_GATEWAYS", bad), new Properties()));
        assertTrue(refused.getMessage().contains("SLUICE_CLUSTER_EXPECTED_GATEWAYS")
            && refused.getMessage().contains("'" + bad + "'"), refused.getMessage());
      }
    }

    @Test
    @DisplayName("SLUICE_CLUSTER_PORT puts the member on exactly that port (the others list it); a bad one is refused")
    void memberPort() {
      Config config = load(Map.of("SLUICE_CLUSTER_PORT", "5799"), new Properties());
      assertEquals(5799, config.getNetworkConfig().getPort());
      assertFalse(config.getNetworkConfig().isPortAutoIncrement());
      assertTrue(load(Map.of(), new Properties()).getNetworkConfig().isPortAutoIncrement(), "cluster.xml's range");
      for (String bad : new String[] {"http", "0", "70000"}) {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
            () -> load(Map.of("SLUICE_CLUSTER_PORT", bad), new Properties()));
        assertTrue(refused.getMessage().contains("SLUICE_CLUSTER_PORT"), refused.getMessage());
      }
    }

    @Test
    @DisplayName("-Dhazelcast.<property> overrides the file's property (failure detection for tests, a slow network)")
    void systemPropertiesOverrideTheFile() {
      Properties properties = new Properties();
      properties.setProperty("hazelcast.max.no.heartbeat.seconds", "4");

      assertEquals("4", load(Map.of(), properties).getProperty("hazelcast.max.no.heartbeat.seconds"));
      assertEquals("15", load(Map.of(), new Properties()).getProperty("hazelcast.max.no.heartbeat.seconds"));
    }
  }

  @Nested
  @DisplayName("a gateway alone where 3 are expected (the minority side of a split)")
  @TestInstance(TestInstance.Lifecycle.PER_CLASS)
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  class Minority {

    private static final int LIMIT = 10;
    /** Far longer than the test waits for an answer: the protection must fail the call, not the timeout. */
    private static final long STORE_TIMEOUT_MILLIS = 30_000;
    private final WindowSpec tenPerMinute = new WindowSpec(LIMIT, 60_000);
    private HazelcastInstance member;
    private Vertx vertx;

    @BeforeAll
    void start() {
      member = Hazelcast.newHazelcastInstance(load(Map.of("SLUICE_CLUSTER_EXPECTED_GATEWAYS", "3"),
          new Properties()));
      vertx = Vertx.vertx();
    }

    @AfterAll
    void stop() {
      vertx.close().await();
      member.shutdown();
    }

    @Test
    @DisplayName("a store call fails at once with SplitBrainProtectionException")
    void callsFailAtOnce() throws Exception {
      CounterStore bare = new HazelcastCounterStore(vertx, member, ClusterSetup.LIMITS_MAP);
      long now = System.currentTimeMillis();
      long started = System.nanoTime();

      Throwable failure = bare.reserve("minority|bare", tenPerMinute, now, now, now)
          .toCompletionStage().toCompletableFuture().handle((r, f) -> f).get(10, TimeUnit.SECONDS);

      assertInstanceOf(SplitBrainProtectionException.class, failure);
      assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(2), "failed fast, not after a timeout");
    }

    @Test
    @DisplayName("the production store decides alone at once (long before storeTimeout), admitting its part as 1 of 3 "
        + "gateways: ceil(10/3) = 4 of 10")
    void decidesAloneOnItsPart() throws Exception {
      assertEquals(new Seat(0, 3), ClusteredStores.seat(member), "one of the 3 expected, though it sees only itself");
      CounterStore store = ClusteredStores.production(vertx, member,
          new GatewayConfig.Limiter(ClusterSetup.LIMITS_MAP, 1_000, OnStoreFailure.LOCAL, STORE_TIMEOUT_MILLIS));
      long now = System.currentTimeMillis();
      long started = System.nanoTime();

      List<Future<Reservation>> answers = new ArrayList<>();
      vertx.runOnContext(v -> {
        for (int i = 0; i < LIMIT; i++) {
          answers.add(store.reserve("minority|production", tenPerMinute, now, now, now));
        }
      });
      while (answers.size() < LIMIT) {
        Thread.sleep(5);
      }
      Future.all(answers).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);

      assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(5), "answered before any timeout");
      assertEquals(StoreMode.State.DEGRADED, store.mode());
      assertEquals(4, answers.stream().filter(a -> a.result().granted()).count(), "its part, not the whole limit");
    }
  }

  @Nested
  @DisplayName("KeepHigherCountsMergePolicy on Hazelcast's own merging entries")
  @TestInstance(TestInstance.Lifecycle.PER_CLASS)
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  class Policy {

    private static final long T0 = 1_800_000_000_000L;
    private final WindowSpec tenPerSecond = new WindowSpec(10, 1_000);
    private final KeepHigherCountsMergePolicy<MapMergingEntryImpl<Object, WindowState>> policy = new KeepHigherCountsMergePolicy<>();
    private HazelcastInstance member;
    private SerializationService serialization;

    @BeforeAll
    void start() {
      member = Hazelcast.newHazelcastInstance(load(Map.of(), new Properties()));
      serialization = ((SerializationServiceSupport) member).getSerializationService();
    }

    @AfterAll
    void stop() {
      member.shutdown();
    }

    @Test
    @DisplayName("the larger count per bucket, with the later expiry of the two entries")
    void mergesAndKeepsTheLaterExpiry() {
      WindowState minority = admitted(T0, 4);
      WindowState majority = admitted(T0, 3);
      admit(majority, T0 + 500, 5);
      MapMergingEntryImpl<Object, WindowState> merging = entry(minority, T0 + 6_000);
      MapMergingEntryImpl<Object, WindowState> existing = entry(majority, T0 + 7_000);

      WindowState merged = (WindowState) policy.merge(merging, existing);

      assertEquals(4, merged.countIn(tenPerSecond.bucketOf(T0)));
      assertEquals(5, merged.countIn(tenPerSecond.bucketOf(T0 + 500)));
      assertEquals(T0 + 7_000, merging.getExpirationTime(), "Hazelcast gives the merged entry this expiry");
      assertEquals(existing.getTtl(), merging.getTtl());
    }

    @Test
    @DisplayName("a side that covers the other stays as it is (same value, its own expiry); a side alone is kept")
    void coveredOrAlone() {
      WindowState majority = admitted(T0, 4);
      admit(majority, T0 + 300, 2);
      MapMergingEntryImpl<Object, WindowState> merging = entry(admitted(T0, 4), T0 + 6_000);
      MapMergingEntryImpl<Object, WindowState> existing = entry(majority, T0 + 7_000);

      assertSame(existing.getRawValue(), policy.merge(merging, existing));
      assertEquals(T0 + 6_000, merging.getExpirationTime(), "untouched: Hazelcast keeps the existing entry's expiry");
      assertSame(merging.getRawValue(), policy.merge(merging, null));
      assertSame(existing.getRawValue(), policy.merge(null, existing));
    }

    @Test
    @DisplayName("travels as Sluice's own DataSerializable, as merge operations carry it between members")
    void serializable() {
      Data data = serialization.toData(policy);
      assertInstanceOf(KeepHigherCountsMergePolicy.class, serialization.toObject(data));
    }

    private MapMergingEntryImpl<Object, WindowState> entry(WindowState state, long expiresAt) {
      MapMergingEntryImpl<Object, WindowState> entry = new MapMergingEntryImpl<>(serialization);
      return entry.setKey(serialization.toData("key")).setValue(serialization.toData(state))
          .setLastUpdateTime(T0).setTtl(expiresAt - T0).setExpirationTime(expiresAt);
    }

    private WindowState admitted(long atMillis, int count) {
      WindowState state = new WindowState();
      admit(state, atMillis, count);
      return state;
    }

    private void admit(WindowState state, long atMillis, int count) {
      for (int i = 0; i < count; i++) {
        assertTrue(state.reserve(tenPerSecond, atMillis, atMillis, atMillis).granted());
      }
    }
  }
}
