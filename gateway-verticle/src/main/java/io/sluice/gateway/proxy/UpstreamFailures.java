package io.sluice.gateway.proxy;

/** Why an upstream failed, in words a user understands (placeholder until the full mapping lands). */
final class UpstreamFailures {

  private UpstreamFailures() {
  }

  static String describe(String upstream, Throwable cause) {
    return "upstream " + upstream + " failed: " + cause.getMessage();
  }
}
