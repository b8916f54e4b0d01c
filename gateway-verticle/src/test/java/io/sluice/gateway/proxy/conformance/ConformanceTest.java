package io.sluice.gateway.proxy.conformance;

import io.sluice.gateway.GatewayVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The HTTP/1.1 conformance table ({@code src/test/resources/conformance/cases/*.txt}, format in the README there),
 * one dynamic test per case, replayed over real sockets against one gateway in front of a {@link RecordingUpstream}.
 *
 * <p>System properties: {@code conformance.target=host:port} replays against a proxy already running there (no
 * gateway is deployed) that must forward to the recording upstream on {@code conformance.upstreamPort};
 * {@code conformance.only=REGEX} runs the matching cases only; {@code conformance.report=FILE} appends one line per
 * case (name, PASS/FAIL, statuses seen, first failure), for comparing targets.
 */
@DisplayName("HTTP/1.1 conformance of the proxy port")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConformanceTest {

  private static final Duration CASE_LIMIT = Duration.ofSeconds(20);

  private Vertx vertx;
  private RecordingUpstream upstream;
  private CaseRunner runner;

  /** Whether pipelined GET/HEAD requests may reach the upstream in any order (see {@link CaseRunner}); the netty engine keeps their order. */
  protected boolean safeRequestsInAnyOrder() {
    return false;
  }

  /** The proxy engine the table is replayed against ({@code proxy.engine}); {@code -Dconformance.engine} picks it. */
  protected String engine() {
    return System.getProperty("conformance.engine", "netty");
  }

  /**
   * Forwarded field names (lower case) whose case this engine may change: none, unless a subclass says which and why.
   * Only the case of these names is let go; their values, order and everything else are still compared.
   */
  protected Set<String> namesOfAnyCase() {
    return Set.of();
  }

  /**
   * The cases this engine is known to fail, each with why (the library, or a design choice): the file
   * {@code conformance/known-differences/<engine>.txt}, lines {@code case-name | reason}. Such a case is reported as
   * skipped with its reason while it fails, and fails once it passes (so the list only shrinks). The Netty engine has
   * no such file: it passes the whole table.
   */
  protected Map<String, String> knownDifferences() {
    String resource = "conformance/known-differences/" + engine() + ".txt";
    try (InputStream in = ConformanceTest.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        return Map.of();
      }
      Map<String, String> known = new LinkedHashMap<>();
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        int bar = line.indexOf('|');
        if (!line.isBlank() && !line.startsWith("#") && bar > 0) {
          known.put(line.substring(0, bar).trim(), line.substring(bar + 1).trim());
        }
      }
      return known;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @BeforeAll
  void start() throws IOException {
    upstream = new RecordingUpstream(Integer.getInteger("conformance.upstreamPort", 0));
    String target = System.getProperty("conformance.target");
    InetSocketAddress address;
    if (target == null || target.isBlank()) {
      vertx = Vertx.vertx();
      GatewayVerticle gateway = new GatewayVerticle();
      JsonObject config = gatewayConfig(upstream.port()).put("proxy", new JsonObject().put("engine", engine()));
      vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
      address = new InetSocketAddress("127.0.0.1", gateway.proxyPort());
    } else {
      int colon = target.lastIndexOf(':');
      address = new InetSocketAddress(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)));
    }
    runner = new CaseRunner(address, upstream, namesOfAnyCase(), safeRequestsInAnyOrder());
  }

  /**
   * One gateway for the whole table: in-memory counters, 2 s upstream timeout (a 10 MiB body reaches the recording
   * upstream late on a loaded machine: 1 s gave a 504 once), no warm-up, and one policy the
   * rate-limit cases use (1 request per minute per X-Api-Key; requests without the key are not limited).
   */
  static JsonObject gatewayConfig(int upstreamPort) {
    JsonObject perToken = new JsonObject().put("name", "per-token").put("key", "header:X-Api-Key")
        .put("requests", 1).put("window", "60s").put("onExceed", "reject").put("onMissingKey", "skip");
    return gatewayConfig(upstreamPort, perToken);
  }

  /** The same gateway with another single policy (the property test's, which is never reached). */
  static JsonObject gatewayConfig(int upstreamPort, JsonObject policy) {
    return new JsonObject()
        .put("http", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("management", new JsonObject().put("host", "127.0.0.1").put("port", 0))
        .put("upstreams", new JsonArray().add("http://127.0.0.1:" + upstreamPort))
        .put("upstreamTimeout", "2s")
        .put("clientIdleTimeout", "4s")
        .put("warmup", new JsonObject().put("path", "/health").put("requests", 0))
        .put("policies", new JsonArray().add(policy));
  }

  @AfterAll
  void stop() throws IOException {
    if (upstream != null) {
      upstream.close();
    }
    if (vertx != null) {
      vertx.close().await();
    }
  }

  @TestFactory
  @DisplayName("cases")
  Stream<DynamicTest> cases() {
    List<ConformanceCase> cases = CaseParser.fromClassPath("conformance/cases");
    Pattern only = Pattern.compile(System.getProperty("conformance.only", ".*"));
    return cases.stream()
        .filter(c -> only.matcher(c.name()).find())
        .map(c -> DynamicTest.dynamicTest(c.name(), () -> replay(c)));
  }

  private void replay(ConformanceCase c) {
    CaseRunner.Verdict verdict = assertTimeoutPreemptively(CASE_LIMIT, () -> runner.run(c),
        () -> "case " + c.name() + " took longer than " + CASE_LIMIT);
    report(c, verdict);
    String known = knownDifferences().get(c.name());
    if (known != null) {
      if (verdict.passed()) {
        fail("[" + c.name() + "] passes now: take it off conformance/known-differences/" + engine() + ".txt");
      }
      Assumptions.abort("known difference of the " + engine() + " engine: " + known);
    }
    if (!verdict.passed()) {
      // the case name first: Maven's one-line summary of a failure shows the start of its message
      fail("[" + c.name() + "] " + String.join("\n", verdict.failures()) + "\n\n" + verdict.transcript());
    }
  }

  private static synchronized void report(ConformanceCase c, CaseRunner.Verdict verdict) {
    String file = System.getProperty("conformance.report");
    if (file == null || file.isBlank()) {
      return;
    }
    String first = verdict.passed() ? "" : verdict.failures().get(0).split("\n", 2)[0];
    String line = c.name() + "\t" + (verdict.passed() ? "PASS" : "FAIL") + "\t" + verdict.statuses() + "\t"
        + first.replace('\t', ' ') + "\t" + (verdict.onlyVia() ? "only-via" : "") + "\n";
    try {
      Files.writeString(Path.of(file), line, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new IllegalStateException("cannot write the report " + file, e);
    }
  }
}
