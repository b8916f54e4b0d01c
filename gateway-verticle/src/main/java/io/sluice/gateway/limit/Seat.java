package io.sluice.gateway.limit;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.UUID;

/**
 * Where this gateway sits among the gateways of its cluster: seat {@code index} of {@code gateways}, its position
 * among the cluster's data members sorted by member UUID. Every member sorts the same list alike, so while they agree
 * on the members, each holds a seat of its own. While the shared counters fail, the seats split every limit between
 * them ({@link #partOf}) so that the parts add up to the limit exactly.
 */
public record Seat(int index, int gateways) {

  /** The only gateway: its part of anything is the whole. */
  public static final Seat ONLY = new Seat(0, 1);

  public Seat {
    if (gateways < 1 || index < 0 || index >= gateways) {
      throw new IllegalArgumentException("seat " + index + " of " + gateways + " gateways");
    }
  }

  /**
   * The seat of {@code self} among {@code members}, sorted by UUID; {@code self} counts whether listed or not (a
   * member leaving the cluster may no longer see itself in it, and it still decides).
   */
  public static Seat of(UUID self, Collection<UUID> members) {
    return of(self, members, 1);
  }

  /**
   * {@link #of(UUID, Collection)} among at least {@code expected} gateways: with fewer in sight (the small side of a
   * split brain), the seats of those missing stay empty, and the parts of those in sight add up to less than the
   * whole. Seats are taken from the first, which hold the larger parts: {@code ceil(total / expected)} at most each.
   */
  public static Seat of(UUID self, Collection<UUID> members, int expected) {
    List<UUID> sorted = new ArrayList<>(members);
    if (!sorted.contains(self)) {
      sorted.add(self);
    }
    sorted.sort(null);
    return new Seat(sorted.indexOf(self), Math.max(sorted.size(), expected));
  }

  /**
   * This seat's part of {@code total} split over every seat: {@code floor(total / N)}, plus one for the seats below
   * {@code total mod N}. The parts of the N seats add up to {@code total}; when {@code total < N} some are 0.
   */
  public int partOf(int total) {
    if (total < 0) {
      throw new IllegalArgumentException("a negative total: " + total);
    }
    return total / gateways + (index < total % gateways ? 1 : 0);
  }

  /** {@link #partOf} in words, for the log: "floor(limit/3) + 1 if limit mod 3 > 0". */
  public String partInWords(String total) {
    if (gateways == 1) {
      return total;
    }
    String floor = "floor(" + total + "/" + gateways + ")";
    return index == gateways - 1 ? floor : floor + " + 1 if " + total + " mod " + gateways + " > " + index;
  }

  @Override
  public String toString() {
    return "seat " + index + " of " + gateways;
  }
}
