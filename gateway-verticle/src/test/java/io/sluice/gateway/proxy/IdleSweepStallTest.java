package io.sluice.gateway.proxy;

import io.sluice.api.ApiVerticle;
import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The idle sweep after the event loop stalled (a long GC pause, a blocked handler): a connection
 * accepted when the loop resumes must still get its whole clientIdleTimeout. Sweeps counted at a fixed rate ran the
 * missed ones back to back after the stall and closed it at once (seen under load in TlsListenerTest: closed after
 * 159 ms of a 400 ms timeout).
 */
@DisplayName("Idle connections after an event-loop stall")
class IdleSweepStallTest {

  private static final long IDLE_TIMEOUT_MILLIS = 1_000;
  /** Long enough for several missed sweeps (a sweep every 250 ms at this timeout). */
  private static final long STALL_MILLIS = 2_000;

  private Vertx vertx;

  @AfterEach
  void stop() {
    vertx.close().await();
  }

  @ParameterizedTest(name = "{0} engine")
  @ValueSource(strings = {"netty", "vertx"})
  @DisplayName("a connection made during a 2 s stall is closed no sooner than 1 s (its idle timeout) after the stall")
  void noEarlyCloseAfterStall(String engine) throws Exception {
    // one event loop: the stall below holds the proxy's loop
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    ApiVerticle api = new ApiVerticle();
    vertx.deployVerticle(api, new DeploymentOptions()
        .setConfig(new JsonObject().put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0)))).await();
    GatewayVerticle gateway = new GatewayVerticle();
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + api.actualPort()))
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("clientIdleTimeout", IDLE_TIMEOUT_MILLIS + "ms")
        .put("proxy", new JsonObject().put("engine", engine))
        .put("policies", new JsonArray()))).await();
    // let a few sweeps run, so the counter is under way
    Thread.sleep(600);

    CountDownLatch stalled = new CountDownLatch(1);
    long[] resumedAt = new long[1];
    vertx.getOrCreateContext().runOnContext(v -> {
      stalled.countDown();
      try {
        Thread.sleep(STALL_MILLIS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      resumedAt[0] = System.nanoTime();
    });
    assertTrue(stalled.await(5, TimeUnit.SECONDS));
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", gateway.proxyPort()), 5_000);
      socket.setSoTimeout(10_000);
      InputStream in = socket.getInputStream();
      while (in.read() >= 0) {
        // nothing is sent: read until the gateway closes
      }
      long afterStall = (System.nanoTime() - resumedAt[0]) / 1_000_000;
      assertTrue(afterStall >= IDLE_TIMEOUT_MILLIS - 50,
          () -> "closed " + afterStall + " ms after the stall ended, before its idle timeout of " + IDLE_TIMEOUT_MILLIS);
    }
  }
}
