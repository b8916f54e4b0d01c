package io.sluice.gateway.proxy.netty;

import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.concurrent.ScheduledFuture;
import io.sluice.gateway.limit.Decision;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.RequestInfo;
import io.sluice.gateway.proxy.ForwardingHeaders;
import io.sluice.gateway.proxy.LimitGate;
import io.sluice.gateway.proxy.PreparedResponse;
import io.sluice.gateway.proxy.Problems;
import io.sluice.gateway.proxy.RequestCheck;
import io.sluice.gateway.proxy.UpstreamFailures;
import io.vertx.core.AsyncResult;

import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * One request's way through the gateway, from socket to decision to upstream and back:
 * <ol>
 *   <li>{@link RequestCheck} lets only well-framed, unambiguous requests on; the {@link LimitGate} decides: admit
 *       (now or at a later instant), or answer 429/401 here;</li>
 *   <li>an admitted request waits for its instant, takes an upstream connection from its {@link UpstreamLane}, and is
 *       confirmed once more (it must leave within the slots it holds), then its head and body are streamed up;</li>
 *   <li>the upstream's response is streamed back with the RateLimit headers added; a 101 turns the two connections
 *       into a {@link Tunnel}.</li>
 * </ol>
 * Its state, all on the event loop of the client's connection:
 * <ul>
 *   <li>{@link Phase}, the life: DECIDING → (HOLDING) → CONNECTING → CONFIRMING → FORWARDED → DONE, forward only
 *       (CONFIRMING may go back to HOLDING or CONNECTING when the request left too late for its slots); any phase may
 *       end in DONE, by an answer of the gateway or the client going away;</li>
 *   <li>beside it, because an upstream may answer before it has read the whole body, two progress markers: the
 *       request body's ({@link #requestEnded}) and the answer's ({@link AnswerProgress});</li>
 *   <li>two backpressure flags, one per direction ({@link #upstreamBlocked}: the client paused because the upstream
 *       takes the body slowly; {@link #upstreamPaused}: the upstream paused because the client reads slowly);</li>
 *   <li>and facts fixed once learnt: whether the policies count it ({@link #counted}), whether the gateway sent its
 *       own 100 ({@link #continued}), whether the upstream answered early ({@link #answeredEarly}), whether the
 *       connection closes after the answer ({@link #closeAfterResponse}).</li>
 * </ul>
 */
final class Exchange {

  /** Where the exchange is: forward only, except that a late request is decided again (see the class comment). */
  enum Phase {
    /** The head is checked and the limiter asked. */
    DECIDING,
    /** Admitted for a later instant (a delaying policy, or a slot just ahead): waiting for it. */
    HOLDING,
    /** Waiting for an upstream connection from the lane. */
    CONNECTING,
    /** Holding a connection; the limiter confirms the slots for the real instant of leaving. */
    CONFIRMING,
    /** The head went upstream; the body streams up, the answer streams down. */
    FORWARDED,
    /** Answered (by the upstream or the gateway) or abandoned: nothing more is written to the client for it. */
    DONE
  }

  /** How far the upstream's answer has come to the client, within {@link Phase#FORWARDED}; forward only. */
  enum AnswerProgress {
    /** Nothing of the answer yet (an interim 1xx may have been relayed). */
    NONE,
    /** The head is in {@link #pendingHead}, held until the first body part shows the answer is sound. */
    HEAD_HELD,
    /** The head has been written to the client: from here a failure can only cut the connection. */
    WRITTEN
  }

  /** Times a request that leaves too late for its slots is decided again before it gets 503. */
  private static final int MAX_CONFIRMATIONS = 8;
  /**
   * A request decided again keeps its upstream connection if its new slot starts within this (the longest store
   * round trip the limiter plans for), rather than queueing for a connection again and being late again.
   */
  private static final long KEEP_CONNECTION_MILLIS = 50;
  /** Body bytes held while the decision is pending; past this, reading from the client pauses. */
  private static final int MAX_HELD_BODY_BYTES = 256 * 1024;
  /**
   * At most this much of a body still to come is read and thrown away after an answer that did not need it (a 429, an
   * early 413 from the upstream), so the connection can carry the client's next request; past it, the connection
   * closes after the answer.
   */
  private static final long MAX_DISCARDED_BODY_BYTES = 256 * 1024;

  private final ProxyServer server;
  private final ClientConnection client;
  private final HttpRequest request;
  /** The version the client spoke (the request itself goes upstream as HTTP/1.1, the gateway's own). */
  private final HttpVersion clientVersion;
  private final RequestCheck.Verdict verdict;
  private final boolean keepAlive;
  private final boolean idempotent;
  private final ArrayDeque<HttpContent> heldBody = new ArrayDeque<>();
  private Phase phase = Phase.DECIDING;
  private int heldBytes;
  private long bodyBytes;
  /** The client has sent the whole request body (at once for a request without one). */
  private boolean requestEnded;
  private AnswerProgress answerProgress = AnswerProgress.NONE;
  /** The upstream's response head while {@link AnswerProgress#HEAD_HELD}. */
  private HttpResponse pendingHead;
  /** The upstream answered before the request body was all sent (see {@link #responseHead}). */
  private boolean answeredEarly;
  /** The gateway sent its own 100 Continue; an upstream's 100 would repeat it. */
  private boolean continued;
  /** The client connection closes once this answer is sent. */
  private boolean closeAfterResponse;
  private RequestInfo info;
  private RateLimiter decider;
  private boolean counted;
  private Decision decision;
  /** This request was counted as held by a delaying policy (once, however often it is decided again). */
  private boolean heldCounted;
  private int confirmations;
  private UpstreamLane lane;
  /** When the request head went upstream ({@link #nowNanos}), until its answer's head is timed; 0 otherwise. */
  private long sentNanos;
  private UpstreamConnection upstream;
  /** Reading from the upstream is paused because the client reads slower than it answers. */
  private boolean upstreamPaused;
  /** Reading from the client is paused because the upstream does not take the body as fast as it comes. */
  private boolean upstreamBlocked;
  /** When the upstream last showed progress (see {@link #waitingOnUpstream}); the watchdog measures from it. */
  private long upstreamProgressNanos;
  private ScheduledFuture<?> watchdog;
  /** For the access log: when the head arrived (0 when the log is off), the status sent and the body bytes sent. */
  private final long startedNanos;
  private int sentStatus;
  private long sentBytes;
  /** The client left while the upstream still owed the answer: it is read and dropped, and still timed. */
  private boolean orphaned;

  Exchange(ProxyServer server, ClientConnection client, HttpRequest request) {
    this.server = server;
    this.client = client;
    this.request = request;
    this.clientVersion = request.protocolVersion();
    this.verdict = server.requestCheck().check(request);
    this.keepAlive = HttpUtil.isKeepAlive(request);
    this.closeAfterResponse = !keepAlive || verdict.upgrade();
    this.requestEnded = verdict.framing() == RequestCheck.Framing.NONE;
    HttpMethod method = request.method();
    this.idempotent = (method == HttpMethod.GET || method == HttpMethod.HEAD || method == HttpMethod.OPTIONS)
        && verdict.passed() && requestEnded && !verdict.upgrade();
    this.startedNanos = server.accessLog().enabled() ? System.nanoTime() : 0;
    server.exchangeStarted();
  }

  static boolean isLast(HttpContent content) {
    return content instanceof LastHttpContent;
  }

  /** Whether the request's own bytes end where the gateway thinks: false for a refused head (what follows is not trusted). */
  boolean framed() {
    return verdict.passed();
  }

  boolean upgrade() {
    return verdict.upgrade();
  }

  // ---- 1. check and decide

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
    if (!verdict.passed()) {
      answer(problem(verdict.refusal()), true);
      return;
    }
    decider = server.gate().limiterFor(request.headers());
    counted = server.gate().counts(decider);
    info = new NettyRequestInfo(request, client.clientIp());
    server.gate().decide(decider, info).onComplete(this::decided);
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
    if (counted && !heldCounted) {
      heldCounted = server.stats().countHeld(decision, wait);
    }
    phase = Phase.HOLDING;
    server.vertx().setTimer(wait, id -> takeUpstream());
  }

  // ---- 2. forward

  private void takeUpstream() {
    if (phase == Phase.DONE) {
      decider.release(decision);
      return;
    }
    phase = Phase.CONNECTING;
    lane = server.nextLane();
    if (verdict.upgrade()) {
      lane.acquireDedicated(this);
    } else {
      lane.acquire(this);
    }
  }

  /** The lane has reserved {@code connection} for this exchange. */
  void upstreamReady(UpstreamConnection connection) {
    if (phase == Phase.DONE) {
      connection.unreserve();
      decider.release(decision);
      return;
    }
    phase = Phase.CONFIRMING;
    server.gate().confirm(decider, decision, info).onComplete(answer -> confirmed(connection, answer));
  }

  private void confirmed(UpstreamConnection connection, AsyncResult<Decision> answer) {
    if (phase == Phase.DONE) {
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
    phase = Phase.FORWARDED;
    upstream = connection;
    if (counted) {
      server.stats().countForwarded(decision);
      server.gate().countShadows(decision);
    }
    if (verdict.expectsContinue()) {
      // admitted: now the client may send its body (the upstream is not asked; it never sees Expect)
      request.headers().remove(HttpHeaderNames.EXPECT);
      if (!requestEnded) {
        continued = true;
        client.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE));
      }
    }
    ForwardingHeaders.toUpstream(request, client.clientIp(), server.scheme(), verdict.upgrade());
    request.setProtocolVersion(HttpVersion.HTTP_1_1);
    connection.send(this, request);
    while (!heldBody.isEmpty()) {
      connection.writeBody(heldBody.poll());
    }
    heldBytes = 0;
    upstreamProgressNanos = nowNanos();
    sentNanos = upstreamProgressNanos;
    armWatchdog();
    if (!requestEnded) {
      client.resumeReading();
    }
  }

  /** A piece of the request body, in order. */
  void requestContent(HttpContent content) {
    if (content.decoderResult().isFailure()) {
      content.release();
      requestEnded = true;
      bodyBroken(RequestCheck.badRequest("the request body is not valid chunked encoding: "
          + content.decoderResult().cause().getMessage()));
      return;
    }
    bodyBytes += content.content().readableBytes();
    if (isLast(content)) {
      requestEnded = true;
    }
    long limit = server.requestCheck().maxBodySize();
    if (limit > 0 && bodyBytes > limit && phase != Phase.DONE) {
      content.release();
      bodyBroken(RequestCheck.tooLarge(limit));
      return;
    }
    if (phase == Phase.DONE) {
      // answered early: the rest of the body is discarded
      content.release();
      return;
    }
    if (phase == Phase.FORWARDED) {
      upstream.writeBody(content);
      if (requestEnded) {
        upstreamProgressNanos = nowNanos();
      } else if (!upstream.writable()) {
        upstreamBlocked = true;
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

  /**
   * The request body broke the rules after its head was accepted (bad chunk, too large): it is answered here if it
   * can still be, and nothing more of it goes upstream (its upstream connection closes).
   */
  private void bodyBroken(RequestCheck.Refusal refusal) {
    if (upstream != null) {
      upstream.abort(this);
    }
    if (phase == Phase.DONE) {
      return;
    }
    if (answerProgress == AnswerProgress.WRITTEN) {
      closeNow();
      return;
    }
    answer(problem(refusal), true);
  }

  void upstreamWritable() {
    if (upstreamBlocked) {
      upstreamBlocked = false;
      upstreamProgressNanos = nowNanos();
      client.resumeReading();
    }
  }

  // ---- 3. answer

  /**
   * An interim answer (102, 103...): relayed as it is, except to an HTTP/1.0 client, which may not be sent one
   * (RFC 9110 §15.2), and a 100 after the gateway's own.
   */
  void informational(HttpResponse response) {
    upstreamProgressNanos = nowNanos();
    if (phase != Phase.FORWARDED || answerProgress != AnswerProgress.NONE || clientVersion == HttpVersion.HTTP_1_0
        || response.status().code() == 100 && continued) {
      return;
    }
    ForwardingHeaders.toClient(response, response.protocolVersion());
    DefaultFullHttpResponse interim = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, response.status(),
        io.netty.buffer.Unpooled.EMPTY_BUFFER, response.headers(), Problems.OWN_HEADERS.newEmptyHeaders());
    client.writeAndFlush(interim);
  }

  void responseHead(HttpResponse response) {
    upstreamProgressNanos = nowNanos();
    if (phase != Phase.FORWARDED) {
      return;
    }
    if (counted && sentNanos != 0) {
      server.stats().upstreamAnswered(upstreamProgressNanos - sentNanos);
      sentNanos = 0;
    }
    ForwardingHeaders.toClient(response, response.protocolVersion());
    server.gate().decorate(response, decision);
    boolean bodyless = request.method() == HttpMethod.HEAD || !hasBody(response.status().code());
    if (!bodyless && !HttpUtil.isContentLengthSet(response) && !HttpUtil.isTransferEncodingChunked(response)) {
      // the upstream ends this body by closing: so must the gateway, the client cannot tell otherwise
      closeAfterResponse = true;
    }
    if (!requestEnded) {
      // answered before the whole body was sent: the upstream may not read the rest, so its connection is not reused
      answeredEarly = true;
      if (!restDiscardable()) {
        // and too much of the body is left to read and throw away: the client connection closes after the answer
        closeAfterResponse = true;
      }
    }
    markConnection(response);
    response.setProtocolVersion(clientVersion == HttpVersion.HTTP_1_0 ? HttpVersion.HTTP_1_0 : HttpVersion.HTTP_1_1);
    pendingHead = response;
    answerProgress = AnswerProgress.HEAD_HELD;
  }

  /** Writes the held response head: the answer has begun. */
  private void startResponse() {
    if (answerProgress == AnswerProgress.HEAD_HELD) {
      if (server.stopping() && !closeAfterResponse) {
        // the gateway is stopping: the client must not send its next request on this connection, it closes after
        closeAfterResponse = true;
        markConnection(pendingHead);
      }
      answerProgress = AnswerProgress.WRITTEN;
      sentStatus = pendingHead.status().code();
      client.write(pendingHead);
      pendingHead = null;
    }
  }

  /**
   * Whether the rest of the request body can be read and thrown away after an answer that did not need it: its
   * length is known and small, and the client is not waiting for a 100 Continue it will never get.
   */
  private boolean restDiscardable() {
    return verdict.framing() == RequestCheck.Framing.FIXED && !(verdict.expectsContinue() && !continued)
        && verdict.length() - bodyBytes <= MAX_DISCARDED_BODY_BYTES;
  }

  void responseContent(HttpContent content) {
    upstreamProgressNanos = nowNanos();
    if (phase != Phase.FORWARDED) {
      if (isLast(content)) {
        cancelWatchdog(); // an orphaned answer has ended
      }
      content.release();
      return;
    }
    startResponse();
    sentBytes += content.content().readableBytes();
    if (isLast(content)) {
      client.writeAndFlush(content);
      if (answeredEarly) {
        upstream.retire();
      }
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

  /**
   * The upstream switched protocols (101) for this upgrade request: the 101 is relayed and both connections become
   * a byte tunnel.
   */
  void switched(HttpResponse response) {
    if (phase != Phase.FORWARDED || !verdict.upgrade()) {
      upstream.abort(this);
      upstreamFailed(new IllegalStateException("the upstream switched protocols without being asked"), false);
      return;
    }
    cancelWatchdog();
    phase = Phase.DONE;
    ForwardingHeaders.toClientSwitching(response);
    client.writeAndFlush(response);
    if (!warmUp()) {
      server.accessLog().answered(client.clientIp(), request.method().name(), request.uri(), clientVersion.text(),
          101, 0, startedNanos);
    }
    client.tunnelTo(this, upstream);
  }

  /** End of a read from the upstream in the middle of this response: let the client have what arrived. */
  void flushPartial() {
    if (phase == Phase.FORWARDED && answerProgress != AnswerProgress.NONE) {
      startResponse();
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
      upstreamProgressNanos = nowNanos();
      upstream.resumeReading();
    }
  }

  /** The upstream could not be reached, failed, or sent something that is not a valid answer. */
  void upstreamFailed(Throwable cause, boolean timedOut) {
    cancelWatchdog();
    if (phase == Phase.DONE) {
      return;
    }
    if (counted) {
      server.stats().upstreamFailures.increment();
    }
    if (answerProgress == AnswerProgress.WRITTEN) {
      // never a truncated answer that looks whole: the client sees the cut
      closeNow();
      return;
    }
    pendingHead = null;
    answerProgress = AnswerProgress.NONE;
    String label = lane == null ? "?" : lane.label();
    String detail = UpstreamFailures.describe(label, cause, server.upstreamTimeoutMillis());
    FullHttpResponse problem = timedOut
        ? Problems.answer(Problems.problem(504, "upstream-timeout", "Gateway Timeout", detail))
        : Problems.answer(Problems.problem(502, "upstream-unavailable", "Bad Gateway", detail));
    answer(problem, false);
  }

  /**
   * The upstream has been silent for {@code upstreamTimeout} while the gateway waited on it: for the response head
   * (counted from when the body was all sent), for it to take more of the body, or in the middle of the response.
   */
  private boolean waitingOnUpstream() {
    return orphaned || phase == Phase.FORWARDED && !upstreamPaused
        && (requestEnded || upstreamBlocked || answerProgress == AnswerProgress.WRITTEN);
  }

  private void armWatchdog() {
    long timeoutNanos = TimeUnit.MILLISECONDS.toNanos(server.upstreamTimeoutMillis());
    long due = upstreamProgressNanos + timeoutNanos - nowNanos();
    watchdog = client.channel().eventLoop().schedule(this::watch, Math.max(1, due), TimeUnit.NANOSECONDS);
  }

  private void watch() {
    watchdog = null;
    if (phase != Phase.FORWARDED && !orphaned) {
      return;
    }
    long silent = nowNanos() - upstreamProgressNanos;
    if (waitingOnUpstream() && silent >= TimeUnit.MILLISECONDS.toNanos(server.upstreamTimeoutMillis())) {
      UpstreamConnection late = upstream;
      upstreamFailed(new java.util.concurrent.TimeoutException("upstream timeout"), true);
      late.abort(this);
      return;
    }
    if (!waitingOnUpstream()) {
      upstreamProgressNanos = nowNanos();
    }
    armWatchdog();
  }

  /** The client went away: nothing more is written to it; held slots of an unsent request are given back. */
  void clientGone() {
    Phase was = phase;
    phase = Phase.DONE;
    resumeUpstream();
    releaseHeldBody();
    if (was == Phase.FORWARDED && upstream != null && !requestEnded) {
      cancelWatchdog();
      upstream.abort(this);
    } else if (was == Phase.FORWARDED) {
      // its connection is kept for the rest of the answer; an upstream silent for the timeout must still lose it, or
      // the connection would stay out of the lane's pool for good
      orphaned = true;
    } else {
      cancelWatchdog();
    }
  }

  boolean idempotent() {
    return idempotent;
  }

  /** The limiter said no: 429 (or 401), as prepared bytes when the usual 429 fits this request. */
  private void refuse(Decision refused) {
    if (phase == Phase.DONE) {
      return;
    }
    if (keepAlive && requestEnded && !verdict.upgrade() && clientVersion == HttpVersion.HTTP_1_1
        && !server.stopping()) {
      PreparedResponse prepared = server.gate().preparedRefusal(refused, counted);
      if (prepared != null) {
        sentStatus = 429;
        sentBytes = request.method() == HttpMethod.HEAD ? 0 : prepared.bodyLength();
        client.writeAndFlush(prepared);
        finish(false);
        return;
      }
    }
    answer(server.gate().refusal(refused, counted), false);
  }

  /**
   * Answers from the gateway itself; the upstream never sees the request (or its answer is lost). The connection
   * closes after it if asked, if the client wants that, or if the request's body has not all arrived (the client may
   * not send it, having been refused, so its end cannot be found).
   */
  private void answer(FullHttpResponse response, boolean close) {
    if (phase == Phase.DONE) {
      response.release();
      return;
    }
    boolean closeAfter = close || closeAfterResponse || server.stopping() || !requestEnded && !restDiscardable();
    if (clientVersion == HttpVersion.HTTP_1_0) {
      response.setProtocolVersion(HttpVersion.HTTP_1_0);
    }
    HttpUtil.setKeepAlive(response, !closeAfter);
    sentStatus = response.status().code();
    sentBytes = request.method() == HttpMethod.HEAD ? 0 : response.content().readableBytes();
    client.writeAndFlush(response);
    finish(closeAfter);
  }

  private static FullHttpResponse problem(RequestCheck.Refusal refusal) {
    FullHttpResponse response = Problems.answer(Problems.problem(refusal.status(), refusal.type(), refusal.title(),
        refusal.detail()));
    if (refusal.status() == 405) {
      response.headers().set(HttpHeaderNames.ALLOW, RequestCheck.ALLOWED_METHODS);
    }
    return response;
  }

  /** The gateway's own warm-up request (not in the access log). */
  private boolean warmUp() {
    return decider != null && !counted;
  }

  private void finish(boolean close) {
    phase = Phase.DONE;
    if (sentStatus != 0 && !warmUp()) {
      server.accessLog().answered(client.clientIp(), request.method().name(), request.uri(), clientVersion.text(),
          sentStatus, sentBytes, startedNanos);
    }
    resumeUpstream();
    cancelWatchdog();
    releaseHeldBody();
    client.exchangeDone(this, close, !requestEnded);
    pendingHead = null;
  }

  /** The answer was cut: the client sees the connection reset, never a response that looks whole. */
  private void closeNow() {
    phase = Phase.DONE;
    resumeUpstream();
    cancelWatchdog();
    releaseHeldBody();
    client.reset();
    client.exchangeDone(this, true, false);
  }

  private void markConnection(HttpResponse response) {
    if (clientVersion == HttpVersion.HTTP_1_0) {
      if (HttpUtil.isTransferEncodingChunked(response)) {
        // HTTP/1.0 has no chunked encoding: this body ends when the connection does
        HttpUtil.setTransferEncodingChunked(response, false);
        closeAfterResponse = true;
      }
    }
    if (closeAfterResponse) {
      response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    } else if (clientVersion == HttpVersion.HTTP_1_0) {
      response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
    }
  }

  /** The clock of the event loop the watchdog is scheduled on (a test's embedded loop moves it by hand). */
  private long nowNanos() {
    return client.channel().eventLoop().ticker().nanoTime();
  }

  private void cancelWatchdog() {
    if (watchdog != null) {
      watchdog.cancel(false);
      watchdog = null;
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
}
