package io.sluice.gateway.limit;

import java.util.List;

/**
 * The limiter's verdict on one request.
 *
 * @param outcome         admit, deny (429) or missing key (401)
 * @param policy          the policy that denied, or the tightest one when admitted (null if none applied)
 * @param forwardAtMillis when an admitted request may be forwarded (later than now for a delayed request)
 * @param retryAtMillis   when a denied request could succeed
 * @param statuses        what each applied policy has left, for the RateLimit headers
 */
public record Decision(Outcome outcome, Policy policy, long forwardAtMillis, long retryAtMillis,
                       List<PolicyStatus> statuses) {

  public enum Outcome { ADMIT, DENY, MISSING_KEY }

  /** What one policy has left for this request's key. */
  public record PolicyStatus(Policy policy, int remaining, long resetMillis) {
  }

  static Decision admit(long forwardAtMillis, List<PolicyStatus> statuses) {
    PolicyStatus tightest = null;
    for (PolicyStatus status : statuses) {
      if (tightest == null || status.remaining() < tightest.remaining()) {
        tightest = status;
      }
    }
    return new Decision(Outcome.ADMIT, tightest == null ? null : tightest.policy(), forwardAtMillis, 0, statuses);
  }

  static Decision deny(Policy policy, long retryAtMillis) {
    return new Decision(Outcome.DENY, policy, 0, retryAtMillis,
        List.of(new PolicyStatus(policy, 0, retryAtMillis)));
  }

  static Decision missingKey(Policy policy) {
    return new Decision(Outcome.MISSING_KEY, policy, 0, 0, List.of());
  }

  public boolean admitted() {
    return outcome == Outcome.ADMIT;
  }

  /** The status of the policy named in {@link #policy()}, or null. */
  public PolicyStatus tightest() {
    for (PolicyStatus status : statuses) {
      if (status.policy() == policy) {
        return status;
      }
    }
    return null;
  }
}
