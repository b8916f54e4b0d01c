package io.sluice.gateway.proxy.vertx;

import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pipelined requests on the vertx engine, which does not pipeline upstream: Vert.x's server hands a pipelined request
 * over only once the answer before it has ended, so nothing is served side by side and a request behind a POST reaches
 * the upstream after the POST's answer (RFC 9112 §9.3.2 asks no more). An upstream that takes {@link #SLOW_MILLIS} to
 * answer a POST records when each request arrived and when each answer left.
 */
class PipelinedOrderTest {

  private static final long SLOW_MILLIS = 300;

  private Vertx vertx;
  private GatewayVerticle gateway;
  private final List<String> arrivals = new CopyOnWriteArrayList<>();
  private final Map<String, Long> arrivedAt = new ConcurrentHashMap<>();
  private final Map<String, Long> answeredAt = new ConcurrentHashMap<>();

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    HttpServer upstream = vertx.createHttpServer().requestHandler(request -> {
      String name = request.method() + " " + request.path();
      arrivals.add(name);
      arrivedAt.put(name, System.nanoTime());
      request.body().onSuccess(body -> vertx.setTimer(request.method() == HttpMethod.POST ? SLOW_MILLIS : 1, id -> {
        answeredAt.put(name, System.nanoTime());
        request.response().end(name);
      }));
    });
    int upstreamPort = upstream.listen(0, "127.0.0.1").await().actualPort();
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + upstreamPort))
        .put("proxy", new JsonObject().put("engine", "vertx"))
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

  /** Sends {@code pipeline} in one write and reads until the answer to its last request ({@code last}) has arrived. */
  private String exchange(String pipeline, String last) throws Exception {
    try (Socket socket = new Socket("127.0.0.1", gateway.proxyPort())) {
      socket.setSoTimeout(5_000);
      OutputStream out = socket.getOutputStream();
      out.write(pipeline.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      InputStream in = socket.getInputStream();
      StringBuilder received = new StringBuilder();
      byte[] buffer = new byte[8192];
      while (!received.toString().endsWith(last)) {
        int n = in.read(buffer);
        if (n < 0) {
          break;
        }
        received.append(new String(buffer, 0, n, StandardCharsets.ISO_8859_1));
      }
      return received.toString();
    }
  }

  @Test
  @DisplayName("a GET pipelined behind a POST leaves only after the POST's answer; answers come back in order")
  void unsafeRequestsAreServedOneAfterTheOther() throws Exception {
    String received = exchange("POST /first HTTP/1.1\r\nHost: h.test\r\nContent-Length: 5\r\n\r\nhello"
        + "GET /second HTTP/1.1\r\nHost: h.test\r\n\r\n", "GET /second");
    assertTrue(received.indexOf("POST /first") < received.indexOf("GET /second"), received);
    assertEquals(List.of("POST /first", "GET /second"), arrivals);
    assertTrue(arrivedAt.get("GET /second") >= answeredAt.get("POST /first"),
        "the GET reached the upstream before the POST was answered");
  }

  @Test
  @DisplayName("pipelined GETs are all forwarded; answers come back in order")
  void safeRequestsAreServedSideBySide() throws Exception {
    String received = exchange("GET /a HTTP/1.1\r\nHost: h.test\r\n\r\nGET /b HTTP/1.1\r\nHost: h.test\r\n\r\n"
        + "GET /c HTTP/1.1\r\nHost: h.test\r\n\r\n", "GET /c");
    assertTrue(received.indexOf("GET /a") < received.indexOf("GET /b")
        && received.indexOf("GET /b") < received.indexOf("GET /c"), received);
    assertEquals(3, arrivals.size());
  }
}
