package io.sluice.gateway.proxy.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.sluice.gateway.proxy.FramingHeaders;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The upstream connection's codec below the socket: requests written through it, raw answers fed back, and what it
 * makes of them. The point of having our own: an interim answer must not use up a pipelined request's method.
 */
@DisplayName("Upstream codec on an embedded channel")
class UpstreamCodecTest {

  private final EmbeddedChannel channel = new EmbeddedChannel(new UpstreamCodec(new HttpDecoderConfig()
      .setHeadersFactory(FramingHeaders.TRUSTING)));

  private void send(HttpMethod method, String uri) {
    channel.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, uri));
    for (Object written = channel.readOutbound(); written != null; written = channel.readOutbound()) {
      ReferenceCountUtil.release(written);
    }
  }

  /** Feeds {@code raw} as the upstream's bytes; returns what was decoded, as "status" and "body:..." entries. */
  private List<String> answer(String raw) {
    channel.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.ISO_8859_1));
    List<String> seen = new ArrayList<>();
    for (Object msg = channel.readInbound(); msg != null; msg = channel.readInbound()) {
      if (msg instanceof HttpResponse response) {
        seen.add(String.valueOf(response.status().code()));
      }
      if (msg instanceof HttpContent content) {
        ByteBuf bytes = content.content();
        if (bytes.isReadable()) {
          seen.add("body:" + bytes.toString(StandardCharsets.ISO_8859_1));
        }
        if (content.decoderResult().isFailure()) {
          seen.add("failed");
        }
      }
      ReferenceCountUtil.release(msg);
    }
    return seen;
  }

  @Test
  @DisplayName("a 103 before the answer to a pipelined GET leaves the HEAD behind it read without a body")
  void interimAnswerDoesNotUseUpAMethod() {
    send(HttpMethod.GET, "/a");
    send(HttpMethod.HEAD, "/b");
    send(HttpMethod.GET, "/c");
    List<String> seen = answer("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
        + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        + "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    assertEquals(List.of("103", "200", "body:ok", "200", "200", "body:abc"), seen);
    channel.finishAndReleaseAll();
  }

  @Test
  @DisplayName("204 and 304 carry no body whatever they announce; the bytes after them are read as the next answer")
  void bodilessStatuses() {
    send(HttpMethod.GET, "/a");
    send(HttpMethod.GET, "/b");
    List<String> seen = answer("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
    assertEquals(List.of("204", "304"), seen);
    channel.finishAndReleaseAll();
  }

  @Test
  @DisplayName("an answer framed by both Content-Length and chunked is marked ambiguous; one with two lengths fails")
  void ambiguousFraming() {
    send(HttpMethod.GET, "/a");
    channel.writeInbound(Unpooled.copiedBuffer(
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        StandardCharsets.ISO_8859_1));
    HttpResponse response = channel.readInbound();
    assertTrue(FramingHeaders.ambiguous(response.headers()), "Netty dropped the length; the count remembers it");
    channel.finishAndReleaseAll();

    EmbeddedChannel other = new EmbeddedChannel(new UpstreamCodec(new HttpDecoderConfig()
        .setHeadersFactory(FramingHeaders.TRUSTING)));
    other.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/b"));
    other.writeInbound(Unpooled.copiedBuffer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        StandardCharsets.ISO_8859_1));
    HttpResponse twoLengths = other.readInbound();
    assertTrue(twoLengths.decoderResult().isFailure());
    other.finishAndReleaseAll();
  }

  @Test
  @DisplayName("a cut chunked answer ends without a last part: the exchange learns of it from the connection closing")
  void cutChunkedAnswer() {
    send(HttpMethod.GET, "/a");
    List<String> seen = answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    channel.finish();
    for (Object msg = channel.readInbound(); msg != null; msg = channel.readInbound()) {
      assertTrue(!(msg instanceof io.netty.handler.codec.http.LastHttpContent last)
          || last.decoderResult().isFailure(), "a cut answer must not end with a successful last part");
      ReferenceCountUtil.release(msg);
    }
    assertEquals("200", seen.get(0));
  }
}
