package io.sluice.gateway.proxy;

import io.sluice.gateway.config.GatewayConfig;
import io.vertx.core.Future;

/**
 * What serves the proxy port, whichever engine ({@code proxy.engine}) does it: {@code proxy.netty.ProxyServer} or
 * {@code proxy.vertx.VertxProxyServer}. {@code GatewayVerticle} drives one through these four calls. The engines
 * share what is in this package (checks, the limiter gate, forwarding rules, problems, stats); each adapts only its
 * request type and its send path.
 */
public interface ProxyEngine {

  /** Listens on {@code port} (0 picks one); completes with the port bound. */
  Future<Integer> start(int port);

  /** Sends warm-up requests through the gateway itself, outside the real policies; never fails. */
  Future<Void> warmUp(GatewayConfig.Warmup warmup);

  /** Stops accepting; requests in progress get {@code graceMillis}, then every connection closes. */
  Future<Void> stop(long graceMillis);

  /** The bound port, or -1 before {@link #start}. */
  int actualPort();
}
