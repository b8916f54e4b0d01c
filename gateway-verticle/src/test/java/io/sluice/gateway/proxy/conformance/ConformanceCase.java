package io.sluice.gateway.proxy.conformance;

import java.util.List;
import java.util.Map;

/**
 * One row of the case table: what the client sends (and when), how the recording upstream answers, and what both
 * ends must have seen. Built by {@link CaseParser}; the format is described in the table's README.
 */
record ConformanceCase(
    String name,
    String why,
    String source,
    List<ClientStep> steps,
    List<Reply> replies,
    boolean upstreamListens,
    Expectations expect) {

  /** What the client does, in order. */
  sealed interface ClientStep {
  }

  /** Writes these bytes (one write call). */
  record Send(String bytes) implements ClientStep {
  }

  /** Waits this long before the next step. */
  record Pause(long millis) implements ClientStep {
  }

  /**
   * Waits (at most {@code millis}) for a response not yet awaited that matches {@code what}: a status code, "interim"
   * (1xx), "final" (2xx-5xx) or "response" (any). Not finding one is not a failure by itself: the statuses checked
   * at the end show what came.
   */
  record Await(String what, long millis) implements ClientStep {
  }

  /** The upstream's answer to one request: actions run in order, once the head (or the whole request) arrived. */
  record Reply(boolean onHead, List<Action> actions) {
  }

  /** send BYTES, pause MS, close (FIN), reset (RST), hang (never answer), echo (then echo every byte received). */
  record Action(String verb, String bytes, long millis) {
  }

  /**
   * @param statuses      alternatives, each a list of positions, each position a set of acceptable codes;
   *                      an empty list means "no response at all"
   * @param closed        "yes", "no" or "any": whether the gateway closed the client connection at the end
   * @param problem       every response with status >= 400 carries Content-Type application/problem+json
   * @param headers       response number (1-based, counting interim ones) → "Name: value" fields it must carry
   * @param noHeaders     response number → names of fields it must not carry
   * @param bodies        response number → its exact (de-chunked) body
   * @param bodyContains  response number → text its body must contain (case-insensitive)
   * @param trailers      response number → "Name: value" trailer fields it must carry
   * @param incomplete    response numbers that must be cut short (not complete); all others must be complete
   * @param tunnel        bytes the client must receive after a 101, or null
   * @param upstream      "nothing", "any", "incomplete", or "exact" (then {@code upstreamBytes})
   * @param upstreamBytes what the upstream must receive, all its connections in order, when {@code upstream} is exact
   * @param upstreamConnections how many connections the upstream must have accepted, or -1
   * @param upstreamClosed "yes", "no" or "any": whether the gateway closed its upstream connections by the end
   */
  record Expectations(
      List<List<List<Integer>>> statuses,
      String closed,
      boolean problem,
      Map<Integer, List<String>> headers,
      Map<Integer, List<String>> noHeaders,
      Map<Integer, String> bodies,
      Map<Integer, String> bodyContains,
      Map<Integer, List<String>> trailers,
      List<Integer> incomplete,
      String tunnel,
      String upstream,
      String upstreamBytes,
      int upstreamConnections,
      String upstreamClosed) {
  }

  @Override
  public String toString() {
    return name;
  }
}
