package io.sluice.gateway.http;

import ch.qos.logback.classic.Level;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.List;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("The upstream probe")
class UpstreamProbeTest {

  private Vertx vertx;
  private LogCapture logged;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    logged = LogCapture.of(UpstreamProbe.class);
  }

  @AfterEach
  void stop() {
    logged.close();
    vertx.close().await();
  }

  private List<String> messages(Level level) {
    return logged.messages(level);
  }

  /** Polls every 20 ms, at most 5 s. */
  private void await(BooleanSupplier condition, String what) {
    for (int i = 0; i < 250 && !condition.getAsBoolean(); i++) {
      vertx.timer(20).await();
    }
    assertTrue(condition.getAsBoolean(), () -> "gave up waiting for " + what + "; logged " + messages(Level.INFO)
        + messages(Level.WARN));
  }

  @Test
  @DisplayName("reports UNKNOWN before its first check, warns once per unreachable upstream at startup, then logs "
      + "each change")
  void logsStartupAndChanges() {
    NetServer server = vertx.createNetServer().connectHandler(NetSocket::close).listen(0, "127.0.0.1").await();
    int port = server.actualPort();
    server.close().await();
    NetServer alive = vertx.createNetServer().connectHandler(NetSocket::close).listen(0, "127.0.0.1").await();
    URI down = URI.create("http://127.0.0.1:" + port);
    URI up = URI.create("http://127.0.0.1:" + alive.actualPort());
    UpstreamProbe probe = new UpstreamProbe(vertx, List.of(down, up), 5_000, 100);

    assertEquals("UNKNOWN", probe.summary());
    probe.checkAtStartup().await();

    assertEquals("DOWN", probe.summary());
    assertEquals("DOWN", probe.details().getString(down.toString()));
    assertEquals("UP", probe.details().getString(up.toString()));
    List<String> warnings = messages(Level.WARN);
    assertEquals(1, warnings.size(), warnings::toString);
    assertTrue(warnings.get(0).startsWith("upstream " + down + " is unreachable: connection refused by upstream "
        + "127.0.0.1:" + port), warnings.get(0));

    vertx.createNetServer().connectHandler(NetSocket::close).listen(port, "127.0.0.1").await();
    await(() -> probe.summary().equals("UP"), "the upstream to be seen again");
    await(() -> !messages(Level.INFO).isEmpty(), "the upstream's return to be logged");
    assertEquals(List.of("upstream " + down + " is reachable again"), messages(Level.INFO));

    alive.close().await();
    await(() -> probe.summary().equals("DOWN"), "the other upstream to be missed");
    // the probe logs on its event loop just after it changes the summary this thread reads
    await(() -> messages(Level.WARN).size() >= 2, "the second warning");
    assertEquals(2, messages(Level.WARN).size(), () -> messages(Level.WARN).toString());
    assertTrue(messages(Level.WARN).get(1).startsWith("upstream " + up + " became unreachable: "),
        () -> messages(Level.WARN).get(1));
    probe.stop().await();
  }
}
