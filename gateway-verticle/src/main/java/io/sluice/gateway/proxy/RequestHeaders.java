package io.sluice.gateway.proxy;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.util.AsciiString;

/**
 * A request's headers as the decoder fills them, validated like Netty's defaults, that also remember how many
 * {@code Content-Length} fields the client sent: Netty folds several into one before anyone can look (for HTTP/1.0 it
 * keeps the first), and a request with more than one is ambiguous, so {@link RequestCheck} must see them.
 */
final class RequestHeaders extends DefaultHttpHeaders {

  private static final DefaultHttpHeadersFactory VALIDATING = DefaultHttpHeadersFactory.headersFactory();

  /** Makes these headers for the proxy port's decoder. */
  static final HttpHeadersFactory FACTORY = new HttpHeadersFactory() {
    @Override
    public HttpHeaders newHeaders() {
      return new RequestHeaders();
    }

    @Override
    public HttpHeaders newEmptyHeaders() {
      return new RequestHeaders();
    }
  };

  private int contentLengthFields;

  private RequestHeaders() {
    super(VALIDATING.getNameValidator(), VALIDATING.getValueValidator());
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

  /** How many Content-Length fields were received, before any folding. */
  int contentLengthFields() {
    return contentLengthFields;
  }
}
