package io.sluice.gateway.limit;

import java.util.Optional;

/**
 * Where the gateway takes its decisions while the shared counters fail and come back: an explicit state machine,
 * pure (no I/O, no threads, no clock of its own), driven by events stamped with the caller's clock. Not thread-safe:
 * {@link FailoverCounterStore} holds its lock around every call.
 *
 * <pre>
 *   state       event            next        what happens
 *   SHARED      FAILED           DEGRADED    a decision's store call timed out or failed; remember this gateway's
 *                                            seat among those seen in the cluster now (i of N); probe the store
 *                                            soon, then every interval
 *   SHARED      PROBE_ANSWERED   SHARED      (a late answer: nothing to do)
 *   SHARED      CARRIED          SHARED      (a late answer: nothing to do)
 *   DEGRADED    FAILED           DEGRADED    a probe (or a late call) failed: next probe one interval later
 *   DEGRADED    PROBE_ANSWERED   RECOVERING  the store answered: write what was admitted meanwhile into it
 *   DEGRADED    CARRIED          DEGRADED    (a late answer: nothing to do)
 *   RECOVERING  FAILED           DEGRADED    writing it back failed: keep deciding alone, probe again later
 *   RECOVERING  PROBE_ANSWERED   RECOVERING  (a late answer: nothing to do)
 *   RECOVERING  CARRIED          SHARED      everything admitted alone is in the shared counters: share again
 * </pre>
 *
 * While DEGRADED or RECOVERING, decisions follow {@code limiter.onStoreFailure} ({@link OnStoreFailure}).
 */
public final class StoreMode {

  public enum State { SHARED, DEGRADED, RECOVERING }

  public enum Event {
    /** A store call timed out or failed. */
    FAILED,
    /** A probe of the store was answered in time. */
    PROBE_ANSWERED,
    /** What was admitted without the store has been written into it. */
    CARRIED
  }

  /** One change of state, for the log and the counters. */
  public record Transition(State from, State to, Event cause, long atMillis, Seat seat) {
  }

  private final long firstProbeMillis;
  private final long probeIntervalMillis;
  private State state = State.SHARED;
  private long sinceMillis;
  private Seat seat = Seat.ONLY;
  private long nextProbeMillis;
  private boolean probing;
  private long switches;

  /**
   * @param firstProbeMillis    how long after the store failed the first probe goes out (soon: most failures are a
   *                            pause of a few hundred ms at most, a GC or a partition migration)
   * @param probeIntervalMillis how long after a failed probe the next one goes out
   */
  public StoreMode(long firstProbeMillis, long probeIntervalMillis) {
    if (firstProbeMillis < 0 || probeIntervalMillis < 1) {
      throw new IllegalArgumentException("probe delays must be >= 0 and >= 1 ms, got " + firstProbeMillis + " and "
          + probeIntervalMillis);
    }
    this.firstProbeMillis = firstProbeMillis;
    this.probeIntervalMillis = probeIntervalMillis;
  }

  /**
   * Applies one event. {@code seen} is this gateway's seat among those the cluster shows now (read only when leaving
   * SHARED). Returns the transition, or null when the state stays.
   */
  public Transition on(Event event, long nowMillis, Seat seen) {
    State from = state;
    switch (state) {
      case SHARED -> {
        if (event == Event.FAILED) {
          seat = seen;
          enter(State.DEGRADED, nowMillis);
          nextProbeMillis = nowMillis + firstProbeMillis;
        }
      }
      case DEGRADED -> {
        if (event == Event.FAILED) {
          probing = false;
          nextProbeMillis = nowMillis + probeIntervalMillis;
        } else if (event == Event.PROBE_ANSWERED && probing) {
          probing = false;
          enter(State.RECOVERING, nowMillis);
        }
      }
      case RECOVERING -> {
        if (event == Event.FAILED) {
          enter(State.DEGRADED, nowMillis);
        } else if (event == Event.CARRIED) {
          enter(State.SHARED, nowMillis);
        }
      }
      default -> throw new IllegalStateException(state.name());
    }
    return from == state ? null : new Transition(from, state, event, nowMillis, seat);
  }

  /** Whether a probe should be sent now; if so, it counts as sent (one at a time). */
  public boolean takeProbe(long nowMillis) {
    if (state != State.DEGRADED || probing || nowMillis < nextProbeMillis) {
      return false;
    }
    probing = true;
    return true;
  }

  private void enter(State next, long nowMillis) {
    state = next;
    sinceMillis = nowMillis;
    probing = false;
    nextProbeMillis = nowMillis + probeIntervalMillis;
    switches++;
  }

  public State state() {
    return state;
  }

  /** When the current state was entered (0 before the first switch). */
  public long sinceMillis() {
    return sinceMillis;
  }

  /** This gateway's seat when the store last failed: alone, it enforces its part of each limit. */
  public Seat seat() {
    return seat;
  }

  /** How many times the state changed. */
  public long switches() {
    return switches;
  }

  /**
   * A limit's share for the gateway in {@code seat} deciding alone: its part of the limit ({@link Seat#partOf}), in
   * the same window, so that the N gateways alone admit the limit together, no more. Empty when that part is 0 (a
   * limit below N): that gateway admits nothing alone.
   */
  public static Optional<WindowSpec> shareOf(WindowSpec spec, Seat seat) {
    int share = seat.partOf(spec.requests());
    if (share == 0) {
      return Optional.empty();
    }
    return Optional.of(share == spec.requests() ? spec : new WindowSpec(share, spec.windowMillis(), spec.queued(),
        spec.transitMillis()));
  }
}
