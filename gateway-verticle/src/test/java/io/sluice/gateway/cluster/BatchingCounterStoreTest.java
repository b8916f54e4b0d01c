package io.sluice.gateway.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.CounterStoreContract;
import io.sluice.gateway.limit.InMemoryCounterStore;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The batching Hazelcast store on a real two-member cluster: it keeps the counter-store contract, and the calls made
 * in one event-loop turn go as one round trip per owning member while each key's calls are still decided one by
 * one, in order, on its owner.
 */
@DisplayName("Batching Hazelcast counter store (two members)")
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BatchingCounterStoreTest extends CounterStoreContract {

  private static final WindowSpec FIVE_PER_SECOND = new WindowSpec(5, 1_000);
  private static final WindowSpec THREE_PER_SECOND = new WindowSpec(3, 1_000);
  private static final WindowSpec FORTY_PER_MINUTE = new WindowSpec(40, 60_000);
  private static Vertx vertx;
  private static Context context;
  private static HazelcastInstance first;
  private static HazelcastInstance second;
  private static HazelcastCounterStore store;
  private static HazelcastCounterStore peer;

  @BeforeAll
  static void startCluster() {
    List<HazelcastInstance> members = TestMembers.start(2, "batch-test");
    first = members.get(0);
    second = members.get(1);
    vertx = Vertx.vertx();
    context = vertx.getOrCreateContext();
    store = HazelcastCounterStore.batching(vertx, first, HazelcastCounterStoreTest.MAP);
    peer = HazelcastCounterStore.batching(vertx, second, HazelcastCounterStoreTest.MAP);
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

  /** The calls {@code calls} makes, all made during one turn of one event loop; their answers, once all are in. */
  static <T> List<Future<T>> inOneTurn(Context context, Supplier<List<Future<T>>> calls) {
    Promise<List<Future<T>>> made = Promise.promise();
    context.runOnContext(v -> made.complete(calls.get()));
    List<Future<T>> answers = made.future().await();
    Future.join(answers).otherwiseEmpty().await();
    return answers;
  }

  private static String key(String name) {
    return "batch|" + name + "|" + UUID.randomUUID();
  }

  @Test
  @DisplayName("a turn's calls on many keys and policies get the answers the same calls one by one would get")
  void mixedBatchDecidesAsOneByOne() {
    Random random = new Random(14);
    WindowSpec[] policies = {FIVE_PER_SECOND, THREE_PER_SECOND, FORTY_PER_MINUTE};
    List<String> keys = new ArrayList<>();
    List<WindowSpec> specs = new ArrayList<>();
    List<Long> times = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      int k = random.nextInt(30);
      keys.add("|mixed|" + k);
      specs.add(policies[k % policies.length]);
      times.add(T0 + random.nextInt(50));
    }
    String run = UUID.randomUUID().toString();
    long callsBefore = store.remoteCalls();
    long operationsBefore = store.remoteOperations();
    List<Future<Reservation>> batched = inOneTurn(context, () -> {
      List<Future<Reservation>> answers = new ArrayList<>();
      for (int i = 0; i < keys.size(); i++) {
        long at = times.get(i);
        answers.add(store.reserve(run + keys.get(i), specs.get(i), at, at, at));
      }
      return answers;
    });
    InMemoryCounterStore oneByOne = new InMemoryCounterStore(Clock.systemUTC(), 10_000);
    for (int i = 0; i < keys.size(); i++) {
      long at = times.get(i);
      Reservation expected = oneByOne.reserve(run + keys.get(i), specs.get(i), at, at, at).result();
      assertEquals(expected, batched.get(i).result(), "call " + i + " on " + keys.get(i));
    }
    assertEquals(200, store.remoteOperations() - operationsBefore);
    assertTrue(store.remoteCalls() - callsBefore <= 2, "one round trip per member: " + (store.remoteCalls()
        - callsBefore));
  }

  @Test
  @DisplayName("the same key several times in one batch is counted in order and never over the limit")
  void sameKeyInOneBatch() {
    String key = key("same");
    List<Future<Reservation>> answers = inOneTurn(context, () -> {
      List<Future<Reservation>> made = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        made.add(store.reserve(key, FIVE_PER_SECOND, T0 + i, T0 + i, T0 + i));
      }
      return made;
    });
    for (int i = 0; i < 8; i++) {
      Reservation r = answers.get(i).result();
      if (i < 5) {
        assertTrue(r.granted(), "call " + i);
        assertEquals(4 - i, r.remaining(), "call " + i + " sees the ones before it");
      } else {
        assertFalse(r.granted(), "call " + i + " is over the limit");
      }
    }
  }

  @Test
  @DisplayName("a release and a reservation of one key in one batch: the reservation takes the released slot")
  void releaseThenReserveInOneBatch() {
    String key = key("release");
    List<Reservation> held = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      held.add(store.reserve(key, FIVE_PER_SECOND, T0, T0, T0).await());
    }
    List<Future<Object>> answers = inOneTurn(context, () -> List.of(
        store.reserve(key, FIVE_PER_SECOND, T0 + 1, T0 + 1, T0 + 1).map(r -> (Object) r),
        store.release(key, FIVE_PER_SECOND, T0 + 1, held.get(0).bucket()).map(v -> (Object) "released"),
        store.reserve(key, FIVE_PER_SECOND, T0 + 2, T0 + 2, T0 + 2).map(r -> (Object) r),
        store.reserve(key, FIVE_PER_SECOND, T0 + 3, T0 + 3, T0 + 3).map(r -> (Object) r)));
    assertFalse(((Reservation) answers.get(0).result()).granted(), "full before the release");
    assertTrue(((Reservation) answers.get(2).result()).granted(), "the released slot");
    assertFalse(((Reservation) answers.get(3).result()).granted(), "and only once");
  }

  @Test
  @DisplayName("a batch spanning both members goes as exactly one round trip to each")
  void oneRoundTripPerMember() {
    List<String> onFirst = keysOwnedBy(first.getCluster().getLocalMember(), 20);
    List<String> onSecond = keysOwnedBy(second.getCluster().getLocalMember(), 20);
    long callsBefore = store.remoteCalls();
    List<Future<Reservation>> answers = inOneTurn(context, () -> {
      List<Future<Reservation>> made = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        made.add(store.reserve(onFirst.get(i), THREE_PER_SECOND, T0, T0, T0));
        made.add(store.reserve(onSecond.get(i), THREE_PER_SECOND, T0, T0, T0));
        made.add(store.reserve(onSecond.get(i), THREE_PER_SECOND, T0, T0, T0));
      }
      return made;
    });
    assertEquals(2, store.remoteCalls() - callsBefore);
    for (Future<Reservation> answer : answers) {
      assertTrue(answer.result().granted());
    }
    for (int i = 0; i < 20; i++) {
      assertEquals(2, answers.get(3 * i).result().remaining());
      assertEquals(1, answers.get(3 * i + 2).result().remaining());
    }
  }

  @Test
  @DisplayName("two gateways batching on one key at once never grant more than the limit together")
  void twoBatchingGatewaysShareOneLimit() {
    String key = key("shared");
    WindowSpec ten = new WindowSpec(10, 1_000);
    Context other = vertx.getOrCreateContext();
    Promise<List<Future<Reservation>>> fromPeer = Promise.promise();
    other.runOnContext(v -> {
      List<Future<Reservation>> made = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        made.add(peer.reserve(key, ten, T0, T0, T0));
      }
      fromPeer.complete(made);
    });
    List<Future<Reservation>> mine = inOneTurn(context, () -> {
      List<Future<Reservation>> made = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        made.add(store.reserve(key, ten, T0, T0, T0));
      }
      return made;
    });
    List<Future<Reservation>> theirs = fromPeer.future().await();
    Future.join(theirs).await();
    long granted = mine.stream().filter(f -> f.result().granted()).count()
        + theirs.stream().filter(f -> f.result().granted()).count();
    assertEquals(10, granted);
  }

  @Test
  @DisplayName("answers arrive on the Vert.x context each call was made on")
  void answersOnTheCallersContext() {
    Context other = vertx.getOrCreateContext();
    String key = key("context");
    Promise<Boolean> onMine = Promise.promise();
    Promise<Boolean> onOther = Promise.promise();
    context.runOnContext(v -> store.reserve(key, FIVE_PER_SECOND, T0, T0, T0)
        .onComplete(done -> onMine.complete(Vertx.currentContext() == context)));
    other.runOnContext(v -> store.reserve(key, FIVE_PER_SECOND, T0, T0, T0)
        .onComplete(done -> onOther.complete(Vertx.currentContext() == other)));
    assertTrue(onMine.future().await());
    assertTrue(onOther.future().await());
  }

  @Test
  @DisplayName("a batch over many partitions: each key's operations cross the cluster about twice (to its owner, to "
      + "its backup), not once per partition of the batch")
  void backupsCarryOnlyTheirPartitionsOperations() {
    List<String> onSecond = keysOwnedBy(second.getCluster().getLocalMember(), 200);
    long readBefore = WindowProcessor.operationsRead();
    inOneTurn(context, () -> {
      List<Future<Reservation>> made = new ArrayList<>();
      for (String key : onSecond) {
        made.add(store.reserve(key, FIVE_PER_SECOND, T0, T0, T0));
      }
      return made;
    });
    long read = WindowProcessor.operationsRead() - readBefore;
    // 200 read by the owner, 200 by the backups; a backup carrying the whole batch for each partition would read
    // about 200 x (partitions in the batch)
    assertTrue(read <= 3 * onSecond.size(), read + " operations deserialized for a batch of " + onSecond.size());
  }

  @Test
  @DisplayName("a store whose member has shut down fails the calls of its batch instead of leaving them unanswered")
  void shutDownMemberFailsTheBatch() throws InterruptedException {
    Map<String, String> env = Map.of("SLUICE_CLUSTER_NAME", "batch-alone-" + UUID.randomUUID());
    HazelcastInstance alone = Hazelcast.newHazelcastInstance(ClusterSetup.load(env, new Properties()));
    HazelcastCounterStore doomed = HazelcastCounterStore.batching(vertx, alone, HazelcastCounterStoreTest.MAP);
    assertTrue(doomed.reserve(key("doomed"), FIVE_PER_SECOND, T0, T0, T0).await().granted());
    alone.shutdown();
    List<Future<Reservation>> answers = new ArrayList<>();
    Promise<Void> made = Promise.promise();
    context.runOnContext(v -> {
      try {
        for (int i = 0; i < 3; i++) {
          answers.add(doomed.reserve(key("doomed"), FIVE_PER_SECOND, T0, T0, T0));
        }
        made.complete();
      } catch (RuntimeException e) {
        made.fail(e);
      }
    });
    made.future().await();
    long deadline = System.currentTimeMillis() + 5_000;
    for (Future<Reservation> answer : answers) {
      while (!answer.isComplete() && System.currentTimeMillis() < deadline) {
        Thread.sleep(10);
      }
      assertTrue(answer.failed(), "answered with a failure: " + answer);
    }
  }

  static List<String> keysOwnedBy(Member member, int count) {
    List<String> keys = new ArrayList<>();
    while (keys.size() < count) {
      String key = key("owned");
      if (member.equals(first.getPartitionService().getPartition(key).getOwner())) {
        keys.add(key);
      }
    }
    return keys;
  }
}
