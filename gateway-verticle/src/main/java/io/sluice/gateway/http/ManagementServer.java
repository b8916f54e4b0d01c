package io.sluice.gateway.http;

import io.sluice.gateway.config.ConfigException;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.StoreMode;
import io.sluice.gateway.metrics.GatewayMetrics;
import io.sluice.gateway.metrics.VertxMetricsSetup;
import io.sluice.gateway.policy.PolicyDocument;
import io.sluice.gateway.policy.PolicyFollower;
import io.sluice.gateway.policy.PolicyJson;
import io.sluice.gateway.proxy.GatewayStats;
import io.sluice.gateway.proxy.Problems;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.healthchecks.CheckResult;
import io.vertx.ext.healthchecks.HealthChecks;
import io.vertx.ext.healthchecks.Status;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.healthchecks.HealthCheckHandler;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Set;

/**
 * The management port, kept apart from proxied traffic, each resource for GET and HEAD:
 * <ul>
 *   <li>{@code /health/live} and {@code /health/ready}, as vertx-health-check writes them: {@code status}, the named
 *       {@code checks} and {@code outcome}. Ready means deployed and (clustered or not) a member of the cluster its
 *       counters live in; the two other checks are shown and do not count (see {@link #COUNTED_FOR_READINESS});</li>
 *   <li>{@code /stats}, the gateway's counters as JSON;</li>
 *   <li>{@code /metrics}, the same and more in the Prometheus text format: Sluice's ({@link GatewayMetrics}) and, when
 *       the Vertx was built with them ({@link VertxMetricsSetup}), Vert.x's own;</li>
 *   <li>with {@code management.adminToken} set, the admin API: {@value #ADMIN_LIMITS} (a key's counter: GET, HEAD,
 *       DELETE) and {@value #ADMIN_POLICIES} (the policy document: GET, HEAD, PUT; see {@link PolicyFollower}).</li>
 * </ul>
 * Anything else is answered with a problem document, as on the proxy port.
 */
public final class ManagementServer {

  /**
   * The checks that decide readiness (200 or 503). {@code store} (the shared counters answer) and {@code upstreams}
   * (each accepts connections) are shown only: without its store the gateway still decides, as
   * {@code limiter.onStoreFailure} says, and a gateway taken out of its load balancer because an upstream is down
   * would turn clear 502s into refused connections (see {@link UpstreamProbe}).
   */
  static final Set<String> COUNTED_FOR_READINESS = Set.of("deployed", "cluster-member");

  /** The Prometheus text exposition format, version 0.0.4 (what {@code PrometheusMeterRegistry.scrape()} writes). */
  static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
  /** A policy's counter for one key (raw in the path, URL-encoded; hashed before use, never logged). */
  static final String ADMIN_LIMITS = "/admin/limits/:policy/:key";
  /** The policy document in force (GET) and the next version of it (PUT). */
  static final String ADMIN_POLICIES = "/admin/policies";
  /**
   * The largest PUT body accepted (413 above): a thousand policies with long match lists take well under it, and a
   * document this size is still quick to store and to send to every gateway.
   */
  static final long MAX_POLICY_DOCUMENT_BYTES = 1024 * 1024;
  private static final String BEARER = "Bearer ";
  /** How validation messages name a PUT body, where at startup they name the configuration file. */
  static final String SOURCE = "PUT " + ADMIN_POLICIES;
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ManagementServer.class);

  private final Vertx vertx;
  private final GatewayConfig.Endpoint endpoint;
  private final CounterStore store;
  private final RateLimiter limiter;
  private final GatewayStats stats;
  private final UpstreamProbe upstreams;
  private final GatewayMetrics metrics;
  private final PolicyFollower policies;
  /** The admin API's bearer token, as bytes for a constant-time comparison; null: the admin API is off. */
  private final byte[] adminToken;
  private volatile boolean ready;
  private HttpServer server;

  public ManagementServer(Vertx vertx, GatewayConfig.Endpoint endpoint, CounterStore store, RateLimiter limiter,
                          GatewayStats stats, UpstreamProbe upstreams, GatewayMetrics metrics,
                          java.util.Optional<String> adminToken, PolicyFollower policies) {
    this.policies = policies;
    this.adminToken = adminToken.map(token -> token.getBytes(StandardCharsets.US_ASCII)).orElse(null);
    this.vertx = vertx;
    this.endpoint = endpoint;
    this.store = store;
    this.limiter = limiter;
    this.stats = stats;
    this.upstreams = upstreams;
    this.metrics = metrics;
  }

  public Future<HttpServer> start() {
    Router router = Router.router(vertx);
    resource(router, "/health/live", HealthCheckHandler.createWithHealthChecks(liveness()));
    resource(router, "/health/ready", HealthCheckHandler.createWithHealthChecks(readiness())
        .resultMapper(result -> Future.succeededFuture(readinessOf(result))));
    resource(router, "/stats", ctx -> json(ctx, 200, withStoreTraffic(stats.toJson())));
    resource(router, "/metrics", this::metrics);
    router.route(ADMIN_LIMITS).handler(this::authorized);
    router.route(ADMIN_LIMITS).method(HttpMethod.GET).method(HttpMethod.HEAD).handler(this::showLimit);
    router.route(ADMIN_LIMITS).method(HttpMethod.DELETE).handler(this::resetLimit);
    router.route(ADMIN_POLICIES).handler(this::authorized);
    router.route(ADMIN_POLICIES).method(HttpMethod.GET).method(HttpMethod.HEAD).handler(this::showPolicies);
    router.route(ADMIN_POLICIES).method(HttpMethod.PUT).handler(this::jsonOnly);
    // a route of its own: Vert.x Web wants a body handler first on its route, and the checks above come before it
    router.route(ADMIN_POLICIES).method(HttpMethod.PUT)
        .handler(BodyHandler.create(false).setBodyLimit(MAX_POLICY_DOCUMENT_BYTES))
        .handler(this::replacePolicies);
    router.errorHandler(404, ctx -> problem(ctx, 404, "not-found", "Not Found", "nothing at "
        + shortened(ctx.request().path()) + " on the management port: it serves /health/live, /health/ready, /stats,"
        + " /metrics and, when on, /admin/limits/{policy}/{key} and /admin/policies"));
    router.errorHandler(405, ctx -> {
      String allowed = allowedMethods(ctx.request().path());
      ctx.response().putHeader("allow", allowed);
      problem(ctx, 405, "method-not-allowed", "Method Not Allowed", ctx.request().method() + " is not allowed on "
          + shortened(ctx.request().path()) + ": only " + allowed.replaceAll(", (\\w+)$", " and $1"));
    });
    router.errorHandler(413, ctx -> problem(ctx, 413, "body-too-large", "Content Too Large",
        "a policy document may have at most " + MAX_POLICY_DOCUMENT_BYTES + " bytes"));
    router.errorHandler(500, ctx -> problem(ctx, 500, "internal-error", "Internal Server Error",
        "the management port failed to answer: " + ctx.failure()));
    server = vertx.createHttpServer().requestHandler(router);
    return server.listen(endpoint.port(), endpoint.host());
  }

  /** The methods a path of the management port answers, as an {@code allow} field lists them. */
  static String allowedMethods(String path) {
    if (ADMIN_POLICIES.equals(path)) {
      return "GET, HEAD, PUT";
    }
    return path != null && path.startsWith("/admin/") ? "GET, HEAD, DELETE" : "GET, HEAD";
  }

  /**
   * The admin API asks for {@code Authorization: Bearer <management.adminToken>}, compared in constant time; without a
   * token configured it is off, and its paths are not found.
   */
  private void authorized(RoutingContext ctx) {
    if (adminToken == null) {
      problem(ctx, 404, "not-found", "Not Found", "the admin API is off: set management.adminToken "
          + "(SLUICE_MANAGEMENT_ADMIN_TOKEN) to turn it on");
      return;
    }
    String field = ctx.request().getHeader("authorization");
    byte[] given = field != null && field.regionMatches(true, 0, BEARER, 0, BEARER.length())
        ? field.substring(BEARER.length()).trim().getBytes(StandardCharsets.US_ASCII) : new byte[0];
    if (!MessageDigest.isEqual(given, adminToken)) {
      ctx.response().putHeader("www-authenticate", "Bearer realm=\"sluice-admin\"");
      problem(ctx, 401, "unauthorized", "Unauthorized", "the admin API needs Authorization: Bearer <management"
          + ".adminToken>");
      return;
    }
    ctx.next();
  }

  /**
   * {@code GET /admin/limits/{policy}/{key}}: what the policy counted for that key (given raw, hashed as the limiter
   * hashes it; for a global policy any key): what is left now and when the next request fits.
   */
  private void showLimit(RoutingContext ctx) {
    onCounters(ctx, "read", policy -> limiter.peek(policy, ctx.pathParam("key")), (policy, next) -> {
      long now = System.currentTimeMillis();
      // the peek took one slot on a copy: what is left before it is one more
      int remaining = next.granted() && next.atMillis() <= now ? next.remaining() + 1 : 0;
      json(ctx, 200, new JsonObject()
          .put("policy", policy.name())
          .put("requests", policy.window().requests())
          .put("windowMillis", policy.window().windowMillis())
          .put("remaining", remaining)
          .put("used", policy.window().requests() - remaining)
          .put("nextAllowedAt", java.time.Instant.ofEpochMilli(Math.max(now, next.atMillis())).toString())
          .put("retryAfterMillis", Math.max(0, next.atMillis() - now)));
    });
  }

  /** {@code DELETE /admin/limits/{policy}/{key}}: forgets what the policy counted for that key, cluster-wide. */
  private void resetLimit(RoutingContext ctx) {
    onCounters(ctx, "reset", policy -> limiter.reset(policy, ctx.pathParam("key")), (policy, done) -> {
      LOG.info("admin: policy '{}' reset for one key (by {})", policy.name(), ctx.request().remoteAddress());
      ctx.response().setStatusCode(204).end();
    });
  }

  /**
   * Runs {@code call} on the policy the path names and hands its result to {@code answer}; an unknown policy gets a
   * 404, counters that do not answer a 503, both as problems.
   */
  private <T> void onCounters(RoutingContext ctx, String verb, java.util.function.Function<Policy, Future<T>> call,
                              java.util.function.BiConsumer<Policy, T> answer) {
    Policy policy = policyOf(ctx);
    if (policy == null) {
      return;
    }
    call.apply(policy).onComplete(done -> {
      if (done.failed()) {
        problem(ctx, 503, "limiter-unavailable", "Service Unavailable",
            "the counters could not be " + verb + ": " + done.cause());
      } else {
        answer.accept(policy, done.result());
      }
    });
  }

  /** The policy the path names, or null once a 404 is sent. */
  private Policy policyOf(RoutingContext ctx) {
    String name = ctx.pathParam("policy");
    Policy policy = limiter.policy(name).orElse(null);
    if (policy == null) {
      problem(ctx, 404, "unknown-policy", "Not Found", "no policy named '" + shortened(name) + "'");
    }
    return policy;
  }

  /**
   * {@code GET /admin/policies}: the policy document in force in the cluster (version, when and by whom it was made,
   * the policies) and, under {@code gateways}, the version each gateway applied and when.
   */
  private void showPolicies(RoutingContext ctx) {
    policies.show().onComplete(shown -> {
      if (shown.failed()) {
        ctx.fail(shown.cause());
      } else {
        json(ctx, 200, shown.result());
      }
    });
  }

  /** A PUT body must be JSON: anything else is refused before it is read (415). */
  private void jsonOnly(RoutingContext ctx) {
    String type = ctx.request().getHeader("content-type");
    String media = type == null ? "" : type.split(";", 2)[0].trim().toLowerCase(java.util.Locale.ROOT);
    if (!media.equals("application/json") && !media.endsWith("+json")) {
      problem(ctx, 415, "unsupported-media-type", "Unsupported Media Type", "a policy document is sent as "
          + "Content-Type: application/json, got " + (type == null ? "none" : "'" + shortened(type) + "'"));
      return;
    }
    ctx.next();
  }

  /**
   * {@code PUT /admin/policies}: body {@code {"policies": [...]}} (the configuration file's key), optionally with
   * {@code "version"}: the version the change was made from, stored only if it is still in force (else 409). The
   * policies are checked as at startup (400 with the same message); with {@code ?dryRun=true} only checked. Answers
   * once the new version is in force on this gateway; the others apply it within a second.
   */
  private void replacePolicies(RoutingContext ctx) {
    JsonObject body;
    try {
      body = ctx.body().asJsonObject();
    } catch (DecodeException | ClassCastException e) {
      body = null;
    }
    if (body == null) {
      invalid(ctx, "the body must be a JSON object: {\"policies\": [...]}");
      return;
    }
    for (String field : body.fieldNames()) {
      if (!field.equals("policies") && !field.equals("version")) {
        invalid(ctx, SOURCE + ": key '" + shortened(field) + "' is not a known key (known: policies, version)");
        return;
      }
    }
    Object version = body.getValue("version");
    if (version != null && !(version instanceof Integer || version instanceof Long)) {
      invalid(ctx, SOURCE + ": key 'version' must be the version the change was made from, a whole number");
      return;
    }
    List<Policy> parsed;
    try {
      parsed = policies.validate(body.getValue("policies"), SOURCE);
    } catch (ConfigException e) {
      invalid(ctx, e.getMessage());
      return;
    }
    Long expected = version == null ? null : ((Number) version).longValue();
    if ("true".equals(ctx.request().getParam("dryRun"))) {
      dryRun(ctx, parsed);
      return;
    }
    policies.propose(parsed, expected, PolicyFollower.ADMIN_API + " (" + ctx.request().remoteAddress() + ")")
        .onComplete(done -> {
          if (done.succeeded()) {
            PolicyFollower.Change change = done.result();
            LOG.info("admin: policy version {} {} (by {})", change.document().version(),
                change.changed() ? "stored: " + change.differences() : "unchanged: the same policies are in force",
                ctx.request().remoteAddress());
            json(ctx, 200, change.document().toJson().put("changed", change.changed())
                .put("differences", change.differences()));
          } else if (done.cause() instanceof PolicyFollower.VersionConflict conflict) {
            problem(ctx, 409, "version-conflict", "Conflict", conflict.getMessage());
          } else {
            problem(ctx, 503, "policies-unavailable", "Service Unavailable",
                "the policy document could not be stored: " + done.cause());
          }
        });
  }

  /** What a PUT would change, without changing anything. */
  private void dryRun(RoutingContext ctx, List<Policy> parsed) {
    JsonArray proposed = PolicyJson.toJson(parsed);
    PolicyDocument inForce = policies.applied();
    JsonObject answer = new JsonObject().put("dryRun", true).put("valid", true).put("policies", proposed);
    if (inForce != null) {
      answer.put("version", inForce.version())
          .put("differences", PolicyJson.differences(inForce.policies(), proposed));
    }
    json(ctx, 200, answer);
  }

  private static void invalid(RoutingContext ctx, String detail) {
    problem(ctx, 400, "invalid-policies", "Bad Request", detail);
  }

  /** Alive while the management port's event loop answers. */
  private HealthChecks liveness() {
    return HealthChecks.create(vertx).register("event-loop", promise -> promise.complete(Status.OK()));
  }

  private HealthChecks readiness() {
    return HealthChecks.create(vertx)
        .register("deployed", promise -> promise.complete(ready ? Status.OK() : Status.KO()))
        .register("cluster-member", promise -> {
          JsonObject members = new JsonObject().put("members", store.clusterMembers());
          promise.complete(store.isReady() ? Status.OK(members) : Status.KO(members));
        })
        .register("store", promise -> {
          // DOWN only while some keys are decided alone; a suspicion still decides on the shared counters
          StoreMode.State mode = store.mode();
          JsonObject data = new JsonObject().put("mode", mode.name());
          if (mode.alone()) {
            data.put("placesAlone", store.placesAlone());
          }
          promise.complete(mode.alone() ? Status.KO(data) : Status.OK(data));
        })
        .register("upstreams", promise -> {
          JsonObject each = upstreams.details();
          promise.complete("UP".equals(upstreams.summary()) ? Status.OK(each) : Status.KO(each));
        });
  }

  /** The checks as they came, under a status and outcome decided by {@link #COUNTED_FOR_READINESS} only. */
  static CheckResult readinessOf(CheckResult all) {
    boolean up = all.getChecks().stream()
        .filter(check -> COUNTED_FOR_READINESS.contains(check.getId()))
        .allMatch(CheckResult::getUp);
    return new CheckResult().setChecks(all.getChecks()).setStatus(up ? Status.OK() : Status.KO());
  }

  /** Scraped off the event loop: Vert.x's JVM meters read MXBeans. */
  private void metrics(RoutingContext ctx) {
    vertx.executeBlocking(() -> {
      PrometheusMeterRegistry vertxMetrics = VertxMetricsSetup.registryOf(vertx);
      return vertxMetrics == null ? metrics.scrape() : metrics.scrape() + vertxMetrics.scrape();
    }, false).onComplete(scraped -> {
      if (scraped.failed()) {
        ctx.fail(scraped.cause());
        return;
      }
      ctx.response().putHeader("content-type", PROMETHEUS_TEXT).putHeader("cache-control", "no-store")
          .end(scraped.result());
    });
  }

  public void markReady() {
    ready = true;
  }

  public void markNotReady() {
    ready = false;
  }

  public Future<Void> stop() {
    return server == null ? Future.succeededFuture() : server.close();
  }

  public int actualPort() {
    return server.actualPort();
  }

  /**
   * What the limiter's decisions cost in round trips to its store: {@code storeCalls} round trips carried
   * {@code storeOperations} operations (more than one each when batched) for {@code limitedDecisions} decisions.
   */
  private JsonObject withStoreTraffic(JsonObject json) {
    long calls = store.remoteCalls();
    long operations = store.remoteOperations();
    long decisions = limiter.limitedDecisions();
    return json.put("storeCalls", calls)
        .put("storeOperations", operations)
        .put("limitedDecisions", decisions)
        .put("storeOperationsPerCall", ratio(operations, calls))
        .put("storeCallsPerDecision", ratio(calls, decisions));
  }

  private static double ratio(long numerator, long denominator) {
    return denominator == 0 ? 0 : Math.round(1000.0 * numerator / denominator) / 1000.0;
  }

  private static void resource(Router router, String path, Handler<RoutingContext> handler) {
    router.route(path).method(HttpMethod.GET).method(HttpMethod.HEAD).handler(handler);
  }

  private static void json(RoutingContext ctx, int status, JsonObject body) {
    ctx.response().setStatusCode(status).putHeader("content-type", "application/json").end(body.encode());
  }

  private static void problem(RoutingContext ctx, int status, String type, String title, String detail) {
    ctx.response().setStatusCode(status).putHeader("content-type", Problems.CONTENT_TYPE)
        .putHeader("cache-control", "no-store")
        .end(Problems.problem(status, type, title, detail).encode());
  }

  private static String shortened(String path) {
    return path == null ? "" : path.length() <= 200 ? path : path.substring(0, 200) + "…";
  }
}
