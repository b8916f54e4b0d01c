package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.Decision;

/** An admitted request that, decided again as it was about to leave, no longer fits: answered 429 (or 401). */
final class RateLimitedException extends RuntimeException {

  final transient Decision decision;

  RateLimitedException(Decision decision) {
    super("rate limited on a late confirmation", null, false, false);
    this.decision = decision;
  }
}
