package io.sluice.gateway.limit;

import java.util.HashMap;
import java.util.Map;

/** Requests as the limiter sees them, for the limiter's unit tests: a client at 127.0.0.9, headers by any case. */
final class TestRequests {

  private TestRequests() {
  }

  /** {@code GET /api/hello} to 127.0.0.1:8080 with {@code headers} (name, value, name, value...; a null value: absent). */
  static RequestInfo get(String... headers) {
    return of("GET", "/api/hello", "127.0.0.1:8080", headers);
  }

  static RequestInfo of(String method, String target, String host, String... headers) {
    Map<String, String> byName = new HashMap<>();
    for (int i = 0; i + 1 < headers.length; i += 2) {
      if (headers[i + 1] != null) {
        byName.put(headers[i].toLowerCase(), headers[i + 1]);
      }
    }
    return new RequestInfo() {
      public String header(String name) {
        return byName.get(name.toLowerCase());
      }

      public String clientIp() {
        return "127.0.0.9";
      }

      public String method() {
        return method;
      }

      public String target() {
        return target;
      }

      public String host() {
        return host;
      }
    };
  }
}
