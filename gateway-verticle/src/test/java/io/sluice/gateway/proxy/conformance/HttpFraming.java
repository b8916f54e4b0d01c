package io.sluice.gateway.proxy.conformance;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Just enough HTTP/1.1 framing for the suite's two ends: splitting a byte stream into requests (the upstream, to
 * answer each pipelined request in turn and to compare what it received) and into responses (the client). Lenient
 * on purpose: it is a measuring instrument, not a validator; what it cannot frame is kept as unparsed bytes.
 * Bytes are ISO-8859-1 strings (one char per byte).
 */
final class HttpFraming {

  private HttpFraming() {
  }

  /** A header or trailer field as received: name as sent, value without surrounding whitespace. */
  record Field(String name, String value) {
    boolean is(String other) {
      return name.equalsIgnoreCase(other);
    }
  }

  /** A parsed message (request or response). */
  record Message(String startLine, List<Field> fields, boolean chunked, String data, List<Field> trailers,
                 boolean complete, int end) {

    /** All values of a field, joined by ", " (as a list-valued field may be); null when absent. */
    String field(String name) {
      return join(fields, name);
    }

    String trailer(String name) {
      return join(trailers, name);
    }

    int status() {
      String[] parts = startLine.split(" ", 3);
      try {
        return parts.length > 1 ? Integer.parseInt(parts[1]) : -1;
      } catch (NumberFormatException e) {
        return -1;
      }
    }

    String method() {
      int space = startLine.indexOf(' ');
      return space < 0 ? startLine : startLine.substring(0, space);
    }
  }

  private static String join(List<Field> fields, String name) {
    List<String> values = new ArrayList<>();
    for (Field f : fields) {
      if (f.is(name)) {
        values.add(f.value());
      }
    }
    return values.isEmpty() ? null : String.join(", ", values);
  }

  /** Where a head ends (just past its empty line), or -1 if it has not all arrived. */
  static int headEnd(String bytes, int from) {
    int end = bytes.indexOf("\r\n\r\n", from);
    return end < 0 ? -1 : end + 4;
  }

  /** The head starting at {@code from}; null if incomplete. Fields are split at the first colon. */
  static Message head(String bytes, int from) {
    int end = headEnd(bytes, from);
    if (end < 0) {
      return null;
    }
    String[] lines = bytes.substring(from, end - 4).split("\r\n", -1);
    List<Field> fields = new ArrayList<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon > 0) {
        fields.add(new Field(lines[i].substring(0, colon), lines[i].substring(colon + 1).strip()));
      } else {
        fields.add(new Field(lines[i], ""));
      }
    }
    return new Message(lines[0], fields, false, "", List.of(), false, end);
  }

  /** A request starting at {@code from}: complete, or null if it has not all arrived or cannot be framed. */
  static Message request(String bytes, int from) {
    Message head = head(bytes, from);
    if (head == null) {
      return null;
    }
    if (chunkedLast(head.field("Transfer-Encoding"))) {
      return chunked(bytes, head, false);
    }
    String length = head.field("Content-Length");
    long n = 0;
    if (length != null) {
      try {
        n = Long.parseLong(length.split(",")[0].strip());
      } catch (NumberFormatException e) {
        return null;
      }
      if (n < 0 || n > Integer.MAX_VALUE) {
        return null;
      }
    }
    return fixed(bytes, head, n, false);
  }

  /** Whether a Transfer-Encoding value ends with the chunked coding. */
  private static boolean chunkedLast(String te) {
    if (te == null) {
      return false;
    }
    String[] codings = te.split(",");
    return codings[codings.length - 1].strip().equalsIgnoreCase("chunked");
  }

  /** Every complete request in {@code bytes}, in order; what follows them is unparsed. */
  static List<Message> requests(String bytes) {
    List<Message> out = new ArrayList<>();
    int at = 0;
    for (Message m = request(bytes, at); m != null && m.end() > at; m = request(bytes, at)) {
      out.add(m);
      at = m.end();
    }
    return out;
  }

  static int endOf(List<Message> messages) {
    return messages.isEmpty() ? 0 : messages.get(messages.size() - 1).end();
  }

  /**
   * The responses the client received. {@code methods} are the methods of the requests it sent, in order (a HEAD's
   * answer has no body); {@code closed} whether the stream ended (a close-delimited body is complete only then).
   * The last response may be incomplete; after a 101, the rest is the tunnel, not parsed.
   */
  static List<Message> responses(String bytes, List<String> methods, boolean closed) {
    List<Message> out = new ArrayList<>();
    int at = 0;
    int finals = 0;
    while (at < bytes.length()) {
      Message head = head(bytes, at);
      if (head == null || !head.startLine().startsWith("HTTP/") || head.status() < 0) {
        break;
      }
      int status = head.status();
      String method = finals < methods.size() ? methods.get(finals) : "GET";
      Message m;
      if (status == 101) {
        m = fixed(bytes, head, 0, true);
        out.add(m);
        break;
      } else if (status >= 100 && status < 200) {
        m = fixed(bytes, head, 0, true);
      } else {
        finals++;
        String te = head.field("Transfer-Encoding");
        String length = head.field("Content-Length");
        if (method.equals("HEAD") || status == 204 || status == 304) {
          m = fixed(bytes, head, 0, true);
        } else if (chunkedLast(te)) {
          m = chunked(bytes, head, true);
        } else if (length != null && length.strip().matches("\\d{1,18}")) {
          m = fixed(bytes, head, Long.parseLong(length.strip()), true);
        } else {
          m = new Message(head.startLine(), head.fields(), false, bytes.substring(head.end()), List.of(), closed,
              bytes.length());
        }
      }
      out.add(m);
      if (!m.complete()) {
        break;
      }
      at = m.end();
    }
    return out;
  }

  private static Message fixed(String bytes, Message head, long length, boolean partialOk) {
    long available = bytes.length() - head.end();
    if (available < length) {
      return partialOk ? new Message(head.startLine(), head.fields(), false, bytes.substring(head.end()), List.of(),
          false, bytes.length()) : null;
    }
    int end = head.end() + (int) length;
    return new Message(head.startLine(), head.fields(), false, bytes.substring(head.end(), end), List.of(), true, end);
  }

  private static Message chunked(String bytes, Message head, boolean partialOk) {
    StringBuilder data = new StringBuilder();
    int at = head.end();
    while (true) {
      int lineEnd = bytes.indexOf("\r\n", at);
      if (lineEnd < 0) {
        break;
      }
      String sizeText = bytes.substring(at, lineEnd);
      int semicolon = sizeText.indexOf(';');
      long size;
      try {
        size = Long.parseLong((semicolon < 0 ? sizeText : sizeText.substring(0, semicolon)).strip(), 16);
      } catch (NumberFormatException e) {
        break;
      }
      if (size < 0 || size > Integer.MAX_VALUE) {
        break;
      }
      if (size == 0) {
        // trailer section: fields until an empty line
        List<Field> trailers = new ArrayList<>();
        int t = lineEnd + 2;
        while (true) {
          int e = bytes.indexOf("\r\n", t);
          if (e < 0) {
            return partial(bytes, head, data, partialOk);
          }
          if (e == t) {
            return new Message(head.startLine(), head.fields(), true, data.toString(), trailers, true, e + 2);
          }
          String line = bytes.substring(t, e);
          int colon = line.indexOf(':');
          trailers.add(colon > 0 ? new Field(line.substring(0, colon), line.substring(colon + 1).strip())
              : new Field(line, ""));
          t = e + 2;
        }
      }
      long dataEnd = lineEnd + 2 + size;
      if (dataEnd + 2 > bytes.length()) {
        if (dataEnd <= bytes.length()) {
          data.append(bytes, lineEnd + 2, (int) dataEnd);
        } else {
          data.append(bytes, lineEnd + 2, bytes.length());
        }
        break;
      }
      if (!bytes.startsWith("\r\n", (int) dataEnd)) {
        break;
      }
      data.append(bytes, lineEnd + 2, (int) dataEnd);
      at = (int) dataEnd + 2;
    }
    return partial(bytes, head, data, partialOk);
  }

  private static Message partial(String bytes, Message head, StringBuilder data, boolean partialOk) {
    return partialOk ? new Message(head.startLine(), head.fields(), true, data.toString(), List.of(), false,
        bytes.length()) : null;
  }
}
