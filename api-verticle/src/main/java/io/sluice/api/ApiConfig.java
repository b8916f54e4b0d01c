package io.sluice.api;

import io.vertx.core.json.JsonObject;

import java.util.Map;
import java.util.Set;

/**
 * The API verticle's settings, read once from the deployment config and the environment.
 * Defaults live here; anything unexpected is rejected with a one-line message naming the key.
 */
public record ApiConfig(String host, int port, int warmupRequests) {

  public static final String DEFAULT_HOST = "0.0.0.0";
  public static final int DEFAULT_PORT = 8000;
  public static final String PORT_ENV = "SLUICE_API_PORT";

  private static final Set<String> TOP_LEVEL_KEYS = Set.of("http", "warmupRequests");
  private static final Set<String> HTTP_KEYS = Set.of("host", "port");

  /**
   * @throws IllegalArgumentException naming the offending key when the config is not usable
   */
  public static ApiConfig from(JsonObject config, Map<String, String> env) {
    JsonObject root = config == null ? new JsonObject() : config;
    rejectUnknownKeys(root, TOP_LEVEL_KEYS, "");
    JsonObject http = httpSection(root);
    rejectUnknownKeys(http, HTTP_KEYS, "http.");

    String host = host(http.getValue("host"));
    int port = portFromConfig(http.getValue("port"));
    String envPort = env.get(PORT_ENV);
    if (envPort != null && !envPort.isBlank()) {
      port = portFromEnv(envPort.trim());
    }
    return new ApiConfig(host, port, warmup(root.getValue("warmupRequests", 0)));
  }

  private static int warmup(Object value) {
    if ((value instanceof Integer || value instanceof Long) && ((Number) value).longValue() >= 0
        && ((Number) value).longValue() <= 100_000) {
      return ((Number) value).intValue();
    }
    throw invalid("key 'warmupRequests' must be an integer 0..100000, got " + describe(value));
  }

  private static JsonObject httpSection(JsonObject root) {
    Object http = root.getValue("http");
    if (http == null) {
      return new JsonObject();
    }
    if (!(http instanceof JsonObject section)) {
      throw invalid("key 'http' must be an object, got " + describe(http));
    }
    return section;
  }

  private static void rejectUnknownKeys(JsonObject object, Set<String> allowed, String prefix) {
    for (String key : object.fieldNames()) {
      if (!allowed.contains(key)) {
        throw invalid("unknown key '" + prefix + key + "' (allowed: " + String.join(", ", allowed.stream().sorted().toList()) + ")");
      }
    }
  }

  private static String host(Object value) {
    if (value == null) {
      return DEFAULT_HOST;
    }
    if (value instanceof String host && !host.isBlank()) {
      return host;
    }
    throw invalid("key 'http.host' must be a non-empty string, got " + describe(value));
  }

  private static int portFromConfig(Object value) {
    if (value == null) {
      return DEFAULT_PORT;
    }
    if (value instanceof Integer || value instanceof Long) {
      long port = ((Number) value).longValue();
      if (port >= 0 && port <= 65535) {
        return (int) port;
      }
    }
    throw invalid("key 'http.port' must be an integer 0..65535, got " + describe(value));
  }

  private static int portFromEnv(String value) {
    try {
      int port = Integer.parseInt(value);
      if (port >= 0 && port <= 65535) {
        return port;
      }
    } catch (NumberFormatException ignored) {
      // reported below with the offending value
    }
    throw invalid("env " + PORT_ENV + " must be an integer 0..65535, got \"" + value + "\"");
  }

  private static String describe(Object value) {
    return value instanceof String ? "\"" + value + "\"" : String.valueOf(value);
  }

  private static IllegalArgumentException invalid(String message) {
    return new IllegalArgumentException("api config: " + message);
  }
}
