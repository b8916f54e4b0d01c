package io.sluice.gateway.proxy.vertx;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.http.HttpClientOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link UpstreamGuard} behind the codec it installs, on an {@link EmbeddedChannel}: requests written as Vert.x writes
 * them, answers fed as bytes, one {@code writeInbound} per socket read.
 */
class UpstreamGuardTest {

  private final EmbeddedChannel channel = new EmbeddedChannel();

  UpstreamGuardTest() {
    channel.pipeline().addLast(UpstreamGuard.CODEC, new HttpClientCodec());
    UpstreamGuard.install(channel.pipeline(), new HttpClientOptions());
  }

  @AfterEach
  void close() {
    channel.finishAndReleaseAll();
  }

  private void get() {
    channel.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/"));
    releaseOutbound();
  }

  private void releaseOutbound() {
    for (Object out; (out = channel.readOutbound()) != null; ) {
      ReferenceCountUtil.release(out);
    }
  }

  /** Writes the head of a POST whose 5-byte body is still to come. */
  private void postHeadOfFiveBytes() {
    DefaultHttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/u");
    head.headers().set(HttpHeaderNames.CONTENT_LENGTH, 5);
    channel.writeOutbound(head);
    releaseOutbound();
  }

  /** One socket read: the messages the guard let through, in order. */
  private List<HttpObject> read(String bytes) {
    channel.writeInbound(Unpooled.copiedBuffer(bytes, StandardCharsets.ISO_8859_1));
    List<HttpObject> passed = new ArrayList<>();
    for (Object in; (in = channel.readInbound()) != null; ) {
      passed.add((HttpObject) in);
    }
    return passed;
  }

  private static String body(List<HttpObject> passed) {
    StringBuilder text = new StringBuilder();
    for (HttpObject object : passed) {
      if (object instanceof HttpContent content) {
        text.append(content.content().toString(StandardCharsets.ISO_8859_1));
        content.release();
      }
    }
    return text.toString();
  }

  @Test
  void aSoundAnswerPassesUntouchedAndTheConnectionStays() {
    get();
    List<HttpObject> passed = read("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok");
    HttpResponse head = (HttpResponse) passed.get(0);
    assertTrue(head.decoderResult().isSuccess());
    assertEquals(List.of("keep-alive"), head.headers().getAll(HttpHeaderNames.CONNECTION));
    assertInstanceOf(LastHttpContent.class, passed.get(passed.size() - 1));
    assertEquals("ok", body(passed));
    assertTrue(channel.isOpen());
  }

  @Test
  void anAnswerFramedTwoWaysFailsAndClosesTheConnection() {
    get();
    List<HttpObject> passed = read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "5\r\nhello\r\n0\r\n\r\n");
    assertEquals(1, passed.size());
    HttpResponse head = (HttpResponse) passed.get(0);
    assertTrue(head.decoderResult().isFailure());
    assertTrue(head.decoderResult().cause().getMessage().contains("framed two ways"), head.decoderResult().cause().getMessage());
    assertFalse(channel.isOpen());
  }

  @Test
  void anInvalidFirstChunkReadWithItsHeadFailsTheAnswer() {
    get();
    List<HttpObject> passed = read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
    assertEquals(1, passed.size());
    assertTrue(passed.get(0).decoderResult().cause().getMessage().contains("invalid first chunk"), passed.get(0).decoderResult().cause().getMessage());
    assertFalse(channel.isOpen());
  }

  @Test
  void aChunkedHeadIsHeldNoLongerThanTheReadThatBroughtIt() {
    get();
    List<HttpObject> first = read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assertEquals(1, first.size());
    assertInstanceOf(HttpResponse.class, first.get(0));
    assertTrue(first.get(0).decoderResult().isSuccess());
    List<HttpObject> rest = read("5\r\nhello\r\n0\r\n\r\n");
    assertEquals("hello", body(rest));
    assertInstanceOf(LastHttpContent.class, rest.get(rest.size() - 1));
    assertTrue(channel.isOpen());
  }

  @Test
  void aValidFirstChunkReleasesTheHeadBeforeIt() {
    get();
    List<HttpObject> passed = read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assertInstanceOf(HttpResponse.class, passed.get(0));
    assertEquals("hello", body(passed));
    // the next answer on the connection is read afresh
    get();
    List<HttpObject> next = read("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
    assertTrue(((HttpResponse) next.get(0)).decoderResult().isSuccess());
    assertEquals("x", body(next));
  }

  @Test
  void a204ThatAnnouncesABodyRetiresTheConnectionKeepingTheFieldsItsConnectionNamed() {
    get();
    List<HttpObject> passed = read("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nConnection: X-Trace\r\n"
        + "X-Trace: 1\r\n\r\nhello");
    HttpResponse head = (HttpResponse) passed.get(0);
    assertEquals(204, head.status().code());
    // Vert.x reads the first value: close; the forwarding rules read them all and still drop X-Trace
    assertEquals("close", head.headers().get(HttpHeaderNames.CONNECTION));
    assertEquals(List.of("close", "X-Trace"), head.headers().getAll(HttpHeaderNames.CONNECTION));
  }

  @Test
  void bodilessAnswersWithoutALengthKeepTheConnection() {
    get();
    HttpResponse noContent = (HttpResponse) read("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").get(0);
    assertFalse(noContent.headers().contains(HttpHeaderNames.CONNECTION));
    get();
    HttpResponse notModified = (HttpResponse) read("HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n").get(0);
    assertFalse(notModified.headers().contains(HttpHeaderNames.CONNECTION));
  }

  @Test
  void a304WithTheRepresentationsLengthRetiresTheConnectionAsTheNettyEngineDoes() {
    get();
    HttpResponse head = (HttpResponse) read("HTTP/1.1 304 Not Modified\r\nContent-Length: 120\r\n\r\n").get(0);
    assertEquals("close", head.headers().get(HttpHeaderNames.CONNECTION));
  }

  @Test
  void anAnswerBeforeTheRequestBodyWasAllSentRetiresTheConnection() {
    postHeadOfFiveBytes();
    HttpResponse early = (HttpResponse) read("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").get(0);
    assertEquals("close", early.headers().get(HttpHeaderNames.CONNECTION));
  }

  @Test
  void anAnswerAfterTheWholeBodyKeepsTheConnection() {
    postHeadOfFiveBytes();
    channel.writeOutbound(new DefaultLastHttpContent(Unpooled.copiedBuffer("hello", StandardCharsets.US_ASCII)));
    releaseOutbound();
    HttpResponse answer = (HttpResponse) read("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").get(0);
    assertFalse(answer.headers().contains(HttpHeaderNames.CONNECTION));
  }

  @Test
  void interimAnswersPassAndDoNotCountAsTheAnswer() {
    DefaultHttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/u");
    head.headers().set(HttpHeaderNames.CONTENT_LENGTH, 5);
    head.headers().set(HttpHeaderNames.EXPECT, "100-continue");
    channel.writeOutbound(head);
    releaseOutbound();
    List<HttpObject> interim = read("HTTP/1.1 100 Continue\r\n\r\n");
    assertEquals(100, ((HttpResponse) interim.get(0)).status().code());
    assertFalse(((HttpResponse) interim.get(0)).headers().contains(HttpHeaderNames.CONNECTION));
    channel.writeOutbound(new DefaultLastHttpContent(Unpooled.copiedBuffer("hello", StandardCharsets.US_ASCII)));
    releaseOutbound();
    List<HttpObject> passed = read("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    assertEquals(201, ((HttpResponse) passed.get(0)).status().code());
    assertFalse(((HttpResponse) passed.get(0)).headers().contains(HttpHeaderNames.CONNECTION));
    assertEquals("ok", body(passed));
  }

  @Test
  void afterASwitchBytesPassUntouched() {
    DefaultFullHttpRequest upgrade = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, "/ws");
    upgrade.headers().set(HttpHeaderNames.CONNECTION, "Upgrade").set(HttpHeaderNames.UPGRADE, "websocket");
    channel.writeOutbound(upgrade);
    releaseOutbound();
    List<HttpObject> passed = read("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    assertEquals(101, ((HttpResponse) passed.get(0)).status().code());
    // Vert.x removes the codec after a switch; the guard then sees raw bytes and passes them on
    channel.pipeline().remove(UpstreamGuard.CODEC);
    channel.writeInbound(Unpooled.copiedBuffer(new byte[] {(byte) 0x81, 0x00}));
    ByteBuf frame = channel.readInbound();
    assertEquals(2, frame.readableBytes());
    frame.release();
  }

  @Test
  void aHeadAnswerWithChunkedFramingIsNotHeld() {
    channel.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.HEAD, "/"));
    releaseOutbound();
    List<HttpObject> passed = read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assertEquals(2, passed.size());
    assertInstanceOf(LastHttpContent.class, passed.get(1));
    assertTrue(channel.isOpen());
  }

  private UpstreamGuard guard() {
    return (UpstreamGuard) channel.pipeline().get(UpstreamGuard.NAME);
  }

  private String written() {
    StringBuilder bytes = new StringBuilder();
    for (Object out; (out = channel.readOutbound()) != null; ) {
      ByteBuf buffer = (ByteBuf) out;
      bytes.append(buffer.toString(StandardCharsets.ISO_8859_1));
      buffer.release();
    }
    return bytes.toString();
  }

  private static DefaultHttpRequest chunkedPost() {
    DefaultHttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/c");
    head.headers().set(HttpHeaderNames.TRANSFER_ENCODING, "chunked");
    return head;
  }

  @Test
  void aChunkedRequestsTrailerFieldsGoOnItsLastChunk() {
    io.netty.handler.codec.http.HttpHeaders fields = new io.netty.handler.codec.http.DefaultHttpHeaders();
    fields.add("X-Checksum", "42");
    guard().trailersOfNext(() -> fields);
    channel.writeOutbound(chunkedPost());
    channel.writeOutbound(new io.netty.handler.codec.http.DefaultHttpContent(
        Unpooled.copiedBuffer("hello", StandardCharsets.US_ASCII)));
    channel.writeOutbound(LastHttpContent.EMPTY_LAST_CONTENT);
    assertTrue(written().endsWith("5\r\nhello\r\n0\r\nX-Checksum: 42\r\n\r\n"));
    // the next request carries none
    channel.writeOutbound(chunkedPost());
    channel.writeOutbound(LastHttpContent.EMPTY_LAST_CONTENT);
    assertTrue(written().endsWith("\r\n\r\n0\r\n\r\n"));
  }

  @Test
  void trailerFieldsAreAskedForWhenTheBodyEnds() {
    io.netty.handler.codec.http.HttpHeaders fields = new io.netty.handler.codec.http.DefaultHttpHeaders();
    guard().trailersOfNext(() -> fields);
    channel.writeOutbound(chunkedPost());
    // they arrive from the client after the request left
    fields.add("X-Late", "yes");
    channel.writeOutbound(new DefaultLastHttpContent(Unpooled.copiedBuffer("hi", StandardCharsets.US_ASCII)));
    assertTrue(written().endsWith("2\r\nhi\r\n0\r\nX-Late: yes\r\n\r\n"));
  }

  @Test
  void aWholeRequestWithTrailersIsWrittenAsAHeadAndALastChunk() {
    io.netty.handler.codec.http.HttpHeaders fields = new io.netty.handler.codec.http.DefaultHttpHeaders();
    fields.add("X-Only", "trailer");
    guard().trailersOfNext(() -> fields);
    DefaultFullHttpRequest whole = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/c");
    whole.headers().set(HttpHeaderNames.TRANSFER_ENCODING, "chunked");
    channel.writeOutbound(whole);
    String bytes = written();
    assertTrue(bytes.startsWith("POST /c HTTP/1.1\r\n"), bytes);
    assertTrue(bytes.endsWith("\r\n\r\n0\r\nX-Only: trailer\r\n\r\n"), bytes);
    assertEquals(0, whole.refCnt());
  }

  @Test
  void aConnectionWithoutVertxsCodecIsLeftAlone() {
    EmbeddedChannel other = new EmbeddedChannel();
    UpstreamGuard.install(other.pipeline(), new HttpClientOptions());
    assertNull(other.pipeline().get(UpstreamGuard.NAME));
    other.finishAndReleaseAll();
  }
}
