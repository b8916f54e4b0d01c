package io.sluice.gateway.policy;

import ch.qos.logback.classic.Level;
import io.sluice.gateway.config.ConfigLoader;
import io.sluice.gateway.limit.InMemoryCounterStore;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.TestClock;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.testing.LogCapture;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PolicyFollower against a store the test controls: what it applies, when, and what it keeps. */
@DisplayName("Following the policy document")
class PolicyFollowerTest {

  private static final long T0 = 1_800_000_000_000L;
  /** Longer than a re-read period ({@link PolicyFollower#REREAD_MILLIS}) plus a read: a version must be in by then. */
  private static final long AFTER_A_REREAD_MILLIS = 2 * PolicyFollower.REREAD_MILLIS;
  private final TestClock clock = new TestClock(T0);
  private final List<Long> versions = new ArrayList<>();
  private Vertx vertx;
  private FakeStore store;
  private RateLimiter limiter;
  private PolicyFollower follower;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    store = new FakeStore();
    limiter = new RateLimiter(policies(global(10)), new InMemoryCounterStore(clock, 1_000), clock);
    follower = new PolicyFollower(vertx, store, limiter, WindowSpec.DEFAULT_TRANSIT_MILLIS, clock, versions::add);
  }

  @AfterEach
  void stop() {
    follower.stop();
    vertx.close().await();
  }

  private static JsonObject global(int requests) {
    return new JsonObject().put("name", "global").put("key", "global").put("requests", requests).put("window", "1s");
  }

  private static List<Policy> policies(JsonObject... policies) {
    return ConfigLoader.parsePolicies(new JsonArray(List.of((Object[]) policies)), WindowSpec.DEFAULT_TRANSIT_MILLIS,
        "test");
  }

  private int globalLimit() {
    return limiter.policy("global").orElseThrow().window().requests();
  }

  /** Starts the follower on a Vert.x context, as the gateway does. */
  private Future<Void> startFollowing() {
    return Future.future(promise -> vertx.runOnContext(v -> follower.start(limiter.policies()).onComplete(promise)));
  }

  @Test
  @DisplayName("the first gateway seeds version 1 from its configuration and keeps its policies")
  void seeds() {
    startFollowing().await();
    assertEquals(PolicyDocument.FIRST_VERSION, store.document.version());
    assertEquals(PolicyJson.toJson(policies(global(10))), store.document.policies());
    assertEquals(List.of(1L), versions);
  }

  @Test
  @DisplayName("a version stored without a change event is applied by the next re-read")
  void lostEventsAreCaughtUp() {
    startFollowing().await();
    store.document = store.document.next(new JsonArray().add(PolicyJson.toJson(policies(global(3)).get(0))), T0,
        "elsewhere");
    vertx.timer(AFTER_A_REREAD_MILLIS).await();
    assertEquals(3, globalLimit());
    assertEquals(List.of(1L, 2L), versions);
  }

  @Test
  @DisplayName("while the store does not answer, the policies in force stay; they follow again once it answers")
  void storeDownKeepsPolicies() {
    store.down = true;
    try (LogCapture logs = LogCapture.of(PolicyFollower.class)) {
      startFollowing().await();
      assertEquals(10, globalLimit(), "the configured policies, as the document cannot be read");
      assertTrue(logs.messages(Level.WARN).stream().anyMatch(line -> line.contains("could not be read at startup")),
          () -> logs.lines().toString());
    }
    store.down = false;
    store.document = new PolicyDocument(7, new JsonArray().add(PolicyJson.toJson(policies(global(4)).get(0))), T0,
        "elsewhere");
    vertx.timer(AFTER_A_REREAD_MILLIS).await();
    assertEquals(4, globalLimit());
  }

  @Test
  @DisplayName("a version this gateway cannot read is refused with one error line; an older version is ignored")
  void refusesUnreadableAndOlder() {
    startFollowing().await();
    try (LogCapture logs = LogCapture.of(PolicyFollower.class)) {
      store.document = store.document.next(new JsonArray().add(global(0)), T0, "elsewhere");
      vertx.timer(AFTER_A_REREAD_MILLIS).await();
      assertEquals(10, globalLimit());
      List<String> errors = logs.messages(Level.ERROR);
      assertEquals(1, errors.size(), errors::toString);
      assertTrue(errors.get(0).startsWith("policy version 2 not applied"), errors::toString);
      assertTrue(errors.get(0).contains("policy document version 2: key 'policies[0].requests' must be an integer"),
          errors::toString);
    }
    store.document = new PolicyDocument(5, new JsonArray().add(PolicyJson.toJson(policies(global(5)).get(0))), T0,
        "elsewhere");
    vertx.timer(AFTER_A_REREAD_MILLIS).await();
    assertEquals(5, globalLimit());
    store.document = new PolicyDocument(4, new JsonArray().add(PolicyJson.toJson(policies(global(2)).get(0))), T0,
        "elsewhere");
    vertx.timer(AFTER_A_REREAD_MILLIS).await();
    assertEquals(5, globalLimit(), "version 4 is older than the 5 in force");
  }

  @Test
  @DisplayName("a change made from a version no longer in force is refused, and a racing change without one retried")
  void compareAndSet() {
    startFollowing().await();
    store.document = store.document.next(PolicyJson.toJson(policies(global(6))), T0, "elsewhere");
    Throwable stale = follower.propose(policies(global(7)), 1L, "test")
        .transform(done -> Future.succeededFuture(done.cause())).await();
    assertInstanceOf(PolicyFollower.VersionConflict.class, stale);
    assertEquals(2, store.document.version());

    store.loseNextRace = true;
    PolicyFollower.Change change = follower.propose(policies(global(8)), null, "test").await();
    assertEquals(4, change.document().version(), "the race lost to version 3, then stored on top of it");
    assertEquals(8, globalLimit());
  }

  /** A store in memory whose answers the test decides: it may be down, or let another change win a race. */
  private final class FakeStore implements PolicyStore {
    volatile PolicyDocument document;
    volatile boolean down;
    volatile boolean loseNextRace;

    private <T> Future<T> answer(java.util.function.Supplier<T> value) {
      return down ? Future.failedFuture(new IllegalStateException("store down")) : Future.succeededFuture(value.get());
    }

    @Override
    public String gatewayId() {
      return "fake";
    }

    @Override
    public Future<PolicyDocument> seed(PolicyDocument initial) {
      return answer(() -> {
        if (document == null) {
          document = initial;
        }
        return document;
      });
    }

    @Override
    public Future<PolicyDocument> current() {
      return answer(() -> document);
    }

    @Override
    public Future<Boolean> replace(PolicyDocument expected, PolicyDocument next) {
      return answer(() -> {
        if (loseNextRace) {
          loseNextRace = false;
          document = document.next(PolicyJson.toJson(policies(global(9))), T0, "the other racer");
          return false;
        }
        if (!expected.equals(document)) {
          return false;
        }
        document = next;
        return true;
      });
    }

    @Override
    public Future<Void> recordApplied(JsonObject applied) {
      return answer(() -> null);
    }

    @Override
    public Future<List<JsonObject>> appliedByGateway() {
      return answer(List::of);
    }

    @Override
    public void watch(Runnable changed) {
    }

    @Override
    public void close() {
    }
  }
}
