package io.sluice.gateway.proxy.vertx;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.sluice.gateway.proxy.RequestCheck;
import io.sluice.gateway.proxy.StrictScanner;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.impl.VertxHttpRequestDecoder;

import java.util.List;
import java.util.function.Consumer;

/**
 * Vert.x's HTTP/1.x request decoder, held to the Netty engine's rules: the {@link StrictScanner} reads the bytes just
 * before the decoder (obs-fold in a head, a chunk-size line that is not one), and Content-Length beside
 * Transfer-Encoding: chunked marks the request failed instead of being dropped silently, and a chunked body may not
 * grow past {@code http.maxBodySize}. A failed head reaches the
 * server's invalid-request handler (a 400 problem, then close). A broken or too large chunked body is not passed on as a failure
 * (Vert.x would close the connection without an answer): decoding stops and {@code brokenBody} is told, so the
 * engine can answer 400 itself.
 */
final class StrictRequestDecoder extends VertxHttpRequestDecoder {

  /** The name Vert.x gives its decoder in an HTTP/1.x pipeline. */
  static final String NAME = "httpDecoder";

  private final StrictScanner scanner = new StrictScanner();
  /** What the decoder tells the engine besides requests: bytes arrived, a body began or ended. */
  interface Activity {
    void bytesArrived();

    void bodyPending(boolean pending);

    /** The chunked body of request {@code request} (its number on the connection) ended with trailer fields. */
    void trailers(int request, HttpHeaders fields);
  }

  private final Consumer<RequestCheck.Refusal> brokenBody;
  private final Activity activity;
  private final long maxBodySize;
  /** Body bytes of the request being decoded. */
  private long bodyBytes;
  /** Bytes past the reader index the scanner has already read. */
  private int scanned;
  private boolean broken;
  /** Requests decoded on this connection, counting those Vert.x's own decoder read before this one took over. */
  private int decoded;

  StrictRequestDecoder(HttpServerOptions options, long maxBodySize, Consumer<RequestCheck.Refusal> brokenBody,
                       Activity activity, int decodedBefore) {
    super(options);
    this.decoded = decodedBefore;
    this.activity = activity;
    this.maxBodySize = maxBodySize;
    this.brokenBody = brokenBody;
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf buffer, List<Object> out) throws Exception {
    if (broken) {
      buffer.skipBytes(buffer.readableBytes());
      return;
    }
    activity.bytesArrived();
    int start = buffer.readerIndex();
    if (start + scanned < buffer.writerIndex()) {
      scanned = scanner.scan(buffer, start + scanned, buffer.writerIndex()) - start;
    }
    if (scanner.violation() != null && scanner.part() != StrictScanner.Part.HEAD
        && scanner.part() != StrictScanner.Part.PASS) {
      stop(buffer, RequestCheck.badRequest("the request body is not valid HTTP/1.1 chunked framing: "
          + scanner.violation()));
      return;
    }
    int before = out.size();
    super.decode(ctx, buffer, out);
    scanned = Math.max(0, scanned - (buffer.readerIndex() - start));
    for (int i = before; i < out.size(); i++) {
      Object decoded = out.get(i);
      if (decoded instanceof HttpRequest request) {
        started(request);
        if (!request.decoderResult().isSuccess()) {
          // refused and closed: nothing after a request that could not be read is read (its body least of all)
          dropAfter(out, i + 1);
          broken = true;
          buffer.skipBytes(buffer.readableBytes());
          return;
        }
      }
      if (decoded instanceof HttpContent content && maxBodySize > 0
          && (bodyBytes += content.content().readableBytes()) > maxBodySize) {
        // only a chunked body can get here: a declared length above the limit is refused from the head
        dropAfter(out, i);
        stop(buffer, RequestCheck.tooLarge(maxBodySize));
        return;
      }
      if (decoded instanceof LastHttpContent last) {
        if (!last.trailingHeaders().isEmpty()) {
          // Vert.x's server drops them: the engine relays them itself (UpstreamGuard)
          activity.trailers(this.decoded, last.trailingHeaders());
        }
        activity.bodyPending(false);
        scanner.expectHead();
        scanned = 0;
      }
    }
  }

  /** Stops decoding: the rest of the connection's bytes are dropped (it is about to close). */
  void discardRest() {
    broken = true;
  }

  private static void dropAfter(List<Object> out, int from) {
    for (int j = out.size() - 1; j >= from; j--) {
      ReferenceCountUtil.release(out.remove(j));
    }
  }

  private void stop(ByteBuf buffer, RequestCheck.Refusal refusal) {
    broken = true;
    buffer.skipBytes(buffer.readableBytes());
    brokenBody.accept(refusal);
  }

  /** Requests decoded on this connection so far: the last of them is the one a broken body belongs to. */
  int decoded() {
    return decoded;
  }

  private void started(HttpRequest request) {
    decoded++;
    bodyBytes = 0;
    activity.bodyPending(true);
    if (scanner.violation() != null && request.decoderResult().isSuccess()) {
      request.setDecoderResult(DecoderResult.failure(new IllegalArgumentException(scanner.violation())));
    }
    if (request.decoderResult().isSuccess() && HttpUtil.isTransferEncodingChunked(request)) {
      scanner.expectChunkedBody();
    } else {
      scanner.pass();
    }
    scanned = 0;
  }

  /** How requests are smuggled past a proxy (RFC 9112 §6.1): refused, never read one way or the other. */
  @Override
  protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
    super.handleTransferEncodingChunkedWithContentLength(message);
    message.setDecoderResult(DecoderResult.failure(
        new IllegalArgumentException("a request must not carry both Content-Length and Transfer-Encoding")));
  }
}
