package io.sluice.gateway.limit;

import io.sluice.gateway.limit.StoreMode.Event;
import io.sluice.gateway.limit.StoreMode.State;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Store mode: the state machine of shared and lone decisions")
class StoreModeTest {

  private static final long T0 = 1_800_000_000_000L;
  private static final long FIRST = 50;
  private static final long PROBE = 200;
  private static final long CONFIRM = 500;

  @ParameterizedTest(name = "{0} --{1}--> {2}")
  @DisplayName("every event is handled in every state, as the table in StoreMode says")
  @CsvSource(delimiter = '|', textBlock = """
      SHARED     | FAILED         | SUSPECT
      SHARED     | REFUSED        | DEGRADED
      SHARED     | ANSWERED       | SHARED
      SHARED     | PROBE_ANSWERED | SHARED
      SHARED     | CARRIED        | SHARED
      SHARED     | QUIET          | SHARED
      SUSPECT    | FAILED         | DEGRADED
      SUSPECT    | REFUSED        | DEGRADED
      SUSPECT    | ANSWERED       | SHARED
      SUSPECT    | PROBE_ANSWERED | SUSPECT
      SUSPECT    | CARRIED        | SUSPECT
      SUSPECT    | QUIET          | SHARED
      DEGRADED   | FAILED         | DEGRADED
      DEGRADED   | REFUSED        | DEGRADED
      DEGRADED   | ANSWERED       | DEGRADED
      DEGRADED   | PROBE_ANSWERED | RECOVERING
      DEGRADED   | CARRIED        | DEGRADED
      DEGRADED   | QUIET          | DEGRADED
      RECOVERING | FAILED         | DEGRADED
      RECOVERING | REFUSED        | DEGRADED
      RECOVERING | ANSWERED       | RECOVERING
      RECOVERING | PROBE_ANSWERED | RECOVERING
      RECOVERING | CARRIED        | SHARED
      RECOVERING | QUIET          | RECOVERING
      """)
  void transitions(State from, Event event, State to) {
    StoreMode mode = in(from);
    if (from == State.DEGRADED) {
      assertTrue(mode.takeProbe(T0 + 10_000), "a probe is out: its answer ends the outage");
    }
    long switches = mode.switches();

    StoreMode.Transition transition = mode.on(event, T0 + 10_000, new Seat(2, 3));

    assertEquals(to, mode.state());
    if (from == to) {
      assertNull(transition, "no change, nothing to log or count");
      assertEquals(switches, mode.switches());
      return;
    }
    Seat seat = !from.alone() && to == State.DEGRADED ? new Seat(2, 3)
        : from.alone() ? new Seat(1, 2) : Seat.ONLY;
    assertEquals(new StoreMode.Transition(from, to, event, T0 + 10_000, seat), transition,
        "the seat is the one seen when the gateway started deciding alone");
    if (from.alone() || to.alone()) {
      assertEquals(switches + 1, mode.switches(), "a switch into or out of deciding alone");
      assertEquals(T0 + 10_000, mode.sinceMillis());
    } else {
      assertEquals(switches, mode.switches(), "a suspicion raised or dropped is no switch");
    }
  }

  @Test
  @DisplayName("a failure remembers this gateway's seat among those seen (i of N): the local share is its part of a "
      + "limit")
  void failureRemembersTheSeat() {
    StoreMode mode = new StoreMode(FIRST, PROBE, CONFIRM);
    assertEquals(Seat.ONLY, mode.seat(), "before any failure: the only gateway");
    mode.on(Event.FAILED, T0, new Seat(1, 3));
    mode.on(Event.FAILED, T0 + CONFIRM, new Seat(1, 3));
    assertEquals(new Seat(1, 3), mode.seat());
    mode.on(Event.FAILED, T0 + CONFIRM + 1, Seat.ONLY);
    assertEquals(new Seat(1, 3), mode.seat(), "what the cluster shows during the outage does not change the share");
  }

  @Test
  @DisplayName("probes: the first one soon after the failure, one at a time, the next one an interval after a "
      + "failed one")
  void probesAreSpaced() {
    StoreMode mode = new StoreMode(FIRST, PROBE, CONFIRM);
    assertFalse(mode.takeProbe(T0), "no probe while shared");
    mode.on(Event.FAILED, T0 - CONFIRM, new Seat(1, 2));
    assertFalse(mode.takeProbe(T0), "no probe while suspecting: decisions still ask the store");
    mode.on(Event.FAILED, T0, new Seat(1, 2));
    assertFalse(mode.takeProbe(T0 + FIRST - 1));
    assertTrue(mode.takeProbe(T0 + FIRST));
    assertFalse(mode.takeProbe(T0 + 5 * PROBE), "one probe in flight at a time");
    mode.on(Event.FAILED, T0 + 5 * PROBE, new Seat(1, 2));
    assertFalse(mode.takeProbe(T0 + 6 * PROBE - 1));
    assertTrue(mode.takeProbe(T0 + 6 * PROBE));
    assertEquals(State.RECOVERING, mode.on(Event.PROBE_ANSWERED, T0 + 6 * PROBE + 3, new Seat(1, 2)).to());
    assertFalse(mode.takeProbe(T0 + 100 * PROBE), "no probe while writing back");
  }

  @Test
  @DisplayName("a suspicion with no call since its failure ends once confirm ms have passed without one, not before")
  void quietSuspicionEnds() {
    StoreMode mode = in(State.SUSPECT);
    assertNull(mode.on(Event.QUIET, T0 + CONFIRM - 1, new Seat(1, 2)));
    assertEquals(State.SUSPECT, mode.state());
    assertEquals(State.SHARED, mode.on(Event.QUIET, T0 + CONFIRM, new Seat(1, 2)).to());
    assertEquals(0, mode.switches(), "no switch: it never stopped sharing");
  }

  @Test
  @DisplayName("an answer to a probe that was not sent (a late one) does not end the outage")
  void unaskedProbeAnswerIsIgnored() {
    StoreMode mode = failedWith(2);
    assertNull(mode.on(Event.PROBE_ANSWERED, T0 + 1, new Seat(1, 2)));
    assertEquals(State.DEGRADED, mode.state());
  }

  @Test
  @DisplayName("a whole outage: SHARED, DEGRADED, RECOVERING, SHARED, four switches counted with the next one")
  void wholeOutage() {
    StoreMode mode = failedWith(2);
    assertTrue(mode.takeProbe(T0 + PROBE));
    mode.on(Event.PROBE_ANSWERED, T0 + PROBE + 1, new Seat(1, 2));
    mode.on(Event.CARRIED, T0 + PROBE + 2, new Seat(1, 2));
    assertEquals(State.SHARED, mode.state());
    assertEquals(3, mode.switches());
    mode.on(Event.FAILED, T0 + 5_000, new Seat(1, 2));
    mode.on(Event.FAILED, T0 + 5_000 + CONFIRM, new Seat(1, 2));
    assertEquals(4, mode.switches());
  }

  @Test
  @DisplayName("one failure raises a suspicion, not a switch: decisions still ask the store, and answers for confirm "
      + "ms after the last failure drop it")
  void oneFailureIsAHiccup() {
    StoreMode mode = new StoreMode(FIRST, PROBE, CONFIRM);
    mode.on(Event.FAILED, T0, new Seat(0, 3));
    assertEquals(State.SUSPECT, mode.state());
    assertFalse(mode.state().alone());
    assertEquals(0, mode.switches());
    assertEquals(Seat.ONLY, mode.seat(), "no seat taken: nothing is decided alone beyond that request");
    assertNull(mode.on(Event.ANSWERED, T0 + CONFIRM - 1, new Seat(0, 3)), "too soon to drop it");
    assertEquals(State.SHARED, mode.on(Event.ANSWERED, T0 + CONFIRM, new Seat(0, 3)).to());
    assertEquals(0, mode.switches());
  }

  @Test
  @DisplayName("failures that persist for confirm ms and make up half the calls or more switch to deciding alone")
  void persistentFailuresSwitch() {
    StoreMode mode = new StoreMode(FIRST, PROBE, CONFIRM);
    mode.on(Event.FAILED, T0, new Seat(0, 3));
    for (int i = 1; i < 10; i++) {
      mode.on(Event.ANSWERED, T0 + 40 * i, new Seat(0, 3));
      mode.on(Event.FAILED, T0 + 40 * i + 1, new Seat(0, 3));
    }
    assertEquals(State.SUSPECT, mode.state(), "not before confirm ms: " + (40 * 9 + 1) + " ms so far");
    StoreMode.Transition transition = mode.on(Event.FAILED, T0 + CONFIRM, new Seat(0, 3));
    assertEquals(State.DEGRADED, transition.to(), "11 of 20 calls failed over 500 ms");
    assertEquals(new Seat(0, 3), transition.seat());
    assertEquals(1, mode.switches());
  }

  @Test
  @DisplayName("failures that persist but are a minority of the calls (one member of three slow, the others "
      + "answering) keep the gateway sharing: only the requests whose calls failed are decided alone")
  void scatteredFailuresDoNotSwitch() {
    StoreMode mode = new StoreMode(FIRST, PROBE, CONFIRM);
    for (int i = 0; i < 40; i++) {
      long at = T0 + 50 * i;
      mode.on(Event.FAILED, at, new Seat(0, 3));
      mode.on(Event.ANSWERED, at + 1, new Seat(0, 3));
      mode.on(Event.ANSWERED, at + 2, new Seat(0, 3));
      assertEquals(State.SUSPECT, mode.state(), "after " + (50 * i) + " ms of one failure in three calls");
    }
    assertEquals(0, mode.switches());
  }

  @ParameterizedTest(name = "{0} per window, gateway {2} of {1}: {3}")
  @DisplayName("a gateway's share of a limit is its seat's part of it, in the same window; none when the part is 0")
  @CsvSource({
      "10, 2, 0, 5", "10, 2, 1, 5",
      "10, 3, 0, 4", "10, 3, 1, 3", "10, 3, 2, 3",
      "1, 3, 0, 1", "1, 3, 1, 0", "1, 3, 2, 0",
      "7, 1, 0, 7", "300, 2, 1, 150", "101, 2, 1, 50"})
  void shareOfALimit(int requests, int gateways, int index, int share) {
    WindowSpec spec = new WindowSpec(requests, 1_000, true, 12);
    Optional<WindowSpec> own = StoreMode.shareOf(spec, new Seat(index, gateways));
    if (share == 0) {
      assertTrue(own.isEmpty(), "no window of 0 requests: this gateway admits nothing alone");
      return;
    }
    assertEquals(new WindowSpec(share, spec.windowMillis(), spec.queued(), spec.transitMillis()), own.orElseThrow());
  }

  /** A machine that switched to deciding alone at T0, after failures since T0 - CONFIRM. */
  private static StoreMode failedWith(int gateways) {
    StoreMode mode = new StoreMode(FIRST, PROBE, CONFIRM);
    mode.on(Event.FAILED, T0 - CONFIRM, new Seat(0, gateways));
    mode.on(Event.FAILED, T0, new Seat(0, gateways));
    assertEquals(State.DEGRADED, mode.state());
    return mode;
  }

  /** A machine brought to {@code state} by the events that lead there, as gateway 1 of 2. */
  private static StoreMode in(State state) {
    StoreMode mode = new StoreMode(FIRST, PROBE, CONFIRM);
    if (state == State.SHARED) {
      return mode;
    }
    mode.on(Event.FAILED, T0, new Seat(1, 2));
    if (state == State.SUSPECT) {
      return mode;
    }
    mode.on(Event.FAILED, T0 + CONFIRM, new Seat(1, 2));
    if (state == State.RECOVERING) {
      assertTrue(mode.takeProbe(T0 + CONFIRM + PROBE));
      mode.on(Event.PROBE_ANSWERED, T0 + CONFIRM + PROBE, new Seat(1, 2));
    }
    assertEquals(state, mode.state());
    return mode;
  }
}
