package io.sluice.gateway.proxy.vertx;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.sluice.gateway.proxy.RequestCheck;
import io.vertx.core.http.HttpServerOptions;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The vertx engine's request decoder below the socket: raw bytes in an {@link EmbeddedChannel}, what comes out. */
@DisplayName("The vertx engine's strict request decoder")
class StrictRequestDecoderTest {

  private static final long MAX_BODY = 16;

  private final List<RequestCheck.Refusal> refusals = new ArrayList<>();
  private final List<Boolean> bodyPending = new ArrayList<>();
  private final List<String> trailers = new ArrayList<>();

  private EmbeddedChannel channel() {
    return new EmbeddedChannel(new StrictRequestDecoder(new HttpServerOptions(), MAX_BODY, refusals::add,
        new StrictRequestDecoder.Activity() {
          @Override
          public void bytesArrived() {
          }

          @Override
          public void bodyPending(boolean pending) {
            bodyPending.add(pending);
          }

          @Override
          public void trailers(int request, io.netty.handler.codec.http.HttpHeaders fields) {
            trailers.add(request + " " + fields.entries());
          }
        }, 0));
  }

  /** Feeds {@code raw} ({@code |} for CRLF), in pieces split at {@code ^}, and returns what was decoded. */
  private List<Object> decode(EmbeddedChannel channel, String raw) {
    for (String piece : raw.replace("|", "\r\n").split("\\^")) {
      channel.writeInbound(Unpooled.copiedBuffer(piece, StandardCharsets.ISO_8859_1));
    }
    List<Object> out = new ArrayList<>();
    for (Object msg = channel.readInbound(); msg != null; msg = channel.readInbound()) {
      out.add(msg);
    }
    return out;
  }

  private static HttpRequest head(List<Object> decoded, int index) {
    return (HttpRequest) decoded.stream().filter(HttpRequest.class::isInstance).toList().get(index);
  }

  @Test
  @DisplayName("a plain request passes, and its body's start and end are reported")
  void plainRequestPasses() {
    EmbeddedChannel channel = channel();
    List<Object> decoded = decode(channel, "POST /p HTTP/1.1|Host: h|Content-Length: 5||^hello");
    assertTrue(head(decoded, 0).decoderResult().isSuccess());
    assertTrue(decoded.get(decoded.size() - 1) instanceof LastHttpContent);
    assertEquals(List.of(true, false), bodyPending);
    assertTrue(refusals.isEmpty());
    decoded.forEach(ReferenceCountUtil::release);
  }

  @Test
  @DisplayName("a broken body of a pipelined request is told after that request is counted (the engine answers it in its turn)")
  void brokenBodyOfAPipelinedRequestIsCounted() {
    EmbeddedChannel channel = (EmbeddedChannel) channel();
    StrictRequestDecoder decoder = channel.pipeline().get(StrictRequestDecoder.class);
    List<Object> decoded = decode(channel,
        "GET /a HTTP/1.1|Host: h||POST /b HTTP/1.1|Host: h|Transfer-Encoding: chunked||2|a|0||GET /c HTTP/1.1|Host: h||");
    assertEquals(2, decoder.decoded(), "the GET and the POST whose body broke; nothing after");
    assertEquals(1, refusals.size());
    assertEquals(List.of(), decode(channel, "GET /later HTTP/1.1|Host: h||"));
    decoded.forEach(ReferenceCountUtil::release);
  }

  @Test
  @DisplayName("trailer fields are told with the number of the request they end (Vert.x's server drops them)")
  void trailersAreToldWithTheirRequest() {
    EmbeddedChannel channel = channel();
    List<Object> decoded = decode(channel, "GET /a HTTP/1.1|Host: h||POST /b HTTP/1.1|Host: h|Transfer-Encoding: chunked||"
        + "2|ab|0|X-Sum: 1|X-Sum: 2||POST /c HTTP/1.1|Host: h|Transfer-Encoding: chunked||0||");
    assertEquals(List.of("2 [X-Sum=1, X-Sum=2]"), trailers);
    decoded.forEach(ReferenceCountUtil::release);
  }

  @Test
  @DisplayName("Content-Length beside chunked fails the head, and nothing after it is decoded (no smuggled request)")
  void contentLengthBesideChunkedFails() {
    EmbeddedChannel channel = channel();
    List<Object> decoded = decode(channel,
        "POST /a HTTP/1.1|Host: h|Content-Length: 44|Transfer-Encoding: chunked||0||GET /admin HTTP/1.1|Host: h||");
    assertFalse(head(decoded, 0).decoderResult().isSuccess());
    assertEquals(1, decoded.size(), "nothing after the failed head: " + decoded);
    assertEquals(List.of(), decode(channel, "GET /later HTTP/1.1|Host: h||"));
    decoded.forEach(ReferenceCountUtil::release);
  }

  @Test
  @DisplayName("a folded header line fails the head, whichever way the bytes are split")
  void obsFoldFailsTheHead() {
    for (String raw : List.of("GET / HTTP/1.1|Host: h|X-A: 1| folded||", "GET / HTTP/1.1|Host: h|X-A: 1|^ folded||",
        "GET / HTTP/1.1|Host: h|X-A: 1\r^\n folded||")) {
      EmbeddedChannel channel = channel();
      List<Object> decoded = decode(channel, raw);
      assertFalse(head(decoded, 0).decoderResult().isSuccess(), raw);
      decoded.forEach(ReferenceCountUtil::release);
    }
  }

  @Test
  @DisplayName("an invalid chunk-size line stops decoding and is reported as a 400, not passed on as a failure")
  void badChunkLineIsReported() {
    EmbeddedChannel channel = channel();
    List<Object> decoded = decode(channel, "POST /c HTTP/1.1|Host: h|Transfer-Encoding: chunked||^5 ;x=\u0001|hello|0||");
    assertTrue(head(decoded, 0).decoderResult().isSuccess());
    assertTrue(decoded.stream().noneMatch(LastHttpContent.class::isInstance), "the body never ends: " + decoded);
    assertEquals(1, refusals.size());
    assertEquals(400, refusals.get(0).status());
    decoded.forEach(ReferenceCountUtil::release);
  }

  @Test
  @DisplayName("a chunked body that grows past the limit is reported as a 413, and its excess is not passed on")
  void chunkedBodyOverTheLimit() {
    EmbeddedChannel channel = channel();
    List<Object> decoded = decode(channel,
        "POST /c HTTP/1.1|Host: h|Transfer-Encoding: chunked||^a|0123456789|^a|0123456789|0||");
    long passed = decoded.stream().filter(HttpContent.class::isInstance)
        .mapToLong(c -> ((HttpContent) c).content().readableBytes()).sum();
    assertTrue(passed <= MAX_BODY, "passed on " + passed + " bytes");
    assertEquals(1, refusals.size());
    assertEquals(413, refusals.get(0).status());
    decoded.forEach(ReferenceCountUtil::release);
  }
}
