package io.sluice.gateway.proxy.netty;

import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.ReferenceCountUtil;
import io.sluice.gateway.proxy.RequestCheck;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The request head checks below the socket: raw bytes through the proxy port's own {@link ServerCodec} in an
 * {@link EmbeddedChannel}, then {@link RequestCheck}. The conformance suite replays the same kinds of request over real
 * sockets; this is where a new rule is tried first.
 */
@DisplayName("Request checks on decoded heads")
class RequestCheckTest {

  private static final long MAX_BODY = 1_000;
  private final RequestCheck check = new RequestCheck(MAX_BODY, 10);

  /** Decodes {@code raw} (with {@code \r\n} written as {@code |}) and checks the first request. */
  private RequestCheck.Verdict verdict(String raw) {
    EmbeddedChannel channel = new EmbeddedChannel(new ServerCodec(new HttpDecoderConfig()
        .setMaxInitialLineLength(256).setMaxHeaderSize(1024)));
    channel.writeInbound(Unpooled.copiedBuffer(raw.replace("|", "\r\n"), StandardCharsets.ISO_8859_1));
    HttpRequest request = null;
    for (Object msg = channel.readInbound(); msg != null; msg = channel.readInbound()) {
      if (request == null && msg instanceof HttpRequest head) {
        request = head;
      }
      ReferenceCountUtil.release(msg);
    }
    channel.finishAndReleaseAll();
    assertNotNull(request, "the codec produced no request from: " + raw);
    return check.check(request);
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @DisplayName("refused heads get their status")
  @CsvSource(delimiter = ';', value = {
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: xchunked||; 400",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked|Transfer-Encoding: identity||; 400",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked, gzip||; 400",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: gzip, chunked||; 501",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked, chunked||; 400",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: ,||; 400",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: ||; 400",
      "POST / HTTP/1.0|Host: a|Transfer-Encoding: chunked||; 400",
      "POST / HTTP/1.1|Host: a|Content-Length: 3|Transfer-Encoding: chunked||; 400",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: xchunked|Content-Length: 3||; 400",
      "POST / HTTP/1.1|Host: a|Content-Length: +5||; 400",
      "POST / HTTP/1.1|Host: a|Content-Length: -1||; 400",
      "POST / HTTP/1.1|Host: a|Content-Length: 0x10||; 400",
      "POST / HTTP/1.1|Host: a|Content-Length: 5 5||; 400",
      "POST / HTTP/1.1|Host: a|Content-Length: 1|Content-Length: 2||; 400",
      "POST / HTTP/1.0|Host: a|Content-Length: 1|Content-Length: 2||; 400",
      "POST / HTTP/1.1|Host: a|Content-Length: 99999999999999999999||; 400",
      "POST / HTTP/1.1|Host: a|Content-Length: 1001||; 413",
      "GET / HTTP/1.1||; 400",
      "GET / HTTP/1.1|Host: a|Host: b||; 400",
      "GET / HTTP/1.1|Host: a b||; 400",
      "GET / HTTP/1.1|Host: a/b||; 400",
      "GET / HTTP/1.1|Host: user@a||; 400",
      "GET foo HTTP/1.1|Host: a||; 400",
      "GET * HTTP/1.1|Host: a||; 400",
      "GET //evil/x HTTP/1.1|Host: a||; 400",
      "GET http://user@evil/x HTTP/1.1|Host: a||; 400",
      "GET ftp://evil/x HTTP/1.1|Host: a||; 400",
      "CONNECT a:443 HTTP/1.1|Host: a:443||; 405",
      "GET / HTTP/1.2|Host: a||; 505",
      "GET / HTTP/2.0|Host: a||; 505",
      "GET / HTTP/1.1|Host: a|Expect: 200-ok||; 417",
      "GET / HTTP/1.1|Host: a|Bad Name: x||; 400",
      "GET / HTTP/1.1|Host: a|X: a\u0001b||; 400",
      "GET / HTTP/1.1|Host: a|X: a\u007fb||; 400",
      "GET / HTTP/1.1|Host: a|A: 1|B: 1|C: 1|D: 1|E: 1|F: 1|G: 1|H: 1|I: 1|J: 1||; 431",
      "GET / HTTP/1.1|Host: a|X: b| c||; 400",
      "GET / HTTP/1.1|Host: a|X: b|\tc||; 400",
  })
  void refused(String raw, int status) {
    RequestCheck.Verdict verdict = verdict(raw);
    assertFalse(verdict.passed(), "passed: " + raw);
    assertEquals(status, verdict.refusal().status(), verdict.refusal().detail());
  }

  @ParameterizedTest(name = "{0} -> {1} {2}")
  @DisplayName("well-framed heads pass with the framing the upstream will see")
  @CsvSource(delimiter = ';', value = {
      "GET / HTTP/1.1|Host: a||; NONE; 0",
      "GET / HTTP/1.0||; NONE; 0",
      "OPTIONS * HTTP/1.1|Host: a||; NONE; 0",
      "POST / HTTP/1.1|Host: a|Content-Length: 0||; NONE; 0",
      "POST / HTTP/1.1|Host: a|Content-Length: 1000||; FIXED; 1000",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||; CHUNKED; -1",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: Chunked||; CHUNKED; -1",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked,||; CHUNKED; -1",
      "POST / HTTP/1.1|Host: a|Transfer-Encoding: , chunked||; CHUNKED; -1",
      "GET / HTTP/1.1|Host: [::1]:8080||; NONE; 0",
      "GET / HTTP/1.1|Host: ||; NONE; 0",
  })
  void passed(String raw, RequestCheck.Framing framing, long length) {
    RequestCheck.Verdict verdict = verdict(raw);
    assertTrue(verdict.passed(), () -> verdict.refusal().detail());
    assertEquals(framing, verdict.framing());
    assertEquals(length, verdict.length());
  }

  @Test
  @DisplayName("an absolute-form target becomes origin form, and its authority the Host")
  void absoluteForm() {
    EmbeddedChannel channel = new EmbeddedChannel(new ServerCodec(new HttpDecoderConfig()));
    channel.writeInbound(Unpooled.copiedBuffer("GET http://evil.example:81?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        StandardCharsets.ISO_8859_1));
    HttpRequest request = channel.readInbound();
    assertTrue(check.check(request).passed());
    assertEquals("/?q=1", request.uri());
    assertEquals("evil.example:81", request.headers().get("Host"));
    channel.finishAndReleaseAll();
  }

  @Test
  @DisplayName("Expect: 100-continue and WebSocket upgrades are recognised; h2c upgrades are not switched")
  void expectationsAndUpgrades() {
    assertTrue(verdict("POST / HTTP/1.1|Host: a|Content-Length: 5|Expect: 100-Continue||").expectsContinue());
    assertFalse(verdict("POST / HTTP/1.0|Host: a|Content-Length: 5|Expect: 100-continue||").expectsContinue());
    assertTrue(verdict("GET /ws HTTP/1.1|Host: a|Connection: keep-alive, Upgrade|Upgrade: websocket||").upgrade());
    assertFalse(verdict("GET / HTTP/1.1|Host: a|Connection: Upgrade|Upgrade: h2c||").upgrade());
    assertFalse(verdict("GET / HTTP/1.1|Host: a|Upgrade: websocket||").upgrade());
  }

  @ParameterizedTest(name = "{0}")
  @DisplayName("an invalid chunk-size line reaches the exchange as a failed last body part, whatever the TCP split")
  @ValueSource(strings = {
      "zz|hello|0||",
      "5;\u0001|hello|0||",
      "5 x|hello|0||",
      " 5|hello|0||",
      "5;=v|hello|0||",
      "5 |hello|0||",
      "5\t|hello|0||",
      "5 ; |hello|0||",
      "5;a=\"unterminated|hello|0||",
      "5|helloXY0||",
      "fffffffffffffffff|hello|0||",
  })
  void invalidChunkIsFailedContent(String body) {
    String raw = ("POST / HTTP/1.1|Host: a|Transfer-Encoding: chunked||" + body).replace("|", "\r\n");
    for (int split = 1; split < raw.length(); split += 7) {
      EmbeddedChannel channel = new EmbeddedChannel(new ServerCodec(new HttpDecoderConfig()));
      channel.writeInbound(Unpooled.copiedBuffer(raw.substring(0, split), StandardCharsets.ISO_8859_1));
      channel.writeInbound(Unpooled.copiedBuffer(raw.substring(split), StandardCharsets.ISO_8859_1));
      HttpRequest request = channel.readInbound();
      assertTrue(check.check(request).passed());
      boolean failed = false;
      for (Object msg = channel.readInbound(); msg != null; msg = channel.readInbound()) {
        failed |= msg instanceof HttpContent part && Exchange.isLast(part) && part.decoderResult().isFailure();
        ReferenceCountUtil.release(msg);
      }
      assertTrue(failed, "no failed body part at split " + split + " of " + raw);
      channel.finishAndReleaseAll();
    }
  }

  @Test
  @DisplayName("valid chunk extensions and trailers pass, and the request after them is decoded")
  void validChunkExtensionsPass() {
    EmbeddedChannel channel = new EmbeddedChannel(new ServerCodec(new HttpDecoderConfig()));
    channel.writeInbound(Unpooled.copiedBuffer(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ; a=b;c=\"d e\"\r\nhello\r\n0\r\n"
            + "X-T: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n", StandardCharsets.ISO_8859_1));
    int requests = 0;
    for (Object msg = channel.readInbound(); msg != null; msg = channel.readInbound()) {
      if (msg instanceof HttpRequest request) {
        requests++;
        assertTrue(check.check(request).passed());
      }
      if (msg instanceof HttpContent part) {
        assertTrue(part.decoderResult().isSuccess(), part.decoderResult().toString());
      }
      ReferenceCountUtil.release(msg);
    }
    assertEquals(2, requests);
    channel.finishAndReleaseAll();
  }

  @Test
  @DisplayName("the first invalid chunk size of a request is a failed last body part")
  void firstInvalidChunkIsFailedContent() {
    EmbeddedChannel channel = new EmbeddedChannel(new ServerCodec(new HttpDecoderConfig()));
    channel.writeInbound(Unpooled.copiedBuffer(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        StandardCharsets.ISO_8859_1));
    HttpRequest request = channel.readInbound();
    assertTrue(check.check(request).passed());
    HttpContent body = channel.readInbound();
    assertTrue(Exchange.isLast(body) && body.decoderResult().isFailure());
    body.release();
    channel.finishAndReleaseAll();
  }
}
