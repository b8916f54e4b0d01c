package io.sluice.gateway.limit;

import java.io.Serializable;

/**
 * The shape of one sliding window: at most {@code requests} admissions in any {@code windowMillis}.
 *
 * <p>Admissions are recorded in buckets of {@link #bucketMillis()} (1/200 of the window). A window of real time
 * touches at most {@code window/bucket + 1} buckets; {@link #spanBuckets()} adds a few more buckets of slack
 * (about {@value #TIMING_SLACK_MILLIS} ms) so that the jitter between deciding and forwarding a request can never push
 * one more request into a window. The limiter keeps every run of {@code spanBuckets} consecutive buckets at or
 * below {@code requests}, which bounds every real-time window; the price is under-admission of at most
 * {@code span/window - 1} (about 2.5% for a 1 s window).
 */
public record WindowSpec(int requests, long windowMillis) implements Serializable {

  static final int BUCKETS_PER_WINDOW = 200;
  /** From this many requests per window, gateways lease permits in batches (see {@link #leaseMillis()}). */
  public static final int LEASE_MIN_REQUESTS = 100;
  static final long MAX_LEASE_MILLIS = 20;
  static final long TIMING_SLACK_MILLIS = 20;

  public WindowSpec {
    if (requests < 1) {
      throw new IllegalArgumentException("requests must be >= 1, got " + requests);
    }
    if (windowMillis < 1) {
      throw new IllegalArgumentException("window must be >= 1 ms, got " + windowMillis);
    }
  }

  public long bucketMillis() {
    return Math.max(1, windowMillis / BUCKETS_PER_WINDOW);
  }

  /** How many consecutive buckets together may hold at most {@link #requests()} admissions. */
  public int spanBuckets() {
    long bucket = bucketMillis();
    return (int) (ceilDiv(windowMillis, bucket) + 1 + ceilDiv(TIMING_SLACK_MILLIS + leaseMillis(), bucket));
  }

  /**
   * How long a batch of leased permits stays usable (0: no leasing for small limits). Leased permits are recorded
   * in the bucket where their lease ends, and may be used during the lease before it; the span above is longer by
   * this much, so every real window that holds a use also holds the record.
   */
  public long leaseMillis() {
    return requests < LEASE_MIN_REQUESTS ? 0 : Math.max(1, Math.min(MAX_LEASE_MILLIS, windowMillis / 50));
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
