package io.sluice.gateway.proxy;

import io.vertx.core.Future;
import io.vertx.httpproxy.ProxyContext;
import io.vertx.httpproxy.ProxyInterceptor;
import io.vertx.httpproxy.ProxyResponse;

import java.util.concurrent.TimeoutException;

/**
 * Outermost interceptor: whatever fails further in (limiter store, upstream connection, upstream timeout) is
 * answered with a JSON problem instead of the proxy's empty 502.
 */
final class FailureInterceptor implements ProxyInterceptor {

  private final GatewayStats stats;
  private final RateLimitInterceptor limits;

  FailureInterceptor(GatewayStats stats, RateLimitInterceptor limits) {
    this.stats = stats;
    this.limits = limits;
  }

  @Override
  public Future<ProxyResponse> handleProxyRequest(ProxyContext context) {
    return context.sendRequest().recover(failure -> Future.succeededFuture(answer(context, failure)));
  }

  private ProxyResponse answer(ProxyContext context, Throwable failure) {
    if (failure instanceof RateLimitedException) {
      return limits.lateAnswer(context.request(), ((RateLimitedException) failure).decision);
    }
    if (failure instanceof LimiterUnavailableException) {
      stats.limiterFailures.increment();
      return Problems.answer(context.request(), Problems.problem(503, "limiter-unavailable", "Service Unavailable",
          "the rate limiter could not reach its counters: " + failure.getCause()));
    }
    stats.upstreamFailures.increment();
    String upstream = context.get(UpstreamPool.CHOSEN, String.class);
    if (isTimeout(failure)) {
      return Problems.answer(context.request(), Problems.problem(504, "upstream-timeout", "Gateway Timeout",
          "upstream " + upstream + " did not answer in time"));
    }
    return Problems.answer(context.request(), Problems.problem(502, "upstream-unavailable", "Bad Gateway",
        "upstream " + upstream + " failed: " + failure.getMessage()));
  }

  private static boolean isTimeout(Throwable failure) {
    for (Throwable t = failure; t != null; t = t.getCause()) {
      if (t instanceof TimeoutException || t instanceof java.net.SocketTimeoutException
          || t instanceof io.netty.channel.ConnectTimeoutException) {
        return true;
      }
    }
    return false;
  }
}
