package io.sluice.api;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(VertxExtension.class)
@DisplayName("The API verticle")
class ApiVerticleTest {

  private static final String HOST = "127.0.0.1";
  private static final JsonObject CONFIG = new JsonObject()
    .put("http", new JsonObject().put("port", 0).put("host", HOST));

  private ApiVerticle api;
  private WebClient client;

  @BeforeEach
  void deploy(Vertx vertx, VertxTestContext testContext) {
    client = WebClient.create(vertx);
    api = new ApiVerticle(Map.of(), Clock.systemUTC());
    vertx.deployVerticle(api, new DeploymentOptions().setConfig(CONFIG))
      .onComplete(testContext.succeedingThenComplete());
  }

  @Test
  @DisplayName("answers GET /api/hello with a JSON greeting")
  void hello(VertxTestContext testContext) {
    expect(testContext, request(HttpMethod.GET, "/api/hello").send(), response -> {
      assertEquals(200, response.statusCode());
      assertJson(response);
      assertEquals(new JsonObject().put("message", "hello"), response.bodyAsJsonObject());
    });
  }

  @Test
  @DisplayName("stamps every /api response with the epoch microseconds at which the request arrived")
  void receivedAt(VertxTestContext testContext) {
    long before = ApiVerticle.epochMicros(Instant.now());
    expect(testContext, request(HttpMethod.GET, "/api/hello").send(), response -> {
      long after = ApiVerticle.epochMicros(Instant.now());
      String stamp = response.getHeader(ApiVerticle.RECEIVED_AT_HEADER);
      assertNotNull(stamp, "missing " + ApiVerticle.RECEIVED_AT_HEADER);
      long receivedAt = Long.parseLong(stamp);
      assertTrue(before <= receivedAt && receivedAt <= after, before + " <= " + receivedAt + " <= " + after);
    });
  }

  @Test
  @DisplayName("uses the injected clock for the arrival stamp")
  void receivedAtUsesClock(Vertx vertx, VertxTestContext testContext) {
    Instant fixed = Instant.parse("2025-01-02T03:04:05.123456Z");
    ApiVerticle pinned = new ApiVerticle(Map.of(), Clock.fixed(fixed, java.time.ZoneOffset.UTC));
    vertx.deployVerticle(pinned, new DeploymentOptions().setConfig(CONFIG))
      .compose(id -> client.get(pinned.actualPort(), HOST, "/api/hello").send())
      .onComplete(testContext.succeeding(response -> testContext.verify(() -> {
        assertEquals("1735787045123456", response.getHeader(ApiVerticle.RECEIVED_AT_HEADER));
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("echoes the request body and its content type")
  void echo(VertxTestContext testContext) {
    Future<HttpResponse<Buffer>> sent = request(HttpMethod.POST, "/api/echo")
      .putHeader("Content-Type", "text/plain; charset=utf-8")
      .sendBuffer(Buffer.buffer("över the sluice"));
    expect(testContext, sent, response -> {
      assertEquals(200, response.statusCode());
      assertEquals("text/plain; charset=utf-8", response.getHeader("Content-Type"));
      assertEquals("över the sluice", response.bodyAsString());
      assertNotNull(response.getHeader(ApiVerticle.RECEIVED_AT_HEADER));
    });
  }

  @Test
  @DisplayName("echoes binary bodies as application/octet-stream when no content type is given")
  void echoDefaultsToOctetStream(VertxTestContext testContext) {
    byte[] bytes = {0, 1, 2, (byte) 0xff, (byte) 0xfe, 10, 13};
    expect(testContext, request(HttpMethod.POST, "/api/echo").sendBuffer(Buffer.buffer(bytes)), response -> {
      assertEquals(200, response.statusCode());
      assertEquals("application/octet-stream", response.getHeader("Content-Type"));
      assertArrayEquals(bytes, response.body().getBytes());
    });
  }

  @Test
  @DisplayName("accepts an echo body of exactly the 1 MiB limit")
  void echoAtLimit(VertxTestContext testContext) {
    Buffer body = Buffer.buffer(new byte[(int) ApiVerticle.ECHO_BODY_LIMIT]);
    expect(testContext, request(HttpMethod.POST, "/api/echo").sendBuffer(body), response -> {
      assertEquals(200, response.statusCode());
      assertEquals(ApiVerticle.ECHO_BODY_LIMIT, response.body().length());
    });
  }

  @Test
  @DisplayName("refuses an echo body over 1 MiB with 413 and a JSON error")
  void echoTooLarge(VertxTestContext testContext) {
    Buffer body = Buffer.buffer(new byte[(int) ApiVerticle.ECHO_BODY_LIMIT + 1]);
    expect(testContext, request(HttpMethod.POST, "/api/echo").sendBuffer(body), response -> {
      assertEquals(413, response.statusCode());
      assertJson(response);
      assertEquals("payload too large", response.bodyAsJsonObject().getString("error"));
    });
  }

  @Test
  @DisplayName("refuses a chunked echo body with 413 once it grows past 1 MiB")
  void echoChunkedTooLarge(Vertx vertx, VertxTestContext testContext) {
    HttpClient http = vertx.createHttpClient();
    Buffer body = Buffer.buffer(new byte[(int) ApiVerticle.ECHO_BODY_LIMIT + 1]);
    http.request(HttpMethod.POST, api.actualPort(), HOST, "/api/echo")
      .compose(request -> request.setChunked(true).send(body))
      .compose(response -> response.body().map(payload -> {
        testContext.verify(() -> {
          assertEquals(413, response.statusCode());
          assertEquals("payload too large", payload.toJsonObject().getString("error"));
        });
        return payload;
      }))
      .onComplete(testContext.succeedingThenComplete());
  }

  @Test
  @DisplayName("echoes form bodies byte for byte instead of decoding them")
  void echoFormVerbatim(VertxTestContext testContext) {
    Future<HttpResponse<Buffer>> sent = request(HttpMethod.POST, "/api/echo")
      .putHeader("Content-Type", "application/x-www-form-urlencoded")
      .sendBuffer(Buffer.buffer("a=1&b=%20two&a=3"));
    expect(testContext, sent, response -> {
      assertEquals(200, response.statusCode());
      assertEquals("application/x-www-form-urlencoded", response.getHeader("Content-Type"));
      assertEquals("a=1&b=%20two&a=3", response.bodyAsString());
    });
  }

  @Test
  @DisplayName("answers GET /api/slow?ms=N after at least N milliseconds")
  void slow(VertxTestContext testContext) {
    long started = System.nanoTime();
    expect(testContext, request(HttpMethod.GET, "/api/slow?ms=120").send(), response -> {
      long elapsedMs = (System.nanoTime() - started) / 1_000_000;
      assertEquals(200, response.statusCode());
      assertJson(response);
      assertEquals(new JsonObject().put("message", "slow").put("ms", 120), response.bodyAsJsonObject());
      assertTrue(elapsedMs >= 120, "answered after " + elapsedMs + " ms");
    });
  }

  @Test
  @DisplayName("answers GET /api/slow?ms=0 at once")
  void slowZero(VertxTestContext testContext) {
    expect(testContext, request(HttpMethod.GET, "/api/slow?ms=0").send(), response -> {
      assertEquals(200, response.statusCode());
      assertEquals(0, response.bodyAsJsonObject().getInteger("ms"));
    });
  }

  @Test
  @DisplayName("rejects a missing, non-numeric or out-of-range delay with 400 and a JSON error")
  void slowBadDelay(VertxTestContext testContext) {
    String[] uris = {"/api/slow", "/api/slow?ms=abc", "/api/slow?ms=-1", "/api/slow?ms=30001", "/api/slow?ms=1.5"};
    var checkpoint = testContext.checkpoint(uris.length);
    for (String uri : uris) {
      request(HttpMethod.GET, uri).send().onComplete(testContext.succeeding(response -> testContext.verify(() -> {
        assertEquals(400, response.statusCode(), uri);
        assertJson(response);
        JsonObject body = response.bodyAsJsonObject();
        assertEquals("bad request", body.getString("error"), uri);
        assertTrue(body.getString("detail").contains("'ms'"), uri + ": " + body);
        checkpoint.flag();
      })));
    }
  }

  @Test
  @DisplayName("reports the request headers it received, with lower-case names and array values")
  void headers(VertxTestContext testContext) {
    Future<HttpResponse<Buffer>> sent = request(HttpMethod.GET, "/api/headers")
      .putHeader("X-Forwarded-For", "127.0.0.9")
      .putHeader("X-Multi", java.util.List.of("one", "two"))
      .send();
    expect(testContext, sent, response -> {
      assertEquals(200, response.statusCode());
      assertJson(response);
      JsonObject headers = response.bodyAsJsonObject();
      assertEquals("127.0.0.9", headers.getJsonArray("x-forwarded-for").getString(0));
      assertEquals(java.util.List.of("one", "two"), headers.getJsonArray("x-multi").getList());
      assertTrue(headers.containsKey("host"), headers.encode());
      assertNull(headers.getValue("X-Multi"), "names must be lower-case");
    });
  }

  @Test
  @DisplayName("answers GET /health with status UP")
  void health(VertxTestContext testContext) {
    expect(testContext, request(HttpMethod.GET, "/health").send(), response -> {
      assertEquals(200, response.statusCode());
      assertJson(response);
      assertEquals(new JsonObject().put("status", "UP"), response.bodyAsJsonObject());
    });
  }

  @Test
  @DisplayName("answers unknown paths with 404 and a JSON error naming the path")
  void notFound(VertxTestContext testContext) {
    var checkpoint = testContext.checkpoint(2);
    for (String path : new String[] {"/nowhere", "/api/nowhere"}) {
      request(HttpMethod.GET, path).send().onComplete(testContext.succeeding(response -> testContext.verify(() -> {
        assertEquals(404, response.statusCode());
        assertJson(response);
        assertEquals(new JsonObject().put("error", "not found").put("path", path), response.bodyAsJsonObject());
        checkpoint.flag();
      })));
    }
  }

  @Test
  @DisplayName("answers HEAD like GET: same status and content type, no body")
  void headIsAnsweredLikeGet(VertxTestContext testContext) {
    expect(testContext, request(HttpMethod.HEAD, "/api/hello").send(), response -> {
      assertEquals(200, response.statusCode());
      assertJson(response);
      assertEquals(null, response.body());
    });
  }

  @Test
  @DisplayName("answers a wrong method with 405 and a JSON error")
  void methodNotAllowed(VertxTestContext testContext) {
    expect(testContext, request(HttpMethod.DELETE, "/api/hello").send(), response -> {
      assertEquals(405, response.statusCode());
      assertJson(response);
      assertEquals("method not allowed", response.bodyAsJsonObject().getString("error"));
    });
  }

  @Test
  @DisplayName("answers a failing handler with 500 and a JSON error that leaks no exception text")
  void internalError(Vertx vertx, VertxTestContext testContext) {
    ApiVerticle failing = new ApiVerticle(Map.of(), Clock.systemUTC()) {
      @Override
      Router router() {
        Router router = super.router();
        router.get("/api/boom").handler(ctx -> {
          throw new IllegalStateException("secret detail");
        });
        return router;
      }
    };
    vertx.deployVerticle(failing, new DeploymentOptions().setConfig(CONFIG))
      .compose(id -> client.get(failing.actualPort(), HOST, "/api/boom").send())
      .onComplete(testContext.succeeding(response -> testContext.verify(() -> {
        assertEquals(500, response.statusCode());
        assertJson(response);
        assertEquals(new JsonObject().put("error", "internal error"), response.bodyAsJsonObject());
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("takes its port from SLUICE_API_PORT when that is set")
  void portFromEnvironment(Vertx vertx, VertxTestContext testContext) throws Exception {
    int freePort = freeLoopbackPort();
    ApiVerticle fromEnv = new ApiVerticle(Map.of("SLUICE_API_PORT", Integer.toString(freePort)), Clock.systemUTC());
    vertx.deployVerticle(fromEnv, new DeploymentOptions().setConfig(CONFIG))
      .onComplete(testContext.succeeding(id -> testContext.verify(() -> {
        assertEquals(freePort, fromEnv.actualPort());
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("fails deployment with a one-line message when the port is not an integer")
  void badPortFailsDeployment(Vertx vertx, VertxTestContext testContext) {
    JsonObject config = new JsonObject().put("http", new JsonObject().put("port", "abc"));
    expectDeployFailure(vertx, testContext, new ApiVerticle(Map.of(), Clock.systemUTC()), config,
      "api config: key 'http.port' must be an integer 0..65535, got \"abc\"");
  }

  @Test
  @DisplayName("fails deployment when a top-level config key is unknown")
  void unknownKeyFailsDeployment(Vertx vertx, VertxTestContext testContext) {
    JsonObject config = CONFIG.copy().put("htpp", new JsonObject());
    expectDeployFailure(vertx, testContext, new ApiVerticle(Map.of(), Clock.systemUTC()), config,
      "api config: unknown key 'htpp' (allowed: http, warmupRequests)");
  }

  @Test
  @DisplayName("fails deployment when the port cannot be bound")
  void failedBindFailsDeployment(Vertx vertx, VertxTestContext testContext) throws Exception {
    ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName(HOST));
    JsonObject config = new JsonObject().put("http", new JsonObject().put("port", taken.getLocalPort()).put("host", HOST));
    vertx.deployVerticle(new ApiVerticle(Map.of(), Clock.systemUTC()), new DeploymentOptions().setConfig(config))
      .onComplete(result -> {
        closeQuietly(taken);
        testContext.verify(() -> assertTrue(result.failed(), "deployment should fail on a taken port"));
        testContext.completeNow();
      });
  }

  @Test
  @DisplayName("closes its server when undeployed")
  void stopClosesServer(Vertx vertx, VertxTestContext testContext) {
    int port = api.actualPort();
    vertx.undeploy(api.deploymentID())
      .compose(v -> client.get(port, HOST, "/health").send())
      .onComplete(result -> testContext.verify(() -> {
        assertTrue(result.failed(), "server still answering after undeploy");
        testContext.completeNow();
      }));
  }

  private HttpRequest<Buffer> request(HttpMethod method, String uri) {
    return client.request(method, api.actualPort(), HOST, uri);
  }

  private static void expect(VertxTestContext testContext, Future<HttpResponse<Buffer>> sent,
                             Consumer<HttpResponse<Buffer>> checks) {
    sent.onComplete(testContext.succeeding(response -> testContext.verify(() -> {
      checks.accept(response);
      testContext.completeNow();
    })));
  }

  private static void expectDeployFailure(Vertx vertx, VertxTestContext testContext, ApiVerticle verticle,
                                          JsonObject config, String message) {
    vertx.deployVerticle(verticle, new DeploymentOptions().setConfig(config))
      .onComplete(testContext.failing(error -> testContext.verify(() -> {
        assertEquals(message, error.getMessage());
        testContext.completeNow();
      })));
  }

  private static void assertJson(HttpResponse<Buffer> response) {
    assertEquals("application/json", response.getHeader("Content-Type"));
  }

  private static int freeLoopbackPort() throws Exception {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(HOST))) {
      return socket.getLocalPort();
    }
  }

  private static void closeQuietly(ServerSocket socket) {
    try {
      socket.close();
    } catch (Exception ignored) {
      // the test outcome does not depend on it
    }
  }
}
