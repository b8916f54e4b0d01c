package io.sluice.gateway.proxy.vertx;

import io.sluice.gateway.config.GatewayConfig;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.KeyCertOptions;
import io.vertx.core.net.TrustOptions;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * TLS on the vertx engine's proxy port ({@code http.tls.*}): TLS 1.3 and 1.2 only, as the Netty engine; ALPN offers
 * {@code h2} first, then {@code http/1.1} (a client that names neither gets HTTP/1.1). A handshake that has not
 * finished after the client idle timeout is closed, as a connection that keeps the gateway waiting on its client.
 */
final class ServerTls {

  private static final char[] IN_MEMORY = new char[0];

  private ServerTls() {
  }

  static void apply(HttpServerOptions options, GatewayConfig.Tls tls, long handshakeMillis) {
    options.setSsl(true)
        .setKeyCertOptions(KeyCertOptions.wrap(keyManagers(tls)))
        .setEnabledSecureTransportProtocols(new LinkedHashSet<>(List.of("TLSv1.3", "TLSv1.2")))
        .setUseAlpn(true)
        .setAlpnVersions(List.of(HttpVersion.HTTP_2, HttpVersion.HTTP_1_1))
        .setSslHandshakeTimeout(handshakeMillis)
        .setSslHandshakeTimeoutUnit(TimeUnit.MILLISECONDS);
  }

  /**
   * What the gateway's own warm-up client trusts: exactly the proxy port's certificate (its host name is not checked:
   * the warm-up connects to an address).
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

  private static KeyManagerFactory keyManagers(GatewayConfig.Tls tls) {
    try {
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(null, null);
      store.setKeyEntry("proxy-port", tls.key(), IN_MEMORY, tls.chain().toArray(new X509Certificate[0]));
      KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      factory.init(store, IN_MEMORY);
      return factory;
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException("cannot set up TLS on the proxy port: " + e.getMessage(), e);
    }
  }
}
