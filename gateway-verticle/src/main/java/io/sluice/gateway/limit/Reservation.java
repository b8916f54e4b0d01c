package io.sluice.gateway.limit;

/**
 * The answer of a counter store to one reservation attempt.
 *
 * @param granted     whether a slot was reserved
 * @param bucket      the reserved bucket (meaningful when granted)
 * @param atMillis    when the request may be forwarded (now, or later for a delayed slot); when denied, the earliest
 *                    time a slot would have been free
 * @param remaining   requests still admissible in the window after this one (0 when denied)
 * @param resetMillis when the oldest admission counted in the window leaves it
 * @param untilMillis the request must leave before this instant (end of its bucket, or of its lease)
 */
public record Reservation(boolean granted, long bucket, long atMillis, int remaining, long resetMillis,
                          long untilMillis) {

  public static Reservation denied(long retryAtMillis) {
    return new Reservation(false, -1, retryAtMillis, 0, retryAtMillis, retryAtMillis);
  }

  /** Whether a request leaving at {@code millis} leaves within this slot. */
  public boolean covers(long millis) {
    return granted && millis >= atMillis && millis < untilMillis;
  }
}
