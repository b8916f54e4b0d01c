package io.sluice.gateway.proxy;

import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.concurrent.ScheduledFuture;
import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.RequestInfo;
import io.vertx.core.AsyncResult;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * One request's way through the gateway, from socket to decision to upstream and back:
 * <ol>
 *   <li>the {@link LimitGate} decides: admit (now or at a later instant), or answer 429/401 here;</li>
 *   <li>an admitted request waits for its instant, takes an upstream connection from its {@link UpstreamLane},
 *       and is confirmed once more (it must leave within the slots it holds), then its head and body are sent;</li>
 *   <li>the upstream's response is streamed back with the RateLimit headers added.</li>
 * </ol>
 * Body bytes that arrive while the decision is pending are held here (reading pauses past a bound). Everything runs
 * on the event loop of the client's connection.
 */
final class Exchange {

  /** Times a request that leaves too late for its slots is decided again before it gets 503. */
  private static final int MAX_CONFIRMATIONS = 8;
  /**
   * A request decided again keeps its upstream connection if its new slot starts within this (the longest store
   * round trip the limiter plans for), rather than queueing for a connection again and being late again.
   */
  private static final long KEEP_CONNECTION_MILLIS = 50;
  private static final int MAX_HELD_BODY_BYTES = 256 * 1024;

  private final ProxyServer server;
  private final ClientConnection client;
  private final HttpRequest request;
  private final boolean keepAlive;
  /** Whether the client connection closes once this response is sent (an HTTP/1.0 body may end only that way). */
  private boolean closeAfterResponse;
  private final boolean idempotent;
  private final ArrayDeque<HttpContent> heldBody = new ArrayDeque<>();
  private int heldBytes;
  private RequestInfo info;
  private RateLimiter decider;
  private boolean counted;
  private Decision decision;
  private int confirmations;
  private UpstreamLane lane;
  private UpstreamConnection upstream;
  private ScheduledFuture<?> timeout;
  private boolean responseStarted;
  private boolean done;
  private boolean clientGone;
  private boolean upstreamPaused;

  Exchange(ProxyServer server, ClientConnection client, HttpRequest request) {
    this.server = server;
    this.client = client;
    this.request = request;
    this.keepAlive = HttpUtil.isKeepAlive(request);
    this.closeAfterResponse = !keepAlive;
    HttpMethod method = request.method();
    this.idempotent = (method == HttpMethod.GET || method == HttpMethod.HEAD || method == HttpMethod.OPTIONS)
        && hasNoBody(request);
    server.exchangeStarted();
  }

  /** No body by its headers (read as text: a malformed request must still reach {@link #start} to get its 400). */
  private static boolean hasNoBody(HttpRequest request) {
    String length = request.headers().get(HttpHeaderNames.CONTENT_LENGTH);
    return !HttpUtil.isTransferEncodingChunked(request) && (length == null || length.equals("0"));
  }

  static boolean isLast(HttpContent content) {
    return content instanceof LastHttpContent;
  }

  // ---- 1. decide

  void start() {
    try {
      decide();
    } catch (RuntimeException e) {
      // a bug here must still give the client an answer, not a hung connection
      answer(Problems.answer(Problems.problem(500, "internal-error", "Internal Server Error",
          "the gateway failed on this request: " + e)), true);
    }
  }

  private void decide() {
    DecoderResult result = request.decoderResult();
    if (result.isFailure()) {
      answer(badRequest(result.cause()), true);
      return;
    }
    decider = server.gate().limiterFor(request.headers());
    counted = server.gate().counts(decider);
    info = new NettyRequestInfo(request.headers(), client.clientIp());
    server.gate().decide(decider, info).onComplete(this::decided);
  }

  private void decided(AsyncResult<Decision> answer) {
    if (answer.failed()) {
      answer(server.gate().unavailable(answer.cause()), false);
      return;
    }
    Decision decided = answer.result();
    if (clientGone) {
      if (decided.admitted()) {
        decider.release(decided);
      }
      return;
    }
    if (!decided.admitted()) {
      refuse(decided);
      return;
    }
    decision = decided;
    waitUntil(decided.forwardAtMillis());
  }

  private void waitUntil(long atMillis) {
    long wait = atMillis - server.clock().millis();
    if (wait <= 0) {
      takeUpstream();
      return;
    }
    if (counted) {
      server.stats().delayed.increment();
    }
    server.vertx().setTimer(wait, id -> takeUpstream());
  }

  // ---- 2. forward

  private void takeUpstream() {
    if (clientGone) {
      decider.release(decision);
      return;
    }
    lane = server.nextLane();
    lane.acquire(this);
  }

  /** The lane has reserved {@code connection} for this exchange. */
  void upstreamReady(UpstreamConnection connection) {
    if (clientGone) {
      connection.unreserve();
      decider.release(decision);
      return;
    }
    server.gate().confirm(decider, decision, info).onComplete(answer -> confirmed(connection, answer));
  }

  private void confirmed(UpstreamConnection connection, AsyncResult<Decision> answer) {
    if (clientGone) {
      connection.unreserve();
      if (answer.succeeded() && answer.result().admitted()) {
        decider.release(answer.result());
      }
      return;
    }
    if (answer.failed()) {
      connection.unreserve();
      answer(server.gate().unavailable(answer.cause()), false);
      return;
    }
    Decision again = answer.result();
    if (again == decision) {
      if (connection.usable()) {
        send(connection);
      } else {
        // the reserved connection closed meanwhile: same slots, another connection
        connection.unreserve();
        takeUpstream();
      }
      return;
    }
    // it left too late for its slots and was decided again
    decision = again;
    if (!again.admitted()) {
      connection.unreserve();
      refuse(again);
      return;
    }
    if (++confirmations >= MAX_CONFIRMATIONS) {
      connection.unreserve();
      decider.release(again).onComplete(released -> answer(server.gate().overloaded(), false));
      return;
    }
    long wait = again.forwardAtMillis() - server.clock().millis();
    if (wait > KEEP_CONNECTION_MILLIS) {
      connection.unreserve();
      waitUntil(again.forwardAtMillis());
    } else if (wait > 0) {
      // keep the connection (and the place in line it cost), check the new slots once more when they start
      server.vertx().setTimer(wait, id -> upstreamReady(connection));
    } else {
      upstreamReady(connection);
    }
  }

  private void send(UpstreamConnection connection) {
    upstream = connection;
    if (counted) {
      server.stats().forwarded.increment();
    }
    timeout = client.channel().eventLoop().schedule(this::timedOut, server.upstreamTimeoutMillis(),
        TimeUnit.MILLISECONDS);
    ForwardingHeaders.toUpstream(request.headers(), client.clientIp());
    connection.send(this, request);
    while (!heldBody.isEmpty()) {
      connection.writeBody(heldBody.poll());
    }
    heldBytes = 0;
    client.resumeReading();
  }

  /** A piece of the request body, in order. */
  void requestContent(HttpContent content) {
    if (done || clientGone) {
      content.release();
      return;
    }
    if (upstream != null) {
      upstream.writeBody(content);
      if (!upstream.writable()) {
        client.pauseReading();
      }
      return;
    }
    heldBody.add(content);
    heldBytes += content.content().readableBytes();
    if (heldBytes > MAX_HELD_BODY_BYTES) {
      client.pauseReading();
    }
  }

  void upstreamWritable() {
    client.resumeReading();
  }

  // ---- 3. answer

  void responseHead(HttpResponse response) {
    cancelTimeout();
    if (clientGone || done) {
      return;
    }
    responseStarted = true;
    ForwardingHeaders.toClient(response.headers());
    server.gate().decorate(response, decision);
    if (!HttpUtil.isContentLengthSet(response) && !HttpUtil.isTransferEncodingChunked(response)
        && request.method() != HttpMethod.HEAD && hasBody(response.status().code())) {
      // the upstream ends this body by closing; the client must not wait for that
      HttpUtil.setTransferEncodingChunked(response, true);
    }
    markConnection(response);
    client.write(response);
  }

  void responseContent(HttpContent content) {
    if (clientGone || done) {
      content.release();
      return;
    }
    if (isLast(content)) {
      client.writeAndFlush(content);
      finish(closeAfterResponse);
      return;
    }
    client.write(content);
    if (client.channel().isActive() && !client.channel().isWritable()) {
      // the client reads slower than the upstream answers: hold the upstream (and what is pipelined behind)
      upstream.pauseReading();
      upstreamPaused = true;
    }
  }

  /** End of a read from the upstream in the middle of this response: let the client have what arrived. */
  void flushPartial() {
    if (responseStarted && !done && !clientGone) {
      client.flush();
    }
  }

  void clientWritable() {
    resumeUpstream();
  }

  /** An upstream connection paused for this client must never stay paused: others' answers queue behind it. */
  private void resumeUpstream() {
    if (upstreamPaused) {
      upstreamPaused = false;
      upstream.resumeReading();
    }
  }

  /** The upstream could not be reached or failed before (or while) answering. */
  void upstreamFailed(Throwable cause, boolean timedOut) {
    cancelTimeout();
    if (done || clientGone) {
      return;
    }
    server.stats().upstreamFailures.increment();
    if (responseStarted) {
      done = true;
      client.close();
      return;
    }
    String label = lane == null ? "?" : lane.label();
    FullHttpResponse problem = timedOut
        ? Problems.answer(Problems.problem(504, "upstream-timeout", "Gateway Timeout",
            "upstream " + label + " did not answer within " + server.upstreamTimeoutMillis() + " ms"))
        : Problems.answer(Problems.problem(502, "upstream-unavailable", "Bad Gateway",
            "upstream " + label + " failed: " + cause.getMessage()));
    answer(problem, false);
  }

  private void timedOut() {
    if (!done && !responseStarted && upstream != null) {
      upstream.abort(this);
    }
  }

  /** The client went away: nothing more is written to it; held slots of an unsent request are given back. */
  void clientGone() {
    clientGone = true;
    resumeUpstream();
    releaseHeldBody();
    cancelTimeout();
  }

  boolean idempotent() {
    return idempotent;
  }

  /** The limiter said no: 429 (or 401), as prepared bytes when the usual 429 fits this request. */
  private void refuse(Decision refused) {
    if (done || clientGone) {
      return;
    }
    if (keepAlive && request.protocolVersion() == HttpVersion.HTTP_1_1) {
      PreparedResponse prepared = server.gate().preparedRefusal(refused, counted);
      if (prepared != null) {
        client.writeAndFlush(prepared);
        finish(false);
        return;
      }
    }
    answer(server.gate().refusal(refused, counted), false);
  }

  /** Answers from the gateway itself; the upstream never sees the request (or its answer is lost). */
  private void answer(FullHttpResponse response, boolean close) {
    if (done || clientGone) {
      response.release();
      return;
    }
    boolean closeAfter = close || !keepAlive;
    if (request.protocolVersion() == HttpVersion.HTTP_1_0) {
      response.setProtocolVersion(HttpVersion.HTTP_1_0);
    }
    HttpUtil.setKeepAlive(response, !closeAfter);
    client.writeAndFlush(response);
    finish(closeAfter);
  }

  private void finish(boolean close) {
    done = true;
    resumeUpstream();
    cancelTimeout();
    releaseHeldBody();
    client.exchangeDone(this, close);
  }

  private void markConnection(HttpResponse response) {
    if (!keepAlive) {
      response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    } else if (request.protocolVersion() == HttpVersion.HTTP_1_0) {
      response.setProtocolVersion(HttpVersion.HTTP_1_0);
      response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
      if (HttpUtil.isTransferEncodingChunked(response)) {
        // HTTP/1.0 has no chunked encoding: this body ends when the connection does
        HttpUtil.setTransferEncodingChunked(response, false);
        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        closeAfterResponse = true;
      }
    }
  }

  private void cancelTimeout() {
    if (timeout != null) {
      timeout.cancel(false);
      timeout = null;
    }
  }

  private void releaseHeldBody() {
    heldBody.forEach(HttpContent::release);
    heldBody.clear();
    heldBytes = 0;
  }

  private static boolean hasBody(int status) {
    return status >= 200 && status != 204 && status != 304;
  }

  private static FullHttpResponse badRequest(Throwable cause) {
    if (cause instanceof TooLongHttpLineException) {
      return Problems.answer(Problems.problem(414, "uri-too-long", "URI Too Long", "the request line is too long"));
    }
    if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
      return Problems.answer(Problems.problem(431, "headers-too-large", "Request Header Fields Too Large",
          "the request headers are too large"));
    }
    return Problems.answer(Problems.problem(400, "bad-request", "Bad Request",
        "the request is not valid HTTP/1.1: " + cause.getMessage()));
  }
}
