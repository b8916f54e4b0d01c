package io.sluice.gateway.proxy.vertx;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.sluice.gateway.proxy.FramingHeaders;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.net.impl.ConnectionBase;

import java.net.ProtocolException;
import java.util.List;
import java.util.function.Supplier;

/**
 * Holds the answers of an upstream to the rules the Netty engine applies to them, on an HTTP/1.x connection of Vert.x's
 * client. It sits right after the client's codec, sees the decoded answer before Vert.x does, and the requests Vert.x
 * writes:
 * <ul>
 *   <li>an answer framed two ways (a length and chunked, or several lengths) is turned into a decoding failure, so the
 *   request fails with 502 and the connection closes (RFC 9112 §6.3 item 3; Netty's decoder would drop the length and
 *   read it as chunked);</li>
 *   <li>a chunked answer whose first chunk line is invalid, when that line came with the head, fails the same way
 *   instead of reaching the client as a head followed by a cut (RFC 9112 §7.1): its head is held until the end of the
 *   read that brought it, never longer;</li>
 *   <li>a 204 or 304 that announces a body, and an answer that began before its request's body was all sent, leave the
 *   connection unfit for another request: whether stray bytes follow, or how the upstream read the rest of the body, is
 *   unknown (RFC 9110 §15.3.5, RFC 9112 §9.3). Vert.x closes a connection after an answer that says
 *   {@code Connection: close}, so the guard puts that value first in the answer's {@code Connection} field (the field
 *   is hop-by-hop, never relayed; the values it had stay after it, so the fields they name are still dropped).</li>
 *   <li>a chunked request's trailer fields, which Vert.x's server drops and its client cannot send, are put on the
 *   request's last chunk as it is written ({@link #carry}).</li>
 * </ul>
 * The engine's client does not pipeline, so the request written last is the one being answered. Event-loop confined.
 * Its life per answer is {@link State}.
 */
final class UpstreamGuard extends ChannelDuplexHandler {

  /** The pipeline name of Vert.x's HTTP/1.x client codec, which the guard replaces and follows. */
  static final String CODEC = "codec";
  static final String NAME = "sluice-upstream-guard";

  enum State {
    /** Waiting for an answer's head (interim 1xx answers pass through). */
    HEAD,
    /** A chunked head held back until its first chunk line is read or the read ends. */
    HOLDING,
    /** Relaying an answer's body. */
    BODY,
    /** The connection switched protocols: bytes pass untouched. */
    SWITCHED,
    /** The connection is broken: everything read is dropped while it closes. */
    DISCARDING
  }

  private State state = State.HEAD;
  /** The trailer fields of the request about to be written, asked for when its body ends (see {@link #carry}). */
  private volatile Supplier<HttpHeaders> nextTrailers;
  /** Those of the request being written. */
  private Supplier<HttpHeaders> trailers;
  private HttpResponse held;
  /** Whether the body of the request written last has all been written. */
  private boolean requestComplete = true;

  /**
   * Fits a newly connected HTTP/1.x upstream connection: Vert.x's codec is replaced by the same Netty codec built with
   * {@link FramingHeaders} (which remembers a length field the decoder drops beside chunked), and the guard follows it.
   * A connection without that codec (not HTTP/1.x) is left as it is.
   */
  static void install(ChannelPipeline pipeline, HttpClientOptions options) {
    if (!(pipeline.get(CODEC) instanceof HttpClientCodec)) {
      return;
    }
    HttpDecoderConfig config = new HttpDecoderConfig()
        .setMaxInitialLineLength(options.getMaxInitialLineLength())
        .setMaxHeaderSize(options.getMaxHeaderSize())
        .setMaxChunkSize(options.getMaxChunkSize())
        .setInitialBufferSize(options.getDecoderInitialBufferSize())
        .setHeadersFactory(FramingHeaders.VALIDATING);
    pipeline.replace(CODEC, CODEC, new HttpClientCodec(config, false, false));
    pipeline.addAfter(CODEC, NAME, new UpstreamGuard());
  }

  /**
   * Vert.x's server drops a request's trailer fields and its client cannot send any: the request about to be written on
   * {@code upstream}'s connection gets those {@code fields} supplies when its body ends (none when it is null or gives
   * null). Called when the request is confirmed, before the proxy writes it.
   */
  static void carry(HttpClientRequest upstream, Supplier<HttpHeaders> fields) {
    if (upstream.connection() instanceof ConnectionBase connection
        && connection.channelHandlerContext().pipeline().get(NAME) instanceof UpstreamGuard guard) {
      guard.trailersOfNext(fields);
    }
  }

  void trailersOfNext(Supplier<HttpHeaders> fields) {
    nextTrailers = fields;
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (msg instanceof HttpRequest) {
      trailers = nextTrailers;
      nextTrailers = null;
      requestComplete = msg instanceof LastHttpContent;
    } else if (msg instanceof LastHttpContent) {
      requestComplete = true;
    }
    HttpHeaders fields = msg instanceof LastHttpContent && trailers != null ? trailers.get() : null;
    if (msg instanceof LastHttpContent) {
      trailers = null;
    }
    if (fields == null || fields.isEmpty()) {
      ctx.write(msg, promise);
    } else if (msg instanceof FullHttpRequest whole) {
      // a chunked body with no data, only trailers: the head, then the last chunk that carries them
      ctx.write(new DefaultHttpRequest(whole.protocolVersion(), whole.method(), whole.uri(), whole.headers()));
      ctx.write(lastChunk(whole.content().retain(), fields), promise);
      whole.release();
    } else {
      LastHttpContent last = (LastHttpContent) msg;
      ctx.write(lastChunk(last.content(), fields), promise);
    }
  }

  private static LastHttpContent lastChunk(ByteBuf content, HttpHeaders fields) {
    LastHttpContent last = new DefaultLastHttpContent(content);
    last.trailingHeaders().add(fields);
    return last;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    switch (state) {
      case DISCARDING -> ReferenceCountUtil.release(msg);
      case SWITCHED -> ctx.fireChannelRead(msg);
      case HOLDING -> firstAfterHeld(ctx, msg);
      case HEAD -> {
        if (msg instanceof HttpResponse response && response.decoderResult().isSuccess()) {
          head(ctx, response);
        } else {
          ctx.fireChannelRead(msg);
        }
      }
      case BODY -> {
        if (msg instanceof LastHttpContent) {
          state = State.HEAD;
        }
        ctx.fireChannelRead(msg);
      }
    }
  }

  private void head(ChannelHandlerContext ctx, HttpResponse response) {
    int status = response.status().code();
    if (status == 101) {
      state = State.SWITCHED;
      ctx.fireChannelRead(response);
      return;
    }
    if (status < 200) {
      // interim: its empty end passes in state HEAD
      ctx.fireChannelRead(response);
      return;
    }
    if (FramingHeaders.ambiguous(response.headers())) {
      fail(ctx, response, "the upstream's answer is framed two ways (Content-Length with Transfer-Encoding, or "
          + "several lengths)");
      return;
    }
    if ((status == 204 || status == 304) && announcesBody(response.headers()) || !requestComplete) {
      retire(response.headers());
    }
    boolean whole = response instanceof LastHttpContent;
    if (!whole && status != 204 && status != 304 && HttpUtil.isTransferEncodingChunked(response)) {
      held = response;
      state = State.HOLDING;
      return;
    }
    state = whole ? State.HEAD : State.BODY;
    ctx.fireChannelRead(response);
  }

  private void firstAfterHeld(ChannelHandlerContext ctx, Object msg) {
    HttpResponse head = held;
    held = null;
    if (msg instanceof HttpContent content && content.decoderResult().isFailure()) {
      ReferenceCountUtil.release(msg);
      fail(ctx, head, "the upstream's chunked answer has an invalid first chunk ("
          + content.decoderResult().cause().getMessage() + ")");
      return;
    }
    state = State.BODY;
    ctx.fireChannelRead(head);
    channelRead(ctx, msg);
  }

  /** The request fails as if the head had not decoded (Vert.x answers its stream with the cause), and the connection closes. */
  private void fail(ChannelHandlerContext ctx, HttpResponse response, String why) {
    state = State.DISCARDING;
    response.setDecoderResult(DecoderResult.failure(new ProtocolException(why)));
    ctx.fireChannelRead(response);
    ctx.close();
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    releaseHeld(ctx);
    ctx.fireChannelReadComplete();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    releaseHeld(ctx);
    super.channelInactive(ctx);
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    if (held != null) {
      ReferenceCountUtil.release(held);
      held = null;
    }
  }

  /** The read that brought a held head ended without its first chunk line: the head goes on, the body will follow. */
  private void releaseHeld(ChannelHandlerContext ctx) {
    if (state == State.HOLDING) {
      HttpObject head = held;
      held = null;
      state = State.BODY;
      ctx.fireChannelRead(head);
    }
  }

  private static boolean announcesBody(HttpHeaders headers) {
    String length = headers.get(HttpHeaderNames.CONTENT_LENGTH);
    return length != null && !length.trim().equals("0") || headers.contains(HttpHeaderNames.TRANSFER_ENCODING);
  }

  /** Makes Vert.x close the connection after this answer: {@code close} first in {@code Connection}, the rest kept. */
  private static void retire(HttpHeaders headers) {
    List<String> connection = headers.getAll(HttpHeaderNames.CONNECTION);
    headers.remove(HttpHeaderNames.CONNECTION);
    headers.add(HttpHeaderNames.CONNECTION, "close");
    for (String value : connection) {
      headers.add(HttpHeaderNames.CONNECTION, value);
    }
  }
}
