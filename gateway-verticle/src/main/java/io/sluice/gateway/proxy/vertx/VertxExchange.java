package io.sluice.gateway.proxy.vertx;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.RequestInfo;
import io.sluice.gateway.proxy.ForwardingHeaders;
import io.sluice.gateway.proxy.LimitGate;
import io.sluice.gateway.proxy.Problems;
import io.sluice.gateway.proxy.RequestCheck;
import io.sluice.gateway.proxy.UpstreamFailures;
import io.vertx.core.AsyncResult;
import io.vertx.core.Future;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpServerRequest;

import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * One request's way through the Vert.x engine: checked, decided by the {@link LimitGate}, held if the decision says
 * so, handed to the proxy, and confirmed once more when its upstream connection is ready (see {@link #leave}). Runs
 * on the event loop of the client's connection. Its life is {@link Phase}, forward only.
 */
final class VertxExchange {

  enum Phase {
    /** Checked; the limiter is asked. */
    DECIDING,
    /** Admitted for a later instant: the paused request waits on a timer. */
    HOLDING,
    /** Handed to the proxy: it takes a connection, the gate confirms, the request goes up and the answer down. */
    FORWARDING,
    /**
     * Answered by the gateway, or the client went away (or broke its body) before its request went upstream: an
     * upstream connection taken for it afterwards is reset at once, never left held (see {@link #abandon}).
     */
    DONE
  }

  /** Times a request that leaves too late for its slots is decided again before it gets 503 (as the Netty engine). */
  private static final int MAX_CONFIRMATIONS = 8;
  /** A request decided again keeps its upstream connection if its new slot starts within this. */
  private static final long KEEP_CONNECTION_MILLIS = 50;
  /** A refused request's body is read and dropped, to keep the connection, if at most this much of it is left. */
  private static final long MAX_DISCARDED_BODY_BYTES = 256 * 1024;

  private final VertxProxyServer server;
  private final HttpServerRequest request;
  /** The same request as Netty's type, over the same header map: what {@link RequestCheck} and the gate read. */
  private final HttpRequest head;
  private final String clientIp;
  private final IdleConnections.State connection;
  /** This request's number on its HTTP/1.x connection (0 on HTTP/2): which trailer fields are its own. */
  private final int number;
  private Phase phase = Phase.DECIDING;
  private RequestCheck.Verdict verdict;
  private RateLimiter decider;
  private boolean counted;
  private RequestInfo info;
  private Decision decision;
  /** This request was counted as held by a delaying policy (once, however often it is decided again). */
  private boolean heldCounted;
  private int confirmations;
  /** When the request went upstream (System.nanoTime), until its answer's head is timed; 0 otherwise. */
  private long sentNanos;
  private String upstreamLabel = "?";
  /** The client's Connection field of an upgrade request, forwarded as it is (see {@link #keepConnectionField}). */
  private java.util.Map.Entry<String, String> connectionField;
  /** The request sent upstream, once confirmed. */
  private HttpClientRequest upstreamRequest;
  /** When the head arrived, for the access log (0 when the log is off). */
  private final long startedNanos;

  VertxExchange(VertxProxyServer server, HttpServerRequest request, IdleConnections.State connection) {
    this.server = server;
    this.request = request;
    this.connection = connection;
    this.number = connection == null ? 0 : connection.dispatched();
    this.head = nettyView(request);
    this.clientIp = request.remoteAddress() == null ? "unknown" : request.remoteAddress().hostAddress();
    request.response().endHandler(v -> {
      server.idle().ended(connection);
      logAnswered();
    });
    this.startedNanos = server.accessLog().enabled() ? System.nanoTime() : 0;
    request.response().closeHandler(v -> clientGone());
  }

  /**
   * The request as a Netty {@link HttpRequest}. The Vert.x HTTP/1.x server keeps headers in a map that is Netty's
   * {@link HttpHeaders} too: then the view shares it, and what the checks rewrite reaches the forwarded request.
   */
  private static HttpRequest nettyView(HttpServerRequest request) {
    HttpVersion version = request.version() == io.vertx.core.http.HttpVersion.HTTP_1_0
        ? HttpVersion.HTTP_1_0 : HttpVersion.HTTP_1_1;
    HttpMethod method = HttpMethod.valueOf(request.method().name());
    if (request.headers() instanceof HttpHeaders shared) {
      return new DefaultHttpRequest(version, method, request.uri(), shared);
    }
    // an HTTP/2 stream: its fields (not the pseudo-header fields), and its :authority as Host, as HTTP/1.1 says it
    HttpHeaders copy = new DefaultHttpHeaders();
    request.headers().forEach(field -> {
      if (!field.getKey().startsWith(":")) {
        copy.add(field.getKey(), field.getValue());
      }
    });
    if (!copy.contains(HttpHeaderNames.HOST) && request.authority() != null) {
      copy.add(HttpHeaderNames.HOST, request.authority().toString());
    }
    return new DefaultHttpRequest(version, method, request.uri(), copy);
  }

  /** The answer has been sent whole: one access log line, if the log is on. */
  private void logAnswered() {
    if (decider != null && !counted) {
      // the gateway's own warm-up request
      return;
    }
    io.vertx.core.http.HttpServerResponse response = request.response();
    String protocol = switch (request.version()) {
      case HTTP_1_0 -> "HTTP/1.0";
      case HTTP_1_1 -> "HTTP/1.1";
      case HTTP_2 -> "HTTP/2.0";
    };
    server.accessLog().answered(clientIp, request.method().name(), request.uri(), protocol, response.getStatusCode(),
        request.method() == io.vertx.core.http.HttpMethod.HEAD ? 0 : response.bytesWritten(), startedNanos);
  }

  // ---- 1. check and decide

  void start() {
    try {
      decide();
    } catch (RuntimeException e) {
      answer(Problems.answer(Problems.problem(500, "internal-error", "Internal Server Error",
          "the gateway failed on this request: " + e)), true);
    }
  }

  private void decide() {
    verdict = server.check().check(head);
    if (!verdict.passed()) {
      answer(Answers.problem(verdict.refusal()), true);
      return;
    }
    LimitGate gate = server.gate();
    decider = gate.limiterFor(head.headers());
    counted = gate.counts(decider);
    info = new VertxRequestInfo(request.headers(), head, clientIp);
    gate.decide(decider, info).onComplete(this::decided);
  }

  private void decided(AsyncResult<Decision> answer) {
    if (answer.failed()) {
      answer(server.gate().unavailable(answer.cause()), false);
      return;
    }
    Decision decided = answer.result();
    if (phase == Phase.DONE) {
      if (decided.admitted()) {
        decider.release(decided);
      }
      return;
    }
    if (!decided.admitted()) {
      answer(server.gate().refusal(decided, counted), false);
      return;
    }
    decision = decided;
    long wait = decided.forwardAtMillis() - server.clock().millis();
    if (wait <= 0) {
      forward();
      return;
    }
    if (counted && !heldCounted) {
      heldCounted = server.stats().countHeld(decided, wait);
    }
    phase = Phase.HOLDING;
    server.vertx().setTimer(wait, id -> forward());
  }

  // ---- 2. forward

  private void forward() {
    if (phase == Phase.DONE) {
      decider.release(decision);
      return;
    }
    phase = Phase.FORWARDING;
    if (verdict.expectsContinue()) {
      // admitted: now the client may send its body (the upstream never sees Expect)
      head.headers().remove(HttpHeaderNames.EXPECT);
      if (!request.isEnded()) {
        request.response().writeContinue();
      }
    }
    server.idle().readingBody(connection);
    String scheme = request.isSSL() ? "https" : "http";
    if (request.version() == io.vertx.core.http.HttpVersion.HTTP_2) {
      ForwardingHeaders.toUpstreamFromHttp2(head, clientIp, scheme);
    } else {
      ForwardingHeaders.toUpstream(head, clientIp, scheme, verdict.upgrade());
    }
    server.proxy(this);
  }

  HttpServerRequest request() {
    return request;
  }

  /** The target the upstream gets: origin form (an absolute target was rewritten by the checks). */
  String target() {
    return head.uri();
  }

  Decision decision() {
    return decision;
  }

  /** The upstream's response head has arrived: times the round trip once. */
  void upstreamAnswered() {
    if (sentNanos != 0) {
      server.stats().upstreamAnswered(System.nanoTime() - sentNanos);
      sentNanos = 0;
    }
  }

  /**
   * The confirm step, called by the origin provider: takes an upstream connection ({@code connect}), then asks the
   * gate whether the request may still leave now. The same decision: it goes. A new one: denied (fails with
   * {@link Refused}), or admitted for later (waits, keeping the connection if that is soon, and confirms again).
   */
  Future<HttpClientRequest> leave(String label, Supplier<Future<HttpClientRequest>> connect) {
    upstreamLabel = label;
    return connect.get().compose(upstream -> confirm(upstream, connect));
  }

  private Future<HttpClientRequest> confirm(HttpClientRequest upstream, Supplier<Future<HttpClientRequest>> connect) {
    if (phase == Phase.DONE) {
      return abandon(upstream, decision);
    }
    return server.gate().confirm(decider, decision, info)
        .recover(failure -> {
          discard(upstream);
          return Future.failedFuture(new LimiterDown(failure));
        })
        .compose(again -> confirmed(upstream, again, connect));
  }

  private Future<HttpClientRequest> confirmed(HttpClientRequest upstream, Decision again,
                                              Supplier<Future<HttpClientRequest>> connect) {
    if (phase == Phase.DONE) {
      return abandon(upstream, again);
    }
    if (again == decision) {
      if (counted) {
        server.stats().countForwarded(decision);
        server.gate().countShadows(decision);
        sentNanos = System.nanoTime();
      }
      for (java.util.Map.Entry<String, String> field : head.headers()) {
        if (HttpHeaderNames.HOST.contentEqualsIgnoreCase(field.getKey()) && !field.getValue().isEmpty()) {
          // the client's Host, named as it named it, not the upstream's address (the proxy drops Host)
          upstream.putHeader(field.getKey(), field.getValue());
          break;
        }
      }
      if (connectionField != null) {
        upstream.putHeader(connectionField.getKey(), connectionField.getValue());
      }
      upstreamRequest = upstream;
      UpstreamGuard.carry(upstream, connection != null && io.netty.handler.codec.http.HttpUtil.isTransferEncodingChunked(head)
          ? () -> connection.takeTrailers(number) : null);
      relayInterimAnswers(upstream);
      awaitUpstream(upstream);
      return Future.succeededFuture(upstream);
    }
    decision = again;
    if (!again.admitted()) {
      discard(upstream);
      return Future.failedFuture(new Refused(again));
    }
    if (++confirmations >= MAX_CONFIRMATIONS) {
      discard(upstream);
      return decider.release(again).transform(released -> Future.failedFuture(new Overloaded()));
    }
    long wait = again.forwardAtMillis() - server.clock().millis();
    if (counted && !heldCounted) {
      heldCounted = server.stats().countHeld(again, wait);
    }
    if (wait > KEEP_CONNECTION_MILLIS) {
      discard(upstream);
      return server.vertx().timer(wait).compose(v -> leave(upstreamLabel, connect));
    }
    if (wait > 0) {
      // keep the connection, check the new slots once more when they start
      return server.vertx().timer(wait).compose(v -> confirm(upstream, connect));
    }
    // the new slots start now: confirm at once, as the netty engine does. A timer here (even 1 ms) fired late on a
    // busy event loop, found the fresh decision stale again, and after MAX_CONFIRMATIONS such rounds the request got
    // 503 though no limit was near (bench/h2.sh: 1,304 of 165,869 requests in a warm-up, overloaded in /stats)
    return confirm(upstream, connect);
  }

  /**
   * Resets a request that has not left (Vert.x would log the reset as an unhandled failure of the request): the
   * connection goes back to the pool or is closed.
   */
  private static void discard(HttpClientRequest upstream) {
    upstream.exceptionHandler(ignored -> { });
    upstream.reset();
  }

  /**
   * The client is gone, or was answered (its body broke the framing), while its request waited for an upstream
   * connection or for the gate: the connection is reset rather than handed to the proxy, which would hold it (and a
   * pool slot) waiting for a body that never comes, and the request's slots are given back.
   */
  private Future<HttpClientRequest> abandon(HttpClientRequest upstream, Decision held) {
    discard(upstream);
    if (held != null && held.admitted()) {
      decider.release(held);
    }
    return Future.failedFuture(new ClientGone());
  }

  /**
   * 100 Continue and 103 Early Hints from the upstream reach the client before the final answer (RFC 9110 §15.2), as
   * the Netty engine relays them; Vert.x's client hands them to these handlers and the proxy would drop them.
   */
  private void relayInterimAnswers(HttpClientRequest upstream) {
    io.vertx.core.http.HttpServerResponse client = request.response();
    upstream.continueHandler(v -> {
      if (!client.headWritten()) {
        client.writeContinue();
      }
    });
    upstream.earlyHintsHandler(hints -> {
      if (!client.headWritten()) {
        client.writeEarlyHints(hints);
      }
    });
  }

  /**
   * Arms the upstream timeout (no byte from the upstream for upstreamTimeout: 504, or a cut answer) once the client's
   * body has all arrived: time the client takes to send its body is not the upstream's (Vert.x's request idle timeout
   * would count it).
   */
  private void awaitUpstream(HttpClientRequest upstream) {
    server.idle().whenBodyEnds(connection, () -> {
      if (!upstream.response().isComplete() && phase != Phase.DONE) {
        upstream.idleTimeout(server.upstreamTimeoutMillis());
      }
    });
  }

  /** The gateway's answer when the proxied request could not be sent: refused on confirmation, or upstream failure. */
  FullHttpResponse failure(Throwable cause) {
    if (cause instanceof Refused refused) {
      return server.gate().refusal(refused.decision, counted);
    }
    if (cause instanceof Overloaded) {
      return server.gate().overloaded();
    }
    if (cause instanceof LimiterDown down) {
      return server.gate().unavailable(down.getCause());
    }
    if (cause instanceof TooLarge tooLarge) {
      return Answers.problem(RequestCheck.tooLarge(tooLarge.limit));
    }
    if (counted) {
      server.stats().upstreamFailures.increment();
    }
    String detail = UpstreamFailures.describe(upstreamLabel, cause, server.upstreamTimeoutMillis());
    boolean timedOut = cause instanceof TimeoutException
        || cause instanceof io.netty.channel.ConnectTimeoutException;
    return timedOut
        ? Problems.answer(Problems.problem(504, "upstream-timeout", "Gateway Timeout", detail))
        : Problems.answer(Problems.problem(502, "upstream-unavailable", "Bad Gateway", detail));
  }

  // ---- 3. answers of the gateway itself

  /**
   * Answers without the upstream. The connection closes after it if asked, or if a body is still to come and too
   * much of it to read and drop.
   */
  private void answer(FullHttpResponse response, boolean close) {
    if (phase == Phase.DONE) {
      response.release();
      return;
    }
    phase = Phase.DONE;
    boolean closeAfter = close || server.stopping() || !request.isEnded() && !discardable();
    if (closeAfter) {
      server.stopReading(request.connection());
    } else {
      request.resume();
    }
    Answers.send(request, response, closeAfter);
  }

  private boolean discardable() {
    return verdict != null && (verdict.framing() == RequestCheck.Framing.NONE
        || verdict.framing() == RequestCheck.Framing.FIXED && !verdict.expectsContinue()
        && verdict.length() <= MAX_DISCARDED_BODY_BYTES);
  }

  /**
   * The client's chunked body broke the framing rules or grew too large ({@link StrictRequestDecoder}): nothing more is read from the
   * connection. Unless an answer has begun, the client gets {@code refusal} and the connection closes; a request already sent
   * upstream is reset there.
   */
  void brokenBody(RequestCheck.Refusal refusal) {
    if (phase == Phase.DONE || request.response().headWritten()) {
      Answers.closeNow(request);
    } else {
      phase = Phase.DONE;
      Answers.send(request, Answers.problem(refusal), true);
    }
    // after the answer: the proxy learns of the reset at once, and must find the exchange answered
    if (upstreamRequest != null) {
      upstreamRequest.reset();
    }
  }

  /** Takes the Connection field out of {@code proxied} (the proxy's copy of the head), to be forwarded as it is. */
  void keepConnectionField(io.vertx.core.MultiMap proxied) {
    for (java.util.Map.Entry<String, String> field : proxied) {
      if (HttpHeaderNames.CONNECTION.contentEqualsIgnoreCase(field.getKey())) {
        connectionField = java.util.Map.entry(field.getKey(), field.getValue());
        break;
      }
    }
    proxied.remove(HttpHeaderNames.CONNECTION);
  }

  /**
   * Whether the proxy's copy of the head was taken from a map the checks and forwarding rules did not change (an
   * HTTP/2 stream's): then {@link #copyHeadersTo} must bring it up to date.
   */
  boolean headersCopied() {
    return head.headers() != request.headers();
  }

  /** Replaces the proxy's copy of the head's fields by what the checks and forwarding rules made of them. */
  void copyHeadersTo(io.vertx.core.MultiMap proxied) {
    proxied.clear();
    for (java.util.Map.Entry<String, String> field : head.headers()) {
      proxied.add(field.getKey(), field.getValue());
    }
  }

  /**
   * An HTTP/2 request body of unknown length: vertx-http-proxy 5.0.x cannot send it to an HTTP/1.1 upstream (it
   * frames a body of unknown length in chunks only when the client's own head said chunked, which HTTP/2 never does).
   */
  boolean bodyOfUnknownLength() {
    return request.version() == io.vertx.core.http.HttpVersion.HTTP_2 && !request.isEnded()
        && !head.headers().contains(HttpHeaderNames.CONTENT_LENGTH);
  }

  /**
   * Reads the whole body of such a request (at most http.maxBodySize), so that it leaves with a Content-Length; fails
   * with {@link TooLarge} beyond the limit.
   */
  Future<io.vertx.core.buffer.Buffer> readBody() {
    io.vertx.core.Promise<io.vertx.core.buffer.Buffer> read = io.vertx.core.Promise.promise();
    io.vertx.core.buffer.Buffer body = io.vertx.core.buffer.Buffer.buffer();
    long limit = server.check().maxBodySize();
    request.handler(chunk -> {
      if (limit > 0 && body.length() + chunk.length() > limit) {
        read.tryFail(new TooLarge(limit));
      } else {
        body.appendBuffer(chunk);
      }
    });
    request.exceptionHandler(read::tryFail);
    request.endHandler(v -> read.tryComplete(body));
    request.resume();
    return read.future();
  }

  /**
   * Whether nothing more is to be sent to the client: answered, or the client's connection closed (Vert.x fails the
   * proxied request with the client's close before it tells the response's close handler; the failure is the
   * client's, not the upstream's).
   */
  boolean answered() {
    return phase == Phase.DONE || request.response().closed();
  }

  /**
   * The client connection closed: a request not yet forwarded gives its slots back (when its timer fires), one waiting
   * for its upstream connection resets it when it comes ({@link #abandon}), one on its way is reset upstream.
   */
  private void clientGone() {
    Phase was = phase;
    phase = Phase.DONE;
    if (was == Phase.FORWARDING && upstreamRequest != null) {
      // mid-body or mid-answer: the upstream connection cannot be reused; a failure of the client's, not the upstream's
      upstreamRequest.reset();
    }
    server.idle().ended(connection);
  }

  /** The client went away before its request left (see {@link #abandon}). */
  static final class ClientGone extends RuntimeException {
    ClientGone() {
      super("the client went away before the request left", null, false, false);
    }
  }

  /** The limiter denied the request when it was about to leave. */
  static final class Refused extends RuntimeException {
    private final transient Decision decision;

    Refused(Decision decision) {
      super("denied when leaving", null, false, false);
      this.decision = decision;
    }
  }

  /** The request could not leave in time for its slots, again and again. */
  static final class Overloaded extends RuntimeException {
    Overloaded() {
      super("could not leave in time for its slots", null, false, false);
    }
  }

  /** An HTTP/2 body of unknown length grew past http.maxBodySize. */
  static final class TooLarge extends RuntimeException {
    private final long limit;

    TooLarge(long limit) {
      super("body larger than " + limit + " bytes", null, false, false);
      this.limit = limit;
    }
  }

  /** The limiter's store failed while confirming. */
  static final class LimiterDown extends RuntimeException {
    LimiterDown(Throwable cause) {
      super(cause.toString(), cause, false, false);
    }
  }
}
