package io.sluice.gateway.proxy.netty;


import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;

/**
 * The two connections of a switched protocol (WebSocket and the like) after the upstream's 101: bytes are copied both
 * ways as they come, with backpressure (a side that cannot keep up pauses reading on the other), until either side
 * closes; then the other is closed once what it was sent has been flushed. Idle tunnels are closed by the client
 * idle timeout ({@link ClientConnection}). A tunnel's upstream connection is its own, never pooled.
 */
final class Tunnel {

  private final ClientConnection connection;
  private final Channel client;
  private final Channel upstream;
  private boolean closed;

  Tunnel(ClientConnection connection, Channel upstream) {
    this.connection = connection;
    this.client = connection.channel();
    this.upstream = upstream;
  }

  void fromClient(ByteBuf bytes) {
    relay(bytes, upstream, client);
  }

  void fromUpstream(ByteBuf bytes) {
    relay(bytes, client, upstream);
  }

  private void relay(ByteBuf bytes, Channel to, Channel from) {
    if (closed) {
      bytes.release();
      return;
    }
    connection.tunnelProgress();
    to.writeAndFlush(bytes, to.voidPromise());
    if (!to.isWritable()) {
      from.config().setAutoRead(false);
    }
  }

  /** One side can take more: the other may send again. */
  void writable(Channel side) {
    Channel other = side == client ? upstream : client;
    if (side.isWritable() && !closed) {
      other.config().setAutoRead(true);
    }
  }

  /** One side closed: the other follows once its pending bytes are out. */
  void closed() {
    if (closed) {
      return;
    }
    closed = true;
    for (Channel side : new Channel[] {client, upstream}) {
      if (side.isActive()) {
        side.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      }
    }
  }
}
