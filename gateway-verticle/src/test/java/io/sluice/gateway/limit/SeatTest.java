package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Seat: a gateway's place in the cluster, and its part of a limit")
class SeatTest {

  @ParameterizedTest(name = "L = {0}, N = {1}, i = {2}: {3}")
  @DisplayName("gateway i of N gets floor(L/N), plus one if i < L mod N")
  @CsvSource({
      // L, N, i, part
      "10, 1, 0, 10",
      "10, 2, 0, 5", "10, 2, 1, 5",
      "10, 3, 0, 4", "10, 3, 1, 3", "10, 3, 2, 3",
      "11, 3, 0, 4", "11, 3, 1, 4", "11, 3, 2, 3",
      "1, 3, 0, 1", "1, 3, 1, 0", "1, 3, 2, 0",
      "2, 3, 0, 1", "2, 3, 1, 1", "2, 3, 2, 0",
      "3, 3, 2, 1",
      "0, 3, 0, 0",
      "1, 1, 0, 1",
      "7, 4, 3, 1", "5, 8, 4, 1", "5, 8, 5, 0",
      "1000000, 7, 0, 142858", "1000000, 7, 6, 142857"})
  void partOfALimit(int limit, int gateways, int index, int part) {
    assertEquals(part, new Seat(index, gateways).partOf(limit));
  }

  @Test
  @DisplayName("the parts of all N seats add up to L exactly, each within one of L/N, and never shrink as L grows")
  void partsAddUpToTheLimit() {
    for (int gateways = 1; gateways <= 9; gateways++) {
      for (int limit = 0; limit <= 60; limit++) {
        int sum = 0;
        for (int index = 0; index < gateways; index++) {
          Seat seat = new Seat(index, gateways);
          int part = seat.partOf(limit);
          assertTrue(part == limit / gateways || part == limit / gateways + 1, seat + ", L = " + limit);
          assertTrue(part <= seat.partOf(limit + 1), seat + ": monotone at L = " + limit);
          sum += part;
        }
        assertEquals(limit, sum, "L = " + limit + ", N = " + gateways);
      }
    }
  }

  @Test
  @DisplayName("a gateway's seat is its place among the members sorted by UUID, whatever order they are listed in")
  void seatByUuid() {
    UUID a = new UUID(1, 1);
    UUID b = new UUID(1, 2);
    UUID c = new UUID(2, 0);
    assertEquals(new Seat(0, 3), Seat.of(a, List.of(c, a, b)));
    assertEquals(new Seat(1, 3), Seat.of(b, List.of(b, c, a)));
    assertEquals(new Seat(2, 3), Seat.of(c, List.of(a, b, c)));
  }

  @Test
  @DisplayName("a gateway missing from the list it is given still counts itself")
  void selfAlwaysCounts() {
    UUID self = new UUID(5, 0);
    assertEquals(new Seat(1, 2), Seat.of(self, List.of(new UUID(1, 0))));
    assertEquals(Seat.ONLY, Seat.of(self, List.of()));
  }

  @Test
  @DisplayName("with N gateways expected, fewer in sight (the small side of a split) take seats of N: their parts add up "
      + "to less than the limit, each at most ceil(L/N)")
  void seatAmongTheExpected() {
    UUID a = new UUID(1, 1);
    UUID b = new UUID(1, 2);
    UUID c = new UUID(2, 0);
    assertEquals(new Seat(0, 3), Seat.of(c, List.of(c), 3), "alone where 3 are expected");
    assertEquals(4, Seat.of(c, List.of(c), 3).partOf(10), "ceil(10/3), not the whole 10");
    assertEquals(new Seat(1, 3), Seat.of(b, List.of(a, b), 3));
    assertEquals(4 + 3, Seat.of(a, List.of(a, b), 3).partOf(10) + Seat.of(b, List.of(a, b), 3).partOf(10));
    assertEquals(new Seat(2, 3), Seat.of(c, List.of(a, b, c), 3), "all there: as without an expected number");
    assertEquals(new Seat(3, 4), Seat.of(new UUID(3, 0), List.of(a, b, c), 3), "more than expected: all count");
  }

  @Test
  @DisplayName("there is no seat outside 0..N-1, and no part of a negative total")
  void rejectsNonsense() {
    assertThrows(IllegalArgumentException.class, () -> new Seat(3, 3));
    assertThrows(IllegalArgumentException.class, () -> new Seat(-1, 3));
    assertThrows(IllegalArgumentException.class, () -> new Seat(0, 0));
    assertThrows(IllegalArgumentException.class, () -> Seat.ONLY.partOf(-1));
  }

  @Test
  @DisplayName("the part in words, for the log line")
  void partInWords() {
    assertEquals("floor(limit/3) + 1 if limit mod 3 > 0", new Seat(0, 3).partInWords("limit"));
    assertEquals("floor(limit/3)", new Seat(2, 3).partInWords("limit"));
    assertEquals("limit", Seat.ONLY.partInWords("limit"));
  }
}
