package io.sluice.gateway.limit;

/**
 * One rate-limit rule, validated: which requests it counts ({@link RouteMatch}), whose requests it counts together
 * ({@link KeySource}), how many per window, what happens when a request does not fit or carries no key, and whether it
 * acts on that ({@link Mode#ENFORCE}) or only says what it would have done ({@link Mode#SHADOW}).
 */
public record Policy(String name, KeySource keySource, WindowSpec window, OnExceed onExceed, long maxDelayMillis,
                     OnMissingKey onMissingKey, RouteMatch match, Mode mode) {

  public Policy {
    if (onExceed == OnExceed.DELAY) {
      window = window.queuedVariant();
    }
  }

  /** An enforced policy over every request. */
  public Policy(String name, KeySource keySource, WindowSpec window, OnExceed onExceed, long maxDelayMillis,
                OnMissingKey onMissingKey) {
    this(name, keySource, window, onExceed, maxDelayMillis, onMissingKey, RouteMatch.ANY, Mode.ENFORCE);
  }

  public enum OnExceed { REJECT, DELAY }

  public enum OnMissingKey { REJECT, SKIP, IP }

  /**
   * {@code ENFORCE}: rejects or delays. {@code SHADOW}: counted exactly as if enforced (a request it would have let
   * through takes a slot, one it would have refused takes none), but never refuses, delays or answers 401 itself;
   * what it would have done shows in the RateLimit field and in the statistics.
   */
  public enum Mode { ENFORCE, SHADOW }

  public boolean delays() {
    return onExceed == OnExceed.DELAY;
  }

  public boolean shadow() {
    return mode == Mode.SHADOW;
  }

  /** Window length in whole seconds (at least 1), as the RateLimit headers express it. */
  public long windowSeconds() {
    return Math.max(1, (window.windowMillis() + 999) / 1000);
  }
}
