package io.sluice.gateway.config;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses durations written as {@code 250ms}, {@code 1s}, {@code 2m} or {@code 1h}. */
public final class Durations {

  private static final Pattern DURATION = Pattern.compile("(\\d{1,9})\\s*(ms|s|m|h)");

  private Durations() {
  }

  /** Milliseconds, or -1 if the text is not a duration. */
  public static long parseMillis(String text) {
    Matcher m = DURATION.matcher(text.trim());
    if (!m.matches()) {
      return -1;
    }
    long amount = Long.parseLong(m.group(1));
    switch (m.group(2)) {
      case "ms":
        return amount;
      case "s":
        return amount * 1_000;
      case "m":
        return amount * 60_000;
      default:
        return amount * 3_600_000;
    }
  }
}
