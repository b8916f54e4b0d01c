package io.sluice.gateway.proxy.netty;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.proxy.GatewayStats;
import io.vertx.core.net.TrustOptions;

import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS on the proxy port ({@code http.tls.*}): TLS 1.3 and 1.2 only, with the JDK's cipher suites for them as Netty
 * filters them (AEAD first); ALPN selects only {@code http/1.1}, the one protocol this engine speaks. A connection
 * whose handshake fails (an older protocol, plain HTTP, a reset) is closed and counted, without a log line; one that
 * never finishes its handshake is closed after the client idle timeout, like any connection that keeps the gateway
 * waiting on its client.
 */
final class ClientTls {

  private ClientTls() {
  }

  static SslContext serverContext(GatewayConfig.Tls tls) {
    try {
      return SslContextBuilder.forServer(tls.key(), tls.chain().toArray(new X509Certificate[0]))
          .sslProvider(SslProvider.JDK)
          .protocols("TLSv1.3", "TLSv1.2")
          .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
              // a client that offers only other protocols (h2) goes on without ALPN, and gets HTTP/1.1
              ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
              ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
              ApplicationProtocolNames.HTTP_1_1))
          .build();
    } catch (SSLException e) {
      throw new IllegalStateException("cannot set up TLS on the proxy port: " + e.getMessage(), e);
    }
  }

  /** Puts TLS first in a new client connection's pipeline. */
  static void addTo(Channel channel, SslContext context, GatewayStats stats) {
    SslHandler handler = context.newHandler(channel.alloc());
    // no timer of its own: ProxyServer's idle sweep closes a handshake that stalls, under clientIdleTimeout
    handler.setHandshakeTimeoutMillis(0);
    channel.pipeline().addLast(handler, new HandshakeOutcome(stats));
  }

  /**
   * What the gateway's own warm-up client trusts: exactly the proxy port's certificate. Its host name is not checked
   * (the warm-up connects to an address, and the certificate names the public host).
   */
  static TrustOptions trustingOnly(GatewayConfig.Tls tls) {
    try {
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      store.setCertificateEntry("proxy-port", tls.chain().get(0));
      TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      factory.init(store);
      return TrustOptions.wrap(factory);
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException("cannot trust the proxy port's certificate: " + e.getMessage(), e);
    }
  }

  /** Counts and closes a connection whose handshake failed. */
  private static final class HandshakeOutcome extends ChannelInboundHandlerAdapter {
    private final GatewayStats stats;

    HandshakeOutcome(GatewayStats stats) {
      this.stats = stats;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
      if (event instanceof SslHandshakeCompletionEvent done && !done.isSuccess()) {
        stats.tlsHandshakeFailures.increment();
        ctx.close();
      }
      ctx.fireUserEventTriggered(event);
    }
  }
}
