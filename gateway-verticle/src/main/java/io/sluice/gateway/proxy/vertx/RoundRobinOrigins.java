package io.sluice.gateway.proxy.vertx;

import io.vertx.core.Future;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.httpproxy.OriginRequestProvider;
import io.vertx.httpproxy.ProxyContext;

import java.net.URI;
import java.util.List;

/**
 * Upstreams in turn, one request each, from the pooled client; the request leaves only once the gate has confirmed
 * it for the instant its connection is ready (see {@link VertxExchange#leave}). Event-loop confined.
 */
final class RoundRobinOrigins implements OriginRequestProvider {

  private record Origin(String label, RequestOptions options) {
  }

  private final List<Origin> origins;
  private int next;

  RoundRobinOrigins(List<URI> upstreams, long timeoutMillis) {
    this.origins = upstreams.stream().map(uri -> origin(uri, timeoutMillis)).toList();
  }

  private static Origin origin(URI uri, long timeoutMillis) {
    boolean tls = "https".equalsIgnoreCase(uri.getScheme());
    int port = uri.getPort() > 0 ? uri.getPort() : tls ? 443 : 80;
    RequestOptions options = new RequestOptions()
        .setServer(SocketAddress.inetSocketAddress(port, uri.getHost()))
        .setHost(uri.getHost())
        .setPort(port)
        .setSsl(tls)
        // the idle timeout (no byte from the upstream for upstreamTimeout) is armed once the body is sent: see
        // VertxExchange#awaitUpstream
        .setConnectTimeout(timeoutMillis);
    return new Origin(uri.getHost() + ":" + port, options);
  }

  @Override
  public Future<HttpClientRequest> create(ProxyContext context) {
    Origin origin = origins.get(next);
    next = (next + 1) % origins.size();
    VertxExchange exchange = context.get(GatewayInterceptor.EXCHANGE, VertxExchange.class);
    return exchange.leave(origin.label(), () -> context.client().request(origin.options()));
  }
}
