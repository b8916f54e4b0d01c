package io.sluice.gateway.config;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses sizes written as a number of bytes ({@code 8192}) or a whole number of binary units ({@code 3B},
 * {@code 512KiB}, {@code 10MiB}, {@code 1GiB}; any case, a space allowed). Decimal units ({@code MB}) are refused:
 * whether they mean 1000 or 1024 is exactly the doubt a limit must not leave.
 */
public final class Sizes {

  private static final Pattern SIZE = Pattern.compile("(\\d{1,18})\\s*(b|kib|mib|gib)?");

  private Sizes() {
  }

  /** Bytes, or -1 if the text is not a size (or too large for a long). */
  public static long parseBytes(String text) {
    Matcher m = SIZE.matcher(text.trim().toLowerCase(Locale.ROOT));
    if (!m.matches()) {
      return -1;
    }
    long amount = Long.parseLong(m.group(1));
    String unit = m.group(2) == null ? "b" : m.group(2);
    int shift = switch (unit) {
      case "kib" -> 10;
      case "mib" -> 20;
      case "gib" -> 30;
      default -> 0;
    };
    return amount > (Long.MAX_VALUE >> shift) ? -1 : amount << shift;
  }
}
