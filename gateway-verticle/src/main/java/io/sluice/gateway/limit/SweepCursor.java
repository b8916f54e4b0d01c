package io.sluice.gateway.limit;

import java.util.Iterator;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiPredicate;

/**
 * Walks a concurrent map a few entries at a time, each step going on where the last one stopped and starting over at
 * the end: a table a flood keeps growing is kept in check by work spread over the requests that grow it, a few
 * microseconds each, never by one sweep of a million entries on an event loop. A step another thread is taking is
 * not waited for: it is skipped.
 */
public final class SweepCursor<K, V> {

  private final ConcurrentMap<K, V> map;
  private final ReentrantLock lock = new ReentrantLock();
  /** Where the last step stopped; guarded by {@link #lock}. */
  private Iterator<K> cursor;

  public SweepCursor(ConcurrentMap<K, V> map) {
    this.map = map;
  }

  /** Looks at the next {@code entries} entries and removes those {@code drop} says are done with. */
  public void step(int entries, BiPredicate<K, V> drop) {
    if (!lock.tryLock()) {
      return;
    }
    try {
      for (int i = 0; i < entries; i++) {
        if (cursor == null || !cursor.hasNext()) {
          cursor = map.keySet().iterator();
          if (!cursor.hasNext()) {
            return;
          }
        }
        map.computeIfPresent(cursor.next(), (key, value) -> drop.test(key, value) ? null : value);
      }
    } finally {
      lock.unlock();
    }
  }
}
