package io.sluice.gateway.limit;

import io.vertx.core.Future;

/**
 * Where limiter state lives. Each call is one atomic step on one key; implementations never block the caller's
 * event loop and complete their futures on the caller's Vert.x context.
 */
public interface CounterStore {

  /** Reserves the earliest slot for {@code key} between {@code notBeforeMillis} and {@code latestMillis}. */
  Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis, long latestMillis);

  /** Returns a slot reserved earlier, for a request that will not be forwarded. */
  Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket);

  /**
   * Adds admissions made without this store (a gateway that decided alone while the store failed) to the key's
   * counters, whatever they hold already: those requests were forwarded. With nothing to add, it changes nothing but
   * still goes to where the key lives: a probe of whether that answers.
   */
  Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted);

  /**
   * What a request on {@code key} asking at {@code nowMillis} would get (when it fits, and what would be left), without
   * taking anything: for looking at a key, not for deciding.
   */
  default Future<Reservation> peek(String key, WindowSpec spec, long nowMillis) {
    return Future.failedFuture(new UnsupportedOperationException(getClass().getSimpleName() + " cannot show a key"));
  }

  /** Forgets every admission of {@code key}: its next requests find a full window free. */
  default Future<Void> reset(String key, WindowSpec spec, long nowMillis) {
    return Future.failedFuture(new UnsupportedOperationException(getClass().getSimpleName() + " cannot reset a key"));
  }

  /** Whether the store can take decisions now (for readiness). */
  default boolean isReady() {
    return true;
  }

  /**
   * How long a reservation for this key is expected to take, generously (a high percentile); 0 when it will be
   * answered locally (a local store, or a batch of permits already in hand).
   */
  default long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
    return 0;
  }

  /**
   * The longest a decision waits on this store before it is taken without it ({@code limiter.storeTimeout} for a
   * guarded remote store); 0 when it never waits.
   */
  default long answerDeadlineMillis() {
    return 0;
  }

  /**
   * How long a slow answer for this key takes (a higher percentile than {@link #expectedLatencyMillis}): what a
   * request decided again, because its first answer came too late, plans for. 0 when answered locally; by default
   * {@link #answerDeadlineMillis()}.
   */
  default long slowAnswerMillis(String key, WindowSpec spec, long nowMillis) {
    return answerDeadlineMillis();
  }

  /** Round trips to remote state since start (0 for local stores); exposed for benchmarks. */
  default long remoteCalls() {
    return 0;
  }

  /**
   * Operations on remote state since start, carried by {@link #remoteCalls()} round trips (more than one per round
   * trip when a store batches them; 0 for local stores).
   */
  default long remoteOperations() {
    return 0;
  }

  /**
   * Whether {@code failure} is this store saying it will not serve for now (a member in the minority of a split
   * cluster), rather than a call that was slow or lost: a gateway then decides alone at once instead of waiting for
   * failures to persist.
   */
  default boolean refusesForNow(Throwable failure) {
    return false;
  }

  /**
   * Where {@code key} lives, as far as failures go: keys in the same place wait on the same machines, so they fail and
   * come back together (Hazelcast: the key's partition, whose owner and backup every counted decision waits on). A
   * guarded store ({@link FailoverCounterStore}) decides alone only the keys of the places that fail. One place (0)
   * for a store that fails as a whole.
   */
  default int placeOf(String key) {
    return 0;
  }

  /** Places ({@link #placeOf}) whose keys are decided without the shared counters now; 0 while they all share. */
  default int placesAlone() {
    return 0;
  }

  /**
   * Whether decisions are taken on this store's counters now, or without them (see {@link StoreMode}): for a store
   * whose places fail apart, the state of the place furthest from sharing.
   */
  default StoreMode.State mode() {
    return StoreMode.State.SHARED;
  }

  /** How many times {@link #mode()} changed since start. */
  default long modeSwitches() {
    return 0;
  }

  /** Store calls on the decision path that timed out or failed since start. */
  default long storeFailures() {
    return 0;
  }

  /** Batches of permits asked of the keys' owners since start (0 for a store that does not lease). */
  default long leaseRequests() {
    return 0;
  }

  /** Permits received in those batches since start, handed out here without a round trip each. */
  default long leasedPermits() {
    return 0;
  }

  /**
   * Keys this member's part of the shared counters dropped to make room (the map's eviction in cluster.xml), live or
   * not: a dropped live key starts a fresh window. 0 for a local store, which refuses new keys instead.
   */
  default long evictedKeys() {
    return 0;
  }

  /** Members of the cluster this store's counters live in, as this gateway sees it now; 0 for a local store. */
  default int clusterMembers() {
    return 0;
  }
}
