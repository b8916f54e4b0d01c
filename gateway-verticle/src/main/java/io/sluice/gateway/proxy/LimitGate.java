package io.sluice.gateway.proxy;

import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.util.AsciiString;
import io.sluice.gateway.LogThrottle;
import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.KeySource;
import io.sluice.gateway.limit.KeyTableFull;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.RequestInfo;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The rate-limit seam between HTTP and the {@link RateLimiter}: picks the limiter for a request, asks it, and turns
 * its refusals into answers (429 with Retry-After and RateLimit headers, 401 for a missing key, 503 when the
 * counters cannot be reached). It knows nothing about sockets; each engine's exchange ({@code netty.Exchange},
 * {@code vertx.VertxExchange}) calls it.
 */
public final class LimitGate {

  public static final String WARMUP_HEADER = "X-Sluice-Warmup";
  private static final AsciiString WARMUP_HEADER_NAME = AsciiString.cached(WARMUP_HEADER);

  private final RateLimiter limiter;
  private final GatewayStats stats;
  private final Clock clock;
  /**
   * Requests carrying this secret (random per process, sent only by the gateway to itself over loopback while it
   * warms up, and stripped before forwarding) are limited by private warm-up policies instead of the real ones:
   * they take the same code paths without touching anyone's quota.
   */
  private final String warmupSecret;
  private final RateLimiter warmupLimiter;
  private static final int MAX_CACHED_REFUSALS = 4096;
  private final Map<RefusalKey, Refusal> refusals = new ConcurrentHashMap<>();

  /** Keys expire with their windows and the sweep runs every few seconds: a second is a fair first wait. */
  static final int KEY_TABLE_RETRY_SECONDS = 1;
  /** A flood of new keys would otherwise log a line per request. */
  static final long KEY_TABLE_LOG_INTERVAL_MILLIS = 10_000;
  private static final Logger LOG = LoggerFactory.getLogger(LimitGate.class);
  private final LogThrottle refusedKeysLog = new LogThrottle(KEY_TABLE_LOG_INTERVAL_MILLIS);

  public LimitGate(RateLimiter limiter, GatewayStats stats, Clock clock, String warmupSecret) {
    this.limiter = limiter;
    this.stats = stats;
    this.clock = clock;
    this.warmupSecret = warmupSecret;
    String name = "sluice.warmup-" + warmupSecret.substring(0, 8);
    this.warmupLimiter = limiter.withPolicies(List.of(
        new Policy(name + "-low", new KeySource.ClientIp(), new WindowSpec(99, 1_000), Policy.OnExceed.REJECT, 0,
            Policy.OnMissingKey.SKIP),
        new Policy(name + "-high", new KeySource.Global(), new WindowSpec(1_000_000, 1_000), Policy.OnExceed.REJECT,
            0, Policy.OnMissingKey.SKIP)));
  }

  public String warmupSecret() {
    return warmupSecret;
  }

  /** The limiter for this request: the warm-up one for the gateway's own warm-up requests. Strips the marker. */
  public RateLimiter limiterFor(HttpHeaders headers) {
    String warmup = headers.get(WARMUP_HEADER_NAME);
    if (warmup == null) {
      return limiter;
    }
    headers.remove(WARMUP_HEADER_NAME);
    return warmup.equals(warmupSecret) ? warmupLimiter : limiter;
  }

  /** Whether decisions of {@code decider} count in the gateway's statistics (warm-up ones do not). */
  public boolean counts(RateLimiter decider) {
    return decider == limiter;
  }

  /** The limiter's decision; a failed future means its store could not be reached (see {@link #unavailable}). */
  public Future<Decision> decide(RateLimiter decider, RequestInfo request) {
    return decider.decide(request);
  }

  /**
   * Called as the request is about to leave: the same decision if it still holds, or a new one (maybe a delay, maybe
   * a denial) decided for the real instant of leaving.
   */
  public Future<Decision> confirm(RateLimiter decider, Decision decision, RequestInfo request) {
    return decider.confirm(decision, request);
  }

  /**
   * Adds RateLimit-Policy and RateLimit to the response of a forwarded request: the tightest enforced policy, then
   * each shadow policy that matched it (see {@link RateLimitHeaders}).
   */
  public void decorate(HttpResponse response, Decision decision) {
    if (decision == null) {
      return;
    }
    long now = clock.millis();
    if (decision.shadows().isEmpty()) {
      if (decision.tightest() != null) {
        response.headers().set(RateLimitHeaders.POLICY, RateLimitHeaders.policy(decision.policy()));
        response.headers().set(RateLimitHeaders.LIMIT, RateLimitHeaders.limit(decision.tightest(), now));
      }
      return;
    }
    StringBuilder policies = new StringBuilder();
    StringBuilder limits = new StringBuilder();
    if (decision.tightest() != null) {
      policies.append(RateLimitHeaders.policy(decision.policy()));
      limits.append(RateLimitHeaders.limit(decision.tightest(), now));
    }
    for (Decision.Shadow shadow : decision.shadows()) {
      policies.append(policies.length() == 0 ? "" : ", ").append(RateLimitHeaders.shadowPolicy(shadow));
      limits.append(limits.length() == 0 ? "" : ", ").append(RateLimitHeaders.shadowLimit(shadow, now));
    }
    response.headers().set(RateLimitHeaders.POLICY, policies.toString());
    response.headers().set(RateLimitHeaders.LIMIT, limits.toString());
  }

  /**
   * Counts, for a request about to be forwarded on {@code decision}, what its shadow policies would have done instead
   * (once per forwarded request, as {@code forwarded} is counted).
   */
  public void countShadows(Decision decision) {
    for (Decision.Shadow shadow : decision.shadows()) {
      switch (shadow.verdict()) {
        case REJECT -> stats.shadowRejected.increment();
        case DELAY -> stats.shadowDelayed.increment();
        case MISSING_KEY -> stats.shadowMissingKey.increment();
        case FORWARD -> { }
      }
    }
  }

  /** The answer to a request the limiter did not admit (also when an admitted one could not leave in time). */
  public FullHttpResponse refusal(Decision decision, boolean counted) {
    if (decision.outcome() == Decision.Outcome.MISSING_KEY) {
      stats.countMissingKey(decision);
      return missingKey(decision.policy());
    }
    Decision denied = decision.admitted() ? Decision.denyLate(decision) : decision;
    if (counted) {
      stats.countRejected(denied);
    }
    return tooManyRequests(denied, clock.millis());
  }

  /** An admitted request that could not leave in time for its slots, again and again: the gateway is overloaded. */
  public FullHttpResponse overloaded() {
    stats.overloaded.increment();
    return Problems.answer(Problems.problem(503, "overloaded", "Service Unavailable",
        "the gateway could not forward the request in time for its rate-limit slots; retry"));
  }

  /**
   * The answer when the limiter's store failed: the gateway fails closed. A new key refused by a full table of keys
   * ({@link KeyTableFull}) is told so, with a Retry-After of one {@link #KEY_TABLE_RETRY_SECONDS}, and logged at most
   * once per {@link #KEY_TABLE_LOG_INTERVAL_MILLIS}.
   */
  public FullHttpResponse unavailable(Throwable cause) {
    if (cause instanceof KeyTableFull full) {
      stats.keysRefused.increment();
      logRefusedKeys(full);
      FullHttpResponse answer = Problems.answer(Problems.problem(503, "limiter-full", "Service Unavailable",
          "the rate limiter already counts limiter.maxKeys = " + full.maxKeys() + " live keys and cannot count a "
              + "new one; retry after " + KEY_TABLE_RETRY_SECONDS + " s"));
      answer.headers().setInt(HttpHeaderNames.RETRY_AFTER, KEY_TABLE_RETRY_SECONDS);
      return answer;
    }
    stats.limiterFailures.increment();
    return Problems.answer(Problems.problem(503, "limiter-unavailable", "Service Unavailable",
        "the rate limiter could not reach its counters: " + cause));
  }

  private void logRefusedKeys(KeyTableFull full) {
    long refused = refusedKeysLog.count(clock.millis());
    if (refused > 0) {
      LOG.warn("limiter: {} request(s) with a new key refused (503 limiter-full) since the last such line: {}; raise "
          + "limiter.maxKeys or shorten the windows", refused, full.getMessage());
    }
  }

  /**
   * The usual 429 (nothing left until Retry-After) as bytes prepared once per policy and Retry-After value, or null
   * when this refusal is another kind: under a flood almost every answer is one of a few, and encoding each anew
   * was a third of the work of refusing. The caller sends it only on a keep-alive HTTP/1.1 connection.
   */
  public PreparedResponse preparedRefusal(Decision decision, boolean counted) {
    if (decision.outcome() != Decision.Outcome.DENY) {
      return null;
    }
    long now = clock.millis();
    Refusal refusal = refusalFor(decision, now);
    if (!refusal.isUsual(decision.tightest(), now)) {
      return null;
    }
    if (counted) {
      stats.countRejected(decision);
    }
    return refusal.prepared;
  }

  private FullHttpResponse tooManyRequests(Decision decision, long now) {
    Refusal refusal = refusalFor(decision, now);
    FullHttpResponse response = refusal.response();
    if (!refusal.isUsual(decision.tightest(), now)) {
      response.headers().set(RateLimitHeaders.LIMIT, RateLimitHeaders.limit(decision.tightest(), now));
    }
    return response;
  }

  private Refusal refusalFor(Decision decision, long now) {
    Policy policy = decision.policy();
    long retryAfter = Math.max(1, RateLimitHeaders.secondsUntil(decision.retryAtMillis(), now));
    RefusalKey key = new RefusalKey(policy, retryAfter);
    Refusal refusal = refusals.get(key);
    if (refusal == null) {
      // under a flood the same few answers repeat: build each once (bounded, rebuilt if it grows)
      if (refusals.size() > MAX_CACHED_REFUSALS) {
        refusals.clear();
      }
      refusal = Refusal.of(policy, retryAfter);
      refusals.put(key, refusal);
    }
    return refusal;
  }

  /** A policy (by identity: hashing the whole record on every refusal showed in profiles) and a Retry-After. */
  private record RefusalKey(Policy policy, long retryAfterSeconds) {

    @Override
    public boolean equals(Object other) {
      return other instanceof RefusalKey key && key.policy == policy && key.retryAfterSeconds == retryAfterSeconds;
    }

    @Override
    public int hashCode() {
      return System.identityHashCode(policy) * 31 + Long.hashCode(retryAfterSeconds);
    }
  }

  /**
   * The 429 for one policy and Retry-After value: its parts, and the whole answer prepared as bytes for the usual
   * case, when the RateLimit field says nothing is left until Retry-After.
   */
  private record Refusal(byte[] body, long seconds, String retryAfter, String policyHeader, String limitHeader,
                         PreparedResponse prepared) {

    boolean isUsual(Decision.PolicyStatus status, long now) {
      return status.remaining() == 0 && RateLimitHeaders.secondsUntil(status.resetMillis(), now) == seconds;
    }

    /** A new response with the usual headers. */
    FullHttpResponse response() {
      return response(body, retryAfter, policyHeader, limitHeader);
    }

    private static FullHttpResponse response(byte[] body, String retryAfter, String policyHeader,
                                             String limitHeader) {
      FullHttpResponse response = Problems.answer(429, body);
      response.headers()
          .set(HttpHeaderNames.RETRY_AFTER, retryAfter)
          .set(RateLimitHeaders.POLICY, policyHeader)
          .set(RateLimitHeaders.LIMIT, limitHeader);
      return response;
    }

    static Refusal of(Policy policy, long retryAfter) {
      JsonObject problem = Problems.problem(429, "rate-limited", "Too Many Requests",
              "policy '" + policy.name() + "' allows " + policy.window().requests() + " requests per "
                  + policy.window().windowMillis() + " ms; retry after " + retryAfter + " s")
          .put("policy", policy.name())
          .put("retryAfter", retryAfter);
      byte[] body = problem.toBuffer().getBytes();
      String seconds = Long.toString(retryAfter);
      String policyHeader = RateLimitHeaders.policy(policy);
      String limitHeader = "\"" + policy.name() + "\";r=0;t=" + retryAfter;
      return new Refusal(body, retryAfter, seconds, policyHeader, limitHeader,
          PreparedResponse.of(response(body, seconds, policyHeader, limitHeader)));
    }
  }

  private FullHttpResponse missingKey(Policy policy) {
    String needs = policy.keySource() instanceof KeySource.Header header
        ? "header " + header.name()
        : "an Authorization: Bearer token";
    FullHttpResponse response = Problems.answer(Problems.problem(401, "missing-key", "Unauthorized",
            "policy '" + policy.name() + "' needs " + needs)
        .put("policy", policy.name()));
    response.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, challenge(policy.keySource()));
    return response;
  }

  /**
   * The RFC 9110 challenge of a 401: {@code Bearer} for a token, and for a key in a header a non-registered
   * {@code ApiKey} scheme whose {@code header} parameter names the field to send (a token, checked at startup).
   */
  static String challenge(KeySource keySource) {
    return keySource instanceof KeySource.Header header
        ? "ApiKey realm=\"sluice\", header=\"" + header.name() + "\""
        : "Bearer realm=\"sluice\"";
  }
}
