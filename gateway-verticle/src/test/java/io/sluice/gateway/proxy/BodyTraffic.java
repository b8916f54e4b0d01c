package io.sluice.gateway.proxy;

import io.sluice.api.BytePattern;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A client for bodies of any size: uploads {@link BytePattern} bytes and checks downloaded ones as they stream,
 * at full speed or paced, holding no body in memory. Every step runs on a Vert.x event loop; the test thread only
 * waits, for a bounded time.
 */
final class BodyTraffic {

  private static final String HOST = "127.0.0.1";

  private BodyTraffic() {
  }

  /** How a body is sent or read: pieces of {@code pieceBytes}, with {@code pauseMs} before each (0: no pauses). */
  record Pacing(int pieceBytes, long pauseMs) {

    static final Pacing FAST = new Pacing(BytePattern.MAX_PIECE, 0);

    /**
     * Spread over about {@code target}: 64 KiB pieces (at least 8 for a small body) with equal pauses, the first
     * before any body byte. A pause is at least 1 ms, so a very large body takes longer than {@code target}.
     */
    static Pacing spread(long size, Duration target) {
      long pieces = Math.max(Math.min(size, 8), ceilDiv(size, BytePattern.MAX_PIECE));
      int pieceBytes = (int) Math.max(1, ceilDiv(size, Math.max(1, pieces)));
      return new Pacing(pieceBytes, Math.max(1, target.toMillis() / (pieces + 1)));
    }

    /** About {@code bytesPerSecond}, in pieces sent every {@code every}. */
    static Pacing rate(long bytesPerSecond, Duration every) {
      return new Pacing((int) (bytesPerSecond * every.toMillis() / 1000), every.toMillis());
    }

    boolean paced() {
      return pauseMs > 0;
    }

    private static long ceilDiv(long a, long b) {
      return (a + b - 1) / b;
    }
  }

  /** What an upload got back, and when its head came (ms after the request started). */
  record Answer(int status, MultiMap headers, Buffer body, long headAfterMs, long bytesSent) {
  }

  /** What a download got, checked against the pattern, and how long it took in all. */
  record Download(int status, MultiMap headers, BytePattern.Digest digest, long tookMs) {
  }

  /**
   * Sends {@code size} pattern bytes with a Content-Length or chunked, paced, never faster than the connection
   * takes them. Sending stops once an answer arrives (a client told early that its upload is refused).
   */
  static Future<Answer> upload(Vertx vertx, HttpClient http, int port, String uri, long size, boolean chunked,
                               Pacing pacing) {
    long started = System.nanoTime();
    RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost(HOST).setPort(port).setURI(uri);
    return http.request(options).compose(request -> {
      if (chunked) {
        request.setChunked(true);
      } else {
        request.putHeader(HttpHeaders.CONTENT_LENGTH, Long.toString(size));
      }
      PacedWriter writer = new PacedWriter(vertx, request, size, pacing);
      Future<HttpClientResponse> response = request.response();
      response.onSuccess(head -> writer.stop());
      writer.start();
      return response.compose(head -> {
        long headAfterMs = (System.nanoTime() - started) / 1_000_000;
        return head.body().map(body -> {
          if (!writer.ended) {
            // the rest of the body will never come: the connection cannot be used again
            request.reset();
          }
          return new Answer(head.statusCode(), head.headers(), body, headAfterMs, writer.sent);
        });
      });
    });
  }

  /**
   * Runs {@code traffic} on {@code context}. A client's requests should all start on one context: the connection then
   * belongs to it and hands each response over in the same turn as it reads it. A response read on another event loop
   * reaches its request's context a moment later, when a body of 0 bytes may have ended already, and Vert.x refuses a
   * body handler set on an ended response.
   */
  static <T> Future<T> on(Context context, Supplier<Future<T>> traffic) {
    Promise<T> done = Promise.promise();
    context.runOnContext(v -> traffic.get().onComplete(done));
    return done.future();
  }

  /** GETs {@code uri} and checks the body against the pattern as it streams in, reading at {@code pacing}. */
  static Future<Download> download(Vertx vertx, HttpClient http, int port, String uri, Pacing pacing) {
    long started = System.nanoTime();
    return http.request(HttpMethod.GET, port, HOST, uri)
        .compose(HttpClientRequest::send)
        .compose(response -> {
          BytePattern.Digest digest = new BytePattern.Digest();
          long[] sincePause = {0};
          if (pacing.paced()) {
            holdFor(vertx, response, pacing.pauseMs());
          }
          response.handler(chunk -> {
            digest.update(chunk);
            sincePause[0] += chunk.length();
            if (pacing.paced() && sincePause[0] >= pacing.pieceBytes()) {
              sincePause[0] = 0;
              holdFor(vertx, response, pacing.pauseMs());
            }
          });
          return response.end().map(v -> new Download(response.statusCode(), response.headers(), digest,
              (System.nanoTime() - started) / 1_000_000));
        });
  }

  private static void holdFor(Vertx vertx, HttpClientResponse response, long ms) {
    response.pause();
    vertx.setTimer(ms, id -> response.resume());
  }

  /** Waits at most {@code limit} for {@code future}, failing the test with {@code what} if it takes longer. */
  static <T> T await(Future<T> future, Duration limit, String what) {
    try {
      return future.toCompletionStage().toCompletableFuture().get(limit.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      return fail(what + ": no answer within " + limit.toMillis() + " ms");
    } catch (ExecutionException e) {
      return fail(what + " failed: " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return fail(what + ": interrupted");
    }
  }

  /**
   * Waits at most {@code limit} for a clean-up step; one that does not finish is reported on stderr, not failed:
   * the test's own assertions have already said what went wrong.
   */
  static void awaitQuietly(Future<?> future, Duration limit, String what) {
    try {
      future.toCompletionStage().toCompletableFuture().get(limit.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException | ExecutionException e) {
      System.err.println(what + ": not done within " + limit.toMillis() + " ms (" + e + "), going on");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The pattern's CRC-32 over its first {@code size} bytes, as /api/sink reports it. */
  static String patternCrc(long size) {
    BytePattern.Digest digest = new BytePattern.Digest();
    for (long at = 0; at < size; at += BytePattern.MAX_PIECE) {
      digest.update(BytePattern.piece(at, (int) Math.min(BytePattern.MAX_PIECE, size - at)));
    }
    return digest.crc32();
  }

  /** Writes pattern pieces with the pacing's pauses and only while the request's write queue has room. */
  private static final class PacedWriter {
    private final Vertx vertx;
    private final HttpClientRequest request;
    private final long size;
    private final Pacing pacing;
    private long sent;
    private boolean stopped;
    private boolean ended;

    PacedWriter(Vertx vertx, HttpClientRequest request, long size, Pacing pacing) {
      this.vertx = vertx;
      this.request = request;
      this.size = size;
      this.pacing = pacing;
    }

    void start() {
      if (pacing.paced()) {
        // the head goes out alone first; the body follows after the first pause
        request.sendHead();
        vertx.setTimer(pacing.pauseMs(), id -> writeSome());
      } else {
        writeSome();
      }
    }

    void stop() {
      stopped = true;
    }

    private void writeSome() {
      while (!stopped && sent < size && !request.writeQueueFull()) {
        int length = (int) Math.min(Math.min(pacing.pieceBytes(), BytePattern.MAX_PIECE), size - sent);
        request.write(BytePattern.piece(sent, length));
        sent += length;
        if (pacing.paced()) {
          vertx.setTimer(pacing.pauseMs(), id -> writeSome());
          return;
        }
      }
      if (stopped) {
        return;
      }
      if (sent == size) {
        ended = true;
        request.end();
        return;
      }
      request.drainHandler(v -> {
        request.drainHandler(null);
        writeSome();
      });
    }
  }
}
