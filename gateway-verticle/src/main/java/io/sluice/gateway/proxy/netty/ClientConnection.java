package io.sluice.gateway.proxy.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;
import io.sluice.gateway.proxy.PreparedResponse;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * One client connection on the proxy port. Requests on it are handled one at a time, in order: each becomes an
 * {@link Exchange}; messages of a request the client pipelined behind it wait here until it is answered.
 */
final class ClientConnection extends ChannelInboundHandlerAdapter {

  /** Messages of later pipelined requests held before reading from the client pauses. */
  private static final int MAX_QUEUED = 64;
  /**
   * How long a connection answered before its request body arrived keeps discarding that body before it closes: long
   * enough for the client to read the answer instead of losing it to a reset.
   */
  private static final long LINGER_MILLIS = 2_000;

  private final ProxyServer server;
  private final ArrayDeque<HttpObject> queued = new ArrayDeque<>();
  private Channel channel;
  private String clientIp = "unknown";
  /** The exchange being answered, or null between requests. */
  private Exchange current;
  /** The exchange whose request body is still arriving (the current one, or one already answered early). */
  private Exchange reading;
  private boolean closing;
  /** Set once the upstream switched protocols: bytes then flow through it, not HTTP. */
  private Tunnel tunnel;
  /** The server's sweep number at the client's last progress: connected, sent part of a request, got an answer. */
  private long lastProgress;

  ClientConnection(ProxyServer server) {
    this.server = server;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    channel = ctx.channel();
    SocketAddress remote = channel.remoteAddress();
    if (remote instanceof InetSocketAddress inet && inet.getAddress() != null) {
      clientIp = inet.getAddress().getHostAddress();
    }
    lastProgress = server.sweep();
    server.opened(this);
    ctx.fireChannelActive();
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (tunnel != null && msg instanceof ByteBuf bytes) {
      tunnel.fromClient(bytes);
      return;
    }
    if (!(msg instanceof HttpObject object) || closing || tunnel != null) {
      ReferenceCountUtil.release(msg);
      return;
    }
    accept(object);
  }

  private void accept(HttpObject msg) {
    if (current != null && reading == null) {
      queued.add(msg);
      if (queued.size() == MAX_QUEUED) {
        channel.config().setAutoRead(false);
      }
      return;
    }
    dispatch(msg);
  }

  private void dispatch(HttpObject msg) {
    lastProgress = server.sweep();
    if (msg instanceof HttpRequest request) {
      Exchange exchange = new Exchange(server, this, request);
      current = exchange;
      reading = exchange;
      // the limiter's futures, timers and store callbacks belong to the verticle's context
      server.onContext(exchange, Exchange::start);
    } else if (msg instanceof HttpContent content) {
      Exchange body = reading;
      if (body == null) {
        content.release();
        return;
      }
      if (Exchange.isLast(content)) {
        reading = null;
      }
      body.requestContent(content);
      if (reading == null && current == null) {
        drainQueued();
      }
    } else {
      ReferenceCountUtil.release(msg);
    }
  }

  /**
   * The exchange has sent its whole response; the next request may start. {@code bodyUnread}: the client may still be
   * sending a body nobody will read; closing at once could reset the connection before the client has read the
   * answer, so the gateway stops writing, discards what comes for a while, then closes (a lingering close).
   */
  void exchangeDone(Exchange exchange, boolean close, boolean bodyUnread) {
    if (current != exchange) {
      return;
    }
    current = null;
    server.exchangeFinished();
    if (close || server.stopping()) {
      closing = true;
      if (bodyUnread) {
        lingerThenClose();
      } else {
        channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      }
      return;
    }
    lastProgress = server.sweep();
    if (reading == null) {
      drainQueued();
    } else {
      // the rest of an answered request's body is read and thrown away
      resumeReading();
    }
  }

  /**
   * Whether this connection has waited on its client, with no progress, for more than {@code limit} sweeps: for a
   * request head (idle keep-alive, or a head sent too slowly), for the rest of a request body that it is reading, or
   * for the client to read what was written to it (the connection takes no more; the upstream waits, paused). Waiting
   * on the upstream, on a delayed request's slot, or with reading paused by the gateway does not count.
   */
  boolean clientStalled(long sweep, long limit) {
    boolean waitingOnClient = tunnel != null || !channel.isWritable()
        || (reading != null ? channel.config().isAutoRead() : current == null);
    return waitingOnClient && !closing && sweep - lastProgress > limit;
  }

  /**
   * Starts the next queued request, and hands it the rest of its own messages (its body, at least the empty last
   * part a body-less request ends with); what follows is the next request, which waits for this one's answer.
   */
  private void drainQueued() {
    while (!queued.isEmpty() && (current == null || (reading != null && !(queued.peek() instanceof HttpRequest)))) {
      if (closing) {
        // a request was refused and the connection is closing: what was read after it is not trusted, not sent on
        queued.forEach(ReferenceCountUtil::release);
        queued.clear();
        return;
      }
      dispatch(queued.poll());
    }
    if (queued.isEmpty()) {
      resumeReading();
    }
  }

  boolean idle() {
    return current == null && reading == null;
  }

  String clientIp() {
    return clientIp;
  }

  Channel channel() {
    return channel;
  }

  void write(HttpObject msg) {
    channel.write(msg, channel.voidPromise());
  }

  void writeAndFlush(HttpObject msg) {
    channel.writeAndFlush(msg, channel.voidPromise());
  }

  void writeAndFlush(PreparedResponse msg) {
    channel.writeAndFlush(msg, channel.voidPromise());
  }

  void flush() {
    channel.flush();
  }

  void pauseReading() {
    channel.config().setAutoRead(false);
  }

  void resumeReading() {
    if (!closing && queued.size() < MAX_QUEUED) {
      if (!channel.config().isAutoRead()) {
        lastProgress = server.sweep(); // the wait for the client starts again now
      }
      channel.config().setAutoRead(true);
    }
  }

  void close() {
    closing = true;
    channel.close();
  }

  /** Closes with a reset (SO_LINGER 0): a client must see an answer that broke off as broken, not as ended. */
  void reset() {
    closing = true;
    if (channel.isActive()) {
      channel.config().setOption(ChannelOption.SO_LINGER, 0);
    }
    channel.close();
  }

  private void lingerThenClose() {
    queued.forEach(ReferenceCountUtil::release);
    queued.clear();
    channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(written -> {
      if (channel instanceof DuplexChannel duplex && channel.isActive()) {
        duplex.shutdownOutput();
        channel.config().setAutoRead(true);
        channel.eventLoop().schedule(() -> {
          channel.close();
        }, LINGER_MILLIS, TimeUnit.MILLISECONDS);
      } else {
        channel.close();
      }
    });
  }

  /**
   * The upstream switched protocols for {@code exchange}: from now on this connection's bytes go through a tunnel to
   * {@code upstream}, starting with any the client sent after its upgrade request (the codec held them back).
   */
  void tunnelTo(Exchange exchange, UpstreamConnection upstream) {
    if (current == exchange) {
      current = null;
      server.exchangeFinished();
    }
    reading = null;
    tunnel = new Tunnel(this, upstream.channel());
    upstream.tunnel(tunnel);
    lastProgress = server.sweep();
    ServerCodec codec = channel.pipeline().get(ServerCodec.class);
    if (codec != null) {
      channel.pipeline().remove(codec);
    }
    channel.config().setAutoRead(true);
  }

  /** Bytes went through the tunnel, one way or the other. */
  void tunnelProgress() {
    lastProgress = server.sweep();
  }

  @Override
  public void channelWritabilityChanged(ChannelHandlerContext ctx) {
    // the client read what it was sent, or the wait for it to read starts now
    lastProgress = server.sweep();
    if (tunnel != null) {
      tunnel.writable(channel);
    } else if (channel.isWritable() && current != null) {
      current.clientWritable();
    }
    ctx.fireChannelWritabilityChanged();
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    closing = true;
    if (tunnel != null) {
      tunnel.closed();
    }
    server.onContext(this, connection -> {
      queued.forEach(ReferenceCountUtil::release);
      queued.clear();
      Exchange gone = current;
      current = null;
      if (gone != null) {
        server.exchangeFinished();
        gone.clientGone();
      }
      if (reading != null && reading != gone) {
        reading.clientGone();
      }
      reading = null;
      server.closed(this);
    });
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    // a reset by the client, mostly; the exchange learns of it through channelInactive
    ctx.close();
  }
}
