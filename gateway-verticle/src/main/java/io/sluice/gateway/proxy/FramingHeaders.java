package io.sluice.gateway.proxy;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.util.AsciiString;

/**
 * Headers as a decoder fills them that also remember how many {@code Content-Length} fields were received: Netty
 * folds several into one (for HTTP/1.0 it keeps the first) and drops it beside {@code Transfer-Encoding: chunked}
 * before anyone can look, and a message framed both ways, or with several lengths, is ambiguous. {@link RequestCheck}
 * refuses such requests; {@code netty.UpstreamConnection} treats such responses as invalid.
 */
public final class FramingHeaders extends DefaultHttpHeaders {

  /** For requests from clients: names and values validated, as Netty does by default. */
  public static final HttpHeadersFactory VALIDATING = factory(DefaultHttpHeadersFactory.headersFactory());
  /** For responses from the configured upstreams: passed on as they are, not validated again. */
  public static final HttpHeadersFactory TRUSTING = factory(DefaultHttpHeadersFactory.headersFactory().withValidation(false));

  private int contentLengthFields;

  private FramingHeaders(DefaultHttpHeadersFactory validation) {
    super(validation.getNameValidator(), validation.getValueValidator());
  }

  private static HttpHeadersFactory factory(DefaultHttpHeadersFactory validation) {
    return new HttpHeadersFactory() {
      @Override
      public HttpHeaders newHeaders() {
        return new FramingHeaders(validation);
      }

      @Override
      public HttpHeaders newEmptyHeaders() {
        return new FramingHeaders(validation);
      }
    };
  }

  /** Whether {@code headers} (filled by a decoder using these) arrived with several lengths, or a length and chunked. */
  public static boolean ambiguous(HttpHeaders headers) {
    return headers instanceof FramingHeaders received && (received.contentLengthFields > 1
        || received.contentLengthFields > 0 && headers.contains(HttpHeaderNames.TRANSFER_ENCODING));
  }

  @Override
  public HttpHeaders add(CharSequence name, Object value) {
    if (AsciiString.contentEqualsIgnoreCase(name, HttpHeaderNames.CONTENT_LENGTH)) {
      contentLengthFields++;
    }
    return super.add(name, value);
  }

  @Override
  public HttpHeaders add(String name, Object value) {
    return add((CharSequence) name, value);
  }
}
