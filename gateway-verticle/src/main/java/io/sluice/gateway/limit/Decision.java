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
 * @param holdings        the slots an admitted request holds (to give back if it must be decided again)
 * @param staleAtMillis   an admitted request leaving after this instant would leave outside its slots
 * @param delayedBy       the delaying policy that gave an admitted request a later slot than the instant it was decided
 *                        for, or null: a request that waits only for that instant (decided ahead by the store's
 *                        expected latency) or for a rejecting policy's slot a few ms ahead is not held by policy
 * @param shadows         what each shadow policy that matched an admitted request would have done (statuses and
 *                        holdings are the enforced policies'; holdings also hold the shadow policies' slots)
 */
public record Decision(Outcome outcome, Policy policy, long forwardAtMillis, long retryAtMillis,
                       List<PolicyStatus> statuses, List<Holding> holdings, long staleAtMillis, Policy delayedBy,
                       List<Shadow> shadows) {

  public enum Outcome { ADMIT, DENY, MISSING_KEY }

  /** What a shadow policy would have done to an admitted request. */
  public enum ShadowVerdict { FORWARD, DELAY, REJECT, MISSING_KEY }

  /**
   * One shadow policy's verdict and what it has left as if enforced: for {@code REJECT}, 0 until
   * {@code resetMillis}, when it would have had room; for {@code MISSING_KEY}, nothing.
   */
  public record Shadow(Policy policy, ShadowVerdict verdict, int remaining, long resetMillis) {
  }

  /** What one policy has left for this request's key. */
  public record PolicyStatus(Policy policy, int remaining, long resetMillis) {
  }

  /** A slot held in the store: which key, of what window, in which bucket. */
  public record Holding(String key, WindowSpec window, long bucket) {
  }

  static Decision admit(long forwardAtMillis, List<PolicyStatus> statuses) {
    return admit(forwardAtMillis, statuses, List.of(), Long.MAX_VALUE, null, List.of());
  }

  static Decision admit(long forwardAtMillis, List<PolicyStatus> statuses, List<Holding> holdings,
                        long staleAtMillis, Policy delayedBy, List<Shadow> shadows) {
    PolicyStatus tightest = null;
    for (PolicyStatus status : statuses) {
      if (tightest == null || status.remaining() < tightest.remaining()) {
        tightest = status;
      }
    }
    return new Decision(Outcome.ADMIT, tightest == null ? null : tightest.policy(), forwardAtMillis, 0, statuses,
        holdings, staleAtMillis, delayedBy, shadows);
  }

  static Decision deny(Policy policy, long retryAtMillis) {
    return new Decision(Outcome.DENY, policy, 0, retryAtMillis,
        List.of(new PolicyStatus(policy, 0, retryAtMillis)), List.of(), 0, null, List.of());
  }

  /** A request still admitted after the last allowed re-decision: denied, naming its tightest policy. */
  public static Decision denyLate(Decision admitted) {
    Policy policy = admitted.policy() != null ? admitted.policy() : admitted.statuses().get(0).policy();
    return deny(policy, admitted.forwardAtMillis());
  }

  static Decision missingKey(Policy policy) {
    return new Decision(Outcome.MISSING_KEY, policy, 0, 0, List.of(), List.of(), 0, null, List.of());
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
