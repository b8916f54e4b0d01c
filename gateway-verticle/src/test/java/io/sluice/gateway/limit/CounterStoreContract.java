package io.sluice.gateway.limit;

import io.vertx.core.Future;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every counter store guarantees. Each implementation runs this suite; times are passed explicitly, so no
 * test waits for a window to pass.
 */
public abstract class CounterStoreContract {

  protected static final long T0 = 1_800_000_000_000L;
  private static final WindowSpec FIVE_PER_SECOND = new WindowSpec(5, 1_000);

  /** The store under test; {@link #peer()} returns one sharing its state (the same one, for a local store). */
  protected abstract CounterStore store();

  protected abstract CounterStore peer();

  private static String freshKey() {
    return "contract|" + UUID.randomUUID();
  }

  @Test
  @DisplayName("grants the limit, then denies and says when a slot frees up")
  void grantsThenDenies() {
    String key = freshKey();
    for (int i = 0; i < 5; i++) {
      assertTrue(store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await().granted());
    }
    Reservation denied = store().reserve(key, FIVE_PER_SECOND, T0 + 10, T0 + 10, T0 + 10).await();
    assertFalse(denied.granted());
    assertEquals(T0 + 1_016, denied.atMillis());
    assertTrue(store().reserve(key, FIVE_PER_SECOND, T0 + 1_016, T0 + 1_016, T0 + 1_016).await().granted());
  }

  @Test
  @DisplayName("keys are counted separately")
  void keysAreIndependent() {
    String a = freshKey();
    String b = freshKey();
    for (int i = 0; i < 5; i++) {
      store().reserve(a, FIVE_PER_SECOND, T0, T0, T0).await();
    }
    assertFalse(store().reserve(a, FIVE_PER_SECOND, T0, T0, T0).await().granted());
    assertTrue(store().reserve(b, FIVE_PER_SECOND, T0, T0, T0).await().granted());
  }

  @Test
  @DisplayName("a delayed reservation takes the earliest future slot within its deadline")
  void delays() {
    String key = freshKey();
    for (int i = 0; i < 5; i++) {
      store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await();
    }
    Reservation later = store().reserve(key, FIVE_PER_SECOND, T0 + 100, T0 + 100, T0 + 2_100).await();
    assertTrue(later.granted());
    assertEquals(T0 + 1_016, later.atMillis());
    assertFalse(store().reserve(key, FIVE_PER_SECOND, T0 + 100, T0 + 100, T0 + 500).await().granted());
  }

  @Test
  @DisplayName("a released slot can be taken again")
  void releases() {
    String key = freshKey();
    Reservation first = null;
    for (int i = 0; i < 5; i++) {
      Reservation r = store().reserve(key, FIVE_PER_SECOND, T0, T0, T0).await();
      first = first == null ? r : first;
    }
    store().release(key, FIVE_PER_SECOND, T0, first.bucket()).await();
    assertTrue(store().reserve(key, FIVE_PER_SECOND, T0 + 1, T0 + 1, T0 + 1).await().granted());
    assertFalse(store().reserve(key, FIVE_PER_SECOND, T0 + 2, T0 + 2, T0 + 2).await().granted());
  }

  @Test
  @DisplayName("concurrent reservations from two callers add up exactly to the limit")
  void concurrentCallersShareOneLimit() {
    String key = freshKey();
    WindowSpec fifty = new WindowSpec(50, 1_000);
    List<Future<Reservation>> answers = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      CounterStore caller = i % 2 == 0 ? store() : peer();
      answers.add(caller.reserve(key, fifty, T0 + i % 7, T0 + i % 7, T0 + i % 7));
    }
    Future.join(answers).await();
    long granted = answers.stream().filter(f -> f.result().granted()).count();
    assertEquals(50, granted);
  }
}
