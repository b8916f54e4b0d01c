package io.sluice.gateway.proxy.vertx;

import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.streams.ReadStream;

/**
 * An upstream answer's body as the proxy reads it, which also hands the upstream's trailer fields to the client's
 * answer just before it ends (vertx-http-proxy 5.0.7 relays the data only). Vert.x writes trailers on chunked
 * HTTP/1.1 and on HTTP/2 answers.
 */
final class TrailerRelay implements ReadStream<Buffer> {

  private final ReadStream<Buffer> body;
  private final HttpClientResponse upstream;
  private final HttpServerResponse client;

  TrailerRelay(ReadStream<Buffer> body, HttpClientResponse upstream, HttpServerResponse client) {
    this.body = body;
    this.upstream = upstream;
    this.client = client;
  }

  @Override
  public ReadStream<Buffer> endHandler(Handler<Void> endHandler) {
    body.endHandler(endHandler == null ? null : end -> {
      if (!upstream.trailers().isEmpty()) {
        client.trailers().addAll(upstream.trailers());
      }
      endHandler.handle(end);
    });
    return this;
  }

  @Override
  public ReadStream<Buffer> exceptionHandler(Handler<Throwable> handler) {
    body.exceptionHandler(handler);
    return this;
  }

  @Override
  public ReadStream<Buffer> handler(Handler<Buffer> handler) {
    body.handler(handler);
    return this;
  }

  @Override
  public ReadStream<Buffer> pause() {
    body.pause();
    return this;
  }

  @Override
  public ReadStream<Buffer> resume() {
    body.resume();
    return this;
  }

  @Override
  public ReadStream<Buffer> fetch(long amount) {
    body.fetch(amount);
    return this;
  }
}
