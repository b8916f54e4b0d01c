package io.sluice.api;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;

/**
 * Writes {@code total} bytes of {@link BytePattern} to a response, 64 KiB at a time, only while the connection takes
 * them: it stops when the write queue is full and goes on from the drain handler, so a slow reader costs no memory.
 * With a pause, it waits that long after each piece (a slow sender).
 */
final class PatternStream {

  private final Vertx vertx;
  private final HttpServerResponse response;
  private final long total;
  private final long pauseMs;
  private long sent;
  private boolean stopped;

  private PatternStream(Vertx vertx, HttpServerResponse response, long total, long pauseMs) {
    this.vertx = vertx;
    this.response = response;
    this.total = total;
    this.pauseMs = pauseMs;
  }

  /** Starts writing; the response's headers (length or chunked) must already be set. */
  static void start(Vertx vertx, HttpServerResponse response, long total, long pauseMs) {
    PatternStream stream = new PatternStream(vertx, response, total, pauseMs);
    response.closeHandler(v -> stream.stopped = true);
    stream.pump();
  }

  private void pump() {
    while (!stopped && sent < total && !response.writeQueueFull()) {
      int length = (int) Math.min(BytePattern.MAX_PIECE, total - sent);
      response.write(BytePattern.piece(sent, length));
      sent += length;
      if (pauseMs > 0 && sent < total) {
        vertx.setTimer(pauseMs, id -> pump());
        return;
      }
    }
    if (stopped) {
      return;
    }
    if (sent == total) {
      response.end();
      return;
    }
    response.drainHandler(v -> {
      response.drainHandler(null);
      pump();
    });
  }
}
