package io.sluice.gateway.proxy.vertx;

import io.netty.handler.codec.http.HttpHeaders;
import io.sluice.gateway.proxy.RequestCheck;
import io.sluice.gateway.proxy.GatewayStats;
import io.vertx.core.http.HttpConnection;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;

/**
 * Closes client connections that have waited on their client for {@code clientIdleTimeout}: no request in progress
 * since then (an idle keep-alive connection, or a request head that never completed), or no byte of a forwarded
 * request's body for that long (the {@link StrictRequestDecoder} reports what arrives). Vert.x's own idle timeout
 * cannot be used: it also counts time spent waiting on the upstream or on a delayed request's slot. Event-loop
 * confined.
 */
final class IdleConnections {

  /** One client connection: requests in progress, and the sweep at which it last became idle. */
  /** Trailer fields kept per connection for requests not sent yet (pipelined ones decoded ahead). */
  static final int MAX_PENDING_TRAILERS = 8;

  static final class State {
    private int active;
    private long idleSince;
    /** The sweep at which bytes last arrived. */
    private long lastBytes;
    /** A request body has begun and not ended (decoder). */
    private boolean bodyPending;
    /** What waits for the end of the current request body. */
    private Runnable onBodyEnd;
    /** A forwarded request's body is being read (the proxy pipes it). */
    private boolean readingBody;
    /** The request the decoder reads now: the latest one to arrive. */
    private VertxExchange latest;
    /** The connection's request decoder (HTTP/1.x only). */
    private StrictRequestDecoder decoder;
    /**
     * The gateway answered with a close: a request Vert.x decoded behind that answer and hands over once it is
     * written is not served (HTTP/1.1 pipelining; RFC 9112 §9.6, nothing after the close is processed).
     */
    private boolean closing;

    /** Requests handed to the engine on this connection; Vert.x hands pipelined requests over one at a time. */
    private int dispatched;
    /**
     * The answer for a request whose body broke while it still waited behind others in Vert.x's queue (its number on
     * the connection in {@link #brokenRequest}): it gets this answer, and the close, when its turn comes.
     */
    private RequestCheck.Refusal brokenRefusal;
    private int brokenRequest;

    /** Counts a request handed over; returns the answer it gets instead of being served, or null. */
    RequestCheck.Refusal dispatch() {
      dispatched++;
      return brokenRefusal != null && dispatched == brokenRequest ? brokenRefusal : null;
    }

    int dispatched() {
      return dispatched;
    }

    /**
     * Trailer fields of requests whose chunked bodies ended (by their number on the connection), until the request
     * sent upstream takes them. Those of a request refused (never sent) are dropped once a later request's arrive,
     * and at most {@link #MAX_PENDING_TRAILERS} are kept: a client sending refused requests with trailers on one
     * connection cannot make the list grow.
     */
    private ArrayDeque<Map.Entry<Integer, HttpHeaders>> trailers;

    void trailers(int request, HttpHeaders fields) {
      if (trailers == null) {
        trailers = new ArrayDeque<>(2);
      }
      while (!trailers.isEmpty()
          && (trailers.peekFirst().getKey() < dispatched || trailers.size() >= MAX_PENDING_TRAILERS)) {
        trailers.pollFirst();
      }
      trailers.add(Map.entry(request, fields));
    }

    int pendingTrailers() {
      return trailers == null ? 0 : trailers.size();
    }

    /** The trailer fields of request {@code request}, or none; those of earlier requests are forgotten. */
    HttpHeaders takeTrailers(int request) {
      while (trailers != null && !trailers.isEmpty() && trailers.peekFirst().getKey() <= request) {
        Map.Entry<Integer, HttpHeaders> first = trailers.pollFirst();
        if (first.getKey() == request) {
          return first.getValue();
        }
      }
      return null;
    }

    void brokenWhileQueued(int request, RequestCheck.Refusal refusal) {
      brokenRequest = request;
      brokenRefusal = refusal;
    }

    boolean closing() {
      return closing;
    }

    void markClosing() {
      closing = true;
    }

    StrictRequestDecoder decoder() {
      return decoder;
    }

    void decoder(StrictRequestDecoder decoder) {
      this.decoder = decoder;
    }

    VertxExchange latest() {
      return latest;
    }

    void latest(VertxExchange exchange) {
      latest = exchange;
    }
  }

  /** The state of {@code connection}, or null if it is not tracked (closed). */
  State of(HttpConnection connection) {
    return connections.get(connection);
  }

  private final Map<HttpConnection, State> connections = new HashMap<>();
  private final long idleSweeps;
  private final GatewayStats stats;
  private long sweeps;

  /** A connection idle since sweep n is closed at sweep n + idleSweeps + 1. */
  IdleConnections(long idleSweeps, GatewayStats stats) {
    this.idleSweeps = idleSweeps;
    this.stats = stats;
  }

  void opened(HttpConnection connection) {
    State state = new State();
    state.idleSince = sweeps;
    connections.put(connection, state);
    connection.closeHandler(v -> connections.remove(connection));
  }

  /** A request began on {@code connection}; the returned state is handed back to {@link #ended}. */
  State started(HttpConnection connection) {
    State state = connections.get(connection);
    if (state != null) {
      state.active++;
    }
    return state;
  }

  void ended(State state) {
    if (state != null) {
      state.readingBody = false;
    }
    if (state != null && state.active > 0) {
      state.active--;
      state.idleSince = sweeps;
    }
  }

  /** {@code connection} is no longer HTTP (a tunnel): something else watches it. */
  void forget(HttpConnection connection) {
    connections.remove(connection);
  }

  /** Bytes arrived on the connection (the decoder says so). */
  void bytesArrived(State state) {
    state.lastBytes = sweeps;
  }

  /** A request head with a body to come was decoded ({@code true}), or its body's end ({@code false}). */
  void bodyPending(State state, boolean pending) {
    state.bodyPending = pending;
    if (!pending && state.onBodyEnd != null) {
      Runnable then = state.onBodyEnd;
      state.onBodyEnd = null;
      then.run();
    }
  }

  /** Runs {@code then} once the connection's current request body has all arrived (now, if it has). */
  void whenBodyEnds(State state, Runnable then) {
    if (state == null || !state.bodyPending) {
      then.run();
    } else {
      state.onBodyEnd = then;
    }
  }

  /** The request being answered now reads its body from the client: the connection waits on the client meanwhile. */
  void readingBody(State state) {
    if (state != null) {
      state.readingBody = true;
      state.lastBytes = sweeps;
    }
  }

  void sweep() {
    long now = ++sweeps;
    for (Map.Entry<HttpConnection, State> entry : new ArrayList<>(connections.entrySet())) {
      State state = entry.getValue();
      boolean stalledBody = state.readingBody && state.bodyPending && now - state.lastBytes > idleSweeps;
      if (state.active == 0 && now - state.idleSince > idleSweeps || stalledBody) {
        stats.idleClosed.increment();
        connections.remove(entry.getKey());
        entry.getKey().close();
      }
    }
  }

  void closeAll() {
    new ArrayList<>(connections.keySet()).forEach(HttpConnection::close);
    connections.clear();
  }
}
