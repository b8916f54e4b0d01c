package io.sluice.api;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;

import java.util.function.Consumer;

/**
 * Reads a request body of any size as it streams in, keeping only its length, CRC-32 and whether it is the
 * {@link BytePattern}. With a pause it stops reading for that long after each piece it gets (a slow reader: the
 * sender is held back by TCP flow control, nothing is buffered here beyond Vert.x's own bounded queue).
 */
final class BodySink {

  /** How long a request answered before its body is read may go on sending before its connection is closed. */
  static final long LINGER_MS = 1_000;

  private BodySink() {
  }

  /** Reads the body, then hands its summary to {@code done}: {@code {"bytes": n, "crc32": "...", "pattern": b}}. */
  static void read(Vertx vertx, HttpServerRequest request, long pauseMs, Consumer<JsonObject> done) {
    BytePattern.Digest digest = new BytePattern.Digest();
    request.handler(chunk -> {
      digest.update(chunk);
      if (pauseMs > 0) {
        request.pause();
        vertx.setTimer(pauseMs, id -> request.resume());
      }
    });
    request.endHandler(v -> done.accept(new JsonObject()
      .put("bytes", digest.bytes())
      .put("crc32", digest.crc32())
      .put("pattern", digest.patternIntact())));
    if (request.headers().contains(HttpHeaders.EXPECT, HttpHeaders.CONTINUE, true)) {
      request.response().writeContinue();
    }
    request.resume();
  }

  /**
   * For a request that was answered before its body was read: reads and drops what still comes, like a server that
   * refused an upload, and closes the connection if the body has not ended after {@link #LINGER_MS}.
   */
  static void discard(Vertx vertx, HttpServerRequest request) {
    if (request.isEnded()) {
      return;
    }
    long linger = vertx.setTimer(LINGER_MS, id -> {
      if (!request.isEnded()) {
        request.connection().close();
      }
    });
    request.handler(chunk -> { });
    request.endHandler(v -> vertx.cancelTimer(linger));
    request.exceptionHandler(e -> vertx.cancelTimer(linger));
    request.resume();
  }
}
