package io.sluice.gateway.proxy;

import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.KeySource;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.httpproxy.ProxyContext;
import io.vertx.httpproxy.ProxyInterceptor;
import io.vertx.httpproxy.ProxyRequest;
import io.vertx.httpproxy.ProxyResponse;

import java.time.Clock;
import java.util.List;

/**
 * The rate-limit seam: asks the {@link RateLimiter} about each request, then forwards it (at once, or later for a
 * delayed slot) or answers 429/401 itself without touching the upstream. Just before the request leaves (upstream
 * connection in hand) {@link #confirmBeforeSend} makes sure it still leaves within its slots.
 */
final class RateLimitInterceptor implements ProxyInterceptor {

  private static final String DECISION = "sluice.decision";
  private static final String LIMITER = "sluice.limiter";
  static final String WARMUP_HEADER = "X-Sluice-Warmup";
  private static final int MAX_CONFIRMATIONS = 3;

  private final Vertx vertx;
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

  RateLimitInterceptor(Vertx vertx, RateLimiter limiter, GatewayStats stats, Clock clock, String warmupSecret) {
    this.vertx = vertx;
    this.warmupSecret = warmupSecret;
    String name = "sluice.warmup-" + warmupSecret.substring(0, 8);
    this.warmupLimiter = limiter.withPolicies(List.of(
        new Policy(name + "-low", new KeySource.ClientIp(), new WindowSpec(99, 1_000), Policy.OnExceed.REJECT, 0,
            Policy.OnMissingKey.SKIP),
        new Policy(name + "-high", new KeySource.Global(), new WindowSpec(1_000_000, 1_000), Policy.OnExceed.REJECT,
            0, Policy.OnMissingKey.SKIP)));
    this.limiter = limiter;
    this.stats = stats;
    this.clock = clock;
  }

  String warmupSecret() {
    return warmupSecret;
  }

  @Override
  public Future<ProxyResponse> handleProxyRequest(ProxyContext context) {
    ProxyRequest request = context.request();
    String warmup = request.headers().get(WARMUP_HEADER);
    RateLimiter chosen = limiter;
    if (warmup != null) {
      request.headers().remove(WARMUP_HEADER);
      if (warmup.equals(warmupSecret)) {
        chosen = warmupLimiter;
      }
    }
    context.set(LIMITER, chosen);
    boolean counted = chosen == limiter;
    return chosen.decide(new HttpRequestInfo(request.proxiedRequest()))
        .recover(failure -> Future.failedFuture(new LimiterUnavailableException(failure)))
        .compose(decision -> {
          switch (decision.outcome()) {
            case ADMIT:
              context.set(DECISION, decision);
              return waitUntil(decision.forwardAtMillis()).compose(v -> context.sendRequest());
            case DENY:
              if (counted) {
                stats.rejected.increment();
              }
              return Future.succeededFuture(tooManyRequests(request, decision, clock.millis()));
            default:
              stats.missingKey.increment();
              return Future.succeededFuture(missingKey(request, decision.policy()));
          }
        });
  }

  @Override
  public Future<Void> handleProxyResponse(ProxyContext context) {
    Decision decision = context.get(DECISION, Decision.class);
    ProxyResponse response = context.response();
    if (decision != null && decision.tightest() != null && response.proxiedResponse() != null) {
      response.putHeader(RateLimitHeaders.POLICY, RateLimitHeaders.policy(decision.policy()));
      response.putHeader(RateLimitHeaders.LIMIT, RateLimitHeaders.limit(decision.tightest(), clock.millis()));
    }
    return context.sendResponse();
  }

  /**
   * Succeeds when the request may leave now; fails with {@link RateLimitedException} when, decided again for the
   * instant it actually leaves, it no longer fits.
   */
  Future<Void> confirmBeforeSend(ProxyContext context) {
    return confirm(context, 1);
  }

  private Future<Void> confirm(ProxyContext context, int attempt) {
    Decision decision = context.get(DECISION, Decision.class);
    if (decision == null) {
      return Future.succeededFuture();
    }
    RateLimiter decider = context.get(LIMITER, RateLimiter.class);
    return decider.confirm(decision, new HttpRequestInfo(context.request().proxiedRequest()))
        .recover(failure -> Future.failedFuture(new LimiterUnavailableException(failure)))
        .compose(confirmed -> {
          if (confirmed == decision) {
            if (decider == limiter) {
              stats.forwarded.increment();
            }
            return Future.succeededFuture();
          }
          context.set(DECISION, confirmed);
          if (!confirmed.admitted()) {
            return Future.failedFuture(new RateLimitedException(confirmed));
          }
          if (attempt == MAX_CONFIRMATIONS) {
            return decider.release(confirmed).transform(v -> Future.failedFuture(new RateLimitedException(confirmed)));
          }
          return waitUntil(confirmed.forwardAtMillis()).compose(v -> confirm(context, attempt + 1));
        });
  }

  /** The answer to a request that was admitted, then found it could no longer leave within the limit. */
  ProxyResponse lateAnswer(ProxyRequest request, Decision decision) {
    if (decision.outcome() == Decision.Outcome.MISSING_KEY) {
      stats.missingKey.increment();
      return missingKey(request, decision.policy());
    }
    stats.rejected.increment();
    if (decision.admitted()) {
      return tooManyRequests(request, Decision.denyLate(decision), clock.millis());
    }
    return tooManyRequests(request, decision, clock.millis());
  }

  private Future<Void> waitUntil(long atMillis) {
    long wait = atMillis - clock.millis();
    if (wait <= 0) {
      return Future.succeededFuture();
    }
    stats.delayed.increment();
    return vertx.timer(wait).mapEmpty();
  }

  private ProxyResponse tooManyRequests(ProxyRequest request, Decision decision, long now) {
    Policy policy = decision.policy();
    long retryAfter = Math.max(1, RateLimitHeaders.secondsUntil(decision.retryAtMillis(), now));
    JsonObject problem = Problems.problem(429, "rate-limited", "Too Many Requests",
            "policy '" + policy.name() + "' allows " + policy.window().requests() + " requests per "
                + policy.window().windowMillis() + " ms; retry after " + retryAfter + " s")
        .put("policy", policy.name())
        .put("retryAfter", retryAfter);
    return Problems.answer(request, problem)
        .putHeader("Retry-After", Long.toString(retryAfter))
        .putHeader(RateLimitHeaders.POLICY, RateLimitHeaders.policy(policy))
        .putHeader(RateLimitHeaders.LIMIT, RateLimitHeaders.limit(decision.tightest(), now));
  }

  private ProxyResponse missingKey(ProxyRequest request, Policy policy) {
    String needs = policy.keySource() instanceof KeySource.Header header
        ? "header " + header.name()
        : "an Authorization: Bearer token";
    ProxyResponse response = Problems.answer(request, Problems.problem(401, "missing-key", "Unauthorized",
            "policy '" + policy.name() + "' needs " + needs)
        .put("policy", policy.name()));
    if (policy.keySource() instanceof KeySource.Bearer) {
      response.putHeader("WWW-Authenticate", "Bearer");
    }
    return response;
  }
}
