package io.sluice.api;

import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@DisplayName("The API configuration")
class ApiConfigTest {

  @Test
  @DisplayName("defaults to port 8000 on all interfaces when nothing is given")
  void defaults() {
    assertEquals(new ApiConfig("0.0.0.0", 8000, 0), ApiConfig.from(new JsonObject(), Map.of()));
    assertEquals(new ApiConfig("0.0.0.0", 8000, 0), ApiConfig.from(null, Map.of()));
  }

  @Test
  @DisplayName("reads http.port and http.host")
  void readsHttpSection() {
    JsonObject config = new JsonObject("{\"http\":{\"port\":8123,\"host\":\"127.0.0.1\"}}");
    assertEquals(new ApiConfig("127.0.0.1", 8123, 0), ApiConfig.from(config, Map.of()));
  }

  @Test
  @DisplayName("lets SLUICE_API_PORT override the configured port")
  void environmentOverridesPort() {
    JsonObject config = new JsonObject("{\"http\":{\"port\":8123}}");
    assertEquals(9001, ApiConfig.from(config, Map.of("SLUICE_API_PORT", "9001")).port());
  }

  @Test
  @DisplayName("ignores a blank SLUICE_API_PORT")
  void blankEnvironmentIgnored() {
    assertEquals(8000, ApiConfig.from(new JsonObject(), Map.of("SLUICE_API_PORT", " ")).port());
  }

  @Test
  @DisplayName("rejects a port that is not an integer, naming the key and the value")
  void rejectsStringPort() {
    assertRejected("{\"http\":{\"port\":\"abc\"}}", Map.of(),
      "api config: key 'http.port' must be an integer 0..65535, got \"abc\"");
  }

  @Test
  @DisplayName("rejects fractional and out-of-range ports")
  void rejectsOutOfRangePorts() {
    assertRejected("{\"http\":{\"port\":80.5}}", Map.of(), "api config: key 'http.port' must be an integer 0..65535, got 80.5");
    assertRejected("{\"http\":{\"port\":65536}}", Map.of(), "api config: key 'http.port' must be an integer 0..65535, got 65536");
    assertRejected("{\"http\":{\"port\":-1}}", Map.of(), "api config: key 'http.port' must be an integer 0..65535, got -1");
  }

  @Test
  @DisplayName("rejects a bad SLUICE_API_PORT, naming the variable")
  void rejectsBadEnvironmentPort() {
    assertRejected("{}", Map.of("SLUICE_API_PORT", "eighty"),
      "api config: env SLUICE_API_PORT must be an integer 0..65535, got \"eighty\"");
    assertRejected("{}", Map.of("SLUICE_API_PORT", "70000"),
      "api config: env SLUICE_API_PORT must be an integer 0..65535, got \"70000\"");
  }

  @Test
  @DisplayName("rejects unknown keys at the top level and in the http section")
  void rejectsUnknownKeys() {
    assertRejected("{\"port\":8000}", Map.of(), "api config: unknown key 'port' (allowed: http, warmupRequests)");
    assertRejected("{\"http\":{\"prot\":8000}}", Map.of(), "api config: unknown key 'http.prot' (allowed: host, port)");
  }

  @Test
  @DisplayName("rejects an http section that is not an object and a blank host")
  void rejectsWrongShapes() {
    assertRejected("{\"http\":8000}", Map.of(), "api config: key 'http' must be an object, got 8000");
    assertRejected("{\"http\":{\"host\":\"\"}}", Map.of(), "api config: key 'http.host' must be a non-empty string, got \"\"");
  }

  private static void assertRejected(String json, Map<String, String> env, String message) {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
      () -> ApiConfig.from(new JsonObject(json), env));
    assertEquals(message, error.getMessage());
  }
}
