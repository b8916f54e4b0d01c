package io.sluice.gateway.proxy;

import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.httpproxy.ProxyContext;
import io.vertx.httpproxy.ProxyInterceptor;
import io.vertx.httpproxy.ProxyResponse;

/**
 * Adds X-Forwarded-For/-Proto/-Host and drops the headers a {@code Connection} header names as hop-by-hop (the
 * proxy already drops the standard hop-by-hop set).
 */
final class ForwardingInterceptor implements ProxyInterceptor {

  @Override
  public Future<ProxyResponse> handleProxyRequest(ProxyContext context) {
    HttpServerRequest incoming = context.request().proxiedRequest();
    MultiMap headers = context.request().headers();
    dropConnectionListed(headers);
    String client = new HttpRequestInfo(incoming).clientIp();
    String prior = headers.get("X-Forwarded-For");
    headers.set("X-Forwarded-For", prior == null || prior.isBlank() ? client : prior + ", " + client);
    headers.set("X-Forwarded-Proto", incoming.isSSL() ? "https" : "http");
    if (incoming.authority() != null) {
      headers.set("X-Forwarded-Host", incoming.authority().toString());
    }
    return context.sendRequest();
  }

  @Override
  public Future<Void> handleProxyResponse(ProxyContext context) {
    dropConnectionListed(context.response().headers());
    return context.sendResponse();
  }

  private static void dropConnectionListed(MultiMap headers) {
    for (String connection : headers.getAll("Connection")) {
      for (String token : connection.split(",")) {
        String name = token.trim();
        if (!name.isEmpty() && !name.equalsIgnoreCase("close") && !name.equalsIgnoreCase("keep-alive")) {
          headers.remove(name);
        }
      }
    }
  }
}
