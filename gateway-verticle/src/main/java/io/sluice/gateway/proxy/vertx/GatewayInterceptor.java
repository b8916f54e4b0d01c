package io.sluice.gateway.proxy.vertx;

import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.sluice.gateway.proxy.ForwardingHeaders;
import io.sluice.gateway.proxy.LimitGate;
import io.vertx.core.Future;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.httpproxy.Body;
import io.vertx.httpproxy.ProxyContext;
import io.vertx.httpproxy.ProxyInterceptor;
import io.vertx.httpproxy.ProxyRequest;
import io.vertx.httpproxy.ProxyResponse;

/**
 * The gateway's part of every proxied exchange. On the way up it ties the proxy's context to the
 * {@link VertxExchange} that admitted the request (the origin provider confirms through it) and sets the target the
 * checks settled; if the request cannot be sent (refused on confirmation, upstream down or slow) it answers with the
 * gateway's problem instead of the proxy's bare 502. On the way down it applies the hop-by-hop and Via rules and adds
 * the RateLimit headers.
 */
final class GatewayInterceptor implements ProxyInterceptor {

  static final String EXCHANGE = "sluice.exchange";

  private final VertxProxyServer server;
  private final LimitGate gate;

  GatewayInterceptor(VertxProxyServer server, LimitGate gate) {
    this.server = server;
    this.gate = gate;
  }

  @Override
  public Future<ProxyResponse> handleProxyRequest(ProxyContext context) {
    VertxExchange exchange = server.claim(context.request().proxiedRequest());
    context.set(EXCHANGE, exchange);
    context.request().setURI(exchange.target());
    if (context.isWebSocket()) {
      // the proxy would write its own lower-case "connection: upgrade"; the exchange forwards the client's field
      exchange.keepConnectionField(context.request().headers());
    }
    if (exchange.headersCopied()) {
      exchange.copyHeadersTo(context.request().headers());
    }
    Future<Void> body = Future.succeededFuture();
    if (exchange.bodyOfUnknownLength()) {
      body = exchange.readBody().map(read -> {
        // a stream that ended without data (a GET) has no body: it leaves without a length, as it came
        context.request().setBody(read.length() == 0 ? null : Body.body(read));
        return null;
      });
    }
    return body.compose(ready -> context.sendRequest()).recover(failure -> exchange.answered()
        // the gateway has answered already (a broken request body): nothing more to send
        ? Future.failedFuture(failure)
        : Future.succeededFuture(Answers.toProxyResponse(released(context.request()).response(),
            exchange.failure(failure))));
  }

  /** The request's body let go of (vertx-http-proxy's {@code release()} fails on a request without a body). */
  private static ProxyRequest released(ProxyRequest request) {
    return request.getBody() == null ? request : request.release();
  }

  /** An HTTP/1.x answer with a body and neither Content-Length nor chunked framing (so: until the upstream closes). */
  private static boolean closeDelimited(HttpClientResponse upstream, VertxExchange exchange) {
    int status = upstream.statusCode();
    io.vertx.core.http.HttpVersion client = exchange.request().version();
    boolean http10 = client == io.vertx.core.http.HttpVersion.HTTP_1_0;
    boolean bodyOfUnknownLength = status >= 200 && status != 204 && status != 304
        && exchange.request().method() != io.vertx.core.http.HttpMethod.HEAD
        && !upstream.headers().contains(HttpHeaderNames.CONTENT_LENGTH);
    // an HTTP/1.0 client cannot read chunks: its answer ends with the connection (the proxy buffers it, see the doc)
    return bodyOfUnknownLength && (http10
        || client == io.vertx.core.http.HttpVersion.HTTP_1_1
        && !upstream.headers().contains(HttpHeaderNames.TRANSFER_ENCODING));
  }

  @Override
  public Future<Void> handleProxyResponse(ProxyContext context) {
    ProxyResponse response = context.response();
    HttpClientResponse upstream = response.proxiedResponse();
    VertxExchange exchange = context.get(EXCHANGE, VertxExchange.class);
    if (upstream == null || exchange == null || !(response.headers() instanceof HttpHeaders headers)) {
      // the gateway's own answer: nothing to adapt
      return context.sendResponse();
    }
    exchange.upstreamAnswered();
    if (response.getStatusCode() < 100 || response.getStatusCode() > 599) {
      // Vert.x's client reads any three or more digits; such a status cannot be relayed (RFC 9110 §15)
      response.release();
      Answers.toProxyResponse(response, exchange.failure(new IllegalStateException(
          "the upstream answered with status " + response.getStatusCode() + ", not a valid HTTP status")));
      return context.sendResponse();
    }
    HttpVersion received = upstream.version() == io.vertx.core.http.HttpVersion.HTTP_1_0
        ? HttpVersion.HTTP_1_0 : HttpVersion.HTTP_1_1;
    HttpResponse view = new DefaultHttpResponse(received, HttpResponseStatus.valueOf(response.getStatusCode()),
        headers);
    if (response.getStatusCode() == 101) {
      ForwardingHeaders.toClientSwitching(view);
      server.tunnelOpened(exchange.request());
    } else {
      ForwardingHeaders.toClient(view, received);
    }
    gate.decorate(view, exchange.decision());
    Body body = response.getBody();
    if (body != null && upstream.headers().contains(HttpHeaderNames.TRANSFER_ENCODING)) {
      // a chunked answer may end with trailer fields
      response.setBody(Body.body(new TrailerRelay(body.stream(), upstream, exchange.request().response()),
          body.length(), body.mediaType()));
    }
    if (closeDelimited(upstream, exchange) || server.stopping() && exchange.request().version() != null
        && exchange.request().version() != io.vertx.core.http.HttpVersion.HTTP_2) {
      // the body ends when the upstream closes: relayed in chunks, after which the client connection closes too, as
      // the Netty engine does (RFC 9112 §6.3 item 8); and while stopping, no client should reuse the connection
      io.vertx.core.http.HttpServerResponse client = exchange.request().response();
      // set last: Vert.x writes "keep-alive" for an HTTP/1.0 client that asked for it, whatever the headers say
      client.headersEndHandler(v -> client.headers().set(HttpHeaderNames.CONNECTION, "close"));
      return context.sendResponse().andThen(sent -> exchange.request().connection().close());
    }
    return context.sendResponse();
  }
}
