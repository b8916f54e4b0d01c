package io.sluice.gateway.proxy.vertx;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.testing.TestApi;
import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SelfSignedCertificate;
import io.vertx.ext.web.client.WebClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HTTP/2 to the vertx engine, in front of the real API verticle (which speaks HTTP/1.1 upstream): h2c with prior
 * knowledge and by upgrade ({@code proxy.h2c: true}), and h2 chosen by ALPN over TLS ({@code http.tls}).
 */
@DisplayName("HTTP/2 on the vertx engine")
class Http2EngineTest {

  private Vertx vertx;
  private int apiPort;
  private SelfSignedCertificate certificate;
  private final List<HttpClient> clients = new ArrayList<>();

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    ApiVerticle api = TestApi.deploy(vertx);
    apiPort = api.actualPort();
    certificate = SelfSignedCertificate.create("localhost");
  }

  @AfterEach
  void stop() {
    clients.forEach(HttpClient::close);
    vertx.close().await();
    certificate.delete();
  }

  private GatewayVerticle gateway(JsonObject http, boolean h2c) {
    return gateway(http, h2c, apiPort);
  }

  private GatewayVerticle gateway(JsonObject http, boolean h2c, int upstreamPort) {
    return gateway(http, h2c, upstreamPort, new JsonArray().add(new JsonObject().put("name", "per-token")
        .put("key", "header:X-Api-Key").put("requests", 3).put("window", "10s").put("onMissingKey", "skip")));
  }

  private GatewayVerticle gateway(JsonObject http, boolean h2c, int upstreamPort, JsonArray policies) {
    JsonObject config = new JsonObject()
        .put("http", http.put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + upstreamPort))
        .put("upstreamTimeout", "5s")
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 3))
        .put("proxy", new JsonObject().put("engine", "vertx").put("h2c", h2c))
        .put("policies", policies);
    GatewayVerticle gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    return gateway;
  }

  private HttpClient client(HttpClientOptions options) {
    // one connection at most: every stream of a test shares it
    HttpClient client = vertx.createHttpClient(options.setDefaultHost("127.0.0.1"),
        new PoolOptions().setHttp2MaxSize(1).setHttp1MaxSize(1));
    clients.add(client);
    return client;
  }

  private static HttpClientOptions priorKnowledge() {
    return new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false);
  }

  private record Answer(int status, HttpVersion version, HttpConnection connection, String rateLimit, Buffer body) {
  }

  private static Future<Answer> send(HttpClient client, int port, HttpMethod method, String path, String apiKey,
                                     Buffer body) {
    RequestOptions options = new RequestOptions().setPort(port).setMethod(method).setURI(path);
    if (apiKey != null) {
      options.putHeader("X-Api-Key", apiKey);
    }
    return client.request(options)
        .compose(request -> body == null ? request.send() : request.send(body))
        .compose(response -> response.body().map(read -> answer(response, read)));
  }

  private static Answer answer(HttpClientResponse response, Buffer body) {
    return new Answer(response.statusCode(), response.version(), response.request().connection(),
        response.getHeader("RateLimit"), body);
  }

  private JsonObject stats(GatewayVerticle gateway) {
    WebClient web = WebClient.create(vertx);
    try {
      return web.get(gateway.managementPort(), "127.0.0.1", "/stats").send().await().bodyAsJsonObject();
    } finally {
      web.close();
    }
  }

  @Test
  @DisplayName("streams multiplexed on one h2c connection are each counted by the limiter; the 429s end only their "
      + "own streams and the others, and later ones, are answered")
  void multiplexedStreamsEachCounted() {
    GatewayVerticle gateway = gateway(new JsonObject(), true);
    HttpClient client = client(priorKnowledge());
    List<Future<Answer>> sent = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      sent.add(send(client, gateway.proxyPort(), HttpMethod.GET, "/api/hello", "a", null));
    }
    for (int i = 0; i < 2; i++) {
      sent.add(send(client, gateway.proxyPort(), HttpMethod.GET, "/api/hello", "b", null));
    }
    Future.all(sent).await();
    Set<HttpConnection> connections = new HashSet<>();
    int admittedA = 0;
    int refusedA = 0;
    for (int i = 0; i < sent.size(); i++) {
      Answer answer = sent.get(i).result();
      connections.add(answer.connection());
      assertEquals(HttpVersion.HTTP_2, answer.version());
      assertNotNull(answer.rateLimit(), "every stream carries the RateLimit field");
      if (i < 6) {
        if (answer.status() == 200) {
          admittedA++;
        } else {
          refusedA++;
          assertEquals(429, answer.status());
          JsonObject problem = answer.body().toJsonObject();
          assertEquals("per-token", problem.getString("policy"));
        }
      } else {
        assertEquals(200, answer.status(), "another key's streams are not touched by key a's 429s");
      }
    }
    assertEquals(1, connections.size(), "all streams on one connection");
    assertEquals(3, admittedA);
    assertEquals(3, refusedA);
    Answer later = send(client, gateway.proxyPort(), HttpMethod.GET, "/api/hello", "c", null).await();
    assertEquals(200, later.status());
    assertTrue(connections.contains(later.connection()), "the connection outlives the refused streams");
    JsonObject stats = stats(gateway);
    assertEquals(3L + 2 + 1, stats.getLong("forwarded"), stats::encode);
    assertEquals(3L, stats.getLong("rejected"), stats::encode);
  }

  @Test
  @DisplayName("request bodies go up over HTTP/2, with a Content-Length or without one")
  void bodiesOverHttp2() {
    GatewayVerticle gateway = gateway(new JsonObject(), true);
    HttpClient client = client(priorKnowledge());
    Buffer payload = Buffer.buffer("x".repeat(100_000));
    Answer sized = send(client, gateway.proxyPort(), HttpMethod.POST, "/api/echo", null, payload).await();
    assertEquals(200, sized.status());
    assertEquals(payload, sized.body());
    // a streamed body: chunked on the client's side, so no Content-Length on the stream
    RequestOptions options = new RequestOptions().setPort(gateway.proxyPort()).setMethod(HttpMethod.POST)
        .setURI("/api/echo");
    Answer streamed = client.request(options).compose(request -> {
      request.setChunked(true);
      request.write("part one, ");
      return request.end("part two").compose(v -> request.response())
          .compose(response -> response.body().map(read -> answer(response, read)));
    }).await();
    assertEquals(HttpVersion.HTTP_2, streamed.version());
    assertEquals(200, streamed.status());
    assertEquals("part one, part two", streamed.body().toString());
  }

  @Test
  @DisplayName("an upstream that refuses connections: every stream gets a 502 problem, the connection stays")
  void upstreamDownOverHttp2() {
    io.vertx.core.net.NetServer closed = vertx.createNetServer().connectHandler(socket -> socket.close())
        .listen(0, "127.0.0.1").await();
    int port = closed.actualPort();
    closed.close().await();
    GatewayVerticle gateway = gateway(new JsonObject(), true, port);
    HttpClient client = client(priorKnowledge());
    List<Future<Answer>> sent = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      sent.add(send(client, gateway.proxyPort(), HttpMethod.GET, "/api/hello", null, null));
    }
    Future.all(sent).await();
    for (Future<Answer> answer : sent) {
      assertEquals(502, answer.result().status());
      assertEquals("upstream-unavailable", answer.result().body().toJsonObject().getString("type")
          .replace("urn:sluice:problem:", ""));
      assertEquals(sent.get(0).result().connection(), answer.result().connection());
    }
  }

  @Test
  @DisplayName("h2c by upgrade: the first request upgrades the connection and is answered over HTTP/2")
  void h2cUpgrade() {
    GatewayVerticle gateway = gateway(new JsonObject(), true);
    HttpClient client = client(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(true));
    Answer first = send(client, gateway.proxyPort(), HttpMethod.GET, "/api/hello", "a", null).await();
    assertEquals(200, first.status());
    assertEquals(HttpVersion.HTTP_2, first.version());
    assertNotNull(first.rateLimit());
    Answer second = send(client, gateway.proxyPort(), HttpMethod.GET, "/api/hello", "a", null).await();
    assertEquals(HttpVersion.HTTP_2, second.version());
    assertEquals(first.connection(), second.connection());
  }

  @Test
  @DisplayName("over TLS, ALPN chooses h2 for a client that offers it and http/1.1 for one that does not; "
      + "the upstream is told https")
  void alpnH2OverTls() {
    JsonObject tls = new JsonObject().put("tls", new JsonObject().put("cert", certificate.certificatePath())
        .put("key", certificate.privateKeyPath()));
    GatewayVerticle gateway = gateway(tls, false);
    HttpClient h2 = client(new HttpClientOptions().setSsl(true).setUseAlpn(true).setTrustAll(true)
        .setVerifyHost(false).setProtocolVersion(HttpVersion.HTTP_2));
    Answer answer = send(h2, gateway.proxyPort(), HttpMethod.GET, "/api/headers", "a", null).await();
    assertEquals(200, answer.status());
    assertEquals(HttpVersion.HTTP_2, answer.version());
    JsonObject seen = answer.body().toJsonObject();
    assertEquals("https", seen.getJsonArray("x-forwarded-proto").getString(0));
    assertEquals("2 sluice", seen.getJsonArray("via").getString(0), "the hop received over HTTP/2");
    assertEquals(null, seen.getJsonArray("content-length"), "a GET without a body goes up without a length: " + seen);
    assertEquals(null, seen.getJsonArray("transfer-encoding"), seen::encode);
    assertEquals("a", seen.getJsonArray("x-api-key").getString(0));

    HttpClient http11 = client(new HttpClientOptions().setSsl(true).setUseAlpn(true).setTrustAll(true)
        .setVerifyHost(false).setProtocolVersion(HttpVersion.HTTP_1_1));
    Answer older = send(http11, gateway.proxyPort(), HttpMethod.GET, "/api/hello", "b", null).await();
    assertEquals(200, older.status());
    assertEquals(HttpVersion.HTTP_1_1, older.version());
  }

  @Test
  @DisplayName("without proxy.h2c, a clear-text HTTP/2 preface gets 505 with a problem body, and the connection closes")
  void h2cOffRefusesPreface() throws Exception {
    GatewayVerticle gateway = gateway(new JsonObject(), false);
    String answer = PrefaceProbe.send(gateway.proxyPort());
    assertTrue(answer.startsWith("HTTP/1.1 505 "), answer);
    assertTrue(answer.contains("application/problem+json"), answer);
  }

  @Test
  @DisplayName("over HTTP/2 a host policy matches the :authority (without port, in any case), as Host over HTTP/1.1")
  void hostPolicyMatchesAuthority() {
    JsonArray policies = new JsonArray().add(new JsonObject().put("name", "api-host").put("key", "global")
        .put("requests", 1).put("window", "10s")
        .put("match", new JsonObject().put("hosts", new JsonArray().add("api.example.com"))));
    GatewayVerticle gateway = gateway(new JsonObject(), true, apiPort, policies);
    HttpClient client = client(priorKnowledge());
    Answer first = sendAs(client, gateway.proxyPort(), "api.example.com").await();
    assertEquals(HttpVersion.HTTP_2, first.version());
    assertEquals(200, first.status());
    assertEquals(429, sendAs(client, gateway.proxyPort(), "API.Example.com").await().status());
    assertEquals(200, sendAs(client, gateway.proxyPort(), "other.example.com").await().status());
  }

  /** GET /api/hello to the gateway at 127.0.0.1, with {@code host}:8443 as :authority. */
  private static Future<Answer> sendAs(HttpClient client, int port, String host) {
    RequestOptions options = new RequestOptions()
        .setServer(io.vertx.core.net.SocketAddress.inetSocketAddress(port, "127.0.0.1"))
        .setHost(host).setPort(8443).setURI("/api/hello");
    return client.request(options)
        .compose(request -> request.send())
        .compose(response -> response.body().map(read -> answer(response, read)));
  }
}
