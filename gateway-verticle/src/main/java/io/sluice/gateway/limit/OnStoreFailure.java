package io.sluice.gateway.limit;

/** What a clustered gateway does while its shared counters do not answer ({@code limiter.onStoreFailure}). */
public enum OnStoreFailure {
  /**
   * Each gateway enforces its part of every limit per window on its own: gateway i of the N it last saw (by member
   * UUID; N at least the gateways expected, if that is configured) {@code floor(requests / N)}, plus one if
   * {@code i < requests mod N}; the parts add up to the limit, or to less on the small side of a split brain.
   */
  LOCAL,
  /** Limited requests are answered 503: never over the limit, no service. */
  CLOSED,
  /** Limited requests are forwarded unlimited: full service, no limit. */
  OPEN
}
