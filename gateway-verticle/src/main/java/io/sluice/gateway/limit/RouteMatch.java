package io.sluice.gateway.limit;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Which requests a policy counts ({@code "match"} in its configuration): paths, methods and hosts, each optional (an
 * empty set matches everything). Built once at load: exact paths in a hash set, prefixes in a short sorted array, so
 * a request costs a few lookups and no regular expression.
 *
 * <p>A path is exact ({@code /api/login}) or a prefix ({@code /api/orders/*}: {@code /api/orders} itself and every
 * path under it, not {@code /api/ordersX}); both are compared with the readings of {@link RequestRoute}, in lower
 * case. A method is compared as written (RFC 9110 §9.1), except that {@code GET} also matches {@code HEAD}: servers
 * answer HEAD by running GET, so a GET limit must not be escaped with HEAD. A host is compared without port, in lower
 * case.
 */
public record RouteMatch(Set<String> exactPaths, List<String> prefixes, Set<String> methods, Set<String> hosts) {

  /** No conditions: the policy counts every request. */
  public static final RouteMatch ANY = new RouteMatch(Set.of(), List.of(), Set.of(), Set.of());

  /** What a path pattern may hold besides a final {@code /*}: RFC 3986 path characters, unescaped, no {@code ;}. */
  private static final Pattern PATH_PATTERN = Pattern.compile("(/[A-Za-z0-9._~!$&'()+,=:@-]+)+|/");
  /** An RFC 9110 token, what a method is. */
  private static final Pattern METHOD = Pattern.compile("[A-Za-z0-9!#$%&'*+.^_`|~-]+");
  /** A registered name or IPv4 address, or a bracketed IPv6 literal; no port. */
  private static final Pattern HOST = Pattern.compile("[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+]");
  private static final Set<String> STANDARD_METHODS =
      Set.of("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH");
  private static final String PREFIX_SUFFIX = "/*";

  public RouteMatch {
    exactPaths = Set.copyOf(exactPaths);
    prefixes = prefixes.stream().sorted().toList();
    methods = Set.copyOf(methods);
    hosts = Set.copyOf(hosts);
  }

  /**
   * From checked patterns (see {@link #pathProblem}, {@link #methodProblem}, {@link #hostProblem}); {@code GET}
   * brings {@code HEAD} with it.
   */
  public static RouteMatch of(Collection<String> paths, Collection<String> methods, Collection<String> hosts) {
    Set<String> exact = new HashSet<>();
    List<String> prefixes = new ArrayList<>();
    for (String path : paths) {
      String lower = path.toLowerCase(Locale.ROOT);
      if (lower.endsWith(PREFIX_SUFFIX)) {
        prefixes.add(lower.substring(0, lower.length() - PREFIX_SUFFIX.length()));
      } else {
        exact.add(lower);
      }
    }
    Set<String> allMethods = new HashSet<>(methods);
    if (allMethods.contains("GET")) {
      allMethods.add("HEAD");
    }
    Set<String> lowerHosts = new HashSet<>();
    for (String host : hosts) {
      lowerHosts.add(host.toLowerCase(Locale.ROOT));
    }
    return new RouteMatch(exact, prefixes, allMethods, lowerHosts);
  }

  /** Whether this match has no conditions at all. */
  public boolean any() {
    return exactPaths.isEmpty() && prefixes.isEmpty() && methods.isEmpty() && hosts.isEmpty();
  }

  public boolean matches(RequestRoute route) {
    return (methods.isEmpty() || methods.contains(route.method()))
        && (hosts.isEmpty() || route.host() != null && hosts.contains(route.host()))
        && (exactPaths.isEmpty() && prefixes.isEmpty() || matchesAnyPath(route.paths()));
  }

  private boolean matchesAnyPath(List<String> readings) {
    for (String path : readings) {
      if (exactPaths.contains(path)) {
        return true;
      }
      for (String prefix : prefixes) {
        if (path.startsWith(prefix)
            && (path.length() == prefix.length() || path.charAt(prefix.length()) == '/' || prefix.isEmpty())) {
          return true;
        }
      }
    }
    return false;
  }

  /** Why {@code path} is not a path pattern, or null when it is one. */
  public static String pathProblem(String path) {
    String body = path.endsWith(PREFIX_SUFFIX) ? path.substring(0, path.length() - PREFIX_SUFFIX.length()) : path;
    if (body.isEmpty() && path.equals(PREFIX_SUFFIX)) {
      return null;
    }
    if (body.length() > 1 && body.endsWith("/")) {
      return "must not end in '/' (a path matches with or without its trailing slash)";
    }
    if (!PATH_PATTERN.matcher(body).matches()) {
      return "must be a path like \"/api/login\" or a prefix like \"/api/orders/*\": '/' then segments of letters, "
          + "digits and -._~!$&'()+,=:@ (no query, no escapes, no ';', no empty segment, '*' only as a last segment)";
    }
    for (String segment : body.split("/")) {
      if (segment.equals(".") || segment.equals("..")) {
        return "must not hold '.' or '..' segments (requests are matched with theirs resolved)";
      }
    }
    return null;
  }

  /** Why {@code method} is not a method to match, or null when it is one. */
  public static String methodProblem(String method) {
    if (!METHOD.matcher(method).matches()) {
      return "must be an HTTP method like \"POST\" (a token)";
    }
    String upper = method.toUpperCase(Locale.ROOT);
    if (!method.equals(upper) && STANDARD_METHODS.contains(upper)) {
      return "must be written \"" + upper + "\": methods are case-sensitive (RFC 9110 §9.1)";
    }
    return null;
  }

  /** Why {@code host} is not a host to match, or null when it is one. */
  public static String hostProblem(String host) {
    return HOST.matcher(host).matches() ? null
        : "must be a host name or address without port, like \"api.example.com\" (matched in any case, on any port)";
  }
}
