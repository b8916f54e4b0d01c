package io.sluice.gateway.proxy;

import io.vertx.core.Future;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.httpproxy.OriginRequestProvider;
import io.vertx.httpproxy.ProxyContext;

import java.net.URI;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * Picks the upstream for each forwarded request, round-robin, with the configured response timeout. Once the
 * connection is ready, and only then, the request's rate-limit slots are confirmed: this is the instant it leaves.
 */
final class UpstreamPool implements OriginRequestProvider {

  static final String CHOSEN = "sluice.upstream";

  private final List<Upstream> upstreams;
  private final long timeoutMillis;
  private final AtomicInteger next = new AtomicInteger();
  private final Function<ProxyContext, Future<Void>> beforeSend;

  UpstreamPool(List<URI> uris, long timeoutMillis, Function<ProxyContext, Future<Void>> beforeSend) {
    this.upstreams = uris.stream().map(Upstream::of).toList();
    this.timeoutMillis = timeoutMillis;
    this.beforeSend = beforeSend;
  }

  @Override
  public Future<HttpClientRequest> create(ProxyContext context) {
    Upstream upstream = upstreams.get(Math.floorMod(next.getAndIncrement(), upstreams.size()));
    context.set(CHOSEN, upstream.label());
    RequestOptions options = new RequestOptions()
        .setServer(upstream.address())
        .setHost(upstream.host())
        .setPort(upstream.port())
        .setSsl(upstream.ssl())
        .setConnectTimeout(timeoutMillis)
        .setIdleTimeout(timeoutMillis);
    return context.client().request(options).compose(request -> beforeSend.apply(context).transform(ready -> {
      if (ready.failed()) {
        request.reset();
        return Future.failedFuture(ready.cause());
      }
      return Future.succeededFuture(request);
    }));
  }

  record Upstream(String host, int port, boolean ssl) {
    static Upstream of(URI uri) {
      boolean ssl = "https".equalsIgnoreCase(uri.getScheme());
      int port = uri.getPort() > 0 ? uri.getPort() : ssl ? 443 : 80;
      return new Upstream(uri.getHost(), port, ssl);
    }

    SocketAddress address() {
      return SocketAddress.inetSocketAddress(port, host);
    }

    String label() {
      return host + ":" + port;
    }
  }
}
