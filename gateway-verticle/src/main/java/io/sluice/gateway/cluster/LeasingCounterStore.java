package io.sluice.gateway.cluster;

import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.LeaseGrant;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.SweepCursor;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Future;
import io.vertx.core.Promise;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Cuts cluster round trips for high limits: for a policy of at least {@link WindowSpec#LEASE_MIN_REQUESTS} per
 * window, this gateway takes permits in batches from the key's owner and hands them out itself while the batch's
 * short lease lasts ({@link WindowSpec#leaseMillis()}). The owner records a batch where its lease ends and the
 * window span is longer by the lease, so exactness holds; unused permits go back with the next batch request.
 * Batches grow with demand (three times what was served between two batch requests), up to 1/20 of the limit, and
 * the next batch is fetched while the current one still serves. Everything else goes to the store as it is.
 */
public final class LeasingCounterStore implements CounterStore {

  private static final int MIN_BATCH = 4;
  /**
   * Leases looked at for pruning each time a key gets its first one: more than one, so that however fast new keys
   * come, the cursor passes every lease again before the map has doubled, and a lease whose batches have ended is
   * dropped (a flood of distinct keys on a high limit would otherwise keep one per key forever).
   */
  static final int PRUNE_STEP = 2;
  /**
   * How long a lease with nothing to serve is kept after its last use: a few leases' time (20 ms each at most), so a
   * key in use keeps its lease and what it learnt, and one just made is never dropped before its first batch.
   */
  static final long PRUNE_AFTER_MILLIS = 100;
  /** A refused batch is trusted this long: meanwhile requests for the key are refused here, without a round trip. */
  private static final long DENIAL_TRUST_MILLIS = 50;

  private final HazelcastCounterStore store;
  private final ConcurrentMap<String, Lease> leases = new ConcurrentHashMap<>();
  private final SweepCursor<String, Lease> prune = new SweepCursor<>(leases);
  private final LongAdder leaseRequests = new LongAdder();
  private final LongAdder leasedPermits = new LongAdder();

  public LeasingCounterStore(HazelcastCounterStore store) {
    this.store = store;
  }

  @Override
  public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                     long latestMillis) {
    if (spec.leaseMillis() == 0 || latestMillis - notBeforeMillis > spec.rejectGraceMillis()) {
      // small limits, and delaying policies (which may reserve a later slot), ask the owner every time
      return store.reserve(key, spec, nowMillis, notBeforeMillis, latestMillis);
    }
    Lease lease = leases.get(key);
    if (lease == null) {
      // dropping a lease is always safe: its unused permits stay counted on the owner until they expire (fewer
      // admissions, never more), and a slot released later for it goes to the owner as for any earlier batch
      prune.step(PRUNE_STEP, (k, held) -> held.idle(nowMillis));
      lease = leases.computeIfAbsent(key, k -> new Lease(nowMillis));
    }
    return lease.take(key, spec, nowMillis, notBeforeMillis);
  }

  /** Leases this gateway holds now, one per key it leased for lately (for tests and benchmarks). */
  int leaseCount() {
    return leases.size();
  }

  @Override
  public Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket) {
    Lease lease = leases.get(key);
    if (lease != null && lease.giveBack(bucket)) {
      return Future.succeededFuture();
    }
    return store.release(key, spec, nowMillis, bucket);
  }

  @Override
  public Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted) {
    return store.addAdmissions(key, spec, nowMillis, admitted);
  }

  @Override
  public Future<Reservation> peek(String key, WindowSpec spec, long nowMillis) {
    return store.peek(key, spec, nowMillis);
  }

  /**
   * Resets the key on its owner and drops this gateway's batch for it. Other gateways keep the permits they hold in
   * batches (at most one batch each, at most {@link WindowSpec#leaseMillis()} long) and forget a denial within
   * {@value #DENIAL_TRUST_MILLIS} ms.
   */
  @Override
  public Future<Void> reset(String key, WindowSpec spec, long nowMillis) {
    leases.remove(key);
    return store.reset(key, spec, nowMillis);
  }

  @Override
  public boolean isReady() {
    return store.isReady();
  }

  @Override
  public boolean refusesForNow(Throwable failure) {
    return store.refusesForNow(failure);
  }

  @Override
  public long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
    Lease lease = leases.get(key);
    if (spec.leaseMillis() > 0 && lease != null && lease.canServe(nowMillis)) {
      return 0;
    }
    return store.expectedLatencyMillis(key, spec, nowMillis);
  }

  @Override
  public long slowAnswerMillis(String key, WindowSpec spec, long nowMillis) {
    return expectedLatencyMillis(key, spec, nowMillis) == 0 ? 0 : store.slowAnswerMillis(key, spec, nowMillis);
  }

  @Override
  public long remoteCalls() {
    return store.remoteCalls();
  }

  @Override
  public long evictedKeys() {
    return store.evictedKeys();
  }

  @Override
  public long remoteOperations() {
    return store.remoteOperations();
  }

  @Override
  public long leaseRequests() {
    return leaseRequests.sum();
  }

  @Override
  public long leasedPermits() {
    return leasedPermits.sum();
  }

  @Override
  public int clusterMembers() {
    return store.clusterMembers();
  }

  @Override
  public int placeOf(String key) {
    return store.placeOf(key);
  }

  /**
   * This gateway's batches for one key: the current one, and the one after it, fetched ahead when a quarter of the
   * current one's time or half of its permits are used, so requests rarely wait for the owner. At most one batch
   * request is in flight.
   */
  private final class Lease {
    private long bucket = Long.MIN_VALUE;
    private long startMillis;
    private long endMillis;
    private int remaining;
    private int granted;
    private int served;
    private int remainingInWindow;
    private long resetMillis;
    /** The batch that follows the current one (it starts where the current one ends), or null. */
    private LeaseGrant next;
    /** Unused permits of a finished batch, given back with the next batch request. */
    private long returnBucket = Long.MIN_VALUE;
    private int toReturn;
    private Future<LeaseGrant> renewal;
    /** Requests that found no permit and wait for the batch request in flight. */
    private int waiters;
    private long refusedUntil = Long.MIN_VALUE;
    private long retryAtMillis;
    private long lastUsedMillis;

    Lease(long createdMillis) {
      lastUsedMillis = createdMillis;
    }

    /** Nothing to serve, to fetch or to trust, and unused for {@link #PRUNE_AFTER_MILLIS}. */
    synchronized boolean idle(long nowMillis) {
      return renewal == null && nowMillis >= endMillis && (next == null || nowMillis >= next.endMillis())
          && nowMillis >= refusedUntil && nowMillis - lastUsedMillis >= PRUNE_AFTER_MILLIS;
    }

    synchronized boolean canServe(long atMillis) {
      promoteIfDue(atMillis);
      return servesNow(atMillis);
    }

    private boolean servesNow(long atMillis) {
      return atMillis >= startMillis && atMillis < endMillis && remaining > 0;
    }

    /** Once the current batch has ended, the fetched-ahead one takes its place; the unused rest is to give back. */
    private void promoteIfDue(long atMillis) {
      if (next == null || atMillis < endMillis || atMillis < next.startMillis()) {
        return;
      }
      LeaseGrant following = next;
      next = null;
      keepUnused();
      install(following);
    }

    private void keepUnused() {
      if (remaining > 0 && bucket != Long.MIN_VALUE) {
        if (toReturn > 0 && returnBucket != bucket) {
          // two unreturned batches: the older rest stays counted until it expires (never over the limit)
          toReturn = 0;
        }
        returnBucket = bucket;
        toReturn += remaining;
      }
      remaining = 0;
    }

    /**
     * Takes back a permit of the current batch, or says it belongs to an earlier one (for the owner). Either way a
     * slot is free again, so a refused batch no longer says the key is full.
     */
    synchronized boolean giveBack(long releasedBucket) {
      refusedUntil = Long.MIN_VALUE;
      if (releasedBucket != bucket) {
        return false;
      }
      remaining++;
      served--;
      return true;
    }

    Future<Reservation> take(String key, WindowSpec spec, long nowMillis, long atMillis) {
      Future<LeaseGrant> pending;
      synchronized (this) {
        lastUsedMillis = Math.max(lastUsedMillis, nowMillis);
        if (atMillis < refusedUntil && atMillis < retryAtMillis) {
          return Future.succeededFuture(Reservation.denied(retryAtMillis));
        }
        promoteIfDue(atMillis);
        if (servesNow(atMillis)) {
          remaining--;
          served++;
          if (renewal == null && next == null
              && (atMillis >= startMillis + (endMillis - startMillis) / 4 || 2 * remaining <= granted)) {
            // fetch the next batch ahead, a quarter into this one's time or half into its permits, so a slow round
            // trip (three quarters of a lease) still arrives before it is needed; sized on what was served since the
            // last request, about one lease's worth
            request(key, spec, nowMillis, endMillis, endMillis + spec.leaseMillis(), false);
          }
          return Future.succeededFuture(new Reservation(true, bucket, atMillis, remainingInWindow, resetMillis,
              endMillis));
        }
        if (renewal == null) {
          if (atMillis >= endMillis || atMillis < startMillis) {
            keepUnused();
          }
          pending = request(key, spec, nowMillis, atMillis, atMillis + spec.leaseMillis(), true);
        } else {
          waiters++;
          pending = renewal;
        }
      }
      return pending.compose(grant -> {
        if (grant.permits() == 0) {
          return Future.succeededFuture(Reservation.denied(grant.retryAtMillis()));
        }
        return take(key, spec, nowMillis, atMillis);
      });
    }

    /** Asks the owner for a batch valid in [from, to), giving back the unused rest of an earlier one. */
    private Future<LeaseGrant> request(String key, WindowSpec spec, long nowMillis, long from, long to,
                                       boolean needed) {
      // three times what was served since the last request (about one lease's worth), or enough for everyone
      // already waiting, whichever is more; unused permits go back with the next request
      int wanted = Math.max(MIN_BATCH, Math.min(Math.max(3 * served, waiters + 1), spec.requests() / 20));
      waiters = 0;
      leaseRequests.increment();
      Future<LeaseGrant> started = store.lease(key, spec, nowMillis, from, to, wanted, returnBucket, toReturn);
      toReturn = 0;
      served = 0;
      // whoever finds the renewal complete must find its grant installed: the future handed out completes only after
      // arrived() has run. Otherwise a caller on another thread could see it complete before arrived() cleared it,
      // wait on it again at once, and recurse until the stack overflowed (seen in CI: leasesCutRoundTrips)
      Promise<LeaseGrant> settled = Promise.promise();
      Future<LeaseGrant> visible = settled.future();
      renewal = visible;
      started.onComplete(done -> {
        arrived(visible, done.succeeded() ? done.result() : null, needed);
        if (done.succeeded()) {
          settled.complete(done.result());
        } else {
          settled.fail(done.cause());
        }
      });
      return visible;
    }

    private synchronized void arrived(Future<LeaseGrant> finished, LeaseGrant grant, boolean needed) {
      if (renewal == finished) {
        renewal = null;
      }
      if (grant == null) {
        return;
      }
      leasedPermits.add(grant.permits());
      if (grant.permits() == 0) {
        if (needed) {
          retryAtMillis = grant.retryAtMillis();
          refusedUntil = grant.startMillis() + DENIAL_TRUST_MILLIS;
        }
        return;
      }
      if (needed) {
        keepUnused();
        install(grant);
      } else {
        next = grant;
      }
    }

    private void install(LeaseGrant grant) {
      bucket = grant.bucket();
      startMillis = grant.startMillis();
      endMillis = grant.endMillis();
      remaining = grant.permits();
      granted = grant.permits();
      remainingInWindow = grant.remaining();
      resetMillis = grant.resetMillis();
    }
  }
}
