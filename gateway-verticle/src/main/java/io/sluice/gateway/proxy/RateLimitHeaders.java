package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.Policy;

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-10), as structured-field lists:
 * {@code RateLimit-Policy: "global";q=10;w=1} and {@code RateLimit: "global";r=3;t=1}.
 */
final class RateLimitHeaders {

  static final String POLICY = "RateLimit-Policy";
  static final String LIMIT = "RateLimit";

  private RateLimitHeaders() {
  }

  static String policy(Policy policy) {
    return "\"" + policy.name() + "\";q=" + policy.window().requests() + ";w=" + policy.windowSeconds();
  }

  static String limit(Decision.PolicyStatus status, long nowMillis) {
    return "\"" + status.policy().name() + "\";r=" + status.remaining() + ";t="
        + secondsUntil(status.resetMillis(), nowMillis);
  }

  /** Whole seconds from now until {@code millis}, rounded up, at least 1 when in the future. */
  static long secondsUntil(long millis, long nowMillis) {
    long delta = millis - nowMillis;
    return delta <= 0 ? 0 : (delta + 999) / 1000;
  }
}
