package io.sluice.gateway.limit;

/**
 * One rate-limit rule, validated: whose requests it counts ({@link KeySource}), how many per window, and what
 * happens when a request does not fit or carries no key.
 */
public record Policy(String name, KeySource keySource, WindowSpec window, OnExceed onExceed, long maxDelayMillis,
                     OnMissingKey onMissingKey) {

  public Policy {
    if (onExceed == OnExceed.DELAY) {
      window = window.queuedVariant();
    }
  }

  public enum OnExceed { REJECT, DELAY }

  public enum OnMissingKey { REJECT, SKIP, IP }

  public boolean delays() {
    return onExceed == OnExceed.DELAY;
  }

  /** Window length in whole seconds (at least 1), as the RateLimit headers express it. */
  public long windowSeconds() {
    return Math.max(1, (window.windowMillis() + 999) / 1000);
  }
}
