package io.sluice.gateway.limit;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.Arrays;

/**
 * Admissions of one key: a sparse, sorted list of (bucket, count). Pure and single-threaded: a counter store makes
 * each call atomic (an entry processor on the key's owner, or a map compute in memory).
 *
 * <p>Invariant: every run of {@link WindowSpec#spanBuckets()} consecutive buckets holds at most
 * {@link WindowSpec#requests()} admissions. Buckets may lie in the future: those are reservations of delayed requests.
 */
public final class WindowState {

  private long[] buckets = new long[4];
  private int[] counts = new int[4];
  private int size;
  /** Highest "now" bucket seen; callers' clocks may differ slightly, the state never goes back in time. */
  private long highWater = Long.MIN_VALUE;

  /**
   * Reserves the earliest slot at or after {@code notBeforeMillis} and at or before {@code latestMillis}, if any.
   */
  public Reservation reserve(WindowSpec spec, long nowMillis, long notBeforeMillis, long latestMillis) {
    highWater = Math.max(highWater, spec.bucketOf(nowMillis));
    prune(highWater - spec.spanBuckets() + 1);
    long first = Math.max(highWater, spec.bucketOf(notBeforeMillis));
    long last = Math.max(first, spec.bucketOf(latestMillis));
    int span = spec.spanBuckets();

    long slot = countFrom(first - span + 1) < spec.requests() ? first : earliestFreeSlot(spec, first);
    if (slot > last) {
      return Reservation.denied(Math.max(nowMillis, spec.startOf(slot)));
    }
    add(slot, 1);
    int remaining = Math.max(0, spec.requests() - countFrom(slot - span + 1));
    long oldest = buckets[indexAtOrAfter(slot - span + 1)];
    return new Reservation(true, slot, Math.max(nowMillis, spec.startOf(slot)), remaining,
        spec.startOf(oldest + span), spec.startOf(slot + 1));
  }

  /**
   * Grants up to {@code wanted} permits usable from {@code startMillis} until {@code endMillis}, recorded in the
   * bucket of {@code endMillis} (see {@link WindowSpec#leaseMillis()}); first gives back {@code returned} unused
   * permits of an earlier lease recorded in {@code returnBucket}. Denied when not even one fits.
   */
  public LeaseGrant lease(WindowSpec spec, long nowMillis, long startMillis, long endMillis, int wanted,
                          long returnBucket, int returned) {
    for (int i = 0; i < returned; i++) {
      release(returnBucket);
    }
    highWater = Math.max(highWater, spec.bucketOf(nowMillis));
    prune(highWater - spec.spanBuckets() + 1);
    long bucket = Math.max(highWater, spec.bucketOf(endMillis));
    int span = spec.spanBuckets();
    int fullest = fullestRunThrough(bucket, span);
    int granted = Math.min(wanted, spec.requests() - fullest);
    if (granted <= 0) {
      long free = earliestFreeSlot(spec, Math.max(highWater, spec.bucketOf(startMillis)));
      long retryAt = Math.max(nowMillis, spec.startOf(free));
      return new LeaseGrant(0, bucket, startMillis, endMillis, 0, retryAt, retryAt);
    }
    add(bucket, granted);
    int remaining = Math.max(0, spec.requests() - countFrom(bucket - span + 1));
    return new LeaseGrant(granted, bucket, startMillis, endMillis, remaining, spec.startOf(bucket + span), 0);
  }

  /** The most admissions in any run of {@code span} buckets that contains {@code bucket}: one pass, a moving sum. */
  private int fullestRunThrough(long bucket, int span) {
    int fullest = 0;
    int running = 0;
    int first = indexAtOrAfter(bucket - span + 1);
    int next = first;
    for (long end = bucket; end < bucket + span; end++) {
      while (next < size && buckets[next] <= end) {
        running += counts[next++];
      }
      while (first < next && buckets[first] <= end - span) {
        running -= counts[first++];
      }
      fullest = Math.max(fullest, running);
    }
    return fullest;
  }

  /**
   * Adds admissions made without this state (a gateway that decided alone while the store failed), whatever the
   * window holds already: those requests were forwarded. Buckets already out of the span are left out.
   */
  public void addAll(WindowSpec spec, long nowMillis, WindowState admitted) {
    long keepFrom = advance(spec, nowMillis);
    for (int i = 0; i < admitted.size; i++) {
      if (admitted.buckets[i] >= keepFrom) {
        add(admitted.buckets[i], admitted.counts[i]);
      }
    }
  }

  /**
   * Notes one admission in {@code bucket} unless the span up to now already holds {@link WindowSpec#requests()}
   * (what a gateway admitted alone, kept to be added to the store later: more than a limit's worth says nothing more).
   */
  public void record(WindowSpec spec, long nowMillis, long bucket) {
    long keepFrom = advance(spec, nowMillis);
    if (bucket >= keepFrom && countFrom(keepFrom) < spec.requests()) {
      add(bucket, 1);
    }
  }

  /**
   * Raises what the span up to now holds to {@code target}, adding the difference in {@code bucket}: what a gateway
   * learnt from the shared counters about admissions it did not make itself (see FailoverCounterStore).
   */
  public void fillTo(WindowSpec spec, long nowMillis, long bucket, int target) {
    long keepFrom = advance(spec, nowMillis);
    int count = countFrom(keepFrom);
    if (bucket >= keepFrom && count < target) {
      add(bucket, target - count);
    }
  }

  /**
   * The state after a split brain healed, when this side's state and the other side's meet for one key: every bucket
   * holds the larger of the two counts, and "now" is the later of the two. Never lower than either side, so no
   * window admits more after the merge than either side's counters allowed. Not the sum: both sides hold what was
   * admitted before the split (the side that lost the key's owner promoted its backup), and a sum would count that
   * twice, refusing requests for no admission at all. What a side admitted on its own during the split is the
   * difference the sum would have kept; split-brain protection keeps a minority side from writing its counters at
   * all, and its gateways add their own admissions back on return (see FailoverCounterStore). Pure: neither argument
   * changes (an owner's stored object may be one of them), and no window is needed: buckets out of the window are
   * kept and pruned by the key's next decision.
   */
  public static WindowState atLeastBoth(WindowState one, WindowState other) {
    WindowState merged = new WindowState();
    merged.buckets = new long[Math.max(4, one.size + other.size)];
    merged.counts = new int[merged.buckets.length];
    int i = 0;
    int j = 0;
    while (i < one.size || j < other.size) {
      long bucket;
      int count;
      if (j == other.size || (i < one.size && one.buckets[i] < other.buckets[j])) {
        bucket = one.buckets[i];
        count = one.counts[i++];
      } else if (i == one.size || other.buckets[j] < one.buckets[i]) {
        bucket = other.buckets[j];
        count = other.counts[j++];
      } else {
        bucket = one.buckets[i];
        count = Math.max(one.counts[i++], other.counts[j++]);
      }
      merged.buckets[merged.size] = bucket;
      merged.counts[merged.size++] = count;
    }
    merged.highWater = Math.max(one.highWater, other.highWater);
    return merged;
  }

  /**
   * Whether this state already holds at least {@code other}'s count in each of its buckets, and is as far in time:
   * then {@link #atLeastBoth} of the two is this state itself.
   */
  public boolean covers(WindowState other) {
    if (other.highWater > highWater) {
      return false;
    }
    int i = 0;
    for (int j = 0; j < other.size; j++) {
      while (i < size && buckets[i] < other.buckets[j]) {
        i++;
      }
      if (i == size || buckets[i] != other.buckets[j] || counts[i] < other.counts[j]) {
        return false;
      }
    }
    return true;
  }

  /** Admissions recorded in {@code bucket} alone. */
  public int countIn(long bucket) {
    int i = Arrays.binarySearch(buckets, 0, size, bucket);
    return i >= 0 ? counts[i] : 0;
  }

  /** Moves "now" forward and drops what no longer counts; returns the first bucket that still does. */
  private long advance(WindowSpec spec, long nowMillis) {
    highWater = Math.max(highWater, spec.bucketOf(nowMillis));
    long keepFrom = highWater - spec.spanBuckets() + 1;
    prune(keepFrom);
    return keepFrom;
  }

  /** Gives back one admission previously reserved in {@code bucket} (a request denied by another policy). */
  public void release(long bucket) {
    int i = Arrays.binarySearch(buckets, 0, size, bucket);
    if (i >= 0 && --counts[i] == 0) {
      removeAt(i);
    }
  }

  public boolean isEmpty() {
    return size == 0;
  }

  /**
   * What a request asking now would get, without taking it: a copy reserves the earliest slot within one window. For
   * looking at a key (the admin API), never on the decision path.
   */
  public Reservation peek(WindowSpec spec, long nowMillis) {
    WindowState copy = new WindowState();
    copy.buckets = Arrays.copyOf(buckets, buckets.length);
    copy.counts = Arrays.copyOf(counts, counts.length);
    copy.size = size;
    copy.highWater = highWater;
    return copy.reserve(spec, nowMillis, nowMillis, nowMillis + spec.windowMillis());
  }

  /** Admissions recorded at or after {@code bucket}. */
  public int countFrom(long bucket) {
    int total = 0;
    for (int i = indexAtOrAfter(bucket); i < size; i++) {
      total += counts[i];
    }
    return total;
  }

  /** After this instant the state constrains nothing and may be dropped. */
  public long expiresAtMillis(WindowSpec spec) {
    return size == 0 ? Long.MIN_VALUE : spec.startOf(buckets[size - 1] + spec.spanBuckets());
  }

  /**
   * The earliest bucket b >= first such that every run of span buckets containing b holds fewer than
   * requests admissions. Always exists: past the last recorded bucket plus a span, every run is empty.
   */
  private long earliestFreeSlot(WindowSpec spec, long first) {
    int span = spec.spanBuckets();
    long lastRecorded = size == 0 ? first : buckets[size - 1];
    long hi = Math.max(first, lastRecorded + span);
    long lo = first - span + 1;
    int len = (int) (hi + span - 1 - lo + 1);
    int[] dense = new int[len];
    for (int i = indexAtOrAfter(lo); i < size && buckets[i] - lo < len; i++) {
      dense[(int) (buckets[i] - lo)] = counts[i];
    }
    // full[k]: the run of span buckets ending at bucket lo + k already holds `requests`.
    boolean[] full = new boolean[len];
    int running = 0;
    for (int k = 0; k < len; k++) {
      running += dense[k];
      if (k >= span) {
        running -= dense[k - span];
      }
      full[k] = k >= span - 1 && running >= spec.requests();
    }
    int nextFull = Integer.MAX_VALUE;
    long best = hi;
    for (int k = len - 1; k >= span - 1; k--) {
      if (full[k]) {
        nextFull = k;
      }
      long candidate = lo + k;
      if (candidate >= first && candidate <= hi && (nextFull == Integer.MAX_VALUE || nextFull > k + span - 1)) {
        best = candidate;
      }
    }
    return best;
  }

  /** Writes this state for another cluster member (see {@link #readFrom}). */
  public void writeTo(DataOutput out) throws IOException {
    out.writeLong(highWater);
    out.writeInt(size);
    for (int i = 0; i < size; i++) {
      out.writeLong(buckets[i]);
      out.writeInt(counts[i]);
    }
  }

  /** Reads a state written by {@link #writeTo}. */
  public static WindowState readFrom(DataInput in) throws IOException {
    WindowState state = new WindowState();
    state.highWater = in.readLong();
    int size = in.readInt();
    if (size < 0) {
      throw new IOException("corrupt window state: " + size + " entries");
    }
    state.buckets = new long[Math.max(4, size)];
    state.counts = new int[Math.max(4, size)];
    for (int i = 0; i < size; i++) {
      state.buckets[i] = in.readLong();
      state.counts[i] = in.readInt();
    }
    state.size = size;
    return state;
  }

  private void prune(long keepFrom) {
    int drop = indexAtOrAfter(keepFrom);
    if (drop > 0) {
      System.arraycopy(buckets, drop, buckets, 0, size - drop);
      System.arraycopy(counts, drop, counts, 0, size - drop);
      size -= drop;
    }
  }

  private void add(long bucket, int count) {
    int i = Arrays.binarySearch(buckets, 0, size, bucket);
    if (i >= 0) {
      counts[i] += count;
      return;
    }
    int at = -i - 1;
    if (size == buckets.length) {
      buckets = Arrays.copyOf(buckets, size * 2);
      counts = Arrays.copyOf(counts, size * 2);
    }
    System.arraycopy(buckets, at, buckets, at + 1, size - at);
    System.arraycopy(counts, at, counts, at + 1, size - at);
    buckets[at] = bucket;
    counts[at] = count;
    size++;
  }

  private void removeAt(int i) {
    System.arraycopy(buckets, i + 1, buckets, i, size - i - 1);
    System.arraycopy(counts, i + 1, counts, i, size - i - 1);
    size--;
  }

  private int indexAtOrAfter(long bucket) {
    int i = Arrays.binarySearch(buckets, 0, size, bucket);
    return i >= 0 ? i : -i - 1;
  }
}
