package io.sluice.gateway.limit;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The guarded store: healthy, it keeps the counter-store contract; when the store under it stops answering or fails,
 * it decides as {@code limiter.onStoreFailure} says, and comes back to shared counting without a burst. The store
 * under it is a real in-memory store wrapped to fail; window math runs on a test clock, the store timeout on real
 * Vert.x timers (20 ms).
 */
@DisplayName("Failover counter store")
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FailoverCounterStoreTest extends CounterStoreContract {

  private static final long TIMEOUT = 20;
  private static final WindowSpec TEN_PER_SECOND = new WindowSpec(10, 1_000);
  /** What a test's gateway is, unless it says otherwise: the first of two. */
  private static final Seat FIRST_OF_TWO = new Seat(0, 2);
  private static Vertx vertx;

  private final TestClock clock = new TestClock(T0);
  private final FaultyStore healthy = new FaultyStore(clock);
  private final FailoverCounterStore store = failover(healthy, OnStoreFailure.LOCAL, FIRST_OF_TWO);

  @BeforeAll
  static void startVertx() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stopVertx() {
    vertx.close().await();
  }

  @Override
  protected CounterStore store() {
    return store;
  }

  @Override
  protected CounterStore peer() {
    return store;
  }

  private FailoverCounterStore failover(CounterStore under, OnStoreFailure onFailure, Seat seat) {
    return new FailoverCounterStore(vertx, under, onFailure, TIMEOUT, () -> seat, clock, 10_000, true);
  }

  /** A window of {@code seat}'s share of {@code spec}, in ms: after that long, its share is free again. */
  private static long shareWindow(WindowSpec spec, Seat seat) {
    WindowSpec share = StoreMode.shareOf(spec, seat).orElseThrow();
    return share.spanBuckets() * share.bucketMillis();
  }

  private static int granted(CounterStore store, String key, WindowSpec spec, long at, int attempts) {
    int granted = 0;
    for (int i = 0; i < attempts; i++) {
      if (store.reserve(key, spec, at, at, at).await().granted()) {
        granted++;
      }
    }
    return granted;
  }

  private static Reservation reserve(CounterStore store, String key, long at) {
    return reserve(store, key, TEN_PER_SECOND, at);
  }

  private static Reservation reserve(CounterStore store, String key, WindowSpec spec, long at) {
    return store.reserve(key, spec, at, at, at).await();
  }

  /**
   * Brings {@code failover} to deciding alone the way a lasting outage does: calls (on a key of its own) that fail
   * for {@link FailoverCounterStore#CONFIRM_MILLIS}. Moves the clock that far; leaves the store failing.
   */
  private void failUntilAlone(FailoverCounterStore failover, FaultyStore under) {
    under.fault = Fault.FAIL;
    reserve(failover, "outage", clock.millis());
    assertEquals(StoreMode.State.SUSPECT, failover.mode(), "one failure is not an outage yet");
    clock.advance(FailoverCounterStore.CONFIRM_MILLIS);
    reserve(failover, "outage", clock.millis());
    assertEquals(StoreMode.State.DEGRADED, failover.mode());
  }

  /** Sends the probe that is due (the periodic one runs on the real clock, which this test does not move). */
  private void probe(FailoverCounterStore failover) {
    clock.advance(FailoverCounterStore.PROBE_INTERVAL_MILLIS);
    failover.probeIfDue();
  }

  @Nested
  @DisplayName("a store whose keys live in several places (Hazelcast's partitions), one of them failing")
  class OnePlaceFails {

    private final FaultyStore under = new FaultyStore(clock);
    private final FailoverCounterStore failover = failover(under, OnStoreFailure.LOCAL, FIRST_OF_TWO);

    /** Brings place 0 to deciding alone (a member that owns or backs up its keys stalls); place 1 still answers. */
    private void placeZeroAlone() {
      under.faultyPlace = 0;
      failUntilAlone(failover, under);
      assertEquals(1, failover.placesAlone());
    }

    @Test
    @DisplayName("only the failing place's keys are decided alone: a key elsewhere still asks the store and gets the "
        + "whole limit the shared counters hold, not this gateway's part")
    void othersKeepSharing() {
      placeZeroAlone();
      int calls = under.calls;
      assertEquals(10, granted(failover, ELSEWHERE + "k", TEN_PER_SECOND, T0 + 600, 20));
      assertEquals(calls + 20, under.calls, "every decision elsewhere asked the store");
      assertFalse(reserve(under, ELSEWHERE + "k", T0 + 600).granted(), "the shared counters hold those 10");

      calls = under.calls;
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, T0 + 600, 20), "the failing place: its part, alone");
      assertEquals(calls, under.calls, "without asking");
      assertEquals(StoreMode.State.DEGRADED, failover.mode(), "the gateway reports its furthest place");
      assertEquals(0, failover.expectedLatencyMillis("k", TEN_PER_SECOND, T0), "alone: nothing to wait for");
    }

    @Test
    @DisplayName("answers from a healthy place do not outvote a failing one: one place fails every call, the other "
        + "answers many more, and the failing place still goes alone")
    void answersElsewhereDoNotCount() {
      under.faultyPlace = 0;
      under.fault = Fault.FAIL;
      reserve(failover, "k", T0);
      for (int i = 0; i < 50; i++) {
        reserve(failover, ELSEWHERE + i, T0);
      }
      clock.advance(FailoverCounterStore.CONFIRM_MILLIS);
      reserve(failover, "k", clock.millis());
      assertEquals(StoreMode.State.DEGRADED, failover.mode());
    }

    @Test
    @DisplayName("the failing place comes back alone: its keys' admissions are written back, then they share again; "
        + "the other place never switched")
    void comesBackAlone() {
      placeZeroAlone();
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, T0 + 600, 20));
      under.fault = Fault.NONE;
      probe(failover);

      assertEquals(StoreMode.State.SHARED, failover.mode());
      assertEquals(0, failover.placesAlone());
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, T0 + 800, 20),
          "the shared counters knew the 5 admitted alone: 10 in the window, not 15");
    }

    @Test
    @DisplayName("a place suspected once and quiet since (no call came) shares again after CONFIRM_MILLIS: decisions "
        + "elsewhere go back to the fast path")
    void quietSuspicionIsDropped() {
      under.fault = Fault.FAIL;
      reserve(failover, "k", T0);
      under.fault = Fault.NONE;
      assertEquals(StoreMode.State.SUSPECT, failover.mode());
      probe(failover);
      assertEquals(StoreMode.State.SUSPECT, failover.mode(), "not yet");
      clock.advance(FailoverCounterStore.CONFIRM_MILLIS);
      failover.probeIfDue();
      assertEquals(StoreMode.State.SHARED, failover.mode());
      assertEquals(0, failover.modeSwitches());
    }

    @Test
    @DisplayName("a probe that fails counts against the place that sent it, even when its key has moved to another "
        + "place meanwhile (SplitBrainIT: a place probing a migrated key stayed DEGRADED for good after a merge)")
    void probeFailureCountsForItsPlace() {
      placeZeroAlone();
      under.moved.put("outage", 1);
      under.faultyPlace = 1;
      probe(failover);
      assertEquals(StoreMode.State.DEGRADED, failover.mode());
      under.fault = Fault.NONE;
      probe(failover);
      assertEquals(StoreMode.State.SHARED, failover.mode(), "probing again after its failed probe, and answered");
      assertEquals(0, failover.placesAlone());
    }

    @Test
    @DisplayName("a write-back that fails counts against the place being written back, even when the key has moved: "
        + "that place goes back to probing instead of staying RECOVERING")
    void writeBackFailureCountsForItsPlace() {
      placeZeroAlone();
      assertTrue(reserve(failover, "k", T0 + 600).granted());
      under.moved.put("k", 1);
      under.faultyPlace = 1;
      // the probe (on "outage", still in place 0) is answered; writing "k" back (now in place 1) fails
      probe(failover);
      assertEquals(StoreMode.State.DEGRADED, failover.mode(), "the failed write-back sends place 0 back to probing");
      under.fault = Fault.NONE;
      probe(failover);
      assertEquals(StoreMode.State.SHARED, failover.mode());
    }

    @Test
    @DisplayName("the way back is logged even when another place is only suspected at that moment (the gateway goes "
        + "RECOVERING -> SUSPECT): SplitBrainIT waited 60 s for a line that was never written")
    void backToSharingIsLoggedBesideASuspicion() {
      try (io.sluice.gateway.testing.LogCapture logs = io.sluice.gateway.testing.LogCapture.of(
          FailoverCounterStore.class)) {
        placeZeroAlone();
        under.faultyPlace = 1;
        reserve(failover, ELSEWHERE + "k", clock.millis());
        under.fault = Fault.NONE;
        probe(failover);
        assertEquals(StoreMode.State.SUSPECT, failover.mode(), "place 1 is still suspected");
        assertEquals(0, failover.placesAlone());
        List<String> back = logs.messages(ch.qos.logback.classic.Level.INFO).stream()
            .filter(line -> line.contains(FailoverCounterStore.BACK_TO_SHARING)).toList();
        assertEquals(1, back.size(), back::toString);
        assertTrue(back.get(0).startsWith("limiter store RECOVERING -> SUSPECT"), back.get(0));
      }
    }

    @Test
    @DisplayName("a key admitted alone stays with its failing place until that is written back, even when it has "
        + "moved to a healthy place meanwhile (a promoted backup): the new place does not know those admissions")
    void aMovedKeyStaysAloneUntilCarried() {
      placeZeroAlone();
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, T0 + 600, 20));
      under.moved.put("k", 1);
      int calls = under.calls;
      assertEquals(0, granted(failover, "k", TEN_PER_SECOND, T0 + 600, 5), "still its part, used up");
      assertEquals(calls, under.calls, "decided alone, without asking the new place");
    }
  }

  @Nested
  @DisplayName("limiter.onStoreFailure = local")
  class Local {

    private final FaultyStore under = new FaultyStore(clock);
    private final FailoverCounterStore failover = failover(under, OnStoreFailure.LOCAL, FIRST_OF_TWO);

    @Test
    @DisplayName("a store that does not answer within storeTimeout: that request is decided alone; while the calls "
        + "keep failing for CONFIRM_MILLIS the gateway still asks, then it is DEGRADED, the switch and the failures "
        + "counted")
    void timeoutSwitchesToLocal() throws Exception {
      under.fault = Fault.HANG;
      long started = System.nanoTime();

      assertTrue(reserve(failover, "k", T0).granted());

      long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
      assertTrue(tookMillis < 1_000, "decided within 1 s: " + tookMillis + " ms");
      assertEquals(StoreMode.State.SUSPECT, failover.mode());
      assertEquals(0, failover.modeSwitches());
      clock.advance(FailoverCounterStore.CONFIRM_MILLIS);
      assertTrue(reserve(failover, "k", clock.millis()).granted());
      assertEquals(StoreMode.State.DEGRADED, failover.mode());
      assertEquals(1, failover.modeSwitches());
      assertEquals(2, failover.storeFailures());
      assertEquals(0, failover.expectedLatencyMillis("k", TEN_PER_SECOND, T0), "alone, nothing to wait for");
    }

    @Test
    @DisplayName("a store that says it will not serve for now (no quorum) switches the gateway at once, the request "
        + "decided alone on its part")
    void refusalSwitchesAtOnce() {
      under.fault = Fault.REFUSE;
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, T0, 20));
      assertEquals(StoreMode.State.DEGRADED, failover.mode());
      assertEquals(1, failover.storeFailures(), "the first call only: then alone, without asking");
    }

    @Test
    @DisplayName("one slow answer (a busy box): that request is decided alone at once, the next ones ask the store "
        + "again, and answers for CONFIRM_MILLIS drop the suspicion without a switch")
    void oneSlowAnswerIsNoOutage() {
      under.fault = Fault.HANG;
      assertTrue(reserve(failover, "k", T0).granted(), "decided alone after storeTimeout");
      under.fault = Fault.NONE;
      int calls = under.calls;
      assertTrue(reserve(failover, "k", T0 + 1).granted());
      assertEquals(calls + 1, under.calls, "the next decision asked the store");
      assertEquals(StoreMode.State.SUSPECT, failover.mode());
      clock.advance(FailoverCounterStore.CONFIRM_MILLIS);
      assertTrue(reserve(failover, "k", clock.millis()).granted());
      assertEquals(StoreMode.State.SHARED, failover.mode());
      assertEquals(0, failover.modeSwitches());
    }

    @Test
    @DisplayName("a request decided again plans for the store's slow answers, never past storeTimeout; alone, for none")
    void slowAnswersWithinTheDeadline() {
      under.lead = 2;
      under.slow = 12;
      assertEquals(12, failover.slowAnswerMillis("k", TEN_PER_SECOND, T0));
      under.slow = 80;
      assertEquals(TIMEOUT, failover.slowAnswerMillis("k", TEN_PER_SECOND, T0));
      under.slow = 0;
      assertEquals(TIMEOUT, failover.slowAnswerMillis("k", TEN_PER_SECOND, T0), "unknown: the deadline");
      under.fault = Fault.REFUSE;
      reserve(failover, "k", T0);
      assertEquals(StoreMode.State.DEGRADED, failover.mode());
      assertEquals(0, failover.slowAnswerMillis("k", TEN_PER_SECOND, T0));
    }

    @Test
    @DisplayName("while suspecting, decisions still wait on the store: they are planned for its round trip, and a "
        + "look at a key asks it")
    void suspectingStillAsks() {
      under.lead = 7;
      under.fault = Fault.FAIL;
      reserve(failover, "k", T0);
      under.fault = Fault.NONE;
      assertEquals(StoreMode.State.SUSPECT, failover.mode());
      assertEquals(7, failover.expectedLatencyMillis("k", TEN_PER_SECOND, T0));
      int calls = under.calls;
      failover.peek("k", TEN_PER_SECOND, T0).await();
      assertEquals(calls + 1, under.calls);
    }

    @Test
    @DisplayName("a slot granted late for a request forwarded alone stays counted: the store holds what was forwarded")
    void lateGrantOfAForwardedRequestStays() {
      under.fault = Fault.HANG;
      assertTrue(reserve(failover, "k", T0).granted());
      under.fault = Fault.NONE;
      under.answerHeld();
      assertEquals(9, granted(under, "k", TEN_PER_SECOND, T0 + 1, 20), "1 of 10 is the forwarded request");
    }

    @Test
    @DisplayName("a slot granted late for a request refused alone (a gateway whose part is 0) is given back")
    void lateGrantOfARefusedRequestIsReleased() {
      FailoverCounterStore second = failover(under, OnStoreFailure.LOCAL, new Seat(1, 2));
      WindowSpec onePerTwoSeconds = new WindowSpec(1, 2_000);
      under.fault = Fault.HANG;
      assertFalse(reserve(second, "k", onePerTwoSeconds, T0).granted());
      under.fault = Fault.NONE;
      under.answerHeld();
      assertEquals(1, granted(under, "k", onePerTwoSeconds, T0 + 1, 5), "the late slot is free again");
    }

    @Test
    @DisplayName("a request forwarded alone that the store, answering late, denied is added to the shared counters")
    void lateDenialOfAForwardedRequestIsCounted() {
      assertEquals(9, granted(under.inner, "k", TEN_PER_SECOND, T0, 9), "other gateways");
      under.fault = Fault.HANG;
      assertTrue(reserve(failover, "k", T0 + 10).granted(), "forwarded alone");
      Reservation last = reserve(under.inner, "k", T0 + 20);
      assertTrue(last.granted(), "meanwhile another gateway takes the last slot");
      under.fault = Fault.NONE;
      under.answerHeld();
      under.inner.release("k", TEN_PER_SECOND, T0 + 30, last.bucket()).await();
      assertEquals(0, granted(under.inner, "k", TEN_PER_SECOND, T0 + 40, 5),
          "10 in the window: the 9, and the one forwarded alone");
    }

    @Test
    @DisplayName("requests admitted alone while the store failed, without an outage, are written back once it "
        + "answers")
    void singlesAreWrittenBack() {
      under.fault = Fault.FAIL;
      assertEquals(3, granted(failover, "k", TEN_PER_SECOND, T0, 3));
      assertEquals(StoreMode.State.SUSPECT, failover.mode());
      under.fault = Fault.NONE;
      probe(failover);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      // a look answers as for a request, after the slot it would take: 10 - 3 - 1
      while (under.inner.peek("k", TEN_PER_SECOND, T0 + 300).await().remaining() != 6
          && System.nanoTime() < deadline) {
        Thread.onSpinWait();
      }
      assertEquals(6, under.inner.peek("k", TEN_PER_SECOND, T0 + 300).await().remaining());
    }

    @Test
    @DisplayName("alone, with its table full of live keys: a new key fails with KeyTableFull (503 limiter-full), a "
        + "known key is decided on its part")
    void fullTableAloneRefusesNewKeys() {
      FailoverCounterStore small = new FailoverCounterStore(vertx, under, OnStoreFailure.LOCAL, TIMEOUT,
          () -> FIRST_OF_TWO, clock, 1, true);
      under.fault = Fault.FAIL;
      assertTrue(reserve(small, "known", T0).granted());
      Throwable refused = small.reserve("new", TEN_PER_SECOND, T0, T0, T0).cause();
      assertInstanceOf(KeyTableFull.class, refused);
      assertEquals(StoreMode.State.SUSPECT, small.mode(), "each request decided alone as its call failed");
      assertEquals(4, granted(small, "known", TEN_PER_SECOND, T0, 10), "the rest of its part of 5");
    }

    @Test
    @DisplayName("alone, a gateway admits its part of the limit per window: 5 of 10 with two gateways, then 5 more a "
        + "window later")
    void enforcesItsShare() {
      failUntilAlone(failover, under);
      int calls = under.calls;
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, T0, 20));
      assertEquals(calls, under.calls, "alone, decisions no longer wait on the store");
      long nextWindow = T0 + shareWindow(TEN_PER_SECOND, FIRST_OF_TWO);
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, nextWindow, 20));
    }

    @ParameterizedTest(name = "gateway {0} of 3: {1}")
    @DisplayName("alone, gateway i of 3 admits floor(10/3), plus one if i < 10 mod 3: 4, 3, 3, together the limit")
    @CsvSource({"0, 4", "1, 3", "2, 3"})
    void enforcesItsPart(int index, int part) {
      FailoverCounterStore gateway = failover(under, OnStoreFailure.LOCAL, new Seat(index, 3));
      under.fault = Fault.FAIL;
      assertEquals(part, granted(gateway, "k", TEN_PER_SECOND, T0, 20));
      long nextWindow = T0 + shareWindow(TEN_PER_SECOND, new Seat(index, 3));
      assertEquals(part, granted(gateway, "k", TEN_PER_SECOND, nextWindow, 20), "and as many a window later");
    }

    @Test
    @DisplayName("a gateway whose part is 0 (a limit of 1, gateway 1 of 2) refuses alone, retry a window later, and "
        + "has nothing to write back")
    void noPartRefuses() {
      FailoverCounterStore second = failover(under, OnStoreFailure.LOCAL, new Seat(1, 2));
      WindowSpec onePerTwoSeconds = new WindowSpec(1, 2_000);
      failUntilAlone(second, under);

      Reservation refused = reserve(second, "k", onePerTwoSeconds, T0);

      assertFalse(refused.granted());
      assertEquals(T0 + 2_000, refused.atMillis(), "Retry-After: a window");
      assertEquals(0, granted(second, "k", onePerTwoSeconds, T0 + 5_000, 5), "nor later, while alone");
      under.fault = Fault.NONE;
      probe(second);
      assertEquals(StoreMode.State.SHARED, second.mode());
      assertEquals(1, granted(under, "k", onePerTwoSeconds, T0 + 5_300, 5), "nothing admitted alone was added");
    }

    @Test
    @DisplayName("what this gateway admitted on the shared counters just before the failure counts against its share")
    void sharedAdmissionsCountAlone() {
      assertEquals(3, granted(failover, "k", TEN_PER_SECOND, T0, 3));
      under.fault = Fault.FAIL;
      assertEquals(2, granted(failover, "k", TEN_PER_SECOND, T0 + 100, 20), "5 - 3 left of its share");
    }

    @ParameterizedTest(name = "gateway {0} of 2: {1} alone")
    @DisplayName("what other gateways admitted counts too, as far as the shared counters told: with 1 left of 10 "
        + "across the cluster, the first of two gateways may use it alone, the second not")
    @CsvSource({"0, 1", "1, 0"})
    void othersAdmissionsCountAlone(int index, int alone) {
      Seat seat = new Seat(index, 2);
      FailoverCounterStore gateway = failover(under, OnStoreFailure.LOCAL, seat);
      assertEquals(8, granted(under, "k", TEN_PER_SECOND, T0, 8), "other gateways");
      assertEquals(1, granted(gateway, "k", TEN_PER_SECOND, T0 + 10, 1), "this one, told 1 is left");
      under.fault = Fault.FAIL;
      assertEquals(alone, granted(gateway, "k", TEN_PER_SECOND, T0 + 100, 20), "its part of the 1 left");
      long nextWindow = T0 + 100 + shareWindow(TEN_PER_SECOND, seat);
      assertEquals(5, granted(gateway, "k", TEN_PER_SECOND, nextWindow, 20), "a window later, its share");
    }

    @ParameterizedTest(name = "gateway {0} of 3: {1} alone")
    @DisplayName("told 5 are left of 10, gateway i of 3 may use its part of the 5 alone: 2, 2, 1, together the 5")
    @CsvSource({"0, 2", "1, 2", "2, 1"})
    void partOfWhatIsLeft(int index, int alone) {
      FailoverCounterStore gateway = failover(under, OnStoreFailure.LOCAL, new Seat(index, 3));
      assertEquals(4, granted(under, "k", TEN_PER_SECOND, T0, 4), "other gateways");
      assertEquals(5, reserve(gateway, "k", T0 + 10).remaining(), "this one, told 5 are left");
      under.fault = Fault.FAIL;
      assertEquals(alone, granted(gateway, "k", TEN_PER_SECOND, T0 + 100, 20));
    }

    @Test
    @DisplayName("a shared denial (the window is full across the cluster) leaves nothing to admit alone until it has "
        + "passed")
    void sharedDenialCountsAlone() {
      assertEquals(10, granted(under, "k", TEN_PER_SECOND, T0, 10), "other gateways");
      assertFalse(reserve(failover, "k", T0 + 10).granted());
      under.fault = Fault.FAIL;
      assertEquals(0, granted(failover, "k", TEN_PER_SECOND, T0 + 100, 20));
      long nextWindow = T0 + 10 + shareWindow(TEN_PER_SECOND, FIRST_OF_TWO);
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, nextWindow, 20));
    }

    @Test
    @DisplayName("the same when the store answers later, on another thread, as Hazelcast does")
    void sharedAdmissionsAnsweredLaterCountAlone() {
      under.answerLater = true;
      assertEquals(3, granted(failover, "k", TEN_PER_SECOND, T0, 3));
      under.fault = Fault.FAIL;
      assertEquals(2, granted(failover, "k", TEN_PER_SECOND, T0 + 100, 20), "5 - 3 left of its share");
    }

    @Test
    @DisplayName("back to shared counting once a probe is answered, with what was admitted alone added first: no "
        + "burst over the limit at the switch")
    void returnsWithoutBurst() {
      failUntilAlone(failover, under);
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, T0, 20));
      assertEquals(StoreMode.State.DEGRADED, failover.mode());

      under.fault = Fault.NONE;
      probe(failover);

      assertEquals(StoreMode.State.SHARED, failover.mode());
      assertEquals(3, failover.modeSwitches(), "DEGRADED, RECOVERING, SHARED");
      assertEquals(5, granted(failover, "k", TEN_PER_SECOND, T0 + 300, 20),
          "the shared counters knew the 5 admitted alone: 10 in the window, not 15");
    }

    @Test
    @DisplayName("many keys admitted alone are written back a bounded number at a time, every one of them, before "
        + "sharing again (sent all at once, they would queue past storeTimeout and count as a store failure)")
    void writeBackIsBounded() {
      failUntilAlone(failover, under);
      int keys = 3 * FailoverCounterStore.MAX_WRITE_BACKS_IN_FLIGHT;
      for (int i = 0; i < keys; i++) {
        assertTrue(reserve(failover, "k" + i, T0).granted());
      }
      under.fault = Fault.NONE;
      under.answerLater = true;
      under.maxInFlight = 0;
      probe(failover);
      awaitMode(failover, StoreMode.State.SHARED);

      assertTrue(under.maxInFlight <= FailoverCounterStore.MAX_WRITE_BACKS_IN_FLIGHT,
          under.maxInFlight + " calls at once");
      for (int i = 0; i < keys; i++) {
        assertEquals(9, granted(under, "k" + i, TEN_PER_SECOND, T0 + 300, 20), "k" + i + " carried its admission");
      }
    }

    @Test
    @DisplayName("what was admitted alone and has left its window since is not written back: it no longer counts")
    void expiredAdmissionsAreNotWrittenBack() {
      failUntilAlone(failover, under);
      for (int i = 0; i < 100; i++) {
        reserve(failover, "k" + i, T0);
      }
      under.fault = Fault.NONE;
      clock.advance(TEN_PER_SECOND.windowMillis() * 3);
      int before = under.calls;
      probe(failover);

      assertEquals(StoreMode.State.SHARED, failover.mode());
      assertEquals(1, under.calls - before, "the probe only");
    }

    @Test
    @DisplayName("a probe that fails keeps the gateway alone; the next one, an interval later, brings it back")
    void failedProbe() {
      failUntilAlone(failover, under);
      granted(failover, "k", TEN_PER_SECOND, T0, 1);
      probe(failover);
      assertEquals(StoreMode.State.DEGRADED, failover.mode());
      under.fault = Fault.NONE;
      failover.probeIfDue();
      assertEquals(StoreMode.State.DEGRADED, failover.mode(), "not yet: one interval after the failed probe");
      probe(failover);
      assertEquals(StoreMode.State.SHARED, failover.mode());
    }

    @Test
    @DisplayName("store failures are logged at most once a second, each line counting the failures since the last")
    void failuresAreLoggedRateLimited() {
      try (io.sluice.gateway.testing.LogCapture logs = io.sluice.gateway.testing.LogCapture.of(
          FailoverCounterStore.class)) {
        under.fault = Fault.FAIL;
        granted(failover, "per-user|k", TEN_PER_SECOND, T0, 1);
        clock.advance(FailoverCounterStore.CONFIRM_MILLIS);
        granted(failover, "per-user|k", TEN_PER_SECOND, clock.millis(), 1);
        assertEquals(StoreMode.State.DEGRADED, failover.mode());
        for (int i = 0; i < 5; i++) {
          probe(failover);
        }
        List<String> failures = logs.messages(ch.qos.logback.classic.Level.WARN).stream()
            .filter(line -> line.startsWith("limiter store: ")).toList();
        assertEquals(2, failures.size(), failures::toString);
        assertTrue(failures.get(0).startsWith("limiter store: 1 call(s) failed") && failures.get(0)
            .endsWith("policy per-user)"), failures.get(0));
        assertTrue(failures.get(1).startsWith("limiter store: 4 call(s) failed"), failures.get(1));
      }
    }

    @Test
    @DisplayName("a probe that hangs times out like any call, and the gateway stays alone")
    void hangingProbe() {
      failUntilAlone(failover, under);
      granted(failover, "k", TEN_PER_SECOND, T0, 1);
      under.fault = Fault.HANG;
      probe(failover);
      awaitFailures(failover, 2);
      assertEquals(StoreMode.State.DEGRADED, failover.mode());
    }

    @Test
    @DisplayName("a release the store does not answer does not hold the caller up")
    void hangingRelease() throws Exception {
      Reservation slot = reserve(failover, "k", T0);
      under.fault = Fault.HANG;
      failover.release("k", TEN_PER_SECOND, T0, slot.bucket()).await();
      assertEquals(StoreMode.State.SUSPECT, failover.mode(), "counted as a failure");
    }
  }

  @Nested
  @DisplayName("three gateways over one store that does not answer (the soak trial's tokens)")
  class ThreeGateways {

    private static final WindowSpec ONE_PER_TWO_SECONDS = new WindowSpec(1, 2_000);
    private final FaultyStore under = new FaultyStore(clock);
    private final List<FailoverCounterStore> gateways = List.of(seat(0), seat(1), seat(2));

    private FailoverCounterStore seat(int index) {
      return failover(under, OnStoreFailure.LOCAL, new Seat(index, 3));
    }

    /** One request every {@code every} ms from {@code from}, sent to the gateways in turn; how many were admitted. */
    private int roundRobin(WindowSpec spec, long from, long every, int requests) {
      int admitted = 0;
      for (int i = 0; i < requests; i++) {
        long at = from + every * i;
        clock.set(at);
        if (reserve(gateways.get(i % gateways.size()), "token", spec, at).granted()) {
          admitted++;
        }
      }
      return admitted;
    }

    @Test
    @DisplayName("a limit of 1 per 2 s, one key's requests round robin over the three, every gateway deciding alone: "
        + "1 admitted in a window across the cluster, not 3")
    void roundRobinAdmitsTheLimit() {
      under.fault = Fault.HANG;
      assertEquals(1, roundRobin(ONE_PER_TWO_SECONDS, T0, 100, 19), "19 requests in 1.8 s, one window");
      assertEquals(1, roundRobin(ONE_PER_TWO_SECONDS, T0 + 2_100, 100, 19), "and 1 in the next window");
      gateways.forEach(gateway -> assertEquals(StoreMode.State.DEGRADED, gateway.mode()));
    }

    @Test
    @DisplayName("a limit of 10 per 1 s that 3 does not divide: the three alone admit 4 + 3 + 3 = 10 per window, "
        + "not 12")
    void partsAddUpToTheLimit() {
      under.fault = Fault.HANG;
      assertEquals(10, roundRobin(TEN_PER_SECOND, T0, 10, 60), "60 requests in 0.6 s");
      assertEquals(10, roundRobin(TEN_PER_SECOND, T0 + 1_100, 10, 60), "and 10 in the next window");
    }
  }

  @Nested
  @DisplayName("limiter.onStoreFailure = closed")
  class Closed {

    private final FaultyStore under = new FaultyStore(clock);
    private final FailoverCounterStore failover = failover(under, OnStoreFailure.CLOSED, FIRST_OF_TWO);

    @Test
    @DisplayName("decisions fail (the gateway answers 503) until a probe is answered, then are shared again")
    void refusesUntilTheStoreAnswers() {
      under.fault = Fault.HANG;
      Future<Reservation> answer = failover.reserve("k", TEN_PER_SECOND, T0, T0, T0);
      assertInstanceOf(FailoverCounterStore.StoreUnavailable.class, awaitFailure(answer));
      clock.advance(FailoverCounterStore.CONFIRM_MILLIS);
      assertInstanceOf(FailoverCounterStore.StoreUnavailable.class,
          awaitFailure(failover.reserve("k", TEN_PER_SECOND, T0, T0, T0)));
      assertEquals(StoreMode.State.DEGRADED, failover.mode());

      under.fault = Fault.NONE;
      under.answerHeld();
      probe(failover);
      assertEquals(StoreMode.State.SHARED, failover.mode());
      assertEquals(10, granted(failover, "k", TEN_PER_SECOND, T0 + 300, 20), "nothing was admitted meanwhile");
    }
  }

  @Nested
  @DisplayName("limiter.onStoreFailure = open")
  class Open {

    private final FaultyStore under = new FaultyStore(clock);
    private final FailoverCounterStore failover = failover(under, OnStoreFailure.OPEN, FIRST_OF_TWO);

    @Test
    @DisplayName("every request is admitted while the store fails; on return, the key is full for the rest of the "
        + "window instead of admitting a limit's worth more")
    void admitsEverythingThenHolds() {
      failUntilAlone(failover, under);
      assertEquals(100, granted(failover, "k", TEN_PER_SECOND, T0, 100));

      under.fault = Fault.NONE;
      probe(failover);

      assertEquals(StoreMode.State.SHARED, failover.mode());
      assertEquals(0, granted(failover, "k", TEN_PER_SECOND, T0 + 300, 20));
      long later = T0 + TEN_PER_SECOND.spanBuckets() * TEN_PER_SECOND.bucketMillis();
      assertEquals(10, granted(failover, "k", TEN_PER_SECOND, later, 20), "a window later, the limit as usual");
    }
  }

  private static Throwable awaitFailure(Future<?> future) {
    try {
      future.await();
    } catch (Exception e) {
      return e;
    }
    throw new AssertionError("expected a failure, got " + future.result());
  }

  /** Waits (at most 5 s) for answers that come on a Vert.x event loop to bring {@code failover} to {@code state}. */
  private static void awaitMode(FailoverCounterStore failover, StoreMode.State state) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (failover.mode() != state && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
    assertEquals(state, failover.mode());
  }

  private static void awaitFailures(FailoverCounterStore failover, long count) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (failover.storeFailures() < count && System.nanoTime() < deadline) {
      Thread.onSpinWait();
    }
    assertEquals(count, failover.storeFailures());
  }

  enum Fault { NONE, FAIL, HANG, REFUSE }

  /** Keys starting with this live in place 1 of a {@link FaultyStore}, the others in place 0. */
  static final String ELSEWHERE = "elsewhere-";

  /** What a store that will not serve for now fails with (a minority member's split-brain protection). */
  static final class Refusal extends IllegalStateException {
    Refusal() {
      super("no quorum (test)");
    }
  }

  /**
   * A real in-memory store that can be told to fail every call, or to hold its answers (a suspended member) until
   * {@link #answerHeld}.
   */
  static final class FaultyStore implements CounterStore {
    final InMemoryCounterStore inner;
    volatile Fault fault = Fault.NONE;
    /**
     * Where keys live ({@link CounterStore#placeOf}): those starting with {@link #ELSEWHERE} in place 1, the rest in
     * place 0, unless {@link #moved} says otherwise (a migrated key).
     */
    final java.util.Map<String, Integer> moved = new java.util.concurrent.ConcurrentHashMap<>();
    /** The only place {@link #fault} hits (a member holding some partitions); -1: every place (the whole store). */
    volatile int faultyPlace = -1;
    /** What it says its answers take (a remote store's estimate). */
    volatile long lead;
    volatile long slow;
    /** Answers on a Vert.x event loop a moment later instead of at once. */
    volatile boolean answerLater;
    int calls;
    /** Calls answered later that have not been answered yet, and the most there were at once. */
    int inFlight;
    int maxInFlight;
    private final List<Runnable> held = new ArrayList<>();

    FaultyStore(TestClock clock) {
      this.inner = new InMemoryCounterStore(clock, 10_000);
    }

    @Override
    public int placeOf(String key) {
      return moved.getOrDefault(key, key.startsWith(ELSEWHERE) ? 1 : 0);
    }

    private synchronized <T> Future<T> call(String key, java.util.function.Supplier<Future<T>> real) {
      calls++;
      switch (faultyPlace < 0 || placeOf(key) == faultyPlace ? fault : Fault.NONE) {
        case FAIL:
          return Future.failedFuture(new IllegalStateException("store failed (test)"));
        case REFUSE:
          return Future.failedFuture(new Refusal());
        case HANG:
          Promise<T> promise = Promise.promise();
          held.add(() -> real.get().onComplete(promise));
          return promise.future();
        default:
          if (answerLater) {
            Promise<T> later = Promise.promise();
            maxInFlight = Math.max(maxInFlight, ++inFlight);
            vertx.setTimer(2, id -> {
              synchronized (this) {
                inFlight--;
              }
              real.get().onComplete(later);
            });
            return later.future();
          }
          return real.get();
      }
    }

    /** Answers every held call now (a resumed member). */
    synchronized void answerHeld() {
      held.forEach(Runnable::run);
      held.clear();
    }

    @Override
    public long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
      return lead;
    }

    @Override
    public long slowAnswerMillis(String key, WindowSpec spec, long nowMillis) {
      return slow;
    }

    @Override
    public boolean refusesForNow(Throwable failure) {
      return failure instanceof Refusal;
    }

    @Override
    public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                       long latestMillis) {
      return call(key, () -> inner.reserve(key, spec, nowMillis, notBeforeMillis, latestMillis));
    }

    @Override
    public Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket) {
      return call(key, () -> inner.release(key, spec, nowMillis, bucket));
    }

    @Override
    public Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted) {
      return call(key, () -> inner.addAdmissions(key, spec, nowMillis, admitted));
    }

    @Override
    public Future<Reservation> peek(String key, WindowSpec spec, long nowMillis) {
      return call(key, () -> inner.peek(key, spec, nowMillis));
    }

    @Override
    public Future<Void> reset(String key, WindowSpec spec, long nowMillis) {
      return call(key, () -> inner.reset(key, spec, nowMillis));
    }
  }
}
