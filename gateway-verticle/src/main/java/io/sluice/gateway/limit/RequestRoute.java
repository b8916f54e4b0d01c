package io.sluice.gateway.limit;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a policy's {@code match} looks at in a request: its method, its path as the upstream may read it, and its host.
 *
 * <p>A limit on a path must not be escaped by spelling the path another way: {@code /api/x/../login},
 * {@code /API/Login}, {@code /api//login/}, {@code /api/login;jsessionid=1}, {@code /api/%6Cogin} and
 * {@code /api/login?x} all reach the login handler of some upstream. So the path is read the way upstreams read it:
 * without query or fragment, percent-decoded, in lower case, {@code \} as {@code /}, each segment without its
 * {@code ;parameters}, empty segments (a doubled or trailing slash) dropped and dot segments resolved. Upstreams
 * disagree on two points: whether {@code %2F} separates segments, and whether they resolve dot segments at all. Where
 * the target could be read both ways, {@link #paths()} holds both readings (the canonical one first, then the literal
 * one: split on {@code /} only, dots kept, {@code %2F} and {@code %5C} kept inside their segment) and a policy counts
 * the request when either matches. A limit may so count a request its upstream serves elsewhere; it never misses one.
 *
 * <p>The host is the {@code Host} field (an HTTP/2 {@code :authority}, an absolute target's authority: the request
 * checks have put it there) without port, in lower case and without a trailing dot. The method is as sent
 * (methods are case-sensitive, RFC 9110 §9.1).
 */
public record RequestRoute(String method, List<String> paths, String host) {

  /** The route of a request as the limiter sees it. */
  public static RequestRoute of(RequestInfo request) {
    return new RequestRoute(request.method(), pathReadings(request.target()), host(request.host()));
  }

  /** The readings of a request target's path: one, or the canonical and the literal one when they differ. */
  static List<String> pathReadings(String target) {
    if (target == null || !target.startsWith("/")) {
      // "*" (OPTIONS) or nothing: no path any pattern matches
      return List.of();
    }
    String raw = withoutQuery(target);
    String canonical = canonicalPath(raw);
    if (!mayReadOtherwise(raw)) {
      return List.of(canonical);
    }
    String literal = literalPath(raw);
    return literal.equals(canonical) ? List.of(canonical) : List.of(canonical, literal);
  }

  /** Only an escape, a dot segment or a backslash can make the two readings differ. */
  private static boolean mayReadOtherwise(String raw) {
    return raw.indexOf('%') >= 0 || raw.indexOf('\\') >= 0 || raw.contains("/.");
  }

  private static String withoutQuery(String target) {
    for (int i = 0; i < target.length(); i++) {
      char c = target.charAt(i);
      if (c == '?' || c == '#') {
        return target.substring(0, i);
      }
    }
    return target;
  }

  /**
   * Decoded, lower case, {@code \} as {@code /}, then segments without parameters, empty ones dropped, dot segments
   * resolved. Decoded bytes are kept one per char (ISO-8859-1): patterns are ASCII, so nothing else needs decoding.
   */
  static String canonicalPath(String raw) {
    StringBuilder decoded = new StringBuilder(raw.length());
    for (int i = 0; i < raw.length(); i++) {
      int c = raw.charAt(i);
      if (c == '%' && i + 2 < raw.length() && hex(raw.charAt(i + 1)) >= 0 && hex(raw.charAt(i + 2)) >= 0) {
        c = hex(raw.charAt(i + 1)) * 16 + hex(raw.charAt(i + 2));
        i += 2;
      }
      decoded.append(c == '\\' ? '/' : lower((char) c));
    }
    return joined(segments(decoded.toString(), true));
  }

  /** Split on a literal {@code /} only, dots kept; each segment decoded but for {@code %2F} and {@code %5C}. */
  static String literalPath(String raw) {
    List<String> decoded = new ArrayList<>();
    for (String segment : segments(raw, false)) {
      StringBuilder out = new StringBuilder(segment.length());
      for (int i = 0; i < segment.length(); i++) {
        int c = segment.charAt(i);
        if (c == '%' && i + 2 < segment.length() && hex(segment.charAt(i + 1)) >= 0
            && hex(segment.charAt(i + 2)) >= 0) {
          int b = hex(segment.charAt(i + 1)) * 16 + hex(segment.charAt(i + 2));
          if (b == '/' || b == '\\') {
            out.append(segment, i, i + 3);
          } else {
            out.append((char) b);
          }
          i += 2;
        } else {
          out.append((char) c);
        }
      }
      decoded.add(out.toString().toLowerCase(Locale.ROOT));
    }
    return joined(decoded);
  }

  /** The non-empty segments of {@code path}, each cut at its first {@code ;}; dot segments resolved if asked. */
  private static List<String> segments(String path, boolean resolveDots) {
    List<String> segments = new ArrayList<>();
    int start = 0;
    while (start <= path.length()) {
      int end = path.indexOf('/', start);
      if (end < 0) {
        end = path.length();
      }
      String segment = path.substring(start, end);
      int parameters = segment.indexOf(';');
      if (parameters >= 0) {
        segment = segment.substring(0, parameters);
      }
      if (resolveDots && segment.equals("..")) {
        if (!segments.isEmpty()) {
          segments.remove(segments.size() - 1);
        }
      } else if (!segment.isEmpty() && !(resolveDots && segment.equals("."))) {
        segments.add(segment);
      }
      start = end + 1;
    }
    return segments;
  }

  private static String joined(List<String> segments) {
    return segments.isEmpty() ? "/" : "/" + String.join("/", segments);
  }

  /** The host of a {@code Host} value, as {@link RouteMatch} compares it; null when there is none. */
  static String host(String field) {
    if (field == null || field.isBlank()) {
      return null;
    }
    String host = field.trim();
    if (host.startsWith("[")) {
      int close = host.indexOf(']');
      host = close < 0 ? host : host.substring(0, close + 1);
    } else {
      int colon = host.indexOf(':');
      host = colon < 0 ? host : host.substring(0, colon);
    }
    host = host.toLowerCase(Locale.ROOT);
    return host.endsWith(".") ? host.substring(0, host.length() - 1) : host;
  }

  private static char lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
  }

  private static int hex(char c) {
    return Character.digit(c, 16);
  }
}
