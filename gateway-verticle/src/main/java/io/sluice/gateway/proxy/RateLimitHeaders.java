package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.Policy;

import java.util.Locale;

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-10), as structured-field lists:
 * {@code RateLimit-Policy: "global";q=10;w=1} and {@code RateLimit: "global";r=3;t=1}.
 *
 * <p>A shadow policy that matched a forwarded request adds its own item to each, after the enforced one, with an
 * extension parameter saying it is not enforced and what it would have done ({@code forward}, {@code delay},
 * {@code reject}, {@code missing-key}): {@code RateLimit: "global";r=3;t=1, "login";r=0;t=4;shadow=reject}.
 * Recipients ignore parameters they do not know (RFC 9651 §2.3).
 */
final class RateLimitHeaders {

  static final String POLICY = "RateLimit-Policy";
  static final String LIMIT = "RateLimit";
  private static final String SHADOW_PARAMETER = ";shadow=";

  private RateLimitHeaders() {
  }

  static String policy(Policy policy) {
    return "\"" + policy.name() + "\";q=" + policy.window().requests() + ";w=" + policy.windowSeconds();
  }

  static String limit(Decision.PolicyStatus status, long nowMillis) {
    return "\"" + status.policy().name() + "\";r=" + status.remaining() + ";t="
        + secondsUntil(status.resetMillis(), nowMillis);
  }

  static String shadowPolicy(Decision.Shadow shadow) {
    return policy(shadow.policy()) + SHADOW_PARAMETER + verdictToken(shadow.verdict());
  }

  static String shadowLimit(Decision.Shadow shadow, long nowMillis) {
    return "\"" + shadow.policy().name() + "\";r=" + shadow.remaining() + ";t="
        + secondsUntil(shadow.resetMillis(), nowMillis) + SHADOW_PARAMETER + verdictToken(shadow.verdict());
  }

  private static String verdictToken(Decision.ShadowVerdict verdict) {
    return verdict == Decision.ShadowVerdict.MISSING_KEY ? "missing-key" : verdict.name().toLowerCase(Locale.ROOT);
  }

  /** Whole seconds from now until {@code millis}, rounded up, at least 1 when in the future. */
  static long secondsUntil(long millis, long nowMillis) {
    long delta = millis - nowMillis;
    return delta <= 0 ? 0 : (delta + 999) / 1000;
  }
}
