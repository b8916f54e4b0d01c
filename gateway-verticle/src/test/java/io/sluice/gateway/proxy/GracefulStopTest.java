package io.sluice.gateway.proxy;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A gateway that stops (SIGTERM, undeploy) with clients connected: idle keep-alive connections are closed first, a
 * request in flight is answered within shutdownGrace and told {@code Connection: close}, so that a pooling client
 * sends its next request on a fresh connection (to another gateway) instead of racing the close.
 */
@DisplayName("Stopping with clients connected")
class GracefulStopTest {

  private static final int SLOW_MILLIS = 1_000;
  private static final int READ_MILLIS = 5_000;

  private Vertx vertx;
  private GatewayVerticle gateway;

  /** The proxy engine under test ({@code proxy.engine}). */
  protected String engine() {
    return "netty";
  }

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    ApiVerticle api = new ApiVerticle(Map.of(), Clock.systemUTC());
    vertx.deployVerticle(api, new DeploymentOptions().setConfig(new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0)))).await();
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + api.actualPort()))
        .put("shutdownGrace", "5s")
        .put("proxy", new JsonObject().put("engine", engine()))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "global").put("key", "global")
            .put("requests", 1000).put("window", "1s")));
    gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
  }

  @AfterEach
  void stop() {
    vertx.close().await();
  }

  @Test
  @DisplayName("idle keep-alive connections close at once; the request in flight gets its whole answer with "
      + "Connection: close; new connections are refused")
  void inFlightAnsweredWithConnectionClose() throws Exception {
    int port = gateway.proxyPort();
    try (Socket idle = new Socket(); Socket busy = new Socket()) {
      idle.connect(new InetSocketAddress("127.0.0.1", port));
      busy.connect(new InetSocketAddress("127.0.0.1", port));
      send(idle, "GET /api/hello HTTP/1.1\r\nHost: t\r\n\r\n");
      assertTrue(readResponse(idle).startsWith("HTTP/1.1 200"), "a first request, then the connection is idle");
      send(busy, "GET /api/slow?ms=" + SLOW_MILLIS + " HTTP/1.1\r\nHost: t\r\n\r\n");
      awaitForwarded(2); // the slow request is upstream now

      long stopAt = System.nanoTime();
      Future<Void> stopped = vertx.undeploy(gateway.deploymentID());

      idle.setSoTimeout(READ_MILLIS);
      assertEquals(-1, idle.getInputStream().read(), "the idle connection is closed");
      long idleClosedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopAt);
      assertTrue(idleClosedMs < SLOW_MILLIS / 2, "closed at once, not after the request in flight: " + idleClosedMs);

      String answer = readResponse(busy);
      assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
      assertTrue(answer.toLowerCase(Locale.ROOT).contains("\r\nconnection: close\r\n"),
          "the answer tells the client not to reuse the connection:\n" + answer);
      assertTrue(answer.endsWith("}"), "the whole body: " + answer);
      busy.setSoTimeout(READ_MILLIS);
      assertEquals(-1, busy.getInputStream().read(), "and the connection closes after it");

      stopped.await();
      try (Socket late = new Socket()) {
        assertThrows(ConnectException.class, () -> late.connect(new InetSocketAddress("127.0.0.1", port), 1_000),
            "the port no longer accepts");
      }
    }
  }

  /** Waits until the gateway's /stats counts {@code count} forwarded requests (at most READ_MILLIS). */
  private void awaitForwarded(long count) throws InterruptedException {
    WebClient client = WebClient.create(vertx);
    long deadline = System.currentTimeMillis() + READ_MILLIS;
    while (client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject()
        .getLong("forwarded") < count) {
      assertTrue(System.currentTimeMillis() < deadline, "the slow request was never forwarded");
      Thread.onSpinWait();
    }
  }

  private static void send(Socket socket, String request) throws IOException {
    socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
    socket.getOutputStream().flush();
  }

  /** One response with a Content-Length body, read whole. */
  private static String readResponse(Socket socket) throws IOException {
    socket.setSoTimeout(READ_MILLIS);
    InputStream in = socket.getInputStream();
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b == -1) {
        throw new IOException("closed before the end of the head: " + head.toString(StandardCharsets.ISO_8859_1));
      }
      head.write(b);
    }
    String text = head.toString(StandardCharsets.ISO_8859_1);
    int length = 0;
    for (String line : text.split("\r\n")) {
      if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
        length = Integer.parseInt(line.substring("content-length:".length()).trim());
      }
    }
    byte[] body = in.readNBytes(length);
    if (body.length < length) {
      throw new SocketTimeoutException("body cut at " + body.length + " of " + length);
    }
    return text + new String(body, StandardCharsets.UTF_8);
  }
}
