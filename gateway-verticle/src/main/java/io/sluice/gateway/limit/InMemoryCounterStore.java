package io.sluice.gateway.limit;

import io.vertx.core.Future;

import java.time.Clock;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Limiter state in this JVM only: for a single gateway without a cluster. Same semantics as the Hazelcast store:
 * each update is atomic per key (a {@code compute}), idle keys expire, and the number of keys is capped.
 *
 * <p>The cap: a reservation for a new key while {@code maxKeys} keys are held first sweeps a few entries for expired
 * ones; if the table is still full, it fails with {@link KeyTableFull} (the gateway answers 503 {@code limiter-full})
 * and is counted in {@link #refusedKeys()}. Admissions noted for keys decided elsewhere ({@link #record},
 * {@link #fillTo}, {@link #addAdmissions}) are never refused: they only follow decisions already made.
 */
public final class InMemoryCounterStore implements CounterStore {

  /**
   * Entries looked at for expiry by one reservation that finds the table full: a few microseconds, so a flood of new
   * keys cannot make the event loop sweep a million entries per request; the periodic sweep does the rest.
   */
  static final int FULL_SWEEP_STEP = 256;

  private final ConcurrentMap<String, Entry> entries = new ConcurrentHashMap<>();
  private final SweepCursor<String, Entry> fullSweep = new SweepCursor<>(entries);
  private final Clock clock;
  private final int maxKeys;
  private final LongAdder refusedKeys = new LongAdder();

  public InMemoryCounterStore(Clock clock, int maxKeys) {
    this.clock = clock;
    this.maxKeys = maxKeys;
  }

  @Override
  public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                     long latestMillis) {
    if (entries.size() >= maxKeys && !entries.containsKey(key)) {
      fullSweep.step(FULL_SWEEP_STEP, (k, entry) -> entry.expiresAt <= nowMillis);
      if (entries.size() >= maxKeys) {
        refusedKeys.increment();
        return Future.failedFuture(new KeyTableFull(maxKeys));
      }
    }
    Reservation[] result = new Reservation[1];
    entries.compute(key, (k, entry) -> {
      Entry current = entry == null || entry.expiresAt <= nowMillis ? new Entry() : entry;
      result[0] = current.state.reserve(spec, nowMillis, notBeforeMillis, latestMillis);
      current.expiresAt = current.state.expiresAtMillis(spec);
      return current.state.isEmpty() ? null : current;
    });
    return Future.succeededFuture(result[0]);
  }

  @Override
  public Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket) {
    entries.computeIfPresent(key, (k, entry) -> {
      entry.state.release(bucket);
      return entry.state.isEmpty() ? null : entry;
    });
    return Future.succeededFuture();
  }

  @Override
  public Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted) {
    if (!admitted.isEmpty()) {
      entries.compute(key, (k, entry) -> {
        Entry current = entry == null || entry.expiresAt <= nowMillis ? new Entry() : entry;
        current.state.addAll(spec, nowMillis, admitted);
        current.expiresAt = current.state.expiresAtMillis(spec);
        return current.state.isEmpty() ? null : current;
      });
    }
    return Future.succeededFuture();
  }

  @Override
  public Future<Reservation> peek(String key, WindowSpec spec, long nowMillis) {
    Reservation[] result = new Reservation[1];
    // read under the map's lock on the key, as every change of it is made
    entries.computeIfPresent(key, (k, entry) -> {
      if (entry.expiresAt > nowMillis) {
        result[0] = entry.state.peek(spec, nowMillis);
      }
      return entry;
    });
    return Future.succeededFuture(result[0] != null ? result[0] : new WindowState().peek(spec, nowMillis));
  }

  @Override
  public Future<Void> reset(String key, WindowSpec spec, long nowMillis) {
    entries.remove(key);
    return Future.succeededFuture();
  }

  /**
   * Notes one admission decided elsewhere in {@code bucket}, without ever refusing it (see
   * {@link WindowState#record}).
   */
  public void record(String key, WindowSpec spec, long nowMillis, long bucket) {
    entries.compute(key, (k, entry) -> {
      Entry current = entry == null || entry.expiresAt <= nowMillis ? new Entry() : entry;
      current.state.record(spec, nowMillis, bucket);
      current.expiresAt = current.state.expiresAtMillis(spec);
      return current.state.isEmpty() ? null : current;
    });
  }

  /** Raises the key's count in the span up to now to {@code target} (see {@link WindowState#fillTo}). */
  public void fillTo(String key, WindowSpec spec, long nowMillis, long bucket, int target) {
    entries.compute(key, (k, entry) -> {
      Entry current = entry == null || entry.expiresAt <= nowMillis ? new Entry() : entry;
      current.state.fillTo(spec, nowMillis, bucket, target);
      current.expiresAt = current.state.expiresAtMillis(spec);
      return current.state.isEmpty() ? null : current;
    });
  }

  /** Number of keys currently held (expired ones may linger until the next sweep). */
  public int size() {
    return entries.size();
  }

  /** Reservations refused because the table was full of live keys. */
  public long refusedKeys() {
    return refusedKeys.sum();
  }

  /** Drops keys whose windows are over; called periodically by the owner, off the event loop. */
  public void evictExpired() {
    long now = clock.millis();
    for (String key : entries.keySet()) {
      entries.computeIfPresent(key, (k, entry) -> entry.expiresAt <= now ? null : entry);
    }
  }

  private static final class Entry {
    final WindowState state = new WindowState();
    long expiresAt;
  }
}
