package io.sluice.gateway.proxy.conformance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The reference the property test holds the gateway to: a strict reading of RFC 9112 request framing, written apart
 * from the gateway's code. It cuts a client's byte stream into requests and says of each whether a strict proxy
 * forwards it ({@link Kind#VALID}), must refuse it ({@link Kind#INVALID}), or is still waiting for the rest of it
 * ({@link Kind#INCOMPLETE}); it stops at the first request that is not valid, since nothing after it can be framed.
 *
 * <p>Where the RFC lets a recipient choose, the model takes the strict choice unless it is given the lenient one as a
 * {@link Choice}: the property test holds the gateway to any reading a compliant proxy may have (see
 * {@link #readings}). Bytes are ISO-8859-1 strings.
 */
final class StrictHttp1Model {

  /**
   * A reading other than the strict one: a leniency the RFC allows a recipient (a MAY), or a deviation from the RFC
   * ({@code rfc} false) that the gateway was found to take and that does not let requests be smuggled past it: a
   * leniency where the gateway re-frames what it forwards, or a refusal of something valid. Deviations are reported
   * as known defects (see {@link PropertyTry}).
   */
  enum Choice {
    /**
     * A head with a fault in it that has not ended yet (no empty line) may be refused at once or once it ends: under
     * this reading the recipient is still waiting for it.
     */
    WAIT_FOR_HEAD_END(true),
    /** RFC 9112 §5.2: a server may replace each obs-fold with SP before interpreting and forwarding the field. */
    UNFOLD_OBS_FOLD(true),
    /**
     * Not in RFC 9112 §7.1 (chunk-size [ chunk-ext ] CRLF, BWS only before ';'): whitespace before the size is skipped,
     * and after its hex digits anything that follows ';', SP, HTAB or a control byte is ignored (Netty's reading).
     */
    LENIENT_CHUNK_SIZE_LINE(false),
    /**
     * Stricter than RFC 9110 §5.6.1.2 (a recipient must ignore empty list elements): a Transfer-Encoding with an empty
     * element ({@code chunked,}, or an empty field beside {@code chunked}) is refused.
     */
    REFUSE_EMPTY_CODING(false);

    final boolean rfc;

    Choice(boolean rfc) {
      this.rfc = rfc;
    }
  }

  /** What a strict proxy makes of one request. */
  enum Kind { VALID, INVALID, INCOMPLETE }

  /** A field line as a strict parser reads it: the name as sent, the value without surrounding whitespace. */
  record Field(String name, String value) {
    boolean is(String other) {
      return name.equalsIgnoreCase(other);
    }
  }

  /**
   * One request of the stream: for a valid one, what the upstream must receive (start line, fields, the body as sent
   * once de-chunked, trailers); for the others, why ({@code reason}) and how far the parse got.
   */
  record Request(Kind kind, String reason, int start, int end, String method, String target, List<Field> fields,
                 boolean chunked, String body, List<Field> trailers) {

    boolean valid() {
      return kind == Kind.VALID;
    }

    @Override
    public String toString() {
      return kind + (reason == null ? "" : " (" + reason + ")") + (method == null ? "" : " " + method + " " + target)
          + (kind == Kind.VALID ? " body=" + ByteNotation.show(body) + (chunked ? " chunked" : "") : "");
    }
  }

  /** RFC 9112 §3.2 and RFC 3986 §3.2.2: an IP literal or a reg-name (IPv4 included), then an optional port. */
  private static final Pattern HOST = Pattern.compile(
      "(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9\\-._~!$&'()*+,;=%]+)(:[0-9]*)?");

  /** The largest body (and chunk) the gateway is configured to take here: larger is a refusal (413). */
  private final long maxBodySize;
  private final Set<Choice> choices;

  StrictHttp1Model(long maxBodySize, Set<Choice> choices) {
    this.maxBodySize = maxBodySize;
    this.choices = Set.copyOf(choices);
  }

  /** Every reading a compliant proxy may have: strict first, then each combination of lenient choices. */
  static List<StrictHttp1Model> readings(long maxBodySize) {
    List<StrictHttp1Model> readings = new ArrayList<>();
    Choice[] all = Choice.values();
    for (int mask = 0; mask < 1 << all.length; mask++) {
      Set<Choice> chosen = EnumSet.noneOf(Choice.class);
      for (int i = 0; i < all.length; i++) {
        if ((mask & 1 << i) != 0) {
          chosen.add(all[i]);
        }
      }
      readings.add(new StrictHttp1Model(maxBodySize, chosen));
    }
    return readings;
  }

  Set<Choice> choices() {
    return choices;
  }

  @Override
  public String toString() {
    return choices.isEmpty() ? "strict" : "strict but " + choices;
  }

  /** The requests of {@code bytes}, in order, up to and including the first that is not valid. */
  List<Request> parse(String bytes) {
    List<Request> out = new ArrayList<>();
    int at = 0;
    while (true) {
      // RFC 9112 §2.2: empty lines before a request line are ignored
      while (bytes.startsWith("\r\n", at)) {
        at += 2;
      }
      if (at >= bytes.length()) {
        return out;
      }
      Request request = new Parse(bytes, at).request();
      out.add(request);
      if (!request.valid()) {
        return out;
      }
      at = request.end();
    }
  }

  /** Thrown inside a parse: the request is invalid or incomplete at this point. */
  private static final class Stop extends Exception {
    final Kind kind;

    Stop(Kind kind, String reason) {
      super(reason, null, false, false);
      this.kind = kind;
    }
  }

  private final class Parse {
    private final String bytes;
    private final int start;
    private int at;
    private String method;
    private String target;
    private boolean inHead = true;

    Parse(String bytes, int start) {
      this.bytes = bytes;
      this.start = start;
      this.at = start;
    }

    Request request() {
      try {
        return parseRequest();
      } catch (Stop stop) {
        if (stop.kind == Kind.INVALID && inHead && choices.contains(Choice.WAIT_FOR_HEAD_END) && !headEnded()) {
          return new Request(Kind.INCOMPLETE, "head not ended (" + stop.getMessage() + ")", start, bytes.length(),
              method, target, List.of(), false, "", List.of());
        }
        return new Request(stop.kind, stop.getMessage(), start, at, method, target, List.of(), false, "", List.of());
      }
    }

    /** Whether an empty line (after CRLF or a bare LF) ends a head starting here. */
    private boolean headEnded() {
      String rest = bytes.substring(start);
      return rest.contains("\n\r\n") || rest.contains("\n\n");
    }

    private Request parseRequest() throws Stop {
      requestLine(line());
      List<Field> fields = fieldSection("header");
      inHead = false;
      requireOne(fields, "host");
      String host = fields.stream().filter(f -> f.is("host")).findFirst().orElseThrow().value();
      if (!host.isEmpty() && !HOST.matcher(host).matches()) {
        throw invalid("Host is not uri-host[:port]: '" + host + "'");
      }
      List<String> codings = listElements(fields, "transfer-encoding");
      List<Field> lengths = fields.stream().filter(f -> f.is("content-length")).toList();
      if (!codings.isEmpty() || fields.stream().anyMatch(f -> f.is("transfer-encoding"))) {
        if (!lengths.isEmpty()) {
          throw invalid("Content-Length beside Transfer-Encoding");
        }
        if (choices.contains(Choice.REFUSE_EMPTY_CODING) && hasEmptyElement(fields, "transfer-encoding")) {
          throw invalid("an empty element in Transfer-Encoding");
        }
        if (!codings.equals(List.of("chunked"))) {
          throw invalid("Transfer-Encoding is not exactly chunked: " + codings);
        }
        StringBuilder body = new StringBuilder();
        List<Field> trailers = chunkedBody(body);
        return new Request(Kind.VALID, null, start, at, method, target, fields, true, body.toString(), trailers);
      }
      long length = 0;
      if (!lengths.isEmpty()) {
        if (lengths.size() > 1) {
          throw invalid("several Content-Length fields");
        }
        length = decimal(lengths.get(0).value());
      }
      if (bytes.length() - at < length) {
        at = bytes.length();
        throw new Stop(Kind.INCOMPLETE, "body shorter than Content-Length " + length);
      }
      String body = bytes.substring(at, at + (int) length);
      at += (int) length;
      return new Request(Kind.VALID, null, start, at, method, target, fields, false, body, List.of());
    }

    /** The next line, without its CRLF; a bare CR or bare LF is invalid (RFC 9112 §2.2, strictly). */
    private String line() throws Stop {
      int lf = bytes.indexOf('\n', at);
      int cr = bytes.indexOf('\r', at);
      if (cr >= 0 && (lf < 0 || cr < lf - 1) && cr + 1 < bytes.length()) {
        at = cr;
        throw invalid("bare CR");
      }
      if (lf < 0) {
        at = bytes.length();
        throw new Stop(Kind.INCOMPLETE, "line not ended");
      }
      if (lf == at || bytes.charAt(lf - 1) != '\r') {
        at = lf;
        throw invalid("bare LF");
      }
      String line = bytes.substring(at, lf - 1);
      at = lf + 1;
      return line;
    }

    private void requestLine(String line) throws Stop {
      String[] parts = line.split(" ", -1);
      if (parts.length != 3) {
        throw invalid("request line is not method SP target SP version");
      }
      if (!isToken(parts[0])) {
        throw invalid("method is not a token");
      }
      method = parts[0];
      target = parts[1];
      boolean originForm = target.startsWith("/") && !target.startsWith("//") && target.chars()
          .allMatch(c -> c > 0x20 && c < 0x7f);
      if (!originForm && !(target.equals("*") && method.equals("OPTIONS"))) {
        throw invalid("target is not origin-form");
      }
      if (!parts[2].equals("HTTP/1.1")) {
        throw invalid("version is not HTTP/1.1");
      }
    }

    /** Field lines up to the empty line (RFC 9112 §5): name a token, colon at once, value without CTLs. */
    private List<Field> fieldSection(String what) throws Stop {
      List<Field> fields = new ArrayList<>();
      while (true) {
        String line = line();
        if (line.isEmpty()) {
          return fields;
        }
        if (line.charAt(0) == ' ' || line.charAt(0) == '\t') {
          if (!choices.contains(Choice.UNFOLD_OBS_FOLD) || fields.isEmpty()) {
            throw invalid("obs-fold in a " + what + " field");
          }
          Field folded = fields.remove(fields.size() - 1);
          fields.add(new Field(folded.name(), checkedValue(folded.value() + " " + strip(line), what)));
          continue;
        }
        int colon = line.indexOf(':');
        if (colon < 0 || !isToken(line.substring(0, colon))) {
          throw invalid("a " + what + " line is not name:value with a token name");
        }
        fields.add(new Field(line.substring(0, colon), checkedValue(strip(line.substring(colon + 1)), what)));
      }
    }

    private String checkedValue(String value, String what) throws Stop {
      for (int i = 0; i < value.length(); i++) {
        char c = value.charAt(i);
        if (c < 0x20 && c != '\t' || c == 0x7f) {
          throw invalid("control byte 0x" + Integer.toHexString(c) + " in a " + what + " value");
        }
      }
      return value;
    }

    private void requireOne(List<Field> fields, String name) throws Stop {
      long count = fields.stream().filter(f -> f.is(name)).count();
      if (count != 1) {
        throw invalid(count + " " + name + " fields");
      }
    }

    /** A list-valued field's elements over all its lines, lower-cased, empty elements dropped (RFC 9110 §5.6.1). */
    private List<String> listElements(List<Field> fields, String name) {
      List<String> elements = new ArrayList<>();
      for (Field f : fields) {
        if (f.is(name)) {
          for (String element : f.value().split(",", -1)) {
            String trimmed = strip(element).toLowerCase(Locale.ROOT);
            if (!trimmed.isEmpty()) {
              elements.add(trimmed);
            }
          }
        }
      }
      return elements;
    }

    private boolean hasEmptyElement(List<Field> fields, String name) {
      return fields.stream().filter(f -> f.is(name))
          .anyMatch(f -> Arrays.stream(f.value().split(",", -1)).anyMatch(e -> strip(e).isEmpty()));
    }

    private long decimal(String value) throws Stop {
      if (value.isEmpty() || value.length() > 18 || !value.chars().allMatch(c -> c >= '0' && c <= '9')) {
        throw invalid("Content-Length is not 1*DIGIT: '" + value + "'");
      }
      long length = Long.parseLong(value);
      if (length > maxBodySize) {
        throw invalid("Content-Length over the limit");
      }
      return length;
    }

    /** Chunks up to the last one and the trailer section (RFC 9112 §7.1); returns the trailers. */
    private List<Field> chunkedBody(StringBuilder body) throws Stop {
      while (true) {
        long size = chunkSize(line());
        if (size == 0) {
          return fieldSection("trailer");
        }
        if (body.length() + size > maxBodySize) {
          throw invalid("chunked body over the limit");
        }
        int dataEnd = at + (int) size;
        if (dataEnd > bytes.length()) {
          at = bytes.length();
          throw new Stop(Kind.INCOMPLETE, "chunk data not all sent");
        }
        body.append(bytes, at, dataEnd);
        at = dataEnd;
        if (at < bytes.length() && bytes.charAt(at) != '\r' || at + 1 < bytes.length() && bytes.charAt(at + 1) != '\n') {
          throw invalid("chunk data not followed by CRLF");
        }
        if (at + 2 > bytes.length()) {
          at = bytes.length();
          throw new Stop(Kind.INCOMPLETE, "chunk data's CRLF not sent");
        }
        at += 2;
      }
    }

    /** chunk-size [ chunk-ext ]: hex digits, then nothing or extensions (name[=value] after ';'). */
    private long chunkSize(String line) throws Stop {
      boolean lenient = choices.contains(Choice.LENIENT_CHUNK_SIZE_LINE);
      int from = 0;
      while (lenient && from < line.length() && (line.charAt(from) == ' ' || line.charAt(from) == '\t')) {
        from++;
      }
      int digits = from;
      while (digits < line.length() && Character.digit(line.charAt(digits), 16) >= 0) {
        digits++;
      }
      if (digits == from) {
        throw invalid("chunk size is not hex: '" + line + "'");
      }
      if (digits < line.length() && !(lenient ? ignoredAfterSize(line.charAt(digits))
          : chunkExtensions(line.substring(digits)))) {
        throw invalid("chunk size line has more than hex and extensions: '" + line + "'");
      }
      String hex = line.substring(from, digits).replaceFirst("^0+(?=.)", "");
      if (hex.length() > 15) {
        throw invalid("chunk size overflows: '" + line + "'");
      }
      return Long.parseLong(hex, 16);
    }

    private boolean ignoredAfterSize(char c) {
      return c == ';' || c == ' ' || c < 0x20 || c == 0x7f;
    }

    /** *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val a token (quoted strings are not generated). */
    private boolean chunkExtensions(String text) {
      return text.matches("([ \\t]*;[ \\t]*[!#$%&'*+\\-.^_`|~0-9A-Za-z]+([ \\t]*=[ \\t]*[!#$%&'*+\\-.^_`|~0-9A-Za-z]+)?)+");
    }

    private Stop invalid(String reason) {
      return new Stop(Kind.INVALID, reason);
    }
  }

  static boolean isToken(String text) {
    if (text.isEmpty()) {
      return false;
    }
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
          || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  /** Strips OWS (SP and HTAB only, RFC 9110 §5.6.3), nothing else. */
  static String strip(String text) {
    int from = 0;
    int to = text.length();
    while (from < to && (text.charAt(from) == ' ' || text.charAt(from) == '\t')) {
      from++;
    }
    while (to > from && (text.charAt(to - 1) == ' ' || text.charAt(to - 1) == '\t')) {
      to--;
    }
    return text.substring(from, to);
  }
}
