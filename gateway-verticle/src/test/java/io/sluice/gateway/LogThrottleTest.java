package io.sluice.gateway;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

@DisplayName("Log throttle: one line per interval, reporting every event since the last")
class LogThrottleTest {

  private static final long T0 = 1_796_000_000_000L;

  @Test
  @DisplayName("the first event is logged; those within the interval are counted into the next line")
  void oneLinePerInterval() {
    LogThrottle throttle = new LogThrottle(1_000);
    assertEquals(1, throttle.count(T0));
    assertEquals(0, throttle.count(T0 + 10));
    assertEquals(0, throttle.count(T0 + 999));
    assertEquals(3, throttle.count(T0 + 1_000), "the two held back and this one");
    assertEquals(0, throttle.count(T0 + 1_500));
    assertEquals(2, throttle.count(T0 + 5_000));
  }

  @Test
  @DisplayName("a clock that starts at 0 logs its first event too")
  void firstEventAtTimeZero() {
    assertEquals(1, new LogThrottle(10_000).count(0));
  }
}
