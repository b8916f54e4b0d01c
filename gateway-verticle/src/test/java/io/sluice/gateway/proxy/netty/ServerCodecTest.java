package io.sluice.gateway.proxy.netty;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.sluice.gateway.proxy.PreparedResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static io.sluice.gateway.proxy.netty.RawHttp.get;
import static io.sluice.gateway.proxy.netty.RawHttp.written;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The proxy port's codec below the socket: raw requests in, what it decodes; answers out, the bytes it makes of them.
 * Besides what Netty's server codec does: prepared answers, HEAD remembered across interim answers, smuggling and
 * broken chunks refused, and decoding held after an upgrade request.
 */
@DisplayName("Proxy port codec on an embedded channel")
class ServerCodecTest {

  private final EmbeddedChannel channel = new EmbeddedChannel(new ServerCodec(new HttpDecoderConfig()));

  @AfterEach
  void close() {
    channel.finishAndReleaseAll();
  }

  private static FullHttpResponse ok() {
    FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
        Unpooled.copiedBuffer("ok", StandardCharsets.ISO_8859_1));
    response.headers().set(HttpHeaderNames.CONTENT_LENGTH, 2);
    return response;
  }

  /** Feeds {@code raw} from the client; returns what was decoded (see {@link #decoded}). */
  private List<String> receive(String raw) {
    channel.writeInbound(Unpooled.copiedBuffer(raw, StandardCharsets.ISO_8859_1));
    return decoded();
  }

  /** What came through the codec since the last look, as "METHOD uri", "body:..", "end", "failed", "raw:..". */
  private List<String> decoded() {
    List<String> seen = new ArrayList<>();
    for (Object msg = channel.readInbound(); msg != null; msg = channel.readInbound()) {
      if (msg instanceof HttpRequest request) {
        seen.add(request.method() + " " + request.uri() + (request.decoderResult().isFailure() ? " failed" : ""));
      }
      if (msg instanceof HttpContent content) {
        if (content.content().isReadable()) {
          seen.add("body:" + content.content().toString(StandardCharsets.ISO_8859_1));
        }
        if (content.decoderResult().isFailure()) {
          seen.add("failed");
        } else if (content instanceof LastHttpContent) {
          seen.add("end");
        }
      }
      if (msg instanceof ByteBuf bytes) {
        seen.add("raw:" + bytes.toString(StandardCharsets.ISO_8859_1));
      }
      ReferenceCountUtil.release(msg);
    }
    return seen;
  }

  @Test
  @DisplayName("pipelined requests are decoded in order, each ended by its last part")
  void pipelined() {
    assertEquals(List.of("GET /a", "end", "POST /b", "body:hi", "end", "GET /c", "end"),
        receive(get("/a") + "POST /b HTTP/1.1\r\nHost: example.test\r\nContent-Length: 2\r\n\r\nhi" + get("/c")));
  }

  @Test
  @DisplayName("the answer to a HEAD goes without its body, the next answer with it")
  void headThenGet() {
    receive("HEAD /a HTTP/1.1\r\nHost: example.test\r\n\r\n" + get("/b"));
    channel.writeOutbound(ok());
    assertTrue(written(channel).endsWith("content-length: 2\r\n\r\n"));
    channel.writeOutbound(ok());
    assertTrue(written(channel).endsWith("\r\n\r\nok"));
  }

  @Test
  @DisplayName("an interim 100 does not use up the HEAD it precedes: the final answer still goes without a body")
  void interimKeepsMethod() {
    receive("HEAD /a HTTP/1.1\r\nHost: example.test\r\n\r\n");
    channel.writeOutbound(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE));
    channel.writeOutbound(ok());
    String sent = written(channel);
    assertTrue(sent.startsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), sent);
    assertTrue(sent.endsWith("content-length: 2\r\n\r\n"), sent);
  }

  @Test
  @DisplayName("a prepared answer goes out as its bytes, and as its head alone to a HEAD")
  void prepared() {
    PreparedResponse prepared = PreparedResponse.of(ok());
    receive(get("/a") + "HEAD /b HTTP/1.1\r\nHost: example.test\r\n\r\n");
    channel.writeOutbound(prepared);
    assertTrue(written(channel).endsWith("\r\n\r\nok"));
    channel.writeOutbound(prepared);
    assertTrue(written(channel).endsWith("content-length: 2\r\n\r\n"));
  }

  @Test
  @DisplayName("Content-Length beside chunked marks the request failed")
  void smuggling() {
    List<String> seen = receive("POST /a HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3\r\n"
        + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assertEquals("POST /a failed", seen.get(0));
  }

  @Test
  @DisplayName("a header folded onto the line before (obs-fold) marks the request failed")
  void obsFold() {
    List<String> seen = receive("GET /a HTTP/1.1\r\nHost: example.test\r\nX-Long: one\r\n two\r\n\r\n");
    assertEquals("GET /a failed", seen.get(0));
  }

  @Test
  @DisplayName("a broken chunk-size line ends the body failed, and nothing after it is decoded")
  void brokenChunk() {
    assertEquals(List.of("POST /a", "failed"), receive("POST /a HTTP/1.1\r\nHost: example.test\r\n"
        + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + get("/b")));
    assertEquals(List.of(), receive(get("/c")));
  }

  @Test
  @DisplayName("decoding stops after an upgrade request; the bytes behind it come out as they are once the codec goes")
  void heldAfterUpgrade() {
    assertEquals(List.of("GET /ws", "end"), receive("GET /ws HTTP/1.1\r\nHost: example.test\r\n"
        + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe" + get("/b")));
    channel.pipeline().remove(ServerCodec.class);
    assertEquals(List.of("raw:frame" + get("/b")), decoded());
  }

  @Test
  @DisplayName("an h2c upgrade, which the gateway does not make, does not stop decoding")
  void h2cIsNoUpgrade() {
    assertEquals(List.of("GET /a", "end", "GET /b", "end"), receive("GET /a HTTP/1.1\r\nHost: example.test\r\n"
        + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        + get("/b")));
  }

  @Test
  @DisplayName("a request with a body is no upgrade whatever it names: its body and the next request are decoded")
  void bodyIsNoUpgrade() {
    assertEquals(List.of("POST /a", "body:hello", "end", "GET /b", "end"), receive("POST /a HTTP/1.1\r\n"
        + "Host: example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello"
        + get("/b")));
  }

  @Test
  @DisplayName("Upgrade without Connection: Upgrade asks for nothing: the next request is decoded")
  void upgradeNotNamedInConnection() {
    assertEquals(List.of("GET /a", "end", "GET /b", "end"), receive("GET /a HTTP/1.1\r\nHost: example.test\r\n"
        + "Upgrade: websocket\r\n\r\n" + get("/b")));
  }
}
