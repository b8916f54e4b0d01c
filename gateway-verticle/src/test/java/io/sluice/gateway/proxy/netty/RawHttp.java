package io.sluice.gateway.proxy.netty;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** HTTP/1.1 as the bytes on the wire, for the tests below the socket: what they send, and reading back what came. */
final class RawHttp {

  static final String OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  static final String UPGRADE = "GET /ws HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\n"
      + "Upgrade: websocket\r\n\r\n";
  static final String SWITCHED = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
      + "Upgrade: websocket\r\n\r\n";

  private RawHttp() {
  }

  static String get(String path) {
    return "GET " + path + " HTTP/1.1\r\nHost: example.test\r\n\r\n";
  }

  /** What was written to {@code channel}'s peer since the last look, as text. */
  static String written(EmbeddedChannel channel) {
    StringBuilder text = new StringBuilder();
    for (Object msg = channel.readOutbound(); msg != null; msg = channel.readOutbound()) {
      if (msg instanceof ByteBuf bytes) {
        text.append(bytes.toString(StandardCharsets.ISO_8859_1));
      } else {
        text.append("<").append(msg.getClass().getSimpleName()).append(">");
      }
      ReferenceCountUtil.release(msg);
    }
    return text.toString();
  }

  static void assertAnswer(String status, String written) {
    assertTrue(written.startsWith("HTTP/1.1 " + status + " "), () -> "expected " + status + ", got: " + written);
  }

  static int count(String text, String part) {
    int found = 0;
    for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + part.length())) {
      found++;
    }
    return found;
  }
}
