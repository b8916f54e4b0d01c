package io.sluice.gateway.limit;

import io.sluice.gateway.LogThrottle;
import io.sluice.gateway.limit.StoreMode.Transition;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The shared counters of a clustered gateway, guarded: every call on the decision path gets {@code storeTimeout} to
 * answer. A request whose call times out or fails is decided as {@code limiter.onStoreFailure} says
 * ({@link OnStoreFailure}): alone, the gateway admitting its part of the limit per window, split by its {@link Seat}
 * (i of the N gateways it sees in the cluster) so that the parts add up to the limit; or 503; or unlimited. The call's
 * answer, when it comes, is settled with that decision ({@link PendingDecision}): a slot granted for a request that was
 * not forwarded is given back, a request forwarded alone that the store did not count is added to it.
 *
 * <p>When failures persist ({@link #CONFIRM_MILLIS}, {@link StoreMode}), the gateway stops asking for the keys of
 * the failing place ({@link CounterStore#placeOf}: with Hazelcast, a partition, whose owner and backup every decision
 * waits on): each of their requests is then decided that way at once, without waiting on the store again. Keys that
 * live elsewhere keep sharing. A member killed or suspended stalls only the partitions it owns or backs up, so only
 * their keys leave shared counting; deciding every key alone for it would let each gateway's part of every limit
 * through on top of what the others share.
 *
 * <p>While shared, the local counters shadow what the shared ones said (see {@link #shadow}), so that a gateway that
 * switches knows how much of its share the last window already used. While alone, the store is probed on the key that
 * failed (its state written back unchanged): one store timeout after the failure, then every
 * {@value #PROBE_INTERVAL_MILLIS} ms. Once a probe is answered, every admission this gateway made alone in the last
 * span is added to the shared counters ({@link CounterStore#addAdmissions}), and only then are decisions shared again:
 * the shared counters know what was forwarded during the outage, so the switch back lets no burst through on top of
 * it.
 */
public final class FailoverCounterStore implements CounterStore {

  static final long PROBE_INTERVAL_MILLIS = 200;
  /**
   * How long store failures must persist (and make up half the calls) before the gateway decides everything alone;
   * and how long without one before it stops counting them. Half of the 1 s the switch may take, which leaves the
   * other half for the store timeout and the next call to fail. Shorter, a busy box's slow spells switch the gateway
   * back and forth, and each switch lets its part of every limit through on top of what the others share.
   */
  static final long CONFIRM_MILLIS = 500;
  /** The longest an admin call (look at a key, reset it) waits on the shared counters: an operator waits, not a client. */
  private static final long ADMIN_TIMEOUT_MILLIS = 2_000;
  private static final long SWEEP_PERIOD_MILLIS = 5_000;
  /** Write-back rounds before sharing again (each carries what was admitted during the previous one). */
  private static final int MAX_CARRY_ROUNDS = 8;
  /**
   * Write-backs on their way at once. Each is one call to a key's owner with {@code storeTimeout} to answer, like a
   * decision. Sent all at once (thousands of keys after an outage under per-user limits), they queue on the members,
   * any one answered after that timeout counts as a store failure, and the gateway goes back to deciding alone after
   * each probe. A few dozen at a time keep every member busy without a queue.
   */
  static final int MAX_WRITE_BACKS_IN_FLIGHT = 64;
  private static final Logger LOG = LoggerFactory.getLogger(FailoverCounterStore.class);
  /** What the log says when the gateway no longer decides any key alone (operators and tests look for it). */
  static final String BACK_TO_SHARING = "counting on the shared counters again";

  private final Vertx vertx;
  private final CounterStore shared;
  private final OnStoreFailure onFailure;
  private final long timeoutMillis;
  private final Supplier<Seat> seatSeen;
  private final Clock clock;
  private final int maxKeys;
  /** Decisions while the store fails, in this gateway's share of each policy's limit. */
  private final InMemoryCounterStore local;
  private final LongAdder failures = new LongAdder();
  /** This gateway's seat in the cluster, looked up every probe interval (not on every request). */
  private volatile Seat seat;
  /** Whether probes go out on timers (false for tests, which send them on a test clock). */
  private boolean timers;

  // guarded by this
  /** The places in trouble (not SHARED), each with its own state; a place that shares again is dropped. */
  private final Map<Integer, Place> places = new HashMap<>();
  /** How many times the gateway started or stopped deciding any key alone, or came back ({@link #mode()} changes). */
  private long switches;
  /** Store failures are logged at most once per this interval, each line counting those since the last one. */
  private static final long FAILURE_LOG_INTERVAL_MILLIS = 1_000;
  private final LogThrottle failureLog = new LogThrottle(FAILURE_LOG_INTERVAL_MILLIS);
  /** Key → what this gateway admitted without the store, in the store's own buckets, to add to it on return. */
  private final Map<String, Admitted> ledger = new HashMap<>();
  /** A round of {@link #writeBackSingles} is on its way. */
  private boolean writingBackSingles;
  /**
   * How many places are not SHARED, readable without the lock: while 0 (nearly always), a decision asks the store
   * without looking up its key's place.
   */
  private volatile int troubled;
  /** The state of the place furthest from sharing ({@link #mode()}), readable without the lock. */
  private volatile StoreMode.State state = StoreMode.State.SHARED;
  /** How many places decide alone now ({@link #placesAlone()}). */
  private volatile int alonePlaces;

  public FailoverCounterStore(Vertx vertx, CounterStore shared, OnStoreFailure onFailure, long timeoutMillis,
                              Supplier<Seat> seatSeen, Clock clock, int maxKeys) {
    this(vertx, shared, onFailure, timeoutMillis, seatSeen, clock, maxKeys, false);
    timers = true;
    vertx.setPeriodic(PROBE_INTERVAL_MILLIS, id -> {
      seat = seatSeen.get();
      probeIfDue();
    });
    // a sweep over many keys is not event-loop work
    vertx.setPeriodic(SWEEP_PERIOD_MILLIS, id -> vertx.executeBlocking(() -> {
      local.evictExpired();
      return null;
    }, false));
  }

  /**
   * Without timers: tests send the probes themselves ({@link #probeIfDue}) on a test clock.
   *
   * @param withoutTimers only tells this constructor from the public one
   */
  FailoverCounterStore(Vertx vertx, CounterStore shared, OnStoreFailure onFailure, long timeoutMillis,
                       Supplier<Seat> seatSeen, Clock clock, int maxKeys, boolean withoutTimers) {
    this.vertx = vertx;
    this.shared = shared;
    this.onFailure = onFailure;
    this.timeoutMillis = timeoutMillis;
    this.seatSeen = seatSeen;
    this.clock = clock;
    this.maxKeys = maxKeys;
    this.local = new InMemoryCounterStore(clock, maxKeys);
    this.seat = seatSeen.get();
  }

  /**
   * One place of the shared counters ({@link CounterStore#placeOf}) in trouble, as this gateway sees it: its own
   * {@link StoreMode}, and the key a probe goes to. Guarded by the store's lock; {@link #state} is also read without
   * it.
   */
  private final class Place {
    final int id;
    // the first probe one store timeout after the failure: a short pause is over that soon, or the probe says so
    final StoreMode mode = new StoreMode(timeoutMillis, PROBE_INTERVAL_MILLIS, CONFIRM_MILLIS);
    volatile StoreMode.State state = StoreMode.State.SHARED;
    String probeKey;
    WindowSpec probeSpec;

    Place(int id) {
      this.id = id;
    }
  }

  /**
   * The state that decides {@code key} now: SHARED while no place is in trouble (without the lock), else its place's.
   */
  private StoreMode.State stateOf(String key) {
    if (troubled == 0) {
      return StoreMode.State.SHARED;
    }
    synchronized (this) {
      Place place = placeDeciding(key);
      return place == null ? StoreMode.State.SHARED : place.state;
    }
  }

  /**
   * The place in trouble whose state decides {@code key} (under the lock), or null: the place it was admitted alone in
   * until that is written back (after a migration the key may live elsewhere already, whose counters do not know those
   * admissions yet), else the place it lives in.
   */
  private Place placeDeciding(String key) {
    Admitted admitted = ledger.get(key);
    if (admitted != null) {
      Place keptIn = places.get(admitted.place);
      if (keptIn != null && keptIn.state.alone()) {
        return keptIn;
      }
    }
    return places.get(shared.placeOf(key));
  }

  /** The seat {@code key}'s local share is kept in (under the lock): its place's when alone, else the current one. */
  private Seat seatFor(String key) {
    Place place = placeDeciding(key);
    return place != null && place.state.alone() ? place.mode.seat() : seat;
  }

  @Override
  public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                     long latestMillis) {
    if (stateOf(key).alone()) {
      return alone(key, spec, nowMillis, notBeforeMillis, latestMillis);
    }
    Future<Reservation> answer = shared.reserve(key, spec, nowMillis, notBeforeMillis, latestMillis);
    if (answer.succeeded()) {
      answeredInTime(key, spec, nowMillis, answer.result());
      return answer;
    }
    return new PendingDecision(key, spec, nowMillis, notBeforeMillis, latestMillis).await(answer);
  }

  /** A decision's call answered in time: the local counters learn from it, and a suspicion counts it. */
  private void answeredInTime(String key, WindowSpec spec, long nowMillis, Reservation reservation) {
    shadow(key, spec, nowMillis, reservation);
    if (troubled > 0) {
      synchronized (this) {
        Place place = places.get(shared.placeOf(key));
        if (place != null && place.state == StoreMode.State.SUSPECT) {
          apply(place, StoreMode.Event.ANSWERED, seat);
        }
      }
    }
  }

  /**
   * One decision whose store call has not answered yet: an explicit state machine, guarded by itself (the answer may
   * come on a Hazelcast thread, the timeout on an event loop).
   *
   * <pre>
   *   WAITING    answer in time                 ANSWERED    the store's decision stands
   *   WAITING    failure, or storeTimeout       GAVE_UP     decided without the store, now ({@link #decideWithout})
   *   GAVE_UP    late answer                    SETTLED     the store and what was done are made to agree:
   *                                                         - granted, not forwarded: the slot is given back
   *                                                         - granted, forwarded alone: it stays, counted
   *                                                         - denied or failed, forwarded alone: the admission is
   *                                                           added to the shared counters (kept to carry back
   *                                                           later if that fails too)
   * </pre>
   */
  private final class PendingDecision {
    private final String key;
    private final WindowSpec spec;
    private final long nowMillis;
    private final long notBeforeMillis;
    private final long latestMillis;
    private final Promise<Reservation> result = Promise.promise();
    // guarded by this
    private boolean answered;
    private Future<Reservation> withoutStore;

    PendingDecision(String key, WindowSpec spec, long nowMillis, long notBeforeMillis, long latestMillis) {
      this.key = key;
      this.spec = spec;
      this.nowMillis = nowMillis;
      this.notBeforeMillis = notBeforeMillis;
      this.latestMillis = latestMillis;
    }

    Future<Reservation> await(Future<Reservation> answer) {
      long timer = vertx.setTimer(timeoutMillis, id -> giveUp(noAnswer()));
      answer.onComplete(done -> {
        vertx.cancelTimer(timer);
        boolean inTime;
        synchronized (this) {
          inTime = withoutStore == null && done.succeeded();
          answered = inTime;
        }
        if (inTime) {
          answeredInTime(key, spec, nowMillis, done.result());
          result.complete(done.result());
          return;
        }
        // a failure in time is the last answer too: what is decided without the store is settled at once
        Future<Reservation> decided = giveUp(done.succeeded() ? noAnswer() : done.cause());
        settle(decided, done.succeeded() ? done.result() : null);
      });
      return result.future();
    }

    /** Decides without the store, once; returns that decision. */
    private Future<Reservation> giveUp(Throwable why) {
      Future<Reservation> decided;
      synchronized (this) {
        if (answered) {
          return null;
        }
        if (withoutStore != null) {
          return withoutStore;
        }
        failed(key, spec, why);
        withoutStore = decideWithout(key, spec, notBeforeMillis, latestMillis);
        decided = withoutStore;
      }
      result.handle(decided);
      return decided;
    }

    /** Makes the shared counters agree with what was done without them; {@code late} null if the call failed. */
    private void settle(Future<Reservation> decided, Reservation late) {
      boolean forwarded = decided.succeeded() && decided.result().granted();
      if (late != null && late.granted()) {
        if (!forwarded) {
          shared.release(key, spec, clock.millis(), late.bucket());
        }
        return;
      }
      if (forwarded) {
        WindowState admission = new WindowState();
        admission.record(spec, clock.millis(), decided.result().bucket());
        Admitted admitted = new Admitted(spec, admission, shared.placeOf(key));
        if (late == null) {
          // the store failed just now: keep it for the next write-back rather than fail again at once
          putBack(key, admitted);
        } else {
          timed(shared.addAdmissions(key, spec, clock.millis(), admission), key, spec, null)
              .onFailure(failure -> putBack(key, admitted));
        }
      }
    }
  }

  /**
   * The decision for one request whose call failed, as {@code limiter.onStoreFailure} says, taken now (the request
   * has waited for the store, and leaves as soon as it is admitted). Not noted for the shared counters: its
   * {@link PendingDecision} settles that with the call's answer.
   */
  private Future<Reservation> decideWithout(String key, WindowSpec spec, long notBeforeMillis, long latestMillis) {
    long now = clock.millis();
    long notBefore = Math.max(notBeforeMillis, now);
    long latest = Math.max(latestMillis, notBefore);
    switch (onFailure) {
      case CLOSED:
        return Future.failedFuture(closedAnswer());
      case OPEN:
        return Future.succeededFuture(unlimited(spec, notBefore));
      default:
        Seat own;
        synchronized (this) {
          own = seatFor(key);
        }
        Optional<WindowSpec> share = StoreMode.shareOf(spec, own);
        return share.isEmpty() ? Future.succeededFuture(noShare(spec, now))
            : withinShare(key, spec, share.get(), now, notBefore, latest);
    }
  }

  private static StoreUnavailable closedAnswer() {
    return new StoreUnavailable("the shared counters did not answer; "
        + "limiter.onStoreFailure=closed refuses limited requests until they do");
  }

  /** An admission of {@code open}: forwarded now, as if the limit were not there. */
  private static Reservation unlimited(WindowSpec spec, long atMillis) {
    long until = atMillis + spec.windowMillis();
    return new Reservation(true, spec.bucketOf(atMillis), atMillis, spec.requests(), until, until);
  }

  /** A decision on this gateway's share of a limit, in the local counters; its bucket is given in {@code spec}'s. */
  private Future<Reservation> withinShare(String key, WindowSpec spec, WindowSpec share, long nowMillis,
                                          long notBeforeMillis, long latestMillis) {
    Future<Reservation> decided = local.reserve(key, share, nowMillis, notBeforeMillis, latestMillis);
    if (decided.failed() || !decided.result().granted()) {
      return decided;
    }
    Reservation own = decided.result();
    // buckets are given back in the caller's spec, whatever the share's bucket size
    return Future.succeededFuture(new Reservation(true, spec.bucketOf(share.startOf(own.bucket())), own.atMillis(),
        own.remaining(), own.resetMillis(), own.untilMillis()));
  }

  /**
   * Keeps the local counters, in this gateway's share of the limit, as full as the shared counters say the window
   * is, so that should the store fail, what was admitted just before counts against what this gateway admits alone.
   * A granted slot is this gateway's own admission; and with {@code r} left in the window across the cluster, at most
   * its part of {@code r}, split by seat as the limit is ({@link Seat#partOf}), may still be used alone. N gateways
   * may all switch at once; told the same {@code r}, their parts add up to {@code r}, so the window holds at most
   * {@code (L - r) + r = L}. The part never exceeds the share ({@code r <= L}, and the split is monotone). A denial
   * says the window is full everywhere: nothing alone until it has passed. Either lasts one window from now: a little
   * longer than the shared counters would hold it, never shorter. A gateway whose share is 0 keeps nothing: alone, it
   * admits nothing anyway.
   */
  private void shadow(String key, WindowSpec spec, long nowMillis, Reservation reservation) {
    if (onFailure != OnStoreFailure.LOCAL) {
      return;
    }
    Seat now = seat;
    Optional<WindowSpec> own = StoreMode.shareOf(spec, now);
    if (own.isEmpty()) {
      return;
    }
    WindowSpec share = own.orElseThrow();
    if (reservation.granted()) {
      long bucket = localBucket(share, spec, reservation.bucket());
      local.record(key, share, nowMillis, bucket);
      local.fillTo(key, share, nowMillis, bucket, share.requests() - now.partOf(reservation.remaining()));
    } else {
      local.fillTo(key, share, nowMillis, share.bucketOf(nowMillis), share.requests());
    }
  }

  /** The local bucket of a slot in the store's bucket {@code bucket} (the same one, unless their sizes differ). */
  private static long localBucket(WindowSpec share, WindowSpec spec, long bucket) {
    return share.bucketOf(spec.startOf(bucket));
  }

  @Override
  public Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket) {
    if (!stateOf(key).alone()) {
      releaseLocally(key, spec, nowMillis, bucket, seat);
      Future<Void> answer = shared.release(key, spec, nowMillis, bucket);
      // a slot that could not be given back stays counted: fewer admissions, never more
      return answer.succeeded() ? answer : timed(answer, key, spec, null).otherwiseEmpty();
    }
    synchronized (this) {
      Admitted admitted = ledger.get(key);
      if (admitted != null) {
        admitted.state.release(bucket);
      }
      releaseLocally(key, spec, nowMillis, bucket, seatFor(key));
    }
    return Future.succeededFuture();
  }

  /** Gives a slot back to the local counters, in the share of the seat they were kept in. */
  private void releaseLocally(String key, WindowSpec spec, long nowMillis, long bucket, Seat keptIn) {
    if (onFailure == OnStoreFailure.LOCAL) {
      StoreMode.shareOf(spec, keptIn).ifPresent(share ->
          local.release(key, share, nowMillis, localBucket(share, spec, bucket)));
    }
  }

  @Override
  public Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted) {
    return shared.addAdmissions(key, spec, nowMillis, admitted);
  }

  @Override
  public boolean isReady() {
    return shared.isReady();
  }

  @Override
  public long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
    // SUSPECT still asks the store: its answers take as long as ever
    return stateOf(key).alone() ? 0 : shared.expectedLatencyMillis(key, spec, nowMillis);
  }

  @Override
  public long answerDeadlineMillis() {
    return timeoutMillis;
  }

  /** The store's slow answers, but never past the deadline: a later answer is not waited for. */
  @Override
  public long slowAnswerMillis(String key, WindowSpec spec, long nowMillis) {
    if (stateOf(key).alone()) {
      return 0;
    }
    long slow = shared.slowAnswerMillis(key, spec, nowMillis);
    return slow > 0 ? Math.min(slow, timeoutMillis) : timeoutMillis;
  }

  @Override
  public long remoteCalls() {
    return shared.remoteCalls();
  }

  @Override
  public long evictedKeys() {
    return shared.evictedKeys();
  }

  @Override
  public long remoteOperations() {
    return shared.remoteOperations();
  }

  @Override
  public StoreMode.State mode() {
    return state;
  }

  @Override
  public synchronized long modeSwitches() {
    return switches;
  }

  @Override
  public int placeOf(String key) {
    return shared.placeOf(key);
  }

  @Override
  public int placesAlone() {
    return alonePlaces;
  }

  @Override
  public long storeFailures() {
    return failures.sum();
  }

  @Override
  public long leaseRequests() {
    return shared.leaseRequests();
  }

  @Override
  public long leasedPermits() {
    return shared.leasedPermits();
  }

  @Override
  public int clusterMembers() {
    return shared.clusterMembers();
  }

  /** The decision without the store, as {@code limiter.onStoreFailure} says. */
  private Future<Reservation> alone(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                    long latestMillis) {
    if (onFailure == OnStoreFailure.CLOSED) {
      return stateOf(key).alone() ? Future.failedFuture(closedAnswer())
          : reserve(key, spec, nowMillis, notBeforeMillis, latestMillis);
    }
    Reservation reservation;
    try {
      reservation = decideAlone(key, spec, nowMillis, notBeforeMillis, latestMillis);
    } catch (KeyTableFull full) {
      return Future.failedFuture(full);
    }
    // null: the store came back between the caller's look and now, so decide there after all
    return reservation != null ? Future.succeededFuture(reservation)
        : reserve(key, spec, nowMillis, notBeforeMillis, latestMillis);
  }

  /** The decision of {@code local} or {@code open}, noted for the shared counters; null if they are back. */
  private synchronized Reservation decideAlone(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                               long latestMillis) {
    Place place = placeDeciding(key);
    if (place == null || !place.state.alone()) {
      return null;
    }
    Reservation reservation;
    if (onFailure == OnStoreFailure.OPEN) {
      reservation = unlimited(spec, notBeforeMillis);
    } else {
      Optional<WindowSpec> ownShare = StoreMode.shareOf(spec, place.mode.seat());
      if (ownShare.isEmpty()) {
        return noShare(spec, nowMillis);
      }
      Future<Reservation> decided = withinShare(key, spec, ownShare.get(), nowMillis, notBeforeMillis, latestMillis);
      if (decided.failed()) {
        throw (KeyTableFull) decided.cause();
      }
      reservation = decided.result();
      if (!reservation.granted()) {
        return reservation;
      }
    }
    remember(key, place.id, spec, nowMillis, reservation.bucket());
    return reservation;
  }

  /**
   * The answer of a gateway whose part of a limit is 0 (a limit below N, and this gateway's seat past it): the
   * gateways with a part admit the limit between them, this one nothing. Retry a window later, as a full window would
   * say: by then the store has usually answered a probe, and a client whose requests go round robin has reached a
   * gateway with a part.
   */
  private static Reservation noShare(WindowSpec spec, long nowMillis) {
    return Reservation.denied(nowMillis + spec.windowMillis());
  }

  /**
   * Notes an admission made alone in {@code place}, to add to the shared counters when that place shares again (at
   * most a limit's worth per span). What the key had noted already goes with it.
   */
  private void remember(String key, int place, WindowSpec spec, long nowMillis, long bucket) {
    Admitted admitted = ledger.get(key);
    if (admitted == null) {
      if (ledger.size() >= maxKeys) {
        return;
      }
      admitted = new Admitted(spec, new WindowState(), place);
      ledger.put(key, admitted);
    } else if (admitted.place != place) {
      admitted = new Admitted(admitted.spec, admitted.state, place);
      ledger.put(key, admitted);
    }
    admitted.state.record(spec, nowMillis, bucket);
  }

  /**
   * {@code answer}, or a failure once {@code storeTimeout} has passed; either failure switches the mode first, so
   * whoever continues on the failure already decides alone.
   */
  private <T> Future<T> timed(Future<T> answer, String key, WindowSpec spec, Consumer<T> lateAnswer) {
    return timed(answer, key, spec, lateAnswer, null);
  }

  /**
   * {@link #timed(Future, String, WindowSpec, Consumer)} for a call made on behalf of {@code sentFor} (a probe, a
   * write-back), whose failure counts there whatever place its key lives in now.
   */
  private <T> Future<T> timed(Future<T> answer, String key, WindowSpec spec, Consumer<T> lateAnswer, Place sentFor) {
    Promise<T> result = Promise.promise();
    AtomicBoolean settled = new AtomicBoolean();
    long timer = vertx.setTimer(timeoutMillis, id -> {
      if (settled.compareAndSet(false, true)) {
        TimeoutException why = noAnswer();
        failed(key, spec, why, sentFor);
        result.fail(why);
      }
    });
    answer.onComplete(done -> {
      vertx.cancelTimer(timer);
      if (!settled.compareAndSet(false, true)) {
        if (done.succeeded() && lateAnswer != null) {
          lateAnswer.accept(done.result());
        }
      } else if (done.succeeded()) {
        result.complete(done.result());
      } else {
        failed(key, spec, done.cause(), sentFor);
        result.fail(done.cause());
      }
    });
    return result.future();
  }

  /** The shared counters' view while they are in use, else this gateway's own (what it decides alone with). */
  @Override
  public Future<Reservation> peek(String key, WindowSpec spec, long nowMillis) {
    return !stateOf(key).alone()
        ? shared.peek(key, spec, nowMillis).timeout(ADMIN_TIMEOUT_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS)
        : local.peek(key, spec, nowMillis);
  }

  /** Forgets the key here (what was admitted alone included) and in the shared counters. */
  @Override
  public Future<Void> reset(String key, WindowSpec spec, long nowMillis) {
    local.reset(key, spec, nowMillis);
    synchronized (this) {
      ledger.remove(key);
    }
    return shared.reset(key, spec, nowMillis).timeout(ADMIN_TIMEOUT_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  private TimeoutException noAnswer() {
    return new TimeoutException("no answer within " + timeoutMillis + " ms");
  }

  private void failed(String key, WindowSpec spec, Throwable cause) {
    failed(key, spec, cause, null);
  }

  /**
   * A store call failed: counted against {@code sentFor} when a probe or write-back of that place failed (its key may
   * live elsewhere by now: a place that counted such a failure against another one would wait for its probe's answer
   * for good), else against the place the key lives in.
   */
  private void failed(String key, WindowSpec spec, Throwable cause, Place sentFor) {
    failures.increment();
    String why = cause instanceof TimeoutException ? cause.getMessage() : String.valueOf(cause);
    StoreMode.Event event = shared.refusesForNow(cause) ? StoreMode.Event.REFUSED : StoreMode.Event.FAILED;
    Applied applied;
    synchronized (this) {
      Place place = sentFor != null && places.get(sentFor.id) == sentFor ? sentFor
          : places.computeIfAbsent(shared.placeOf(key), Place::new);
      if (place != sentFor) {
        // a probe keeps its key: the one that failed in that place
        place.probeKey = key;
        place.probeSpec = spec;
      }
      // the seat seen last: the one the local shares were kept in
      applied = apply(place, event, seat);
    }
    long unlogged = failureLog.count(clock.millis());
    log(applied, why);
    if (unlogged > 0) {
      LOG.warn("limiter store: {} call(s) failed or timed out since the last such line (last: {}; policy {})",
          unlogged, why, key.substring(0, Math.max(0, key.indexOf('|'))));
    }
    Transition own = applied.place();
    if (timers && own != null && own.to() == StoreMode.State.DEGRADED && !own.from().alone()) {
      vertx.setTimer(timeoutMillis + 1, id -> probeIfDue());
    }
  }

  /**
   * Sends the probes that are due: for each place deciding alone, a call to where the key that failed there lives,
   * which changes nothing. Drops the suspicions that have had no failure for {@link #CONFIRM_MILLIS}. Writes back
   * what single requests admitted alone when their calls failed, for keys whose place shares.
   */
  void probeIfDue() {
    List<Place> due = new ArrayList<>();
    synchronized (this) {
      writeBackSingles();
      long now = clock.millis();
      List<Place> suspected = new ArrayList<>();
      for (Place place : places.values()) {
        if (place.state.alone() && place.mode.takeProbe(now)) {
          due.add(place);
        } else if (place.state == StoreMode.State.SUSPECT) {
          suspected.add(place);
        }
      }
      // a suspicion no call has failed for confirm ms is over, even where no call came to say so
      suspected.forEach(place -> apply(place, StoreMode.Event.QUIET, seat));
    }
    for (Place place : due) {
      timed(shared.addAdmissions(place.probeKey, place.probeSpec, clock.millis(), new WindowState()), place.probeKey,
          place.probeSpec, null, place).onSuccess(v -> {
            Applied applied;
            synchronized (this) {
              applied = apply(place, StoreMode.Event.PROBE_ANSWERED, seat);
            }
            log(applied, "a probe was answered");
            carry(place, 1);
          });
    }
  }

  /**
   * Adds what was admitted alone to the shared counters, then shares again. Admissions made while a round is on
   * their way are carried by the next round; the switch happens under the lock only once nothing is left.
   */
  private void carry(Place place, int round) {
    Map<String, Admitted> batch;
    Applied applied = null;
    long now = clock.millis();
    synchronized (this) {
      if (place.state != StoreMode.State.RECOVERING) {
        return;
      }
      batch = takeLedger(now, admitted -> admitted.place == place.id);
      if (batch.isEmpty() || round > MAX_CARRY_ROUNDS) {
        // the local counters stay: they hold this gateway's recent admissions, alone or shared, for the next outage
        applied = apply(place, StoreMode.Event.CARRIED, seat);
      }
    }
    Future<Boolean> written = new WriteBack(batch, now, place).start();
    if (applied != null) {
      log(applied, batch.isEmpty() ? "what was admitted alone is in the shared counters"
          : "written back in " + MAX_CARRY_ROUNDS + " rounds, " + batch.size() + " keys still on their way");
      return;
    }
    written.onSuccess(allAnswered -> {
      if (allAnswered) {
        carry(place, round + 1);
      }
    });
  }

  /**
   * While sharing: adds to the shared counters what single requests admitted alone and the store could not be told
   * about yet, one round at a time (under the lock; the round itself runs outside it).
   */
  private void writeBackSingles() {
    long now = clock.millis();
    if (writingBackSingles || ledger.isEmpty()) {
      return;
    }
    Map<String, Admitted> batch = takeLedger(now, admitted -> {
      Place keptIn = places.get(admitted.place);
      return keptIn == null || !keptIn.state.alone();
    });
    if (batch.isEmpty()) {
      return;
    }
    writingBackSingles = true;
    vertx.runOnContext(v -> new WriteBack(batch, now, null).start().onComplete(done -> {
      synchronized (this) {
        writingBackSingles = false;
      }
    }));
  }

  /**
   * Takes the ledger's entries that match {@code which} (under the lock) into a batch to write back, less what has
   * left its window by {@code now}.
   */
  private Map<String, Admitted> takeLedger(long now, Predicate<Admitted> which) {
    Map<String, Admitted> batch = new HashMap<>();
    for (Iterator<Map.Entry<String, Admitted>> entries = ledger.entrySet().iterator(); entries.hasNext(); ) {
      Map.Entry<String, Admitted> entry = entries.next();
      if (which.test(entry.getValue())) {
        entries.remove();
        // what has left its window since no longer counts anywhere: nothing to add
        if (entry.getValue().state.expiresAtMillis(entry.getValue().spec) > now) {
          batch.put(entry.getKey(), entry.getValue());
        }
      }
    }
    return batch;
  }

  /**
   * One round of write-backs: adds a batch to the shared counters, at most {@link #MAX_WRITE_BACKS_IN_FLIGHT} keys at
   * a time, and completes with whether every call was answered. A key whose call failed goes back to the ledger (the
   * failure has switched the gateway back to deciding alone) and no further key is sent. Answers may come on any
   * thread: its state is guarded by itself.
   */
  private final class WriteBack {
    private final Iterator<Map.Entry<String, Admitted>> next;
    private final long now;
    private final Promise<Boolean> done = Promise.promise();
    private int open;
    private boolean failed;

    /** The place being written back (its failures count there), or null for single requests' admissions. */
    private final Place sentFor;

    WriteBack(Map<String, Admitted> batch, long now, Place sentFor) {
      this.sentFor = sentFor;
      this.next = batch.entrySet().iterator();
      this.now = now;
    }

    Future<Boolean> start() {
      for (int i = 0; i < MAX_WRITE_BACKS_IN_FLIGHT; i++) {
        sendNext();
      }
      return done.future();
    }

    private void sendNext() {
      Map.Entry<String, Admitted> entry;
      synchronized (this) {
        if (failed || !next.hasNext()) {
          if (open == 0) {
            done.tryComplete(!failed);
          }
          return;
        }
        entry = next.next();
        open++;
      }
      String key = entry.getKey();
      Admitted admitted = entry.getValue();
      timed(shared.addAdmissions(key, admitted.spec, now, admitted.state), key, admitted.spec, null, sentFor)
          .onComplete(answer -> answered(key, admitted, answer.succeeded()));
    }

    private void answered(String key, Admitted admitted, boolean succeeded) {
      synchronized (this) {
        open--;
        failed |= !succeeded;
      }
      if (!succeeded) {
        putBack(key, admitted);
      }
      sendNext();
    }
  }

  private synchronized void putBack(String key, Admitted admitted) {
    Admitted current = ledger.putIfAbsent(key, admitted);
    if (current != null) {
      current.state.addAll(current.spec, clock.millis(), admitted.state);
    }
  }

  /**
   * Applies an event to one place under the lock: a place that shares again is dropped; the gateway's state is its
   * furthest place's. Returns the place's transition and the gateway's, each null when it stays.
   */
  private Applied apply(Place place, StoreMode.Event event, Seat seen) {
    long now = clock.millis();
    Transition own = place.mode.on(event, now, seen);
    place.state = place.mode.state();
    if (place.state == StoreMode.State.SHARED) {
      places.remove(place.id, place);
    }
    StoreMode.State before = state;
    StoreMode.State furthest = StoreMode.State.SHARED;
    int alone = 0;
    for (Place each : places.values()) {
      furthest = further(furthest, each.state);
      alone += each.state.alone() ? 1 : 0;
    }
    troubled = places.size();
    alonePlaces = alone;
    state = furthest;
    Transition gateway = null;
    if (furthest != before) {
      gateway = new Transition(before, furthest, event, now, place.mode.seat());
      if (before.alone() || furthest.alone()) {
        switches++;
      }
    }
    if (own != null && LOG.isDebugEnabled()) {
      LOG.debug("limiter store, place {}: {} -> {} ({})", place.id, own.from(), own.to(), event);
    }
    return new Applied(own, gateway, alone);
  }

  /** The state further from sharing: DEGRADED, then RECOVERING, then SUSPECT, then SHARED. */
  private static StoreMode.State further(StoreMode.State a, StoreMode.State b) {
    return rank(b) > rank(a) ? b : a;
  }

  private static int rank(StoreMode.State state) {
    return switch (state) {
      case SHARED -> 0;
      case SUSPECT -> 1;
      case RECOVERING -> 2;
      case DEGRADED -> 3;
    };
  }

  /** What one event did: to its place, to the gateway as a whole, and how many places now decide alone. */
  private record Applied(Transition place, Transition gateway, int placesAlone) {
  }

  /** Logs a change of the gateway's state (its furthest place's); the places' own changes are logged at debug. */
  private void log(Applied applied, String why) {
    Transition transition = applied.gateway();
    // a suspicion, raised or dropped, is not news (the failures are logged as such); leaving or entering deciding
    // alone is, also when another place is only suspected at that moment (RECOVERING -> SUSPECT)
    if (transition == null || !transition.from().alone() && !transition.to().alone()) {
      return;
    }
    String doing = switch (transition.to()) {
      case SHARED, SUSPECT -> BACK_TO_SHARING;
      case RECOVERING -> "writing what was admitted alone into the shared counters";
      case DEGRADED -> switch (onFailure) {
        case LOCAL -> "gateway " + transition.seat().index() + " of " + transition.seat().gateways()
            + " (by member UUID) admits " + transition.seat().partInWords("limit") + " per window on its own";
        case CLOSED -> "limited requests get 503";
        case OPEN -> "limited requests are forwarded unlimited";
      };
    };
    // leaving shared counting is the news; the way back is routine
    // keys elsewhere keep sharing; more places may follow, /stats counts them (placesAlone)
    String scope = transition.to().alone() ? ", for the keys of " + applied.placesAlone() + " failing place(s)" : "";
    String line = "limiter store " + transition.from() + " -> " + transition.to() + " (" + why + "): " + doing + scope
        + " (limiter.onStoreFailure=" + onFailure.name().toLowerCase(java.util.Locale.ROOT) + ")";
    if (transition.to() == StoreMode.State.DEGRADED) {
      LOG.warn(line);
    } else {
      LOG.info(line);
    }
  }

  /** What one key admitted alone, in its policy's window and the store's buckets, and the place it was decided in. */
  private record Admitted(WindowSpec spec, WindowState state, int place) {
  }

  /** The decision needed the shared counters, and {@code limiter.onStoreFailure} is {@code closed}. */
  public static final class StoreUnavailable extends RuntimeException {
    StoreUnavailable(String message) {
      super(message, null, false, false);
    }
  }
}
