package io.sluice.gateway.proxy.netty;

import io.netty.channel.embedded.EmbeddedChannel;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static io.sluice.gateway.proxy.netty.EmbeddedGateway.written;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client connection below the socket: raw requests in, what it writes back and what it sends upstream out.
 */
@DisplayName("Client connection on an embedded channel")
class ClientConnectionTest {

  private static Vertx vertx;
  private EmbeddedGateway gateway;

  @BeforeAll
  static void startVertx() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stopVertx() {
    vertx.close().await();
  }

  @AfterEach
  void close() {
    if (gateway != null) {
      gateway.close();
    }
  }

  private EmbeddedGateway gateway(EmbeddedGateway.Settings settings) {
    gateway = new EmbeddedGateway(vertx, settings);
    return gateway;
  }

  @Test
  @DisplayName("a GET goes upstream, its answer comes back, and the connection waits for the next request")
  void keepAlive() {
    EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
    EmbeddedChannel client = gateway.connect();
    gateway.send(client, "GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n");
    String request = written(gateway.upstream());
    assertTrue(request.startsWith("GET /a HTTP/1.1\r\n"), request);
    gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    String answer = written(client);
    assertTrue(answer.startsWith("HTTP/1.1 200 OK\r\n") && answer.endsWith("\r\n\r\nok"), answer);
    assertTrue(client.isActive());
  }
}
