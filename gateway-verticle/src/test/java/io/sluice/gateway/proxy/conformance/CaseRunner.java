package io.sluice.gateway.proxy.conformance;

import io.sluice.gateway.proxy.conformance.ConformanceCase.Await;
import io.sluice.gateway.proxy.conformance.ConformanceCase.ClientStep;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Expectations;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Pause;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Send;
import io.sluice.gateway.proxy.conformance.HttpFraming.Field;
import io.sluice.gateway.proxy.conformance.HttpFraming.Message;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

/**
 * Replays one case: the client's steps over a real socket to the target (the gateway, or any proxy in front of the
 * recording upstream), then checks what the client received and what the upstream received. Every wait is bounded;
 * a case takes at most a few seconds whatever the target does.
 */
final class CaseRunner {

  /**
   * For replaying the table against another proxy ({@code -Dconformance.lenient=true}, as bench/conformance.sh does
   * for HAProxy): field names are compared ignoring case, and the proxy's own error answers may be in any format.
   * What is left to differ is behaviour: statuses, what reaches the upstream, closes.
   */
  static final boolean LENIENT = Boolean.getBoolean("conformance.lenient");

  /** The longest a case waits for its answers, from its first byte. */
  static final long CASE_MILLIS = 5_000;
  private static final long WRITE_MILLIS = 3_000;
  /** After the expected answers: how long the connection must stay open (closed: no/any) or may take to close. */
  private static final long STAYS_OPEN_MILLIS = 200;
  private static final long CLOSES_WITHIN_MILLIS = 1_000;
  /** Fields a forwarding proxy adds: compared by value, wherever they are in the head (see the README). */
  static final Set<String> ADDED_FIELDS = Set.of("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "via",
      "forwarded");

  private final InetSocketAddress target;
  private final RecordingUpstream upstream;
  /** Forwarded field names (lower case) whose case is not compared (an engine's documented difference). */
  private final Set<String> namesOfAnyCase;
  private final boolean safeRequestsInAnyOrder;

  CaseRunner(InetSocketAddress target, RecordingUpstream upstream) {
    this(target, upstream, Set.of());
  }

  CaseRunner(InetSocketAddress target, RecordingUpstream upstream, Set<String> namesOfAnyCase) {
    this(target, upstream, namesOfAnyCase, false);
  }

  /**
   * {@code safeRequestsInAnyOrder}: the engine may forward pipelined GET/HEAD requests over separate upstream
   * connections, and {@link RecordingUpstream#received} lists them connection by connection, so their order there
   * is not compared (the answers' order still is).
   */
  CaseRunner(InetSocketAddress target, RecordingUpstream upstream, Set<String> namesOfAnyCase,
             boolean safeRequestsInAnyOrder) {
    this.safeRequestsInAnyOrder = safeRequestsInAnyOrder;
    this.target = target;
    this.upstream = upstream;
    this.namesOfAnyCase = namesOfAnyCase;
  }

  /** What a replay found: every failed check (empty if none) and a transcript to read when it failed. */
  record Verdict(List<String> failures, String statuses, String transcript) {
    boolean passed() {
      return failures.isEmpty();
    }

    /** Whether the one thing wrong is the gateway's Via entry (missing or different), on either side. */
    boolean onlyVia() {
      return !failures.isEmpty() && failures.stream().allMatch(f -> f.contains("(they differ only in Via)")
          || f.matches("(?s)response \\d+: field Via expected .*"));
    }
  }

  Verdict run(ConformanceCase c) throws IOException {
    upstream.begin(c.replies(), c.upstreamListens());
    try (RawClient client = new RawClient(target, 1_000)) {
      return replay(c, client);
    } finally {
      upstream.end();
      // let the gateway see the upstream close before the next case, so it does not reuse a dead connection
      sleep(50);
    }
  }

  private Verdict replay(ConformanceCase c, RawClient client) {
    long deadline = System.currentTimeMillis() + CASE_MILLIS;
    StringBuilder sent = new StringBuilder();
    List<String> notes = new ArrayList<>();
    int awaited = 0;
    for (ClientStep step : c.steps()) {
      if (step instanceof Send send) {
        client.send(send.bytes(), WRITE_MILLIS);
        sent.append(send.bytes());
      } else if (step instanceof Pause pause) {
        sleep(pause.millis());
        deadline += pause.millis();
      } else if (step instanceof Await await) {
        int found = await(client, sent.toString(), awaited, await);
        if (found < 0) {
          notes.add("await " + await.what() + ": nothing within " + await.millis() + " ms");
        } else {
          awaited = found + 1;
        }
      }
    }
    Expectations expect = c.expect();
    List<String> methods = methods(sent.toString());
    waitForAnswers(client, methods, expect, deadline);
    boolean closed = client.closed();
    String received = client.received();
    List<Message> responses = HttpFraming.responses(received, methods, client.closedInOrder());

    List<String> failures = new ArrayList<>();
    checkClient(expect, received, responses, closed, failures);
    String upstreamView = checkUpstream(expect, failures);
    if (client.writeError() != null) {
      notes.add("client write: " + client.writeError());
    }
    String statuses = statuses(responses);
    String transcript = "case " + c.name() + " (" + c.source() + "): " + c.why() + "\n"
        + "client sent:        " + ByteNotation.show(sent.toString(), 800) + "\n"
        + "client received:    " + ByteNotation.show(received, 1500) + "\n"
        + "client connection:  " + (closed ? "closed by the target" : "open") + "\n"
        + "upstream received (" + upstream.recordings().size() + " connections):\n" + upstreamView
        + (notes.isEmpty() ? "" : "notes: " + String.join("; ", notes) + "\n");
    return new Verdict(failures, statuses, transcript);
  }

  // ---- the client's side

  /** Index of the first response at or after {@code from} that matches, or -1 after the wait. */
  private static int await(RawClient client, String sent, int from, Await await) {
    long until = System.currentTimeMillis() + await.millis();
    int[] found = {-1};
    waitUntil(until, () -> {
      List<Message> responses = HttpFraming.responses(client.received(), methods(sent), client.closedInOrder());
      for (int i = from; i < responses.size(); i++) {
        if (matches(await.what(), responses.get(i).status())) {
          found[0] = i;
          return true;
        }
      }
      return client.closed();
    });
    return found[0];
  }

  private static boolean matches(String what, int status) {
    return switch (what) {
      case "interim" -> status >= 100 && status < 200;
      case "final" -> status >= 200;
      case "response" -> true;
      default -> status == Integer.parseInt(what);
    };
  }

  /**
   * Waits until the expected answers are in and the connection has been seen to stay open a moment (or to close,
   * if it should), or it closed, or the case's time is up.
   */
  private static void waitForAnswers(RawClient client, List<String> methods, Expectations expect, long deadline) {
    long[] matchedAt = {-1};
    waitUntil(deadline, () -> {
      if (client.closed()) {
        return true;
      }
      List<Message> responses = HttpFraming.responses(client.received(), methods, false);
      if (!statusesMatch(expect, responses) || !completenessMatches(expect, responses)) {
        matchedAt[0] = -1;
        return false;
      }
      if (responses.isEmpty() && expect.closed().equals("yes")) {
        // "none" matches before the target has even read the request (a large body may still be on its way):
        // only the close, or the case's time running out, ends this wait
        return false;
      }
      long now = System.currentTimeMillis();
      if (matchedAt[0] < 0) {
        matchedAt[0] = now;
      }
      return now - matchedAt[0] >= (expect.closed().equals("yes") ? CLOSES_WITHIN_MILLIS : STAYS_OPEN_MILLIS);
    });
    sleep(20); // the last bytes and the close travel together; let the reader take both
  }

  private static boolean statusesMatch(Expectations expect, List<Message> responses) {
    for (List<List<Integer>> alternative : expect.statuses()) {
      if (alternative.size() != responses.size()) {
        continue;
      }
      boolean all = true;
      for (int i = 0; i < alternative.size() && all; i++) {
        all = alternative.get(i).contains(responses.get(i).status());
      }
      if (all) {
        return true;
      }
    }
    return false;
  }

  private static boolean completenessMatches(Expectations expect, List<Message> responses) {
    for (int i = 0; i < responses.size(); i++) {
      if (responses.get(i).complete() == expect.incomplete().contains(i + 1)) {
        return false;
      }
    }
    return true;
  }

  private static void checkClient(Expectations expect, String received, List<Message> responses, boolean closed,
                                   List<String> failures) {
    if (!statusesMatch(expect, responses)) {
      failures.add("statuses: expected " + expectedStatuses(expect) + ", got " + statuses(responses));
    }
    if (expect.closed().equals("yes") && !closed) {
      failures.add("client connection: expected closed by the target, still open");
    } else if (expect.closed().equals("no") && closed) {
      failures.add("client connection: expected to stay open, closed by the target");
    }
    for (int i = 0; i < responses.size(); i++) {
      Message r = responses.get(i);
      int n = i + 1;
      if (expect.problem() && r.status() >= 400 && !LENIENT) {
        String type = r.field("Content-Type");
        if (type == null || !type.toLowerCase(Locale.ROOT).startsWith("application/problem+json")) {
          failures.add("response " + n + " (" + r.status() + "): Content-Type expected application/problem+json, got "
              + type);
        }
      }
      boolean shouldBeComplete = !expect.incomplete().contains(n);
      if (r.complete() != shouldBeComplete) {
        failures.add("response " + n + " (" + r.status() + "): expected " + (shouldBeComplete
            ? "complete, but it was cut short" : "cut short (never complete-looking), but it was complete"));
      }
    }
    for (Map.Entry<Integer, List<String>> e : expect.headers().entrySet()) {
      Message r = response(responses, e.getKey(), failures, "header");
      for (String field : r == null ? List.<String>of() : e.getValue()) {
        int colon = field.indexOf(':');
        String name = field.substring(0, colon).strip();
        String value = field.substring(colon + 1).strip();
        String got = r.field(name);
        if (!value.equals(got)) {
          failures.add("response " + e.getKey() + ": field " + name + " expected '" + value + "', got "
              + (got == null ? "none" : "'" + ByteNotation.show(got) + "'"));
        }
      }
    }
    for (Map.Entry<Integer, List<String>> e : expect.noHeaders().entrySet()) {
      Message r = response(responses, e.getKey(), failures, "no-header");
      for (String name : r == null ? List.<String>of() : e.getValue()) {
        if (r.field(name) != null) {
          failures.add("response " + e.getKey() + ": field " + name + " must not be relayed, got '"
              + ByteNotation.show(r.field(name)) + "'");
        }
      }
    }
    for (Map.Entry<Integer, String> e : expect.bodies().entrySet()) {
      Message r = response(responses, e.getKey(), failures, "body");
      if (r != null && !r.data().equals(e.getValue())) {
        failures.add("response " + e.getKey() + ": body expected '" + ByteNotation.show(e.getValue(), 200)
            + "', got '" + ByteNotation.show(r.data(), 200) + "'");
      }
    }
    for (Map.Entry<Integer, String> e : expect.bodyContains().entrySet()) {
      Message r = response(responses, e.getKey(), failures, "body-contains");
      if (r != null && !r.data().toLowerCase(Locale.ROOT).contains(e.getValue().toLowerCase(Locale.ROOT))) {
        failures.add("response " + e.getKey() + ": body should contain '" + e.getValue() + "', got '"
            + ByteNotation.show(r.data(), 300) + "'");
      }
    }
    for (Map.Entry<Integer, List<String>> e : expect.trailers().entrySet()) {
      Message r = response(responses, e.getKey(), failures, "trailer");
      for (String field : r == null ? List.<String>of() : e.getValue()) {
        int colon = field.indexOf(':');
        String name = field.substring(0, colon).strip();
        String value = field.substring(colon + 1).strip();
        if (!value.equals(r.trailer(name))) {
          failures.add("response " + e.getKey() + ": trailer " + name + " expected '" + value + "', got "
              + (r.trailer(name) == null ? "none" : "'" + r.trailer(name) + "'"));
        }
      }
    }
    int end = responses.isEmpty() ? 0 : responses.get(responses.size() - 1).end();
    String rest = received.substring(Math.min(end, received.length()));
    boolean tunnelled = !responses.isEmpty() && responses.get(responses.size() - 1).status() == 101;
    if (expect.tunnel() != null) {
      if (!tunnelled || !rest.equals(expect.tunnel())) {
        failures.add("tunnel: expected '" + ByteNotation.show(expect.tunnel()) + "' after a 101, got "
            + (tunnelled ? "'" + ByteNotation.show(rest) + "'" : "no 101"));
      }
    } else if (!rest.isEmpty() && (responses.isEmpty() || responses.get(responses.size() - 1).complete())) {
      failures.add("client received bytes that are not a response: '" + ByteNotation.show(rest, 300) + "'");
    }
  }

  private static Message response(List<Message> responses, int n, List<String> failures, String check) {
    if (n > responses.size()) {
      failures.add(check + " " + n + ": there is no response " + n);
      return null;
    }
    return responses.get(n - 1);
  }

  static String statuses(List<Message> responses) {
    return responses.isEmpty() ? "none"
        : responses.stream().map(r -> String.valueOf(r.status())).collect(Collectors.joining(" "));
  }

  private static String expectedStatuses(Expectations expect) {
    return expect.statuses().stream()
        .map(alt -> alt.isEmpty() ? "none" : alt.stream()
            .map(p -> p.stream().map(String::valueOf).collect(Collectors.joining("|")))
            .collect(Collectors.joining(" ")))
        .collect(Collectors.joining(" or "));
  }

  /** The methods of the requests in what the client sent (a HEAD's answer has no body), as far as they parse. */
  static List<String> methods(String sent) {
    List<String> methods = new ArrayList<>();
    int at = 0;
    while (at < sent.length()) {
      while (sent.startsWith("\r\n", at)) {
        at += 2;
      }
      Message request = HttpFraming.request(sent, at);
      Message head = request != null ? request : HttpFraming.head(sent, at);
      if (head == null) {
        break;
      }
      methods.add(head.method());
      if (request == null) {
        break;
      }
      at = request.end();
    }
    return methods;
  }

  // ---- the upstream's side

  /** Checks what the upstream received; returns it, rendered for the transcript. */
  private String checkUpstream(Expectations expect, List<String> failures) {
    switch (expect.upstream()) {
      case "nothing" -> {
        sleep(150); // bytes forwarded just after the answer must be seen too
        if (!upstream.received().isEmpty()) {
          failures.add("upstream: expected to receive nothing, received "
              + ByteNotation.show(upstream.received(), 300));
        }
      }
      case "incomplete" -> {
        sleep(150);
        List<Message> requests = HttpFraming.requests(upstream.received());
        if (!requests.isEmpty()) {
          failures.add("upstream: expected no complete request, received " + requests.size());
        }
      }
      case "exact" -> {
        boolean anyOrder = safeRequestsInAnyOrder && HttpFraming.requests(expect.upstreamBytes()).stream()
            .allMatch(r -> r.startLine().startsWith("GET ") || r.startLine().startsWith("HEAD "));
        String expected = inOrder(canonical(expect.upstreamBytes(), true, namesOfAnyCase), anyOrder);
        waitUntil(System.currentTimeMillis() + 1_000,
            () -> inOrder(canonical(upstream.received(), true, namesOfAnyCase), anyOrder).equals(expected));
        String actual = inOrder(canonical(upstream.received(), true, namesOfAnyCase), anyOrder);
        if (!actual.equals(expected)) {
          boolean onlyVia = canonical(upstream.received(), false, namesOfAnyCase)
              .equals(canonical(expect.upstreamBytes(), false, namesOfAnyCase));
          failures.add("upstream received other requests than expected" + (onlyVia ? " (they differ only in Via)" : "")
              + ":\n--- expected\n" + expected + "--- received\n" + actual + "---");
        }
      }
      default -> sleep(50);
    }
    if (expect.upstreamConnections() >= 0 && upstream.carrying().size() != expect.upstreamConnections()) {
      failures.add("upstream connections: expected " + expect.upstreamConnections() + " carrying requests, got "
          + upstream.carrying().size() + " (of " + upstream.recordings().size() + " accepted)");
    }
    if (!expect.upstreamClosed().equals("any")) {
      boolean wantClosed = expect.upstreamClosed().equals("yes");
      BooleanSupplier allClosed = () -> upstream.carrying().stream().allMatch(r -> r.peerClosed() || r.closedHere());
      if (wantClosed) {
        waitUntil(System.currentTimeMillis() + 1_500, allClosed);
        if (!allClosed.getAsBoolean()) {
          failures.add("upstream connection: expected the gateway to close it, still open");
        }
      } else if (upstream.carrying().stream().anyMatch(RecordingUpstream.Recording::peerClosed)) {
        failures.add("upstream connection: expected to be kept open, closed by the gateway");
      }
    }
    return canonical(upstream.received(), true, namesOfAnyCase);
  }

  /**
   * What a stream of requests means, one line per start line and field: client fields in order with their names
   * as sent, the fields a proxy adds ({@link #ADDED_FIELDS}) last, by lower-case name, each name's values joined;
   * bodies de-chunked with their trailers; bytes that do not frame as requests shown as they are.
   */
  static String canonical(String bytes, boolean withVia) {
    return canonical(bytes, withVia, Set.of());
  }

  /** The same, with the names in {@code namesOfAnyCase} shown in lower case whatever their case. */
  /** {@code canonical} as it is, or with its requests sorted (when their order does not matter). */
  private static String inOrder(String canonical, boolean sorted) {
    if (!sorted) {
      return canonical;
    }
    List<String> requests = new ArrayList<>();
    for (String line : canonical.split("\n")) {
      if (!line.startsWith(" ") || requests.isEmpty()) {
        requests.add(line + "\n");
      } else {
        requests.set(requests.size() - 1, requests.get(requests.size() - 1) + line + "\n");
      }
    }
    return String.join("", requests.stream().sorted().toList());
  }

  static String canonical(String bytes, boolean withVia, Set<String> namesOfAnyCase) {
    StringBuilder out = new StringBuilder();
    List<Message> requests = HttpFraming.requests(bytes);
    for (Message r : requests) {
      out.append(ByteNotation.show(r.startLine())).append('\n');
      Map<String, List<String>> added = new TreeMap<>();
      for (Field f : r.fields()) {
        String lower = f.name().toLowerCase(Locale.ROOT);
        if (ADDED_FIELDS.contains(lower)) {
          if (withVia || !lower.equals("via")) {
            added.computeIfAbsent(lower, k -> new ArrayList<>()).add(f.value());
          }
        } else {
          String name = LENIENT || namesOfAnyCase.contains(lower) ? lower : f.name();
          out.append("  ").append(ByteNotation.show(name)).append(": ").append(ByteNotation.show(f.value()))
              .append('\n');
        }
      }
      added.forEach((name, values) -> out.append("  ").append(name).append(": ")
          .append(ByteNotation.show(String.join(", ", values))).append('\n'));
      if (r.chunked()) {
        out.append("  [chunked body] ").append(ByteNotation.show(r.data(), 300)).append('\n');
        r.trailers().forEach(t -> out.append("  [trailer] ")
            .append(ByteNotation.show(LENIENT ? t.name().toLowerCase(Locale.ROOT) : t.name())).append(": ")
            .append(ByteNotation.show(t.value())).append('\n'));
      } else if (!r.data().isEmpty()) {
        out.append("  [body] ").append(ByteNotation.show(r.data(), 300)).append('\n');
      }
    }
    String rest = bytes.substring(HttpFraming.endOf(requests));
    if (!rest.isEmpty()) {
      out.append("[not a complete request] ").append(ByteNotation.show(rest, 600)).append('\n');
    }
    return out.length() == 0 ? "(nothing)\n" : out.toString();
  }

  // ---- bounded waiting

  private static void waitUntil(long until, BooleanSupplier done) {
    while (!done.getAsBoolean() && System.currentTimeMillis() < until) {
      sleep(5);
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
