package io.sluice.gateway.proxy;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.testing.TestApi;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.proxy.vertx.PrefaceProbe;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The netty engine speaks HTTP/1.x only, and says so to HTTP/2 clients. */
@DisplayName("HTTP/2 to the netty engine")
class NettyEngineHttp2Test {

  private Vertx vertx;
  private GatewayVerticle gateway;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    ApiVerticle api = TestApi.deploy(vertx);
    JsonObject config = new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + api.actualPort()))
        .put("proxy", new JsonObject().put("engine", "netty"))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "global").put("key", "global")
            .put("requests", 100).put("window", "10s")));
    gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
  }

  @AfterEach
  void stop() {
    vertx.close().await();
  }

  @Test
  @DisplayName("the HTTP/2 connection preface is refused with 505 and a problem body, then the connection closes")
  void prefaceRefused() throws Exception {
    String answer = PrefaceProbe.send(gateway.proxyPort());
    assertTrue(answer.startsWith("HTTP/1.1 505 "), answer);
    assertTrue(answer.contains("application/problem+json"), answer);
    assertTrue(answer.contains("http-version-not-supported"), answer);
  }

  @Test
  @DisplayName("an h2c upgrade is ignored: the request is answered over HTTP/1.1")
  void h2cUpgradeIgnored() {
    HttpClient client = vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(true));
    HttpClientResponse response = client.request(new RequestOptions().setHost("127.0.0.1")
            .setPort(gateway.proxyPort()).setMethod(HttpMethod.GET).setURI("/api/hello"))
        .compose(request -> request.send()).await();
    assertEquals(200, response.statusCode());
    assertEquals(HttpVersion.HTTP_1_1, response.version());
    client.close().await();
  }
}
