package io.sluice.gateway.proxy;

import io.sluice.gateway.config.GatewayConfig;
import io.vertx.core.Future;

/**
 * What serves the proxy port, whichever engine ({@code proxy.engine}) does it: the Netty {@link ProxyServer} or the
 * Vert.x one in {@code proxy.vertx}. {@code GatewayVerticle} drives one through these four calls.
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

  /** The Netty engine behind this interface (it predates it). */
  static ProxyEngine netty(ProxyServer server) {
    return new ProxyEngine() {
      @Override
      public Future<Integer> start(int port) {
        return server.start(port);
      }

      @Override
      public Future<Void> warmUp(GatewayConfig.Warmup warmup) {
        return server.warmUp(warmup);
      }

      @Override
      public Future<Void> stop(long graceMillis) {
        return server.stop(graceMillis);
      }

      @Override
      public int actualPort() {
        return server.actualPort();
      }
    };
  }
}
