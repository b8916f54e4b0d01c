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
   * This engine does not pipeline upstream (see VertxProxyServer.upstreamConnections): pipelined GETs leave one after
   * the other, but not always on the same upstream connection, and the recording upstream lists what it received
   * connection by connection. Their answers come back in order, which the table checks.
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
