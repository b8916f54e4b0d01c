package io.sluice.gateway.proxy.vertx;

import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.sluice.gateway.proxy.Problems;
import io.sluice.gateway.proxy.RequestCheck;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.impl.Http1xServerConnection;
import io.vertx.core.http.HttpVersion;
import io.vertx.httpproxy.Body;
import io.vertx.httpproxy.MediaType;
import io.vertx.httpproxy.ProxyResponse;

import java.util.Map;

/**
 * The gateway's own answers (refusals, problems), built once by the engine-neutral code as Netty
 * {@link FullHttpResponse}s, written through Vert.x: directly to the client, or as the {@link ProxyResponse} of a
 * proxied request that could not be sent. Only status, headers and body are carried over; framing is Vert.x's.
 */
final class Answers {

  private Answers() {
  }

  /**
   * Writes {@code answer} (and releases it); closes an HTTP/1.x connection after it if {@code closeAsked}. On HTTP/2
   * the answer ends its stream only, without the connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2).
   */
  static void send(HttpServerRequest request, FullHttpResponse answer, boolean closeAsked) {
    HttpServerResponse response = request.response();
    boolean http2 = request.version() == HttpVersion.HTTP_2;
    if (response.ended() || response.headWritten()) {
      answer.release();
      if (http2) {
        // one stream of many: only it ends
        response.reset();
      } else {
        closeNow(request);
      }
      return;
    }
    // an HTTP/2 connection carries other streams: a refusal ends its stream only, and HTTP/2 has no Connection field
    boolean close = closeAsked && !http2;
    response.setStatusCode(answer.status().code());
    for (Map.Entry<String, String> field : answer.headers()) {
      if (!HttpHeaderNames.CONTENT_LENGTH.contentEqualsIgnoreCase(field.getKey())
          && !(http2 && HttpHeaderNames.CONNECTION.contentEqualsIgnoreCase(field.getKey()))) {
        response.headers().add(field.getKey(), field.getValue());
      }
    }
    if (close) {
      response.putHeader(HttpHeaderNames.CONNECTION, "close");
    }
    Buffer body = Buffer.buffer(ByteBufUtil.getBytes(answer.content()));
    answer.release();
    response.end(body).onComplete(written -> {
      if (close) {
        closeNow(request);
      }
    });
  }

  /**
   * Closes an HTTP/1.x client connection at once. Vert.x's {@code close()} waits for the request in progress to end,
   * which one whose body is no longer read never does.
   */
  static void closeNow(HttpServerRequest request) {
    if (request.connection() instanceof Http1xServerConnection http1) {
      http1.channelHandlerContext().close();
    } else {
      request.connection().close();
    }
  }

  /** {@code answer} as the response of a proxied request (the request is released by the caller). */
  static ProxyResponse toProxyResponse(ProxyResponse response, FullHttpResponse answer) {
    response.setStatusCode(answer.status().code());
    response.setStatusMessage(answer.status().reasonPhrase());
    String type = Problems.CONTENT_TYPE;
    for (Map.Entry<String, String> field : answer.headers()) {
      String name = field.getKey();
      if (HttpHeaderNames.CONTENT_TYPE.contentEqualsIgnoreCase(name)) {
        type = field.getValue();
      } else if (!HttpHeaderNames.CONTENT_LENGTH.contentEqualsIgnoreCase(name)) {
        response.headers().add(name, field.getValue());
      }
    }
    Buffer body = Buffer.buffer(ByteBufUtil.getBytes(answer.content()));
    answer.release();
    return response.setBody(Body.body(body, MediaType.parse(type)));
  }

  /** The problem answer to a request {@link RequestCheck} refused (405 names the methods allowed). */
  static FullHttpResponse problem(RequestCheck.Refusal refusal) {
    FullHttpResponse response = Problems.answer(Problems.problem(refusal.status(), refusal.type(), refusal.title(),
        refusal.detail()));
    if (refusal.status() == 405) {
      response.headers().set(HttpHeaderNames.ALLOW, RequestCheck.ALLOWED_METHODS);
    }
    return response;
  }
}
