package io.sluice.gateway.cluster;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.FailoverCounterStore;
import io.sluice.gateway.limit.OnStoreFailure;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A member of a three-member cluster dies (terminated, as by kill -9) while batches are on their way to it: every
 * call is answered, none hangs, and what earlier batches counted on its keys survives in their backups. The bare batching store answers from the keys' new owners or fails; the production
 * stores over it decide alone ({@code local}) or refuse ({@code closed}) once {@code storeTimeout} has passed.
 */
@DisplayName("Batching store: a member leaves mid-batch")
@Timeout(value = 150, unit = TimeUnit.SECONDS)
class BatchMemberLeavesTest {

  /** Turns of load (one per 2 ms) before the member is terminated: batches are in flight when it goes. */
  private static final int TURNS_BEFORE_KILL = 10;
  /** Turns of load while the cluster learns the member is gone: about 1.5 s. */
  private static final int TURNS_AFTER_KILL = 750;

  private static final WindowSpec FIVE_PER_SECOND = new WindowSpec(5, 1_000);
  /** Entries expire on the real clock: a minute outlasts the test. */
  private static final WindowSpec FIVE_PER_MINUTE = new WindowSpec(5, 60_000);
  private static final long STORE_TIMEOUT = 300;
  private static Vertx vertx;
  private static HazelcastInstance first;
  private static HazelcastInstance second;
  private static HazelcastInstance third;

  @BeforeAll
  static void startCluster() {
    List<HazelcastInstance> members = TestMembers.start(3, "batch-leave");
    first = members.get(0);
    second = members.get(1);
    third = members.get(2);
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stopCluster() {
    vertx.close().await();
    third.getLifecycleService().terminate();
    second.shutdown();
    first.shutdown();
  }

  @Test
  @DisplayName("batches in flight when a member dies: every call is answered, as the failover mode says")
  void everyCallAnswered() throws InterruptedException {
    CounterStore bare = HazelcastCounterStore.batching(vertx, first, HazelcastCounterStoreTest.MAP);
    CounterStore local = ClusteredStores.production(vertx, first,
        new GatewayConfig.Limiter(HazelcastCounterStoreTest.MAP, 10_000, OnStoreFailure.LOCAL, STORE_TIMEOUT, true));
    CounterStore closed = ClusteredStores.production(vertx, second,
        new GatewayConfig.Limiter(HazelcastCounterStoreTest.MAP, 10_000, OnStoreFailure.CLOSED, STORE_TIMEOUT, true));
    List<Future<Reservation>> bareAnswers = new CopyOnWriteArrayList<>();
    List<Future<Reservation>> localAnswers = new CopyOnWriteArrayList<>();
    List<Future<Reservation>> closedAnswers = new CopyOnWriteArrayList<>();
    Context context = vertx.getOrCreateContext();
    // keys the dying member owns, filled to their limit in one batch: their backups must have every slot
    long t0 = System.currentTimeMillis();
    List<String> onThird = new ArrayList<>();
    while (onThird.size() < 50) {
      String key = "full|" + UUID.randomUUID();
      if (third.getCluster().getLocalMember().equals(first.getPartitionService().getPartition(key).getOwner())) {
        onThird.add(key);
      }
    }
    List<Future<Reservation>> filled = BatchingCounterStoreTest.inOneTurn(context, () -> {
      List<Future<Reservation>> made = new ArrayList<>();
      for (String key : onThird) {
        for (int i = 0; i < 5; i++) {
          made.add(bare.reserve(key, FIVE_PER_MINUTE, t0, t0, t0));
        }
      }
      return made;
    });
    assertTrue(filled.stream().allMatch(f -> f.result().granted()));
    // every 2 ms, one turn that calls each store on 20 fresh keys (spread over the three members)
    CountDownLatch loadFlowing = new CountDownLatch(TURNS_BEFORE_KILL);
    CountDownLatch loadAfterKill = new CountDownLatch(TURNS_AFTER_KILL);
    AtomicBoolean killed = new AtomicBoolean();
    long timer = vertx.setPeriodic(2, id -> context.runOnContext(v -> {
      long now = System.currentTimeMillis();
      for (int i = 0; i < 20; i++) {
        String key = "leave|" + UUID.randomUUID();
        bareAnswers.add(bare.reserve(key, FIVE_PER_SECOND, now, now, now));
        localAnswers.add(local.reserve(key + "|local", FIVE_PER_SECOND, now, now, now));
        closedAnswers.add(closed.reserve(key + "|closed", FIVE_PER_SECOND, now, now, now));
      }
      loadFlowing.countDown();
      if (killed.get()) {
        loadAfterKill.countDown();
      }
    }));
    // as soon as the load flows: the batch that filled those keys was answered a moment ago, so only a synchronous
    // backup has it
    assertTrue(loadFlowing.await(10, TimeUnit.SECONDS), "the load did not start");
    third.getLifecycleService().terminate();
    killed.set(true);
    // the load goes on while the cluster learns the member is gone
    assertTrue(loadAfterKill.await(30, TimeUnit.SECONDS), "the load stopped after the member left");
    vertx.cancelTimer(timer);
    // a batch sent to the dead member fails once Hazelcast declares it gone (up to its heartbeat timeout, 15 s)
    long deadline = System.currentTimeMillis() + 60_000;
    for (List<Future<Reservation>> answers : List.of(bareAnswers, localAnswers, closedAnswers)) {
      for (Future<Reservation> answer : new ArrayList<>(answers)) {
        awaitUntil(answer, deadline);
      }
    }
    assertTrue(bareAnswers.size() > 1_000, "calls made: " + bareAnswers.size());
    // local: every call gets a decision (shared, or alone while the store is out); all keys are fresh: granted
    for (Future<Reservation> answer : localAnswers) {
      assertTrue(answer.succeeded() && answer.result().granted(), String.valueOf(answer.cause()));
    }
    // closed: a decision, or refused for want of the store; nothing else
    for (Future<Reservation> answer : closedAnswers) {
      assertTrue(answer.succeeded() ? answer.result().granted()
              : answer.cause() instanceof FailoverCounterStore.StoreUnavailable
              || answer.cause() instanceof TimeoutException, String.valueOf(answer.cause()));
    }
    for (Future<Reservation> answer : bareAnswers) {
      assertTrue(answer.failed() || answer.result().granted(), "a fresh key is granted when answered");
    }
    // the backups, now owners, hold all five slots of each key
    for (String key : onThird) {
      assertFalse(bare.reserve(key, FIVE_PER_MINUTE, t0 + 1, t0 + 1, t0 + 1).await().granted(), key);
    }
  }

  private static void awaitUntil(Future<?> answer, long deadline) throws InterruptedException {
    CountDownLatch answered = new CountDownLatch(1);
    answer.onComplete(done -> answered.countDown());
    assertTrue(answered.await(Math.max(0, deadline - System.currentTimeMillis()), TimeUnit.MILLISECONDS),
        "a call was never answered");
  }
}
