package io.sluice.gateway.proxy.netty;

import io.netty.channel.embedded.EmbeddedChannel;
import io.sluice.gateway.limit.KeySource;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static io.sluice.gateway.proxy.netty.EmbeddedGateway.UPSTREAM_TIMEOUT_MILLIS;
import static io.sluice.gateway.proxy.netty.RawHttp.OK;
import static io.sluice.gateway.proxy.netty.RawHttp.SWITCHED;
import static io.sluice.gateway.proxy.netty.RawHttp.UPGRADE;
import static io.sluice.gateway.proxy.netty.RawHttp.assertAnswer;
import static io.sluice.gateway.proxy.netty.RawHttp.count;
import static io.sluice.gateway.proxy.netty.RawHttp.get;
import static io.sluice.gateway.proxy.netty.RawHttp.written;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client connection below the socket: raw requests in; out, what it answers and what it sends upstream. Its states:
 * idle, a request being answered (with later pipelined ones queued behind it), a body still being read after an early
 * answer, closing, and tunnelling after a switch of protocols.
 */
@DisplayName("Client connection on an embedded channel")
class ClientConnectionTest {

  /** Requests pipelined behind the one being answered: two messages each (head, empty last part) fill the queue. */
  private static final int REQUESTS_FILLING_THE_QUEUE = 32;
  /** One request per second, for everyone: the second request within the second is refused. */
  private static final Policy ONE_PER_SECOND = new Policy("one-per-second", new KeySource.Global(),
      new WindowSpec(1, 1_000), Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.SKIP);
  /** As {@link #ONE_PER_SECOND}, but a request over it waits (up to two seconds) instead of being refused. */
  private static final long MAX_DELAY_MILLIS = 2_000;
  private static final Policy ONE_PER_SECOND_DELAYED = new Policy("one-per-second-delayed", new KeySource.Global(),
      new WindowSpec(1, 1_000), Policy.OnExceed.DELAY, MAX_DELAY_MILLIS, Policy.OnMissingKey.SKIP);
  /** A request body larger than what is held while its request waits for its slot (256 KiB). */
  private static final int MORE_THAN_HELD = 300 * 1024;
  private static final Policy PER_API_KEY = new Policy("per-key", new KeySource.Header("X-Api-Key"),
      new WindowSpec(10, 1_000), Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.REJECT);


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
  void closeGateway() {
    if (gateway != null) {
      gateway.close();
    }
  }

  private EmbeddedGateway gateway(EmbeddedGateway.Settings settings) {
    gateway = new EmbeddedGateway(vertx, settings);
    return gateway;
  }

  private static ClientConnection connectionOf(EmbeddedChannel client) {
    return client.pipeline().get(ClientConnection.class);
  }

  @Nested
  @DisplayName("from idle to answered and back")
  class Lifecycle {

    @Test
    @DisplayName("a GET goes upstream, its answer comes back, and the connection waits idle for the next request")
    void keepAlive() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      String request = written(gateway.upstream());
      assertTrue(request.startsWith("GET /a HTTP/1.1\r\n"), request);
      assertFalse(connectionOf(client).idle(), "answering");
      gateway.send(gateway.upstream(), OK);
      String answer = written(client);
      assertAnswer("200", answer);
      assertTrue(answer.endsWith("\r\n\r\nok"), answer);
      assertTrue(client.isActive());
      assertTrue(connectionOf(client).idle());
    }

    @Test
    @DisplayName("the next request on a kept-alive connection goes up the same upstream connection")
    void nextRequest() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), OK);
      written(gateway.upstream());
      written(client);
      gateway.send(client, get("/b"));
      assertTrue(written(gateway.upstream()).startsWith("GET /b HTTP/1.1\r\n"));
      gateway.send(gateway.upstream(), OK);
      assertAnswer("200", written(client));
    }

    @Test
    @DisplayName("a client asking for Connection: close gets an answer saying so, then the connection closes")
    void clientAsksToClose() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "GET /a HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n");
      gateway.send(gateway.upstream(), OK);
      String answer = written(client).toLowerCase();
      assertTrue(answer.contains("\r\nconnection: close\r\n"), answer);
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("an HTTP/1.0 client is answered in HTTP/1.0 and the connection closes after the answer")
    void http10() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "GET /a HTTP/1.0\r\nHost: example.test\r\n\r\n");
      assertTrue(written(gateway.upstream()).startsWith("GET /a HTTP/1.1\r\n"), "the gateway speaks 1.1 upstream");
      gateway.send(gateway.upstream(), OK);
      String answer = written(client);
      assertTrue(answer.startsWith("HTTP/1.0 200 OK\r\n"), answer);
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("an HTTP/1.0 client asking for keep-alive is told so, and its connection stays open")
    void http10KeepAlive() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "GET /a HTTP/1.0\r\nHost: example.test\r\nConnection: keep-alive\r\n\r\n");
      gateway.send(gateway.upstream(), OK);
      String answer = written(client);
      assertTrue(answer.startsWith("HTTP/1.0 200 OK\r\n"), answer);
      assertTrue(answer.toLowerCase().contains("\r\nconnection: keep-alive\r\n"), answer);
      assertTrue(client.isActive());
    }

    @Test
    @DisplayName("a chunked answer to an HTTP/1.0 client goes unchunked, ended by closing the connection")
    void http10Unchunked() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "GET /a HTTP/1.0\r\nHost: example.test\r\nConnection: keep-alive\r\n\r\n");
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
      String answer = written(client);
      assertTrue(answer.startsWith("HTTP/1.0 200 OK\r\n") && answer.endsWith("\r\n\r\nok"), answer);
      assertFalse(answer.toLowerCase().contains("transfer-encoding"), answer);
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("an answer the upstream ends by closing is passed on whole, and the client connection closes after it")
    void closeDelimited() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it");
      gateway.hangUp(gateway.upstream());
      String answer = written(client);
      assertAnswer("200", answer);
      assertTrue(answer.endsWith("\r\n\r\nall of it"), answer);
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("a request expecting 100 Continue gets the gateway's own 100 once admitted; the upstream never sees "
        + "Expect")
    void expectContinue() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n"
          + "Expect: 100-continue\r\n\r\n");
      assertEquals("HTTP/1.1 100 Continue\r\n\r\n", written(client));
      gateway.send(client, "hello");
      String request = written(gateway.upstream());
      assertFalse(request.toLowerCase().contains("expect"), request);
      assertTrue(request.endsWith("\r\n\r\nhello"), request);
    }
  }

  @Nested
  @DisplayName("pipelined requests")
  class Pipelining {

    @Test
    @DisplayName("a request pipelined behind another goes upstream only once the first is answered; answers keep order")
    void oneAtATime() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().pool(1, 4));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a") + get("/b"));
      String first = written(gateway.upstream());
      assertTrue(first.startsWith("GET /a ") && !first.contains("GET /b "), first);
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
      assertTrue(written(client).endsWith("\r\n\r\na"));
      assertTrue(written(gateway.upstream()).startsWith("GET /b "));
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
      assertTrue(written(client).endsWith("\r\n\r\nb"));
    }

    @Test
    @DisplayName("a POST pipelined behind a GET takes its body upstream when its turn comes")
    void queuedBody() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a")
          + "POST /b HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\nhello");
      written(gateway.upstream());
      gateway.send(gateway.upstream(), OK);
      String second = written(gateway.upstream());
      assertTrue(second.startsWith("POST /b ") && second.endsWith("\r\n\r\nhello"), second);
    }

    @Test
    @DisplayName("reading from the client pauses once 64 messages wait behind the request answered, and resumes when "
        + "the last of them has gone")
    void queueBound() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/first") + get("/queued").repeat(REQUESTS_FILLING_THE_QUEUE - 1));
      assertTrue(client.config().isAutoRead(), "one request short of the bound");
      gateway.send(client, get("/queued"));
      assertFalse(client.config().isAutoRead());
      int answered = 0;
      while (!client.config().isAutoRead() && answered <= REQUESTS_FILLING_THE_QUEUE) {
        gateway.send(gateway.upstream(), OK);
        answered++;
      }
      assertEquals(REQUESTS_FILLING_THE_QUEUE, answered, "the first and all queued but the last, which has now left");
    }

    @Test
    @DisplayName("a client that leaves with requests queued: the queued ones never go upstream")
    void leavesWithQueue() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a") + get("/b"));
      written(gateway.upstream());
      gateway.hangUp(client);
      gateway.send(gateway.upstream(), OK);
      assertEquals("", written(gateway.upstream()));
      assertTrue(gateway.upstream().isActive(), "the answer was read to its end: the connection is still good");
    }
  }

  @Nested
  @DisplayName("the client leaves, the upstream fails")
  class Failures {

    @Test
    @DisplayName("a client that leaves in the middle of its request body: the upstream connection is closed")
    void clientLeavesMidBody() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 10\r\n\r\nhello");
      assertTrue(written(gateway.upstream()).endsWith("hello"));
      gateway.hangUp(client);
      assertFalse(gateway.upstream().isOpen(), "where the body ends upstream is unknown: the connection must go");
    }

    @Test
    @DisplayName("a client that leaves while its request is held for its slot: the request never goes upstream")
    void clientLeavesWhileHeld() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().limitedBy(ONE_PER_SECOND_DELAYED));
      EmbeddedChannel first = gateway.connect();
      gateway.send(first, get("/a"));
      gateway.send(gateway.upstream(), OK);
      written(gateway.upstream());
      EmbeddedChannel held = gateway.connect();
      gateway.send(held, get("/b"));
      gateway.hangUp(held);
      gateway.advance(MAX_DELAY_MILLIS);
      assertEquals("", written(gateway.upstream()));
    }

    @Test
    @DisplayName("a client that leaves while its request waits for an upstream connection: the request never goes up, "
        + "and the connection is free for the next")
    void clientLeavesWhileConnecting() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel first = gateway.connect();
      gateway.send(first, get("/a"));
      EmbeddedChannel waiting = gateway.connect();
      gateway.send(waiting, get("/b"));
      gateway.hangUp(waiting);
      written(gateway.upstream());
      gateway.send(gateway.upstream(), OK);
      assertEquals("", written(gateway.upstream()));
      assertEquals(0, gateway.upstream().pipeline().get(UpstreamConnection.class).load());
    }

    @Test
    @DisplayName("an error on the client's connection closes it")
    void clientError() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      client.pipeline().fireExceptionCaught(new IOException("connection reset by peer"));
      gateway.settle();
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("an upstream that closes before answering: 502, and the client connection stays for the next request")
    void upstreamClosesBeforeAnswer() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.hangUp(gateway.upstream());
      assertAnswer("502", written(client));
      assertTrue(client.isActive());
      assertTrue(connectionOf(client).idle());
    }

    @Test
    @DisplayName("an answer the upstream breaks off after its head: the client connection is cut, never ended cleanly")
    void upstreamClosesMidAnswer() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
      String begun = written(client);
      assertAnswer("200", begun);
      assertTrue(begun.endsWith("abc"), "what arrived is passed on at once: " + begun);
      gateway.hangUp(gateway.upstream());
      assertEquals("", written(client));
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("an upstream silent for upstreamTimeout: 504, and its connection is closed")
    void upstreamTimeout() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.advance(UPSTREAM_TIMEOUT_MILLIS - 1);
      assertEquals("", written(client));
      gateway.advance(1);
      assertAnswer("504", written(client));
      assertTrue(client.isActive());
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("an answer that stalls midway for upstreamTimeout: the client connection is cut")
    void upstreamStallsMidAnswer() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
      written(client);
      gateway.advance(UPSTREAM_TIMEOUT_MILLIS);
      assertEquals("", written(client));
      assertFalse(client.isOpen());
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("an upstream that takes no more of the body for upstreamTimeout: 504, and the rest is thrown away")
    void upstreamStopsReading() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 15\r\n\r\nhello");
      gateway.congest(gateway.upstream(), true);
      gateway.send(client, "world");
      gateway.advance(UPSTREAM_TIMEOUT_MILLIS);
      assertAnswer("504", written(client));
      assertFalse(gateway.upstream().isOpen());
      gateway.send(client, "!!!!!" + get("/b"));
      assertTrue(client.isActive());
      assertTrue(written(gateway.upstreams().get(1)).startsWith("GET /b "));
    }

    @Test
    @DisplayName("an answer that keeps coming, however slowly, is not timed out")
    void slowAnswer() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (int part = 0; part < 3; part++) {
        gateway.advance(UPSTREAM_TIMEOUT_MILLIS - 1);
        gateway.send(gateway.upstream(), "1\r\nx\r\n");
      }
      gateway.send(gateway.upstream(), "0\r\n\r\n");
      String answer = written(client);
      assertAnswer("200", answer);
      assertEquals(3, count(answer, "1\r\nx\r\n"), answer);
      assertTrue(client.isActive());
    }
  }

  @Nested
  @DisplayName("malformed requests and refusals")
  class Refusals {

    @Test
    @DisplayName("Content-Length beside chunked: 400, the connection closes, and nothing behind it goes upstream")
    void smuggling() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n"
          + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get("/smuggled"));
      assertAnswer("400", written(client));
      assertFalse(client.isOpen());
      assertTrue(gateway.upstreams().isEmpty(), "no upstream connection was even opened");
    }

    @Test
    @DisplayName("a request line longer than the limit: 414 in HTTP/1.0 (its version was never read), then close")
    void longRequestLine() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/" + "x".repeat(EmbeddedGateway.MAX_REQUEST_LINE)));
      String answer = written(client);
      assertTrue(answer.startsWith("HTTP/1.0 414 "), answer);
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("a method the gateway does not forward: 405 with Allow, and the connection closes")
    void methodNotAllowed() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n");
      String answer = written(client);
      assertAnswer("405", answer);
      assertTrue(answer.toLowerCase().contains("\r\nallow: "), answer);
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("a broken chunk after the request went upstream: 400, both connections close")
    void brokenChunk() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n");
      assertTrue(written(gateway.upstream()).startsWith("POST /a "));
      gateway.send(client, "zz\r\nhello\r\n");
      assertAnswer("400", written(client));
      assertFalse(client.isOpen());
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("a chunked body that grows past maxBodySize: 413, both connections close")
    void bodyTooLarge() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().maxBody(4));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n");
      gateway.send(client, "5\r\nhello\r\n");
      assertAnswer("413", written(client));
      assertFalse(client.isOpen());
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("over the limit: 429, nothing goes upstream, and the connection stays for the next request")
    void tooManyRequests() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().limitedBy(ONE_PER_SECOND));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), OK);
      written(client);
      written(gateway.upstream());
      gateway.send(client, get("/b"));
      String refused = written(client);
      assertAnswer("429", refused);
      assertTrue(refused.toLowerCase().contains("\r\nretry-after: "), refused);
      assertEquals("", written(gateway.upstream()));
      assertTrue(client.isActive());
      assertTrue(connectionOf(client).idle());
    }

    @Test
    @DisplayName("a request without the key its policy counts by: 401")
    void missingKey() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().limitedBy(PER_API_KEY));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      assertAnswer("401", written(client));
      assertTrue(gateway.upstreams().isEmpty());
    }

    @Test
    @DisplayName("a 429 before a small body: the body is read and thrown away, and the next request is read as one")
    void refusedBeforeSmallBody() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().limitedBy(ONE_PER_SECOND));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), OK);
      written(client);
      gateway.send(client, "POST /b HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\n");
      assertAnswer("429", written(client));
      assertFalse(connectionOf(client).idle(), "the body is still to be read");
      gateway.send(client, "hello" + get("/c"));
      assertAnswer("429", written(client));
      assertTrue(client.isActive());
    }

    @Test
    @DisplayName("a 429 before a large body: the answer says close, and the connection closes")
    void refusedBeforeLargeBody() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().limitedBy(ONE_PER_SECOND));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), OK);
      written(client);
      gateway.send(client, "POST /b HTTP/1.1\r\nHost: example.test\r\nContent-Length: 10000000\r\n\r\n");
      String refused = written(client);
      assertAnswer("429", refused);
      assertTrue(refused.toLowerCase().contains("\r\nconnection: close\r\n"), refused);
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("a request a delaying policy holds goes upstream only when its slot comes, within maxDelay")
    void delayed() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().limitedBy(ONE_PER_SECOND_DELAYED));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), OK);
      written(gateway.upstream());
      written(client);
      gateway.send(client, get("/b"));
      long waited = 0;
      while (written(gateway.upstream()).isEmpty() && waited <= MAX_DELAY_MILLIS) {
        gateway.advance(1);
        waited++;
      }
      assertTrue(waited >= ONE_PER_SECOND_DELAYED.window().windowMillis() - 1 && waited <= MAX_DELAY_MILLIS,
          "held for " + waited + " ms");
      gateway.send(gateway.upstream(), OK);
      assertAnswer("200", written(client));
    }

    @Test
    @DisplayName("a body arriving while its request is held is kept, and reading pauses past 256 KiB until it leaves")
    void heldBody() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().limitedBy(ONE_PER_SECOND_DELAYED));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), OK);
      written(gateway.upstream());
      gateway.send(client, "POST /b HTTP/1.1\r\nHost: example.test\r\nContent-Length: " + MORE_THAN_HELD
          + "\r\n\r\n" + "x".repeat(MORE_THAN_HELD - 1));
      assertFalse(client.config().isAutoRead());
      assertEquals("", written(gateway.upstream()));
      gateway.advance(MAX_DELAY_MILLIS);
      assertTrue(client.config().isAutoRead());
      assertEquals(MORE_THAN_HELD - 1, written(gateway.upstream()).split("\r\n\r\n", 2)[1].length());
    }
  }

  @Nested
  @DisplayName("switching protocols")
  class Upgrade {

    @Test
    @DisplayName("a 101 turns the two connections into a tunnel: bytes go both ways as they are")
    void tunnel() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, UPGRADE);
      assertTrue(written(gateway.upstream()).toLowerCase().contains("\r\nupgrade: websocket\r\n"));
      gateway.send(gateway.upstream(), SWITCHED);
      assertAnswer("101", written(client));
      gateway.send(client, "ping");
      assertEquals("ping", written(gateway.upstream()));
      gateway.send(gateway.upstream(), "pong");
      assertEquals("pong", written(client));
    }

    @Test
    @DisplayName("bytes the client sent right behind its upgrade request reach the upstream once it has switched")
    void bytesBehindUpgrade() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, UPGRADE + "early");
      written(gateway.upstream());
      gateway.send(gateway.upstream(), SWITCHED);
      assertEquals("early", written(gateway.upstream()));
    }

    @Test
    @DisplayName("the upstream closing the tunnel closes the client connection")
    void upstreamClosesTunnel() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, UPGRADE);
      gateway.send(gateway.upstream(), SWITCHED);
      gateway.hangUp(gateway.upstream());
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("a request naming an upgrade the gateway does not make (h2c) is answered as usual, and the next "
        + "request on the connection is read")
    void ignoredUpgrade() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "GET /a HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
          + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
      gateway.send(gateway.upstream(), OK);
      assertAnswer("200", written(client));
      written(gateway.upstream());
      gateway.send(client, get("/b"));
      assertTrue(written(gateway.upstream()).startsWith("GET /b "));
    }

    @Test
    @DisplayName("a request with a body is no upgrade, whatever it names: its body goes upstream as it comes")
    void upgradeWithBody() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\n"
          + "Upgrade: websocket\r\nContent-Length: 5\r\n\r\n");
      gateway.send(client, "hello");
      assertTrue(written(gateway.upstream()).endsWith("\r\n\r\nhello"));
    }

    @Test
    @DisplayName("an upgrade the upstream declines is answered as usual, then both connections close")
    void declined() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, UPGRADE);
      gateway.send(gateway.upstream(), OK);
      String answer = written(client);
      assertAnswer("200", answer);
      assertTrue(answer.toLowerCase().contains("\r\nconnection: close\r\n"), answer);
      assertFalse(client.isOpen());
      assertFalse(gateway.upstream().isOpen(), "a connection of its own, closed after its one answer");
    }
  }

  @Nested
  @DisplayName("the gateway stopping")
  class Stopping {

    /** How long requests in progress may take to finish once the gateway stops. */
    private static final long GRACE_MILLIS = 1_000;

    @Test
    @DisplayName("an idle connection is closed at once")
    void idleClosed() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.server().stop(GRACE_MILLIS);
      gateway.settle();
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("a request in progress is answered with Connection: close, then its connection closes")
    void answeredThenClosed() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.server().stop(GRACE_MILLIS);
      gateway.settle();
      assertTrue(client.isActive());
      gateway.send(gateway.upstream(), OK);
      String answer = written(client).toLowerCase();
      assertTrue(answer.startsWith("http/1.1 200 ") && answer.contains("\r\nconnection: close\r\n"), answer);
      assertFalse(client.isOpen());
    }

    @Test
    @DisplayName("a request still unanswered after the grace time: its connection is closed")
    void graceEnds() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.server().stop(GRACE_MILLIS);
      gateway.settle();
      gateway.advance(GRACE_MILLIS - 1);
      assertTrue(client.isActive());
      gateway.advance(1);
      assertFalse(client.isOpen());
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("a connection accepted while stopping is closed at once")
    void acceptedWhileStopping() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      gateway.send(gateway.connect(), get("/a"));
      gateway.server().stop(GRACE_MILLIS);
      gateway.settle();
      assertFalse(gateway.connect().isOpen());
    }
  }

  @Nested
  @DisplayName("waiting on the client")
  class Stalls {

    /** Sweeps of the idle timer a connection may wait on its client without progress. */
    private static final long LIMIT = 1;

    @Test
    @DisplayName("an idle keep-alive connection counts as stalled once the sweeps pass its limit")
    void idle() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      ClientConnection connection = connectionOf(gateway.connect());
      assertFalse(connection.clientStalled(LIMIT, LIMIT));
      assertTrue(connection.clientStalled(LIMIT + 1, LIMIT));
    }

    @Test
    @DisplayName("a connection waiting on the upstream is not stalled, however long")
    void waitingOnUpstream() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      assertFalse(connectionOf(client).clientStalled(LIMIT + 1, LIMIT));
    }

    @Test
    @DisplayName("a tunnel counts as waiting on its client: one with no bytes either way is stalled")
    void tunnel() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, UPGRADE);
      gateway.send(gateway.upstream(), SWITCHED);
      assertTrue(connectionOf(client).clientStalled(LIMIT + 1, LIMIT));
    }

    @Test
    @DisplayName("a client that stopped reading its answer counts as stalled: it holds an upstream connection paused")
    void stoppedReading() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.congest(client, true);
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
      assertFalse(gateway.upstream().config().isAutoRead(), "the upstream waits for this client");
      assertTrue(connectionOf(client).clientStalled(LIMIT + 1, LIMIT));
    }

    @Test
    @DisplayName("a request body that stopped coming counts as stalled")
    void bodyStopped() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 10\r\n\r\nhello");
      assertTrue(connectionOf(client).clientStalled(LIMIT + 1, LIMIT));
    }
  }
}
