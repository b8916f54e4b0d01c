package io.sluice.gateway.proxy;

import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The strict point: every request head passes these checks before anything of it goes upstream, so that the gateway
 * and the upstream can never disagree on where a request ends or whom it is for (RFC 9112 §3, §6; RFC 9110 §7.2).
 * A request that fails gets its 4xx/5xx and the connection closes, because the bytes after it can no longer be
 * trusted to start a request.
 *
 * <p>Pure: it reads the decoded head and, for a request in absolute form, rewrites its target to origin form.
 */
public final class RequestCheck {

  /** How the request's body is delimited, once the head has passed. */
  public enum Framing { NONE, FIXED, CHUNKED }

  /** A refusal: the status and the problem document's parts. */
  public record Refusal(int status, String type, String title, String detail) {
  }

  /** What the checks found: a refusal, or the framing and whether the request asks to switch protocols. */
  public record Verdict(Refusal refusal, Framing framing, long length, boolean upgrade, boolean expectsContinue) {

    public boolean passed() {
      return refusal == null;
    }
  }

  /** Methods the gateway forwards; what a 405 names in {@code Allow}. */
  public static final String ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE";

  private final long maxBodySize;
  private final int maxHeaders;

  /** {@code maxBodySize}: bytes, 0 = no limit; {@code maxHeaders}: header fields per request. */
  public RequestCheck(long maxBodySize, int maxHeaders) {
    this.maxBodySize = maxBodySize;
    this.maxHeaders = maxHeaders;
  }

  public long maxBodySize() {
    return maxBodySize;
  }

  public Verdict check(HttpRequest request) {
    DecoderResult decoded = request.decoderResult();
    if (decoded.isFailure()) {
      return refuse(undecodable(decoded.cause()));
    }
    HttpVersion version = request.protocolVersion();
    if (version.majorVersion() != 1 || version.minorVersion() > 1) {
      return refuse(new Refusal(505, "http-version-not-supported", "HTTP Version Not Supported",
          "this gateway speaks HTTP/1.0 and HTTP/1.1, not " + version.text()));
    }
    if (HttpMethod.CONNECT.equals(request.method())) {
      return refuse(new Refusal(405, "method-not-allowed", "Method Not Allowed",
          "CONNECT is not supported: this is a reverse proxy"));
    }
    HttpHeaders headers = request.headers();
    int fields = fieldCount(headers);
    if (fields < 0) {
      return refuse(badRequest("a header field has an empty name"));
    }
    if (fields > maxHeaders) {
      return refuse(new Refusal(431, "headers-too-large", "Request Header Fields Too Large",
          "the request has " + fields + " header fields; at most " + maxHeaders + " are accepted"));
    }
    Refusal target = checkTarget(request);
    if (target != null) {
      return refuse(target);
    }
    Refusal host = checkHost(request);
    if (host != null) {
      return refuse(host);
    }
    Verdict framing = framing(request);
    if (!framing.passed()) {
      return framing;
    }
    String expect = headers.get(HttpHeaderNames.EXPECT);
    boolean expectsContinue = false;
    if (expect != null && version == HttpVersion.HTTP_1_1) {
      if (headers.getAll(HttpHeaderNames.EXPECT).size() > 1 || !expect.trim().equalsIgnoreCase("100-continue")) {
        return refuse(new Refusal(417, "expectation-failed", "Expectation Failed",
            "the only expectation supported is 100-continue, got '" + expect + "'"));
      }
      expectsContinue = true;
    }
    return new Verdict(null, framing.framing(), framing.length(), isUpgrade(request, framing.framing()),
        expectsContinue);
  }

  /**
   * Header fields, each repeated one counted (some maps' {@code size()}, Vert.x's, counts names); -1 if a name is empty
   * (a map that validates names, Netty's, never holds one).
   */
  private static int fieldCount(HttpHeaders headers) {
    if (headers instanceof io.netty.handler.codec.http.DefaultHttpHeaders) {
      return headers.size();
    }
    int fields = 0;
    for (java.util.Iterator<java.util.Map.Entry<CharSequence, CharSequence>> i = headers.iteratorCharSequence();
         i.hasNext(); fields++) {
      if (i.next().getKey().length() == 0) {
        return -1;
      }
    }
    return fields;
  }

  private static Verdict refuse(Refusal refusal) {
    return new Verdict(refusal, Framing.NONE, 0, false, false);
  }

  public static Refusal undecodable(Throwable cause) {
    if (cause instanceof TooLongHttpLineException) {
      return new Refusal(414, "uri-too-long", "URI Too Long", "the request line is too long");
    }
    if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
      return new Refusal(431, "headers-too-large", "Request Header Fields Too Large",
          "the request headers are too large");
    }
    return new Refusal(400, "bad-request", "Bad Request", "the request is not valid HTTP/1.1: " + cause.getMessage());
  }

  public static Refusal badRequest(String detail) {
    return new Refusal(400, "bad-request", "Bad Request", detail);
  }

  public static Refusal tooLarge(long limit) {
    return new Refusal(413, "content-too-large", "Content Too Large",
        "the request body is larger than the gateway accepts (" + limit + " bytes)");
  }

  /**
   * Origin form ({@code /path?query}); {@code *} for OPTIONS only; absolute form ({@code http://host/path}), which is
   * turned into origin form with {@code Host} set from it (RFC 9112 §3.2.2: the target's authority wins).
   */
  private static Refusal checkTarget(HttpRequest request) {
    String uri = request.uri();
    for (int i = 0; i < uri.length(); i++) {
      char c = uri.charAt(i);
      if (c <= 0x20 || c >= 0x7f) {
        return badRequest("the request target contains a control, space or non-ASCII character");
      }
    }
    if (uri.startsWith("/")) {
      return uri.startsWith("//") ? badRequest("the request target must not start with '//'") : null;
    }
    if (uri.equals("*")) {
      return HttpMethod.OPTIONS.equals(request.method()) ? null
          : badRequest("the request target '*' is only allowed with OPTIONS");
    }
    String lower = uri.toLowerCase(Locale.ROOT);
    int authorityStart = lower.startsWith("http://") ? 7 : lower.startsWith("https://") ? 8 : -1;
    if (authorityStart < 0) {
      return badRequest("the request target must be a path starting with '/' (or an absolute http URI), got '"
          + abbreviate(uri) + "'");
    }
    int pathStart = uri.length();
    for (int i = authorityStart; i < uri.length(); i++) {
      char c = uri.charAt(i);
      if (c == '/' || c == '?' || c == '#') {
        pathStart = i;
        break;
      }
    }
    String authority = uri.substring(authorityStart, pathStart);
    if (authority.isEmpty() || authority.indexOf('@') >= 0 || !validHost(authority)) {
      return badRequest("the absolute request target has no valid host: '" + abbreviate(uri) + "'");
    }
    String rest = uri.substring(pathStart);
    if (rest.startsWith("#")) {
      rest = "";
    }
    request.setUri(rest.isEmpty() || rest.startsWith("?") ? "/" + rest : rest);
    request.headers().set("Host", authority);
    return null;
  }

  /** Exactly one Host on HTTP/1.1 (at most one on HTTP/1.0), a valid host[:port] or empty (RFC 9112 §3.2). */
  private static Refusal checkHost(HttpRequest request) {
    List<String> hosts = request.headers().getAll(HttpHeaderNames.HOST);
    if (hosts.size() > 1) {
      return badRequest("the request has " + hosts.size() + " Host header fields; exactly one is allowed");
    }
    if (hosts.isEmpty()) {
      return request.protocolVersion() == HttpVersion.HTTP_1_1
          ? badRequest("an HTTP/1.1 request must carry a Host header field") : null;
    }
    String host = hosts.get(0);
    return host.isEmpty() || validHost(host) ? null : badRequest("the Host header field is not a valid host");
  }

  /** host[:port], where host is a registered name, an IPv4 address or a bracketed IPv6 literal. */
  static boolean validHost(String host) {
    int portStart = host.length();
    if (host.startsWith("[")) {
      int close = host.indexOf(']');
      if (close < 0) {
        return false;
      }
      for (int i = 1; i < close; i++) {
        char c = host.charAt(i);
        if (!(Character.digit(c, 16) >= 0 || c == ':' || c == '.')) {
          return false;
        }
      }
      if (close + 1 < host.length() && host.charAt(close + 1) != ':') {
        return false;
      }
      portStart = close + 1;
    } else {
      int colon = host.indexOf(':');
      if (colon >= 0) {
        portStart = colon;
      }
      if (portStart == 0) {
        return false;
      }
      for (int i = 0; i < portStart; i++) {
        char c = host.charAt(i);
        boolean unreserved = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
            || c == '-' || c == '.' || c == '_' || c == '~';
        if (!unreserved && "!$&'()*+,;=%".indexOf(c) < 0) {
          return false;
        }
      }
    }
    if (portStart < host.length()) {
      String port = host.substring(portStart + 1);
      if (port.length() > 5) {
        return false;
      }
      for (int i = 0; i < port.length(); i++) {
        if (port.charAt(i) < '0' || port.charAt(i) > '9') {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * The body's framing: Transfer-Encoding only as exactly {@code chunked} on HTTP/1.1, never beside Content-Length
   * (the decoder has already refused that pair and differing lengths), one Content-Length field with one value.
   */
  private Verdict framing(HttpRequest request) {
    HttpHeaders headers = request.headers();
    List<String> codings = headers.getAll(HttpHeaderNames.TRANSFER_ENCODING);
    List<String> lengths = headers.getAll(HttpHeaderNames.CONTENT_LENGTH);
    if (!codings.isEmpty()) {
      if (request.protocolVersion() != HttpVersion.HTTP_1_1) {
        return refuse(badRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request"));
      }
      if (!lengths.isEmpty()) {
        return refuse(badRequest("a request must not carry both Content-Length and Transfer-Encoding"));
      }
      List<String> tokens = new ArrayList<>();
      for (String field : codings) {
        for (String token : field.split(",", -1)) {
          String coding = token.trim().toLowerCase(Locale.ROOT);
          if (!coding.isEmpty()) {
            // empty list elements are ignored (RFC 9110 §5.6.1.2)
            tokens.add(coding);
          }
        }
      }
      if (tokens.isEmpty()) {
        return refuse(badRequest("Transfer-Encoding names no coding"));
      }
      String last = tokens.get(tokens.size() - 1);
      if (!last.equals("chunked") || tokens.stream().filter("chunked"::equals).count() > 1
          || tokens.stream().anyMatch(token -> !isToken(token))) {
        return refuse(badRequest("Transfer-Encoding must end in exactly one 'chunked' coding, got '"
            + String.join(", ", codings) + "'"));
      }
      if (tokens.size() > 1) {
        return refuse(new Refusal(501, "not-implemented", "Not Implemented",
            "transfer codings other than chunked are not supported: '" + String.join(", ", codings) + "'"));
      }
      if (codings.size() > 1 || !codings.get(0).equals("chunked")) {
        // the gateway re-frames the body in chunks: the head it forwards says exactly that, in one field and in
        // lower case, so an upstream cannot read the empty elements, a second field or "Chunked" its own way
        // (vertx-http-proxy itself reads only "chunked")
        replaceInPlace(headers, HttpHeaderNames.TRANSFER_ENCODING, "chunked");
      }
      return new Verdict(null, Framing.CHUNKED, -1, false, false);
    }
    if (lengths.isEmpty()) {
      return new Verdict(null, Framing.NONE, 0, false, false);
    }
    if (FramingHeaders.ambiguous(headers) || lengths.size() > 1 || lengths.get(0).indexOf(',') >= 0) {
      return refuse(badRequest("the request has more than one Content-Length value"));
    }
    String value = lengths.get(0).trim();
    long length;
    try {
      length = Long.parseLong(value);
    } catch (NumberFormatException e) {
      return refuse(badRequest("Content-Length is not a number: '" + abbreviate(value) + "'"));
    }
    if (length < 0 || !Character.isDigit(value.charAt(0))) {
      return refuse(badRequest("Content-Length is not a number: '" + abbreviate(value) + "'"));
    }
    if (maxBodySize > 0 && length > maxBodySize) {
      return refuse(tooLarge(maxBodySize));
    }
    return new Verdict(null, length == 0 ? Framing.NONE : Framing.FIXED, length, false, false);
  }

  /** Replaces every {@code name} field by one with {@code value}, where the first of them stood. */
  private static void replaceInPlace(HttpHeaders headers, CharSequence name, String value) {
    List<java.util.Map.Entry<String, String>> fields = headers.entries();
    headers.clear();
    boolean placed = false;
    for (java.util.Map.Entry<String, String> field : fields) {
      if (!io.netty.util.AsciiString.contentEqualsIgnoreCase(field.getKey(), name)) {
        headers.add(field.getKey(), field.getValue());
      } else if (!placed) {
        headers.add(field.getKey(), value);
        placed = true;
      }
    }
  }

  /**
   * Whether the client asks to switch protocols (WebSocket and the like): {@code Upgrade} named in {@code Connection},
   * on an HTTP/1.1 request without a body. An h2c upgrade is not one: HTTP/2 is not spoken here, so it is ignored.
   */
  /**
   * Whether {@code request}, if it passes the checks, asks to switch protocols ({@link Verdict#upgrade}) — and so
   * whether the connection's codec must stop decoding after it: what follows an upgrade request may be another
   * protocol's bytes, but what follows any other request is the next request, or its own body.
   */
  public static boolean asksToSwitch(HttpRequest request) {
    HttpHeaders headers = request.headers();
    String length = headers.get(HttpHeaderNames.CONTENT_LENGTH);
    boolean bodiless = !headers.contains(HttpHeaderNames.TRANSFER_ENCODING)
        && (length == null || length.trim().chars().allMatch(digit -> digit == '0'));
    return isUpgrade(request, bodiless ? Framing.NONE : Framing.FIXED);
  }

  private static boolean isUpgrade(HttpRequest request, Framing framing) {
    HttpHeaders headers = request.headers();
    String upgrade = headers.get(HttpHeaderNames.UPGRADE);
    if (upgrade == null || framing != Framing.NONE || request.protocolVersion() != HttpVersion.HTTP_1_1
        || !headers.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderNames.UPGRADE, true)) {
      return false;
    }
    return !upgrade.trim().equalsIgnoreCase("h2c");
  }

  private static boolean isToken(String token) {
    if (token.isEmpty()) {
      return false;
    }
    for (int i = 0; i < token.length(); i++) {
      char c = token.charAt(i);
      boolean ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private static String abbreviate(String text) {
    return text.length() <= 64 ? text : text.substring(0, 61) + "...";
  }
}
