package io.sluice.api;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.net.NetClient;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.CRC32;

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

  @Test
  @DisplayName("streams GET /api/bytes?n=N as N pattern bytes (byte i = i mod 251) with a Content-Length")
  void bytesWithLength(Vertx vertx, VertxTestContext testContext) {
    long n = 3 * 1024 * 1024 + 17;
    download(vertx, "/api/bytes?n=" + n).onComplete(testContext.succeeding(got -> testContext.verify(() -> {
      assertEquals(200, got.status());
      assertEquals(Long.toString(n), got.header("content-length"));
      assertNull(got.header("transfer-encoding"));
      assertEquals("application/octet-stream", got.header("content-type"));
      assertEquals(n, got.digest().bytes());
      assertTrue(got.digest().patternIntact(), "first wrong byte at " + got.digest().firstMismatch());
      testContext.completeNow();
    })));
  }

  @Test
  @DisplayName("streams GET /api/bytes?chunked=true without a Content-Length")
  void bytesChunked(Vertx vertx, VertxTestContext testContext) {
    long n = 300_001;
    download(vertx, "/api/bytes?chunked=true&n=" + n).onComplete(testContext.succeeding(got -> testContext.verify(() -> {
      assertEquals(200, got.status());
      assertEquals("chunked", got.header("transfer-encoding"));
      assertNull(got.header("content-length"));
      assertEquals(n, got.digest().bytes());
      assertTrue(got.digest().patternIntact());
      testContext.completeNow();
    })));
  }

  @Test
  @DisplayName("answers GET /api/bytes?n=0 with an empty body, with a length or chunked")
  void bytesEmpty(Vertx vertx, VertxTestContext testContext) {
    Future.all(download(vertx, "/api/bytes?n=0"), download(vertx, "/api/bytes?n=0&chunked=true"))
      .onComplete(testContext.succeeding(both -> testContext.verify(() -> {
        Download fixed = both.resultAt(0);
        Download chunked = both.resultAt(1);
        assertEquals("0", fixed.header("content-length"));
        assertEquals(0, fixed.digest().bytes());
        assertEquals("chunked", chunked.header("transfer-encoding"));
        assertEquals(0, chunked.digest().bytes());
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("serves bodies over 2 GiB: HEAD gives the 64-bit length, GET starts streaming it at once")
  void bytesBeyondTwoGiB(Vertx vertx, VertxTestContext testContext) {
    long n = (1L << 31) + 5;
    HttpClient http = vertx.createHttpClient();
    Future<HttpClientResponse> head = http.request(HttpMethod.HEAD, api.actualPort(), HOST, "/api/bytes?n=" + n)
      .compose(HttpClientRequest::send);
    Future<Long> firstMegabyte = http.request(HttpMethod.GET, api.actualPort(), HOST, "/api/bytes?n=" + (3 * n))
      .compose(HttpClientRequest::send)
      .compose(response -> {
        testContext.verify(() -> assertEquals(Long.toString(3 * n), response.getHeader("content-length")));
        Promise<Long> enough = Promise.promise();
        BytePattern.Digest digest = new BytePattern.Digest();
        response.handler(chunk -> {
          digest.update(chunk);
          if (digest.bytes() >= 1024 * 1024 && enough.tryComplete(digest.bytes())) {
            testContext.verify(() -> assertTrue(digest.patternIntact()));
            response.request().connection().close();
          }
        });
        return enough.future();
      });
    Future.all(head, firstMegabyte).onComplete(testContext.succeeding(both -> testContext.verify(() -> {
      HttpClientResponse headResponse = both.resultAt(0);
      assertEquals(200, headResponse.statusCode());
      assertEquals("2147483653", headResponse.getHeader("content-length"));
      testContext.completeNow();
    })));
  }

  @Test
  @DisplayName("pauses delayMs between 64 KiB pieces of /api/bytes (a slow sender)")
  void bytesSlowSender(Vertx vertx, VertxTestContext testContext) {
    long started = System.nanoTime();
    download(vertx, "/api/bytes?n=" + (4 * 65536) + "&delayMs=100").onComplete(testContext.succeeding(got ->
      testContext.verify(() -> {
        long elapsedMs = (System.nanoTime() - started) / 1_000_000;
        assertEquals(4 * 65536, got.digest().bytes());
        assertTrue(got.digest().patternIntact());
        assertTrue(elapsedMs >= 300, "four pieces, three pauses of 100 ms, took " + elapsedMs + " ms");
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("rejects a missing or bad n, chunked or delayMs on /api/bytes with 400")
  void bytesBadParameters(VertxTestContext testContext) {
    String[] uris = {"/api/bytes", "/api/bytes?n=-1", "/api/bytes?n=1e3", "/api/bytes?n=9223372036854775808",
        "/api/bytes?n=1&chunked=yes", "/api/bytes?n=1&delayMs=30001"};
    var checkpoint = testContext.checkpoint(uris.length);
    for (String uri : uris) {
      request(HttpMethod.GET, uri).send().onComplete(testContext.succeeding(response -> testContext.verify(() -> {
        assertEquals(400, response.statusCode(), uri);
        assertJson(response);
        assertEquals("bad request", response.bodyAsJsonObject().getString("error"), uri);
        checkpoint.flag();
      })));
    }
  }

  @Test
  @DisplayName("answers HEAD /api/bytes with the length it would send and no body")
  void bytesHead(VertxTestContext testContext) {
    expect(testContext, request(HttpMethod.HEAD, "/api/bytes?n=123456").send(), response -> {
      assertEquals(200, response.statusCode());
      assertEquals("123456", response.getHeader("content-length"));
      assertNull(response.body());
    });
  }

  @Test
  @DisplayName("reads a POST /api/sink body as it streams and answers its length, CRC-32 and pattern check")
  void sinkCountsPattern(Vertx vertx, VertxTestContext testContext) {
    long n = 5 * 1024 * 1024 + 3;
    upload(vertx, HttpMethod.POST, "/api/sink", n, false).onComplete(testContext.succeeding(got ->
      testContext.verify(() -> {
        assertEquals(200, got.status());
        assertEquals(new JsonObject().put("bytes", n).put("crc32", patternCrc(n)).put("pattern", true), got.json());
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("reads a chunked PUT /api/sink body; bytes that are not the pattern say pattern false")
  void sinkChunkedOtherBytes(Vertx vertx, VertxTestContext testContext) {
    byte[] body = "not the pattern at all".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    CRC32 crc = new CRC32();
    crc.update(body);
    HttpClient http = vertx.createHttpClient();
    http.request(HttpMethod.PUT, api.actualPort(), HOST, "/api/sink")
      .compose(request -> request.setChunked(true).send(Buffer.buffer(body)))
      .compose(response -> response.body().map(payload -> {
        testContext.verify(() -> {
          assertEquals(200, response.statusCode());
          assertEquals(new JsonObject().put("bytes", body.length).put("crc32", String.format("%08x", crc.getValue()))
            .put("pattern", false), payload.toJsonObject());
        });
        return payload;
      }))
      .onComplete(testContext.succeedingThenComplete());
  }

  @Test
  @DisplayName("answers an empty /api/sink body with zero bytes")
  void sinkEmpty(VertxTestContext testContext) {
    expect(testContext, request(HttpMethod.POST, "/api/sink").send(), response -> {
      assertEquals(200, response.statusCode());
      assertJson(response);
      assertEquals(new JsonObject().put("bytes", 0).put("crc32", "00000000").put("pattern", true),
        response.bodyAsJsonObject());
    });
  }

  @Test
  @DisplayName("pauses readMs after each piece it reads from /api/sink (a slow reader)")
  void sinkSlowReader(Vertx vertx, VertxTestContext testContext) {
    long n = 256 * 1024;
    long started = System.nanoTime();
    upload(vertx, HttpMethod.POST, "/api/sink?readMs=50", n, true).onComplete(testContext.succeeding(got ->
      testContext.verify(() -> {
        long elapsedMs = (System.nanoTime() - started) / 1_000_000;
        assertEquals(n, got.json().getLong("bytes"));
        assertTrue(got.json().getBoolean("pattern"));
        // pieces are at most 64 KiB: at least four of them, three pauses
        assertTrue(elapsedMs >= 150, "read 256 KiB in " + elapsedMs + " ms");
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("sends 100 Continue to a /api/sink client that expects it")
  void sinkContinue(Vertx vertx, VertxTestContext testContext) {
    HttpClient http = vertx.createHttpClient();
    Promise<Void> continued = Promise.promise();
    http.request(HttpMethod.POST, api.actualPort(), HOST, "/api/sink")
      .compose(request -> {
        request.putHeader("Expect", "100-continue").putHeader("Content-Length", "3");
        request.continueHandler(v -> {
          continued.complete();
          request.end(BytePattern.piece(0, 3));
        });
        request.sendHead();
        return request.response();
      })
      .compose(response -> response.body())
      .onComplete(testContext.succeeding(body -> testContext.verify(() -> {
        assertTrue(continued.future().succeeded());
        assertEquals(3, body.toJsonObject().getLong("bytes"));
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("answers /api/sink?answerEarly=413 before reading a byte, and closes the connection when no body ends")
  void sinkAnswersEarly(Vertx vertx, VertxTestContext testContext) {
    NetClient raw = vertx.createNetClient();
    Buffer received = Buffer.buffer();
    long started = System.nanoTime();
    raw.connect(api.actualPort(), HOST).onComplete(testContext.succeeding(socket -> {
      socket.handler(received::appendBuffer);
      socket.closeHandler(v -> testContext.verify(() -> {
        long closedAfterMs = (System.nanoTime() - started) / 1_000_000;
        String answer = received.toString();
        assertTrue(answer.startsWith("HTTP/1.1 413 "), answer);
        assertTrue(answer.contains("\"status\":413"), answer);
        assertTrue(closedAfterMs >= BodySink.LINGER_MS && closedAfterMs < BodySink.LINGER_MS + 3_000,
          "closed after " + closedAfterMs + " ms");
        testContext.completeNow();
      }));
      // announces 10 MiB and sends none of it
      socket.write("POST /api/sink?answerEarly=413 HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n");
    }));
  }

  @Test
  @DisplayName("answers /api/sink?answerEarly=503 to a client that sends its whole body, and drops the body")
  void sinkAnswersEarlyWholeBody(Vertx vertx, VertxTestContext testContext) {
    upload(vertx, HttpMethod.POST, "/api/sink?answerEarly=503", 200_000, false)
      .onComplete(testContext.succeeding(got -> testContext.verify(() -> {
        assertEquals(503, got.status());
        assertEquals(503, got.json().getInteger("status"));
        testContext.completeNow();
      })));
  }

  @Test
  @DisplayName("rejects a bad readMs or answerEarly on /api/sink with 400")
  void sinkBadParameters(VertxTestContext testContext) {
    String[] uris = {"/api/sink?readMs=x", "/api/sink?readMs=30001", "/api/sink?answerEarly=200",
        "/api/sink?answerEarly=600", "/api/sink?answerEarly="};
    var checkpoint = testContext.checkpoint(uris.length);
    for (String uri : uris) {
      request(HttpMethod.POST, uri).sendBuffer(Buffer.buffer("abc"))
        .onComplete(testContext.succeeding(response -> testContext.verify(() -> {
          assertEquals(400, response.statusCode(), uri);
          assertEquals("bad request", response.bodyAsJsonObject().getString("error"), uri);
          checkpoint.flag();
        })));
    }
  }

  @Test
  @DisplayName("echoes WebSocket text and binary messages on /api/ws, and answers a close with the same status")
  void webSocketEcho(Vertx vertx, VertxTestContext testContext) {
    WebSocketClient wsClient = vertx.createWebSocketClient();
    List<Object> echoes = new ArrayList<>();
    byte[] binary = {0, 1, 2, (byte) 0xff};
    // one retry of a handshake the client itself gave up on: Vert.x 5.0.x's WebSocket client now and then closes its
    // connection during the handshake (eclipse-vertx/vert.x#5839, open; seen once in CI here), before the server answers
    wsClient.connect(api.actualPort(), HOST, "/api/ws")
        .recover(failure -> failure instanceof io.netty.handler.codec.http.websocketx.WebSocketHandshakeException
            ? wsClient.connect(api.actualPort(), HOST, "/api/ws") : io.vertx.core.Future.failedFuture(failure))
        .onComplete(testContext.succeeding(ws -> {
      ws.textMessageHandler(echoes::add);
      ws.binaryMessageHandler(bytes -> {
        echoes.add(bytes);
        ws.close((short) 4000, "done");
      });
      ws.closeHandler(v -> testContext.verify(() -> {
        assertEquals(2, echoes.size(), echoes.toString());
        assertEquals("über die Schleuse", echoes.get(0));
        assertArrayEquals(binary, ((Buffer) echoes.get(1)).getBytes());
        assertEquals((short) 4000, ws.closeStatusCode());
        assertEquals("done", ws.closeReason());
        testContext.completeNow();
      }));
      ws.writeTextMessage("über die Schleuse");
      ws.writeBinaryMessage(Buffer.buffer(binary));
    }));
  }

  @Test
  @DisplayName("answers a plain GET /api/ws (no upgrade) with 400")
  void webSocketNeedsUpgrade(VertxTestContext testContext) {
    expect(testContext, request(HttpMethod.GET, "/api/ws").send(), response -> {
      assertEquals(400, response.statusCode());
      assertJson(response);
    });
  }

  private record Download(int status, MultiMap headers, BytePattern.Digest digest) {
    String header(String name) {
      return headers.get(name);
    }
  }

  private record Upload(int status, JsonObject json) {
  }

  /** GETs {@code uri}, checking the body against the pattern as it streams in. */
  /**
   * Each helper keeps its client reachable until the exchange is over, then closes it: Vert.x closes a client that
   * nothing references any more, and a collection in the middle of a slow download cut it ("Connection was closed",
   * seen once in CI in bytesSlowSender).
   */
  private Future<Download> download(Vertx vertx, String uri) {
    HttpClient client = vertx.createHttpClient();
    return client.request(HttpMethod.GET, api.actualPort(), HOST, uri)
      .compose(HttpClientRequest::send)
      .compose(response -> {
        BytePattern.Digest digest = new BytePattern.Digest();
        response.handler(digest::update);
        return response.end().map(v -> new Download(response.statusCode(), response.headers(), digest));
      })
      .eventually(client::close);
  }

  /** Sends {@code n} pattern bytes, only as fast as the connection takes them, and reads the JSON answer. */
  private Future<Upload> upload(Vertx vertx, HttpMethod method, String uri, long n, boolean chunked) {
    HttpClient client = vertx.createHttpClient();
    return client.request(method, api.actualPort(), HOST, uri)
      .compose(request -> {
        if (chunked) {
          request.setChunked(true);
        } else {
          request.putHeader("Content-Length", Long.toString(n));
        }
        writePattern(request, 0, n);
        return request.response();
      })
      .compose(response -> response.body().map(body -> new Upload(response.statusCode(), body.toJsonObject())))
      .eventually(client::close);
  }

  private static void writePattern(HttpClientRequest request, long from, long n) {
    long at = from;
    while (at < n && !request.writeQueueFull()) {
      int length = (int) Math.min(BytePattern.MAX_PIECE, n - at);
      request.write(BytePattern.piece(at, length));
      at += length;
    }
    if (at == n) {
      request.end();
      return;
    }
    long next = at;
    request.drainHandler(v -> {
      request.drainHandler(null);
      writePattern(request, next, n);
    });
  }

  private static String patternCrc(long n) {
    BytePattern.Digest digest = new BytePattern.Digest();
    for (long at = 0; at < n; at += BytePattern.MAX_PIECE) {
      digest.update(BytePattern.piece(at, (int) Math.min(BytePattern.MAX_PIECE, n - at)));
    }
    return digest.crc32();
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
