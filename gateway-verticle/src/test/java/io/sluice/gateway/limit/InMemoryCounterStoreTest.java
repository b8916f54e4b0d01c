package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("In-memory counter store")
class InMemoryCounterStoreTest extends CounterStoreContract {

  private final TestClock clock = new TestClock(T0);
  private final InMemoryCounterStore store = new InMemoryCounterStore(clock, 1_000);

  @Override
  protected CounterStore store() {
    return store;
  }

  @Override
  protected CounterStore peer() {
    return store;
  }

  @Test
  @DisplayName("idle keys are evicted once their window is over")
  void evictsIdleKeys() {
    WindowSpec spec = new WindowSpec(1, 1_000);
    store.reserve("a", spec, T0, T0, T0);
    store.reserve("b", spec, T0 + 500, T0 + 500, T0 + 500);
    clock.set(T0 + 1_100);
    store.evictExpired();
    assertEquals(1, store.size());
    clock.set(T0 + 1_600);
    store.evictExpired();
    assertEquals(0, store.size());
  }

  @Test
  @DisplayName("full of live keys: a new key is refused (KeyTableFull) and counted, known keys are decided as always")
  void fullTableRefusesNewKeys() {
    InMemoryCounterStore small = new InMemoryCounterStore(clock, 2);
    WindowSpec spec = new WindowSpec(2, 1_000);
    assertTrue(small.reserve("a", spec, T0, T0, T0).result().granted());
    assertTrue(small.reserve("b", spec, T0, T0, T0).result().granted());

    Throwable refused = small.reserve("c", spec, T0, T0, T0).cause();
    assertInstanceOf(KeyTableFull.class, refused);
    assertEquals(2, ((KeyTableFull) refused).maxKeys());
    assertEquals(1, small.refusedKeys());
    assertEquals(2, small.size());

    assertTrue(small.reserve("a", spec, T0 + 1, T0 + 1, T0 + 1).result().granted());
    assertFalse(small.reserve("a", spec, T0 + 2, T0 + 2, T0 + 2).result().granted(), "a stays limited");
  }

  @Test
  @DisplayName("full, but of keys whose windows are over: the new key takes an expired one's place at once")
  void expiredKeysMakeRoom() {
    InMemoryCounterStore small = new InMemoryCounterStore(clock, 2);
    WindowSpec spec = new WindowSpec(1, 1_000);
    small.reserve("a", spec, T0, T0, T0);
    small.reserve("b", spec, T0, T0, T0);
    long later = T0 + 5_000;
    clock.set(later);
    assertTrue(small.reserve("c", spec, later, later, later).result().granted());
    assertEquals(0, small.refusedKeys());
  }

  @Test
  @DisplayName("admissions decided elsewhere are noted even when the table is full: they follow decisions made")
  void notedAdmissionsAreNeverRefused() {
    InMemoryCounterStore small = new InMemoryCounterStore(clock, 1);
    WindowSpec spec = new WindowSpec(5, 1_000);
    small.reserve("a", spec, T0, T0, T0);
    small.record("b", spec, T0, spec.bucketOf(T0));
    small.fillTo("c", spec, T0, spec.bucketOf(T0), 2);
    assertEquals(3, small.size());
    assertEquals(0, small.refusedKeys());
  }
}
