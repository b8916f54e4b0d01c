package io.sluice.gateway.limit;

/**
 * What the limiter may look at in a request: its headers, the client's address, and what a policy's match reads
 * (see {@link RequestRoute}). Both engines give it the request as the checks left it: an absolute target turned into
 * origin form, an HTTP/2 {@code :authority} as {@code Host}.
 */
public interface RequestInfo {

  String header(String name);

  String clientIp();

  /** The method, as sent. */
  String method();

  /** The request target in origin form ({@code /path?query}), or {@code *}. */
  String target();

  /** The {@code Host} field as sent (host and maybe port), or null when there is none. */
  String host();
}
