package io.sluice.gateway.config;

import io.sluice.gateway.limit.KeySource;
import io.sluice.gateway.limit.OnStoreFailure;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RouteMatch;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("The gateway configuration")
class ConfigLoaderTest {

  private static final String DEFAULTS_SOURCE = "defaults (" + ConfigLoader.DEFAULTS_RESOURCE + ")";
  /** PEM files made for these tests with openssl (valid for 100 years; expired-cert.pem ran out in 2021). */
  private static final String TLS_FIXTURES = "src/test/resources/config/tls/";

  private final Map<String, String> env = new HashMap<>();
  private final Properties props = new Properties();

  private GatewayConfig parse(JsonObject conf, String source) {
    return new ConfigLoader(env, props).parse(defaults(), conf, source);
  }

  private GatewayConfig parseFixture(String fixture) {
    return parse(fixture(fixture), fixture);
  }

  private ConfigException rejection(JsonObject conf, String source) {
    return assertThrows(ConfigException.class, () -> parse(conf, source));
  }

  private static JsonObject defaults() {
    return new JsonObject(resource("/" + ConfigLoader.DEFAULTS_RESOURCE));
  }

  private static JsonObject fixture(String name) {
    return new JsonObject(resource("/config/" + name));
  }

  private static String resource(String path) {
    try (InputStream in = ConfigLoaderTest.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalStateException("missing test resource " + path);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String tlsSubject(GatewayConfig config) {
    return config.httpTls().orElseThrow().chain().get(0).getSubjectX500Principal().getName();
  }

  private static void assertOneLine(String message) {
    assertFalse(message.contains("\n") || message.contains("\r"), () -> "not one line: " + message);
  }

  /** Asserts the documented shape {@code <source>: key '<key>' <what was expected>, got <value>}. */
  private static void assertNames(ConfigException e, String source, String key) {
    String message = e.getMessage();
    assertOneLine(message);
    assertTrue(message.startsWith(source + ": key '" + key + "' "),
        () -> "expected to start with [" + source + ": key '" + key + "' ] but was: " + message);
  }

  @Nested
  @DisplayName("read from the shipped defaults and valid files")
  class Valid {

    @Test
    @DisplayName("the defaults in conf/gateway.json alone make a valid configuration")
    void defaultsAloneAreValid() {
      GatewayConfig config = parse(new JsonObject(), "-conf JSON");

      assertAll(
          () -> assertEquals(new GatewayConfig.Endpoint("0.0.0.0", 8080), config.http()),
          () -> assertEquals(new GatewayConfig.Endpoint("0.0.0.0", 9090), config.management()),
          () -> assertEquals(List.of(URI.create("http://127.0.0.1:8000")), config.upstreams()),
          () -> assertEquals(5_000, config.upstreamTimeoutMillis()),
          () -> assertEquals(5_000, config.shutdownGraceMillis()),
          () -> assertEquals(60_000, config.clientIdleTimeoutMillis()),
          () -> assertEquals(new GatewayConfig.Limiter("sluice.limits", 1_000_000, OnStoreFailure.LOCAL, 50), config.limiter()),
          () -> assertEquals(new GatewayConfig.HttpLimits(10L * 1024 * 1024, 8192, 16384, 100, 10_000),
              config.httpLimits()),
          () -> assertEquals(Optional.empty(), config.httpTls(), "the proxy port speaks plain HTTP by default"),
          () -> assertEquals(GatewayConfig.Engine.VERTX, config.engine(), "vertx-http-proxy serves by default"),
          () -> assertEquals(false, config.h2c(), "no clear-text HTTP/2 by default"),
          () -> assertEquals(List.of(
              new Policy("global", new KeySource.Global(), new WindowSpec(10, 1_000), Policy.OnExceed.REJECT, 0,
                  Policy.OnMissingKey.REJECT),
              new Policy("per-token", new KeySource.Header("X-Api-Key"), new WindowSpec(5, 1_000),
                  Policy.OnExceed.DELAY, 2_000, Policy.OnMissingKey.REJECT)), config.policies()));
    }

    @Test
    @DisplayName("a file that sets every key is read into typed values, with per-policy defaults filled in")
    void everyKeyIsRead() {
      GatewayConfig config = parseFixture("valid-full.json");

      assertAll(
          () -> assertEquals(new GatewayConfig.Endpoint("127.0.0.1", 18080), config.http()),
          () -> assertEquals(new GatewayConfig.Endpoint("127.0.0.2", 19090), config.management()),
          () -> assertEquals(List.of(URI.create("http://127.0.0.1:18000"), URI.create("https://api.internal:8443/")),
              config.upstreams()),
          () -> assertEquals(750, config.upstreamTimeoutMillis()),
          () -> assertEquals(0, config.shutdownGraceMillis(), "a zero grace period is allowed"),
          () -> assertEquals(15_000, config.clientIdleTimeoutMillis()),
          () -> assertEquals(new GatewayConfig.Limiter("limits.test", 5_000, OnStoreFailure.CLOSED, 200, false, 30),
              config.limiter()),
          () -> assertEquals(new GatewayConfig.HttpLimits(0, 4096, 32768, 50, 250), config.httpLimits(),
              "a body size of 0 means no limit; sizes may be written with units"),
          () -> assertEquals("CN=other.localhost", tlsSubject(config), "an EC certificate and its key"),
          () -> assertEquals("EC", config.httpTls().orElseThrow().key().getAlgorithm()),
          () -> assertEquals(List.of(
              new Policy("global", new KeySource.Global(), new WindowSpec(100, 60_000, false, 30), Policy.OnExceed.REJECT, 0,
                  Policy.OnMissingKey.REJECT),
              new Policy("per-token", new KeySource.Bearer(), new WindowSpec(10, 1_000, false, 30), Policy.OnExceed.DELAY, 500,
                  Policy.OnMissingKey.IP),
              new Policy("per-ip", new KeySource.ClientIp(), new WindowSpec(50, 3_600_000, false, 30), Policy.OnExceed.DELAY,
                  3_600_000, Policy.OnMissingKey.REJECT),
              new Policy("per-key", new KeySource.Header("X-Api-Key"), new WindowSpec(1, 250, false, 30),
                  Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.SKIP)), config.policies()));
    }

    @Test
    @DisplayName("conf/routes.example.json: a global limit, a per-user slow-down on /api/*, a login limit and a "
        + "shadow trial, each with its match and mode")
    void routesExample() throws IOException {
      JsonObject example = new JsonObject(java.nio.file.Files.readString(
          java.nio.file.Path.of("../conf/routes.example.json")));
      GatewayConfig config = parse(example, "conf/routes.example.json");

      assertEquals(List.of(
          new Policy("global", new KeySource.Global(), new WindowSpec(10, 1_000), Policy.OnExceed.REJECT, 0,
              Policy.OnMissingKey.REJECT),
          new Policy("per-user", new KeySource.Header("X-Api-Key"), new WindowSpec(5, 1_000), Policy.OnExceed.DELAY,
              2_000, Policy.OnMissingKey.REJECT, RouteMatch.of(List.of("/api/*"), List.of(), List.of()),
              Policy.Mode.ENFORCE),
          new Policy("login", new KeySource.ClientIp(), new WindowSpec(5, 60_000), Policy.OnExceed.REJECT, 0,
              Policy.OnMissingKey.REJECT, RouteMatch.of(List.of("/api/login"), List.of("POST"), List.of()),
              Policy.Mode.ENFORCE),
          new Policy("orders-trial", new KeySource.Header("X-Api-Key"), new WindowSpec(2, 1_000),
              Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.SKIP,
              RouteMatch.of(List.of("/api/orders/*"), List.of(), List.of("api.example.com")), Policy.Mode.SHADOW)),
          config.policies());
      assertEquals(Set.of("/api"), Set.copyOf(config.policies().get(1).match().prefixes()),
          "a prefix is kept without its /*");
    }

    @Test
    @DisplayName("a -conf file replaces the policy list as a whole but merges objects key by key")
    void confMergesObjectsAndReplacesArrays() {
      GatewayConfig config = parse(new JsonObject()
          .put("http", new JsonObject().put("port", 1234))
          .put("policies", new JsonArray()), "partial.json");

      assertAll(
          () -> assertEquals(new GatewayConfig.Endpoint("0.0.0.0", 1234), config.http()),
          () -> assertEquals(List.of(), config.policies(), "an empty policy list is allowed"));
    }

    @Test
    @DisplayName("a value that is invalid in -conf is fine when a later layer corrects it")
    void laterLayerCorrectsEarlier() {
      env.put("SLUICE_HTTP_PORT", "8081");

      GatewayConfig config = parse(new JsonObject().put("http", new JsonObject().put("port", "eighty")), "conf.json");

      assertEquals(8081, config.http().port());
    }
  }

  @Nested
  @DisplayName("rejects a bad file with one line naming the file and the key")
  class BadFiles {

    @ParameterizedTest(name = "{0} → key {1}")
    @DisplayName("one fixture per failure mode")
    @CsvSource(delimiter = '|', textBlock = """
        unknown-key.json                | policies[1].limit        | is not a known key
        bad-duration.json               | policies[1].window       | positive duration
        zero-window.json                | policies[0].window       | positive duration
        negative-limit.json             | policies[0].requests     | integer from 1
        fractional-limit.json           | policies[0].requests     | integer from 1
        missing-window.json             | policies[1].window       | got nothing
        unknown-action.json             | policies[0].onExceed     | "reject" or "delay"
        unknown-missing-key-action.json | policies[0].onMissingKey | "reject" or "skip" or "ip"
        bad-port.json                   | management.port          | integer from 0 to 65535
        same-ports.json                 | management.port          | must differ from http.port
        bad-upstream.json               | upstreams[1]             | http(s) URL
        upstream-with-path.json         | upstreams[0]             | no path
        empty-upstreams.json            | upstreams                | non-empty array
        duplicate-policy.json           | policies[2].name         | unique
        bad-policy-name.json            | policies[0].name         | letters, digits
        maxdelay-without-delay.json     | policies[0].maxDelay     | only with "onExceed": "delay"
        bad-key-source.json             | policies[0].key          | global, bearer, ip or header:NAME
        bad-header-name.json            | policies[0].key          | a header field name
        bad-limiter.json                | limiter.maxKeys          | integer from 1
        bad-transit-allowance.json      | limiter.transitAllowance | at most 1s
        bad-on-store-failure.json       | limiter.onStoreFailure   | "local" or "closed" or "open"
        zero-store-timeout.json         | limiter.storeTimeout     | positive duration
        long-store-timeout.json         | limiter.storeTimeout     | at most 1s
        bad-batch.json                  | limiter.batch            | must be true or false
        bad-shutdown-grace.json         | shutdownGrace            | duration
        zero-client-idle-timeout.json   | clientIdleTimeout        | positive duration
        missing-upstream-trust.json     | upstreamTrust            | readable PEM file
        empty-upstream-trust.json       | upstreamTrust            | it holds none
        bad-max-body-size.json          | http.maxBodySize         | like "512KiB", "10MiB" or "1GiB"
        fractional-max-body-size.json   | http.maxBodySize         | like "512KiB", "10MiB" or "1GiB"
        small-max-request-line.json     | http.maxRequestLine      | from 256 to 1048576 bytes
        small-max-header-size.json      | http.maxHeaderSize       | from 1024 to 1048576 bytes
        zero-max-connections.json       | http.maxConnections      | integer from 1 to 1000000
        zero-max-headers.json           | http.maxHeaders          | integer from 1 to 10000
        management-max-headers.json     | management.maxHeaders    | is not a known key
        unknown-engine.json             | proxy.engine             | "netty" or "vertx"
        h2c-on-netty.json               | proxy.h2c                | may be true only with proxy.engine "vertx"
        bad-h2c.json                    | proxy.h2c                | must be true or false
        bad-access-log.json             | accessLog                | "off" or "common" or "json"
        short-admin-token.json          | management.adminToken    | at least 16 printable ASCII characters
        tls-cert-without-key.json       | http.tls.key             | must be set too when http.tls.cert is
        tls-key-without-cert.json       | http.tls.cert            | must be set too when http.tls.key is
        tls-missing-cert-file.json      | http.tls.cert            | readable PEM file of the server's certificate chain (NoSuchFileException
        tls-missing-key-file.json       | http.tls.key             | PKCS#8 RSA or EC private key (NoSuchFileException
        tls-garbage-cert.json           | http.tls.cert            | (CertificateException
        tls-key-as-cert.json            | http.tls.cert            | no PEM block BEGIN CERTIFICATE
        tls-cert-as-key.json            | http.tls.key             | it holds no PEM block BEGIN PRIVATE KEY
        tls-pkcs1-key.json              | http.tls.key             | it holds a RSA PRIVATE KEY; convert it with: openssl pkcs8 -topk8 -nocrypt -in
        tls-key-of-another-cert.json    | http.tls.key             | must be the private key of the first certificate in http.tls.cert (CN=localhost), and is not
        tls-expired-cert.json           | http.tls.cert            | valid now, but CN=localhost is valid from 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z
        tls-unknown-key.json            | http.tls.password        | is not a known key
        bad-match-path.json             | policies[0].match.paths[1] | must be a path like "/api/login" or a prefix like "/api/orders/*"
        match-path-trailing-slash.json  | policies[0].match.paths[0] | must not end in '/'
        match-path-dot-segment.json     | policies[0].match.paths[0] | must not hold '.' or '..' segments
        match-path-inner-star.json      | policies[0].match.paths[0] | '*' only as a last segment
        lower-case-match-method.json    | policies[0].match.methods[0] | must be written "POST": methods are case-sensitive
        bad-match-method.json           | policies[0].match.methods[1] | must be an HTTP method
        match-host-with-port.json       | policies[1].match.hosts[0] | without port
        empty-match-paths.json          | policies[0].match.paths  | non-empty array of strings
        match-paths-not-strings.json    | policies[0].match.paths[1] | must be a string
        unknown-match-key.json          | policies[0].match.path   | is not a known key
        match-not-object.json           | policies[0].match        | must be an object with keys paths, methods and/or hosts
        bad-mode.json                   | policies[0].mode         | "enforce" or "shadow"
        """)
    void badFixtureIsRejected(String fixture, String key, String expectation) {
      ConfigException e = assertThrows(ConfigException.class, () -> parseFixture(fixture));

      assertNames(e, fixture, key);
      assertTrue(e.getMessage().contains(expectation), () -> "should say what was expected: " + e.getMessage());
    }

    @Test
    @DisplayName("the message shows the offending value")
    void messageShowsValue() {
      ConfigException e = assertThrows(ConfigException.class, () -> parseFixture("bad-duration.json"));

      assertTrue(e.getMessage().endsWith("got \"2 weeks\""), e::getMessage);
    }
  }

  @Nested
  @DisplayName("layers defaults < -conf < environment < system properties")
  class Precedence {

    /**
     * Key; its value in -conf (JSON) and as read back; in the environment and as read back; as a system property and
     * as read back; how to read it back.
     */
    static Stream<Arguments> layers() {
      return Stream.of(
          layer("http.host", "\"10.0.0.1\"", "10.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3",
              c -> c.http().host()),
          layer("http.port", "1111", "1111", "2222", "2222", "3333", "3333", c -> String.valueOf(c.http().port())),
          layer("management.host", "\"10.0.0.1\"", "10.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3",
              c -> c.management().host()),
          layer("management.port", "4441", "4441", "4442", "4442", "4443", "4443",
              c -> String.valueOf(c.management().port())),
          layer("upstreams", "[\"http://conf:1\"]", "[http://conf:1]",
              "http://env:2, http://env:3,", "[http://env:2, http://env:3]",
              "[\"http://prop:4\"]", "[http://prop:4]", c -> c.upstreams().toString()),
          layer("upstreamTimeout", "\"1s\"", "1000", "2s", "2000", "3m", "180000",
              c -> String.valueOf(c.upstreamTimeoutMillis())),
          layer("shutdownGrace", "\"0ms\"", "0", "4s", "4000", "1h", "3600000",
              c -> String.valueOf(c.shutdownGraceMillis())),
          layer("clientIdleTimeout", "\"5s\"", "5000", "6s", "6000", "2m", "120000",
              c -> String.valueOf(c.clientIdleTimeoutMillis())),
          layer("limiter.mapName", "\"conf\"", "conf", "env", "env", "prop", "prop", c -> c.limiter().mapName()),
          layer("limiter.maxKeys", "10", "10", "20", "20", "30", "30", c -> String.valueOf(c.limiter().maxKeys())),
          layer("limiter.transitAllowance", "\"5ms\"", "5", "0ms", "0", "40ms", "40",
              c -> String.valueOf(c.policies().get(0).window().transitMillis())),
          layer("limiter.onStoreFailure", "\"closed\"", "CLOSED", "open", "OPEN", "local", "LOCAL",
              c -> c.limiter().onStoreFailure().name()),
          layer("limiter.storeTimeout", "\"20ms\"", "20", "100ms", "100", "1s", "1000",
              c -> String.valueOf(c.limiter().storeTimeoutMillis())),
          layer("limiter.batch", "true", "true", "false", "false", "true", "true",
              c -> String.valueOf(c.limiter().batch())),
          layer("http.maxBodySize", "\"1MiB\"", "1048576", "2048", "2048", "1GiB", "1073741824",
              c -> String.valueOf(c.httpLimits().maxBodySize())),
          layer("http.maxRequestLine", "4096", "4096", "2048", "2048", "16KiB", "16384",
              c -> String.valueOf(c.httpLimits().maxRequestLine())),
          layer("http.maxHeaderSize", "\"8KiB\"", "8192", "32768", "32768", "64KiB", "65536",
              c -> String.valueOf(c.httpLimits().maxHeaderSize())),
          layer("http.maxHeaders", "50", "50", "60", "60", "70", "70", c -> String.valueOf(c.httpLimits().maxHeaders())),
          layer("warmup.path", "\"/a\"", "/a", "/b", "/b", "/c", "/c", c -> c.warmup().path()),
          layer("warmup.requests", "1", "1", "2", "2", "3", "3", c -> String.valueOf(c.warmup().requests())),
          layer("proxy.engine", "\"netty\"", "netty", "vertx", "vertx", "netty", "netty",
              c -> c.engine().name().toLowerCase(java.util.Locale.ROOT)),
          layer("proxy.h2c", "true", "true", "false", "false", "true", "true", c -> String.valueOf(c.h2c())),
          layer("vertxMetrics", "false", "false", "true", "true", "false", "false",
              c -> String.valueOf(c.vertxMetrics())),
          layer("accessLog", "\"json\"", "JSON", "common", "COMMON", "off", "OFF", c -> c.accessLog().name()),
          layer("policies", policiesJson("conf"), "conf", policiesJson("env"), "env", policiesJson("prop"), "prop",
              c -> c.policies().get(0).name()));
    }

    private static Arguments layer(String key, String confJson, String confRead, String envValue, String envRead,
                                   String propValue, String propRead, Function<GatewayConfig, String> read) {
      return Arguments.of(key, confJson, confRead, envValue, envRead, propValue, propRead, read);
    }

    private static String policiesJson(String name) {
      return "[{\"name\": \"" + name + "\", \"key\": \"global\", \"requests\": 7, \"window\": \"3s\"}]";
    }

    /** {@code {"a": {"b": json}}} for key {@code a.b}. */
    private static JsonObject confWith(String key, String json) {
      String[] parts = key.split("\\.");
      String wrapped = json;
      for (int i = parts.length - 1; i >= 0; i--) {
        wrapped = "{\"" + parts[i] + "\": " + wrapped + "}";
      }
      return new JsonObject(wrapped);
    }

    private static String variableFor(String key) {
      return ConfigLoader.ENVIRONMENT.entrySet().stream()
          .filter(entry -> entry.getValue().equals(key))
          .map(Map.Entry::getKey)
          .findFirst()
          .orElseThrow(() -> new AssertionError("no environment variable for key " + key));
    }

    @ParameterizedTest(name = "{0}")
    @DisplayName("each key: -conf beats the defaults, the environment beats -conf, a system property beats both")
    @MethodSource("layers")
    void eachLayerOverridesTheOneBelow(String key, String confJson, String confRead, String envValue, String envRead,
                                       String propValue, String propRead, Function<GatewayConfig, String> read) {
      String fromDefaults = read.apply(parse(new JsonObject(), "-conf JSON"));
      JsonObject conf = confWith(key, confJson);
      String fromConf = read.apply(parse(conf, "conf.json"));
      env.put(variableFor(key), envValue);
      String fromEnv = read.apply(parse(conf, "conf.json"));
      props.setProperty("sluice." + key, propValue);
      String fromProps = read.apply(parse(conf, "conf.json"));

      assertAll(
          () -> assertFalse(confRead.equals(fromDefaults), "the test value must differ from the default"),
          () -> assertEquals(confRead, fromConf, "-conf over the defaults"),
          () -> assertEquals(envRead, fromEnv, "environment variable " + variableFor(key) + " over -conf"),
          () -> assertEquals(propRead, fromProps, "system property sluice." + key + " over the environment"));
    }

    @Test
    @DisplayName("http.tls.cert and http.tls.key: the environment beats -conf, system properties beat both")
    void tlsPairFromEveryLayer() {
      JsonObject conf = new JsonObject().put("http", new JsonObject().put("tls", new JsonObject()
          .put("cert", TLS_FIXTURES + "cert.pem").put("key", TLS_FIXTURES + "key.pem")));
      assertEquals("CN=localhost", tlsSubject(parse(conf, "conf.json")));

      env.put("SLUICE_HTTP_TLS_CERT", TLS_FIXTURES + "other-cert.pem");
      env.put("SLUICE_HTTP_TLS_KEY", TLS_FIXTURES + "other-key.pem");
      assertEquals("CN=other.localhost", tlsSubject(parse(conf, "conf.json")));

      props.setProperty("sluice.http.tls.cert", TLS_FIXTURES + "cert.pem");
      props.setProperty("sluice.http.tls.key", TLS_FIXTURES + "key.pem");
      assertEquals("CN=localhost", tlsSubject(parse(conf, "conf.json")));
    }

    @Test
    @DisplayName("SLUICE_UPSTREAMS takes a comma-separated list as well as a JSON array")
    void upstreamsListOrArray() {
      env.put("SLUICE_UPSTREAMS", " http://127.0.0.1:8001 ,http://127.0.0.1:8002");
      assertEquals(List.of(URI.create("http://127.0.0.1:8001"), URI.create("http://127.0.0.1:8002")),
          parse(new JsonObject(), "-conf JSON").upstreams());

      env.put("SLUICE_UPSTREAMS", "[\"http://127.0.0.1:8003\"]");
      assertEquals(List.of(URI.create("http://127.0.0.1:8003")), parse(new JsonObject(), "-conf JSON").upstreams());
    }

    @Test
    @DisplayName("SLUICE_POLICIES replaces every policy of the files with its JSON array")
    void policiesFromEnvironment() {
      env.put("SLUICE_POLICIES",
          "[{\"name\": \"only\", \"key\": \"global\", \"requests\": 5, \"window\": \"2s\", \"onExceed\": \"reject\"}]");

      assertEquals(List.of(new Policy("only", new KeySource.Global(), new WindowSpec(5, 2_000, false, 30),
              Policy.OnExceed.REJECT, 0, Policy.OnMissingKey.REJECT)),
          parseFixture("valid-full.json").policies(), "with the file's transit allowance");
    }
  }

  @Nested
  @DisplayName("names the environment variable or system property a bad value came from")
  class BadOverrides {

    @Test
    @DisplayName("a port that is not a number names environment variable SLUICE_HTTP_PORT")
    void badPortInEnvironment() {
      env.put("SLUICE_HTTP_PORT", "eighty");

      assertNames(rejection(new JsonObject(), "-conf JSON"), "environment variable SLUICE_HTTP_PORT", "http.port");
    }

    @Test
    @DisplayName("a port out of range names environment variable SLUICE_MANAGEMENT_PORT")
    void portOutOfRangeInEnvironment() {
      env.put("SLUICE_MANAGEMENT_PORT", "65536");

      assertNames(rejection(fixture("valid-full.json"), "valid-full.json"),
          "environment variable SLUICE_MANAGEMENT_PORT", "management.port");
    }

    @Test
    @DisplayName("a management port equal to the proxy port names the variable that set it")
    void clashingPortsInEnvironment() {
      env.put("SLUICE_MANAGEMENT_PORT", "8080");

      ConfigException e = rejection(new JsonObject(), "-conf JSON");

      assertNames(e, "environment variable SLUICE_MANAGEMENT_PORT", "management.port");
      assertTrue(e.getMessage().contains("must differ from http.port"), e::getMessage);
    }

    @Test
    @DisplayName("SLUICE_POLICIES that is not a JSON array names the variable and key 'policies'")
    void policiesNotJson() {
      env.put("SLUICE_POLICIES", "[{\"name\": \"global\",");

      assertNames(rejection(new JsonObject(), "-conf JSON"), "environment variable SLUICE_POLICIES", "policies");
    }

    @Test
    @DisplayName("a bad policy inside SLUICE_POLICIES names the variable and the policy's key path")
    void badPolicyInsideEnvironmentArray() {
      env.put("SLUICE_POLICIES", "[{\"name\": \"a\", \"key\": \"global\", \"requests\": 5, \"window\": \"1s\"},"
          + " {\"name\": \"b\", \"key\": \"global\", \"requests\": 5, \"window\": \"soon\"}]");

      assertNames(rejection(fixture("valid-full.json"), "valid-full.json"),
          "environment variable SLUICE_POLICIES", "policies[1].window");
    }

    @Test
    @DisplayName("a bad upstream in SLUICE_UPSTREAMS names the variable and the list index")
    void badUpstreamInEnvironment() {
      env.put("SLUICE_UPSTREAMS", "http://127.0.0.1:8000,ftp://127.0.0.1:21");

      assertNames(rejection(new JsonObject(), "-conf JSON"), "environment variable SLUICE_UPSTREAMS", "upstreams[1]");
    }

    @Test
    @DisplayName("a bad duration in SLUICE_UPSTREAM_TIMEOUT names the variable")
    void badDurationInEnvironment() {
      env.put("SLUICE_UPSTREAM_TIMEOUT", "5 seconds");

      assertNames(rejection(new JsonObject(), "-conf JSON"), "environment variable SLUICE_UPSTREAM_TIMEOUT",
          "upstreamTimeout");
    }

    @ParameterizedTest(name = "{0}={1}")
    @DisplayName("a bad HTTP limit in the environment names the variable and says what was expected")
    @CsvSource(delimiter = '|', textBlock = """
        SLUICE_HTTP_MAX_BODY_SIZE    | 10MB    | http.maxBodySize    | like "512KiB", "10MiB" or "1GiB"
        SLUICE_HTTP_MAX_BODY_SIZE    | -1      | http.maxBodySize    | 0 = no limit
        SLUICE_HTTP_MAX_BODY_SIZE    | 99999999999GiB | http.maxBodySize | like "512KiB", "10MiB" or "1GiB"
        SLUICE_HTTP_MAX_REQUEST_LINE | 255     | http.maxRequestLine | from 256 to 1048576 bytes
        SLUICE_HTTP_MAX_REQUEST_LINE | 2MiB    | http.maxRequestLine | from 256 to 1048576 bytes
        SLUICE_HTTP_MAX_HEADER_SIZE  | 1023    | http.maxHeaderSize  | from 1024 to 1048576 bytes
        SLUICE_HTTP_MAX_HEADERS      | 0       | http.maxHeaders     | integer from 1 to 10000
        SLUICE_HTTP_MAX_HEADERS      | 1KiB    | http.maxHeaders     | integer from 1 to 10000
        """)
    void badHttpLimitInEnvironment(String variable, String value, String key, String expectation) {
      env.put(variable, value);

      ConfigException e = rejection(new JsonObject(), "-conf JSON");

      assertNames(e, "environment variable " + variable, key);
      assertTrue(e.getMessage().contains(expectation), () -> "should say what was expected: " + e.getMessage());
    }

    @Test
    @DisplayName("sizes are bytes, or a whole number of KiB, MiB or GiB (any case, a space allowed)")
    void sizeUnits() {
      for (String[] pair : new String[][] {{"0", "0"}, {"123", "123"}, {"512KiB", "524288"}, {"10 MiB", "10485760"},
          {"1gib", "1073741824"}, {"3B", "3"}}) {
        props.setProperty("sluice.http.maxBodySize", pair[0]);
        assertEquals(Long.parseLong(pair[1]), parse(new JsonObject(), "-conf JSON").httpLimits().maxBodySize(),
            pair[0]);
      }
      JsonObject big = new JsonObject().put("http", new JsonObject().put("maxBodySize", 5L * 1024 * 1024 * 1024));
      props.clear();
      assertEquals(5L * 1024 * 1024 * 1024, parse(big, "conf.json").httpLimits().maxBodySize(),
          "a JSON number beyond 2^31 is fine");
    }

    @Test
    @DisplayName("a bad value in system property sluice.http.port names the property, even when the environment is valid")
    void badSystemProperty() {
      env.put("SLUICE_HTTP_PORT", "8081");
      props.setProperty("sluice.http.port", "-1");

      assertNames(rejection(new JsonObject(), "-conf JSON"), "system property sluice.http.port", "http.port");
    }

    @Test
    @DisplayName("a value with line breaks in it still gives a one-line message")
    void lineBreaksInValueStayOnOneLine() {
      env.put("SLUICE_POLICIES", "[\n  {\"name\": \"global\",\n   \"key\": \"global\"\n");
      assertOneLine(rejection(new JsonObject(), "-conf JSON").getMessage());

      env.clear();
      JsonObject conf = new JsonObject().put("upstreamTimeout", "5s\n10s");
      assertOneLine(rejection(conf, "conf.json").getMessage());
    }

    @Test
    @DisplayName("SLUICE_HTTP_TLS_CERT without a key names the variable that set the certificate and the missing key")
    void tlsCertAloneInEnvironment() {
      env.put("SLUICE_HTTP_TLS_CERT", TLS_FIXTURES + "cert.pem");

      assertNames(rejection(new JsonObject(), "-conf JSON"), "environment variable SLUICE_HTTP_TLS_CERT",
          "http.tls.key");
    }

    @Test
    @DisplayName("a key of another certificate in sluice.http.tls.key names the system property")
    void tlsKeyMismatchInSystemProperty() {
      env.put("SLUICE_HTTP_TLS_CERT", TLS_FIXTURES + "cert.pem");
      props.setProperty("sluice.http.tls.key", TLS_FIXTURES + "other-key.pem");

      assertNames(rejection(new JsonObject(), "-conf JSON"), "system property sluice.http.tls.key", "http.tls.key");
    }

    @Test
    @DisplayName("the TLS settings never print the private key")
    void tlsNeverPrintsTheKey() {
      GatewayConfig.Tls tls = parseFixture("valid-full.json").httpTls().orElseThrow();

      assertEquals("Tls[CN=other.localhost, 1 certificate(s)]", tls.toString());
    }

    @Test
    @DisplayName("a bad value left in the defaults is blamed on the defaults")
    void badDefaultNamesDefaults() {
      JsonObject defaults = defaults();
      defaults.getJsonObject("limiter").put("maxKeys", -1);

      ConfigException e = assertThrows(ConfigException.class,
          () -> new ConfigLoader(env, props).parse(defaults, new JsonObject(), "-conf JSON"));

      assertNames(e, DEFAULTS_SOURCE, "limiter.maxKeys");
    }
  }
}
