package io.sluice.gateway.proxy;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.testing.TestApi;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SelfSignedCertificate;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The netty engine's proxy port with {@code http.tls} set, in front of the real API verticle, with a certificate made for
 * the test (the vertx engine's TLS, with ALPN h2: {@code proxy.vertx.Http2EngineTest}): TLS 1.3 and 1.2 only, HTTP/1.1 only, the limiter as over plain HTTP, and clients that do not speak TLS (or not a
 * version it accepts, or not at all) closed quietly.
 */
@DisplayName("The proxy port over TLS")
class TlsListenerTest {

  /** Bounds every blocking read of the raw-socket tests. */
  private static final int READ_TIMEOUT_MILLIS = 5_000;

  private Vertx vertx;
  private SelfSignedCertificate certificate;
  private int apiPort;
  private LogCapture logged;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    certificate = SelfSignedCertificate.create("localhost");
    ApiVerticle api = TestApi.deploy(vertx);
    apiPort = api.actualPort();
    logged = LogCapture.everything();
  }

  @AfterEach
  void stop() {
    logged.close();
    vertx.close().await();
    certificate.delete();
  }

  private GatewayVerticle gateway(int requestsPer10s, JsonObject extra) {
    return gateway(requestsPer10s, "http://127.0.0.1:" + apiPort, extra);
  }

  private GatewayVerticle gateway(int requestsPer10s, String upstream, JsonObject extra) {
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0)
            .put("tls", new JsonObject().put("cert", certificate.certificatePath())
                .put("key", certificate.privateKeyPath())))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add(upstream))
        .put("proxy", new JsonObject().put("engine", "netty"))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 3))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "global").put("key", "global")
            .put("requests", requestsPer10s).put("window", "10s")))
        .mergeIn(extra);
    GatewayVerticle gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    return gateway;
  }

  private JsonObject stats(GatewayVerticle gateway) {
    WebClient plain = WebClient.create(vertx);
    try {
      return plain.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
    } finally {
      plain.close();
    }
  }

  @Test
  @DisplayName("a client trusting the certificate gets 200 through the limiter and 429 over it; the upstream sees "
      + "X-Forwarded-Proto: https; a client offering h2 by ALPN is answered in HTTP/1.1")
  void limitedOverTls() {
    GatewayVerticle gateway = gateway(2, new JsonObject());
    WebClient client = WebClient.create(vertx, new WebClientOptions().setSsl(true)
        .setTrustOptions(certificate.trustOptions()).setUseAlpn(true).setProtocolVersion(HttpVersion.HTTP_2));
    try {
      HttpResponse<Buffer> headers = client.get(gateway.proxyPort(), "localhost", "/api/headers").send().await();
      assertEquals(200, headers.statusCode(), headers::bodyAsString);
      assertEquals(HttpVersion.HTTP_1_1, headers.version(), "ALPN selects http/1.1, never h2");
      JsonObject seen = headers.bodyAsJsonObject();
      assertEquals("https", seen.getJsonArray("x-forwarded-proto").getString(0), seen::encode);

      assertEquals(200, client.get(gateway.proxyPort(), "localhost", "/api/hello").send().await().statusCode());
      HttpResponse<Buffer> over = client.get(gateway.proxyPort(), "localhost", "/api/hello").send().await();
      assertEquals(429, over.statusCode());
      assertEquals("application/problem+json", over.getHeader("content-type"));
    } finally {
      client.close();
    }
    JsonObject stats = stats(gateway);
    assertEquals(2, stats.getLong("forwarded"), stats::encode);
    assertEquals(1, stats.getLong("rejected"), stats::encode);
    assertEquals(0, stats.getLong("tlsHandshakeFailures"), stats::encode);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"TLSv1.3", "TLSv1.2"})
  @DisplayName("TLS 1.3 and TLS 1.2 are accepted, and ALPN names http/1.1 when the client offers h2 and http/1.1")
  void modernVersionsAndAlpn(String version) throws Exception {
    GatewayVerticle gateway = gateway(100, new JsonObject());
    try (SSLSocket socket = (SSLSocket) trustingContext().getSocketFactory()
        .createSocket("127.0.0.1", gateway.proxyPort())) {
      socket.setSoTimeout(READ_TIMEOUT_MILLIS);
      SSLParameters parameters = socket.getSSLParameters();
      parameters.setProtocols(new String[] {version});
      parameters.setApplicationProtocols(new String[] {"h2", "http/1.1"});
      socket.setSSLParameters(parameters);
      socket.startHandshake();

      assertEquals(version, socket.getSession().getProtocol());
      assertEquals("http/1.1", socket.getApplicationProtocol());
      socket.getOutputStream().write("GET /api/hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      String answer = new String(readUntilClosed(socket.getInputStream()), StandardCharsets.US_ASCII);
      assertTrue(answer.startsWith("HTTP/1.1 200 "), answer);
    }
  }

  @Test
  @DisplayName("a client offering TLS 1.1 alone gets a protocol_version alert and the connection closes")
  void tls11IsRefused() throws Exception {
    GatewayVerticle gateway = gateway(100, new JsonObject());
    // This JDK's client refuses to offer TLS 1.1 at all (jdk.tls.disabledAlgorithms) ...
    HttpClient old = vertx.createHttpClient(new HttpClientOptions().setSsl(true)
        .setTrustOptions(certificate.trustOptions()).setEnabledSecureTransportProtocols(Set.of("TLSv1.1")));
    assertThrows(Exception.class, () -> old.request(new RequestOptions().setHost("localhost")
        .setPort(gateway.proxyPort()).setURI("/api/hello")).await());
    old.close().await();

    // ... so the TLS 1.1 ClientHello is written by hand: the gateway must answer it with a fatal protocol_version
    // alert. The refused client's own connection is counted as it closes, which on a busy machine can be after its
    // request failed: wait for that count (up to 2 s) before taking the baseline.
    long failedBefore = stats(gateway).getLong("tlsHandshakeFailures");
    long deadline = System.currentTimeMillis() + 2_000;
    while (failedBefore == 0 && System.currentTimeMillis() < deadline) {
      Thread.sleep(50);
      failedBefore = stats(gateway).getLong("tlsHandshakeFailures");
    }
    try (Socket socket = rawSocket(gateway)) {
      socket.getOutputStream().write(tls11ClientHello());
      byte[] answer = readUntilClosed(socket.getInputStream());
      assertTrue(answer.length >= 7, () -> "an alert record, got " + answer.length + " bytes");
      assertEquals(21, answer[0], "record type alert");
      assertEquals(2, answer[5], "level fatal");
      assertEquals(70, answer[6], "protocol_version");
    }
    assertEquals(failedBefore + 1, stats(gateway).getLong("tlsHandshakeFailures"));
    assertNothingLogged();
  }

  @Test
  @DisplayName("plain HTTP to the TLS port gets no HTTP answer, the connection closes, and nothing is logged")
  void plainHttpIsClosed() throws Exception {
    GatewayVerticle gateway = gateway(100, new JsonObject());
    try (Socket socket = rawSocket(gateway)) {
      socket.getOutputStream().write("GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      String answer = new String(readUntilClosed(socket.getInputStream()), StandardCharsets.ISO_8859_1);
      assertFalse(answer.contains("HTTP/"), answer);
    }
    JsonObject stats = stats(gateway);
    assertEquals(1, stats.getLong("tlsHandshakeFailures"), stats::encode);
    assertEquals(0, stats.getLong("forwarded"), stats::encode);
    assertNothingLogged();
  }

  @Test
  @DisplayName("a client that starts a TLS handshake and never finishes it is closed after clientIdleTimeout")
  void halfOpenHandshakeIsClosedWhenIdle() throws Exception {
    GatewayVerticle gateway = gateway(100, new JsonObject().put("clientIdleTimeout", "400ms"));
    byte[] hello = tls11ClientHello();
    try (Socket socket = rawSocket(gateway)) {
      long start = System.nanoTime();
      socket.getOutputStream().write(hello, 0, 5); // a record header announcing a ClientHello that never comes
      byte[] answer = readUntilClosed(socket.getInputStream());
      long waited = (System.nanoTime() - start) / 1_000_000;

      assertEquals(0, answer.length);
      assertTrue(waited >= 350 && waited < 4_000, () -> "closed after " + waited + " ms");
    }
    JsonObject stats = stats(gateway);
    assertEquals(1, stats.getLong("idleConnectionsClosed"), stats::encode);
    assertEquals(1, stats.getLong("tlsHandshakeFailures"), "a handshake that never finished: " + stats.encode());
    assertNothingLogged();
  }

  @Test
  @DisplayName("the gateway's warm-up reaches the upstream through its own TLS port before it reports ready")
  void warmUpOverTls() {
    AtomicInteger warmups = new AtomicInteger();
    HttpServer upstream = vertx.createHttpServer()
        .requestHandler(request -> {
          if (request.path().equals("/health") && "https".equals(request.getHeader("X-Forwarded-Proto"))) {
            warmups.incrementAndGet();
          }
          request.response().end("ok");
        })
        .listen(0, "127.0.0.1").await();

    gateway(100, "http://127.0.0.1:" + upstream.actualPort(), new JsonObject());

    assertEquals(3, warmups.get(), "every warm-up request, over TLS, before the deployment completed");
  }

  private SSLContext trustingContext() throws Exception {
    KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
    store.load(null, null);
    try (InputStream in = Files.newInputStream(Path.of(certificate.certificatePath()))) {
      store.setCertificateEntry("gateway", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    trust.init(store);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, trust.getTrustManagers(), null);
    return context;
  }

  private static Socket rawSocket(GatewayVerticle gateway) throws IOException {
    Socket socket = new Socket();
    socket.connect(new InetSocketAddress("127.0.0.1", gateway.proxyPort()), READ_TIMEOUT_MILLIS);
    socket.setSoTimeout(READ_TIMEOUT_MILLIS);
    return socket;
  }

  /** Everything the gateway sends until it closes; fails if it is still open after {@link #READ_TIMEOUT_MILLIS}. */
  private static byte[] readUntilClosed(InputStream in) throws IOException {
    ByteArrayOutputStream received = new ByteArrayOutputStream();
    byte[] buffer = new byte[8192];
    try {
      for (int n; (n = in.read(buffer)) >= 0; ) {
        received.write(buffer, 0, n);
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("still open after " + READ_TIMEOUT_MILLIS + " ms, having sent "
          + received.size() + " bytes");
    }
    return received.toByteArray();
  }

  /**
   * A ClientHello as a TLS 1.1 client sends it: version 1.1 at most and no supported_versions extension, offering the
   * usual CBC suites of its time.
   */
  private static byte[] tls11ClientHello() {
    ByteArrayOutputStream hello = new ByteArrayOutputStream();
    hello.write(3);
    hello.write(2); // client_version: TLS 1.1
    hello.writeBytes(new byte[32]); // random
    hello.write(0); // no session id
    byte[] suites = {(byte) 0xC0, 0x13, (byte) 0xC0, 0x14, 0x00, 0x2F, 0x00, 0x35};
    hello.write(0);
    hello.write(suites.length);
    hello.writeBytes(suites);
    hello.write(1);
    hello.write(0); // compression: none
    byte[] body = hello.toByteArray();

    ByteArrayOutputStream record = new ByteArrayOutputStream();
    record.write(22); // handshake
    record.write(3);
    record.write(1); // record version TLS 1.0, as clients write it
    int length = body.length + 4;
    record.write(length >> 8);
    record.write(length & 0xFF);
    record.write(1); // client_hello
    record.write(0);
    record.write(body.length >> 8);
    record.write(body.length & 0xFF);
    record.writeBytes(body);
    return record.toByteArray();
  }

  private void assertNothingLogged() {
    List<String> lines = logged.lines(event -> event.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.WARN)
        || event.getThrowableProxy() != null);
    assertTrue(lines.isEmpty(), () -> "logged: " + lines);
  }

}
