package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The rule a split brain's merge applies when both sides hold a key's window: never lower than either side. */
@DisplayName("Merging two sides' windows after a split brain")
class WindowStateMergeTest {

  private static final long T0 = 1_800_000_000_000L;
  private final WindowSpec tenPerSecond = new WindowSpec(10, 1_000);

  @Test
  @DisplayName("each bucket keeps the larger count, not the sum: admissions before the split are on both sides once")
  void largerCountPerBucket() {
    WindowState before = admitted(T0, 4);
    WindowState majority = copy(before);
    admit(majority, T0 + 300, 3);
    WindowState minority = copy(before);

    WindowState merged = WindowState.atLeastBoth(majority, minority);

    assertEquals(4, merged.countIn(tenPerSecond.bucketOf(T0)), "the 4 from before the split, counted once");
    assertEquals(3, merged.countIn(tenPerSecond.bucketOf(T0 + 300)));
    assertEquals(7, merged.countFrom(tenPerSecond.bucketOf(T0)));
    assertEquals(3, fits(merged, T0 + 400), "3 more fit in the window, as on the majority side");
  }

  @Test
  @DisplayName("buckets only one side has are kept, whichever side, and the result lies as far in time as the later")
  void unionOfBuckets() {
    WindowState one = admitted(T0, 2);
    WindowState other = admitted(T0 + 500, 5);
    admit(one, T0 + 700, 1);

    WindowState merged = WindowState.atLeastBoth(one, other);

    assertEquals(2, merged.countIn(tenPerSecond.bucketOf(T0)));
    assertEquals(5, merged.countIn(tenPerSecond.bucketOf(T0 + 500)));
    assertEquals(1, merged.countIn(tenPerSecond.bucketOf(T0 + 700)));
    assertEquals(2, fits(merged, T0 + 800), "10 - 8 in the window");
    assertTrue(merged.covers(one) && merged.covers(other));
  }

  @Test
  @DisplayName("merging is symmetric and neither side's state changes (an owner's stored object may be one of them)")
  void pureAndSymmetric() {
    WindowState one = admitted(T0, 3);
    admit(one, T0 + 2, 6);
    WindowState other = admitted(T0 + 2, 2);
    admit(other, T0 + 9, 4);

    WindowState ab = WindowState.atLeastBoth(one, other);
    WindowState ba = WindowState.atLeastBoth(other, one);

    assertTrue(ab.covers(ba) && ba.covers(ab));
    assertEquals(3 + 6 + 4, ab.countFrom(Long.MIN_VALUE));
    assertEquals(9, one.countFrom(Long.MIN_VALUE));
    assertEquals(6, other.countFrom(Long.MIN_VALUE));
  }

  @Test
  @DisplayName("a side that holds at least the other's count in every bucket covers it: the merge keeps that side as is")
  void covers() {
    WindowState before = admitted(T0, 4);
    WindowState majority = copy(before);
    admit(majority, T0 + 100, 2);
    WindowState minority = copy(before);

    assertTrue(majority.covers(minority), "the majority went on from the same state");
    assertFalse(minority.covers(majority));
    admit(minority, T0 + 100, 3);
    assertFalse(majority.covers(minority), "3 in a bucket where the majority has 2");
    assertTrue(new WindowState().covers(new WindowState()));
  }

  @Test
  @DisplayName("random pairs: per bucket the merge is the larger count, so no window of the merge admits more than "
      + "either side would")
  void neverLowerOnRandomStates() {
    Random random = new Random(13);
    for (int round = 0; round < 500; round++) {
      WindowState one = new WindowState();
      WindowState other = new WindowState();
      for (int i = 0; i < random.nextInt(30); i++) {
        one.reserve(tenPerSecond, T0 + random.nextInt(1_000), T0, T0 + 2_000);
      }
      for (int i = 0; i < random.nextInt(30); i++) {
        other.reserve(tenPerSecond, T0 + random.nextInt(1_000), T0, T0 + 2_000);
      }
      WindowState merged = WindowState.atLeastBoth(one, other);
      for (long bucket = tenPerSecond.bucketOf(T0); bucket <= tenPerSecond.bucketOf(T0 + 2_000); bucket++) {
        assertEquals(Math.max(one.countIn(bucket), other.countIn(bucket)), merged.countIn(bucket), "round " + round);
      }
      long now = T0 + 1_000;
      assertTrue(fits(copy(merged), now) <= Math.min(fits(copy(one), now),
          fits(copy(other), now)), "round " + round);
    }
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

  /** How many more requests {@code state} admits at {@code nowMillis} (it takes them). */
  private int fits(WindowState state, long nowMillis) {
    int admitted = 0;
    while (state.reserve(tenPerSecond, nowMillis, nowMillis, nowMillis).granted()) {
      admitted++;
    }
    return admitted;
  }

  private static WindowState copy(WindowState state) {
    return WindowState.atLeastBoth(state, new WindowState());
  }
}
