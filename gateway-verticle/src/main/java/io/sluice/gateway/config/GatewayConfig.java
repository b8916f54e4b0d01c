package io.sluice.gateway.config;

import io.sluice.gateway.limit.OnStoreFailure;
import io.sluice.gateway.limit.Policy;

import java.net.URI;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;

/**
 * The gateway's configuration after validation. Built only by {@link ConfigLoader}. {@code upstreamTrust}: the
 * certificates https upstreams are verified against; empty = the JDK's trusted certificates. {@code httpTls}: present
 * when the proxy port speaks TLS (only).
 */
public record GatewayConfig(Endpoint http, Endpoint management, List<URI> upstreams,
                            List<X509Certificate> upstreamTrust, long upstreamTimeoutMillis,
                            UpstreamPool upstreamPool, long shutdownGraceMillis, long clientIdleTimeoutMillis,
                            Limiter limiter, Warmup warmup, List<Policy> policies, HttpLimits httpLimits,
                            Optional<Tls> httpTls, Engine engine, boolean h2c, AccessLog accessLog,
                            Optional<String> adminToken, boolean vertxMetrics) {

  /**
   * One line for the log at startup: every setting as it is in force, trusted certificates by subject, never a private
   * key (see {@link Tls#toString}) nor the admin token.
   */
  @Override
  public String toString() {
    return "http=" + http + " " + httpLimits + " tls=" + httpTls.map(Tls::toString).orElse("off")
        + " management=" + management + " adminApi=" + (adminToken.isPresent() ? "on" : "off")
        + " upstreams=" + upstreams
        + " upstreamTrust=" + upstreamTrust.stream().map(c -> c.getSubjectX500Principal().getName()).toList()
        + " upstreamTimeout=" + upstreamTimeoutMillis + "ms " + upstreamPool
        + " shutdownGrace=" + shutdownGraceMillis + "ms clientIdleTimeout=" + clientIdleTimeoutMillis + "ms "
        + limiter + " " + warmup + " engine=" + engine.name().toLowerCase(java.util.Locale.ROOT) + " h2c=" + h2c
        + " accessLog=" + accessLog.name().toLowerCase(java.util.Locale.ROOT) + " vertxMetrics=" + vertxMetrics
        + " policies=" + policies;
  }

  /**
   * The access log ({@code accessLog}): none, one line per answered request in the Common Log Format, or one JSON
   * object per line. Written to the logger {@code sluice.access} (stdout by default, through a queue that never makes
   * an event loop wait).
   */
  public enum AccessLog { OFF, COMMON, JSON }

  /**
   * What serves the proxy port ({@code proxy.engine}): Vert.x's HttpServer with vertx-http-proxy ({@code vertx}, the
   * default: HTTP/1.x, and HTTP/2 over TLS by ALPN, and in clear text when {@code proxy.h2c} is true) or the
   * hand-written Netty proxy ({@code netty}: HTTP/1.x only, less CPU per request); see docs/vertx-engine.md.
   */
  public enum Engine { NETTY, VERTX }

  /** Where a server listens. Port 0 picks a free port. */
  public record Endpoint(String host, int port) {
  }

  /**
   * Keep-alive connections per upstream and event loop ({@code connections}); once that many are open, idempotent
   * requests without a body may share one, at most {@code pipelining} in flight (1 turns pipelining off).
   */
  public record UpstreamPool(int connections, int pipelining) {
  }

  /**
   * Where limiter state lives: the Hazelcast map name (clustered) and the cap on keys; what a clustered gateway does
   * when that map does not answer a decision's call within {@code storeTimeoutMillis}. With
   * {@code batch}, a clustered gateway sends the store calls of one event-loop turn as one message per owning member
   * (see docs/batching.md); off by default. {@code transitAllowanceMillis} ({@code limiter.transitAllowance}) is
   * carried by each policy's {@link io.sluice.gateway.limit.WindowSpec}; it is kept here too for policies that come
   * later (a policy document applied while the gateway runs).
   */
  public record Limiter(String mapName, int maxKeys, OnStoreFailure onStoreFailure, long storeTimeoutMillis,
                        boolean batch, long transitAllowanceMillis) {

    /** Without batching. */
    public Limiter(String mapName, int maxKeys, OnStoreFailure onStoreFailure, long storeTimeoutMillis) {
      this(mapName, maxKeys, onStoreFailure, storeTimeoutMillis, false);
    }

    /** With the default transit allowance. */
    public Limiter(String mapName, int maxKeys, OnStoreFailure onStoreFailure, long storeTimeoutMillis,
                   boolean batch) {
      this(mapName, maxKeys, onStoreFailure, storeTimeoutMillis, batch,
          io.sluice.gateway.limit.WindowSpec.DEFAULT_TRANSIT_MILLIS);
    }

    /** The same settings on another map (tests give each gateway group a map of its own). */
    public Limiter withMapName(String otherMapName) {
      return new Limiter(otherMapName, maxKeys, onStoreFailure, storeTimeoutMillis, batch, transitAllowanceMillis);
    }
  }

  /** Requests the gateway sends through itself, unlimited, before it reports ready (0 = none). */
  public record Warmup(String path, int requests) {
  }

  /**
   * What the proxy port accepts from a client: a request body of at most {@code maxBodySize} bytes (0 = no limit), a
   * request line of at most {@code maxRequestLine} bytes, a header block of at most {@code maxHeaderSize} bytes and
   * {@code maxHeaders} header fields; at most {@code maxConnections} client connections open at once (the gateway's
   * whole, whatever its number of event loops).
   */
  public record HttpLimits(long maxBodySize, int maxRequestLine, int maxHeaderSize, int maxHeaders,
                           int maxConnections) {
  }

  /**
   * A TLS server identity: its certificate chain (the server's own certificate first) and that certificate's private
   * key, checked to belong together.
   */
  public record Tls(List<X509Certificate> chain, PrivateKey key) {

    /** Names the certificate; never prints the key. */
    @Override
    public String toString() {
      return "Tls[" + chain.get(0).getSubjectX500Principal() + ", " + chain.size() + " certificate(s)]";
    }
  }
}
