package io.sluice.gateway.proxy;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.httpproxy.Body;
import io.vertx.httpproxy.MediaType;
import io.vertx.httpproxy.ProxyRequest;
import io.vertx.httpproxy.ProxyResponse;

/** Answers the gateway gives itself, as RFC 9457 problem documents. */
final class Problems {

  static final String CONTENT_TYPE = "application/problem+json";
  private static final MediaType PROBLEM_JSON = MediaType.parse(CONTENT_TYPE);

  private Problems() {
  }

  static JsonObject problem(int status, String type, String title, String detail) {
    return new JsonObject()
        .put("type", "urn:sluice:problem:" + type)
        .put("title", title)
        .put("status", status)
        .put("detail", detail);
  }

  /** Drops the client's request body and builds a response the upstream never sees. */
  static ProxyResponse answer(ProxyRequest request, JsonObject problem) {
    Buffer body = problem.toBuffer();
    return request.release().response()
        .setStatusCode(problem.getInteger("status"))
        .putHeader("content-type", CONTENT_TYPE)
        .putHeader("cache-control", "no-store")
        .setBody(Body.body(body, PROBLEM_JSON));
  }
}
