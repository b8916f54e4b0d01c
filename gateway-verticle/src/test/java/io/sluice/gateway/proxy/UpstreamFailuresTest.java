package io.sluice.gateway.proxy;

import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.unix.Errors;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import io.vertx.core.net.SelfSignedCertificate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("An upstream failure, said in words")
class UpstreamFailuresTest {

  private static Vertx nativeVertx;
  private static Vertx nioVertx;

  @BeforeAll
  static void start() {
    nativeVertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    nioVertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(false));
  }

  @AfterAll
  static void stop() {
    nativeVertx.close().await();
    nioVertx.close().await();
  }

  private static Vertx vertx(boolean nativeTransport) {
    return nativeTransport ? nativeVertx : nioVertx;
  }

  /** The failure of a real connection attempt. */
  private static Throwable failureOf(Future<?> attempt) {
    Throwable cause;
    try {
      cause = attempt.transform(done -> Future.succeededFuture(done.cause())).await(10, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw new AssertionError("the attempt neither failed nor succeeded within 10 s", e);
    }
    assertTrue(cause != null, "the attempt should have failed");
    return cause;
  }

  private static void assertPlain(String sentence) {
    assertFalse(sentence.contains("finishConnect") || sentence.contains("error(-") || sentence.contains("\n"),
        () -> "not for users: " + sentence);
  }

  @ParameterizedTest(name = "native transport: {0}")
  @ValueSource(booleans = {true, false})
  @DisplayName("a closed port: connection refused by upstream host:port")
  void refused(boolean nativeTransport) throws IOException {
    int port;
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = probe.getLocalPort();
    }
    Throwable cause = failureOf(vertx(nativeTransport).createNetClient().connect(port, "127.0.0.1"));

    String sentence = UpstreamFailures.describe("127.0.0.1:" + port, cause);

    assertEquals("connection refused by upstream 127.0.0.1:" + port, sentence, () -> "for " + cause);
  }

  @Test
  @DisplayName("a listener whose backlog is full: connect to upstream host:port timed out after N ms")
  @Timeout(value = 20, unit = TimeUnit.SECONDS)
  void connectTimeout() throws IOException {
    List<Socket> fillers = new ArrayList<>();
    try (ServerSocket full = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      // never accepted: once the accept queue is full, the kernel drops further SYNs and connects hang
      for (int i = 0; i < 4; i++) {
        Socket filler = new Socket();
        try {
          filler.connect(full.getLocalSocketAddress(), 200);
          fillers.add(filler);
        } catch (IOException timedOut) {
          filler.close();
          break;
        }
      }
      Throwable cause = failureOf(nativeVertx.createNetClient(new NetClientOptions().setConnectTimeout(300))
          .connect(full.getLocalPort(), "127.0.0.1"));

      String sentence = UpstreamFailures.describe("127.0.0.1:" + full.getLocalPort(), cause, 300);

      assertTrue(cause instanceof ConnectTimeoutException, () -> "setup: expected a connect timeout, got " + cause);
      assertEquals("connect to upstream 127.0.0.1:" + full.getLocalPort() + " timed out after 300 ms", sentence);
    } finally {
      for (Socket filler : fillers) {
        filler.close();
      }
    }
  }

  @ParameterizedTest(name = "native transport: {0}")
  @ValueSource(booleans = {true, false})
  @DisplayName("a certificate nobody trusts: TLS handshake with upstream host:port failed: not trusted")
  void untrustedCertificate(boolean nativeTransport) {
    Vertx vertx = vertx(nativeTransport);
    SelfSignedCertificate certificate = SelfSignedCertificate.create("localhost");
    NetServer server = vertx.createNetServer(new NetServerOptions().setSsl(true)
            .setKeyCertOptions(certificate.keyCertOptions()))
        .connectHandler(socket -> { })
        .listen(0, "127.0.0.1").await();
    try {
      Throwable cause = failureOf(vertx.createNetClient(new NetClientOptions().setSsl(true)
              .setHostnameVerificationAlgorithm("HTTPS"))
          .connect(server.actualPort(), "localhost"));

      String sentence = UpstreamFailures.describe("localhost:" + server.actualPort(), cause);

      assertTrue(sentence.startsWith("TLS handshake with upstream localhost:" + server.actualPort() + " failed: "),
          sentence);
      assertTrue(sentence.contains("not trusted"), sentence);
      assertPlain(sentence);
    } finally {
      server.close().await();
    }
  }

  @Test
  @DisplayName("the upstream too slow to answer: upstream host:port did not answer within N ms")
  void answerTimeout() {
    assertEquals("upstream 127.0.0.1:8000 did not answer within 5000 ms",
        UpstreamFailures.describe("127.0.0.1:8000", new TimeoutException("upstream timeout"), 5000));
    assertEquals("upstream 127.0.0.1:8000 did not answer in time",
        UpstreamFailures.describe("127.0.0.1:8000", new TimeoutException("upstream timeout")));
  }

  @Test
  @DisplayName("a connection closed before the answer: upstream host:port closed the connection before answering")
  void closedBeforeAnswering() {
    String expected = "upstream 127.0.0.1:8000 closed the connection before answering";
    assertEquals(expected,
        UpstreamFailures.describe("127.0.0.1:8000", new IOException("upstream closed the connection")));
    assertEquals(expected, UpstreamFailures.describe("127.0.0.1:8000", new ClosedChannelException()));
  }

  @Test
  @DisplayName("native errno values become words: refused, reset, broken pipe")
  void nativeErrors() {
    assertEquals("connection refused by upstream 10.0.0.1:80", UpstreamFailures.describe("10.0.0.1:80",
        new Errors.NativeIoException("finishConnect(..) failed with error(-111)", -111)));
    assertEquals("upstream 10.0.0.1:80 reset the connection before answering", UpstreamFailures.describe(
        "10.0.0.1:80", new Errors.NativeIoException("recvAddress(..) failed with error(-104)", -104)));
    assertEquals("upstream 10.0.0.1:80 closed the connection before answering", UpstreamFailures.describe(
        "10.0.0.1:80", new Errors.NativeIoException("writev(..) failed with error(-32)", -32)));
    assertEquals("cannot connect to upstream 10.0.0.1:80: no route to its host", UpstreamFailures.describe(
        "10.0.0.1:80", new Errors.NativeIoException("finishConnect(..) failed with error(-113)", -113)));
  }

  @Test
  @DisplayName("a host name nobody can resolve: cannot resolve upstream host NAME")
  void unknownHost() {
    String sentence = UpstreamFailures.describe("api.invalid:8443",
        new UnknownHostException("api.invalid: Name or service not known"));

    assertEquals("cannot resolve upstream host api.invalid (upstream api.invalid:8443)", sentence);
  }

  @Test
  @DisplayName("anything else still names the upstream, on one line")
  void fallback() {
    String sentence = UpstreamFailures.describe("127.0.0.1:8000", new IllegalStateException("the gateway\nis stopping"));

    assertEquals("upstream 127.0.0.1:8000 failed: the gateway is stopping", sentence);
    assertEquals("cannot connect to upstream 127.0.0.1:8000: Network is down",
        UpstreamFailures.describe("127.0.0.1:8000", new ConnectException("Network is down")));
  }
}
