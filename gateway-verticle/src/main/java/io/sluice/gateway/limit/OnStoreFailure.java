package io.sluice.gateway.limit;

/** What a clustered gateway does while its shared counters do not answer ({@code limiter.onStoreFailure}). */
public enum OnStoreFailure {
  /** Each gateway enforces {@code ceil(requests / N)} per window on its own, N = the gateways it last saw. */
  LOCAL,
  /** Limited requests are answered 503: never over the limit, no service. */
  CLOSED,
  /** Limited requests are forwarded unlimited: full service, no limit. */
  OPEN
}
