package io.sluice.gateway.proxy.conformance;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What the property test sends: 1–4 pipelined requests made from valid templates, each bent by 0–2
 * {@link Mutation}s that touch its framing or syntax, the whole stream cut into TCP writes at arbitrary points. Values
 * are plain data (templates, mutation codes, cut offsets) so that jqwik can shrink them; the bytes are derived.
 */
final class RequestStreams {

  private RequestStreams() {
  }

  /** A header or trailer field to render: the value is written as given, whitespace and all. */
  record Field(String name, String value) {
  }

  /** A valid request before any mutation: a body-less one, or one with a fixed-length or a chunked body. */
  record Template(String method, String target, List<Field> headers, Body body) {
  }

  /** No body, a fixed-length body (Content-Length), or chunks with trailers (Transfer-Encoding: chunked). */
  record Body(Kind kind, String data, List<String> chunks, List<Field> trailers) {
    enum Kind { NONE, FIXED, CHUNKED }

    @Override
    public String toString() {
      return switch (kind) {
        case NONE -> "no body";
        case FIXED -> "fixed " + data.length() + " bytes";
        case CHUNKED -> "chunked " + chunks + (trailers.isEmpty() ? "" : " trailers " + trailers);
      };
    }
  }

  /** One change to a request; {@code at} and {@code variant} choose where and how (taken modulo what exists). */
  record Mutation(Change change, int at, int variant) {
    @Override
    public String toString() {
      return change + "(" + at + "," + variant + ")";
    }
  }

  /** The kinds of change. Order matters for shrinking: jqwik shrinks towards the first. */
  enum Change {
    NAME_CASE, OWS, CONTENT_LENGTH_DUPLICATE, CONTENT_LENGTH_CONFLICT, CONTENT_LENGTH_WRONG, CONTENT_LENGTH_VALUE,
    CONTENT_LENGTH_WITH_TE, TE_VALUE, TE_TWO_FIELDS, CHUNK_SIZE, HOST_MISSING, HOST_DUPLICATE, BARE_LF, BARE_CR,
    CONTROL_IN_VALUE, SPACE_BEFORE_COLON, OBS_FOLD
  }

  /** A template and what is done to it. */
  record Planned(Template template, List<Mutation> mutations) {
    @Override
    public String toString() {
      return template.method() + " " + template.target() + " [" + template.body() + "]"
          + (mutations.isEmpty() ? "" : " " + mutations);
    }
  }

  /** The requests of one try, where the stream is cut into writes, and the pause between writes. */
  record Scenario(List<Planned> requests, List<Integer> cuts, int pauseMillis) {

    String bytes() {
      return requests.stream().map(RequestStreams::render).collect(Collectors.joining());
    }

    /** The stream as the TCP writes that carry it, in order. */
    List<String> writes() {
      String all = bytes();
      List<Integer> at = cuts.stream().map(c -> c % (all.length() + 1)).distinct().sorted().toList();
      List<String> writes = new ArrayList<>();
      int from = 0;
      for (int cut : at) {
        if (cut > from) {
          writes.add(all.substring(from, cut));
          from = cut;
        }
      }
      writes.add(all.substring(from));
      return writes;
    }

    @Override
    public String toString() {
      List<String> writes = writes();
      return requests.size() + " request(s): " + requests + "\n  bytes: " + ByteNotation.show(bytes(), 4000)
          + "\n  writes: " + writes.stream().map(String::length).toList() + ", " + pauseMillis + " ms apart";
    }
  }

  // ---- arbitraries

  static Arbitrary<Scenario> scenarios() {
    Arbitrary<List<Planned>> requests = planned().list().ofMinSize(1).ofMaxSize(4);
    Arbitrary<List<Integer>> cuts = Arbitraries.integers().between(0, 9_999).list().ofMaxSize(5);
    Arbitrary<Integer> pause = Arbitraries.integers().between(0, 3);
    return Combinators.combine(requests, cuts, pause).as(Scenario::new);
  }

  static Arbitrary<Planned> planned() {
    Arbitrary<List<Mutation>> mutations = Arbitraries.frequencyOf(
        Tuple.of(5, Arbitraries.just(List.<Mutation>of())),
        Tuple.of(4, mutation().list().ofSize(1)),
        Tuple.of(2, mutation().list().ofSize(2)));
    return Combinators.combine(template(), mutations).as(Planned::new);
  }

  static Arbitrary<Mutation> mutation() {
    return Combinators.combine(Arbitraries.of(Change.class), Arbitraries.integers().between(0, 99),
        Arbitraries.integers().between(0, 99)).as(Mutation::new);
  }

  private static final List<Field> EXTRA_HEADERS = List.of(new Field("Accept", "*/*"),
      new Field("User-Agent", "prop/1.0"), new Field("X-Trace", "abc-123"), new Field("X-Note", "two words"));
  private static final List<Field> TRAILERS = List.of(new Field("X-Sum", "42"), new Field("X-Done", "yes"));

  static Arbitrary<Template> template() {
    Arbitrary<String> bodyless = Arbitraries.of("GET", "HEAD", "DELETE", "OPTIONS");
    Arbitrary<String> withBody = Arbitraries.of("POST", "PUT", "PATCH");
    Arbitrary<String> target = Arbitraries.of("/", "/a", "/items/7?x=1&y=two", "/p/q.json");
    Arbitrary<String> host = Arbitraries.of("h.test", "example.com:8080", "127.0.0.1");
    Arbitrary<List<Field>> extra = Arbitraries.of(EXTRA_HEADERS).list().ofMaxSize(3);
    Arbitrary<String> data = Arbitraries.strings().withCharRange('a', 'z').withCharRange('0', '9')
        .ofMinLength(1).ofMaxLength(10);
    Arbitrary<Body> fixed = Arbitraries.strings().withCharRange('a', 'z').withCharRange('0', '9').ofMaxLength(20)
        .map(d -> new Body(Body.Kind.FIXED, d, List.of(), List.of()));
    Arbitrary<Body> chunked = Combinators.combine(data.list().ofMinSize(1).ofMaxSize(4),
            Arbitraries.of(TRAILERS).list().ofMaxSize(2).uniqueElements())
        .as((chunks, trailers) -> new Body(Body.Kind.CHUNKED, String.join("", chunks), chunks, trailers));
    Arbitrary<Template> noBody = Combinators.combine(bodyless, target, host, extra)
        .as((m, t, h, x) -> new Template(m, t, headers(h, x), new Body(Body.Kind.NONE, "", List.of(), List.of())));
    Arbitrary<Template> body = Combinators.combine(withBody, target, host, extra, Arbitraries.oneOf(fixed, chunked))
        .as((m, t, h, x, b) -> new Template(m, t, headers(h, x), b));
    return Arbitraries.oneOf(noBody, body);
  }

  private static List<Field> headers(String host, List<Field> extra) {
    List<Field> headers = new ArrayList<>();
    headers.add(new Field("Host", host));
    headers.addAll(extra);
    return headers;
  }

  // ---- rendering

  /** The mutable form of one request while mutations are applied. */
  private static final class Draft {
    String requestLine;
    final List<Field> headers = new ArrayList<>();
    final List<String> sizeLines = new ArrayList<>();
    final List<String> chunks = new ArrayList<>();
    final List<Field> trailers = new ArrayList<>();
    String fixedBody = "";
    boolean chunked;
    final List<Mutation> byteLevel = new ArrayList<>();

    String render() {
      StringBuilder out = new StringBuilder(requestLine).append("\r\n");
      headers.forEach(f -> out.append(f.name()).append(':').append(f.value()).append("\r\n"));
      out.append("\r\n");
      if (chunked) {
        for (int i = 0; i < chunks.size(); i++) {
          out.append(sizeLines.get(i)).append("\r\n").append(chunks.get(i)).append("\r\n");
        }
        out.append("0\r\n");
        trailers.forEach(f -> out.append(f.name()).append(':').append(f.value()).append("\r\n"));
        out.append("\r\n");
      } else {
        out.append(fixedBody);
      }
      return out.toString();
    }

    int index(String name) {
      for (int i = 0; i < headers.size(); i++) {
        if (headers.get(i).name().equalsIgnoreCase(name)) {
          return i;
        }
      }
      return -1;
    }

    String lengthValue() {
      int i = index("Content-Length");
      return i >= 0 ? headers.get(i).value().strip() : String.valueOf(fixedBody.length());
    }
  }

  static String render(Planned planned) {
    Template t = planned.template();
    Draft d = new Draft();
    d.requestLine = t.method() + " " + t.target() + " HTTP/1.1";
    t.headers().forEach(f -> d.headers.add(new Field(f.name(), " " + f.value())));
    switch (t.body().kind()) {
      case FIXED -> {
        d.headers.add(new Field("Content-Length", " " + t.body().data().length()));
        d.fixedBody = t.body().data();
      }
      case CHUNKED -> {
        d.headers.add(new Field("Transfer-Encoding", " chunked"));
        d.chunked = true;
        t.body().chunks().forEach(c -> {
          d.sizeLines.add(Integer.toHexString(c.length()));
          d.chunks.add(c);
        });
        t.body().trailers().forEach(f -> d.trailers.add(new Field(f.name(), " " + f.value())));
      }
      default -> {
      }
    }
    planned.mutations().forEach(m -> apply(d, m));
    String bytes = d.render();
    for (Mutation m : d.byteLevel) {
      bytes = applyToBytes(bytes, m);
    }
    return bytes;
  }

  private static final String[] OWS = {"", " ", "\t", "  \t "};
  private static final String[] LENGTH_VALUES = {"+%d", "%d %d", "0x%d", "-%d", "99999999999999999999%d", "00%d",
      "%d.0", "", "%d,%d", "%d, %d"};
  private static final String[] TE_VALUES = {"Chunked", "CHUNKED", "\tchunked ", "chunked,", ", chunked", "xchunked",
      "chunked, identity", "identity, chunked", "gzip, chunked", "chunked, chunked", "chunked;q=1", "chunk ed",
      "\u000bchunked", "chunked\u000c", "", "identity", "chunked , ,"};
  private static final String[][] TE_PAIRS = {{"chunked", "chunked"}, {"identity", "chunked"},
      {"chunked", "identity"}, {"chunked", ""}, {"gzip", "chunked"}, {"Chunked", "  "}};
  private static final char[] CONTROLS = {0x00, 0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x7f};

  private static void apply(Draft d, Mutation m) {
    int a = m.at();
    int v = m.variant();
    List<Field> h = d.headers;
    if (h.isEmpty()) {
      h.add(new Field("X-Empty", ""));
    }
    switch (m.change()) {
      case NAME_CASE -> {
        int i = a % h.size();
        String name = h.get(i).name();
        String changed = switch (v % 3) {
          case 0 -> name.toUpperCase(Locale.ROOT);
          case 1 -> name.toLowerCase(Locale.ROOT);
          default -> alternate(name);
        };
        h.set(i, new Field(changed, h.get(i).value()));
      }
      case OWS -> {
        int i = a % h.size();
        h.set(i, new Field(h.get(i).name(), OWS[v % OWS.length] + h.get(i).value().strip()
            + OWS[(v / OWS.length) % OWS.length]));
      }
      case CONTENT_LENGTH_DUPLICATE -> {
        String value = d.lengthValue();
        if (v % 2 == 0) {
          h.add(Math.min(a % (h.size() + 1), h.size()), new Field("Content-Length", " " + value));
        } else {
          setOrAdd(d, "Content-Length", " " + value + ", " + value);
        }
      }
      case CONTENT_LENGTH_CONFLICT -> {
        long value = parseOr(d.lengthValue(), 0);
        h.add(Math.min(a % (h.size() + 1), h.size()), new Field("Content-Length", " " + (value + 1 + v % 3)));
      }
      case CONTENT_LENGTH_WRONG -> {
        long value = parseOr(d.lengthValue(), 0);
        long[] deltas = {-2, -1, 1, 3, 40};
        setOrAdd(d, "Content-Length", " " + Math.max(0, value + deltas[v % deltas.length]));
      }
      case CONTENT_LENGTH_VALUE -> {
        long value = parseOr(d.lengthValue(), 0);
        setOrAdd(d, "Content-Length", " " + LENGTH_VALUES[v % LENGTH_VALUES.length].replace("%d",
            String.valueOf(value)));
      }
      case CONTENT_LENGTH_WITH_TE -> {
        if (d.chunked) {
          h.add(Math.min(a % (h.size() + 1), h.size()), new Field("Content-Length", " " + d.render().length()));
        } else {
          h.add(Math.min(a % (h.size() + 1), h.size()), new Field("Transfer-Encoding", " chunked"));
        }
      }
      case TE_VALUE -> setOrAdd(d, "Transfer-Encoding", " " + TE_VALUES[v % TE_VALUES.length]);
      case TE_TWO_FIELDS -> {
        String[] pair = TE_PAIRS[v % TE_PAIRS.length];
        int i = d.index("Transfer-Encoding");
        if (i >= 0) {
          h.remove(i);
        }
        int at = Math.min(a % (h.size() + 1), h.size());
        h.add(at, new Field("Transfer-Encoding", " " + pair[1]));
        h.add(at, new Field("Transfer-Encoding", " " + pair[0]));
      }
      case CHUNK_SIZE -> {
        if (!d.chunked) {
          return;
        }
        int i = a % d.chunks.size();
        int size = d.chunks.get(i).length();
        String hex = Integer.toHexString(size);
        String[] sizes = {Integer.toHexString(size + 1), Integer.toHexString(size - 1), "g" + hex, "0x" + hex,
            "1ffffffffffffffff" + hex, "000" + hex, hex.toUpperCase(Locale.ROOT), hex + " ", hex + ";ext=1",
            hex + ";", "-" + hex, hex + "\t", Integer.toHexString(size + 16), " " + hex};
        d.sizeLines.set(i, sizes[v % sizes.length]);
      }
      case HOST_MISSING -> {
        int i = d.index("Host");
        if (i >= 0) {
          h.remove(i);
        }
      }
      case HOST_DUPLICATE -> h.add(Math.min(a % (h.size() + 1), h.size()),
          new Field(v % 2 == 0 ? "Host" : "host", v % 4 < 2 ? " h.test" : " other.test"));
      case BARE_LF, BARE_CR -> d.byteLevel.add(m);
      case CONTROL_IN_VALUE -> {
        int i = a % h.size();
        String value = h.get(i).value();
        int at = 1 + v % Math.max(1, value.length());
        char c = CONTROLS[(v / 7) % CONTROLS.length];
        h.set(i, new Field(h.get(i).name(), value.substring(0, Math.min(at, value.length())) + c
            + value.substring(Math.min(at, value.length()))));
      }
      case SPACE_BEFORE_COLON -> {
        int i = a % h.size();
        h.set(i, new Field(h.get(i).name() + (v % 2 == 0 ? " " : "\t"), h.get(i).value()));
      }
      case OBS_FOLD -> {
        int i = a % h.size();
        String value = h.get(i).value().strip();
        int cut = Math.min(value.length(), Math.max(1, value.length() / 2));
        h.set(i, new Field(h.get(i).name(), " " + value.substring(0, cut) + "\r\n" + (v % 2 == 0 ? " " : "\t")
            + value.substring(cut)));
      }
      default -> throw new IllegalStateException(m.change().toString());
    }
  }

  /** A bare LF or a bare CR in place of one of the request's CRLFs (the {@code at}-th, modulo their count). */
  private static String applyToBytes(String bytes, Mutation m) {
    List<Integer> crlfs = new ArrayList<>();
    for (int i = bytes.indexOf("\r\n"); i >= 0; i = bytes.indexOf("\r\n", i + 2)) {
      crlfs.add(i);
    }
    if (crlfs.isEmpty()) {
      return bytes;
    }
    int i = crlfs.get(m.at() % crlfs.size());
    String replacement = m.change() == Change.BARE_LF ? "\n" : "\r";
    if (m.change() == Change.BARE_CR && m.variant() % 2 == 1) {
      // a CR inside the line instead: before its last byte
      return bytes.substring(0, Math.max(0, i - 1)) + "\r" + bytes.substring(Math.max(0, i - 1));
    }
    return bytes.substring(0, i) + replacement + bytes.substring(i + 2);
  }

  private static void setOrAdd(Draft d, String name, String value) {
    int i = d.index(name);
    if (i >= 0) {
      d.headers.set(i, new Field(d.headers.get(i).name(), value));
    } else {
      d.headers.add(new Field(name, value));
    }
  }

  private static long parseOr(String value, long fallback) {
    try {
      return Long.parseLong(value.strip());
    } catch (NumberFormatException e) {
      return fallback;
    }
  }

  private static String alternate(String name) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      out.append(i % 2 == 0 ? Character.toLowerCase(c) : Character.toUpperCase(c));
    }
    return out.toString();
  }
}
