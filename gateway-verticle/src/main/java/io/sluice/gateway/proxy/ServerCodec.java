package io.sluice.gateway.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpStatusClass;

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
      int before = out.size();
      super.decode(ctx, buffer, out);
      for (int i = before; i < out.size(); i++) {
        if (out.get(i) instanceof HttpRequest request) {
          methods.add(request.method());
          if (request.headers().contains(HttpHeaderNames.UPGRADE) && request.decoderResult().isSuccess()) {
            heldAfterUpgrade = true;
          }
        }
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
