package io.sluice.api;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.handler.HttpException;

/**
 * Reads a request body as raw bytes, up to a limit. Unlike BodyHandler it never decodes forms
 * or multipart, so an echo returns exactly the bytes that were sent.
 */
final class BoundedBody {

  private final HttpServerRequest request;
  private final long limit;
  private final Promise<Buffer> result = Promise.promise();
  private final Buffer body = Buffer.buffer();

  private BoundedBody(HttpServerRequest request, long limit) {
    this.request = request;
    this.limit = limit;
  }

  /** The whole body, or a failure with {@link HttpException} 413 as soon as it exceeds {@code limit} bytes. */
  static Future<Buffer> read(HttpServerRequest request, long limit) {
    return new BoundedBody(request, limit).start();
  }

  private Future<Buffer> start() {
    if (declaredLength() > limit) {
      // answered before a byte is read: a client that sent Expect: 100-continue never uploads
      return Future.failedFuture(new HttpException(413));
    }
    request.handler(this::append);
    request.endHandler(v -> result.tryComplete(body));
    request.exceptionHandler(result::tryFail);
    if (request.headers().contains(HttpHeaders.EXPECT, HttpHeaders.CONTINUE, true)) {
      request.response().writeContinue();
    }
    request.resume();
    return result.future();
  }

  private void append(Buffer chunk) {
    if (result.future().isComplete()) {
      return;
    }
    if (body.length() + (long) chunk.length() > limit) {
      result.fail(new HttpException(413));
      return;
    }
    body.appendBuffer(chunk);
  }

  private long declaredLength() {
    String header = request.getHeader(HttpHeaders.CONTENT_LENGTH);
    if (header == null) {
      return -1;
    }
    try {
      return Long.parseLong(header.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
