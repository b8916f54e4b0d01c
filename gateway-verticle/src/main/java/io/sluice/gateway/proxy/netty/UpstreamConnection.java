package io.sluice.gateway.proxy.netty;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.ReferenceCountUtil;
import io.sluice.gateway.proxy.FramingHeaders;

import java.io.IOException;
import java.util.ArrayDeque;

/**
 * One keep-alive connection to an upstream. Requests sent on it are answered in order (HTTP/1.1), so it keeps the
 * exchanges in flight in a queue and hands each response to the oldest. Several idempotent requests may be in
 * flight at once (pipelining, up to the lane's depth); a request with a body or a non-idempotent method has the
 * connection to itself.
 */
final class UpstreamConnection extends ChannelInboundHandlerAdapter {

  private final UpstreamLane lane;
  private final ArrayDeque<Exchange> inFlight = new ArrayDeque<>();
  private Channel channel;
  private boolean active;
  private boolean closed;
  /** No more requests after the ones in flight (the upstream said Connection: close, or an exchange timed out). */
  private boolean retiring;
  /** Exchanges that were given this connection and have not sent yet. */
  private int reserved;
  /** A request that must not share the connection is in flight. */
  private boolean exclusive;
  /** Skipping the end of an informational (1xx) response, relayed on its own. */
  private boolean skippingInformational;
  /** Outside the lane's pool, for one exchange. */
  private boolean dedicated;
  /** Set once this connection carries a tunnel's bytes. */
  private Tunnel tunnel;

  UpstreamConnection(UpstreamLane lane) {
    this.lane = lane;
  }

  void attach(Channel channel) {
    this.channel = channel;
  }

  /** This connection serves one exchange and closes after it (see {@link UpstreamLane#acquireDedicated}). */
  void dedicate() {
    retiring = true;
    dedicated = true;
  }

  void activated() {
    active = true;
  }

  boolean usable() {
    return active && !closed && (!retiring || dedicated && inFlight.isEmpty()) && channel.isActive();
  }

  boolean connecting() {
    return !active && !closed;
  }

  /** Requests on this connection that are unanswered or about to be sent. */
  int load() {
    return reserved + inFlight.size();
  }

  boolean exclusive() {
    return exclusive;
  }

  void reserve() {
    reserved++;
  }

  void unreserve() {
    reserved--;
    lane.connectionFreed(this);
  }

  void send(Exchange exchange, HttpRequest request) {
    reserved--;
    inFlight.add(exchange);
    if (!exchange.idempotent()) {
      exclusive = true;
    }
    channel.write(request, channel.voidPromise());
    // the head leaves in this turn of the event loop (with whatever else is written in it), not with its body: the
    // upstream may answer on the head alone, and the client may be waiting for a 100 Continue before sending it
    lane.flushSoon(this);
  }

  /** Body parts are flushed at the end of this turn of the event loop, together with whatever else was written. */
  void writeBody(HttpContent content) {
    channel.write(content, channel.voidPromise());
    lane.flushSoon(this);
  }

  void flush() {
    if (!closed) {
      channel.flush();
    }
  }

  boolean writable() {
    return channel.isWritable();
  }

  void pauseReading() {
    channel.config().setAutoRead(false);
  }

  void resumeReading() {
    if (!closed) {
      channel.config().setAutoRead(true);
    }
  }

  /**
   * Where {@code exchange}'s answer ends can no longer be known (it timed out, its body broke off, its client left):
   * the connection closes, and the exchange is not told again.
   */
  void abort(Exchange exchange) {
    inFlight.remove(exchange);
    closeChannel();
  }

  /** No more requests on this connection; it closes once the ones in flight are answered. */
  void retire() {
    retiring = true;
    if (inFlight.isEmpty() && channel != null) {
      channel.close();
    }
  }

  Channel channel() {
    return channel;
  }

  /** The upstream switched protocols: this connection leaves the lane and carries the tunnel's bytes. */
  void tunnel(Tunnel tunnel) {
    this.tunnel = tunnel;
    inFlight.clear();
    lane.connectionClosed(this);
    UpstreamCodec codec = channel.pipeline().get(UpstreamCodec.class);
    if (codec != null) {
      channel.pipeline().remove(codec);
    }
    channel.config().setAutoRead(true);
  }

  void closeChannel() {
    retiring = true;
    if (channel != null) {
      channel.close();
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (tunnel != null) {
      if (msg instanceof ByteBuf bytes) {
        tunnel.fromUpstream(bytes);
      } else {
        ReferenceCountUtil.release(msg);
      }
      return;
    }
    Exchange exchange = inFlight.peek();
    if (exchange == null || !(msg instanceof HttpObject object)) {
      // an answer nobody asked for: the connection cannot be trusted any more
      ReferenceCountUtil.release(msg);
      closeChannel();
      return;
    }
    if (object.decoderResult().isFailure() || msg instanceof HttpResponse response && !sound(response)) {
      // not a valid answer (or it broke off): where it ends is unknown, so the connection goes
      ReferenceCountUtil.release(msg);
      inFlight.poll();
      closeChannel();
      exchange.upstreamFailed(new IOException("upstream sent an invalid response: " + (object.decoderResult().isFailure()
          ? object.decoderResult().cause().getMessage()
          : "status " + ((HttpResponse) msg).status().code() + ", or framed both by length and by chunks")), false);
      return;
    }
    if (msg instanceof HttpResponse response && !head(exchange, response)) {
      return;
    }
    if (msg instanceof HttpContent content) {
      body(exchange, content);
    }
  }

  /** A head the gateway can pass on: a three-digit status, and one way of framing its body. */
  private static boolean sound(HttpResponse response) {
    int status = response.status().code();
    return status >= 100 && status <= 599 && !FramingHeaders.ambiguous(response.headers());
  }

  /** A response head; false when the message was consumed (an interim answer, a switch). */
  private boolean head(Exchange exchange, HttpResponse response) {
    int status = response.status().code();
    if (status == 101) {
      if (exchange.upgrade()) {
        exchange.switched(response);
      } else {
        inFlight.poll();
        closeChannel();
        exchange.upstreamFailed(new IOException("upstream switched protocols without being asked"), false);
      }
      return false;
    }
    if (status >= 100 && status < 200) {
      skippingInformational = true;
      exchange.informational(response);
      return response instanceof HttpContent;
    }
    if (!HttpUtil.isKeepAlive(response) || (status == 204 || status == 304) && hasFraming(response)) {
      // a 204/304 that announces a body: whether it sent one is unknown, so nothing more is asked of this connection
      retiring = true;
    }
    exchange.responseHead(response);
    return true;
  }

  private static boolean hasFraming(HttpResponse response) {
    String length = response.headers().get(HttpHeaderNames.CONTENT_LENGTH);
    return length != null && !length.equals("0") || response.headers().contains(HttpHeaderNames.TRANSFER_ENCODING);
  }

  private void body(Exchange exchange, HttpContent content) {
    if (skippingInformational) {
      skippingInformational = !Exchange.isLast(content);
      content.release();
      return;
    }
    if (!Exchange.isLast(content)) {
      exchange.responseContent(content);
      return;
    }
    inFlight.poll();
    if (!exchange.idempotent()) {
      exclusive = false;
    }
    exchange.responseContent(content);
    if (retiring && inFlight.isEmpty()) {
      channel.close();
    }
    lane.connectionFreed(this);
  }

  @Override
  public void channelReadComplete(ChannelHandlerContext ctx) {
    Exchange exchange = inFlight.peek();
    if (exchange != null) {
      exchange.flushPartial();
    }
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    if (tunnel != null) {
      tunnel.writable(channel);
      return;
    }
    Exchange sending = inFlight.peekLast();
    if (channel.isWritable() && sending != null) {
      sending.upstreamWritable();
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    if (tunnel != null) {
      tunnel.closed();
      return;
    }
    failInFlight(new IOException("upstream closed the connection"));
    lane.connectionClosed(this);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (tunnel == null) {
      failInFlight(cause);
    }
    ctx.close();
  }

  /** Every request in flight fails: their answers can no longer arrive. */
  private void failInFlight(Throwable cause) {
    closed = true;
    while (!inFlight.isEmpty()) {
      inFlight.poll().upstreamFailed(cause, false);
    }
  }
}
