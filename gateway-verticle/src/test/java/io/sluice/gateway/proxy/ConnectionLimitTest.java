package io.sluice.gateway.proxy;

import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code http.maxConnections}: connections over it are closed as they are accepted, counted, and the rest served. */
@DisplayName("Client connections beyond http.maxConnections")
class ConnectionLimitTest {

  private static final int MAX_CONNECTIONS = 3;
  /** How long a refused connection may take to show its close, and an admitted one is watched for staying open. */
  private static final int WATCH_MILLIS = 1_000;

  private Vertx vertx;
  private GatewayVerticle gateway;
  private WebClient client;

  /** The proxy engine under test ({@code proxy.engine}). */
  protected String engine() {
    return "netty";
  }

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    HttpServer upstream = vertx.createHttpServer().requestHandler(r -> r.response().end("ok")).listen(0).await();
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0).put("maxConnections", MAX_CONNECTIONS))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + upstream.actualPort()))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("proxy", new JsonObject().put("engine", engine()))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "global").put("key", "global")
            .put("requests", 1000).put("window", "1s")));
    gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    client = WebClient.create(vertx);
  }

  @AfterEach
  void stop() {
    vertx.close().await();
  }

  @Test
  @DisplayName("with the limit held by idle connections, the next is closed at accept; once one leaves, a new one is served")
  void refusedAtAcceptThenServed() throws IOException {
    List<Socket> held = new ArrayList<>();
    try {
      for (int i = 0; i < MAX_CONNECTIONS; i++) {
        held.add(connect());
      }
      for (Socket socket : held) {
        assertTrue(staysOpen(socket), "a connection within the limit stays open");
      }
      assertTrue(overLimitClosed(), "the connection over the limit is closed at once");
      JsonObject stats = stats();
      assertEquals(1, stats.getLong("connectionsRefused"), stats::encode);
      assertEquals(MAX_CONNECTIONS, stats.getInteger("openConnections"), stats::encode);

      // a request on a held connection is served as usual
      assertEquals(200, status(held.get(0)));
      held.remove(0).close();
    } finally {
      for (Socket socket : held) {
        socket.close();
      }
    }
    long deadline = System.currentTimeMillis() + WATCH_MILLIS;
    while (stats().getInteger("openConnections") > 0 && System.currentTimeMillis() < deadline) {
      sleep(20);
    }
    assertEquals(0, stats().getInteger("openConnections"), "every close is counted");
    try (Socket again = connect()) {
      assertEquals(200, status(again), "room again: a new connection is served");
    }
  }

  private Socket connect() throws IOException {
    Socket socket = new Socket();
    socket.connect(new InetSocketAddress("127.0.0.1", gateway.proxyPort()), WATCH_MILLIS);
    return socket;
  }

  private JsonObject stats() {
    return client.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
  }

  private static boolean staysOpen(Socket socket) throws IOException {
    socket.setSoTimeout(200);
    try {
      return socket.getInputStream().read() != -1;
    } catch (SocketTimeoutException quiet) {
      return true;
    }
  }

  /** Connects once more: the reset may come while the connect completes, or on the first read. */
  private boolean overLimitClosed() {
    try (Socket socket = connect()) {
      socket.setSoTimeout(WATCH_MILLIS);
      return socket.getInputStream().read() == -1;
    } catch (SocketTimeoutException stillOpen) {
      return false;
    } catch (IOException reset) {
      return true;
    }
  }

  private static int status(Socket socket) throws IOException {
    socket.setSoTimeout(WATCH_MILLIS * 5);
    OutputStream out = socket.getOutputStream();
    out.write("GET /x HTTP/1.1\r\nHost: t\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    out.flush();
    InputStream in = socket.getInputStream();
    StringBuilder line = new StringBuilder();
    for (int b = in.read(); b != -1 && b != '\n'; b = in.read()) {
      line.append((char) b);
    }
    return Integer.parseInt(line.substring(9, 12));
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
