package io.sluice.gateway.limit;

import io.sluice.gateway.limit.StoreMode.Event;
import io.sluice.gateway.limit.StoreMode.State;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Store mode: the state machine of shared and lone decisions")
class StoreModeTest {

  private static final long T0 = 1_800_000_000_000L;
  private static final long FIRST = 50;
  private static final long PROBE = 200;

  @ParameterizedTest(name = "{0} --{1}--> {2}")
  @DisplayName("every event is handled in every state, as the table in StoreMode says")
  @CsvSource(delimiter = '|', textBlock = """
      SHARED     | FAILED         | DEGRADED
      SHARED     | PROBE_ANSWERED | SHARED
      SHARED     | CARRIED        | SHARED
      DEGRADED   | FAILED         | DEGRADED
      DEGRADED   | PROBE_ANSWERED | RECOVERING
      DEGRADED   | CARRIED        | DEGRADED
      RECOVERING | FAILED         | DEGRADED
      RECOVERING | PROBE_ANSWERED | RECOVERING
      RECOVERING | CARRIED        | SHARED
      """)
  void transitions(State from, Event event, State to) {
    StoreMode mode = in(from);
    if (from == State.DEGRADED) {
      assertTrue(mode.takeProbe(T0 + 10_000), "a probe is out: its answer ends the outage");
    }
    long switches = mode.switches();

    StoreMode.Transition transition = mode.on(event, T0 + 10_000, 3);

    assertEquals(to, mode.state());
    if (from == to) {
      assertNull(transition, "no change, nothing to log or count");
      assertEquals(switches, mode.switches());
    } else {
      int gateways = from == State.SHARED ? 3 : 2;
      assertEquals(new StoreMode.Transition(from, to, event, T0 + 10_000, gateways), transition,
          "N is what was seen when the store failed");
      assertEquals(switches + 1, mode.switches());
      assertEquals(T0 + 10_000, mode.sinceMillis());
    }
  }

  @Test
  @DisplayName("a failure remembers how many gateways were seen: the local share is 1/N of a limit")
  void failureRemembersGateways() {
    StoreMode mode = new StoreMode(FIRST, PROBE);
    mode.on(Event.FAILED, T0, 3);
    assertEquals(3, mode.gateways());
    mode.on(Event.FAILED, T0 + 1, 1);
    assertEquals(3, mode.gateways(), "what the cluster shows during the outage does not change the share");
    assertEquals(1, failedWith(0).gateways(), "never fewer than this gateway");
  }

  @Test
  @DisplayName("probes: the first one soon after the failure, one at a time, the next one an interval after a "
      + "failed one")
  void probesAreSpaced() {
    StoreMode mode = new StoreMode(FIRST, PROBE);
    assertFalse(mode.takeProbe(T0), "no probe while shared");
    mode.on(Event.FAILED, T0, 2);
    assertFalse(mode.takeProbe(T0 + FIRST - 1));
    assertTrue(mode.takeProbe(T0 + FIRST));
    assertFalse(mode.takeProbe(T0 + 5 * PROBE), "one probe in flight at a time");
    mode.on(Event.FAILED, T0 + 5 * PROBE, 2);
    assertFalse(mode.takeProbe(T0 + 6 * PROBE - 1));
    assertTrue(mode.takeProbe(T0 + 6 * PROBE));
    assertEquals(State.RECOVERING, mode.on(Event.PROBE_ANSWERED, T0 + 6 * PROBE + 3, 2).to());
    assertFalse(mode.takeProbe(T0 + 100 * PROBE), "no probe while writing back");
  }

  @Test
  @DisplayName("an answer to a probe that was not sent (a late one) does not end the outage")
  void unaskedProbeAnswerIsIgnored() {
    StoreMode mode = failedWith(2);
    assertNull(mode.on(Event.PROBE_ANSWERED, T0 + 1, 2));
    assertEquals(State.DEGRADED, mode.state());
  }

  @Test
  @DisplayName("a whole outage: SHARED, DEGRADED, RECOVERING, SHARED, four switches counted with the next one")
  void wholeOutage() {
    StoreMode mode = new StoreMode(FIRST, PROBE);
    mode.on(Event.FAILED, T0, 2);
    assertTrue(mode.takeProbe(T0 + PROBE));
    mode.on(Event.PROBE_ANSWERED, T0 + PROBE + 1, 2);
    mode.on(Event.CARRIED, T0 + PROBE + 2, 2);
    assertEquals(State.SHARED, mode.state());
    assertEquals(3, mode.switches());
    mode.on(Event.FAILED, T0 + 5_000, 2);
    assertEquals(4, mode.switches());
  }

  @ParameterizedTest(name = "{0} per window over {1} gateways: {2} each")
  @DisplayName("a gateway's share of a limit is ceil(requests / N)")
  @CsvSource({"10, 2, 5", "10, 3, 4", "1, 3, 1", "7, 1, 7", "300, 2, 150", "150, 2, 75"})
  void shareOfALimit(int requests, int gateways, int share) {
    WindowSpec spec = new WindowSpec(requests, 1_000);
    WindowSpec own = StoreMode.shareOf(spec, gateways);
    assertEquals(share, own.requests());
    assertEquals(spec.windowMillis(), own.windowMillis());
  }

  private static StoreMode failedWith(int gateways) {
    StoreMode mode = new StoreMode(FIRST, PROBE);
    mode.on(Event.FAILED, T0, gateways);
    return mode;
  }

  /** A machine brought to {@code state} by the events that lead there, with N = 2. */
  private static StoreMode in(State state) {
    StoreMode mode = new StoreMode(FIRST, PROBE);
    if (state == State.SHARED) {
      return mode;
    }
    mode.on(Event.FAILED, T0, 2);
    if (state == State.RECOVERING) {
      assertTrue(mode.takeProbe(T0 + PROBE));
      mode.on(Event.PROBE_ANSWERED, T0 + PROBE, 2);
    }
    assertEquals(state, mode.state());
    return mode;
  }
}
