package io.sluice.gateway.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;

import java.nio.ByteBuffer;

/**
 * A complete HTTP/1.1 answer (status line, headers, body) encoded once by Netty's own encoder and then written as
 * bytes as often as needed, through the netty engine's {@code ServerCodec}. For the answers a flood repeats: the same 429 thousands of
 * times a second.
 */
public final class PreparedResponse {

  /** The encoded answer; never released (a write's release is a no-op), freed with this object. */
  private final ByteBuf bytes;
  /** Length of the status line and headers: what the answer to a HEAD request consists of. */
  private final int headLength;

  private PreparedResponse(ByteBuf bytes, int headLength) {
    this.bytes = bytes;
    this.headLength = headLength;
  }

  /** Encodes {@code response} (and releases it). */
  public static PreparedResponse of(FullHttpResponse response) {
    int bodyLength = response.content().readableBytes();
    EmbeddedChannel encoder = new EmbeddedChannel(new HttpResponseEncoder());
    encoder.writeOutbound(response);
    ByteBuf collected = Unpooled.buffer();
    for (ByteBuf part = encoder.readOutbound(); part != null; part = encoder.readOutbound()) {
      collected.writeBytes(part);
      part.release();
    }
    encoder.finishAndReleaseAll();
    // direct, so the socket write needs no copy; a JDK buffer, so the garbage collector frees it
    ByteBuffer direct = ByteBuffer.allocateDirect(collected.readableBytes());
    collected.readBytes(direct);
    collected.release();
    direct.flip();
    ByteBuf bytes = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(direct));
    return new PreparedResponse(bytes, bytes.readableBytes() - bodyLength);
  }

  /** Length of the body (what an access log counts). */
  public int bodyLength() {
    return bytes.readableBytes() - headLength;
  }

  /** The bytes to write: the whole answer, or only its head for a HEAD request. */
  public ByteBuf bytes(boolean headOnly) {
    return headOnly ? bytes.slice(0, headLength) : bytes.duplicate();
  }
}
