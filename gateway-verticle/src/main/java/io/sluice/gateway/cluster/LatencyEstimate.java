package io.sluice.gateway.cluster;

/**
 * A running estimate of a generous store round-trip time: smoothed mean plus four smoothed deviations, the way TCP
 * estimates its retransmission timeout. Capped so a stall cannot make every request wait long.
 */
final class LatencyEstimate {

  private static final double GAIN = 1.0 / 8;
  private static final double DEVIATION_GAIN = 1.0 / 4;
  static final long CAP_MILLIS = 50;

  private double mean = 1;
  private double deviation = 0.5;

  synchronized void record(double millis) {
    deviation += DEVIATION_GAIN * (Math.abs(millis - mean) - deviation);
    mean += GAIN * (millis - mean);
  }

  synchronized long generousMillis() {
    return Math.min(CAP_MILLIS, (long) Math.ceil(mean + 4 * deviation));
  }
}
