package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Sliding-window math")
class WindowStateTest {

  private static final long T0 = 1_800_000_000_000L;
  private final WindowSpec tenPerSecond = new WindowSpec(10, 1_000);

  @Test
  @DisplayName("a small limit is tracked in 1 ms buckets over 1 s + 16 ms; a leased one in 5 ms buckets over 1 s + 45 ms")
  void shape() {
    assertEquals(1, tenPerSecond.bucketMillis());
    assertEquals(1_016, tenPerSecond.spanBuckets(), "1 s, 1 bucket, 3 ms late tolerance, 12 ms transit");
    assertEquals(25, tenPerSecond.rejectGraceMillis());
    WindowSpec leased = new WindowSpec(1_000, 1_000);
    assertEquals(5, leased.bucketMillis());
    assertEquals(20, leased.leaseMillis());
    assertEquals(209, leased.spanBuckets());
    assertEquals(1, new WindowSpec(3, 100).bucketMillis());
    assertEquals(116, new WindowSpec(3, 100).spanBuckets());
    assertEquals(2, new WindowSpec(3, 100).rejectGraceMillis());
  }

  @Test
  @DisplayName("the transit allowance lengthens the span by itself; leased limits keep at least 17 ms of it")
  void transitAllowance() {
    assertEquals(1_004, new WindowSpec(10, 1_000, false, 0).spanBuckets());
    assertEquals(1_054, new WindowSpec(10, 1_000, false, 50).spanBuckets());
    assertEquals(209, new WindowSpec(1_000, 1_000, false, 0).spanBuckets());
    assertEquals(212, new WindowSpec(1_000, 1_000, false, 30).spanBuckets());
    assertEquals(50, new WindowSpec(10, 1_000, false, 50).queuedVariant().transitMillis());
  }

  @Test
  @DisplayName("a delaying policy's small limit tolerates 15 ms of lateness (span 1 s + 28 ms); a leased one keeps 3 ms")
  void queuedShape() {
    WindowSpec queued = tenPerSecond.queuedVariant();
    assertEquals(15, queued.lateToleranceMillis());
    assertEquals(1_028, queued.spanBuckets());
    assertEquals(3, new WindowSpec(1_000, 1_000).queuedVariant().lateToleranceMillis());
    assertEquals(3, new WindowSpec(3, 100).queuedVariant().lateToleranceMillis(), "never under 3 ms");
    assertEquals(queued, new Policy("p", new KeySource.Global(), tenPerSecond, Policy.OnExceed.DELAY, 1_000,
        Policy.OnMissingKey.SKIP).window(), "a delaying policy gets the queued window");
  }

  @Test
  @DisplayName("admits up to the limit at once, then rejects until the first admission has left the window")
  void rejectsWhenFull() {
    WindowState state = new WindowState();
    for (int i = 0; i < 10; i++) {
      Reservation r = state.reserve(tenPerSecond, T0 + i, T0 + i, T0 + i);
      assertTrue(r.granted());
      assertEquals(9 - i, r.remaining());
    }
    Reservation denied = state.reserve(tenPerSecond, T0 + 500, T0 + 500, T0 + 500);
    assertFalse(denied.granted());
    assertEquals(T0 + 1_016, denied.atMillis(), "free again once bucket of T0 is out of the 1016-bucket span");
    assertFalse(state.reserve(tenPerSecond, T0 + 1_015, T0 + 1_015, T0 + 1_015).granted());
    assertTrue(state.reserve(tenPerSecond, T0 + 1_016, T0 + 1_016, T0 + 1_016).granted());
  }

  @Test
  @DisplayName("a delayed request gets the earliest slot that keeps every window within the limit")
  void delaysToEarliestSlot() {
    WindowSpec twoPerSecond = new WindowSpec(2, 1_000);
    WindowState state = new WindowState();
    state.reserve(twoPerSecond, T0, T0, T0);
    state.reserve(twoPerSecond, T0 + 100, T0 + 100, T0 + 100);
    Reservation delayed = state.reserve(twoPerSecond, T0 + 200, T0 + 200, T0 + 2_200);
    assertTrue(delayed.granted());
    assertEquals(T0 + 1_016, delayed.atMillis());
    Reservation next = state.reserve(twoPerSecond, T0 + 210, T0 + 210, T0 + 2_210);
    assertEquals(T0 + 1_116, next.atMillis());
    Reservation tooLate = state.reserve(twoPerSecond, T0 + 220, T0 + 220, T0 + 1_500);
    assertFalse(tooLate.granted());
    assertEquals(T0 + 2_032, tooLate.atMillis(), "reported as the earliest slot, beyond maxDelay");
  }

  @Test
  @DisplayName("a released slot is free again at once, and an empty state can be dropped")
  void releaseGivesBack() {
    WindowSpec one = new WindowSpec(1, 1_000);
    WindowState state = new WindowState();
    Reservation r = state.reserve(one, T0, T0, T0);
    assertFalse(state.reserve(one, T0 + 1, T0 + 1, T0 + 1).granted());
    state.release(r.bucket());
    assertTrue(state.isEmpty());
    assertTrue(state.reserve(one, T0 + 2, T0 + 2, T0 + 2).granted());
  }

  @Test
  @DisplayName("old admissions are forgotten and the state expires one span after its last admission")
  void expires() {
    WindowState state = new WindowState();
    state.reserve(tenPerSecond, T0, T0, T0);
    assertEquals(T0 + 1_016, state.expiresAtMillis(tenPerSecond));
    state.reserve(tenPerSecond, T0 + 5_000, T0 + 5_000, T0 + 5_000);
    assertEquals(1, state.countFrom(Long.MIN_VALUE));
  }

  @Test
  @DisplayName("random mixes of reject and delay never put more than the limit in any window")
  void neverOverAdmitsUnderRandomLoad() {
    Random random = new Random(42);
    for (int trial = 0; trial < 40; trial++) {
      int limit = 1 + random.nextInt(30);
      long window = 100 + random.nextInt(3_000);
      WindowSpec spec = new WindowSpec(limit, window);
      WindowState state = new WindowState();
      List<Long> forwarded = new ArrayList<>();
      long now = T0 + random.nextInt(1_000);
      long end = now + 20 * window;
      double meanGap = window / (limit * (1.2 + random.nextDouble() * 20));
      while (now < end) {
        now += (long) Math.ceil(-Math.log(1 - random.nextDouble()) * meanGap);
        long maxDelay = random.nextBoolean() ? 0 : random.nextInt((int) window * 2);
        Reservation r = state.reserve(spec, now, now, now + maxDelay);
        if (r.granted()) {
          assertTrue(r.atMillis() >= now && r.atMillis() <= now + maxDelay + spec.bucketMillis());
          forwarded.add(r.atMillis());
        }
      }
      forwarded.sort(Long::compare);
      assertTrue(maxInAnyWindow(forwarded, window) <= limit,
          "limit " + limit + " per " + window + " ms exceeded: " + maxInAnyWindow(forwarded, window));
    }
  }

  @Test
  @DisplayName("random leases, returns and delayed reservations never put more than the limit in any span of buckets, and use all the room")
  void leasesStayWithinTheLimitAndGrantAllRoom() {
    Random random = new Random(7);
    for (int trial = 0; trial < 12; trial++) {
      WindowSpec spec = new WindowSpec(100 + random.nextInt(2_000), 500 + random.nextInt(2_000));
      int span = spec.spanBuckets();
      WindowState state = new WindowState();
      Map<Long, Integer> recorded = new HashMap<>();
      long now = T0;
      long lastBucket = Long.MIN_VALUE;
      int lastUnused = 0;
      for (int i = 0; i < 300; i++) {
        now += random.nextInt((int) spec.leaseMillis() * 2);
        if (random.nextInt(3) == 0) {
          // a delayed request's reservation, possibly well ahead of the leases
          Reservation r = state.reserve(spec, now, now, now + random.nextInt((int) spec.windowMillis()));
          if (r.granted()) {
            recorded.merge(r.bucket(), 1, Integer::sum);
          }
          continue;
        }
        long end = now + 1 + random.nextInt((int) spec.leaseMillis());
        int wanted = 1 + random.nextInt(spec.requests() / 4);
        int returned = lastBucket != Long.MIN_VALUE && random.nextInt(3) == 0 ? random.nextInt(lastUnused + 1) : 0;
        if (returned > 0) {
          recorded.merge(lastBucket, -returned, Integer::sum);
        }
        LeaseGrant grant = state.lease(spec, now, now, end, wanted, lastBucket, returned);
        lastUnused = grant.permits() - (grant.permits() > 0 ? random.nextInt(grant.permits() + 1) : 0);
        if (grant.permits() > 0) {
          recorded.merge(grant.bucket(), grant.permits(), Integer::sum);
          lastBucket = grant.bucket();
        }
        int fullest = 0;
        for (long runEnd = grant.bucket(); runEnd < grant.bucket() + span; runEnd++) {
          int sum = 0;
          for (long b = runEnd - span + 1; b <= runEnd; b++) {
            sum += recorded.getOrDefault(b, 0);
          }
          fullest = Math.max(fullest, sum);
        }
        assertTrue(fullest <= spec.requests(), "over the limit: " + fullest + " > " + spec.requests());
        assertTrue(grant.permits() == wanted || fullest == spec.requests(),
            "granted " + grant.permits() + " of " + wanted + " with room left (fullest " + fullest + ")");
      }
    }
  }

  @Test
  @DisplayName("under sustained overload at least 97.5% of the limit is admitted")
  void admitsNearlyTheLimitUnderOverload() {
    WindowState state = new WindowState();
    int admitted = 0;
    long start = T0;
    for (long t = start; t < start + 60_000; t += 1) {
      if (state.reserve(tenPerSecond, t, t, t).granted()) {
        admitted++;
      }
    }
    double perSecond = admitted / 60.0;
    assertTrue(perSecond >= 9.75 && perSecond <= 10, "admitted " + perSecond + "/s");
  }

  /** The largest number of instants in any half-open window (t - w, t]. */
  static int maxInAnyWindow(List<Long> sorted, long w) {
    int best = 0;
    int from = 0;
    for (int to = 0; to < sorted.size(); to++) {
      while (sorted.get(from) <= sorted.get(to) - w) {
        from++;
      }
      best = Math.max(best, to - from + 1);
    }
    return best;
  }
}
