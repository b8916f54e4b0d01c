package io.sluice.gateway.proxy.conformance;

import org.junit.jupiter.api.DisplayName;

import java.util.Set;

/**
 * The conformance table against the vertx engine. Its differences from the Netty engine are listed, each with its
 * reason, in {@code conformance/known-differences/vertx.txt} and docs/vertx-engine.md.
 */
@DisplayName("HTTP/1.1 conformance of the proxy port, vertx engine")
class VertxEngineConformanceTest extends ConformanceTest {

  @Override
  protected String engine() {
    return "vertx";
  }

  /**
   * vertx-http-proxy frames the forwarded body itself and sets these two fields with lower-case names whatever the
   * client wrote (ProxiedRequest.sendRequest); field names are case-insensitive (RFC 9110 §5.1).
   */
  /**
   * Vert.x's server hands pipelined requests over without waiting for the answers before them, and this engine does not
   * pipeline upstream (see VertxProxyServer.upstreamConnections): pipelined GETs leave on separate connections. Their
   * answers still come back in order, which the table checks.
   */
  @Override
  protected boolean safeRequestsInAnyOrder() {
    return true;
  }

  @Override
  protected Set<String> namesOfAnyCase() {
    return Set.of("content-length", "transfer-encoding");
  }
}
