package io.sluice.gateway.proxy.conformance;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The property test's upstream: a raw TCP server on loopback that records every byte each connection receives, cuts
 * it into requests with {@link HttpFraming} (lenient: it measures, it does not judge), and answers each complete
 * request at once with {@code 200 ok} (no body to a HEAD). Unlike {@link RecordingUpstream} it has no script and
 * keeps its connections across tries, so the gateway's reuse of them is part of what is tested. A thread per
 * connection.
 */
final class AnsweringUpstream implements AutoCloseable {

  /** A complete request as it arrived: on which connection, in the order of arrival over all connections. */
  record Arrival(int connection, HttpFraming.Message request) {
  }

  /** One accepted connection: what it received, how much of that framed as requests, whether the gateway closed it. */
  static final class Connection {
    private final int id;
    private final Socket socket;
    private final StringBuilder received = new StringBuilder();
    private int consumed;
    private volatile boolean peerClosed;

    Connection(int id, Socket socket) {
      this.id = id;
      this.socket = socket;
    }

    int id() {
      return id;
    }

    synchronized int receivedLength() {
      return received.length();
    }

    /** Bytes after the last complete request: a request still arriving, or bytes that never frame as one. */
    synchronized String tail() {
      return received.substring(consumed);
    }

    boolean peerClosed() {
      return peerClosed;
    }
  }

  private final ServerSocket listener;
  private final List<Connection> connections = new CopyOnWriteArrayList<>();
  private final List<Arrival> arrivals = new CopyOnWriteArrayList<>();

  AnsweringUpstream() throws IOException {
    listener = new ServerSocket();
    listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
    Thread acceptor = new Thread(this::acceptLoop, "property-upstream-accept");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  int port() {
    return listener.getLocalPort();
  }

  int arrivalCount() {
    return arrivals.size();
  }

  List<Arrival> arrivalsSince(int mark) {
    return List.copyOf(arrivals.subList(mark, arrivals.size()));
  }

  List<Connection> connections() {
    return List.copyOf(connections);
  }

  long openConnections() {
    return connections.stream().filter(c -> !c.peerClosed && !c.socket.isClosed()).count();
  }

  private void acceptLoop() {
    while (!listener.isClosed()) {
      try {
        Socket socket = listener.accept();
        socket.setTcpNoDelay(true);
        Connection connection = new Connection(connections.size(), socket);
        connections.add(connection);
        Thread serving = new Thread(() -> serve(connection), "property-upstream-conn");
        serving.setDaemon(true);
        serving.start();
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  private void serve(Connection connection) {
    byte[] buffer = new byte[16 * 1024];
    try {
      InputStream in = connection.socket.getInputStream();
      OutputStream out = connection.socket.getOutputStream();
      for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
        for (HttpFraming.Message request : received(connection, new String(buffer, 0, n,
            StandardCharsets.ISO_8859_1))) {
          String answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + (request.method().equals("HEAD") ? "" : "ok");
          out.write(answer.getBytes(StandardCharsets.ISO_8859_1));
          out.flush();
        }
      }
    } catch (IOException e) {
      // a reset by the gateway: closed all the same
    }
    connection.peerClosed = true;
    try {
      connection.socket.close();
    } catch (IOException ignored) {
      // already closed
    }
  }

  /** Records {@code bytes} and returns the requests they completed, each noted as an arrival. */
  private List<HttpFraming.Message> received(Connection connection, String bytes) {
    List<HttpFraming.Message> complete = new ArrayList<>();
    synchronized (connection) {
      connection.received.append(bytes);
      String all = connection.received.toString();
      for (HttpFraming.Message m = HttpFraming.request(all, connection.consumed); m != null && m.end() > connection.consumed;
           m = HttpFraming.request(all, connection.consumed)) {
        connection.consumed = m.end();
        arrivals.add(new Arrival(connection.id, m));
        complete.add(m);
      }
    }
    return complete;
  }

  @Override
  public void close() throws IOException {
    listener.close();
    for (Connection c : connections) {
      c.socket.close();
    }
  }
}
