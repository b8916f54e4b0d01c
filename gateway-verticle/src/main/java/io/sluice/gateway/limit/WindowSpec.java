package io.sluice.gateway.limit;

/**
 * The shape of one sliding window: at most {@code requests} admissions in any {@code windowMillis}.
 *
 * <p>Admissions are recorded in buckets of {@link #bucketMillis()}: 1/1000 of the window for small limits (at most a
 * few entries per window, so fine buckets cost nothing), 1/200 for large ones (leased in batches). A window of real
 * time touches at most {@code window/bucket + 1} buckets; {@link #spanBuckets()} adds {@link #slackMillis()} more,
 * so that a request leaving a little after its bucket ({@link #lateToleranceMillis()}) and crossing to the
 * upstream can never push one more request into a window. The limiter keeps every run of {@code spanBuckets}
 * consecutive buckets at or below {@code requests}, which bounds every real-time window; the price is
 * under-admission of at most {@code span/window - 1} (0.8% for a small limit over 1 s, 2.5% when it delays, 4.5% for a leased one).
 *
 * <p>Requests of a delaying policy wait on timers, sometimes for seconds, and a timer can fire late (a GC pause, a
 * busy event loop, a descheduled VM). A request leaving after its tolerance gives its slot back and is decided
 * again; with the queue full that means a 429 and a slot nobody uses, which for a small limit is a large share of the
 * window (one in five for 5 per second). So a {@code queued} window (a delaying policy's) tolerates
 * {@link #QUEUED_LATE_TOLERANCE_MILLIS} of lateness instead of 3 ms, for 2.5% more span over 1 s.
 *
 * <p>That slack would make a rejecting policy refuse a request that arrives just as the window frees up (for evenly
 * paced traffic at 1.2x the limit, one request in twelve). So a rejecting policy holds a request up to
 * {@link #rejectGraceMillis()} when a slot frees up that soon, and refuses it only otherwise.
 */
public record WindowSpec(int requests, long windowMillis, boolean queued) {

  /** From this many requests per window, gateways lease permits in batches (see {@link #leaseMillis()}). */
  public static final int LEASE_MIN_REQUESTS = 100;
  static final long MAX_LEASE_MILLIS = 20;
  static final long MAX_REJECT_GRACE_MILLIS = 25;
  static final long LATE_TOLERANCE_MILLIS = 3;
  /** Late tolerance of a small limit's queued (delayed) requests, at most 1/50 of the window. */
  static final long QUEUED_LATE_TOLERANCE_MILLIS = 20;

  public WindowSpec {
    if (requests < 1) {
      throw new IllegalArgumentException("requests must be >= 1, got " + requests);
    }
    if (windowMillis < 1) {
      throw new IllegalArgumentException("window must be >= 1 ms, got " + windowMillis);
    }
  }

  /** A window whose requests are never held long: a rejecting policy's. */
  public WindowSpec(int requests, long windowMillis) {
    this(requests, windowMillis, false);
  }

  /** The same window for a policy that delays requests until they fit. */
  public WindowSpec queuedVariant() {
    return queued ? this : new WindowSpec(requests, windowMillis, true);
  }

  private boolean leased() {
    return requests >= LEASE_MIN_REQUESTS;
  }

  public long bucketMillis() {
    return Math.max(1, windowMillis / (leased() ? 200 : 1000));
  }

  /**
   * How long after its bucket ends a request may still leave (a late timer, a slow store answer); later than that
   * it is decided again. Leased limits keep the short tolerance even when queued: a lost slot is one of hundreds.
   */
  public long lateToleranceMillis() {
    return queued && !leased()
        ? Math.max(LATE_TOLERANCE_MILLIS, Math.min(QUEUED_LATE_TOLERANCE_MILLIS, windowMillis / 50))
        : LATE_TOLERANCE_MILLIS;
  }

  /** Time allowed between a request leaving and the upstream seeing it, plus the late tolerance. */
  public long slackMillis() {
    return lateToleranceMillis() + (leased() ? 17 : 4);
  }

  /** How many consecutive buckets together may hold at most {@link #requests()} admissions. */
  public int spanBuckets() {
    long bucket = bucketMillis();
    return (int) (ceilDiv(windowMillis, bucket) + 1 + ceilDiv(slackMillis() + leaseMillis(), bucket));
  }

  /**
   * How long a batch of leased permits stays usable (0: no leasing for small limits). Leased permits are recorded
   * in the bucket where their lease ends, and may be used during the lease before it; the span above is longer by
   * this much, so every real window that holds a use also holds the record.
   */
  public long leaseMillis() {
    return leased() ? Math.max(1, Math.min(MAX_LEASE_MILLIS, windowMillis / 50)) : 0;
  }

  /** The longest a rejecting policy holds a request that will fit by then (see the class comment). */
  public long rejectGraceMillis() {
    return Math.min(MAX_REJECT_GRACE_MILLIS, windowMillis / 40);
  }

  public long bucketOf(long epochMillis) {
    return Math.floorDiv(epochMillis, bucketMillis());
  }

  public long startOf(long bucket) {
    return bucket * bucketMillis();
  }

  private static long ceilDiv(long a, long b) {
    return -Math.floorDiv(-a, b);
  }
}
