package io.sluice.gateway.cluster;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.internal.serialization.Data;
import com.hazelcast.internal.serialization.SerializationService;
import com.hazelcast.internal.serialization.impl.SerializationConstants;
import com.hazelcast.spi.impl.SerializationServiceSupport;
import com.hazelcast.map.IMap;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.CounterStoreContract;
import io.sluice.gateway.limit.LeaseGrant;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
    List<HazelcastInstance> members = TestMembers.start(2, "store-test");
    first = members.get(0);
    second = members.get(1);
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
  @DisplayName("a key's place is its partition, the same seen from every member, and keys spread over many: a "
      + "stalled member takes only the keys of its partitions out of shared counting")
  void placesArePartitions() {
    java.util.Set<Integer> places = new java.util.HashSet<>();
    for (int i = 0; i < 1_000; i++) {
      String key = "place|" + i;
      int place = store.placeOf(key);
      assertEquals(first.getPartitionService().getPartition(key).getPartitionId(), place, key);
      assertEquals(place, peer.placeOf(key), key);
      places.add(place);
    }
    assertTrue(places.size() > 200, places.size() + " places for 1,000 keys (of 271 partitions)");
  }

  @Test
  @DisplayName("a stopped member puts every key in one place of its own instead of failing: the calls fail, not the "
      + "question where their keys live")
  void stoppedMemberHasOnePlace() {
    HazelcastInstance alone = TestMembers.start(1, "store-test-stopped").get(0);
    HazelcastCounterStore stopped = new HazelcastCounterStore(vertx, alone, MAP);
    alone.shutdown();
    assertEquals(HazelcastCounterStore.NO_PLACE, stopped.placeOf("place|1"));
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
  @DisplayName("what crosses the cluster is written field by field, never with Java serialization")
  void compactWireFormat() throws IOException {
    SerializationService serialization = ((SerializationServiceSupport) first).getSerializationService();
    WindowSpec spec = new WindowSpec(300, 1_000);
    for (Object processor : List.of(new ReserveProcessor(spec, T0, T0, T0 + 20),
        new ReleaseProcessor(spec, T0, 7), new LeaseProcessor(spec, T0, T0, T0 + 20, 12, 5, 3),
        new AddAdmissionsProcessor(spec, T0, admittedAlone(spec)))) {
      Data data = serialization.toData(processor);
      assertEquals(SerializationConstants.CONSTANT_TYPE_DATA_SERIALIZABLE, data.getType(), processor.toString());
      assertTrue(data.totalSize() < 100, processor + ": " + data.totalSize() + " bytes");
      assertEquals(processor.getClass(), serialization.toObject(data).getClass());
    }
    Reservation reservation = new Reservation(true, 42, T0 + 1, 9, T0 + 1_000, T0 + 6);
    LeaseGrant grant = new LeaseGrant(12, 43, T0, T0 + 20, 100, T0 + 1_000, 0);
    assertEquals(reservation, roundTrip(serialization, reservation, ClusterSerialization.RESERVATION_TYPE));
    assertEquals(grant, roundTrip(serialization, grant, ClusterSerialization.LEASE_GRANT_TYPE));

    WindowState state = new WindowState();
    for (int i = 0; i < 50; i++) {
      state.reserve(spec, T0 + i * 7, T0 + i * 7, T0 + i * 7);
    }
    WindowState copy = (WindowState) roundTrip(serialization, state, ClusterSerialization.WINDOW_STATE_TYPE);
    assertArrayEquals(bytes(state), bytes(copy));
    assertEquals(state.reserve(spec, T0 + 400, T0 + 400, T0 + 400), copy.reserve(spec, T0 + 400, T0 + 400, T0 + 400));
  }

  /** Three admissions in two buckets, as a gateway deciding alone would add them. */
  private static WindowState admittedAlone(WindowSpec spec) {
    WindowState state = new WindowState();
    state.record(spec, T0, spec.bucketOf(T0));
    state.record(spec, T0, spec.bucketOf(T0));
    state.record(spec, T0 + 9, spec.bucketOf(T0 + 9));
    return state;
  }

  private static Object roundTrip(SerializationService serialization, Object value, int expectedType) {
    Data data = serialization.toData(value);
    assertEquals(expectedType, data.getType(), value.getClass().getSimpleName());
    return serialization.toObject(data);
  }

  private static byte[] bytes(WindowState state) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    state.writeTo(new DataOutputStream(out));
    return out.toByteArray();
  }

  @Test
  @DisplayName("a store reports ready only while its member is in the cluster")
  void readiness() {
    assertTrue(store.isReady());
    assertTrue(store.remoteCalls() > 0);
    assertEquals(0, new HazelcastCounterStore(vertx, first, MAP).remoteCalls());
  }

  @Test
  @DisplayName("leased batches from two gateways never exceed a high limit under overload")
  void leasesKeepHighLimitsExact() {
    WindowSpec spec = new WindowSpec(300, 1_000);
    List<Long> used = driveTwoLeasingGateways(spec, 3_000, 2);
    assertTrue(maxInOneSecond(used) <= 300, "at most 300 in any 1 s: " + maxInOneSecond(used));
    assertTrue(used.size() >= 3 * 300 * 0.9, "most of the limit used: " + used.size());
  }

  @Test
  @DisplayName("below a high limit, two gateways need about one round trip per lease, not one per request")
  void leasesCutRoundTrips() {
    WindowSpec spec = new WindowSpec(20_000, 1_000);
    long before = store.remoteCalls() + peer.remoteCalls();
    List<Long> used = driveTwoLeasingGateways(spec, 2_000, 4);
    long trips = store.remoteCalls() + peer.remoteCalls() - before;
    assertEquals(2 * 2_000 * 4, used.size(), "all 8000/s fit under 20000/s");
    assertTrue(trips * 20 <= used.size(), trips + " round trips for " + used.size() + " permits");
  }

  /** Each simulated millisecond, each of two leasing gateways asks for {@code perMillis} permits. */
  private static List<Long> driveTwoLeasingGateways(WindowSpec spec, int millis, int perMillis) {
    String key = "lease|" + UUID.randomUUID();
    LeasingCounterStore[] gateways = {new LeasingCounterStore(store), new LeasingCounterStore(peer)};
    List<Long> used = new ArrayList<>();
    long t = System.currentTimeMillis();
    for (int i = 0; i < millis; i++) {
      long now = t + i;
      for (LeasingCounterStore gateway : gateways) {
        for (int k = 0; k < perMillis; k++) {
          if (gateway.reserve(key, spec, now, now, now).await().granted()) {
            used.add(now);
          }
        }
      }
    }
    used.sort(Long::compare);
    return used;
  }

  private static int maxInOneSecond(List<Long> sorted) {
    int max = 0;
    for (int from = 0, to = 0; to < sorted.size(); to++) {
      while (sorted.get(from) <= sorted.get(to) - 1_000) {
        from++;
      }
      max = Math.max(max, to - from + 1);
    }
    return max;
  }
}
