package io.sluice.gateway.proxy.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.sluice.gateway.proxy.ForwardingHeaders;
import io.sluice.gateway.proxy.FramingHeaders;
import io.vertx.core.spi.transport.Transport;

import java.net.URI;
import java.security.cert.X509Certificate;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * The connections from one event loop to one upstream. A request takes an idle connection, or opens a new one while
 * there are fewer than {@code maxConnections}; past that, idempotent requests without a body are pipelined on the
 * least busy connection (at most {@code pipelineDepth} in flight), and the rest wait their turn here.
 *
 * <p>Requests written during one turn of the event loop are flushed together at its end, so several pipelined
 * requests leave in one write, and the upstream answers them in one.
 */
final class UpstreamLane {

  /** Responses come from the configured upstreams: their headers are passed on as they are, not validated again. */
  private static final HttpDecoderConfig UPSTREAM_DECODER = new HttpDecoderConfig()
      .setMaxHeaderSize(ForwardingHeaders.MAX_UPSTREAM_HEAD_BYTES)
      .setHeadersFactory(FramingHeaders.TRUSTING);

  private final String host;
  private final int port;
  private final EventLoop loop;
  private final Bootstrap bootstrap;
  private final int maxConnections;
  private final int pipelineDepth;
  private final List<UpstreamConnection> connections = new ArrayList<>();
  private final ArrayDeque<Exchange> waiting = new ArrayDeque<>();
  private List<UpstreamConnection> toFlush = new ArrayList<>();
  private final Runnable flushAll = this::flushAll;
  private boolean flushScheduled;
  private boolean closed;
  /**
   * For an https upstream: TLS with host name verification, against the JDK's trusted certificates or those of
   * {@code upstreamTrust}; else null.
   */
  private final SslContext tls;

  /** {@code tls}: the TLS set-up shared by the https upstreams (see {@link #clientTls}); ignored for http ones. */
  UpstreamLane(URI uri, SslContext tls, EventLoop loop, Transport transport, long connectTimeoutMillis,
               int maxConnections, int pipelineDepth) {
    this(uri, tls, loop, new Bootstrap()
        .group(loop)
        .channelFactory(transport.channelFactory(false))
        .option(ChannelOption.TCP_NODELAY, true)
        .option(ChannelOption.SO_KEEPALIVE, true)
        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, connectTimeoutMillis)),
        maxConnections, pipelineDepth);
  }

  /** {@code bootstrap}: how the lane's connections are made, on {@code loop} (tests make embedded channels). */
  UpstreamLane(URI uri, SslContext tls, EventLoop loop, Bootstrap bootstrap, int maxConnections, int pipelineDepth) {
    this.host = uri.getHost();
    this.tls = isHttps(uri) ? tls : null;
    this.port = uri.getPort() > 0 ? uri.getPort() : this.tls != null ? 443 : 80;
    this.loop = loop;
    this.maxConnections = maxConnections;
    this.pipelineDepth = pipelineDepth;
    this.bootstrap = bootstrap;
  }

  static boolean isHttps(URI uri) {
    return "https".equalsIgnoreCase(uri.getScheme());
  }

  /** TLS for https upstreams, against the JDK's trusted certificates or, if any, those of {@code upstreamTrust}. */
  static SslContext clientTls(List<X509Certificate> trust) {
    try {
      SslContextBuilder builder = SslContextBuilder.forClient();
      if (!trust.isEmpty()) {
        builder.trustManager(trust.toArray(new X509Certificate[0]));
      }
      return builder.build();
    } catch (SSLException e) {
      throw new IllegalStateException("cannot set up TLS for https upstreams: " + e.getMessage(), e);
    }
  }

  String label() {
    return host + ":" + port;
  }

  /** Reserves a connection for {@code exchange} (now or when one frees up) and tells it so. */
  void acquire(Exchange exchange) {
    if (closed) {
      exchange.upstreamFailed(new IllegalStateException("the gateway is stopping"), false);
      return;
    }
    if (waiting.isEmpty()) {
      UpstreamConnection connection = choose(exchange);
      if (connection != null) {
        connection.reserve();
        exchange.upstreamReady(connection);
        return;
      }
    }
    waiting.add(exchange);
    openIfUseful();
  }

  /**
   * An idle connection if there is one; else null while more may be opened; else, for a request that may share,
   * the least busy connection with room in its pipeline.
   */
  private UpstreamConnection choose(Exchange exchange) {
    UpstreamConnection best = null;
    for (UpstreamConnection connection : connections) {
      if (!connection.usable()) {
        continue;
      }
      if (connection.load() == 0) {
        return connection;
      }
      if (exchange.idempotent() && !connection.exclusive() && connection.load() < pipelineDepth
          && (best == null || connection.load() < best.load())) {
        best = connection;
      }
    }
    return connections.size() < maxConnections ? null : best;
  }

  private void openIfUseful() {
    int connecting = 0;
    for (UpstreamConnection connection : connections) {
      if (connection.connecting()) {
        connecting++;
      }
    }
    if (connections.size() < maxConnections && connecting < waiting.size()) {
      open();
    }
  }

  private void open() {
    UpstreamConnection connection = new UpstreamConnection(this);
    connections.add(connection);
    connect(connection).addListener(done -> {
      if (done.isSuccess()) {
        connection.activated();
        serveWaiting();
      } else {
        connections.remove(connection);
        connectFailed(done.cause());
      }
    });
  }

  /**
   * A connection of its own for {@code exchange}, outside the pool: for a request that asks to switch protocols, whose
   * connection may become a tunnel. It is closed after its answer if it does not.
   */
  void acquireDedicated(Exchange exchange) {
    if (closed) {
      exchange.upstreamFailed(new IllegalStateException("the gateway is stopping"), false);
      return;
    }
    UpstreamConnection connection = new UpstreamConnection(this);
    connection.dedicate();
    connect(connection).addListener(done -> {
      if (done.isSuccess()) {
        connection.activated();
        connection.reserve();
        exchange.upstreamReady(connection);
      } else {
        exchange.upstreamFailed(done.cause(), done.cause() instanceof io.netty.channel.ConnectTimeoutException);
      }
    });
  }

  private ChannelFuture connect(UpstreamConnection connection) {
    ChannelFuture connected = bootstrap.clone()
        .handler(new ChannelInitializer<>() {
          @Override
          protected void initChannel(Channel channel) {
            if (tls != null) {
              SslHandler handler = tls.newHandler(channel.alloc(), host, port);
              SSLParameters parameters = handler.engine().getSSLParameters();
              parameters.setEndpointIdentificationAlgorithm("HTTPS");
              handler.engine().setSSLParameters(parameters);
              channel.pipeline().addLast(handler);
            }
            channel.pipeline().addLast(new UpstreamCodec(UPSTREAM_DECODER), connection);
          }
        })
        .connect(host, port);
    connection.attach(connected.channel());
    return connected;
  }

  private void connectFailed(Throwable cause) {
    boolean timedOut = cause instanceof io.netty.channel.ConnectTimeoutException;
    boolean anyUsable = connections.stream().anyMatch(UpstreamConnection::usable);
    if (!anyUsable) {
      // the upstream is unreachable: everyone waiting learns it now rather than after more attempts
      List<Exchange> failed = new ArrayList<>(waiting);
      waiting.clear();
      for (Exchange exchange : failed) {
        exchange.upstreamFailed(cause, timedOut);
      }
    } else {
      serveWaiting();
    }
  }

  void connectionFreed(UpstreamConnection connection) {
    serveWaiting();
  }

  void connectionClosed(UpstreamConnection connection) {
    connections.remove(connection);
    toFlush.remove(connection);
    serveWaiting();
  }

  private void serveWaiting() {
    while (!waiting.isEmpty()) {
      UpstreamConnection connection = choose(waiting.peek());
      if (connection == null) {
        break;
      }
      connection.reserve();
      waiting.poll().upstreamReady(connection);
    }
    if (!waiting.isEmpty() && !closed) {
      openIfUseful();
    }
  }

  /** Flushes {@code connection} at the end of this turn of the event loop, together with the others written. */
  void flushSoon(UpstreamConnection connection) {
    if (!toFlush.contains(connection)) {
      toFlush.add(connection);
    }
    if (!flushScheduled) {
      flushScheduled = true;
      loop.execute(flushAll);
    }
  }

  private void flushAll() {
    flushScheduled = false;
    List<UpstreamConnection> flushing = toFlush;
    toFlush = new ArrayList<>();
    for (UpstreamConnection connection : flushing) {
      connection.flush();
    }
  }

  void close() {
    closed = true;
    for (UpstreamConnection connection : new ArrayList<>(connections)) {
      connection.closeChannel();
    }
  }
}
