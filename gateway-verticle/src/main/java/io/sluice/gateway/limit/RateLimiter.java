package io.sluice.gateway.limit;

import io.vertx.core.Future;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
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
  static final long KNOWN_FULL_MILLIS = 50;

  private final List<Policy> policies;
  private final CounterStore store;
  private final Clock clock;
  /** Store key → what a recent denial taught about it. */
  private final Map<String, KnownFull> knownFull = new ConcurrentHashMap<>();
  private final LongAdder localDenials = new LongAdder();
  private static final int MAX_REMEMBERED_HASHES = 10_000;
  /** Per policy: identity (token, header value, address) → its hashed store key. */
  private final Map<Policy, Map<String, String>> hashedKeys = new java.util.IdentityHashMap<>();
  private final LongAdder redecisions = new LongAdder();
  private final LongAdder limitedDecisions = new LongAdder();

  public RateLimiter(List<Policy> policies, CounterStore store, Clock clock) {
    this.policies = List.copyOf(policies);
    for (Policy policy : this.policies) {
      hashedKeys.put(policy, new ConcurrentHashMap<>());
    }
    this.store = store;
    this.clock = clock;
  }

  /** The policies this limiter applies, in order. */
  public List<Policy> policies() {
    return policies;
  }

  /** Another limiter over the same store and clock, with other policies. */
  public RateLimiter withPolicies(List<Policy> otherPolicies) {
    return new RateLimiter(otherPolicies, store, clock);
  }

  public Future<Decision> decide(RequestInfo request) {
    return decide(request, true);
  }

  /**
   * @param trustDenials whether earlier denials remembered here may answer without asking the store; not for a
   *                     request deciding again after giving back its own slot, which those denials may have counted
   */
  private Future<Decision> decide(RequestInfo request, boolean trustDenials) {
    long now = clock.millis();
    List<Charge> charges = new ArrayList<>(policies.size());
    for (Policy policy : policies) {
      String identity = policy.keySource().extract(request);
      if (identity == null) {
        switch (policy.onMissingKey()) {
          case REJECT:
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
      charges.add(new Charge(policy, cachedStoreKey(policy, identity)));
    }
    if (charges.isEmpty()) {
      return Future.succeededFuture(Decision.admit(now, List.of()));
    }
    limitedDecisions.increment();
    // Decide for the instant the answer will be back, not for now: the request leaves then.
    long lead = 0;
    for (Charge charge : charges) {
      lead = Math.max(lead, store.expectedLatencyMillis(charge.key, charge.policy.window(), now));
    }
    long target = now + lead;
    Decision known = trustDenials ? knownFull(charges, now, target) : null;
    if (known != null) {
      localDenials.increment();
      return Future.succeededFuture(known);
    }
    return round(charges, now, target, 1);
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
    return release(decision).transform(released -> decide(request, false));
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
  private String cachedStoreKey(Policy policy, String identity) {
    Map<String, String> keys = hashedKeys.get(policy);
    String key = keys.get(identity);
    if (key == null) {
      if (keys.size() >= MAX_REMEMBERED_HASHES) {
        keys.clear();
      }
      key = storeKey(policy, identity);
      keys.put(identity, key);
    }
    return key;
  }

  /** The key under which a policy's counter for one identity is stored: never the raw token. */
  static String storeKey(Policy policy, String identity) {
    if (policy.keySource() instanceof KeySource.Global) {
      return policy.name() + "|*";
    }
    byte[] digest = SHA_256.get().digest(identity.getBytes(StandardCharsets.UTF_8));
    return policy.name() + "|" + HexFormat.of().formatHex(digest, 0, 16);
  }

  private Future<Decision> round(List<Charge> charges, long now, long target, int round) {
    List<Future<Reservation>> pending = new ArrayList<>();
    List<Charge> asked = new ArrayList<>();
    for (Charge charge : charges) {
      if (charge.holds(target)) {
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
        if (answer.failed()) {
          return releaseAll(charges, now).transform(released -> Future.failedFuture(answer.cause()));
        }
        Reservation reservation = answer.result();
        Charge charge = asked.get(i);
        charge.reservation = reservation;
        if (reservation.granted() && charge.policy.delays() && reservation.atMillis() > charge.askedAtMillis) {
          charge.heldByPolicy = true;
        }
        if (!reservation.granted()) {
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
        forwardAt = Math.max(forwardAt, charge.reservation.atMillis());
      }
      List<Charge> misplaced = new ArrayList<>();
      for (Charge charge : charges) {
        if (!charge.holds(forwardAt)) {
          misplaced.add(charge);
        }
      }
      if (misplaced.isEmpty()) {
        if (!knownFull.isEmpty()) {
          // admitted: whatever this gateway believed about these keys being full is over
          for (Charge charge : charges) {
            knownFull.remove(charge.key);
          }
        }
        return Future.succeededFuture(admission(charges, forwardAt));
      }
      if (round == MAX_ROUNDS) {
        Decision deny = Decision.deny(misplaced.get(0).policy, forwardAt);
        return releaseAll(charges, now).transform(released -> Future.succeededFuture(deny));
      }
      long target2 = forwardAt;
      return releaseAll(misplaced, now).transform(released -> round(charges, now, target2, round + 1));
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

  private static Decision admission(List<Charge> charges, long forwardAt) {
    List<Decision.PolicyStatus> statuses = new ArrayList<>(charges.size());
    List<Decision.Holding> holdings = new ArrayList<>(charges.size());
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
      statuses.add(new Decision.PolicyStatus(charge.policy, reservation.remaining(), reservation.resetMillis()));
      holdings.add(new Decision.Holding(charge.key, window, reservation.bucket()));
      staleAt = Math.min(staleAt, reservation.untilMillis() + window.lateToleranceMillis());
    }
    return Decision.admit(forwardAt, statuses, holdings, staleAt, delayedBy);
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
  }
}
