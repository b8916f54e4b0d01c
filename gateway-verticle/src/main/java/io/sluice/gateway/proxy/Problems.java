package io.sluice.gateway.proxy;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.vertx.core.json.JsonObject;

/** Answers the gateway gives itself, as RFC 9457 problem documents (on the management port too). */
public final class Problems {

  public static final String CONTENT_TYPE = "application/problem+json";
  /** Headers of answers the gateway builds itself: set from constants, so not validated again. */
  public static final DefaultHttpHeadersFactory OWN_HEADERS = DefaultHttpHeadersFactory.headersFactory().withValidation(false);

  private Problems() {
  }

  public static JsonObject problem(int status, String type, String title, String detail) {
    return new JsonObject()
        .put("type", "urn:sluice:problem:" + type)
        .put("title", title)
        .put("status", status)
        .put("detail", detail);
  }

  /** A complete response carrying {@code problem}, its status taken from the document. */
  public static FullHttpResponse answer(JsonObject problem) {
    return answer(problem.getInteger("status"), problem.toBuffer().getBytes());
  }

  /** A complete response with an already encoded problem document (shared, never modified). */
  static FullHttpResponse answer(int status, byte[] body) {
    FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
        Unpooled.wrappedBuffer(body), OWN_HEADERS, OWN_HEADERS);
    response.headers()
        .set(HttpHeaderNames.CONTENT_TYPE, CONTENT_TYPE)
        .set(HttpHeaderNames.CACHE_CONTROL, "no-store")
        .setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
    return response;
  }
}
