package io.sluice.gateway.limit;

import io.vertx.core.Future;

import java.time.Clock;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Limiter state in this JVM only: for a single gateway without a cluster. Same semantics as the Hazelcast store:
 * each update is atomic per key (a {@code compute}), idle keys expire, and the number of keys is capped.
 */
public final class InMemoryCounterStore implements CounterStore {

  private final Map<String, Entry> entries = new ConcurrentHashMap<>();
  private final Clock clock;
  private final int maxKeys;

  public InMemoryCounterStore(Clock clock, int maxKeys) {
    this.clock = clock;
    this.maxKeys = maxKeys;
  }

  @Override
  public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                     long latestMillis) {
    if (entries.size() >= maxKeys && !entries.containsKey(key)) {
      evictExpired();
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

  /** Drops keys whose windows are over; called when the store is full and periodically by the owner. */
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
