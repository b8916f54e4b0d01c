package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Policy evaluation")
class RateLimiterTest {

  private static final long T0 = 1_800_000_000_000L;
  private final TestClock clock = new TestClock(T0);
  private final InMemoryCounterStore store = new InMemoryCounterStore(clock, 10_000);

  private static Policy global(int requests) {
    return new Policy("global", new KeySource.Global(), new WindowSpec(requests, 1_000), Policy.OnExceed.REJECT, 0,
        Policy.OnMissingKey.REJECT);
  }

  private static Policy perToken(int requests, Policy.OnExceed onExceed, long maxDelay, Policy.OnMissingKey missing) {
    return new Policy("per-token", new KeySource.Header("X-Api-Key"), new WindowSpec(requests, 1_000), onExceed,
        maxDelay, missing);
  }

  private RateLimiter limiter(Policy... policies) {
    return new RateLimiter(List.of(policies), store, clock);
  }

  private static RequestInfo request(String apiKey) {
    return TestRequests.get("X-Api-Key", apiKey);
  }

  @Test
  @DisplayName("a request denied by one policy consumes no quota of the others")
  void deniedRequestsAreRefunded() {
    RateLimiter limiter = limiter(global(3), perToken(1, Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.REJECT));
    assertTrue(limiter.decide(request("a")).await().admitted());
    for (int i = 0; i < 20; i++) {
      Decision d = limiter.decide(request("a")).await();
      assertEquals(Decision.Outcome.DENY, d.outcome());
      assertEquals("per-token", d.policy().name());
    }
    assertTrue(limiter.decide(request("b")).await().admitted());
    assertTrue(limiter.decide(request("c")).await().admitted(), "global still has room: denials were refunded");
    Decision full = limiter.decide(request("d")).await();
    assertEquals("global", full.policy().name());
    assertEquals(T0 + 1_016, full.retryAtMillis());
  }

  @Test
  @DisplayName("a decision names the delaying policy that gave its request a later slot, and no policy when none did")
  void decisionNamesTheDelayingPolicy() {
    Policy perToken = perToken(1, Policy.OnExceed.DELAY, 2_000, Policy.OnMissingKey.REJECT);
    RateLimiter limiter = limiter(global(10), perToken);
    Decision first = limiter.decide(request("a")).await();
    assertEquals(T0, first.forwardAtMillis());
    assertEquals(null, first.delayedBy(), "room now: nobody holds it");
    Decision second = limiter.decide(request("a")).await();
    assertTrue(second.forwardAtMillis() > T0);
    assertSame(perToken, second.delayedBy());
  }

  @Test
  @DisplayName("a delayed request is forwarded when every policy has room at that instant")
  void delayAlignsAllPolicies() {
    RateLimiter limiter = limiter(global(10), perToken(2, Policy.OnExceed.DELAY, 2_000, Policy.OnMissingKey.REJECT));
    limiter.decide(request("a")).await();
    limiter.decide(request("a")).await();
    clock.advance(100);
    Decision delayed = limiter.decide(request("a")).await();
    assertTrue(delayed.admitted());
    assertEquals(T0 + 1_028, delayed.forwardAtMillis());
    assertEquals(2, store.size(), "one global key and one token key");
  }

  @Test
  @DisplayName("a request that cannot fit within maxDelay is denied with the time it could have gone")
  void delayBeyondMaxIsDenied() {
    RateLimiter limiter = limiter(perToken(1, Policy.OnExceed.DELAY, 500, Policy.OnMissingKey.REJECT));
    assertTrue(limiter.decide(request("a")).await().admitted());
    Decision d = limiter.decide(request("a")).await();
    assertEquals(Decision.Outcome.DENY, d.outcome());
    assertEquals(T0 + 1_028, d.retryAtMillis());
  }

  @Test
  @DisplayName("a reject policy is checked at the instant a delaying policy forwards the request")
  void rejectPolicyCheckedAtForwardTime() {
    RateLimiter limiter = limiter(global(3), perToken(1, Policy.OnExceed.DELAY, 3_000, Policy.OnMissingKey.REJECT));
    assertTrue(limiter.decide(request("a")).await().admitted());
    Decision second = limiter.decide(request("a")).await();
    assertEquals(T0 + 1_028, second.forwardAtMillis());
    // global: one slot now and one reserved at +1028. Two more fit now, but a third delayed one must find
    // room in the global window around its own forward time.
    assertTrue(limiter.decide(request("b")).await().admitted());
    assertTrue(limiter.decide(request("c")).await().admitted());
    assertFalse(limiter.decide(request("d")).await().admitted());
  }

  @Test
  @DisplayName("missing keys: reject answers 401, skip lets the policy pass, ip counts the client address")
  void missingKeyModes() {
    assertEquals(Decision.Outcome.MISSING_KEY,
        limiter(perToken(5, Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.REJECT)).decide(request(null)).await()
            .outcome());
    RateLimiter skip = limiter(perToken(1, Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.SKIP));
    for (int i = 0; i < 5; i++) {
      assertTrue(skip.decide(request(null)).await().admitted());
    }
    RateLimiter ip = limiter(perToken(1, Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.IP));
    assertTrue(ip.decide(request(null)).await().admitted());
    assertFalse(ip.decide(request(null)).await().admitted());
  }

  @Test
  @DisplayName("the tightest policy is reported for the RateLimit header of a forwarded response")
  void reportsTightestPolicy() {
    Decision d = limiter(global(10), perToken(2, Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.REJECT))
        .decide(request("a")).await();
    assertEquals("per-token", d.policy().name());
    assertEquals(1, d.tightest().remaining());
  }

  @Test
  @DisplayName("tokens are hashed before they become store keys")
  void tokensAreHashed() {
    Policy policy = perToken(1, Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.REJECT);
    String key = RateLimiter.storeKey(policy, "secret-token-123");
    assertFalse(key.contains("secret"));
    assertTrue(key.startsWith(RateLimiter.namespace(policy) + "|"), key);
    assertEquals(RateLimiter.namespace(policy).length() + 1 + 32, key.length());
    assertNotEquals(key, RateLimiter.storeKey(policy, "secret-token-124"));
  }

  @Test
  @DisplayName("windows move with the clock: after a window passes, the limit is available again")
  void windowsSlide() {
    RateLimiter limiter = limiter(global(2));
    assertTrue(limiter.decide(request("a")).await().admitted());
    clock.advance(600);
    assertTrue(limiter.decide(request("a")).await().admitted());
    assertFalse(limiter.decide(request("a")).await().admitted());
    clock.advance(425);
    assertTrue(limiter.decide(request("a")).await().admitted(), "the first admission left the window");
    assertFalse(limiter.decide(request("a")).await().admitted());
  }

  @Test
  @DisplayName("once a key is known full, requests are denied locally for a short while, then asked again")
  void deniesLocallyWhileFull() {
    RateLimiter limiter = limiter(global(2));
    limiter.decide(request("a")).await();
    limiter.decide(request("a")).await();
    assertFalse(limiter.decide(request("a")).await().admitted());
    assertEquals(0, limiter.localDenials());
    clock.advance(RateLimiter.KNOWN_FULL_MILLIS - 1);
    Decision local = limiter.decide(request("a")).await();
    assertFalse(local.admitted());
    assertEquals(T0 + 1_016, local.retryAtMillis(), "Retry-After still tells the real time");
    assertEquals(1, limiter.localDenials());
    clock.advance(1);
    assertFalse(limiter.decide(request("a")).await().admitted());
    assertEquals(1, limiter.localDenials(), "asked the store again");
    clock.set(T0 + 1_016);
    assertTrue(limiter.decide(request("a")).await().admitted(), "free again when the window has moved on");
  }

  @Test
  @DisplayName("a request leaving later than its slot allows gives the slot back and is decided again")
  void lateRequestsAreDecidedAgain() {
    RateLimiter limiter = limiter(global(1));
    Decision early = limiter.decide(request("a")).await();
    assertEquals(early, limiter.confirm(early, request("a")).await(), "on time: the decision stands");
    clock.advance(1 + new WindowSpec(1, 1_000).lateToleranceMillis() + 1);
    Decision again = limiter.confirm(early, request("a")).await();
    assertNotEquals(early, again);
    assertTrue(again.admitted(), "its own slot was given back first");
    assertEquals(1, limiter.redecisions());
    org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {1, 0, 0, 0}, limiter.redecisionsByLateness(),
        "1 ms late: in the first class (at most 10 ms)");
    assertFalse(limiter.decide(request("b")).await().admitted(), "still one request in the window");
  }

  @Test
  @DisplayName("over a remote store, a request decided again is decided for the instant the store's answer is due at "
      + "the latest (storeTimeout), not the usual estimate its answer already outran")
  void lateRequestsWaitForTheAnswerDeadline() {
    RateLimiter limiter = new RateLimiter(List.of(global(5)), new RemoteLike(store, 4, 50), clock);
    Decision first = limiter.decide(request("a")).await();
    assertEquals(T0 + 4, first.forwardAtMillis(), "the usual estimate");
    clock.set(first.staleAtMillis() + 1);
    Decision again = limiter.confirm(first, request("a")).await();
    assertEquals(clock.millis() + 50, again.forwardAtMillis(), "the deadline");
  }

  @Test
  @DisplayName("a store that knows how long its slow answers take (a high percentile) is planned for that, within the "
      + "deadline: 12 ms, not 50")
  void lateRequestsPlanForASlowAnswer() {
    RateLimiter limiter = new RateLimiter(List.of(global(5)), new RemoteLike(store, 4, 50, 12), clock);
    Decision first = limiter.decide(request("a")).await();
    clock.set(first.staleAtMillis() + 1);
    assertEquals(clock.millis() + 12, limiter.confirm(first, request("a")).await().forwardAtMillis());
  }

  @Test
  @DisplayName("over a remote store, a request decided again plans for twice how late it was, at most a second: a slow "
      + "spell makes the next round trip as slow, and a plan of the store's usual answer was late again until 503")
  void lateRequestsPlanForTheirLateness() {
    RateLimiter limiter = new RateLimiter(List.of(global(5)), new RemoteLike(store, 4, 50, 12), clock);
    Decision first = limiter.decide(request("a")).await();
    clock.set(first.staleAtMillis() + 300);
    assertEquals(clock.millis() + 600, limiter.confirm(first, request("a")).await().forwardAtMillis());
    Decision second = limiter.decide(request("b")).await();
    clock.set(second.staleAtMillis() + 5_000);
    assertEquals(clock.millis() + RateLimiter.MAX_LATE_PLAN_MILLIS,
        limiter.confirm(second, request("b")).await().forwardAtMillis(), "at most a second ahead");
  }

  @Test
  @DisplayName("over a store that answers at once (in memory, or leased permits), a request decided again leaves now")
  void lateRequestsOverALocalStoreLeaveNow() {
    RateLimiter limiter = new RateLimiter(List.of(global(5)), new RemoteLike(store, 0, 50), clock);
    Decision first = limiter.decide(request("a")).await();
    clock.set(first.staleAtMillis() + 1);
    assertEquals(clock.millis(), limiter.confirm(first, request("a")).await().forwardAtMillis());
  }

  /** A store answered as fast as the one it wraps that says it is remote: its answers take about {@code lead} ms. */
  private static final class RemoteLike extends io.sluice.gateway.testing.ForwardingCounterStore {
    private final long lead;
    private final long deadline;

    private final long slow;

    RemoteLike(CounterStore inner, long lead, long deadline) {
      this(inner, lead, deadline, deadline);
    }

    RemoteLike(CounterStore inner, long lead, long deadline, long slow) {
      super(inner);
      this.lead = lead;
      this.deadline = deadline;
      this.slow = slow;
    }

    @Override
    public long slowAnswerMillis(String key, WindowSpec spec, long nowMillis) {
      return slow;
    }

    @Override
    public long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
      return lead;
    }

    @Override
    public long answerDeadlineMillis() {
      return deadline;
    }
  }

  @Test
  @DisplayName("a delayed request whose timer fires up to 15 ms late keeps its slot; later than that it is decided again")
  void delayedRequestsTolerateLateTimers() {
    RateLimiter limiter = limiter(perToken(1, Policy.OnExceed.DELAY, 2_000, Policy.OnMissingKey.REJECT));
    assertTrue(limiter.decide(request("a")).await().admitted());
    Decision delayed = limiter.decide(request("a")).await();
    assertTrue(delayed.forwardAtMillis() > T0 + 1_000, "waits for the window");
    clock.set(delayed.forwardAtMillis() + 15);
    assertSame(delayed, limiter.confirm(delayed, request("a")).await(), "15 ms late: the slot still holds");
    clock.advance(2);
    assertNotSame(delayed, limiter.confirm(delayed, request("a")).await(), "17 ms late: decided again");
    assertEquals(1, limiter.redecisions());
  }
}
