package io.sluice.gateway;

/**
 * One log line per interval for an event that can come thousands of times a second (store failures, refused keys,
 * evictions): counts the events and says when a line summing those since the last one is due. The first event is
 * always logged.
 */
public final class LogThrottle {

  private final long intervalMillis;
  /** Guarded by this. */
  private long loggedAtMillis;
  private long unlogged;

  public LogThrottle(long intervalMillis) {
    this.intervalMillis = intervalMillis;
    this.loggedAtMillis = -intervalMillis;
  }

  /**
   * Counts one event at {@code nowMillis}. Returns how many events a line logged now should report (this one and
   * those not reported yet), or 0 when the last line is less than an interval old.
   */
  public synchronized long count(long nowMillis) {
    unlogged++;
    if (nowMillis - loggedAtMillis < intervalMillis) {
      return 0;
    }
    loggedAtMillis = nowMillis;
    long reported = unlogged;
    unlogged = 0;
    return reported;
  }
}
