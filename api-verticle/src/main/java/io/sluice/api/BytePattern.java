package io.sluice.api;

import io.vertx.core.buffer.Buffer;

import java.util.Arrays;
import java.util.zip.CRC32;

/**
 * The bytes {@code /api/bytes} sends and {@code /api/sink} checks: byte {@code i} of a body is {@code i mod 251}.
 * 251 is prime, so a piece lost, repeated or moved by any power-of-two amount shows up as a mismatch.
 * A client verifies a body of any length with a {@link Digest}, without holding it.
 */
public final class BytePattern {

  public static final int PERIOD = 251;
  /** The largest piece {@link #piece} gives. */
  public static final int MAX_PIECE = 64 * 1024;

  /** Pattern bytes 0 .. MAX_PIECE + PERIOD: any piece of the pattern is a slice of it. */
  private static final byte[] SOURCE = new byte[MAX_PIECE + PERIOD];
  private static final Buffer SHARED;

  static {
    for (int i = 0; i < SOURCE.length; i++) {
      SOURCE[i] = (byte) (i % PERIOD);
    }
    SHARED = Buffer.buffer(SOURCE);
  }

  private BytePattern() {
  }

  public static byte at(long index) {
    return (byte) (index % PERIOD);
  }

  /**
   * The {@code length} pattern bytes that start at {@code offset} of a body, as a read-only slice of one shared
   * buffer: writing it costs no copy and no allocation of its bytes.
   */
  public static Buffer piece(long offset, int length) {
    if (length < 0 || length > MAX_PIECE) {
      throw new IllegalArgumentException("piece length must be 0.." + MAX_PIECE + ", got " + length);
    }
    int start = (int) (offset % PERIOD);
    return SHARED.slice(start, start + length);
  }

  /** Running count, CRC-32 and pattern check of a body read piece by piece. */
  public static final class Digest {
    private final CRC32 crc = new CRC32();
    private long bytes;
    private long firstMismatch = -1;

    public Digest update(Buffer chunk) {
      byte[] data = chunk.getBytes();
      crc.update(data);
      if (firstMismatch < 0) {
        checkPattern(data);
      }
      bytes += data.length;
      return this;
    }

    private void checkPattern(byte[] data) {
      int done = 0;
      while (done < data.length) {
        int start = (int) ((bytes + done) % PERIOD);
        int length = Math.min(data.length - done, MAX_PIECE);
        int at = Arrays.mismatch(data, done, done + length, SOURCE, start, start + length);
        if (at >= 0) {
          firstMismatch = bytes + done + at;
          return;
        }
        done += length;
      }
    }

    public long bytes() {
      return bytes;
    }

    /** CRC-32 of everything seen, as 8 lower-case hex digits. */
    public String crc32() {
      return String.format("%08x", crc.getValue());
    }

    /** Whether every byte seen so far is the pattern byte for its position. */
    public boolean patternIntact() {
      return firstMismatch < 0;
    }

    /** The position of the first byte that broke the pattern, or -1. */
    public long firstMismatch() {
      return firstMismatch;
    }
  }
}
