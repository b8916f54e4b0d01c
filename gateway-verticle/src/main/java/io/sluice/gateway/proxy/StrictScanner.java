package io.sluice.gateway.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.util.ByteProcessor;

/**
 * What Netty's request decoder lets through and a strict proxy must not: a header line folded onto the one before
 * it (obs-fold, RFC 9112 §5.2), and a chunk-size line that is not {@code 1*HEXDIG *( BWS ";" BWS token [ BWS "="
 * BWS ( token / quoted-string ) ] )} (RFC 9112 §7.1.1; Netty reads the size and ignores what follows ';'). It reads
 * the same bytes just before the decoder does, in the parts of the stream the decoder says are heads or chunked
 * bodies, and remembers the first violation; the engines' decoders ({@code netty.ServerCodec},
 * {@code vertx.StrictRequestDecoder}) turn that into a failed request or body.
 */
public final class StrictScanner {

  /** Which part of the stream the next byte belongs to. */
  public enum Part {
    /** A request head: its lines are checked for obs-fold until the blank line. */
    HEAD,
    /** Bytes the decoder alone reads (a fixed-length body, or a head or body already scanned). */
    PASS,
    /** A chunk-size line. */
    CHUNK_LINE,
    /** Chunk data, {@link #remaining} bytes of it, then CRLF. */
    CHUNK_DATA,
    /** Trailer lines after the last chunk, until the blank line. */
    TRAILERS
  }

  /** Longest chunk-size line accepted (size and extensions). */
  static final int MAX_CHUNK_LINE = 4096;

  private Part part = Part.HEAD;
  private final StringBuilder line = new StringBuilder();
  private boolean lineStart = true;
  private boolean firstLine = true;
  private long remaining;
  private String violation;

  public Part part() {
    return part;
  }

  /** The first rule broken in the part being scanned, or null. */
  public String violation() {
    return violation;
  }

  /** A new request head starts at the next byte. */
  public void expectHead() {
    part = Part.HEAD;
    lineStart = true;
    firstLine = true;
    violation = null;
  }

  /** A chunked body starts at the next byte. */
  public void expectChunkedBody() {
    part = Part.CHUNK_LINE;
    line.setLength(0);
    violation = null;
  }

  /** The decoder alone reads what follows, until told otherwise. */
  public void pass() {
    part = Part.PASS;
  }

  /**
   * Scans {@code buffer} from index {@code from} (inclusive) to {@code to} (exclusive); returns the index it stopped at:
   * {@code to}, or where the scanned part ended (the decoder must catch up before the next part starts).
   */
  public int scan(ByteBuf buffer, int from, int to) {
    int i = from;
    while (i < to && part != Part.PASS && violation == null) {
      if (part == Part.CHUNK_DATA) {
        long skip = Math.min(remaining, to - i);
        i += (int) skip;
        remaining -= skip;
        if (remaining == 0 && i < to) {
          // the two bytes after the data must be CRLF (the decoder checks them too)
          part = Part.CHUNK_LINE;
          line.setLength(0);
          lineStart = true;
          remaining = -2;
        }
        continue;
      }
      if (part == Part.HEAD) {
        i = head(buffer, i, to);
        continue;
      }
      byte b = buffer.getByte(i++);
      if (remaining < 0) {
        remaining++;
        if (remaining == -1 && b != '\r' || remaining == 0 && b != '\n') {
          violation = "chunk data is not followed by CRLF";
        }
      } else {
        bodyLine(b);
      }
    }
    return i;
  }

  /**
   * Scans a head from {@code i}: only the first byte of each line matters (a fold starts with SP or HTAB; an empty
   * line ends the head), so the rest of a line is skipped with a search for its LF. Returns where it stopped.
   */
  private int head(ByteBuf buffer, int i, int to) {
    while (i < to) {
      if (lineStart) {
        byte b = buffer.getByte(i);
        if (b == '\r') {
          i++;
          continue;
        }
        if (b == '\n') {
          i++;
          if (!firstLine) {
            part = Part.PASS; // the blank line: the head is complete
            return i;
          }
          continue; // empty lines before the request line are skipped, as the decoder does
        }
        if (!firstLine && (b == ' ' || b == '\t')) {
          violation = "a header line is folded onto the previous one (obs-fold)";
          return i;
        }
        lineStart = false;
      }
      int lf = buffer.forEachByte(i, to - i, ByteProcessor.FIND_LF);
      if (lf < 0) {
        return to;
      }
      i = lf + 1;
      lineStart = true;
      firstLine = false;
    }
    return i;
  }

  private void bodyLine(byte b) {
    if (b != '\n') {
      if (b != '\r') {
        if (line.length() >= MAX_CHUNK_LINE) {
          violation = "a chunk-size line is longer than " + MAX_CHUNK_LINE + " bytes";
          return;
        }
        line.append((char) (b & 0xff));
      }
      return;
    }
    String text = line.toString();
    line.setLength(0);
    if (part == Part.TRAILERS) {
      if (text.isEmpty()) {
        part = Part.PASS;
      } else if (text.charAt(0) == ' ' || text.charAt(0) == '\t') {
        violation = "a trailer line is folded onto the previous one (obs-fold)";
      } else if (!isField(text)) {
        violation = "a trailer line is not a field (name: value): '" + printable(text) + "'";
      }
      return;
    }
    long size = chunkSize(text);
    if (size < 0) {
      violation = "invalid chunk-size line '" + printable(text) + "'";
    } else if (size == 0) {
      part = Part.TRAILERS;
    } else {
      part = Part.CHUNK_DATA;
      remaining = size;
    }
  }

  /** The size a chunk-size line announces, or -1 if the line is not valid. */
  static long chunkSize(String line) {
    int i = 0;
    long size = 0;
    while (i < line.length() && Character.digit(line.charAt(i), 16) >= 0) {
      size = size * 16 + Character.digit(line.charAt(i), 16);
      if (++i > 15) {
        return -1;
      }
    }
    if (i == 0) {
      return -1;
    }
    while (i < line.length()) {
      // whitespace only before a ';': "5 " is not a chunk-size line
      i = skipBws(line, i);
      if (i >= line.length() || line.charAt(i) != ';') {
        return -1;
      }
      i = skipBws(line, i + 1);
      int name = i;
      i = skipToken(line, i);
      if (i == name) {
        return -1;
      }
      i = skipBws(line, i);
      if (i < line.length() && line.charAt(i) == '=') {
        i = skipBws(line, i + 1);
        int value = i;
        i = i < line.length() && line.charAt(i) == '"' ? skipQuoted(line, i) : skipToken(line, i);
        if (i <= value) {
          return -1;
        }
      }
    }
    return size;
  }

  private static int skipBws(String line, int i) {
    while (i < line.length() && (line.charAt(i) == ' ' || line.charAt(i) == '\t')) {
      i++;
    }
    return i;
  }

  private static int skipToken(String line, int i) {
    while (i < line.length() && isTokenChar(line.charAt(i))) {
      i++;
    }
    return i;
  }

  /** The index after the quoted string starting at {@code i}, or -1 if it is not one. */
  private static int skipQuoted(String line, int i) {
    for (i++; i < line.length(); i++) {
      char c = line.charAt(i);
      if (c == '"') {
        return i + 1;
      }
      if (c == '\\') {
        i++;
        if (i >= line.length() || !isQuotable(line.charAt(i))) {
          return -1;
        }
      } else if (!isQuotable(c)) {
        return -1;
      }
    }
    return -1;
  }

  private static boolean isQuotable(char c) {
    return c == '\t' || c >= 0x20 && c != 0x7f;
  }

  /** {@code field-name ":" field-value} (RFC 9110 §5): a token, then the colon, with nothing between. */
  private static boolean isField(String line) {
    int colon = line.indexOf(':');
    if (colon <= 0) {
      return false;
    }
    for (int i = 0; i < colon; i++) {
      if (!isTokenChar(line.charAt(i))) {
        return false;
      }
    }
    return true;
  }

  static boolean isTokenChar(char c) {
    return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
        || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
  }

  private static String printable(String text) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < text.length() && i < 64; i++) {
      char c = text.charAt(i);
      out.append(c < 0x20 || c >= 0x7f ? String.format("\\x%02x", (int) c) : String.valueOf(c));
    }
    return out.toString();
  }
}
