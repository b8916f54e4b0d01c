package io.sluice.gateway.proxy;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.util.ReferenceCountUtil;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.concurrent.TimeoutException;

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
  /** Skipping an informational (1xx) response, which belongs to no exchange's answer. */
  private boolean skippingInformational;

  UpstreamConnection(UpstreamLane lane) {
    this.lane = lane;
  }

  void attach(Channel channel) {
    this.channel = channel;
  }

  void activated() {
    active = true;
  }

  boolean usable() {
    return active && !closed && !retiring && channel.isActive();
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
  }

  void writeBody(HttpContent content) {
    channel.write(content, channel.voidPromise());
    if (Exchange.isLast(content)) {
      lane.flushSoon(this);
    }
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

  /** The exchange waited too long: it fails with 504, and the connection (whose answers it would misalign) closes. */
  void abort(Exchange late) {
    if (inFlight.remove(late)) {
      late.upstreamFailed(new TimeoutException("upstream timeout"), true);
    }
    closeChannel();
  }

  void closeChannel() {
    retiring = true;
    if (channel != null) {
      channel.close();
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    Exchange exchange = inFlight.peek();
    if (exchange == null) {
      // an answer nobody asked for: the connection cannot be trusted any more
      ReferenceCountUtil.release(msg);
      closeChannel();
      return;
    }
    if (msg instanceof HttpResponse response) {
      int status = response.status().code();
      if (status >= 100 && status < 200) {
        skippingInformational = !(msg instanceof HttpContent) || !Exchange.isLast((HttpContent) msg);
        ReferenceCountUtil.release(msg);
        return;
      }
      if (response.headers().containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE, true)) {
        retiring = true;
      }
      exchange.responseHead(response);
    }
    if (msg instanceof HttpContent content) {
      if (skippingInformational) {
        skippingInformational = !Exchange.isLast(content);
        content.release();
        return;
      }
      if (Exchange.isLast(content)) {
        inFlight.poll();
        if (!exchange.idempotent()) {
          exclusive = false;
        }
        exchange.responseContent(content);
        if (retiring && inFlight.isEmpty()) {
          channel.close();
        }
        lane.connectionFreed(this);
      } else {
        exchange.responseContent(content);
      }
    }
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
    Exchange sending = inFlight.peekLast();
    if (channel.isWritable() && sending != null) {
      sending.upstreamWritable();
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    failInFlight(new IOException("upstream closed the connection"));
    lane.connectionClosed(this);
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    failInFlight(cause);
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
