package io.sluice.gateway.cluster;

import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.LeaseGrant;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.Future;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Cuts cluster round trips for high limits: for a policy of at least {@link WindowSpec#LEASE_MIN_REQUESTS} per
 * window, this gateway takes permits in batches from the key's owner and hands them out itself while the batch's
 * short lease lasts ({@link WindowSpec#leaseMillis()}). The owner records a batch where its lease ends and the
 * window span is longer by the lease, so exactness holds; unused permits go back with the next batch request.
 * Batches grow with demand (twice what the previous one served), up to 1/20 of the limit. Everything else goes to
 * the store as it is.
 */
public final class LeasingCounterStore implements CounterStore {

  private static final int MIN_BATCH = 4;
  /** A refused batch is trusted this long: meanwhile requests for the key are refused here, without a round trip. */
  private static final long DENIAL_TRUST_MILLIS = 50;

  private final HazelcastCounterStore store;
  private final Map<String, Lease> leases = new ConcurrentHashMap<>();

  public LeasingCounterStore(HazelcastCounterStore store) {
    this.store = store;
  }

  @Override
  public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                     long latestMillis) {
    if (spec.leaseMillis() == 0 || latestMillis != notBeforeMillis) {
      return store.reserve(key, spec, nowMillis, notBeforeMillis, latestMillis);
    }
    Lease lease = leases.computeIfAbsent(key, k -> new Lease());
    return lease.take(key, spec, nowMillis, notBeforeMillis);
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
  public boolean isReady() {
    return store.isReady();
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
  public long remoteCalls() {
    return store.remoteCalls();
  }

  /** This gateway's current batch for one key; at most one batch request in flight. */
  private final class Lease {
    private long bucket = Long.MIN_VALUE;
    private long startMillis;
    private long endMillis;
    private int remaining;
    private int served;
    private int remainingInWindow;
    private long resetMillis;
    private Future<LeaseGrant> renewal;
    private long refusedUntil = Long.MIN_VALUE;
    private long retryAtMillis;

    synchronized boolean canServe(long atMillis) {
      return atMillis >= startMillis && atMillis < endMillis && remaining > 0;
    }

    synchronized boolean giveBack(long releasedBucket) {
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
        if (atMillis < refusedUntil && atMillis < retryAtMillis) {
          return Future.succeededFuture(Reservation.denied(retryAtMillis));
        }
        if (canServe(atMillis)) {
          remaining--;
          served++;
          return Future.succeededFuture(new Reservation(true, bucket, atMillis, remainingInWindow, resetMillis,
              endMillis));
        }
        if (renewal == null) {
          int wanted = Math.max(MIN_BATCH, Math.min(2 * served, spec.requests() / 20));
          int unused = atMillis >= endMillis || atMillis < startMillis ? remaining : 0;
          long returnBucket = bucket;
          remaining -= unused;
          served = 0;
          Future<LeaseGrant> started = store.lease(key, spec, nowMillis, atMillis, atMillis + spec.leaseMillis(),
              wanted, returnBucket, unused);
          renewal = started;
          started.onComplete(done -> install(started, done.succeeded() ? done.result() : null));
          pending = started;
        } else {
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

    private synchronized void install(Future<LeaseGrant> finished, LeaseGrant grant) {
      if (renewal == finished) {
        renewal = null;
      }
      if (grant == null) {
        return;
      }
      if (grant.permits() == 0) {
        retryAtMillis = grant.retryAtMillis();
        refusedUntil = grant.startMillis() + DENIAL_TRUST_MILLIS;
        return;
      }
      bucket = grant.bucket();
      startMillis = grant.startMillis();
      endMillis = grant.endMillis();
      remaining = grant.permits();
      remainingInWindow = grant.remaining();
      resetMillis = grant.resetMillis();
    }
  }
}
