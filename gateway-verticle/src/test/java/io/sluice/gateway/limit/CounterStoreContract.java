package io.sluice.gateway.limit;

import io.vertx.core.Future;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every counter store guarantees. Each implementation runs this suite; times are passed explicitly, so no
 * test waits for a window to pass.
 *
 * <p>Small limits are decided exactly: the store grants the limit to the request, and says to the millisecond when a
 * slot frees up. A high limit ({@link WindowSpec#LEASE_MIN_REQUESTS} or more) may be leased in batches, and then two
 * things are weaker, by design: a store may hold up to {@link #heldAheadPerCaller} permits per caller that nobody
 * uses at that instant (the next batch, fetched while the current one serves), and the instant it gives with a
 * denial is when a slot is sure to be free, not the earliest one. It never grants more than the limit.
 */
public abstract class CounterStoreContract {

  protected static final long T0 = 1_800_000_000_000L;
  private static final WindowSpec FIVE_PER_SECOND = new WindowSpec(5, 1_000);
  /** A limit high enough for a store to lease it. */
  private static final WindowSpec THREE_HUNDRED_PER_SECOND = new WindowSpec(300, 1_000);

  /** The store under test; {@link #peer()} returns one sharing its state (the same one, for a local store). */
  protected abstract CounterStore store();

  protected abstract CounterStore peer();

  /**
   * How many permits of a high limit one caller of this store may hold without using them at one instant: none for a
   * store that decides every request at the key's owner.
   */
  protected int heldAheadPerCaller(WindowSpec spec) {
    return 0;
  }

  private static String freshKey() {
    return "contract|" + UUID.randomUUID();
  }

  @Test
  @DisplayName("grants the limit, then denies and says when a slot frees up")
  void grantsThenDenies() {
    String key = freshKey();
    for (int i = 0; i < 5; i++) {
      assertTrue(store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await().granted());
    }
    Reservation denied = store().reserve(key, FIVE_PER_SECOND, T0 + 10, T0 + 10, T0 + 10).await();
    assertFalse(denied.granted());
    assertEquals(T0 + 1_016, denied.atMillis());
    assertTrue(store().reserve(key, FIVE_PER_SECOND, T0 + 1_016, T0 + 1_016, T0 + 1_016).await().granted());
  }

  @Test
  @DisplayName("keys are counted separately")
  void keysAreIndependent() {
    String a = freshKey();
    String b = freshKey();
    for (int i = 0; i < 5; i++) {
      store().reserve(a, FIVE_PER_SECOND, T0, T0, T0).await();
    }
    assertFalse(store().reserve(a, FIVE_PER_SECOND, T0, T0, T0).await().granted());
    assertTrue(store().reserve(b, FIVE_PER_SECOND, T0, T0, T0).await().granted());
  }

  @Test
  @DisplayName("a delayed reservation takes the earliest future slot within its deadline")
  void delays() {
    String key = freshKey();
    for (int i = 0; i < 5; i++) {
      store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await();
    }
    Reservation later = store().reserve(key, FIVE_PER_SECOND, T0 + 100, T0 + 100, T0 + 2_100).await();
    assertTrue(later.granted());
    assertEquals(T0 + 1_016, later.atMillis());
    assertFalse(store().reserve(key, FIVE_PER_SECOND, T0 + 100, T0 + 100, T0 + 500).await().granted());
  }

  @Test
  @DisplayName("a released slot can be taken again")
  void releases() {
    String key = freshKey();
    Reservation first = null;
    for (int i = 0; i < 5; i++) {
      Reservation r = store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await();
      first = first == null ? r : first;
    }
    store().release(key, FIVE_PER_SECOND, T0, first.bucket()).await();
    assertTrue(store().reserve(key, FIVE_PER_SECOND, T0 + 1, T0 + 1, T0 + 1).await().granted());
    assertFalse(store().reserve(key, FIVE_PER_SECOND, T0 + 2, T0 + 2, T0 + 2).await().granted());
  }

  @Test
  @DisplayName("concurrent reservations from two callers add up exactly to the limit")
  void concurrentCallersShareOneLimit() {
    String key = freshKey();
    WindowSpec fifty = new WindowSpec(50, 1_000);
    List<Future<Reservation>> answers = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      CounterStore caller = i % 2 == 0 ? store() : peer();
      answers.add(caller.reserve(key, fifty, T0 + i % 7, T0 + i % 7, T0 + i % 7));
    }
    Future.join(answers).await();
    long granted = answers.stream().filter(f -> f.result().granted()).count();
    assertEquals(50, granted);
  }

  @Test
  @DisplayName("a high limit: at one instant never more than the limit, all of it but what is held ahead; the "
      + "instant a denial names is free")
  void highLimitGrantsThenDenies() {
    WindowSpec spec = THREE_HUNDRED_PER_SECOND;
    String key = freshKey();
    int granted = 0;
    Reservation denied = null;
    for (int i = 0; i < 2 * spec.requests(); i++) {
      Reservation r = store().reserve(key, spec, T0, T0, T0).await();
      if (r.granted()) {
        granted++;
      } else if (denied == null) {
        denied = r;
      }
    }
    assertAtMostTheLimit(spec, granted, 1);
    assertTrue(denied.atMillis() > T0, "a denial names a later instant: " + denied);
    long retry = denied.atMillis();
    assertTrue(store().reserve(key, spec, retry, retry, retry).await().granted(), "granted at " + (retry - T0));
  }

  @Test
  @DisplayName("a high limit: two callers at once never add up to more than the limit")
  void highLimitSharedByConcurrentCallers() {
    WindowSpec spec = THREE_HUNDRED_PER_SECOND;
    String key = freshKey();
    List<Future<Reservation>> answers = new ArrayList<>();
    for (int i = 0; i < 2 * spec.requests(); i++) {
      CounterStore caller = i % 2 == 0 ? store() : peer();
      answers.add(caller.reserve(key, spec, T0, T0, T0));
    }
    Future.join(answers).await();
    int granted = (int) answers.stream().filter(f -> f.result().granted()).count();
    assertAtMostTheLimit(spec, granted, store() == peer() ? 1 : 2);
  }

  @Test
  @DisplayName("a high limit: a released slot can be taken again, and only once")
  void highLimitReleases() {
    WindowSpec spec = THREE_HUNDRED_PER_SECOND;
    String key = freshKey();
    Reservation first = null;
    for (int i = 0; i < spec.requests(); i++) {
      Reservation r = store().reserve(key, spec, T0, T0, T0).await();
      first = first == null && r.granted() ? r : first;
    }
    store().release(key, spec, T0, first.bucket()).await();
    assertTrue(store().reserve(key, spec, T0 + 1, T0 + 1, T0 + 1).await().granted());
    assertFalse(store().reserve(key, spec, T0 + 2, T0 + 2, T0 + 2).await().granted());
  }

  @Test
  @DisplayName("a high limit: a delayed reservation waits for the window to pass, within its deadline")
  void highLimitDelays() {
    WindowSpec spec = THREE_HUNDRED_PER_SECOND;
    String key = freshKey();
    for (int i = 0; i < spec.requests(); i++) {
      store().reserve(key, spec, T0, T0, T0).await();
    }
    Reservation later = store().reserve(key, spec, T0 + 100, T0 + 100, T0 + 2_100).await();
    assertTrue(later.granted());
    assertTrue(later.atMillis() >= T0 + spec.windowMillis(), "after the window: " + (later.atMillis() - T0));
    assertFalse(store().reserve(key, spec, T0 + 100, T0 + 100, T0 + 500).await().granted());
  }

  @Test
  @DisplayName("admissions added from a gateway that decided alone count against the limit, whatever it held")
  void addedAdmissionsCount() {
    String key = freshKey();
    assertTrue(store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await().granted());
    WindowState alone = new WindowState();
    for (int i = 0; i < 3; i++) {
      alone.record(FIVE_PER_SECOND, T0 + 10, FIVE_PER_SECOND.bucketOf(T0 + 10));
    }
    peer().addAdmissions(key, FIVE_PER_SECOND, T0 + 20, alone).await();
    assertTrue(store().reserve(key, FIVE_PER_SECOND, T0 + 30, T0 + 30, T0 + 30).await().granted());
    assertFalse(store().reserve(key, FIVE_PER_SECOND, T0 + 30, T0 + 30, T0 + 30).await().granted(), "1 + 3 + 1");
    peer().addAdmissions(key, FIVE_PER_SECOND, T0 + 40, alone).await();
    Reservation denied = store().reserve(key, FIVE_PER_SECOND, T0 + 50, T0 + 50, T0 + 50).await();
    assertFalse(denied.granted(), "more than the limit was added: still denied, never an error");
    assertEquals(T0 + 10 + 1_016, denied.atMillis(), "free once the added ones leave the window");
  }

  @Test
  @DisplayName("adding nothing (a probe) answers and changes nothing, not even for a key never seen")
  void addingNothingIsAProbe() {
    String key = freshKey();
    store().addAdmissions(key, FIVE_PER_SECOND, T0, new WindowState()).await();
    assertEquals(5, java.util.stream.IntStream.range(0, 6)
        .filter(i -> store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await().granted()).count());
  }

  @Test
  @DisplayName("peek says what a request asking now would get, and takes nothing")
  void peekTakesNothing() {
    String key = freshKey();
    Reservation fresh = store().peek(key, FIVE_PER_SECOND, T0).await();
    assertTrue(fresh.granted());
    assertEquals(4, fresh.remaining(), "a key never seen: the first of five");
    for (int i = 0; i < 5; i++) {
      assertTrue(store().reserve(key, FIVE_PER_SECOND, T0 + 10, T0 + 10, T0 + 10).await().granted());
    }
    Reservation full = store().peek(key, FIVE_PER_SECOND, T0 + 20).await();
    assertEquals(false, full.granted());
    assertEquals(full, store().peek(key, FIVE_PER_SECOND, T0 + 20).await(), "peeking again changes nothing");
    assertTrue(full.atMillis() > T0 + 1_000, "free once the five leave the window: " + full.atMillis());
  }

  @Test
  @DisplayName("reset forgets a key's admissions: a full window is free again at once, for every caller")
  void resetFreesTheKey() {
    String key = freshKey();
    for (int i = 0; i < 5; i++) {
      store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await();
    }
    assertEquals(false, store().reserve(key, FIVE_PER_SECOND, T0 + 10, T0 + 10, T0 + 10).await().granted());
    peer().reset(key, FIVE_PER_SECOND, T0 + 20).await();
    assertEquals(5, java.util.stream.IntStream.range(0, 6)
        .filter(i -> store().reserve(key, FIVE_PER_SECOND, T0 + 30, T0 + 30, T0 + 30).await().granted()).count());
  }

  private void assertAtMostTheLimit(WindowSpec spec, int granted, int callers) {
    int floor = spec.requests() - callers * heldAheadPerCaller(spec);
    assertTrue(granted <= spec.requests() && granted >= floor,
        granted + " granted, expected " + floor + ".." + spec.requests());
  }
}
