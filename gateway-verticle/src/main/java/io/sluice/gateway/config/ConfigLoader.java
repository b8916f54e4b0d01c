package io.sluice.gateway.config;

import io.sluice.gateway.limit.KeySource;
import io.sluice.gateway.limit.OnStoreFailure;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RouteMatch;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.config.ConfigRetriever;
import io.vertx.config.ConfigRetrieverOptions;
import io.vertx.config.ConfigStoreOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.net.URISyntaxException;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Reads the gateway configuration, lowest precedence first: the defaults shipped in the jar (a copy of
 * {@code conf/gateway.json}), the launcher's {@code -conf} JSON, environment variables, system properties. Each
 * value remembers where it came from, so an invalid one is reported as {@code <source>: key '<key>' ...}.
 */
public final class ConfigLoader {

  /** Classpath copy of conf/gateway.json: the single place defaults are written down. */
  public static final String DEFAULTS_RESOURCE = "sluice-defaults/gateway.json";
  /** Set by the launcher to the -conf argument, so errors can name the file. */
  public static final String CONF_SOURCE_PROPERTY = "sluice.conf.source";

  /** Environment variable → key. System properties use the key prefixed with {@code sluice.}. */
  public static final Map<String, String> ENVIRONMENT = orderedMap(
      "SLUICE_HTTP_HOST", "http.host",
      "SLUICE_HTTP_PORT", "http.port",
      "SLUICE_HTTP_MAX_BODY_SIZE", "http.maxBodySize",
      "SLUICE_HTTP_MAX_REQUEST_LINE", "http.maxRequestLine",
      "SLUICE_HTTP_MAX_HEADER_SIZE", "http.maxHeaderSize",
      "SLUICE_HTTP_MAX_HEADERS", "http.maxHeaders",
      "SLUICE_HTTP_MAX_CONNECTIONS", "http.maxConnections",
      "SLUICE_HTTP_TLS_CERT", "http.tls.cert",
      "SLUICE_HTTP_TLS_KEY", "http.tls.key",
      "SLUICE_MANAGEMENT_HOST", "management.host",
      "SLUICE_MANAGEMENT_PORT", "management.port",
      "SLUICE_MANAGEMENT_ADMIN_TOKEN", "management.adminToken",
      "SLUICE_UPSTREAMS", "upstreams",
      "SLUICE_UPSTREAM_TIMEOUT", "upstreamTimeout",
      "SLUICE_UPSTREAM_TRUST", "upstreamTrust",
      "SLUICE_SHUTDOWN_GRACE", "shutdownGrace",
      "SLUICE_CLIENT_IDLE_TIMEOUT", "clientIdleTimeout",
      "SLUICE_UPSTREAM_CONNECTIONS", "upstreamPool.connections",
      "SLUICE_UPSTREAM_PIPELINING", "upstreamPool.pipelining",
      "SLUICE_LIMITER_MAP_NAME", "limiter.mapName",
      "SLUICE_LIMITER_MAX_KEYS", "limiter.maxKeys",
      "SLUICE_LIMITER_TRANSIT_ALLOWANCE", "limiter.transitAllowance",
      "SLUICE_LIMITER_ON_STORE_FAILURE", "limiter.onStoreFailure",
      "SLUICE_LIMITER_STORE_TIMEOUT", "limiter.storeTimeout",
      "SLUICE_LIMITER_BATCH", "limiter.batch",
      "SLUICE_WARMUP_PATH", "warmup.path",
      "SLUICE_WARMUP_REQUESTS", "warmup.requests",
      "SLUICE_POLICIES", "policies",
      "SLUICE_PROXY_ENGINE", "proxy.engine",
      "SLUICE_PROXY_H2C", "proxy.h2c",
      "SLUICE_ACCESS_LOG", "accessLog",
      "SLUICE_VERTX_METRICS", "vertxMetrics");

  private static final Set<String> INTEGER_KEYS = Set.of("http.port", "management.port", "limiter.maxKeys",
      "warmup.requests", "upstreamPool.connections", "upstreamPool.pipelining", "http.maxRequestLine",
      "http.maxHeaderSize", "http.maxHeaders", "http.maxConnections");
  /** Largest request line and header block a user may allow: beyond that, a limit protects nothing. */
  private static final int MAX_HEAD_BYTES = 1024 * 1024;
  private static final Set<String> JSON_KEYS = Set.of("upstreams", "policies");
  /** An RFC 9110 token, what a header field name is. */
  private static final Pattern HEADER_NAME = Pattern.compile("[A-Za-z0-9!#$%&'*+.^_`|~-]+");
  /** Shortest admin token accepted: 16 characters of a random hex or base64 string are 64 bits and more. */
  private static final int MIN_ADMIN_TOKEN_LENGTH = 16;
  private static final Pattern POLICY_NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");

  private final Map<String, String> environment;
  private final Properties systemProperties;

  public ConfigLoader(Map<String, String> environment, Properties systemProperties) {
    this.environment = environment;
    this.systemProperties = systemProperties;
  }

  /** Loads from this process's environment and system properties. */
  public static Future<GatewayConfig> load(Vertx vertx, JsonObject deploymentConfig) {
    return new ConfigLoader(System.getenv(), System.getProperties()).load(vertx, deploymentConfig,
        System.getProperty(CONF_SOURCE_PROPERTY, "deployment config"));
  }

  public Future<GatewayConfig> load(Vertx vertx, JsonObject deploymentConfig, String deploymentSource) {
    ConfigStoreOptions defaults = new ConfigStoreOptions().setType("file").setFormat("json")
        .setConfig(new JsonObject().put("path", DEFAULTS_RESOURCE));
    ConfigRetriever retriever = ConfigRetriever.create(vertx,
        new ConfigRetrieverOptions().setIncludeDefaultStores(false).addStore(defaults));
    return retriever.getConfig()
        .eventually(() -> {
          retriever.close();
          return Future.succeededFuture();
        })
        .compose(defaultJson -> {
          try {
            return Future.succeededFuture(parse(defaultJson, deploymentConfig, deploymentSource));
          } catch (ConfigException e) {
            return Future.failedFuture(e);
          }
        });
  }

  /** Merges the layers and validates the result; throws {@link ConfigException} on the first bad value. */
  public GatewayConfig parse(JsonObject defaults, JsonObject deploymentConfig, String deploymentSource) {
    Merged merged = new Merged();
    merged.layer(defaults, "defaults (" + DEFAULTS_RESOURCE + ")");
    merged.layer(deploymentConfig == null ? new JsonObject() : deploymentConfig, deploymentSource);
    ENVIRONMENT.forEach((variable, key) ->
        merged.override(key, environment.get(variable), "environment variable " + variable));
    ENVIRONMENT.forEach((variable, key) ->
        merged.override(key, systemProperties.getProperty("sluice." + key), "system property sluice." + key));
    return new Validator(merged).gatewayConfig();
  }

  /**
   * Validates {@code policies} (the value of a configuration's {@code "policies"} key) exactly as a configuration file's
   * are validated at startup: the same checks and the same one-line messages, naming {@code source} where a message
   * would name the file. Throws {@link ConfigException} on the first bad value.
   */
  public static List<Policy> parsePolicies(Object policies, long transitMillis, String source) {
    Merged merged = new Merged();
    merged.layer(new JsonObject().put("policies", policies), source);
    return new Validator(merged).policies(merged.json, transitMillis);
  }

  /** A value as JSON, on one line and at most 120 characters, so an error message stays one line. */
  static String shown(Object value) {
    if (value == null) {
      return "nothing";
    }
    String json = Json.encode(value);
    return json.length() <= 120 ? json : json.substring(0, 120) + "…";
  }

  private static String oneLine(String text) {
    String encoded = Json.encode(text);
    return encoded.substring(1, encoded.length() - 1);
  }

  private static Map<String, String> orderedMap(String... pairs) {
    Map<String, String> map = new LinkedHashMap<>();
    for (int i = 0; i < pairs.length; i += 2) {
      map.put(pairs[i], pairs[i + 1]);
    }
    return Collections.unmodifiableMap(map);
  }

  /** The merged JSON plus, for every key set, the source that set it last. */
  static final class Merged {
    final JsonObject json = new JsonObject();
    final Map<String, String> sources = new HashMap<>();

    void layer(JsonObject layer, String source) {
      merge(json, layer, "", source);
    }

    private void merge(JsonObject target, JsonObject layer, String prefix, String source) {
      for (String field : layer.fieldNames()) {
        Object value = layer.getValue(field);
        String path = prefix + field;
        if (value instanceof JsonObject && target.getValue(field) instanceof JsonObject) {
          merge(target.getJsonObject(field), (JsonObject) value, path + ".", source);
        } else {
          target.put(field, value instanceof JsonObject ? ((JsonObject) value).copy() : value);
        }
        sources.put(path, source);
      }
    }

    void override(String key, String text, String source) {
      if (text == null || text.isBlank()) {
        return;
      }
      Object value = text;
      if (INTEGER_KEYS.contains(key) && text.trim().matches("-?\\d{1,9}")) {
        value = Integer.parseInt(text.trim());
      } else if (JSON_KEYS.contains(key)) {
        value = parseJsonOrList(key, text, source);
      }
      String[] parts = key.split("\\.");
      JsonObject target = json;
      for (int i = 0; i < parts.length - 1; i++) {
        if (!(target.getValue(parts[i]) instanceof JsonObject)) {
          target.put(parts[i], new JsonObject());
        }
        target = target.getJsonObject(parts[i]);
      }
      target.put(parts[parts.length - 1], value);
      sources.put(key, source);
    }

    private static Object parseJsonOrList(String key, String text, String source) {
      String trimmed = text.trim();
      if (trimmed.startsWith("[")) {
        try {
          return new JsonArray(trimmed);
        } catch (DecodeException e) {
          throw new ConfigException(source + ": key '" + key + "' must be a JSON array, got " + shown(trimmed));
        }
      }
      if (key.equals("upstreams")) {
        JsonArray list = new JsonArray();
        for (String item : trimmed.split(",")) {
          if (!item.isBlank()) {
            list.add(item.trim());
          }
        }
        return list;
      }
      throw new ConfigException(source + ": key '" + key + "' must be a JSON array, got " + shown(trimmed));
    }

    String sourceOf(String path) {
      String probe = path;
      while (true) {
        String source = sources.get(probe);
        if (source != null) {
          return source;
        }
        int cut = Math.max(probe.lastIndexOf('.'), probe.lastIndexOf('['));
        if (cut <= 0) {
          return "configuration";
        }
        probe = probe.substring(0, cut);
      }
    }
  }

  /** Turns the merged JSON into typed values, failing on the first problem with its source and key. */
  private static final class Validator {
    private final Merged merged;

    Validator(Merged merged) {
      this.merged = merged;
    }

    GatewayConfig gatewayConfig() {
      JsonObject root = merged.json;
      knownKeys(root, "", Set.of("accessLog", "vertxMetrics", "http", "management", "upstreams", "upstreamTrust", "upstreamTimeout", "upstreamPool",
          "shutdownGrace", "clientIdleTimeout", "limiter", "warmup", "policies", "proxy"));
      GatewayConfig.Endpoint http = endpoint(root, "http", Set.of("maxBodySize", "maxRequestLine", "maxHeaderSize",
          "maxHeaders", "maxConnections", "tls"));
      GatewayConfig.HttpLimits httpLimits = httpLimits(root.getJsonObject("http"));
      Optional<GatewayConfig.Tls> httpTls = httpTls(root.getJsonObject("http"));
      GatewayConfig.Endpoint management = endpoint(root, "management", Set.of("adminToken"));
      Optional<String> adminToken = adminToken(root.getJsonObject("management"));
      if (http.port() != 0 && http.port() == management.port()) {
        throw fail("management.port", "must differ from http.port", management.port());
      }
      List<URI> upstreams = upstreams(root);
      List<X509Certificate> upstreamTrust = upstreamTrust(root);
      long upstreamTimeout = duration(root, "upstreamTimeout", "upstreamTimeout", true);
      long shutdownGrace = duration(root, "shutdownGrace", "shutdownGrace", false);
      long clientIdleTimeout = duration(root, "clientIdleTimeout", "clientIdleTimeout", true);
      JsonObject poolJson = object(root, "upstreamPool");
      knownKeys(poolJson, "upstreamPool.", Set.of("connections", "pipelining"));
      GatewayConfig.UpstreamPool pool = new GatewayConfig.UpstreamPool(
          integer(poolJson, "connections", "upstreamPool.connections", 1, 1024),
          integer(poolJson, "pipelining", "upstreamPool.pipelining", 1, 64));
      JsonObject limiterJson = object(root, "limiter");
      knownKeys(limiterJson, "limiter.", Set.of("mapName", "maxKeys", "transitAllowance", "onStoreFailure",
          "storeTimeout", "batch"));
      long transit = duration(limiterJson, "transitAllowance", "limiter.transitAllowance", false);
      if (transit > 1_000) {
        throw fail("limiter.transitAllowance", "must be at most 1s", limiterJson.getValue("transitAllowance"));
      }
      long storeTimeout = duration(limiterJson, "storeTimeout", "limiter.storeTimeout", true);
      if (storeTimeout > 1_000) {
        throw fail("limiter.storeTimeout", "must be at most 1s (a gateway switches within 1 s of its store failing)",
            limiterJson.getValue("storeTimeout"));
      }
      GatewayConfig.Limiter limiter = new GatewayConfig.Limiter(
          string(limiterJson, "mapName", "limiter.mapName"),
          integer(limiterJson, "maxKeys", "limiter.maxKeys", 1, Integer.MAX_VALUE),
          choice(limiterJson, "onStoreFailure", "limiter.onStoreFailure", OnStoreFailure.class, "local"),
          storeTimeout, flag(limiterJson, "batch", "limiter.batch"), transit);
      JsonObject warmupJson = object(root, "warmup");
      knownKeys(warmupJson, "warmup.", Set.of("path", "requests"));
      String warmupPath = string(warmupJson, "path", "warmup.path");
      if (!warmupPath.startsWith("/")) {
        throw fail("warmup.path", "must be a path starting with /", warmupPath);
      }
      GatewayConfig.Warmup warmup = new GatewayConfig.Warmup(warmupPath,
          integer(warmupJson, "requests", "warmup.requests", 0, 100_000));
      JsonObject proxyJson = object(root, "proxy");
      knownKeys(proxyJson, "proxy.", Set.of("engine", "h2c"));
      GatewayConfig.Engine engine = choice(proxyJson, "engine", "proxy.engine", GatewayConfig.Engine.class, "vertx");
      boolean h2c = flag(proxyJson, "h2c", "proxy.h2c");
      if (h2c && engine != GatewayConfig.Engine.VERTX) {
        throw fail("proxy.h2c", "may be true only with proxy.engine \"vertx\" (the netty engine speaks HTTP/1.x only)",
            true);
      }
      GatewayConfig.AccessLog accessLog = choice(root, "accessLog", "accessLog", GatewayConfig.AccessLog.class, "off");
      return new GatewayConfig(http, management, upstreams, upstreamTrust, upstreamTimeout, pool, shutdownGrace,
          clientIdleTimeout, limiter, warmup, policies(root, transit), httpLimits, httpTls, engine, h2c, accessLog,
          adminToken, flag(root, "vertxMetrics", "vertxMetrics"));
    }

    private GatewayConfig.HttpLimits httpLimits(JsonObject http) {
      long maxBody = size(http, "maxBodySize", "http.maxBodySize", 0, Long.MAX_VALUE,
          "must be a number of bytes (0 = no limit) or a size like \"512KiB\", \"10MiB\" or \"1GiB\"");
      return new GatewayConfig.HttpLimits(maxBody,
          (int) size(http, "maxRequestLine", "http.maxRequestLine", 256, MAX_HEAD_BYTES,
              "must be a size from 256 to " + MAX_HEAD_BYTES + " bytes, like 8192 or \"8KiB\""),
          (int) size(http, "maxHeaderSize", "http.maxHeaderSize", 1024, MAX_HEAD_BYTES,
              "must be a size from 1024 to " + MAX_HEAD_BYTES + " bytes, like 16384 or \"16KiB\""),
          integer(http, "maxHeaders", "http.maxHeaders", 1, 10_000),
          integer(http, "maxConnections", "http.maxConnections", 1, 1_000_000));
    }

    /**
     * The CA certificates of {@code upstreamTrust}, a PEM file read once at startup (a few kB); absent or blank =
     * none, the JDK's trusted certificates apply.
     */
    private List<X509Certificate> upstreamTrust(JsonObject root) {
      Object value = root.getValue("upstreamTrust");
      if (value == null || (value instanceof String blank && blank.isBlank())) {
        return List.of();
      }
      String expected = "must be the path of a readable PEM file of CA certificates";
      if (!(value instanceof String path)) {
        throw fail("upstreamTrust", expected, value);
      }
      try {
        return PemFiles.certificates(path);
      } catch (PemFiles.Unusable e) {
        throw fail("upstreamTrust", expected + " (" + e.getMessage() + ")", value);
      }
    }

    /**
     * TLS on the proxy port: {@code http.tls.cert} (PEM, the server's certificate first, then its chain) and {@code
     * http.tls.key} (its PEM PKCS#8 private key), both or neither (absent or blank = neither). Read once at startup,
     * and refused here if a file is missing or unreadable, the key is not the certificate's, or a certificate of the
     * chain is outside its validity period (every client that checks would refuse it anyway).
     */
    private Optional<GatewayConfig.Tls> httpTls(JsonObject http) {
      Object value = http.getValue("tls");
      if (value == null) {
        return Optional.empty();
      }
      if (!(value instanceof JsonObject json)) {
        throw fail("http.tls", "must be an object with keys cert and key", value);
      }
      knownKeys(json, "http.tls.", Set.of("cert", "key"));
      String certPath = optionalString(json, "cert", "http.tls.cert");
      String keyPath = optionalString(json, "key", "http.tls.key");
      if (certPath == null && keyPath == null) {
        return Optional.empty();
      }
      if (certPath == null || keyPath == null) {
        String set = certPath == null ? "http.tls.key" : "http.tls.cert";
        String missing = certPath == null ? "http.tls.cert" : "http.tls.key";
        throw new ConfigException(merged.sourceOf(set) + ": key '" + missing + "' must be set too when " + set
            + " is (both or neither), got nothing");
      }
      List<X509Certificate> chain;
      try {
        chain = PemFiles.certificates(certPath);
      } catch (PemFiles.Unusable e) {
        throw fail("http.tls.cert", "must be the path of a readable PEM file of the server's certificate chain ("
            + e.getMessage() + ")", certPath);
      }
      for (X509Certificate certificate : chain) {
        try {
          certificate.checkValidity();
        } catch (CertificateException e) {
          throw fail("http.tls.cert", "must hold certificates valid now, but " + certificate.getSubjectX500Principal()
              + " is valid from " + certificate.getNotBefore().toInstant() + " to "
              + certificate.getNotAfter().toInstant(), certPath);
        }
      }
      PrivateKey key;
      try {
        key = PemFiles.privateKey(keyPath);
      } catch (PemFiles.Unusable e) {
        throw fail("http.tls.key", "must be the path of a readable PEM file of an unencrypted PKCS#8 RSA or EC "
            + "private key (" + e.getMessage() + ")", keyPath);
      }
      if (!PemFiles.belongTogether(key, chain.get(0))) {
        throw fail("http.tls.key", "must be the private key of the first certificate in http.tls.cert ("
            + chain.get(0).getSubjectX500Principal() + "), and is not", keyPath);
      }
      return Optional.of(new GatewayConfig.Tls(chain, key));
    }

    /** A non-blank string, or null when absent or blank. */
    private String optionalString(JsonObject json, String field, String path) {
      Object value = json.getValue(field);
      if (value == null || (value instanceof String blank && blank.isBlank())) {
        return null;
      }
      if (!(value instanceof String text)) {
        throw fail(path, "must be a string (a file path)", value);
      }
      return text;
    }

    /**
     * The admin API's bearer token: absent (the API is off) or at least {@value #MIN_ADMIN_TOKEN_LENGTH} printable
     * ASCII characters without spaces, so that it fits an Authorization field and cannot be guessed.
     */
    private Optional<String> adminToken(JsonObject management) {
      Object value = management == null ? null : management.getValue("adminToken");
      if (value == null || "".equals(value)) {
        return Optional.empty();
      }
      if (!(value instanceof String token) || token.length() < MIN_ADMIN_TOKEN_LENGTH
          || !token.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
        // never echo a token, even a bad one
        throw fail("management.adminToken", "must be at least " + MIN_ADMIN_TOKEN_LENGTH
            + " printable ASCII characters without spaces (e.g. openssl rand -hex 32)", "(hidden)");
      }
      return Optional.of(token);
    }

    private GatewayConfig.Endpoint endpoint(JsonObject root, String name, Set<String> otherKeys) {
      JsonObject json = object(root, name);
      Set<String> known = new HashSet<>(otherKeys);
      known.addAll(List.of("host", "port"));
      knownKeys(json, name + ".", known);
      return new GatewayConfig.Endpoint(string(json, "host", name + ".host"),
          integer(json, "port", name + ".port", 0, 65535));
    }

    private List<URI> upstreams(JsonObject root) {
      Object value = root.getValue("upstreams");
      if (!(value instanceof JsonArray) || ((JsonArray) value).isEmpty()) {
        throw fail("upstreams", "must be a non-empty array of URLs like \"http://127.0.0.1:8000\"", value);
      }
      List<URI> uris = new ArrayList<>();
      JsonArray array = (JsonArray) value;
      for (int i = 0; i < array.size(); i++) {
        String path = "upstreams[" + i + "]";
        Object item = array.getValue(i);
        String expected = "must be an http(s) URL with a host and no path, like \"http://127.0.0.1:8000\"";
        if (!(item instanceof String)) {
          throw fail(path, expected, item);
        }
        try {
          URI uri = new URI((String) item);
          String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
          boolean noPath = uri.getRawPath() == null || uri.getRawPath().isEmpty() || uri.getRawPath().equals("/");
          if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null || !noPath
              || uri.getRawQuery() != null) {
            throw fail(path, expected, item);
          }
          uris.add(uri);
        } catch (URISyntaxException e) {
          throw fail(path, expected, item);
        }
      }
      return uris;
    }

    private List<Policy> policies(JsonObject root, long transitMillis) {
      Object value = root.getValue("policies");
      if (!(value instanceof JsonArray)) {
        throw fail("policies", "must be an array of policies (it may be empty)", value);
      }
      JsonArray array = (JsonArray) value;
      List<Policy> policies = new ArrayList<>();
      Set<String> names = new HashSet<>();
      for (int i = 0; i < array.size(); i++) {
        String prefix = "policies[" + i + "].";
        if (!(array.getValue(i) instanceof JsonObject)) {
          throw fail("policies[" + i + "]", "must be an object", array.getValue(i));
        }
        Policy policy = policy(array.getJsonObject(i), prefix, transitMillis);
        if (!names.add(policy.name())) {
          throw fail(prefix + "name", "must be unique among policies", policy.name());
        }
        policies.add(policy);
      }
      return policies;
    }

    private Policy policy(JsonObject json, String prefix, long transitMillis) {
      knownKeys(json, prefix, Set.of("name", "key", "requests", "window", "onExceed", "maxDelay", "onMissingKey",
          "match", "mode"));
      String name = string(json, "name", prefix + "name");
      if (!POLICY_NAME.matcher(name).matches()) {
        throw fail(prefix + "name", "must be 1-64 letters, digits, '_', '.' or '-'", name);
      }
      String keyText = string(json, "key", prefix + "key");
      KeySource keySource;
      try {
        keySource = KeySource.parse(keyText);
      } catch (IllegalArgumentException e) {
        throw fail(prefix + "key", "must be global, bearer, ip or header:NAME", keyText);
      }
      if (keySource instanceof KeySource.Header header && !HEADER_NAME.matcher(header.name()).matches()) {
        throw fail(prefix + "key", "must be global, bearer, ip or header:NAME with NAME a header field name "
            + "(letters, digits and !#$%&'*+-.^_`|~)", keyText);
      }
      int requests = integer(json, "requests", prefix + "requests", 1, 100_000_000);
      long window = duration(json, "window", prefix + "window", true);
      Policy.OnExceed onExceed = choice(json, "onExceed", prefix + "onExceed", Policy.OnExceed.class, "reject");
      long maxDelay = 0;
      if (onExceed == Policy.OnExceed.DELAY) {
        maxDelay = json.containsKey("maxDelay") ? duration(json, "maxDelay", prefix + "maxDelay", true) : window;
      } else if (json.containsKey("maxDelay")) {
        throw fail(prefix + "maxDelay", "applies only with \"onExceed\": \"delay\"", json.getValue("maxDelay"));
      }
      Policy.OnMissingKey onMissing =
          choice(json, "onMissingKey", prefix + "onMissingKey", Policy.OnMissingKey.class, "reject");
      RouteMatch match = match(json, prefix + "match");
      Policy.Mode mode = choice(json, "mode", prefix + "mode", Policy.Mode.class, "enforce");
      return new Policy(name, keySource, new WindowSpec(requests, window, false, transitMillis), onExceed, maxDelay,
          onMissing, match, mode);
    }

    /** A policy's {@code match}: absent = every request; each list optional, but not empty (that would match none). */
    private RouteMatch match(JsonObject policy, String path) {
      Object value = policy.getValue("match");
      if (value == null) {
        return RouteMatch.ANY;
      }
      if (!(value instanceof JsonObject json)) {
        throw fail(path, "must be an object with keys paths, methods and/or hosts", value);
      }
      knownKeys(json, path + ".", Set.of("paths", "methods", "hosts"));
      return RouteMatch.of(
          matchList(json, "paths", path + ".paths", RouteMatch::pathProblem),
          matchList(json, "methods", path + ".methods", RouteMatch::methodProblem),
          matchList(json, "hosts", path + ".hosts", RouteMatch::hostProblem));
    }

    private List<String> matchList(JsonObject json, String field, String path,
                                   Function<String, String> problem) {
      Object value = json.getValue(field);
      if (value == null) {
        return List.of();
      }
      if (!(value instanceof JsonArray array) || array.isEmpty()) {
        throw fail(path, "must be a non-empty array of strings (leave it out to match any)", value);
      }
      List<String> items = new ArrayList<>();
      for (int i = 0; i < array.size(); i++) {
        Object item = array.getValue(i);
        String itemPath = path + "[" + i + "]";
        if (!(item instanceof String text)) {
          throw fail(itemPath, "must be a string", item);
        }
        String why = problem.apply(text);
        if (why != null) {
          throw fail(itemPath, why, text);
        }
        items.add(text);
      }
      return items;
    }

    private <E extends Enum<E>> E choice(JsonObject json, String field, String path, Class<E> type, String fallback) {
      Object value = json.getValue(field, fallback);
      StringBuilder allowed = new StringBuilder();
      for (E constant : type.getEnumConstants()) {
        String word = constant.name().toLowerCase(Locale.ROOT);
        if (word.equals(value)) {
          return constant;
        }
        allowed.append(allowed.length() == 0 ? "" : " or ").append('"').append(word).append('"');
      }
      throw fail(path, "must be " + allowed, value);
    }

    /** A boolean, false when absent; "true"/"false" as text too (environment variables are text). */
    private boolean flag(JsonObject json, String field, String path) {
      Object value = json.getValue(field, false);
      if (value instanceof Boolean b) {
        return b;
      }
      if ("true".equals(value) || "false".equals(value)) {
        return Boolean.parseBoolean((String) value);
      }
      throw fail(path, "must be true or false", value);
    }

    private JsonObject object(JsonObject json, String field) {
      Object value = json.getValue(field);
      if (!(value instanceof JsonObject)) {
        throw fail(field, "must be an object", value);
      }
      return (JsonObject) value;
    }

    private String string(JsonObject json, String field, String path) {
      Object value = json.getValue(field);
      if (!(value instanceof String) || ((String) value).isBlank()) {
        throw fail(path, "must be a non-empty string", value);
      }
      return (String) value;
    }

    private int integer(JsonObject json, String field, String path, int min, int max) {
      Object value = json.getValue(field);
      boolean whole = value instanceof Integer || value instanceof Long;
      if (!whole || ((Number) value).longValue() < min || ((Number) value).longValue() > max) {
        throw fail(path, "must be an integer from " + min + " to " + max, value);
      }
      return ((Number) value).intValue();
    }

    /** Bytes, written as a whole JSON number or a string {@link Sizes} reads. */
    private long size(JsonObject json, String field, String path, long min, long max, String expected) {
      Object value = json.getValue(field);
      long bytes = -1;
      if (value instanceof Integer || value instanceof Long) {
        bytes = ((Number) value).longValue();
      } else if (value instanceof String text) {
        bytes = Sizes.parseBytes(text);
      }
      if (bytes < min || bytes > max) {
        throw fail(path, expected, value);
      }
      return bytes;
    }

    private long duration(JsonObject json, String field, String path, boolean positive) {
      Object value = json.getValue(field);
      long millis = value instanceof String ? Durations.parseMillis((String) value) : -1;
      if (millis < 0 || (positive && millis == 0)) {
        throw fail(path, "must be a " + (positive ? "positive " : "") + "duration like \"250ms\", \"1s\" or \"1m\"",
            value);
      }
      return millis;
    }

    private void knownKeys(JsonObject json, String prefix, Set<String> known) {
      for (String field : json.fieldNames()) {
        if (!known.contains(field)) {
          throw fail(prefix + field, "is not a known key (known: " + String.join(", ", new java.util.TreeSet<>(known))
              + ")", json.getValue(field));
        }
      }
    }

    private ConfigException fail(String path, String expected, Object actual) {
      return new ConfigException(merged.sourceOf(path) + ": key '" + oneLine(path) + "' " + expected + ", got "
          + shown(actual));
    }
  }
}
