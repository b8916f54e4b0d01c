package io.sluice.gateway.proxy;

import io.sluice.gateway.config.GatewayConfig;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/**
 * One line per answered request ({@code accessLog}), for both engines: what the client asked and what it got. The
 * line is built only when the log is on, and handed to the logger {@value #LOGGER}, whose appender queues it (see
 * logback.xml): the event loop never waits on the output. What a client sent as a key (a header, a bearer token) is
 * never in it; the client's address is, as in every access log.
 */
public final class AccessLog {

  /** The logger the lines go to; logback.xml sends it to stdout, apart from the gateway's own log. */
  public static final String LOGGER = "sluice.access";
  /** The Common Log Format's time, e.g. {@code 02/Dec/2026:01:59:23 +0000}. */
  private static final DateTimeFormatter COMMON_TIME =
      DateTimeFormatter.ofPattern("dd/MMM/yyyy:HH:mm:ss Z", Locale.US).withZone(ZoneOffset.UTC);
  /**
   * Characters shown as they are in a Common Log Format line; any other is written as {@code \xHH} (beyond Latin-1:
   * a backslash, u and four hex digits), so that a line is always one line and its quotes are the format's.
   */
  private static final String PLAIN = "!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`"
      + "abcdefghijklmnopqrstuvwxyz{|}~";

  private static final Logger LOG = LoggerFactory.getLogger(LOGGER);
  private static final AccessLog OFF = new AccessLog(GatewayConfig.AccessLog.OFF);

  private final GatewayConfig.AccessLog format;

  private AccessLog(GatewayConfig.AccessLog format) {
    this.format = format;
  }

  public static AccessLog of(GatewayConfig.AccessLog format) {
    return format == GatewayConfig.AccessLog.OFF ? OFF : new AccessLog(format);
  }

  /** Whether lines are written: an engine asks before it gathers what a line needs. */
  public boolean enabled() {
    return format != GatewayConfig.AccessLog.OFF && LOG.isInfoEnabled();
  }

  /**
   * Logs one answered request.
   *
   * @param bytes body bytes sent to the client, or -1 if not known
   * @param startedNanos {@link System#nanoTime()} when the request's head arrived
   */
  public void answered(String client, String method, String target, String protocol, int status, long bytes,
                       long startedNanos) {
    if (!enabled()) {
      return;
    }
    long now = System.currentTimeMillis();
    double millis = (System.nanoTime() - startedNanos) / 1_000_000.0;
    LOG.info(format == GatewayConfig.AccessLog.JSON
        ? json(client, method, target, protocol, status, bytes, now, millis)
        : common(client, method, target, protocol, status, bytes, now));
  }

  static String common(String client, String method, String target, String protocol, int status, long bytes,
                       long nowMillis) {
    return client + " - - [" + COMMON_TIME.format(Instant.ofEpochMilli(nowMillis)) + "] \"" + plain(method) + " "
        + plain(target) + " " + protocol + "\" " + status + " " + (bytes < 0 ? "-" : Long.toString(bytes));
  }

  static String json(String client, String method, String target, String protocol, int status, long bytes,
                     long nowMillis, double millis) {
    JsonObject line = new JsonObject()
        .put("time", Instant.ofEpochMilli(nowMillis).toString())
        .put("client", client)
        .put("method", method)
        .put("target", target)
        .put("protocol", protocol)
        .put("status", status);
    if (bytes >= 0) {
      line.put("bytes", bytes);
    }
    return line.put("durationMs", Math.round(millis * 1000) / 1000.0).encode();
  }

  /** The text with every character outside printable ASCII, and the quote and backslash, escaped: one line. */
  private static String plain(String text) {
    StringBuilder out = null;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (PLAIN.indexOf(c) >= 0) {
        if (out != null) {
          out.append(c);
        }
        continue;
      }
      if (out == null) {
        out = new StringBuilder(text.length() + 8).append(text, 0, i);
      }
      out.append(c < 0x100 ? String.format("\\x%02x", (int) c) : "\\" + String.format("u%04x", (int) c));
    }
    return out == null ? text : out.toString();
  }
}
