package io.sluice.gateway.proxy;

/** The counter store failed; the request is refused (503) rather than let through unlimited. */
final class LimiterUnavailableException extends RuntimeException {

  LimiterUnavailableException(Throwable cause) {
    super("rate limiter unavailable", cause, false, false);
  }
}
