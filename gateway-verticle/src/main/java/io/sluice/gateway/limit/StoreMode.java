package io.sluice.gateway.limit;

import java.util.Optional;

/**
 * Where the gateway takes its decisions while the shared counters fail and come back: an explicit state machine,
 * pure (no I/O, no threads, no clock of its own), driven by events stamped with the caller's clock. Not thread-safe:
 * {@link FailoverCounterStore} holds its lock around every call.
 *
 * <p>One slow answer does not switch the gateway: on a busy box a store call now and then takes longer than
 * {@code storeTimeout}, and a gateway that decided everything alone after each of them would break every limit it
 * shares (the soak measured 1,386 such switches in 14 minutes, and a window of 27 for a limit of 20). Only that request
 * is decided alone ({@link FailoverCounterStore} settles its late answer with the shared counters); the gateway leaves
 * shared counting only when failures persist for {@code confirm} ms and make up at least half of its calls.
 *
 * <pre>
 *   state       event            next        what happens
 *   SHARED      FAILED           SUSPECT     a decision's store call timed out or failed: that request is decided
 *                                            alone; count the calls that fail and those answered from now on
 *   SHARED      REFUSED          DEGRADED    the store said it will not serve (no quorum): as below, at once
 *   SHARED      ANSWERED, PROBE_ANSWERED, CARRIED, QUIET: SHARED (nothing to do)
 *   SUSPECT     FAILED           DEGRADED    if confirm ms have passed since the first failure and at least half of
 *                                            the calls since failed: remember this gateway's seat among those seen
 *                                            in the cluster now (i of N); probe the store soon, then every interval
 *   SUSPECT     FAILED           SUSPECT     otherwise (after confirm ms of mostly answered calls, counting starts
 *                                            again from this failure)
 *   SUSPECT     REFUSED          DEGRADED    as from SHARED
 *   SUSPECT     ANSWERED         SHARED      if confirm ms have passed since the last failure: it was a hiccup
 *   SUSPECT     ANSWERED         SUSPECT     otherwise (counted)
 *   SUSPECT     QUIET            SHARED      if confirm ms have passed since the last failure (no call came to say so)
 *   SUSPECT     PROBE_ANSWERED, CARRIED: SUSPECT (late answers: nothing to do)
 *   DEGRADED    FAILED, REFUSED  DEGRADED    a probe (or a late call) failed: next probe one interval later
 *   DEGRADED    PROBE_ANSWERED   RECOVERING  the store answered a probe: write what was admitted meanwhile into it
 *   DEGRADED    ANSWERED, CARRIED, QUIET: DEGRADED (late answers: nothing to do)
 *   RECOVERING  FAILED, REFUSED  DEGRADED    writing it back failed: keep deciding alone, probe again later
 *   RECOVERING  CARRIED          SHARED      everything admitted alone is in the shared counters: share again
 *   RECOVERING  ANSWERED, PROBE_ANSWERED, QUIET: RECOVERING (late answers: nothing to do)
 * </pre>
 *
 * While DEGRADED or RECOVERING ({@link #alone()}), every decision follows {@code limiter.onStoreFailure}
 * ({@link OnStoreFailure}); while SHARED or SUSPECT, only those whose call failed.
 */
public final class StoreMode {

  public enum State {
    SHARED, SUSPECT, DEGRADED, RECOVERING;

    /** Whether decisions are taken without the store (DEGRADED, RECOVERING); SUSPECT still asks it. */
    public boolean alone() {
      return this == DEGRADED || this == RECOVERING;
    }
  }

  public enum Event {
    /** A store call timed out or failed. */
    FAILED,
    /** The store said it will not serve for now ({@link CounterStore#refusesForNow}). */
    REFUSED,
    /** A decision's store call was answered in time. */
    ANSWERED,
    /** A probe of the store was answered in time. */
    PROBE_ANSWERED,
    /** What was admitted without the store has been written into it. */
    CARRIED,
    /**
     * A timer's look at a suspicion: no call may have come since the last failure (a quiet key, a quiet place), and
     * a suspicion without failures for confirm ms is over whether or not a call says so.
     */
    QUIET
  }

  /** One change of state, for the log and the counters. */
  public record Transition(State from, State to, Event cause, long atMillis, Seat seat) {
  }

  private final long firstProbeMillis;
  private final long probeIntervalMillis;
  private final long confirmMillis;
  private State state = State.SHARED;
  private long sinceMillis;
  private Seat seat = Seat.ONLY;
  private long nextProbeMillis;
  private boolean probing;
  private long switches;
  /** SUSPECT: when counting began, when a call last failed, and the calls failed and answered since counting began. */
  private long countingSinceMillis;
  private long lastFailureMillis;
  private long failedCalls;
  private long answeredCalls;

  /**
   * @param firstProbeMillis    how long after the store failed the first probe goes out (soon: most failures are a
   *                            pause of a few hundred ms at most, a GC or a partition migration)
   * @param probeIntervalMillis how long after a failed probe the next one goes out
   * @param confirmMillis       how long failures must persist before the gateway decides alone (and how long without
   *                            one before a suspicion is dropped)
   */
  public StoreMode(long firstProbeMillis, long probeIntervalMillis, long confirmMillis) {
    if (firstProbeMillis < 0 || probeIntervalMillis < 1 || confirmMillis < 0) {
      throw new IllegalArgumentException("probe delays must be >= 0 and >= 1 ms and confirm >= 0 ms, got "
          + firstProbeMillis + ", " + probeIntervalMillis + " and " + confirmMillis);
    }
    this.firstProbeMillis = firstProbeMillis;
    this.probeIntervalMillis = probeIntervalMillis;
    this.confirmMillis = confirmMillis;
  }

  /**
   * Applies one event. {@code seen} is this gateway's seat among those the cluster shows now (read only when it
   * starts deciding alone). Returns the transition, or null when the state stays.
   */
  public Transition on(Event event, long nowMillis, Seat seen) {
    State from = state;
    Event cause = event;
    if (event == Event.REFUSED) {
      if (!state.alone()) {
        degrade(nowMillis, seen);
        return new Transition(from, state, cause, nowMillis, seat);
      }
      // alone already: a refusal is a failure like any other
      event = Event.FAILED;
    }
    switch (state) {
      case SHARED -> {
        if (event == Event.FAILED) {
          suspect(nowMillis);
        }
      }
      case SUSPECT -> {
        if (event == Event.FAILED) {
          failedCalls++;
          lastFailureMillis = nowMillis;
          if (nowMillis - countingSinceMillis >= confirmMillis) {
            if (2 * failedCalls >= failedCalls + answeredCalls) {
              degrade(nowMillis, seen);
            } else {
              suspect(nowMillis);
            }
          }
        } else if (event == Event.ANSWERED) {
          answeredCalls++;
          if (nowMillis - lastFailureMillis >= confirmMillis) {
            enter(State.SHARED, nowMillis);
          }
        } else if (event == Event.QUIET && nowMillis - lastFailureMillis >= confirmMillis) {
          enter(State.SHARED, nowMillis);
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
    return from == state ? null : new Transition(from, state, cause, nowMillis, seat);
  }

  /** Starts deciding alone as gateway {@code seen}; the first probe goes out soon. */
  private void degrade(long nowMillis, Seat seen) {
    seat = seen;
    enter(State.DEGRADED, nowMillis);
    nextProbeMillis = nowMillis + firstProbeMillis;
  }

  /** (Re)starts counting with one failure now. */
  private void suspect(long nowMillis) {
    if (state != State.SUSPECT) {
      enter(State.SUSPECT, nowMillis);
    }
    countingSinceMillis = nowMillis;
    lastFailureMillis = nowMillis;
    failedCalls = 1;
    answeredCalls = 0;
  }

  /** Whether a probe should be sent now; if so, it counts as sent (one at a time). */
  public boolean takeProbe(long nowMillis) {
    if (state != State.DEGRADED || probing || nowMillis < nextProbeMillis) {
      return false;
    }
    probing = true;
    return true;
  }

  /** A switch (counted) is a move into or out of deciding alone; SHARED and SUSPECT both share. */
  private void enter(State next, long nowMillis) {
    if (state.alone() || next.alone()) {
      switches++;
      sinceMillis = nowMillis;
    }
    state = next;
    probing = false;
    nextProbeMillis = nowMillis + probeIntervalMillis;
  }

  public State state() {
    return state;
  }

  /** When the gateway last started or stopped deciding alone (0 before the first switch). */
  public long sinceMillis() {
    return sinceMillis;
  }

  /** This gateway's seat when the store last failed: alone, it enforces its part of each limit. */
  public Seat seat() {
    return seat;
  }

  /** How many times the gateway started deciding alone, or came back from it (each of the steps counts). */
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
