package io.sluice.gateway.proxy;

import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

@DisplayName("Access log lines")
class AccessLogTest {

  /** 2026-12-02T01:59:23.456Z. */
  private static final long NOW = 1_796_176_763_456L;

  @Test
  @DisplayName("common: the Common Log Format, time in UTC, '-' for an unknown length")
  void common() {
    assertEquals("10.0.0.7 - - [02/Dec/2026:01:59:23 +0000] \"GET /api/hello?x=1 HTTP/1.1\" 200 12",
        AccessLog.common("10.0.0.7", "GET", "/api/hello?x=1", "HTTP/1.1", 200, 12, NOW));
    assertEquals("::1 - - [02/Dec/2026:01:59:23 +0000] \"POST /up HTTP/2.0\" 502 -",
        AccessLog.common("::1", "POST", "/up", "HTTP/2.0", 502, -1, NOW));
  }

  @Test
  @DisplayName("common: quotes, backslashes, spaces and control or non-ASCII characters in a target are escaped, so "
      + "a line stays one line with the format's own quotes")
  void hostileTarget() {
    assertEquals("1.2.3.4 - - [02/Dec/2026:01:59:23 +0000] \"GET /a\\x22b\\x5cc\\x20d\\x0a\\x0de\\xe9\\u20ac HTTP/1.1\" 400 5",
        AccessLog.common("1.2.3.4", "GET", "/a\"b\\c d\n\re\u00e9\u20ac", "HTTP/1.1", 400, 5, NOW));
  }

  @Test
  @DisplayName("json: one object with time, client, method, target, protocol, status, bytes and durationMs")
  void json() {
    JsonObject line = new JsonObject(AccessLog.json("10.0.0.7", "GET", "/a\"b\n", "HTTP/1.1", 429, 77, NOW, 1.23456));
    assertEquals(new JsonObject().put("time", "2026-12-02T01:59:23.456Z").put("client", "10.0.0.7")
        .put("method", "GET").put("target", "/a\"b\n").put("protocol", "HTTP/1.1").put("status", 429)
        .put("bytes", 77).put("durationMs", 1.235), line);
    assertEquals(false, new JsonObject(AccessLog.json("h", "GET", "/", "HTTP/1.1", 502, -1, NOW, 0)).containsKey("bytes"));
  }
}
