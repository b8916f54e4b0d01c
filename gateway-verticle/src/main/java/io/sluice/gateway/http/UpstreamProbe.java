package io.sluice.gateway.http;

import io.sluice.gateway.proxy.UpstreamFailures;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Whether each upstream accepts TCP connections: checked once before the gateway reports ready, then every
 * {@code recheckMillis}, and shown on {@code /health/ready}. Readiness does not depend on it: a gateway that is not
 * ready is taken out of its load balancer, and its clients would get "connection refused" instead of a 502 that says
 * which upstream failed. What it does instead is log: one warning per unreachable upstream at startup, then one line
 * each time an upstream goes away or comes back. A TCP connect is all it tries (no TLS handshake, no request).
 */
public final class UpstreamProbe {

  /** How often upstreams are checked again after startup. */
  public static final long RECHECK_MILLIS = 10_000;
  /** The longest a check waits for a connection, whatever the upstream timeout. */
  static final long MAX_CONNECT_MILLIS = 3_000;
  static final Logger LOG = LoggerFactory.getLogger(UpstreamProbe.class);

  private final Vertx vertx;
  private final List<URI> upstreams;
  private final long connectMillis;
  private final long recheckMillis;
  private NetClient client;
  /** Upstream (as configured) → reachable at the last check; empty before the first. */
  private volatile Map<String, Boolean> reachable = Map.of();
  private final AtomicReference<Future<Void>> first = new AtomicReference<>();
  private long timer = -1;

  public UpstreamProbe(Vertx vertx, List<URI> upstreams, long upstreamTimeoutMillis, long recheckMillis) {
    this.vertx = vertx;
    this.upstreams = List.copyOf(upstreams);
    this.connectMillis = Math.max(1, Math.min(upstreamTimeoutMillis, MAX_CONNECT_MILLIS));
    this.recheckMillis = recheckMillis;
  }

  /**
   * The startup check (run once, however many instances ask), then periodic ones. Never fails: an unreachable
   * upstream is logged and shown, not fatal.
   */
  public Future<Void> checkAtStartup() {
    Promise<Void> promise = Promise.promise();
    if (!first.compareAndSet(null, promise.future())) {
      return first.get();
    }
    client = vertx.createNetClient(new NetClientOptions().setConnectTimeout((int) connectMillis));
    checkAll().onComplete(results -> {
      results.result().forEach((upstream, failure) -> {
        if (failure != null) {
          LOG.warn("upstream {} is unreachable: {}; the gateway reports ready anyway, and requests sent there get 502 "
              + "until it answers", upstream, failure);
        }
      });
      if (recheckMillis > 0) {
        timer = vertx.setPeriodic(recheckMillis, id -> recheck());
      }
      promise.complete();
    });
    return promise.future();
  }

  /** {@code UP} when the last check reached every upstream, {@code DOWN} when it missed one, else {@code UNKNOWN}. */
  public String summary() {
    Map<String, Boolean> now = reachable;
    if (now.isEmpty()) {
      return "UNKNOWN";
    }
    return now.containsValue(false) ? "DOWN" : "UP";
  }

  /** Each upstream and UP or DOWN. */
  public JsonObject details() {
    JsonObject json = new JsonObject();
    reachable.forEach((upstream, up) -> json.put(upstream, up ? "UP" : "DOWN"));
    return json;
  }

  public Future<Void> stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    return client == null ? Future.succeededFuture() : client.close();
  }

  private void recheck() {
    Map<String, Boolean> before = reachable;
    checkAll().onSuccess(results -> results.forEach((upstream, failure) -> {
      Boolean was = before.get(upstream);
      if (failure != null && !Boolean.FALSE.equals(was)) {
        LOG.warn("upstream {} became unreachable: {}", upstream, failure);
      } else if (failure == null && Boolean.FALSE.equals(was)) {
        LOG.info("upstream {} is reachable again", upstream);
      }
    }));
  }

  /** Upstream → null if a connection opened, else why not; also records the outcome. */
  private Future<Map<String, String>> checkAll() {
    List<Future<String>> attempts = new ArrayList<>();
    for (URI upstream : upstreams) {
      attempts.add(connect(upstream));
    }
    return Future.join(attempts).transform(done -> {
      Map<String, String> results = new LinkedHashMap<>();
      Map<String, Boolean> now = new LinkedHashMap<>();
      for (int i = 0; i < upstreams.size(); i++) {
        String failure = attempts.get(i).result();
        results.put(upstreams.get(i).toString(), failure);
        now.put(upstreams.get(i).toString(), failure == null);
      }
      reachable = now;
      return Future.succeededFuture(results);
    });
  }

  private Future<String> connect(URI upstream) {
    int port = upstream.getPort() >= 0 ? upstream.getPort() : upstream.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    String label = upstream.getHost() + ":" + port;
    return client.connect(port, upstream.getHost()).transform(done -> {
      if (done.succeeded()) {
        done.result().close();
        return Future.succeededFuture((String) null);
      }
      LOG.debug("connecting to upstream {} failed", label, done.cause());
      return Future.succeededFuture(UpstreamFailures.describe(label, done.cause(), connectMillis));
    });
  }
}
