package io.sluice.gateway.limit;

import io.vertx.core.Future;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.concurrent.atomic.LongAdder;

/**
 * Decides, for one request, whether every applicable policy has room for it, and when it may be forwarded.
 *
 * <p>All policies are charged concurrently (one store call each). A request is forwarded at one instant, so every
 * policy must hold a slot in the bucket containing that instant: when a delaying policy pushes the request later,
 * the others are moved to that instant too (a few rounds at most). If any policy says no, every slot already taken
 * is given back, so a denied request consumes nobody's quota.
 *
 * <p>A denial also tells this gateway the earliest instant the key could take another request. For a short while
 * (at most {@value #KNOWN_FULL_MILLIS} ms) the gateway then denies that key locally, without a store round trip:
 * denied requests charge nothing, so this cannot let one more request through, and under a flood most decisions
 * never leave the gateway. The while is short because a denial may have been caused by slots that other requests
 * held only briefly and then gave back. When it is over, one request asks the store again, and the others are still
 * denied here until its answer is in (so a flood costs about one round trip per key per while, not one per request).
 *
 * <p>Slots are taken for the instant of the decision, but the request leaves after the store has answered and an
 * upstream connection is ready. If that is later than the slots allow (a slow round trip, a cold connection, a late
 * timer), {@link #confirm} gives the slots back and decides again for the real instant, so the guarantee holds for
 * the moment requests actually leave.
 *
 * <p>A policy counts only the requests its {@link RouteMatch} matches (the route is read once per request, and only
 * when some policy has a match). A shadow policy ({@link Policy.Mode#SHADOW}) is charged in the same rounds, exactly
 * as if it were enforced: a request it would have let through holds a slot (at the instant the request leaves, or
 * later if it would have delayed it), one it would have refused holds none, and a request an enforced policy refuses
 * holds none of its slots either. It never refuses, delays, answers 401 or decides again a request itself: it only
 * reports its verdict in {@link Decision#shadows()}. It does cost the store calls it would cost enforced, and it asks
 * the store every time (no remembered denials answer for it).
 */
public final class RateLimiter {

  private static final int MAX_ROUNDS = 4;
  private static final ThreadLocal<MessageDigest> SHA_256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JRE", e);
    }
  });
  private static final int MAX_REMEMBERED_FULL_KEYS = 100_000;
  /**
   * Bytes of {@link #namespace}'s fingerprint: 4 (8 hex digits) tell a policy's few successive key/window settings
   * apart with room to spare, and keep store keys short.
   */
  private static final int NAMESPACE_FINGERPRINT_BYTES = 4;
  static final long KNOWN_FULL_MILLIS = 50;

  private final CounterStore store;
  private final Clock clock;
  /** Store key → what a recent denial taught about it. */
  private final Map<String, KnownFull> knownFull = new ConcurrentHashMap<>();
  private final LongAdder localDenials = new LongAdder();
  private static final int MAX_REMEMBERED_HASHES = 10_000;
  private final LongAdder redecisions = new LongAdder();
  /** Upper bounds (ms) of the classes {@link #lateBy} counts late requests in: one class more for later ones. */
  public static final long[] LATE_CLASS_BOUNDS_MILLIS = {10, 50, 250};
  /**
   * A request decided again plans for at least this many times how late it was: its round trip took about its plan
   * plus that lateness, and a slow spell (a cold JIT, a member leaving, a starved box) makes the next one as slow. A
   * plan of the store's usual answer time, however high a percentile, was late again, round after round (MemberKillIT
   * on cold gateways: requests over 250 ms late fell from 49-112 to 3-4 per gateway with this; the 503s of a cold start
   * stayed, docs/exactness.md). On a steady slowness doubling catches up within a round or two.
   */
  static final long LATE_PLAN_FACTOR = 2;
  /**
   * The furthest ahead a request decided again plans (ms): a request late by more than half a second is answered
   * after at most another second, or refused when it is late again.
   */
  static final long MAX_LATE_PLAN_MILLIS = 1_000;
  /** Requests decided again, by how late they were for their slots (see {@link #LATE_CLASS_BOUNDS_MILLIS}). */
  private final LongAdder[] lateBy = java.util.stream.Stream.generate(LongAdder::new)
      .limit(LATE_CLASS_BOUNDS_MILLIS.length + 1).toArray(LongAdder[]::new);
  /** Admissions whose slots had already passed when the store's answer came back (a slow round trip). */
  private final LongAdder staleOnAnswer = new LongAdder();
  private final LongAdder limitedDecisions = new LongAdder();
  /**
   * The policies in force, swapped whole by {@link #replacePolicies}: a decision reads it once, so it sees one set of
   * policies from start to end, and a decision in flight keeps the policies it started with.
   */
  private volatile PolicySet current;
  private final List<Consumer<List<Policy>>> policyListeners = new CopyOnWriteArrayList<>();

  public RateLimiter(List<Policy> policies, CounterStore store, Clock clock) {
    this.current = new PolicySet(policies);
    this.store = store;
    this.clock = clock;
  }

  /**
   * One immutable set of policies with what the limiter derives from it: whether a request's route must be read, and
   * per policy a cache of identity → hashed store key.
   */
  private static final class PolicySet {
    final List<Policy> policies;
    /** Whether some policy has a match: only then is a request's route read. */
    final boolean routed;
    /** Per policy (by identity): its namespace and the store keys of recently seen identities. */
    final Map<Policy, PolicyKeys> keys = new IdentityHashMap<>();

    PolicySet(List<Policy> policies) {
      this.policies = List.copyOf(policies);
      this.routed = this.policies.stream().anyMatch(policy -> !policy.match().any());
      for (Policy policy : this.policies) {
        keys.put(policy, new PolicyKeys(namespace(policy), new ConcurrentHashMap<>()));
      }
    }
  }

  /** The policies this limiter applies, in order. */
  public List<Policy> policies() {
    return current.policies;
  }

  /**
   * Puts {@code policies} in force for every decision that starts from now on; decisions in flight finish with the
   * policies they started with. Counters are kept per {@link #storeKey store key}, so a policy whose name, key and
   * window are unchanged goes on counting where it was (see {@link #namespace}); what this gateway remembered of
   * recent denials is forgotten, as a new limit may have room for them. Listeners (statistics, metrics) hear of the
   * new list before this returns.
   */
  public void replacePolicies(List<Policy> policies) {
    PolicySet replacement = new PolicySet(policies);
    current = replacement;
    knownFull.clear();
    List<Policy> inForce = replacement.policies;
    for (Consumer<List<Policy>> listener : policyListeners) {
      listener.accept(inForce);
    }
  }

  /** {@code listener} hears every list {@link #replacePolicies} puts in force, on the thread that puts it. */
  public void onPoliciesReplaced(Consumer<List<Policy>> listener) {
    policyListeners.add(listener);
  }

  /** Another limiter over the same store and clock, with other policies. */
  public RateLimiter withPolicies(List<Policy> otherPolicies) {
    return new RateLimiter(otherPolicies, store, clock);
  }

  public Future<Decision> decide(RequestInfo request) {
    return decide(request, false, 0);
  }

  /**
   * @param trustDenials whether earlier denials remembered here may answer without asking the store; not for a
   *                     request deciding again after giving back its own slot, which those denials may have counted
   */
  /**
   * @param again a request decided again because it was too late for its slots: trust no earlier denial, and if the
   *              store is remote, decide for the instant a slow answer comes ({@link CounterStore#slowAnswerMillis}: a
   *              high percentile of recent answers, at most the store's answer deadline), not the usual estimate. The
   *              store's last answer came later than that estimate (in the soak, 85% of requests decided again had: a
   *              busy box), and another such estimate would likely be late again, and again, until the request got
   *              503.
   * @param lateMillis how late the request was for its slots, when decided again: over a remote store the plan is at
   *                   least {@link #LATE_PLAN_FACTOR} times that (at most {@link #MAX_LATE_PLAN_MILLIS})
   */
  private Future<Decision> decide(RequestInfo request, boolean again, long lateMillis) {
    long now = clock.millis();
    PolicySet set = current;
    RequestRoute route = set.routed ? RequestRoute.of(request) : null;
    List<Charge> charges = new ArrayList<>(set.policies.size());
    List<Decision.Shadow> unkeyed = List.of();
    for (Policy policy : set.policies) {
      if (route != null && !policy.match().matches(route)) {
        continue;
      }
      String identity = policy.keySource().extract(request);
      if (identity == null) {
        switch (policy.onMissingKey()) {
          case REJECT:
            if (policy.shadow()) {
              unkeyed = unkeyed.isEmpty() ? new ArrayList<>() : unkeyed;
              unkeyed.add(new Decision.Shadow(policy, Decision.ShadowVerdict.MISSING_KEY, 0, now));
              continue;
            }
            return Future.succeededFuture(Decision.missingKey(policy));
          case SKIP:
            continue;
          case IP:
            identity = "ip:" + request.clientIp();
            break;
          default:
            throw new IllegalStateException(policy.onMissingKey().name());
        }
      }
      charges.add(new Charge(policy, cachedStoreKey(set, policy, identity)));
    }
    if (charges.isEmpty()) {
      return Future.succeededFuture(Decision.admit(now, List.of(), List.of(), Long.MAX_VALUE, null, List.copyOf(unkeyed)));
    }
    limitedDecisions.increment();
    // Decide for the instant the answer will be back, not for now: the request leaves then.
    long lead = 0;
    long slow = 0;
    for (Charge charge : charges) {
      long expected = store.expectedLatencyMillis(charge.key, charge.policy.window(), now);
      lead = Math.max(lead, expected);
      if (again && expected > 0) {
        slow = Math.max(slow, store.slowAnswerMillis(charge.key, charge.policy.window(), now));
      }
    }
    if (again && lead > 0) {
      // however the store answers, the request itself was this late: a starved event loop or a slow connection (a
      // local store answers at once, so a request decided again there leaves at once: nothing to be late for)
      slow = Math.max(slow, Math.min(LATE_PLAN_FACTOR * lateMillis, MAX_LATE_PLAN_MILLIS));
    }
    long target = now + Math.max(lead, slow);
    Decision known = again ? null : knownFull(charges, now, target);
    if (known != null) {
      localDenials.increment();
      return Future.succeededFuture(known);
    }
    return round(charges, unkeyed, now, target, 1);
  }

  /**
   * Called as the request is about to leave. If it leaves within its slots, the decision stands; otherwise the
   * slots are given back and the request is decided again for now (it may then be delayed or denied).
   */
  public Future<Decision> confirm(Decision decision, RequestInfo request) {
    long now = clock.millis();
    if (!decision.admitted() || now <= decision.staleAtMillis()) {
      return Future.succeededFuture(decision);
    }
    redecisions.increment();
    long late = now - decision.staleAtMillis();
    int lateClass = 0;
    while (lateClass < LATE_CLASS_BOUNDS_MILLIS.length && late > LATE_CLASS_BOUNDS_MILLIS[lateClass]) {
      lateClass++;
    }
    lateBy[lateClass].increment();
    return release(decision).transform(released -> decide(request, true, late));
  }

  /** The policy of this name, if there is one. */
  public Optional<Policy> policy(String name) {
    return current.policies.stream().filter(policy -> policy.name().equals(name)).findFirst();
  }

  /**
   * What a request of {@code identity} (a token, header value or address, raw; ignored by a global policy) would get
   * from {@code policy} now, without taking it. The identity is hashed as for a decision and not kept.
   */
  public Future<Reservation> peek(Policy policy, String identity) {
    return store.peek(storeKey(policy, identity), policy.window(), clock.millis());
  }

  /** Forgets what {@code policy} counted for {@code identity}, here and in the store (for every gateway sharing it). */
  public Future<Void> reset(Policy policy, String identity) {
    String key = storeKey(policy, identity);
    knownFull.remove(key);
    return store.reset(key, policy.window(), clock.millis());
  }

  /** Gives back the slots of an admitted request that will not be forwarded after all. */
  public Future<Void> release(Decision decision) {
    long now = clock.millis();
    List<Future<Void>> releases = new ArrayList<>();
    for (Decision.Holding holding : decision.holdings()) {
      // a slot freed here makes what this gateway learnt from earlier denials of the key stale
      knownFull.remove(holding.key());
      releases.add(store.release(holding.key(), holding.window(), now, holding.bucket()));
    }
    return releases.isEmpty() ? Future.succeededFuture() : Future.join(releases).mapEmpty();
  }

  /** Admitted requests that left too late for their slots and were decided again. */
  public long redecisions() {
    return redecisions.sum();
  }

  /** Requests decided again, by how late they were: at most 10, 50, 250 ms, and later. */
  public long[] redecisionsByLateness() {
    return java.util.Arrays.stream(lateBy).mapToLong(LongAdder::sum).toArray();
  }

  /** Admissions already too late for their slots when the store's answer came back (they are decided again). */
  public long staleOnAnswer() {
    return staleOnAnswer.sum();
  }

  /** Decisions that charged at least one policy (asking the store, or denied here from what it said before). */
  public long limitedDecisions() {
    return limitedDecisions.sum();
  }

  /** Requests denied here from what earlier denials taught, without asking the store. */
  public long localDenials() {
    return localDenials.sum();
  }

  private Decision knownFull(List<Charge> charges, long now, long target) {
    for (Charge charge : charges) {
      if (charge.policy.shadow()) {
        continue;
      }
      KnownFull known = knownFull.get(charge.key);
      if (known != null) {
        if (known.trustUntil <= now || known.freeAt <= now) {
          // stale: one request asks the store again; while it does, the others keep being denied here
          if (known.refreshUntil > now) {
            return Decision.deny(charge.policy, Math.max(known.freeAt, now));
          }
          KnownFull refreshing = new KnownFull(known.freeAt, known.trustUntil, now + KNOWN_FULL_MILLIS);
          if (!knownFull.replace(charge.key, known, refreshing)) {
            return Decision.deny(charge.policy, Math.max(known.freeAt, now));
          }
        } else if (known.freeAt > latest(charge.policy, now, target)) {
          return Decision.deny(charge.policy, known.freeAt);
        }
      }
    }
    return null;
  }

  private void rememberFull(String key, long freeAt, long now) {
    if (knownFull.size() >= MAX_REMEMBERED_FULL_KEYS) {
      knownFull.values().removeIf(known -> known.trustUntil <= now);
      if (knownFull.size() >= MAX_REMEMBERED_FULL_KEYS) {
        return;
      }
    }
    knownFull.put(key, new KnownFull(freeAt, now + KNOWN_FULL_MILLIS, 0));
  }

  /** A key's earliest free slot as of a denial, trusted until {@code trustUntil}. */
  private record KnownFull(long freeAt, long trustUntil, long refreshUntil) {
  }

  /** The latest instant a policy lets the request leave: its delay limit, or the short grace of a rejecting one. */
  private static long latest(Policy policy, long now, long target) {
    return policy.delays()
        ? Math.max(target, now + policy.maxDelayMillis())
        : target + policy.window().rejectGraceMillis();
  }

  /** {@link #storeKey}, remembered for recently seen identities (hashing every request costs more than a lookup). */
  private static String cachedStoreKey(PolicySet set, Policy policy, String identity) {
    PolicyKeys known = set.keys.get(policy);
    String key = known.hashed().get(identity);
    if (key == null) {
      if (known.hashed().size() >= MAX_REMEMBERED_HASHES) {
        known.hashed().clear();
      }
      key = storeKey(known.namespace(), policy, identity);
      known.hashed().put(identity, key);
    }
    return key;
  }

  /**
   * A policy's {@link #namespace} (a hash, worked out once per policy set, not per new identity) and identity
   * (token, header value, address) → its hashed store key.
   */
  private record PolicyKeys(String namespace, Map<String, String> hashed) {
  }

  /**
   * The key under which a policy's counter for one identity is stored: {@link #namespace} then {@code |*} for a
   * global policy or {@code |} and a hash of the identity, never the raw token.
   */
  static String storeKey(Policy policy, String identity) {
    return storeKey(namespace(policy), policy, identity);
  }

  private static String storeKey(String namespace, Policy policy, String identity) {
    if (policy.keySource() instanceof KeySource.Global) {
      return namespace + "|*";
    }
    byte[] digest = SHA_256.get().digest(identity.getBytes(StandardCharsets.UTF_8));
    return namespace + "|" + HexFormat.of().formatHex(digest, 0, 16);
  }

  /**
   * The part of a policy's store keys that says whose counters they are: its name, {@code @}, and a short
   * fingerprint of what gives the stored counts their meaning: the key source (whose requests are counted together),
   * the window length and the bucket length (stored counts are per bucket, numbered by bucket length). When a policy
   * is replaced by one with the same namespace, its counters go on: changing {@code requests}, {@code onExceed}
   * (reject or delay: a delaying policy's {@link WindowSpec#queuedVariant() queued window} only tolerates more
   * lateness, its buckets are the same), {@code maxDelay}, {@code onMissingKey}, {@code match} or {@code mode} keeps
   * the window's history. Changing the key source or the window starts from empty counters, and so does a change of
   * {@code requests} across {@link WindowSpec#LEASE_MIN_REQUESTS} (which changes the bucket length): counts of other
   * buckets would mean nothing. Counters nobody uses any more expire with their window, as every counter does.
   */
  static String namespace(Policy policy) {
    // in lower case: header names are case-insensitive, X-Api-Key and x-api-key count the same requests
    String meaning = policy.keySource().spec().toLowerCase(Locale.ROOT) + "/" + policy.window().windowMillis() + "/"
        + policy.window().bucketMillis();
    byte[] digest = SHA_256.get().digest(meaning.getBytes(StandardCharsets.UTF_8));
    return policy.name() + "@" + HexFormat.of().formatHex(digest, 0, NAMESPACE_FINGERPRINT_BYTES);
  }

  /** {@code unkeyed}: what shadow policies that found no key in the request would have done (401). */
  private Future<Decision> round(List<Charge> charges, List<Decision.Shadow> unkeyed, long now, long target,
                                 int round) {
    List<Future<Reservation>> pending = new ArrayList<>();
    List<Charge> asked = new ArrayList<>();
    for (Charge charge : charges) {
      if (charge.settled(target)) {
        continue;
      }
      charge.askedAtMillis = target;
      asked.add(charge);
      pending.add(store.reserve(charge.key, charge.policy.window(), now, target, latest(charge.policy, now, target)));
    }
    return Future.join(pending).transform(done -> {
      Charge denied = null;
      long retryAt = now;
      for (int i = 0; i < asked.size(); i++) {
        Future<Reservation> answer = pending.get(i);
        Charge charge = asked.get(i);
        if (answer.failed() && !(answer.cause() instanceof KeyTableFull && charge.policy.shadow())) {
          return releaseAll(charges, now).transform(released -> Future.failedFuture(answer.cause()));
        }
        // a shadow policy never refuses: a key it could not count (table full) is a verdict, as a denial would be
        Reservation reservation = answer.failed() ? Reservation.denied(now) : answer.result();
        charge.reservation = reservation;
        if (reservation.granted() && charge.policy.delays() && !charge.policy.shadow()
            && reservation.atMillis() > charge.askedAtMillis) {
          charge.heldByPolicy = true;
        }
        if (!reservation.granted() && !charge.policy.shadow()) {
          if (round == 1) {
            rememberFull(charge.key, reservation.atMillis(), now);
          }
          if (denied == null || reservation.atMillis() > retryAt) {
            denied = charge;
            retryAt = reservation.atMillis();
          }
        }
      }
      if (denied != null) {
        Decision deny = Decision.deny(denied.policy, retryAt);
        return releaseAll(charges, now).transform(released -> Future.succeededFuture(deny));
      }
      long forwardAt = target;
      for (Charge charge : charges) {
        if (!charge.policy.shadow()) {
          forwardAt = Math.max(forwardAt, charge.reservation.atMillis());
        }
      }
      List<Charge> misplaced = new ArrayList<>();
      Charge misplacedEnforced = null;
      for (Charge charge : charges) {
        if (!charge.settled(forwardAt)) {
          misplaced.add(charge);
          if (misplacedEnforced == null && !charge.policy.shadow()) {
            misplacedEnforced = charge;
          }
        }
      }
      long leaveAt = forwardAt;
      if (!misplaced.isEmpty() && misplacedEnforced == null && round == MAX_ROUNDS) {
        // only shadow policies found no slot at the instant in time: enforced, they would have refused the request
        return releaseAll(misplaced, now).map(released -> {
          for (Charge charge : misplaced) {
            charge.reservation = Reservation.denied(leaveAt);
          }
          return admission(charges, unkeyed, leaveAt);
        });
      }
      if (misplaced.isEmpty()) {
        if (!knownFull.isEmpty()) {
          // admitted: whatever this gateway believed about these keys being full is over
          for (Charge charge : charges) {
            knownFull.remove(charge.key);
          }
        }
        Decision admitted = admission(charges, unkeyed, forwardAt);
        if (clock.millis() > admitted.staleAtMillis()) {
          staleOnAnswer.increment();
        }
        return Future.succeededFuture(admitted);
      }
      if (round == MAX_ROUNDS) {
        Decision deny = Decision.deny(misplacedEnforced.policy, forwardAt);
        return releaseAll(charges, now).transform(released -> Future.succeededFuture(deny));
      }
      return releaseAll(misplaced, now).transform(released -> round(charges, unkeyed, now, leaveAt, round + 1));
    });
  }

  /** Gives back every slot held; completes when the store has them back, so the next request sees them free. */
  private Future<Void> releaseAll(List<Charge> charges, long now) {
    List<Future<Void>> releases = new ArrayList<>();
    for (Charge charge : charges) {
      Reservation reservation = charge.reservation;
      if (reservation != null && reservation.granted()) {
        knownFull.remove(charge.key);
        releases.add(store.release(charge.key, charge.policy.window(), now, reservation.bucket()));
      }
      charge.reservation = null;
    }
    return releases.isEmpty() ? Future.succeededFuture() : Future.join(releases).mapEmpty();
  }

  private static Decision admission(List<Charge> charges, List<Decision.Shadow> unkeyed, long forwardAt) {
    List<Decision.PolicyStatus> statuses = new ArrayList<>(charges.size());
    List<Decision.Holding> holdings = new ArrayList<>(charges.size());
    List<Decision.Shadow> shadows = new ArrayList<>(unkeyed);
    long staleAt = Long.MAX_VALUE;
    Policy delayedBy = null;
    long heldUntil = Long.MIN_VALUE;
    for (Charge charge : charges) {
      Reservation reservation = charge.reservation;
      if (charge.heldByPolicy && reservation.atMillis() > heldUntil) {
        // of several delaying policies, the one that holds the request longest
        delayedBy = charge.policy;
        heldUntil = reservation.atMillis();
      }
      WindowSpec window = charge.policy.window();
      if (charge.policy.shadow()) {
        shadows.add(shadow(charge, forwardAt));
        if (reservation.granted()) {
          // given back with the others if the request is not forwarded, but never a reason to decide again
          holdings.add(new Decision.Holding(charge.key, window, reservation.bucket()));
        }
        continue;
      }
      statuses.add(new Decision.PolicyStatus(charge.policy, reservation.remaining(), reservation.resetMillis()));
      holdings.add(new Decision.Holding(charge.key, window, reservation.bucket()));
      staleAt = Math.min(staleAt, reservation.untilMillis() + window.lateToleranceMillis());
    }
    return Decision.admit(forwardAt, statuses, holdings, staleAt, delayedBy, List.copyOf(shadows));
  }

  /**
   * A shadow policy's verdict on a request leaving at {@code forwardAt}: refused when it found no slot, delayed when
   * it delays and its slot starts later (a rejecting policy's short hold, {@link WindowSpec#rejectGraceMillis()}, is
   * no delay), else forwarded.
   */
  private static Decision.Shadow shadow(Charge charge, long forwardAt) {
    Reservation reservation = charge.reservation;
    if (!reservation.granted()) {
      return new Decision.Shadow(charge.policy, Decision.ShadowVerdict.REJECT, 0, reservation.atMillis());
    }
    Decision.ShadowVerdict verdict = charge.policy.delays() && reservation.atMillis() > forwardAt
        ? Decision.ShadowVerdict.DELAY : Decision.ShadowVerdict.FORWARD;
    return new Decision.Shadow(charge.policy, verdict, reservation.remaining(), reservation.resetMillis());
  }

  /** One policy's claim on one request: its store key and the slot it holds, if any. */
  private static final class Charge {
    final Policy policy;
    final String key;
    Reservation reservation;
    /** The instant this policy was last asked a slot for. */
    long askedAtMillis;
    /**
     * This policy delays and gave a slot later than it was asked for, in any round: it holds the request (a later
     * round, asked for the instant it gave, may find that instant free and no longer say so).
     */
    boolean heldByPolicy;

    Charge(Policy policy, String key) {
      this.policy = policy;
      this.key = key;
    }

    /** Whether the slot held lets the request leave at {@code forwardAtMillis}. */
    boolean holds(long forwardAtMillis) {
      return reservation != null && reservation.covers(forwardAtMillis);
    }

    /**
     * Whether this charge needs no new slot for a request leaving at {@code forwardAtMillis}: it holds one then, or
     * it is a shadow policy's that would have refused the request or holds a later slot (it would have delayed it).
     */
    boolean settled(long forwardAtMillis) {
      return holds(forwardAtMillis) || policy.shadow() && reservation != null
          && (!reservation.granted() || reservation.atMillis() > forwardAtMillis);
    }
  }
}
