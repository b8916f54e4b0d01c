package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
