package io.sluice.gateway.limit;

/**
 * The shape of one sliding window: at most {@code requests} admissions in any {@code windowMillis}, counted where the
 * upstream receives the requests.
 *
 * <p>Admissions are recorded in buckets of {@link #bucketMillis()}: 1/1000 of the window for small limits (at most a
 * few entries per window, so fine buckets cost nothing), 1/200 for large ones (leased in batches). A window of real
 * time touches at most {@code window/bucket + 1} buckets; {@link #spanBuckets()} adds {@link #slackMillis()} more:
 * the time a request may leave after its bucket ({@link #lateToleranceMillis()}) plus {@code transitMillis}, by how
 * much more one request may take than another between leaving the gateway and being received upstream. Then one
 * more request can never enter a real window. The limiter keeps every run of {@code spanBuckets} consecutive buckets
 * at or below {@code requests}, which bounds every real-time window; the price is under-admission of at most
 * {@code span/window - 1} (with the default 12 ms transit, over 1 s: 1.6% for a small limit, 2.8% when it delays,
 * 4.5% for a leased one).
 *
 * <p>Requests of a delaying policy wait on timers, sometimes for seconds, and a timer can fire late (a GC pause, a
 * busy event loop, a descheduled VM). A request leaving after its tolerance gives its slot back and is decided
 * again; with the queue full that means a 429 and a slot nobody uses, which for a small limit is a large share of the
 * window (one in five for 5 per second). So a {@code queued} window (a delaying policy's) tolerates
 * {@link #QUEUED_LATE_TOLERANCE_MILLIS} of lateness instead of 3 ms.
 *
 * <p>That slack would make a rejecting policy refuse a request that arrives just as the window frees up (for evenly
 * paced traffic at 1.2x the limit, one request in twelve). So a rejecting policy holds a request up to
 * {@link #rejectGraceMillis()} when a slot frees up that soon, and refuses it only otherwise.
 */
public record WindowSpec(int requests, long windowMillis, boolean queued, long transitMillis) {

  /** From this many requests per window, gateways lease permits in batches (see {@link #leaseMillis()}). */
  public static final int LEASE_MIN_REQUESTS = 100;
  static final long MAX_LEASE_MILLIS = 20;
  static final long MAX_REJECT_GRACE_MILLIS = 25;
  static final long LATE_TOLERANCE_MILLIS = 3;
  /** Late tolerance of a small limit's queued (delayed) requests, at most 1/50 of the window. */
  static final long QUEUED_LATE_TOLERANCE_MILLIS = 15;
  /** The default of {@code limiter.transitAllowance} (see the class comment). */
  public static final long DEFAULT_TRANSIT_MILLIS = 12;
  /** Leased limits (5 ms buckets for 1 s) keep at least this much transit allowance. */
  static final long LEASED_MIN_TRANSIT_MILLIS = 17;

  public WindowSpec {
    if (requests < 1) {
      throw new IllegalArgumentException("requests must be >= 1, got " + requests);
    }
    if (windowMillis < 1) {
      throw new IllegalArgumentException("window must be >= 1 ms, got " + windowMillis);
    }
    if (transitMillis < 0) {
      throw new IllegalArgumentException("transit allowance must be >= 0 ms, got " + transitMillis);
    }
  }

  /** A window whose requests are never held long (a rejecting policy's), with the default transit allowance. */
  public WindowSpec(int requests, long windowMillis) {
    this(requests, windowMillis, false, DEFAULT_TRANSIT_MILLIS);
  }

  /** The same window for a policy that delays requests until they fit. */
  public WindowSpec queuedVariant() {
    return queued ? this : new WindowSpec(requests, windowMillis, true, transitMillis);
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

  /** The late tolerance plus the transit allowance (see the class comment). */
  public long slackMillis() {
    return lateToleranceMillis() + (leased() ? Math.max(LEASED_MIN_TRANSIT_MILLIS, transitMillis) : transitMillis);
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
