package io.sluice.gateway.proxy.conformance;

import io.sluice.gateway.GatewayVerticle;
import io.sluice.gateway.proxy.conformance.RequestStreams.Scenario;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeProperty;
import net.jqwik.api.statistics.Statistics;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;

/**
 * The proxy port's strictness as a property: whatever pipelined requests a client sends (valid templates bent by
 * framing and syntax mutations, cut into TCP writes anywhere), <em>the upstream receives exactly the requests the
 * gateway admitted</em>. A strict reference model ({@link StrictHttp1Model}) says which those are; {@link PropertyTry}
 * replays the bytes and checks what the client and the upstream saw. One gateway (in-memory store, a generous global
 * policy, 1 s upstream timeout, no warm-up) serves every try of a property, in front of an {@link AnsweringUpstream}.
 * This class runs the netty engine; {@link VertxEngineProxyPropertyTest} the same properties against the vertx engine.
 *
 * <p>The gateway deviations it found while the proxy was rebuilt ({@link PropertyTry.KnownDefect}, and the model's
 * non-RFC readings) are fixed and fail the property again; {@code -Dsluice.property.knownDefects=tolerate} counts
 * them in its statistics instead (to look at an older build). Each has a minimal example below.
 */
class ProxyPropertyTest {

  /** The gateway's default {@code http.maxBodySize} (10 MiB): the model refuses what is larger. */
  static final long MAX_BODY_SIZE = 10L * 1024 * 1024;

  private Vertx vertx;
  private AnsweringUpstream upstream;
  private PropertyTry replay;
  /** The strict reading only, no defect tolerated: for the examples of the defects found. */
  private PropertyTry strictReplay;

  /** The proxy engine under test ({@code proxy.engine}). */
  protected String engine() {
    return "netty";
  }

  /** What the engine under test does differently because of its library (none for the netty engine). */
  protected Set<PropertyTry.EngineDifference> engineDifferences() {
    return Set.of();
  }

  @BeforeProperty
  void start() throws IOException {
    upstream = new AnsweringUpstream();
    vertx = Vertx.vertx();
    GatewayVerticle gateway = new GatewayVerticle();
    JsonObject config = gatewayConfig(upstream.port()).put("proxy", new JsonObject().put("engine", engine()));
    vertx.deployVerticle(gateway, new DeploymentOptions().setConfig(config)).await();
    InetSocketAddress proxy = new InetSocketAddress("127.0.0.1", gateway.proxyPort());
    InetSocketAddress management = new InetSocketAddress("127.0.0.1", gateway.managementPort());
    replay = new PropertyTry(proxy, management, upstream, StrictHttp1Model.readings(MAX_BODY_SIZE),
        "tolerate".equals(System.getProperty("sluice.property.knownDefects")), engineDifferences());
    strictReplay = new PropertyTry(proxy, management, upstream,
        List.of(new StrictHttp1Model(MAX_BODY_SIZE, Set.of())), false);
  }

  static JsonObject gatewayConfig(int upstreamPort) {
    return ConformanceTest.gatewayConfig(upstreamPort, new JsonObject().put("name", "generous").put("key", "global")
        .put("requests", 1_000_000).put("window", "1s").put("onExceed", "reject"));
  }

  @AfterProperty
  void stop() throws IOException {
    if (upstream != null) {
      upstream.close();
    }
    if (vertx != null) {
      vertx.close().await();
    }
  }

  @Property(tries = 250, seed = "20261201", shrinking = ShrinkingMode.BOUNDED)
  void upstreamReceivesExactlyTheAdmittedRequests(@ForAll("scenarios") Scenario scenario) {
    PropertyTry.Outcome outcome = replay.run(scenario);
    Statistics.label("model").collect(outcome.modelSummary());
    Statistics.label("gateway followed").collect(outcome.reading());
    Statistics.label("known gateway defects and engine differences shown").collect(outcome.knownDefects().isEmpty() ? "none"
        : outcome.knownDefects().toString());
    Statistics.label("writes").collect(scenario.writes().size() == 1 ? "one write" : "split");
    if (!outcome.failures().isEmpty()) {
      throw new AssertionError(String.join("\n", outcome.failures()) + "\n\n" + outcome.transcript());
    }
  }

  @Provide
  Arbitrary<Scenario> scenarios() {
    return RequestStreams.scenarios();
  }

  // ---- what the property found while the proxy was rebuilt: minimal examples, each a fixed defect

  @Example
  void nothingBehindARefusedPipelinedRequestGoesUpstream() {
    assertStrict("GET / HTTP/1.1\r\nHost: h.test\r\n\r\n"
        + "POST / HTTP/1.1\r\nContent-Length: 0\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
        + "GET / HTTP/1.1\r\nHost: h.test\r\n\r\n");
  }

  @Example
  void aChunkSizeWithTrailingWhitespaceIsRefused() {
    assertStrict("POST / HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n");
  }

  @Example
  void anEmptyTransferCodingElementIsIgnored() {
    assertStrict("POST / HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked,\r\n\r\n1\r\na\r\n0\r\n\r\n");
  }

  @Example
  void nothingBehindARefusedPipelinedRequestGoesUpstreamWhenSplit() {
    // found on the vertx engine: Vert.x had decoded and queued the request behind the refused one, and dispatched it
    // once the refusal was written
    String bytes = "POST / HTTP/1.1\r\nHost: h.test\r\nContent-Length: 3\r\n\r\nm1x"
        + "POST / HTTP/1.1\r\nHost: h.test\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
        + "\r\n\r\n9\r\nbapbvi0mb\r\n4\r\nn811\r\n3\r\n8et\r\n9\r\nx7v2rwtbu\r\n0\r\n\r\n"
        + "PATCH /p/q.json HTTP/1.1\r\nHost: h.test\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
    List<String> writes = List.of(bytes.substring(0, 1), bytes.substring(1, 242), bytes.substring(242, 255),
        bytes.substring(255));
    PropertyTry.Outcome outcome = strictReplay.run(bytes, writes, 0);
    if (!outcome.failures().isEmpty()) {
      throw new AssertionError(String.join("\n", outcome.failures()) + "\n\n" + outcome.transcript());
    }
  }

  @Example
  void aChunkedCodingInCapitalsIsForwarded() {
    // found on the vertx engine: vertx-http-proxy reads only a lower-case "chunked" and answered a bare 400 otherwise;
    // coding names are case-insensitive (RFC 9112 §7), so the gateway forwards the field as "chunked"
    assertStrict("POST / HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
  }

  @Example
  void aTrailerLineThatIsNotAFieldIsRefused() {
    // found on the vertx engine: Vert.x's decoder failed the request there and closed without an answer
    assertStrict("POST / HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\na\r\n0\r\n\r\n");
  }

  @Example
  void aRequestAfterRefusedBodiesIsForwarded() {
    // found on the vertx engine: the upstream connection taken for a request whose chunked body was then refused
    // stayed held, so the next request on any connection waited for the pool forever
    String broken = "POST / HTTP/1.1\r\nHost: h.test\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\na\r\n0\r\n\r\n";
    for (int i = 0; i < 3; i++) {
      assertStrict(broken);
    }
    assertStrict("GET / HTTP/1.1\r\nHost: h.test\r\n\r\n");
  }

  private void assertStrict(String bytes) {
    PropertyTry.Outcome outcome = strictReplay.run(bytes, List.of(bytes), 0);
    if (!outcome.failures().isEmpty()) {
      throw new AssertionError(String.join("\n", outcome.failures()) + "\n\n" + outcome.transcript());
    }
  }
}
