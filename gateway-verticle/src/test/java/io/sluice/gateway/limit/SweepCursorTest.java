package io.sluice.gateway.limit;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("Sweep cursor: a few entries per step, on from where the last step stopped")
class SweepCursorTest {

  @Test
  @DisplayName("each step looks at the next entries only, and the steps together go round the whole map")
  void stepsGoOnAndWrapAround() {
    ConcurrentHashMap<Integer, Integer> map = new ConcurrentHashMap<>();
    for (int i = 0; i < 10; i++) {
      map.put(i, i);
    }
    SweepCursor<Integer, Integer> cursor = new SweepCursor<>(map);
    List<Integer> seen = new ArrayList<>();
    for (int step = 0; step < 4; step++) {
      cursor.step(3, (key, value) -> {
        seen.add(key);
        return false;
      });
    }
    assertEquals(12, seen.size(), "3 per step");
    assertTrue(seen.subList(0, 10).containsAll(map.keySet()), "the first 10 looked at are every entry: " + seen);
    assertEquals(seen.subList(0, 2), seen.subList(10, 12), "then it starts over: " + seen);
  }

  @Test
  @DisplayName("entries the predicate drops are removed; an empty map is no work")
  void dropsWhatThePredicateSays() {
    ConcurrentHashMap<Integer, Integer> map = new ConcurrentHashMap<>();
    for (int i = 0; i < 6; i++) {
      map.put(i, i);
    }
    SweepCursor<Integer, Integer> cursor = new SweepCursor<>(map);
    cursor.step(6, (key, value) -> value % 2 == 0);
    assertEquals(3, map.size());
    assertTrue(map.keySet().stream().allMatch(key -> key % 2 == 1));
    new SweepCursor<>(new ConcurrentHashMap<Integer, Integer>()).step(5, (key, value) -> true);
  }
}
