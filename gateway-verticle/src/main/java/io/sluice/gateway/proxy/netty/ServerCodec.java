package io.sluice.gateway.proxy.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.sluice.gateway.proxy.FramingHeaders;
import io.sluice.gateway.proxy.PreparedResponse;
import io.sluice.gateway.proxy.RequestCheck;
import io.sluice.gateway.proxy.StrictScanner;

import java.util.ArrayDeque;
import java.util.List;

/**
 * The HTTP/1.1 codec of the proxy port. It does what Netty's {@code HttpServerCodec} does (it remembers each
 * request's method, so the answer to a HEAD is sent without a body), plus: a {@link PreparedResponse}, a whole answer
 * encoded once, goes out as its bytes; Content-Length beside chunked marks the request failed; decoding stops after a
 * request asking to switch protocols. An interim 1xx answer (100 Continue) does not use up a request's method.
 */
final class ServerCodec extends CombinedChannelDuplexHandler<HttpRequestDecoder, HttpResponseEncoder> {

  /** Methods of the requests not answered yet, oldest first. */
  private final ArrayDeque<HttpMethod> methods = new ArrayDeque<>();
  /**
   * Decoding stops after a request that asks to switch protocols: what follows it may be another protocol's bytes.
   * They stay in the decoder: a tunnel takes them if the upstream switches; otherwise the connection closes after the
   * answer.
   */
  private boolean heldAfterUpgrade;
  /** Checks what the decoder lets through (see {@link StrictScanner}); it has read {@link #scanned} bytes ahead. */
  private final StrictScanner scanner = new StrictScanner();
  private int scanned;
  /** A body broke the rules: nothing more is decoded on this connection (it is answered 400 and closed). */
  private boolean broken;

  ServerCodec(HttpDecoderConfig config) {
    init(new RequestDecoder(config), new ResponseEncoder());
  }

  private final class RequestDecoder extends HttpRequestDecoder {

    RequestDecoder(HttpDecoderConfig config) {
      super(config.clone().setHeadersFactory(FramingHeaders.VALIDATING));
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf buffer, List<Object> out) throws Exception {
      if (heldAfterUpgrade) {
        return;
      }
      if (broken) {
        buffer.skipBytes(buffer.readableBytes());
        return;
      }
      int start = buffer.readerIndex();
      if (start + scanned < buffer.writerIndex()) {
        scanned = scanner.scan(buffer, start + scanned, buffer.writerIndex()) - start;
      }
      if (scanner.violation() != null && scanner.part() != StrictScanner.Part.HEAD
          && scanner.part() != StrictScanner.Part.PASS) {
        // a broken chunked body: it ends here, failed; nothing after it is read
        LastHttpContent failed = new DefaultLastHttpContent(Unpooled.EMPTY_BUFFER);
        failed.setDecoderResult(DecoderResult.failure(new IllegalArgumentException(scanner.violation())));
        out.add(failed);
        broken = true;
        buffer.skipBytes(buffer.readableBytes());
        return;
      }
      int before = out.size();
      super.decode(ctx, buffer, out);
      scanned = Math.max(0, scanned - (buffer.readerIndex() - start));
      for (int i = before; i < out.size(); i++) {
        Object decoded = out.get(i);
        if (decoded instanceof HttpRequest request) {
          started(request);
        }
        if (decoded instanceof LastHttpContent) {
          scanner.expectHead();
          scanned = 0;
        }
      }
    }

    /** A request head was decoded: the scanner's findings mark it, and its body's framing says what to scan next. */
    private void started(HttpRequest request) {
      methods.add(request.method());
      if (scanner.violation() != null && request.decoderResult().isSuccess()) {
        request.setDecoderResult(DecoderResult.failure(new IllegalArgumentException(scanner.violation())));
      }
      if (request.decoderResult().isSuccess() && HttpUtil.isTransferEncodingChunked(request)) {
        scanner.expectChunkedBody();
      } else {
        scanner.pass();
      }
      scanned = 0;
      if (request.decoderResult().isSuccess() && RequestCheck.asksToSwitch(request)) {
        heldAfterUpgrade = true;
      }
    }

    /**
     * Content-Length beside Transfer-Encoding: chunked is how requests are smuggled past a proxy (RFC 9112 §6.1): the
     * head is marked failed, so the request is refused with 400 and its connection closed.
     */
    @Override
    protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
      super.handleTransferEncodingChunkedWithContentLength(message);
      message.setDecoderResult(DecoderResult.failure(
          new IllegalArgumentException("a request must not carry both Content-Length and Transfer-Encoding")));
    }
  }

  private final class ResponseEncoder extends HttpResponseEncoder {

    @Override
    public boolean acceptOutboundMessage(Object msg) throws Exception {
      return msg instanceof PreparedResponse || super.acceptOutboundMessage(msg);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, Object msg, List<Object> out) throws Exception {
      if (msg instanceof PreparedResponse prepared) {
        out.add(prepared.bytes(HttpMethod.HEAD.equals(methods.poll())));
        return;
      }
      super.encode(ctx, msg, out);
    }

    @Override
    protected boolean isContentAlwaysEmpty(HttpResponse msg) {
      if (msg.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
        return super.isContentAlwaysEmpty(msg);
      }
      return HttpMethod.HEAD.equals(methods.poll()) || super.isContentAlwaysEmpty(msg);
    }
  }
}
