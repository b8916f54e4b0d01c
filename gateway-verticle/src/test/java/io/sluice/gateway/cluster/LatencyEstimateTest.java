package io.sluice.gateway.cluster;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The store round trip a decision plans for. Issue 14's open-loop run: one slow answer among fast ones made every
 * request wait 20–50 ms for the next dozens of decisions (p50 3.3–9.7 ms where one gateway takes 0.45 ms).
 */
class LatencyEstimateTest {

  private static void record(LatencyEstimate estimate, int times, double millis) {
    for (int i = 0; i < times; i++) {
      estimate.record(millis);
    }
  }

  @Test
  void beforeAnyAnswerItPlansForAFewMilliseconds() {
    assertEquals(3, new LatencyEstimate().generousMillis());
  }

  @Test
  void oneSlowAnswerAmongFastOnesDoesNotRaiseTheWait() {
    LatencyEstimate estimate = new LatencyEstimate();
    record(estimate, 200, 0.4);
    record(estimate, 1, 25);
    assertEquals(1, estimate.generousMillis());
    record(estimate, 1, 40);
    record(estimate, 20, 0.4);
    assertEquals(1, estimate.generousMillis());
  }

  @Test
  void theWaitCoversAllButTheSlowestTwentiethOfRecentAnswers() {
    LatencyEstimate estimate = new LatencyEstimate();
    record(estimate, 16, 12);
    record(estimate, 180, 0.8);
    record(estimate, 60, 3.2);
    // 16 of 256 over 3.2 ms: 6%, more than the 5% the wait leaves out
    assertEquals(12, estimate.generousMillis());
    record(estimate, 5, 0.8);
    // the oldest are forgotten: now 11 of 256 are slow (4%), and the wait covers the 3.2 ms ones, rounded up
    assertEquals(4, estimate.generousMillis());
  }

  @Test
  void aSlowAnswerIsThePercentileAboveTheWait() {
    LatencyEstimate estimate = new LatencyEstimate();
    record(estimate, 250, 0.4);
    record(estimate, 6, 9);
    assertEquals(1, estimate.generousMillis());
    assertEquals(9, estimate.slowMillis());
  }

  @Test
  void aStoreThatSlowsDownForAllIsFollowedAtOnceAndCapped() {
    LatencyEstimate estimate = new LatencyEstimate();
    record(estimate, 256, 0.5);
    record(estimate, 256, 30);
    assertEquals(30, estimate.generousMillis());
    record(estimate, 256, 400);
    assertEquals(LatencyEstimate.CAP_MILLIS, estimate.generousMillis());
    assertEquals(LatencyEstimate.CAP_MILLIS, estimate.slowMillis());
    assertTrue(estimate.slowMillis() >= estimate.generousMillis());
  }
}
