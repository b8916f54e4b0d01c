package io.sluice.gateway.policy;

import io.sluice.gateway.config.ConfigException;
import io.sluice.gateway.config.ConfigLoader;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;

/**
 * Keeps this gateway's limiter on the policy document of its {@link PolicyStore}: seeds the document from the
 * configuration when there is none yet, adopts the document when there is one (logging how it differs from the
 * configuration), and applies every later version, told by the store's change events and, in case one is lost, by
 * reading the document again every {@value #REREAD_MILLIS} ms. Changes made through the admin API go through
 * {@link #propose}, which stores a new version only if nobody stored one since it read the document.
 *
 * <p>Reads, applies and their bookkeeping run on one Vert.x context, one at a time. When the store does not answer
 * (clustered counters down), the policies in force stay as they are until it answers again.
 */
public final class PolicyFollower {

  private static final Logger LOG = LoggerFactory.getLogger(PolicyFollower.class);

  /**
   * How often the document is read even without a change event: a lost event then delays a change by at most this
   * much, within the second in which every gateway must apply it.
   */
  static final long REREAD_MILLIS = 500;
  /**
   * How often a change with no expected version is tried again when another change was stored between its read and
   * its write (each try reads the document afresh; more than a few means changes are racing, and the caller is told).
   */
  static final int REPLACE_ATTEMPTS = 3;
  /**
   * How long startup waits for the document: a gateway whose cluster does not answer still starts, with its configured
   * policies, as it starts without its counters (and adopts the document once it can read it). Far above a call on a
   * cold but healthy cluster (tens of ms), far below Hazelcast's own 120 s invocation timeout.
   */
  static final long STARTUP_READ_TIMEOUT_MILLIS = 5_000;
  /** What the admin API's callers are recorded as when they make a change. */
  public static final String ADMIN_API = "admin API";

  private final Vertx vertx;
  private final PolicyStore store;
  private final RateLimiter limiter;
  private final long transitMillis;
  private final Clock clock;
  private final LongConsumer versionInForce;
  private Context context;
  private Future<Void> started;
  private long timer = -1;
  private boolean stopped;
  /** The document whose policies are in force here; null before the first one is applied. */
  private volatile PolicyDocument applied;
  /** A version that failed to parse here, reported once. */
  private long refusedVersion = -1;
  private boolean checking;
  private boolean checkAgain;
  private boolean storeFailing;

  /**
   * @param transitMillis  {@code limiter.transitAllowance} of this gateway, given to every policy it applies
   * @param versionInForce told the version of each document applied (for the metrics)
   */
  public PolicyFollower(Vertx vertx, PolicyStore store, RateLimiter limiter, long transitMillis, Clock clock,
                        LongConsumer versionInForce) {
    this.vertx = vertx;
    this.store = store;
    this.limiter = limiter;
    this.transitMillis = transitMillis;
    this.clock = clock;
    this.versionInForce = versionInForce;
  }

  /**
   * Seeds or adopts the document and starts following it; completes once the document's policies are in force (or,
   * with the store not answering, with the configured ones). Later calls return the first call's future.
   */
  public synchronized Future<Void> start(List<Policy> configured) {
    if (started != null) {
      return started;
    }
    context = vertx.getOrCreateContext();
    JsonArray mine = PolicyJson.toJson(configured);
    PolicyDocument seed = new PolicyDocument(PolicyDocument.FIRST_VERSION, mine, clock.millis(),
        "configuration of gateway " + store.gatewayId());
    started = store.seed(seed)
        .timeout(STARTUP_READ_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS)
        .compose(document -> {
          if (!document.policies().equals(mine)) {
            LOG.warn("policies: this gateway's configured policies differ from the cluster's policy document version "
                + "{}, which it adopts; the document, compared with the configuration: {}", document.version(),
                PolicyJson.differences(mine, document.policies()));
          }
          return apply(document);
        })
        .recover(failure -> {
          LOG.warn("policies: the policy document could not be read at startup; the configured policies stay in "
              + "force until it can be ({})", failure.toString());
          return Future.succeededFuture();
        })
        .onComplete(done -> follow());
    return started;
  }

  /** From now on, applies each version the store announces or the periodic read finds (unless stopped meanwhile). */
  private synchronized void follow() {
    if (stopped) {
      return;
    }
    store.watch(() -> context.runOnContext(v -> check()));
    timer = vertx.setPeriodic(REREAD_MILLIS, id -> check());
  }

  /** Stops following the document (the policies in force stay). */
  public synchronized void stop() {
    stopped = true;
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
    store.close();
  }

  /** The document in force here, or null before any. */
  public PolicyDocument applied() {
    return applied;
  }

  /**
   * Checks {@code policies} (the {@code "policies"} value of a request body) as the configuration's are checked at
   * startup; throws {@link ConfigException} with the same message, naming {@code source}.
   */
  public List<Policy> validate(Object policies, String source) {
    return ConfigLoader.parsePolicies(policies, transitMillis, source);
  }

  /**
   * Stores {@code policies} as the next version of the document and applies it here before completing. With
   * {@code expectedVersion}, only if that is still the version in force; without, tried again a few times if other
   * changes come first. Fails with {@link VersionConflict} when it cannot be stored. The same policies as in force
   * make no new version.
   */
  public Future<Change> propose(List<Policy> policies, Long expectedVersion, String by) {
    return propose(PolicyJson.toJson(policies), expectedVersion, by, REPLACE_ATTEMPTS);
  }

  private Future<Change> propose(JsonArray policies, Long expectedVersion, String by, int attempts) {
    return store.current().compose(document -> {
      if (document == null) {
        return Future.failedFuture(new IllegalStateException("no policy document in the store yet"));
      }
      if (expectedVersion != null && document.version() != expectedVersion) {
        return Future.failedFuture(new VersionConflict(expectedVersion, document.version()));
      }
      String differences = PolicyJson.differences(document.policies(), policies);
      if (document.policies().equals(policies)) {
        return Future.succeededFuture(new Change(document, false, differences));
      }
      PolicyDocument next = document.next(policies, clock.millis(), by);
      return store.replace(document, next).compose(replaced -> {
        if (replaced) {
          return onContext(() -> apply(next)).map(new Change(next, true, differences));
        }
        if (expectedVersion == null && attempts > 1) {
          return propose(policies, null, by, attempts - 1);
        }
        return store.current().compose(now -> Future.failedFuture(
            new VersionConflict(expectedVersion == null ? document.version() : expectedVersion,
                now == null ? document.version() : now.version())));
      });
    });
  }

  /** What {@link #propose} did: the document in force after it, whether it made a new version, and what changed. */
  public record Change(PolicyDocument document, boolean changed, String differences) {
  }

  /** Another change was stored first: the caller's version is no longer the one in force. */
  public static final class VersionConflict extends RuntimeException {
    private final long current;

    VersionConflict(long expected, long current) {
      super("the policy document is at version " + current + ", not " + expected
          + ": read it again (GET /admin/policies) and send the change again");
      this.current = current;
    }

    public long current() {
      return current;
    }
  }

  /**
   * The document in the store (or, when the store does not answer, the one in force here) with what each gateway
   * applied, for {@code GET /admin/policies}.
   */
  public Future<JsonObject> show() {
    Future<PolicyDocument> document = store.current()
        .map(stored -> stored != null ? stored : applied)
        .otherwise(failure -> applied);
    Future<List<JsonObject>> gateways = store.appliedByGateway().otherwise(failure -> List.of(appliedHere()));
    return Future.all(document, gateways).map(both -> {
      PolicyDocument shown = document.result();
      JsonObject json = shown == null ? new JsonObject() : shown.toJson();
      return json.put("gateways", new JsonArray(List.copyOf(gateways.result())));
    });
  }

  /** Reads the document and applies it if it is not in force here yet; one read at a time. */
  private void check() {
    if (checking) {
      checkAgain = true;
      return;
    }
    checking = true;
    store.current()
        .compose(document -> document != null ? apply(document) : reseed())
        .onComplete(done -> {
          if (done.failed() && !storeFailing) {
            LOG.warn("policies: the policy document could not be read; the policies in force stay ({})",
                done.cause().toString());
          } else if (done.succeeded() && storeFailing) {
            LOG.info("policies: the policy document can be read again");
          }
          storeFailing = done.failed();
          checking = false;
          if (checkAgain) {
            checkAgain = false;
            check();
          }
        });
  }

  /** No document in the store (the cluster lost it): this gateway's policies in force become it. */
  private Future<Void> reseed() {
    PolicyDocument inForce = applied;
    PolicyDocument seed = inForce != null ? inForce : new PolicyDocument(PolicyDocument.FIRST_VERSION,
        PolicyJson.toJson(limiter.policies()), clock.millis(), "configuration of gateway " + store.gatewayId());
    return store.seed(seed).compose(this::apply);
  }

  /**
   * Puts the document's policies in force unless they already are: a newer version, or the same version with other
   * contents (after a split cluster merged, the side that lost keeps the version number of the side that won).
   */
  private Future<Void> apply(PolicyDocument document) {
    PolicyDocument current = applied;
    if (current != null && (document.version() < current.version() || document.equals(current))) {
      return Future.succeededFuture();
    }
    List<Policy> policies;
    try {
      policies = ConfigLoader.parsePolicies(document.policies(), transitMillis,
          "policy document version " + document.version());
    } catch (ConfigException e) {
      if (refusedVersion != document.version()) {
        refusedVersion = document.version();
        LOG.error("policy version {} not applied, this gateway keeps the policies in force: {}", document.version(),
            e.getMessage());
      }
      return Future.succeededFuture();
    }
    String summary = current != null ? PolicyJson.differences(current.policies(), document.policies())
        : fromConfiguration(document);
    limiter.replacePolicies(policies);
    applied = document;
    versionInForce.accept(document.version());
    LOG.info("policy version {} applied ({} policies; {})", document.version(), policies.size(), summary);
    JsonObject state = new JsonObject()
        .put("version", document.version())
        .put("appliedAt", Instant.ofEpochMilli(clock.millis()).toString());
    return store.recordApplied(state).recover(failure -> {
      LOG.debug("policies: could not record that version {} was applied here", document.version(), failure);
      return Future.succeededFuture();
    });
  }

  /** The first document applied here, compared with the configured policies it replaces. */
  private String fromConfiguration(PolicyDocument document) {
    JsonArray configured = PolicyJson.toJson(limiter.policies());
    return configured.equals(document.policies()) ? "as configured"
        : "compared with the configuration: " + PolicyJson.differences(configured, document.policies());
  }

  /** What this gateway applied, as {@link PolicyStore#appliedByGateway} shows it. */
  private JsonObject appliedHere() {
    PolicyDocument document = applied;
    return new JsonObject().put("gateway", store.gatewayId()).put("version", document == null ? null
        : document.version());
  }

  /** Runs {@code work} on the follower's context, so applies never run two at a time. */
  private <T> Future<T> onContext(java.util.function.Supplier<Future<T>> work) {
    Promise<T> promise = Promise.promise();
    context.runOnContext(v -> work.get().onComplete(promise));
    return promise.future();
  }
}
