package io.sluice.gateway.metrics;

import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.InMemoryCounterStore;
import io.sluice.gateway.limit.KeySource;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.RequestInfo;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.proxy.GatewayStats;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Sluice's metrics")
class GatewayMetricsTest {

  private final InMemoryCounterStore store = new InMemoryCounterStore(Clock.systemUTC(), 100);
  private final Policy global = new Policy("global", new KeySource.Global(), new WindowSpec(1, 10_000),
      Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.REJECT);
  private final RateLimiter limiter = new RateLimiter(List.of(global), store, Clock.systemUTC());

  @Test
  @DisplayName("every counter of GatewayStats appears under its field's name, so one added there needs no wiring")
  void everyStatsCounterIsExposed() {
    GatewayMetrics metrics = new GatewayMetrics();
    metrics.watch(new GatewayStats(store, limiter, metrics), limiter, store);
    String text = metrics.scrape();
    int fields = 0;
    for (Field field : GatewayStats.class.getDeclaredFields()) {
      if (Modifier.isStatic(field.getModifiers())) {
        continue;
      }
      String name = "sluice_" + GatewayMetrics.dotted(field.getName()).replace('.', '_');
      if (field.getType() == LongAdder.class) {
        assertTrue(text.contains("\n" + name + "_total 0.0\n"), name + "_total in:\n" + text);
        fields++;
      } else if (field.getType() == AtomicInteger.class) {
        assertTrue(text.contains("\n" + name + " 0.0\n"), name + " in:\n" + text);
        fields++;
      }
    }
    assertTrue(fields >= 10, "counters found: " + fields);
  }

  @Test
  @DisplayName("decisions are counted per policy and outcome, read at scrape time")
  void decisionsPerPolicy() {
    GatewayMetrics metrics = new GatewayMetrics();
    GatewayStats stats = new GatewayStats(store, limiter, metrics);
    metrics.watch(stats, limiter, store);
    RequestInfo request = new RequestInfo() {
      public String header(String name) {
        return null;
      }

      public String clientIp() {
        return "127.0.0.1";
      }

      public String method() {
        return "GET";
      }

      public String target() {
        return "/api/hello";
      }

      public String host() {
        return "127.0.0.1";
      }
    };
    Decision admitted = limiter.decide(request).await();
    stats.countForwarded(admitted);
    assertEquals(false, stats.countHeld(admitted, 5), "no delaying policy held it");
    String text = metrics.scrape();
    assertTrue(text.contains("sluice_decisions_total{outcome=\"forwarded\",policy=\"global\"} 1.0"), text);
    assertTrue(text.contains("sluice_decisions_total{outcome=\"delayed\",policy=\"global\"} 0.0"), text);
    assertTrue(text.contains("sluice_delay_seconds_count 0"), text);
  }

  @Test
  @DisplayName("field names become Prometheus words")
  void names() {
    assertEquals("missing.key", GatewayMetrics.dotted("missingKey"));
    assertEquals("tls.handshake.failures", GatewayMetrics.dotted("tlsHandshakeFailures"));
    assertEquals("forwarded", GatewayMetrics.dotted("forwarded"));
  }
}
