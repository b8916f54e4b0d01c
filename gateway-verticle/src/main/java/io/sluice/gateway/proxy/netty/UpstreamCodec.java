package io.sluice.gateway.proxy.netty;


import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;

import java.util.ArrayDeque;
import java.util.List;

/**
 * The HTTP/1.1 codec of an upstream connection: Netty's request encoder and response decoder, pairing each response
 * with the method of the request it answers, so an answer to HEAD is read without a body. Unlike Netty's
 * {@code HttpClientCodec} (4.2.9), an interim 1xx answer does not use up a request's method: with pipelining, that
 * would make the gateway read a later answer's framing wrongly.
 */
final class UpstreamCodec extends CombinedChannelDuplexHandler<UpstreamCodec.ResponseDecoder, UpstreamCodec.RequestEncoder> {

  /** Methods of the requests sent and not answered yet, oldest first. */
  private final ArrayDeque<HttpMethod> methods = new ArrayDeque<>();

  UpstreamCodec(HttpDecoderConfig config) {
    init(new ResponseDecoder(config), new RequestEncoder());
  }

  final class RequestEncoder extends HttpRequestEncoder {

    @Override
    protected void encode(ChannelHandlerContext ctx, Object msg, List<Object> out) throws Exception {
      if (msg instanceof HttpRequest request) {
        methods.add(request.method());
      }
      super.encode(ctx, msg, out);
    }
  }

  final class ResponseDecoder extends io.netty.handler.codec.http.HttpResponseDecoder {

    ResponseDecoder(HttpDecoderConfig config) {
      super(config);
    }

    @Override
    protected boolean isContentAlwaysEmpty(HttpMessage msg) {
      HttpResponse response = (HttpResponse) msg;
      if (response.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
        return super.isContentAlwaysEmpty(msg);
      }
      return HttpMethod.HEAD.equals(methods.poll()) || super.isContentAlwaysEmpty(msg);
    }
  }
}
