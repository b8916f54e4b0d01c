package io.sluice.gateway.limit;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/** A clock tests move by hand: time-based logic is tested without sleeping. */
public final class TestClock extends Clock {

  private volatile long millis;

  public TestClock(long startMillis) {
    this.millis = startMillis;
  }

  public void advance(long deltaMillis) {
    millis += deltaMillis;
  }

  public void set(long epochMillis) {
    millis = epochMillis;
  }

  @Override
  public long millis() {
    return millis;
  }

  @Override
  public Instant instant() {
    return Instant.ofEpochMilli(millis);
  }

  @Override
  public ZoneId getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    return this;
  }
}
