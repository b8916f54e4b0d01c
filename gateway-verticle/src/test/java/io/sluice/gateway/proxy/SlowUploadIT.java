package io.sluice.gateway.proxy;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.proxy.BodyTraffic.Answer;
import io.sluice.gateway.proxy.BodyTraffic.Pacing;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClient;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client on a slow link: an upload that takes half a minute, far longer than the gateway's default upstream
 * timeout (5 s) and than any single pause of a healthy sender. Runs in the failsafe phase of {@code mvn verify}
 * (30 s is too long for the quick unit-test loop, which {@code -DskipITs} keeps quick).
 */
@Tag("slow")
@DisplayName("A slow upload through the gateway with default timeouts")
class SlowUploadIT {

  private static final long BYTES_PER_SECOND = 100_000;
  private static final Duration UPLOAD_TIME = Duration.ofSeconds(30);
  private static final Duration LIMIT = UPLOAD_TIME.plusSeconds(30);

  private Vertx vertx;
  private GatewayVerticle gateway;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    ApiVerticle api = new ApiVerticle(Map.of(), Clock.systemUTC());
    vertx.deployVerticle(api, new DeploymentOptions().setConfig(new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0)))).await();
    gateway = BodyMatrixTest.deployGateway(vertx, api.actualPort());
  }

  @AfterEach
  void stop() {
    BodyTraffic.await(vertx.close(), Duration.ofSeconds(15), "closing Vert.x");
  }

  @Test
  @DisplayName("a client uploading at 100 kB/s for 30 s gets its 200, and the upstream got every byte")
  void uploadAtOneHundredKilobytesPerSecond() {
    long size = BYTES_PER_SECOND * UPLOAD_TIME.toSeconds();
    HttpClient http = vertx.createHttpClient();
    long started = System.nanoTime();
    Answer answer = BodyTraffic.await(BodyTraffic.upload(vertx, http, gateway.proxyPort(), "/api/sink", size, false,
        Pacing.rate(BYTES_PER_SECOND, Duration.ofMillis(100))), LIMIT, "a 30 s upload");
    long tookMs = (System.nanoTime() - started) / 1_000_000;

    assertEquals(200, answer.status(), () -> "after " + tookMs + " ms and " + answer.bytesSent() + " bytes sent: "
        + answer.body());
    JsonObject sunk = answer.body().toJsonObject();
    assertEquals(size, sunk.getLong("bytes"), sunk::encode);
    assertEquals(BodyTraffic.patternCrc(size), sunk.getString("crc32"), sunk::encode);
    assertTrue(tookMs >= UPLOAD_TIME.toMillis() - 1_000, "the upload was not slow: " + tookMs + " ms");
  }
}
