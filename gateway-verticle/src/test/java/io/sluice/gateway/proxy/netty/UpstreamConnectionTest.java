package io.sluice.gateway.proxy.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.embedded.EmbeddedChannel;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.util.List;

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
 * An upstream connection below the socket: the gateway's requests out, the upstream's raw answers in. Its states:
 * connecting, idle in the lane's pool, answering requests in flight (pipelined, or one that has it to itself), retiring
 * after its last answer, closed, and carrying a tunnel.
 */
@DisplayName("Upstream connection on an embedded channel")
class UpstreamConnectionTest {


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

  private static String answer(String body) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
  }

  private static UpstreamConnection connectionOf(EmbeddedChannel upstream) {
    return upstream.pipeline().get(UpstreamConnection.class);
  }

  @Nested
  @DisplayName("opening, reuse and retiring")
  class Lifecycle {

    @Test
    @DisplayName("an upstream that refuses the connection: the request waiting for it gets 502")
    void refused() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      gateway.refuseConnections(new ConnectException("Connection refused"));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      assertAnswer("502", written(client));
      assertTrue(client.isActive());
    }

    @Test
    @DisplayName("an upstream that does not accept the connection in time: the request waiting for it gets 504")
    void connectTimeout() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      gateway.refuseConnections(new ConnectTimeoutException("connection timed out"));
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      assertAnswer("504", written(client));
    }

    @Test
    @DisplayName("an http upstream named without a port is reached on 80, also when https upstreams share a TLS set-up")
    void defaultPort() {
      EmbeddedChannel loop = new EmbeddedChannel();
      UpstreamLane plain = new UpstreamLane(URI.create("http://upstream.test"), UpstreamLane.clientTls(List.of()),
          loop.eventLoop(), new Bootstrap(), 1, 1);
      UpstreamLane secure = new UpstreamLane(URI.create("https://upstream.test"), UpstreamLane.clientTls(List.of()),
          loop.eventLoop(), new Bootstrap(), 1, 1);
      assertEquals("upstream.test:80", plain.label());
      assertEquals("upstream.test:443", secure.label());
      loop.finishAndReleaseAll();
    }

    @Test
    @DisplayName("an answered connection is free again, and the next request goes up it")
    void reuse() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), OK);
      UpstreamConnection connection = connectionOf(gateway.upstream());
      assertEquals(0, connection.load());
      assertTrue(connection.usable());
      written(gateway.upstream());
      gateway.send(gateway.connect(), get("/b"));
      assertTrue(written(gateway.upstream()).startsWith("GET /b "));
      assertEquals(1, connection.load());
    }

    @Test
    @DisplayName("an upstream that says Connection: close: its connection closes after the answer, the next opens anew")
    void upstreamSaysClose() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
      assertAnswer("200", written(client));
      assertFalse(gateway.upstreams().get(0).isOpen());
      gateway.send(client, get("/b"));
      assertEquals(2, gateway.upstreams().size());
      assertTrue(written(gateway.upstreams().get(1)).startsWith("GET /b "));
    }

    @Test
    @DisplayName("a 204 announcing a body: whether one follows is unknown, so the connection closes after it")
    void bodilessStatusWithFraming() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
      assertAnswer("204", written(client));
      assertFalse(gateway.upstream().isOpen());
      assertTrue(client.isActive());
    }

    @Test
    @DisplayName("an answer that came before the request body was all sent: the connection is not used again")
    void earlyAnswer() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 10\r\n\r\nhello");
      gateway.send(gateway.upstream(), "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
      assertAnswer("413", written(client));
      assertFalse(gateway.upstream().isOpen(), "the upstream may not read the rest of the body");
      gateway.send(client, "world" + get("/b"));
      assertTrue(client.isActive(), "the client's rest of the body was read and thrown away");
      assertTrue(written(gateway.upstreams().get(1)).startsWith("GET /b "));
    }

    @Test
    @DisplayName("a request waiting for the only connection gets a new one when that connection closes")
    void waiterGetsNewConnection() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel first = gateway.connect();
      EmbeddedChannel second = gateway.connect();
      gateway.send(first, get("/a"));
      gateway.send(second, get("/b"));
      assertFalse(written(gateway.upstream()).contains("GET /b "), "no pipelining: /b waits");
      gateway.hangUp(gateway.upstreams().get(0));
      assertAnswer("502", written(first));
      assertTrue(written(gateway.upstreams().get(1)).startsWith("GET /b "));
    }
  }

  @Nested
  @DisplayName("requests in flight")
  class InFlight {

    @Test
    @DisplayName("with the pool full, GETs of two clients share a connection; each gets its own answer, in order")
    void pipelined() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().pool(1, 2));
      EmbeddedChannel first = gateway.connect();
      EmbeddedChannel second = gateway.connect();
      gateway.send(first, get("/a"));
      gateway.send(second, get("/b"));
      String sent = written(gateway.upstream());
      assertTrue(sent.startsWith("GET /a ") && sent.contains("GET /b "), sent);
      assertEquals(2, connectionOf(gateway.upstream()).load());
      gateway.send(gateway.upstream(), answer("a") + answer("b"));
      assertTrue(written(first).endsWith("\r\n\r\na"));
      assertTrue(written(second).endsWith("\r\n\r\nb"));
    }

    @Test
    @DisplayName("no more requests are pipelined than the depth; the next leaves when an answer frees a place")
    void pipelineDepth() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().pool(1, 2));
      EmbeddedChannel[] clients = {gateway.connect(), gateway.connect(), gateway.connect()};
      for (int i = 0; i < clients.length; i++) {
        gateway.send(clients[i], get("/" + i));
      }
      assertEquals(2, count(written(gateway.upstream()), "GET /"));
      gateway.send(gateway.upstream(), answer("0"));
      assertTrue(written(gateway.upstream()).startsWith("GET /2 "));
    }

    @Test
    @DisplayName("a request with a body has the connection to itself: a GET waits until it is answered")
    void exclusive() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().pool(1, 4));
      EmbeddedChannel poster = gateway.connect();
      EmbeddedChannel getter = gateway.connect();
      gateway.send(poster, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\nhello");
      gateway.send(getter, get("/b"));
      assertFalse(written(gateway.upstream()).contains("GET /b "));
      assertTrue(connectionOf(gateway.upstream()).exclusive());
      gateway.send(gateway.upstream(), OK);
      assertFalse(connectionOf(gateway.upstream()).exclusive());
      assertTrue(written(gateway.upstream()).startsWith("GET /b "));
    }

    @Test
    @DisplayName("a second connection is opened while the first is busy and the pool has room")
    void secondConnection() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().pool(2, 4));
      gateway.send(gateway.connect(), get("/a"));
      gateway.send(gateway.connect(), get("/b"));
      assertEquals(2, gateway.upstreams().size());
      assertTrue(written(gateway.upstreams().get(1)).startsWith("GET /b "));
    }

    @Test
    @DisplayName("an interim 103 is passed on before the answer it precedes")
    void interim() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + OK);
      String relayed = written(client);
      assertAnswer("103", relayed);
      assertTrue(relayed.contains("\r\n\r\nHTTP/1.1 200 OK\r\n") && relayed.endsWith("ok"), relayed);
    }

    @Test
    @DisplayName("an interim answer is not passed on to an HTTP/1.0 client")
    void interimToHttp10() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "GET /a HTTP/1.0\r\nHost: example.test\r\n\r\n");
      gateway.send(gateway.upstream(), "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + OK);
      String relayed = written(client);
      assertTrue(relayed.startsWith("HTTP/1.0 200 OK\r\n"), relayed);
    }

    @Test
    @DisplayName("the upstream's 100 Continue is not passed on after the gateway sent its own")
    void continueOnce() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n"
          + "Expect: 100-continue\r\n\r\n");
      gateway.send(client, "hello");
      gateway.send(gateway.upstream(), "HTTP/1.1 100 Continue\r\n\r\n" + OK);
      String relayed = written(client);
      assertEquals(1, count(relayed, "100 Continue"), relayed);
      assertTrue(relayed.endsWith("ok"), relayed);
    }

    @Test
    @DisplayName("an upstream silent for upstreamTimeout after the client left: the connection is closed, and the "
        + "request waiting for it gets a new one")
    void silentAfterClientLeft() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel gone = gateway.connect();
      gateway.send(gone, get("/a"));
      gateway.hangUp(gone);
      EmbeddedChannel next = gateway.connect();
      gateway.send(next, get("/b"));
      gateway.advance(UPSTREAM_TIMEOUT_MILLIS);
      assertFalse(gateway.upstreams().get(0).isOpen());
      assertEquals(2, gateway.upstreams().size(), "the waiting request never got a connection");
      assertTrue(written(gateway.upstreams().get(1)).startsWith("GET /b "));
    }

    @Test
    @DisplayName("once the answer for a client that left has ended, its connection is no longer timed")
    void orphanAnswerEnded() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel gone = gateway.connect();
      gateway.send(gone, get("/a"));
      gateway.hangUp(gone);
      gateway.send(gateway.upstream(), OK);
      gateway.advance(UPSTREAM_TIMEOUT_MILLIS);
      assertTrue(gateway.upstream().isActive());
    }

    @Test
    @DisplayName("an answer for a client that left is read to its end and dropped; the connection serves the next")
    void clientLeft() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel gone = gateway.connect();
      gateway.send(gone, get("/a"));
      gateway.hangUp(gone);
      assertTrue(gateway.upstream().isActive(), "the request was all sent: its answer's end can be found");
      gateway.send(gateway.upstream(), OK);
      assertEquals(0, connectionOf(gateway.upstream()).load());
      EmbeddedChannel next = gateway.connect();
      gateway.send(next, get("/b"));
      assertTrue(written(gateway.upstream()).contains("GET /b "));
      gateway.send(gateway.upstream(), OK);
      assertAnswer("200", written(next));
    }
  }

  @Nested
  @DisplayName("answers that cannot be trusted")
  class Refusals {

    @Test
    @DisplayName("an answer nobody asked for closes the connection")
    void unsolicited() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), OK);
      gateway.send(gateway.upstream(), OK);
      assertFalse(gateway.upstream().isOpen());
      assertTrue(client.isActive());
    }

    @Test
    @DisplayName("a status outside 100-599: 502, and the connection closes")
    void badStatus() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok");
      assertAnswer("502", written(client));
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("an answer framed both by length and by chunks: 502, and the connection closes")
    void ambiguousFraming() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
          + "3\r\nabc\r\n0\r\n\r\n");
      assertAnswer("502", written(client));
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("an answer that is not HTTP: 502, and the connection closes")
    void notHttp() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "SSH-2.0-OpenSSH_9.6\r\n\r\n");
      assertAnswer("502", written(client));
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("a 101 to a request that did not ask to switch: 502, and the connection closes")
    void unaskedSwitch() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
      assertAnswer("502", written(client));
      assertFalse(gateway.upstream().isOpen());
    }

    @Test
    @DisplayName("the connection closing with two requests in flight: each of their clients gets 502")
    void closedWithTwoInFlight() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain().pool(1, 2));
      EmbeddedChannel first = gateway.connect();
      EmbeddedChannel second = gateway.connect();
      gateway.send(first, get("/a"));
      gateway.send(second, get("/b"));
      gateway.hangUp(gateway.upstream());
      assertAnswer("502", written(first));
      assertAnswer("502", written(second));
    }

    @Test
    @DisplayName("an error on the connection: the request in flight gets 502, and the connection closes")
    void connectionError() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.upstream().pipeline().fireExceptionCaught(new IOException("connection reset by peer"));
      gateway.settle();
      assertAnswer("502", written(client));
      assertFalse(gateway.upstream().isOpen());
    }
  }

  @Nested
  @DisplayName("tunnels")
  class Tunnels {

    @Test
    @DisplayName("an upgrade request gets a connection of its own, outside the pool")
    void dedicated() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      gateway.send(gateway.connect(), get("/a"));
      gateway.send(gateway.connect(), UPGRADE);
      assertEquals(2, gateway.upstreams().size(), "the pool's one connection is busy, yet the upgrade has its own");
      assertTrue(written(gateway.upstreams().get(1)).startsWith("GET /ws "));
    }

    @Test
    @DisplayName("after the switch the upstream's bytes are not read as HTTP, however they look")
    void bytesNotHttp() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, UPGRADE);
      gateway.send(gateway.upstream(), SWITCHED);
      written(client);
      gateway.send(gateway.upstream(), OK);
      assertEquals(OK, written(client));
    }

    @Test
    @DisplayName("a tunnel's connection is not given to the next request")
    void leavesThePool() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      gateway.send(gateway.connect(), UPGRADE);
      gateway.send(gateway.upstream(), SWITCHED);
      gateway.send(gateway.connect(), get("/a"));
      assertEquals(2, gateway.upstreams().size());
      assertTrue(written(gateway.upstreams().get(1)).startsWith("GET /a "));
    }

    @Test
    @DisplayName("an error on a tunnel's upstream connection closes both ends")
    void error() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, UPGRADE);
      gateway.send(gateway.upstream(), SWITCHED);
      gateway.upstream().pipeline().fireExceptionCaught(new IOException("connection reset by peer"));
      gateway.settle();
      assertFalse(gateway.upstream().isOpen());
      assertFalse(client.isOpen());
    }
  }

  @Nested
  @DisplayName("backpressure")
  class Backpressure {

    @Test
    @DisplayName("reading the answer pauses while the client cannot take more, and resumes when it can")
    void slowClient() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, get("/a"));
      gateway.send(gateway.upstream(), "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
      gateway.congest(client, true);
      gateway.send(gateway.upstream(), "ab");
      assertFalse(gateway.upstream().config().isAutoRead());
      gateway.congest(client, false);
      gateway.settle();
      assertTrue(gateway.upstream().config().isAutoRead());
    }

    @Test
    @DisplayName("reading the request body pauses while the upstream cannot take more, and resumes when it can")
    void slowUpstream() {
      EmbeddedGateway gateway = gateway(EmbeddedGateway.Settings.plain());
      EmbeddedChannel client = gateway.connect();
      gateway.send(client, "POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 15\r\n\r\nhello");
      gateway.congest(gateway.upstream(), true);
      gateway.send(client, "world");
      assertFalse(client.config().isAutoRead());
      gateway.congest(gateway.upstream(), false);
      gateway.settle();
      assertTrue(client.config().isAutoRead());
    }
  }
}
