package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Policies per route, and shadow policies")
class RoutedLimiterTest {

  private static final long T0 = 1_800_000_000_000L;
  private final TestClock clock = new TestClock(T0);
  private final InMemoryCounterStore store = new InMemoryCounterStore(clock, 10_000);

  private static Policy policy(String name, KeySource key, int requests, long windowMillis, Policy.OnExceed onExceed,
                               long maxDelay, RouteMatch match, Policy.Mode mode) {
    return new Policy(name, key, new WindowSpec(requests, windowMillis), onExceed, maxDelay,
        Policy.OnMissingKey.REJECT, match, mode);
  }

  private static Policy rejecting(String name, int requests, long windowMillis, RouteMatch match, Policy.Mode mode) {
    return policy(name, new KeySource.Global(), requests, windowMillis, Policy.OnExceed.REJECT, 0, match, mode);
  }

  private static RouteMatch paths(String... paths) {
    return RouteMatch.of(List.of(paths), List.of(), List.of());
  }

  private RateLimiter limiter(Policy... policies) {
    return new RateLimiter(List.of(policies), store, clock);
  }

  private static RequestInfo request(String method, String target, String apiKey) {
    return TestRequests.of(method, target, "api.example.com", "X-Api-Key", apiKey);
  }

  private static RequestInfo get(String target) {
    return request("GET", target, "k");
  }

  private static RequestInfo post(String target) {
    return request("POST", target, "k");
  }

  private Decision.ShadowVerdict shadowVerdict(Decision decision) {
    assertTrue(decision.admitted(), "a shadow policy never refuses");
    assertEquals(1, decision.shadows().size());
    return decision.shadows().get(0).verdict();
  }

  @Test
  @DisplayName("a POST /api/login limit counts neither GET /api/hello nor GET /api/login")
  void loginLimitCountsOnlyItsRoute() {
    RateLimiter limiter = limiter(rejecting("login", 1, 60_000,
        RouteMatch.of(List.of("/api/login"), List.of("POST"), List.of()), Policy.Mode.ENFORCE));
    assertTrue(limiter.decide(post("/api/login")).await().admitted());
    Decision second = limiter.decide(post("/API//login/?again")).await();
    assertEquals(Decision.Outcome.DENY, second.outcome(), "the same route, spelled otherwise");
    assertEquals("login", second.policy().name());
    for (int i = 0; i < 5; i++) {
      Decision other = limiter.decide(get("/api/hello")).await();
      assertTrue(other.admitted());
      assertEquals(List.of(), other.statuses(), "no policy applied");
      assertTrue(limiter.decide(get("/api/login")).await().admitted());
    }
    assertEquals(1, store.size(), "only the login key was ever counted");
  }

  @Test
  @DisplayName("a request is counted by every policy that matches it, and a denial by one refunds the others")
  void everyMatchingPolicyCountsAtomically() {
    RateLimiter limiter = limiter(
        rejecting("api", 3, 1_000, paths("/api/*"), Policy.Mode.ENFORCE),
        rejecting("login", 1, 1_000, paths("/api/login"), Policy.Mode.ENFORCE));
    assertEquals(2, limiter.decide(post("/api/login")).await().statuses().size(), "counted by both");
    for (int i = 0; i < 10; i++) {
      assertEquals("login", limiter.decide(post("/api/login")).await().policy().name());
    }
    assertTrue(limiter.decide(get("/api/hello")).await().admitted(), "the denied logins cost /api/* nothing");
    assertTrue(limiter.decide(get("/api/orders/1")).await().admitted());
    assertEquals("api", limiter.decide(get("/api/hello")).await().policy().name());
    assertTrue(limiter.decide(get("/health")).await().admitted(), "outside /api/*");
  }

  @Test
  @DisplayName("a shadow policy's verdicts are exactly what it decides enforced, request for request")
  void shadowVerdictsAreTheEnforcedDecisions() {
    RateLimiter enforced = new RateLimiter(List.of(rejecting("trial", 3, 1_000, RouteMatch.ANY,
        Policy.Mode.ENFORCE)), new InMemoryCounterStore(clock, 100), clock);
    RateLimiter shadow = limiter(rejecting("trial", 3, 1_000, RouteMatch.ANY, Policy.Mode.SHADOW));
    List<Boolean> enforcedAdmits = new ArrayList<>();
    List<Boolean> shadowAdmits = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      // bursts and gaps: 2 requests every 130 ms, some windows full, some not
      for (int burst = 0; burst < 2; burst++) {
        enforcedAdmits.add(enforced.decide(get("/")).await().admitted());
        shadowAdmits.add(shadowVerdict(shadow.decide(get("/")).await()) != Decision.ShadowVerdict.REJECT);
      }
      clock.advance(130);
    }
    assertEquals(enforcedAdmits, shadowAdmits);
    assertTrue(enforcedAdmits.contains(false) && enforcedAdmits.contains(true), "the trial saw both");
  }

  @Test
  @DisplayName("a shadow policy that would reject forwards the request, says when it would fit, and keeps no slot")
  void shadowRejectIsForwarded() {
    RateLimiter limiter = limiter(rejecting("trial", 2, 1_000, RouteMatch.ANY, Policy.Mode.SHADOW));
    Decision first = limiter.decide(get("/")).await();
    assertEquals(Decision.ShadowVerdict.FORWARD, shadowVerdict(first));
    assertEquals(1, first.shadows().get(0).remaining());
    assertEquals(Long.MAX_VALUE, first.staleAtMillis(), "a shadow slot never makes a request decide again");
    assertEquals(Decision.ShadowVerdict.FORWARD, shadowVerdict(limiter.decide(get("/")).await()));
    Decision third = limiter.decide(get("/")).await();
    assertEquals(Decision.ShadowVerdict.REJECT, shadowVerdict(third));
    assertEquals(T0, third.forwardAtMillis(), "forwarded now");
    assertEquals(T0 + 1_016, third.shadows().get(0).resetMillis(), "when it would have fitted");
    assertEquals(List.of(), third.holdings(), "a request it would have refused holds none of its slots");
    clock.set(T0 + 1_016);
    assertEquals(Decision.ShadowVerdict.FORWARD, shadowVerdict(limiter.decide(get("/")).await()),
        "refused requests took no slot: the window frees as it would have enforced");
  }

  @Test
  @DisplayName("a delaying shadow policy forwards at once what it would have held, and refuses past maxDelay")
  void shadowDelayIsForwardedAtOnce() {
    RateLimiter limiter = limiter(policy("trial", new KeySource.Global(), 1, 1_000, Policy.OnExceed.DELAY, 1_500,
        RouteMatch.ANY, Policy.Mode.SHADOW));
    assertEquals(Decision.ShadowVerdict.FORWARD, shadowVerdict(limiter.decide(get("/")).await()));
    Decision second = limiter.decide(get("/")).await();
    assertEquals(Decision.ShadowVerdict.DELAY, shadowVerdict(second));
    assertEquals(T0, second.forwardAtMillis(), "not held");
    assertEquals(1, second.holdings().size(), "its slot, a window later, is taken as if it had waited");
    assertEquals(Decision.ShadowVerdict.REJECT, shadowVerdict(limiter.decide(get("/")).await()),
        "the next slot is beyond maxDelay");
  }

  @Test
  @DisplayName("a request an enforced policy refuses is not counted by a shadow policy either")
  void enforcedDenialRefundsTheShadow() {
    RateLimiter limiter = limiter(
        rejecting("global", 1, 1_000, RouteMatch.ANY, Policy.Mode.ENFORCE),
        rejecting("trial", 2, 60_000, RouteMatch.ANY, Policy.Mode.SHADOW));
    assertEquals(Decision.ShadowVerdict.FORWARD, shadowVerdict(limiter.decide(get("/")).await()));
    Decision denied = limiter.decide(get("/")).await();
    assertEquals("global", denied.policy().name());
    assertEquals(List.of(), denied.shadows());
    clock.advance(1_100);
    assertEquals(Decision.ShadowVerdict.FORWARD, shadowVerdict(limiter.decide(get("/")).await()),
        "the denied request left the trial's minute untouched");
    clock.advance(1_100);
    assertEquals(Decision.ShadowVerdict.REJECT, shadowVerdict(limiter.decide(get("/")).await()));
  }

  @Test
  @DisplayName("a shadow policy whose key is missing forwards the request and says it would have answered 401")
  void shadowMissingKey() {
    RateLimiter limiter = limiter(policy("trial", new KeySource.Header("X-Api-Key"), 5, 1_000,
        Policy.OnExceed.REJECT, 0, RouteMatch.ANY, Policy.Mode.SHADOW));
    Decision decision = limiter.decide(request("GET", "/", null)).await();
    assertEquals(Decision.ShadowVerdict.MISSING_KEY, shadowVerdict(decision));
    assertEquals(0, store.size());
  }

  @Test
  @DisplayName("a shadow policy takes its slot at the instant an enforced delay sends the request, and changes nothing "
      + "of that delay")
  void shadowFollowsTheEnforcedInstant() {
    Policy trial = rejecting("trial", 2, 1_000, RouteMatch.ANY, Policy.Mode.SHADOW);
    RateLimiter limiter = limiter(
        policy("slow", new KeySource.Global(), 1, 1_000, Policy.OnExceed.DELAY, 2_000, RouteMatch.ANY,
            Policy.Mode.ENFORCE),
        trial);
    Decision first = limiter.decide(get("/")).await();
    assertEquals(T0, first.forwardAtMillis());
    Decision second = limiter.decide(get("/")).await();
    assertEquals(T0 + 1_028, second.forwardAtMillis(), "held by the enforced policy alone");
    assertEquals(Decision.ShadowVerdict.FORWARD, shadowVerdict(second));
    long trialBucket = second.holdings().stream().filter(holding -> holding.key().startsWith(RateLimiter.namespace(trial) + "|"))
        .findFirst().orElseThrow().bucket();
    assertEquals(trial.window().bucketOf(T0 + 1_028), trialBucket, "moved to where the request leaves");
    clock.set(T0 + 1_028);
    assertSame(second, limiter.confirm(second, get("/")).await());
  }

  @Test
  @DisplayName("a table full of live keys: a shadow policy's new key is a reject verdict, never a refusal; an enforced "
      + "policy's new key fails the decision with KeyTableFull")
  void fullTableInShadowAndEnforced() {
    InMemoryCounterStore full = new InMemoryCounterStore(clock, 1);
    Policy perKey = policy("trial", new KeySource.Header("X-Api-Key"), 5, 60_000, Policy.OnExceed.REJECT, 0,
        RouteMatch.ANY, Policy.Mode.SHADOW);
    RateLimiter shadow = new RateLimiter(List.of(perKey), full, clock);
    assertEquals(Decision.ShadowVerdict.FORWARD, shadowVerdict(shadow.decide(request("GET", "/", "a")).await()));
    assertEquals(Decision.ShadowVerdict.REJECT, shadowVerdict(shadow.decide(request("GET", "/", "b")).await()));

    Policy enforced = policy("real", new KeySource.Header("X-Api-Key"), 5, 60_000, Policy.OnExceed.REJECT, 0,
        RouteMatch.ANY, Policy.Mode.ENFORCE);
    RateLimiter limiter = new RateLimiter(List.of(enforced), full, clock);
    assertInstanceOf(KeyTableFull.class, limiter.decide(request("GET", "/", "c")).cause());
  }
}
