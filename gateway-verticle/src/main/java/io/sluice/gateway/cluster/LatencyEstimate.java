package io.sluice.gateway.cluster;

/**
 * The store round trip a decision plans for, from the last {@link #SAMPLES} answers: {@link #generousMillis()} (the
 * wait before a request leaves) covers all but the slowest {@code 1 - WAIT_QUANTILE} of them, {@link #slowMillis()}
 * all but the slowest {@code 1 - SLOW_QUANTILE}. Both are whole milliseconds, rounded up, capped at {@link #CAP_MILLIS}.
 *
 * <p>A quantile, not a mean plus deviations (TCP's retransmission timer, used before 2026-12-02): the store's answers
 * have a tail even when the cluster is idle (in issue 14's open-loop run, 80–90% within 1 ms, 1–2% over 10 ms), and
 * every slow answer raised a deviation-driven estimate to 20–50 ms for the next dozens of decisions, so that most
 * requests waited for a round trip that almost none of them needed. A request whose answer comes later than its wait
 * allows is decided again (see {@code RateLimiter#confirm}), planning for {@link #slowMillis()}.
 *
 * <p>Samples are kept as counts per {@link #STEPS_PER_MILLI}-th of a millisecond, so a query scans at most
 * {@code CAP_MILLIS × STEPS_PER_MILLI + 1} counters, and only after new samples.
 */
final class LatencyEstimate {

  /** Answers remembered: a few seconds of a quiet gateway's decisions, a fraction of a second of a busy one's. */
  static final int SAMPLES = 256;
  static final double WAIT_QUANTILE = 0.95;
  static final double SLOW_QUANTILE = 0.99;
  /** Never plan for longer: a stalled store must not make every request wait long. */
  static final long CAP_MILLIS = 50;
  /** Before any answer: what a round trip between two members on a LAN takes, generously. */
  static final long INITIAL_MILLIS = 3;
  private static final int STEPS_PER_MILLI = 4;
  private static final int STEPS = (int) (CAP_MILLIS * STEPS_PER_MILLI);

  /** The step of each remembered answer, oldest at {@code next} once full. */
  private final int[] ring = new int[SAMPLES];
  /** How many remembered answers fall in each step; the last counts every answer at or over the cap. */
  private final int[] counts = new int[STEPS + 1];
  private int next;
  private int filled;
  private boolean changed;
  private long wait = INITIAL_MILLIS;
  private long slow = INITIAL_MILLIS;

  synchronized void record(double millis) {
    int step = (int) Math.min(STEPS, Math.max(0, Math.ceil(millis * STEPS_PER_MILLI)));
    if (filled == SAMPLES) {
      counts[ring[next]]--;
    } else {
      filled++;
    }
    ring[next] = step;
    counts[step]++;
    next = (next + 1) % SAMPLES;
    changed = true;
  }

  /** How long a request waits for its decision's answer before it leaves (the wait quantile). */
  synchronized long generousMillis() {
    refresh();
    return wait;
  }

  /** How long a slow answer takes (the slow quantile): what a request decided again plans for. */
  synchronized long slowMillis() {
    refresh();
    return slow;
  }

  private void refresh() {
    if (!changed) {
      return;
    }
    changed = false;
    wait = millisAt((int) Math.ceil(WAIT_QUANTILE * filled));
    slow = millisAt((int) Math.ceil(SLOW_QUANTILE * filled));
  }

  /** The answer time of the {@code rank}-th fastest remembered answer (from 1), rounded up to whole milliseconds. */
  private long millisAt(int rank) {
    int seen = 0;
    for (int step = 0; step <= STEPS; step++) {
      seen += counts[step];
      if (seen >= rank) {
        return Math.min(CAP_MILLIS, (step + STEPS_PER_MILLI - 1) / STEPS_PER_MILLI);
      }
    }
    return CAP_MILLIS;
  }
}
