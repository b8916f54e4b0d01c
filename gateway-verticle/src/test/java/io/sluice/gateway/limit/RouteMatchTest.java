package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Route matching of policies")
class RouteMatchTest {

  private static final RouteMatch LOGIN = RouteMatch.of(List.of("/api/login"), List.of("POST"), List.of());
  private static final RouteMatch ORDERS = RouteMatch.of(List.of("/api/orders/*"), List.of(), List.of());

  private static RequestRoute route(String method, String target, String host) {
    return new RequestRoute(method, RequestRoute.pathReadings(target), RequestRoute.host(host));
  }

  private static boolean login(String target) {
    return LOGIN.matches(route("POST", target, "api.example.com"));
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @ValueSource(strings = {"/api/login", "/api/login?next=/", "/api/login#x", "/api/login/", "/api//login",
      "//api/login", "/API/Login", "/api/x/../login", "/api/./login", "/api/%6Cogin", "/api/%6cogin",
      "/api/login;jsessionid=1", "/api;v=1/login", "/api%2Flogin", "/api%2flogin", "/api\\login", "/api%5Clogin",
      "/api/x%2F..%2Flogin", "/api/%2e%2e/api/login", "/api/x/%2E%2E/login", "/x/../../api/login",
      "/api/login/.", "/api/orders/../login"})
  @DisplayName("an exact path is not escaped by spelling it otherwise")
  void exactPathSpellings(String target) {
    assertTrue(login(target), target);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @ValueSource(strings = {"/api/logins", "/api/login/x", "/api", "/", "*", "/api/logi", "/api/login%2Fx",
      "/api/login/%2e%2e%2Fx/y"})
  @DisplayName("an exact path matches nothing but itself")
  void exactPathOthers(String target) {
    assertFalse(login(target), target);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @ValueSource(strings = {"/api/orders", "/api/orders/", "/api/orders/17", "/api/orders/17/items?x=1",
      "/API/ORDERS/17", "/api/x/../orders/17",
      // an upstream that does not read %2F as a separator, or does not resolve dot segments, serves these as orders
      "/api/orders/17%2F..%2F..%2Fhello", "/api/orders/%2e%2e/hello", "/api/orders/17/%2E%2E/%2E%2E/hello",
      "/api/orders/../hello"})
  @DisplayName("a prefix matches the path itself and everything under it, however spelled")
  void prefixSpellings(String target) {
    assertTrue(ORDERS.matches(route("GET", target, null)), target);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @ValueSource(strings = {"/api/ordersX", "/api/order", "/api/hello", "/api/x/../hello", "/api/orders%2e/x", "/"})
  @DisplayName("a prefix matches neither a sibling sharing its letters nor another path")
  void prefixOthers(String target) {
    assertFalse(ORDERS.matches(route("GET", target, null)), target);
  }

  @Test
  @DisplayName("the prefix /* matches every path, but not the OPTIONS target *")
  void rootPrefix() {
    RouteMatch all = RouteMatch.of(List.of("/*"), List.of(), List.of());
    assertTrue(all.matches(route("GET", "/", null)));
    assertTrue(all.matches(route("GET", "/anything/at/all", null)));
    assertFalse(all.matches(route("OPTIONS", "*", null)));
  }

  @Test
  @DisplayName("methods are case-sensitive, and GET also counts HEAD")
  void methods() {
    assertTrue(login("/api/login"));
    assertFalse(LOGIN.matches(route("GET", "/api/login", null)));
    assertFalse(LOGIN.matches(route("post", "/api/login", null)));
    RouteMatch reads = RouteMatch.of(List.of(), List.of("GET"), List.of());
    assertTrue(reads.matches(route("GET", "/x", null)));
    assertTrue(reads.matches(route("HEAD", "/x", null)));
    assertFalse(reads.matches(route("POST", "/x", null)));
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @CsvSource({"api.example.com, true", "API.Example.COM, true", "api.example.com:8443, true",
      "api.example.com., true", "api.example.com.:80, true", "example.com, false", "api.example.com.evil, false",
      "'', false", "[::1]:8080, true", "[::1], true", "127.0.0.1:80, false"})
  @DisplayName("hosts match without port, in any case, with or without a trailing dot")
  void hosts(String host, boolean matches) {
    RouteMatch match = RouteMatch.of(List.of(), List.of(), List.of("api.example.com", "[::1]"));
    assertEquals(matches, match.matches(route("GET", "/", host)), host);
  }

  @Test
  @DisplayName("a request without Host matches no host list")
  void noHost() {
    RouteMatch match = RouteMatch.of(List.of(), List.of(), List.of("api.example.com"));
    assertFalse(match.matches(route("GET", "/", null)));
    assertTrue(RouteMatch.ANY.matches(route("GET", "/", null)));
  }

  @Test
  @DisplayName("all conditions of a match must hold together")
  void allConditions() {
    RouteMatch match = RouteMatch.of(List.of("/api/login"), List.of("POST"), List.of("api.example.com"));
    assertTrue(match.matches(route("POST", "/api/login", "api.example.com")));
    assertFalse(match.matches(route("POST", "/api/login", "other.example.com")));
    assertFalse(match.matches(route("PUT", "/api/login", "api.example.com")));
    assertFalse(match.matches(route("POST", "/api/logout", "api.example.com")));
  }

  @Test
  @DisplayName("a target that reads only one way gives one reading; an ambiguous one gives both")
  void readings() {
    assertEquals(List.of("/api/login"), RequestRoute.pathReadings("/API//login/?q"));
    assertEquals(List.of("/api/login", "/api/x%2f..%2flogin"), RequestRoute.pathReadings("/api/x%2F..%2Flogin"));
    assertEquals(List.of("/api/login", "/api/x/../login"), RequestRoute.pathReadings("/api/x/../login"));
    assertEquals(List.of(), RequestRoute.pathReadings("*"));
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @ValueSource(strings = {"/", "/api/login", "/api/orders/*", "/*", "/a.b/c~d/@x:y"})
  @DisplayName("path patterns: an exact path or a prefix ending in /*")
  void goodPaths(String path) {
    assertNull(RouteMatch.pathProblem(path), path);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @ValueSource(strings = {"", "api/login", "/api/login/", "/api//login", "/api/*/x", "/api/log*", "/api/login?x=1",
      "/api/%6Cogin", "/api/login;x", "/api/../login", "/api/./login", "*", "/api\\login", "/api/lögin"})
  @DisplayName("path patterns: anything else is refused")
  void badPaths(String path) {
    assertNotNull(RouteMatch.pathProblem(path), path);
  }

  @Test
  @DisplayName("methods and hosts: tokens and host names only; a standard method in lower case is refused")
  void methodAndHostPatterns() {
    assertNull(RouteMatch.methodProblem("POST"));
    assertNull(RouteMatch.methodProblem("PROPFIND"));
    assertTrue(RouteMatch.methodProblem("post").contains("\"POST\""));
    assertNotNull(RouteMatch.methodProblem("PO ST"));
    assertNull(RouteMatch.hostProblem("api.example.com"));
    assertNull(RouteMatch.hostProblem("[2001:db8::1]"));
    assertNull(RouteMatch.hostProblem("10.0.0.1"));
    assertNotNull(RouteMatch.hostProblem("api.example.com:443"));
    assertNotNull(RouteMatch.hostProblem("*.example.com"));
    assertNotNull(RouteMatch.hostProblem("http://api.example.com"));
  }
}
