package io.sluice.gateway.limit;

import java.util.Locale;

/** Where a policy finds the identity it counts: one key for all, a header, a bearer token, or the client address. */
public sealed interface KeySource {

  /** The raw identity of this request, or {@code null} when the request carries none. */
  String extract(RequestInfo request);

  /** How this source is written in a policy ({@code global}, {@code bearer}, {@code ip}, {@code header:NAME}). */
  String spec();

  static KeySource parse(String spec) {
    String lower = spec.toLowerCase(Locale.ROOT);
    if (lower.equals("global")) {
      return new Global();
    }
    if (lower.equals("bearer")) {
      return new Bearer();
    }
    if (lower.equals("ip")) {
      return new ClientIp();
    }
    if (lower.startsWith("header:") && spec.length() > "header:".length()) {
      return new Header(spec.substring("header:".length()).trim());
    }
    throw new IllegalArgumentException("expected global, bearer, ip or header:NAME, got \"" + spec + "\"");
  }

  record Global() implements KeySource {
    public String extract(RequestInfo request) {
      return "*";
    }

    public String spec() {
      return "global";
    }
  }

  record Header(String name) implements KeySource {
    public String extract(RequestInfo request) {
      String value = request.header(name);
      return value == null || value.isBlank() ? null : value.trim();
    }

    /** With the name as configured: it is also how 401 answers name the header. */
    public String spec() {
      return "header:" + name;
    }
  }

  record Bearer() implements KeySource {
    public String extract(RequestInfo request) {
      String value = request.header("Authorization");
      if (value == null || value.length() <= 7 || !value.regionMatches(true, 0, "Bearer ", 0, 7)) {
        return null;
      }
      String token = value.substring(7).trim();
      return token.isEmpty() ? null : token;
    }

    public String spec() {
      return "bearer";
    }
  }

  record ClientIp() implements KeySource {
    public String extract(RequestInfo request) {
      return request.clientIp();
    }

    public String spec() {
      return "ip";
    }
  }
}
