package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RateLimiter.replacePolicies: what a running limiter keeps and forgets when its policies change. */
@DisplayName("Replacing a limiter's policies")
class PolicyReplacementTest {

  private static final long T0 = 1_800_000_000_000L;
  private static final long WINDOW = 10_000;
  private final TestClock clock = new TestClock(T0);
  private final InMemoryCounterStore store = new InMemoryCounterStore(clock, 10_000);

  private static Policy perKey(String key, int requests, long windowMillis, Policy.OnExceed onExceed) {
    return new Policy("per-key", KeySource.parse(key), new WindowSpec(requests, windowMillis), onExceed,
        onExceed == Policy.OnExceed.DELAY ? 2 * windowMillis : 0, Policy.OnMissingKey.REJECT);
  }

  private static RequestInfo request(String apiKey) {
    return TestRequests.get("X-Api-Key", apiKey, "X-Tenant", "tenant-1");
  }

  private int admitted(RateLimiter limiter, int requests) {
    int admitted = 0;
    for (int i = 0; i < requests; i++) {
      Decision decision = limiter.decide(request("a")).await();
      if (decision.admitted() && decision.forwardAtMillis() <= clock.millis() + WindowSpec.MAX_REJECT_GRACE_MILLIS) {
        admitted++;
      } else if (decision.admitted()) {
        limiter.release(decision).await();
      }
    }
    return admitted;
  }

  @Test
  @DisplayName("a new limit for the same name, key and window counts on from the requests already in the window")
  void requestsChangeKeepsHistory() {
    RateLimiter limiter = new RateLimiter(List.of(perKey("header:X-Api-Key", 5, WINDOW, Policy.OnExceed.REJECT)),
        store, clock);
    assertEquals(5, admitted(limiter, 5));
    clock.advance(1_000);

    limiter.replacePolicies(List.of(perKey("header:X-Api-Key", 8, WINDOW, Policy.OnExceed.REJECT)));
    assertEquals(3, admitted(limiter, 10), "8 per window, 5 of them already used");

    limiter.replacePolicies(List.of(perKey("header:X-Api-Key", 4, WINDOW, Policy.OnExceed.REJECT)));
    assertEquals(0, admitted(limiter, 3), "lowered under what the window holds: nothing more until it slides");
  }

  @Test
  @DisplayName("switching between rejecting and delaying keeps the window's history")
  void onExceedChangeKeepsHistory() {
    Policy rejecting = perKey("header:X-Api-Key", 5, WINDOW, Policy.OnExceed.REJECT);
    Policy delaying = perKey("header:X-Api-Key", 5, WINDOW, Policy.OnExceed.DELAY);
    assertEquals(RateLimiter.namespace(rejecting), RateLimiter.namespace(delaying));
    RateLimiter limiter = new RateLimiter(List.of(rejecting), store, clock);
    assertEquals(5, admitted(limiter, 5));

    limiter.replacePolicies(List.of(delaying));
    Decision next = limiter.decide(request("a")).await();
    assertTrue(next.admitted());
    assertTrue(next.forwardAtMillis() >= T0 + WINDOW, "delayed until the first of the 5 leaves the window, not "
        + "forwarded now: " + (next.forwardAtMillis() - T0));
  }

  @Test
  @DisplayName("a new window length or key source starts from empty counters")
  void windowOrKeyChangeStartsAfresh() {
    RateLimiter limiter = new RateLimiter(List.of(perKey("header:X-Api-Key", 5, WINDOW, Policy.OnExceed.REJECT)),
        store, clock);
    assertEquals(5, admitted(limiter, 6));

    limiter.replacePolicies(List.of(perKey("header:X-Api-Key", 5, 2 * WINDOW, Policy.OnExceed.REJECT)));
    assertEquals(5, admitted(limiter, 6), "a window of other length: its own counters");

    limiter.replacePolicies(List.of(perKey("header:X-Tenant", 5, 2 * WINDOW, Policy.OnExceed.REJECT)));
    assertEquals(5, admitted(limiter, 6), "another key source: its own counters");

    limiter.replacePolicies(List.of(perKey("header:X-Api-Key", 5, WINDOW, Policy.OnExceed.REJECT)));
    assertEquals(0, admitted(limiter, 1), "back to the first settings within the window: their counters are there");
  }

  @Test
  @DisplayName("the namespace of store keys changes with key source, window and bucket length, and nothing else")
  void namespaceFollowsMeaning() {
    Policy base = perKey("header:X-Api-Key", 5, WINDOW, Policy.OnExceed.REJECT);
    String namespace = RateLimiter.namespace(base);
    assertTrue(namespace.startsWith("per-key@"), namespace);
    assertEquals(namespace, RateLimiter.namespace(perKey("header:x-api-key", 99, WINDOW, Policy.OnExceed.DELAY)),
        "header names are case-insensitive; requests below the leasing threshold keep the bucket length");
    assertNotEquals(namespace, RateLimiter.namespace(perKey("bearer", 5, WINDOW, Policy.OnExceed.REJECT)));
    assertNotEquals(namespace, RateLimiter.namespace(perKey("header:X-Api-Key", 5, WINDOW + 1,
        Policy.OnExceed.REJECT)));
    assertNotEquals(namespace, RateLimiter.namespace(perKey("header:X-Api-Key", WindowSpec.LEASE_MIN_REQUESTS,
        WINDOW, Policy.OnExceed.REJECT)), "leased limits count in coarser buckets");
  }

  @Test
  @DisplayName("listeners hear each new list; a decision already started finishes with the policies it started with")
  void listenersAndDecisionsInFlight() {
    Policy first = perKey("header:X-Api-Key", 1, WINDOW, Policy.OnExceed.REJECT);
    RateLimiter limiter = new RateLimiter(List.of(first), store, clock);
    List<List<Policy>> heard = new ArrayList<>();
    limiter.onPoliciesReplaced(heard::add);
    Decision before = limiter.decide(request("a")).await();
    List<Policy> second = List.of(perKey("header:X-Api-Key", 2, WINDOW, Policy.OnExceed.REJECT));

    limiter.replacePolicies(second);
    assertEquals(List.of(second), heard);
    assertEquals(second, limiter.policies());
    assertSame(first, before.statuses().get(0).policy(), "the decision keeps the policy object it was made with");
    assertFalse(limiter.policy("per-key").orElseThrow() == first);
  }
}
