package io.sluice.gateway.proxy.conformance;

import io.sluice.gateway.proxy.conformance.AnsweringUpstream.Arrival;
import io.sluice.gateway.proxy.conformance.HttpFraming.Message;
import io.sluice.gateway.proxy.conformance.StrictHttp1Model.Kind;
import io.sluice.gateway.proxy.conformance.StrictHttp1Model.Request;
import io.sluice.gateway.proxy.conformance.RequestStreams.Scenario;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

/**
 * One try of the property: sends a scenario's bytes over a fresh client connection, in its writes, then checks the
 * invariant against the model's reading of the same bytes:
 * <ul>
 *   <li>each request the model finds valid, up to the first that is not, is answered 200 by the upstream and arrives
 *       there exactly once, with the start line, fields and body bytes the client sent;</li>
 *   <li>the first invalid request gets a 4xx (or 501) problem from the gateway and the connection closes; nothing
 *       after it is answered or reaches the upstream;</li>
 *   <li>a request the client never finished is not answered, and the connection stays open;</li>
 *   <li>no other bytes reach the upstream: bytes that do not frame as a request may only be the unfinished start of
 *       the refused or unfinished request, on an upstream connection the gateway then closes;</li>
 *   <li>every wait is bounded, the upstream connections stay few, and the gateway counts no upstream failure.</li>
 * </ul>
 */
final class PropertyTry {

  /** The longest a try waits for its answers (the gateway's upstream timeout is 1 s). */
  private static final long ANSWER_MILLIS = 1_500;
  /** How long the client must see nothing more once the expected answers are in. */
  private static final long SETTLE_MILLIS = 60;
  /** How long the gateway may take to close the client (after a refusal) or an upstream connection it gave up. */
  private static final long CLOSE_MILLIS = 1_000;
  /** Upstream connections the gateway may hold open: its pool (4 per event loop) and then some. */
  private static final int MAX_OPEN_UPSTREAM = 8;
  private static final Set<String> HOP_BY_HOP = Set.of("connection", "keep-alive", "proxy-connection", "te",
      "trailer", "upgrade", "proxy-authorization", "proxy-authenticate");

  private final InetSocketAddress gateway;
  private final InetSocketAddress management;
  private final AnsweringUpstream upstream;
  private final List<StrictHttp1Model> readings;
  private final boolean tolerateKnownDefects;
  /** What the engine under test is known to do differently because of its library: tolerated, and counted. */
  private final Set<EngineDifference> engineDifferences;

  /** A known difference of an engine, from its library (the conformance table's known-differences file says why). */
  enum EngineDifference {
    /**
     * The vertx engine: vertx-http-proxy writes Content-Length and Transfer-Encoding itself, after the other fields
     * (the order of fields with different names carries no meaning, RFC 9110 §5.3); their values are still checked.
     */
    FRAMING_FIELDS_LAST
  }

  /**
   * Gateway defects this property has found and that are not fixed yet: while {@code tolerateKnownDefects}, a try
   * that shows one (and nothing else wrong) passes and is counted under its name, so the property keeps guarding
   * everything else. Each has a disabled example in {@link ProxyPropertyTest} that shows it. The model's lenient
   * readings that the RFC does not allow ({@link StrictHttp1Model.Choice} with {@code rfc} false) count the same way.
   */
  enum KnownDefect {
    /**
     * A request pipelined behind another and refused (its framing is ambiguous) is answered 400 and the connection
     * closed, but the requests queued behind it are still dispatched and forwarded upstream
     * ({@code ClientConnection.drainQueued} does not stop once the connection is closing).
     */
    FORWARDS_AFTER_PIPELINED_REFUSAL
  }

  /** {@code readings}: the model's readings the gateway may follow, the strict one first. */
  PropertyTry(InetSocketAddress gateway, InetSocketAddress management, AnsweringUpstream upstream,
              List<StrictHttp1Model> readings, boolean tolerateKnownDefects) {
    this(gateway, management, upstream, readings, tolerateKnownDefects, Set.of());
  }

  PropertyTry(InetSocketAddress gateway, InetSocketAddress management, AnsweringUpstream upstream,
              List<StrictHttp1Model> readings, boolean tolerateKnownDefects, Set<EngineDifference> engineDifferences) {
    this.engineDifferences = Set.copyOf(engineDifferences);
    this.gateway = gateway;
    this.management = management;
    this.upstream = upstream;
    this.readings = List.copyOf(readings);
    this.tolerateKnownDefects = tolerateKnownDefects;
  }

  /**
   * What a try found: failed checks (none if it passed), a transcript to read, the strict model's verdicts in short,
   * and which reading the gateway followed ("strict", or the lenient choices it took; "none" when it failed).
   */
  record Outcome(List<String> failures, String transcript, String modelSummary, String reading,
                 Set<String> knownDefects) {
  }

  /** What one reading of the model expects of one scenario. */
  private record Expected(List<Request> parsed, List<Request> forwarded, Request stop) {

    static Expected of(List<Request> parsed) {
      Request stop = parsed.isEmpty() || parsed.get(parsed.size() - 1).valid() ? null : parsed.get(parsed.size() - 1);
      return new Expected(parsed, stop == null ? parsed : parsed.subList(0, parsed.size() - 1), stop);
    }

    int responses() {
      return forwarded.size() + (refused() ? 1 : 0);
    }

    boolean refused() {
      return stop != null && stop.kind() == Kind.INVALID;
    }

    List<String> methods() {
      List<String> methods = new ArrayList<>(forwarded.stream().map(Request::method).toList());
      if (stop != null && stop.method() != null) {
        methods.add(stop.method());
      }
      return methods;
    }

    String summary() {
      String head = forwarded.size() + " valid";
      return stop == null ? head : head + ", then " + stop.kind().toString().toLowerCase(Locale.ROOT);
    }
  }

  /** What the client and the upstream saw of one try. */
  private record Observation(String received, boolean closed, List<Arrival> arrivals, Map<Integer, Integer> before,
                             long openUpstream, long upstreamFailures, List<String> problems) {
  }

  Outcome run(Scenario scenario) {
    return run(scenario.bytes(), scenario.writes(), scenario.pauseMillis());
  }

  /** Sends {@code bytes} in {@code writes} (which add up to them), {@code pauseMillis} apart, and judges. */
  Outcome run(String bytes, List<String> writes, int pauseMillis) {
    List<Expected> expectations = readings.stream().map(r -> Expected.of(r.parse(bytes))).toList();
    Expected strict = expectations.get(0);
    Observation seen = observe(writes, pauseMillis, expectations);
    List<String> strictFailures = null;
    String followed = "none";
    Set<String> known = new TreeSet<>();
    for (int i = 0; i < expectations.size(); i++) {
      StrictHttp1Model reading = readings.get(i);
      boolean deviates = reading.choices().stream().anyMatch(c -> !c.rfc);
      if (deviates && !tolerateKnownDefects) {
        continue;
      }
      Set<String> shown = new TreeSet<>();
      List<String> failures = judge(expectations.get(i), seen, shown);
      if (i == 0) {
        strictFailures = failures;
      }
      if (failures.isEmpty()) {
        followed = reading.toString();
        known.addAll(shown);
        reading.choices().stream().filter(c -> !c.rfc).forEach(c -> known.add(c.name()));
        break;
      }
    }
    List<String> failures = followed.equals("none") ? strictFailures : List.of();
    String transcript = "sent:     " + ByteNotation.show(bytes, 3000) + "\n"
        + "writes:   " + writes.stream().map(String::length).toList() + "\n"
        + "model:    " + strict.parsed() + "\n"
        + "received: " + ByteNotation.show(seen.received(), 3000) + "\n"
        + "client connection: " + (seen.closed() ? "closed by the gateway" : "open") + "\n"
        + "upstream: " + seen.arrivals().stream().map(a -> "#" + a.connection() + " " + a.request().startLine() + " "
            + ByteNotation.show(a.request().data())).toList() + "\n"
        + "upstream tails: " + tails(seen.before()) + "\n"
        + "none of the other " + (readings.size() - 1) + " readings (" + readings.subList(1, readings.size()).stream()
            .flatMap(r -> r.choices().stream()).distinct().toList() + " in every combination) explains it either";
    return new Outcome(failures, transcript, strict.summary(), followed, Set.copyOf(known));
  }

  private Observation observe(List<String> writes, int pauseMillis, List<Expected> expectations) {
    List<String> problems = new ArrayList<>();
    int mark = upstream.arrivalCount();
    Map<Integer, Integer> before = new HashMap<>();
    upstream.connections().forEach(c -> before.put(c.id(), c.receivedLength()));
    long failuresBefore = upstreamFailures(problems);
    int fewest = expectations.stream().mapToInt(Expected::responses).min().orElse(0);
    List<String> methods = expectations.get(0).methods();
    String received = "";
    boolean closed = false;
    try (RawClient client = new RawClient(gateway, 1_000)) {
      for (String write : writes) {
        client.send(write, 1_000);
        sleep(pauseMillis);
      }
      awaitAnswers(client, fewest, methods);
      received = client.received();
      closed = client.closed();
    } catch (IOException e) {
      problems.add("client: " + e);
    }
    awaitUpstreamSettled();
    List<Arrival> arrivals = upstream.arrivalsSince(mark);
    long failuresAfter = upstreamFailures(problems);
    if (failuresAfter != failuresBefore) {
      problems.add("/stats: upstreamFailures went from " + failuresBefore + " to " + failuresAfter);
    }
    long open = upstream.openConnections();
    if (open > MAX_OPEN_UPSTREAM) {
      problems.add("upstream: " + open + " connections open, at most " + MAX_OPEN_UPSTREAM + " expected");
    }
    return new Observation(received, closed, arrivals, before, open, failuresAfter, problems);
  }

  private List<String> judge(Expected expected, Observation seen, Set<String> known) {
    List<String> failures = new ArrayList<>(seen.problems());
    List<Message> responses = HttpFraming.responses(seen.received(), expected.methods(), seen.closed());
    checkClient(expected, seen.received(), responses, seen.closed(), failures);
    List<Arrival> arrivals = seen.arrivals();
    if (tolerateKnownDefects && failures.isEmpty() && expected.refused()
        && arrivals.size() > expected.forwarded().size()) {
      // the client saw exactly what it should; the extra arrivals come after the refusal
      known.add(KnownDefect.FORWARDS_AFTER_PIPELINED_REFUSAL.name());
      arrivals = arrivals.subList(0, expected.forwarded().size());
    }
    checkArrivals(expected, arrivals, failures, known);
    checkTails(expected, seen.before(), failures);
    return failures;
  }

  // ---- the client's side

  /**
   * Waits until the connection closed, or at least {@code fewest} answers are in and nothing more came for a moment
   * (after a refusal: until the close, for at most {@link #CLOSE_MILLIS}); or the time is up.
   */
  private static void awaitAnswers(RawClient client, int fewest, List<String> methods) {
    long[] quietSince = {System.currentTimeMillis()};
    int[] lastLength = {0};
    waitUntil(ANSWER_MILLIS, () -> {
      if (client.closed()) {
        return true;
      }
      String received = client.received();
      long now = System.currentTimeMillis();
      if (received.length() != lastLength[0]) {
        lastLength[0] = received.length();
        quietSince[0] = now;
        return false;
      }
      List<Message> responses = HttpFraming.responses(received, methods, false);
      List<Message> complete = responses.stream().filter(Message::complete).toList();
      if (complete.size() < fewest || complete.size() < responses.size()) {
        return false;
      }
      boolean refusal = !complete.isEmpty() && complete.get(complete.size() - 1).status() >= 400;
      return now - quietSince[0] >= (refusal ? CLOSE_MILLIS : SETTLE_MILLIS);
    });
    sleep(10); // the last bytes and a close travel together
  }

  private static void checkClient(Expected expected, String received, List<Message> responses, boolean closed,
                                  List<String> failures) {
    for (int i = 0; i < Math.min(responses.size(), expected.responses()); i++) {
      Message r = responses.get(i);
      boolean problem = String.valueOf(r.field("Content-Type")).startsWith("application/problem+json");
      if (i < expected.forwarded().size()) {
        Request sent = expected.forwarded().get(i);
        String body = sent.method().equals("HEAD") ? "" : "ok";
        if (r.status() != 200 || problem || !r.complete() || !r.data().equals(body)) {
          failures.add("response " + (i + 1) + " to a valid " + sent.method() + ": expected the upstream's 200 "
              + ByteNotation.show(body) + ", got " + r.status() + (problem ? " problem " : " ")
              + ByteNotation.show(r.data(), 300) + (r.complete() ? "" : " (cut short)"));
        }
      } else {
        boolean refusal = r.status() >= 400 && r.status() < 500 || r.status() == 501;
        if (!refusal || !problem || !r.complete()) {
          failures.add("response " + (i + 1) + " to the invalid request (" + expected.stop().reason()
              + "): expected a 4xx/501 problem from the gateway, got " + r.status() + " "
              + ByteNotation.show(r.data(), 300));
        }
      }
    }
    if (responses.size() < expected.responses()) {
      failures.add("client: expected " + expected.responses() + " response(s) within " + ANSWER_MILLIS + " ms, got "
          + responses.size() + (closed ? " and the connection closed" : " (the gateway hangs)"));
    } else if (responses.size() > expected.responses()) {
      failures.add("client: expected " + expected.responses() + " response(s), got " + responses.size()
          + ": the gateway admitted " + (expected.stop() == null ? "more than was sent"
              : "what the model calls " + expected.stop().kind() + " (" + expected.stop().reason() + ")"));
    }
    if (expected.refused() && !closed) {
      failures.add("client: the connection stayed open after the refusal");
    } else if (!expected.refused() && closed) {
      failures.add("client: the gateway closed the connection, though the model finds nothing invalid"
          + (expected.stop() == null ? "" : " (only an unfinished request: " + expected.stop().reason() + ")"));
    }
    int end = responses.isEmpty() ? 0 : responses.get(responses.size() - 1).end();
    if (end < received.length() && responses.stream().allMatch(Message::complete)) {
      failures.add("client: received bytes that are not a response: "
          + ByteNotation.show(received.substring(end), 300));
    }
  }

  // ---- the upstream's side

  /** Waits until no upstream connection holds an unfinished request while still open, or the time is up. */
  private void awaitUpstreamSettled() {
    sleep(20); // a request forwarded after the answers must be seen too
    waitUntil(CLOSE_MILLIS, () -> upstream.connections().stream()
        .allMatch(c -> c.tail().isEmpty() || c.peerClosed()));
  }

  private void checkArrivals(Expected expected, List<Arrival> arrivals, List<String> failures, Set<String> known) {
    List<Request> forwarded = expected.forwarded();
    for (int i = 0; i < Math.min(arrivals.size(), forwarded.size()); i++) {
      Request sent = forwarded.get(i);
      Message got = arrivals.get(i).request();
      String difference = difference(sent, got, engineDifferences.contains(EngineDifference.FRAMING_FIELDS_LAST));
      if (difference != null) {
        failures.add("upstream request " + (i + 1) + " differs from what the client sent: " + difference);
      }
    }
    if (arrivals.size() != forwarded.size()) {
      failures.add("upstream: expected " + forwarded.size() + " request(s), received " + arrivals.size()
          + (arrivals.size() > forwarded.size() ? ": " + arrivals.subList(forwarded.size(), arrivals.size()).stream()
              .map(a -> a.request().startLine()).toList() + " should never have been forwarded" : ""));
    }
  }

  /** How a forwarded request differs from the client's (null if it does not), fields the gateway adds aside. */
  private static String difference(Request sent, Message got, boolean framingFieldsLast) {
    String line = sent.method() + " " + sent.target() + " HTTP/1.1";
    if (!got.startLine().equals(line)) {
      return "start line " + ByteNotation.show(got.startLine()) + ", sent " + line;
    }
    List<String> sentFields = foldCodings(sent.fields().stream()
        .filter(f -> !HOP_BY_HOP.contains(f.name().toLowerCase(Locale.ROOT)))
        .map(f -> field(f.name(), f.value())).toList());
    List<String> gotFields = foldCodings(got.fields().stream()
        .filter(f -> !CaseRunner.ADDED_FIELDS.contains(f.name().toLowerCase(Locale.ROOT)))
        .map(f -> field(f.name(), f.value())).toList());
    if (framingFieldsLast) {
      sentFields = framingLast(sentFields);
      gotFields = framingLast(gotFields);
    }
    if (!gotFields.equals(sentFields)) {
      return "fields " + show(gotFields) + ", sent " + show(sentFields);
    }
    if (got.chunked() != sent.chunked() || !got.data().equals(sent.body())) {
      return "body " + ByteNotation.show(got.data(), 300) + (got.chunked() ? " (chunked)" : "") + ", sent "
          + ByteNotation.show(sent.body(), 300) + (sent.chunked() ? " (chunked)" : "");
    }
    List<String> sentTrailers = sent.trailers().stream().map(f -> f.name().toLowerCase(Locale.ROOT) + ": "
        + f.value()).toList();
    List<String> gotTrailers = got.trailers().stream().map(f -> f.name().toLowerCase(Locale.ROOT) + ": "
        + f.value()).toList();
    return gotTrailers.equals(sentTrailers) ? null
        : "trailers " + show(gotTrailers) + ", sent " + show(sentTrailers);
  }

  /**
   * Transfer-Encoding as the list of codings it means, in one field where the first stood: a proxy that re-frames
   * the body may say it in one field, without the empty list elements a recipient ignores (RFC 9110 §5.6.1.2).
   */
  private static List<String> foldCodings(List<String> fields) {
    String prefix = "transfer-encoding: ";
    List<String> out = new ArrayList<>();
    List<String> codings = new ArrayList<>();
    int at = -1;
    for (String f : fields) {
      if (!f.startsWith(prefix)) {
        out.add(f);
        continue;
      }
      at = at < 0 ? out.size() : at;
      for (String coding : f.substring(prefix.length()).split(",")) {
        if (!coding.isBlank()) {
          codings.add(coding.trim().toLowerCase(Locale.ROOT));
        }
      }
    }
    if (at >= 0) {
      out.add(at, prefix + String.join(", ", codings));
    }
    return out;
  }

  /** A field for comparison: the name lower-cased; a Content-Length as its number (a proxy may drop leading zeros). */
  /** {@code fields} with Content-Length and Transfer-Encoding moved to the end, in their order. */
  private static List<String> framingLast(List<String> fields) {
    List<String> framing = fields.stream()
        .filter(f -> f.startsWith("content-length:") || f.startsWith("transfer-encoding:")).toList();
    List<String> reordered = new ArrayList<>(fields);
    reordered.removeAll(framing);
    reordered.addAll(framing);
    return reordered;
  }

  private static String field(String name, String value) {
    String lower = name.toLowerCase(Locale.ROOT);
    if (lower.equals("content-length") && value.matches("\\d{1,18}")) {
      value = String.valueOf(Long.parseLong(value));
    }
    return lower + ": " + value;
  }

  /**
   * Bytes that did not frame as a request on an upstream connection: only the unfinished start of the request the
   * model stopped at (its head went up before its body showed the fault, or the client never finished it), and only
   * on a connection the gateway closed.
   */
  private void checkTails(Expected expected, Map<Integer, Integer> lengthsBefore, List<String> failures) {
    for (AnsweringUpstream.Connection c : upstream.connections()) {
      String tail = c.tail();
      if (tail.isEmpty()) {
        continue;
      }
      boolean newThisTry = c.receivedLength() > lengthsBefore.getOrDefault(c.id(), 0);
      Request stop = expected.stop();
      boolean startOfStop = stop != null && stop.method() != null
          && tail.startsWith(stop.method() + " " + stop.target() + " HTTP/1.1\r\n");
      if (!c.peerClosed()) {
        failures.add("upstream connection #" + c.id() + " is open with bytes that are not a whole request: "
            + ByteNotation.show(tail, 300));
      } else if (newThisTry && !startOfStop) {
        failures.add("upstream connection #" + c.id() + " received bytes that are not a request the model admits: "
            + ByteNotation.show(tail, 300));
      }
    }
  }

  private String tails(Map<Integer, Integer> lengthsBefore) {
    return upstream.connections().stream()
        .filter(c -> !c.tail().isEmpty() && c.receivedLength() > lengthsBefore.getOrDefault(c.id(), 0))
        .map(c -> "#" + c.id() + (c.peerClosed() ? " (closed) " : " (open) ") + ByteNotation.show(c.tail(), 300))
        .collect(Collectors.joining("; ", "[", "]"));
  }

  // ---- the gateway's counters

  /** {@code upstreamFailures} from the management port's /stats (a failure to read it is a failure of the try). */
  private long upstreamFailures(List<String> failures) {
    try (Socket socket = new Socket()) {
      socket.connect(management, 1_000);
      socket.setSoTimeout(2_000);
      OutputStream out = socket.getOutputStream();
      out.write("GET /stats HTTP/1.1\r\nHost: stats\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = socket.getInputStream();
      String answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
      return new JsonObject(answer.substring(answer.indexOf("\r\n\r\n") + 4)).getLong("upstreamFailures");
    } catch (IOException | RuntimeException e) {
      failures.add("/stats: " + e);
      return -1;
    }
  }

  // ---- bounded waiting

  private static void waitUntil(long millis, BooleanSupplier done) {
    long until = System.currentTimeMillis() + millis;
    while (!done.getAsBoolean() && System.currentTimeMillis() < until) {
      sleep(5);
    }
  }

  private static void sleep(long millis) {
    if (millis <= 0) {
      return;
    }
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static String show(List<String> fields) {
    return fields.stream().map(ByteNotation::show).collect(Collectors.joining(", ", "[", "]"));
  }
}
