package io.sluice.gateway.proxy.conformance;

/**
 * The byte notation of the case table (see {@code src/test/resources/conformance/README.md}). Bytes are held as
 * ISO-8859-1 strings throughout the suite: one char per byte, so any byte round-trips and text stays readable.
 *
 * <ul>
 *   <li>{@code \r \n \t \\ \xHH}: CR, LF, HTAB, backslash, any byte;</li>
 *   <li>{@code {{repeat N:TEXT}}}: TEXT (itself in this notation, may nest) N times;</li>
 *   <li>{@code {{fwd HOST}}} and {@code {{fwd10 HOST}}}: the fields the gateway adds to a forwarded request from
 *       127.0.0.1 with Host HOST (Via received-protocol 1.1 or 1.0).</li>
 * </ul>
 */
final class ByteNotation {

  private static final int MAX_EXPANDED = 64 * 1024 * 1024;

  private ByteNotation() {
  }

  static String decode(String text) {
    int[] at = {0};
    String decoded = decode(text, at, false);
    if (at[0] != text.length()) {
      throw new IllegalArgumentException("unbalanced '}}' at " + at[0] + " in: " + text);
    }
    return decoded;
  }

  /** Decodes from {@code at[0]} to the end, or (nested) to the '}}' that closes the current generator. */
  private static String decode(String text, int[] at, boolean nested) {
    StringBuilder out = new StringBuilder();
    while (at[0] < text.length()) {
      char c = text.charAt(at[0]);
      if (nested && text.startsWith("}}", at[0])) {
        return out.toString();
      }
      if (text.startsWith("{{", at[0])) {
        at[0] += 2;
        out.append(generator(text, at));
        continue;
      }
      if (c == '\\' && at[0] + 1 < text.length()) {
        char e = text.charAt(at[0] + 1);
        switch (e) {
          case 'r' -> out.append('\r');
          case 'n' -> out.append('\n');
          case 't' -> out.append('\t');
          case '\\' -> out.append('\\');
          case 'x' -> {
            out.append((char) Integer.parseInt(text.substring(at[0] + 2, at[0] + 4), 16));
            at[0] += 2;
          }
          default -> throw new IllegalArgumentException("unknown escape \\" + e + " in: " + text);
        }
        at[0] += 2;
        continue;
      }
      out.append(c);
      at[0]++;
    }
    if (nested) {
      throw new IllegalArgumentException("'{{' without '}}' in: " + text);
    }
    return out.toString();
  }

  private static String generator(String text, int[] at) {
    int space = text.indexOf(' ', at[0]);
    if (space < 0) {
      throw new IllegalArgumentException("generator without argument in: " + text);
    }
    String name = text.substring(at[0], space);
    at[0] = space + 1;
    String result;
    switch (name) {
      case "repeat" -> {
        int colon = text.indexOf(':', at[0]);
        int count = Integer.parseInt(text.substring(at[0], colon).trim());
        at[0] = colon + 1;
        String unit = decode(text, at, true);
        if ((long) unit.length() * count > MAX_EXPANDED) {
          throw new IllegalArgumentException("{{repeat}} larger than " + MAX_EXPANDED + " bytes in: " + text);
        }
        result = unit.repeat(count);
      }
      case "fwd", "fwd10" -> {
        String host = decode(text, at, true);
        result = "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: " + host
            + "\r\nVia: " + (name.equals("fwd") ? "1.1" : "1.0") + " sluice\r\n";
      }
      default -> throw new IllegalArgumentException("unknown generator {{" + name + "}} in: " + text);
    }
    at[0] += 2; // the closing '}}'
    return result;
  }

  /** The bytes in this notation (printable ASCII kept, the rest escaped), shortened past {@code max} chars. */
  static String show(String bytes, int max) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < bytes.length(); i++) {
      if (out.length() >= max) {
        out.append("…(").append(bytes.length() - i).append(" more bytes)");
        break;
      }
      char c = bytes.charAt(i);
      switch (c) {
        case '\r' -> out.append("\\r");
        case '\n' -> out.append("\\n");
        case '\t' -> out.append("\\t");
        case '\\' -> out.append("\\\\");
        default -> {
          if (c < 0x20 || c >= 0x7f) {
            out.append(String.format("\\x%02x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.toString();
  }

  static String show(String bytes) {
    return show(bytes, 2000);
  }
}
