package io.sluice.gateway.proxy.conformance;

import io.sluice.gateway.proxy.conformance.ConformanceCase.Action;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Reply;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The upstream of the suite: a raw TCP server on loopback (not an HTTP library) that records every byte each
 * connection receives and answers each request, in the order requests arrive over the case, with the case's next
 * scripted {@link Reply} (or {@link #DEFAULT_REPLY} once the script is used up). A thread per connection; every
 * connection is closed when the case ends.
 */
final class RecordingUpstream implements AutoCloseable {

  static final Reply DEFAULT_REPLY = new Reply(false,
      List.of(new Action("send", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0)));
  private static final int READ_TIMEOUT_MILLIS = 50;
  /** At most this much more is read, of what has already arrived, before the recording is framed again. */
  private static final int MAX_DRAIN_BYTES = 4 * 1024 * 1024;

  /** What one upstream connection received, and whether its peer (the gateway) closed it. */
  static final class Recording {
    private final StringBuilder received = new StringBuilder();
    private volatile boolean peerClosed;
    private volatile boolean closedHere;

    synchronized String received() {
      return received.toString();
    }

    synchronized void append(byte[] buffer, int length) {
      received.append(new String(buffer, 0, length, StandardCharsets.ISO_8859_1));
    }

    boolean peerClosed() {
      return peerClosed;
    }

    boolean closedHere() {
      return closedHere;
    }
  }

  private final int port;
  private volatile ServerSocket listener;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final List<Recording> recordings = new CopyOnWriteArrayList<>();
  private volatile List<Reply> script = List.of();
  private final AtomicInteger nextReply = new AtomicInteger();
  private volatile boolean stopped;

  /** Listens on 127.0.0.1:{@code port} (0: any free port). */
  RecordingUpstream(int port) throws IOException {
    this.listener = listen(port);
    this.port = listener.getLocalPort();
  }

  int port() {
    return port;
  }

  /** Starts a case: forgets the previous one's connections and recordings, and takes this case's script. */
  void begin(List<Reply> replies, boolean listening) throws IOException {
    script = List.copyOf(replies);
    nextReply.set(0);
    if (!listening) {
      listener.close();
      // a connection the gateway opened just before (its pool, its upstream check) and the acceptor took as the
      // listener closed would carry this case's request: a full verify once saw 200 where refusal was the point
      for (Socket socket : sockets) {
        closeQuietly(socket);
      }
      sockets.clear();
    }
    recordings.clear();
  }

  /** Ends a case: closes every connection (the gateway must not carry one into the next case) and listens again. */
  void end() throws IOException {
    for (Socket socket : sockets) {
      closeQuietly(socket);
    }
    sockets.clear();
    if (listener.isClosed() && !stopped) {
      listener = listen(port);
    }
  }

  List<Recording> recordings() {
    return List.copyOf(recordings);
  }

  /**
   * The connections that brought at least one byte: the ones requests travelled on. A connection opened and closed
   * without a byte is not counted: the gateway's upstream check (a bare TCP connect every few seconds) makes those,
   * whenever it runs, and so may a proxy under comparison.
   */
  List<Recording> carrying() {
    return recordings.stream().filter(r -> !r.received().isEmpty()).toList();
  }

  /** Everything received over the case, connection after connection in the order they were accepted. */
  String received() {
    StringBuilder all = new StringBuilder();
    recordings.forEach(r -> all.append(r.received()));
    return all.toString();
  }

  private ServerSocket listen(int onPort) throws IOException {
    ServerSocket server = new ServerSocket();
    server.setReuseAddress(true);
    server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), onPort), 64);
    Thread acceptor = new Thread(() -> acceptLoop(server), "conformance-upstream-accept");
    acceptor.setDaemon(true);
    acceptor.start();
    return server;
  }

  private void acceptLoop(ServerSocket server) {
    while (!server.isClosed()) {
      try {
        Socket socket = server.accept();
        if (server.isClosed()) {
          // taken as the case closed the listener: refused, as far as this case is concerned
          closeQuietly(socket);
          return;
        }
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(READ_TIMEOUT_MILLIS);
        Recording recording = new Recording();
        sockets.add(socket);
        recordings.add(recording);
        Thread serving = new Thread(() -> serve(socket, recording), "conformance-upstream-conn");
        serving.setDaemon(true);
        serving.start();
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  /** Reads and records until the connection closes; answers each request as the script says. */
  private void serve(Socket socket, Recording recording) {
    try {
      serveLoop(socket, recording);
    } catch (IOException e) {
      // reset by the gateway, or closed by end(): the recording keeps what came
      if (!socket.isClosed()) {
        recording.peerClosed = true;
      }
    } finally {
      closeQuietly(socket);
    }
  }

  private void serveLoop(Socket socket, Recording recording) throws IOException {
    byte[] buffer = new byte[64 * 1024];
    int consumed = 0;          // where the next request starts in what was received
    Reply pending = null;      // the reply taken for the request being received
    boolean answered = false;  // whether the pending reply already ran (on the head)
    boolean hung = false;
    boolean echo = false;
    InputStream in = socket.getInputStream();
    OutputStream out = socket.getOutputStream();
    while (!socket.isClosed()) {
      int n;
      try {
        n = in.read(buffer);
      } catch (SocketTimeoutException e) {
        continue;
      }
      if (n < 0) {
        recording.peerClosed = true;
        return;
      }
      recording.append(buffer, n);
      if (echo) {
        out.write(buffer, 0, n);
        out.flush();
        continue;
      }
      // what has already arrived is recorded before the requests are framed again: framing the whole recording after
      // every 64 KiB read makes a 10 MiB body quadratic, slow enough on a busy machine to stop reading for over the
      // gateway's 1 s upstream timeout (body-over-limit-chunked then got 504)
      for (int more = 0; more < MAX_DRAIN_BYTES && in.available() > 0 && (n = in.read(buffer)) > 0; more += n) {
        recording.append(buffer, n);
      }
      String all = recording.received();
      while (!hung && !echo) {
        if (pending == null) {
          if (HttpFraming.headEnd(all, consumed) < 0) {
            break;
          }
          pending = takeReply();
          answered = false;
        }
        if (pending.onHead() && !answered) {
          answered = true;
          Outcome outcome = run(pending, socket, out, recording);
          hung = outcome == Outcome.HUNG;
          echo = outcome == Outcome.ECHO;
        }
        HttpFraming.Message request = HttpFraming.request(all, consumed);
        if (request == null) {
          break;
        }
        consumed = request.end();
        Reply reply = pending;
        pending = null;
        if (!reply.onHead()) {
          Outcome outcome = run(reply, socket, out, recording);
          hung = outcome == Outcome.HUNG;
          echo = outcome == Outcome.ECHO;
        }
      }
    }
  }

  private Reply takeReply() {
    int index = nextReply.getAndIncrement();
    List<Reply> replies = script;
    return index < replies.size() ? replies.get(index) : DEFAULT_REPLY;
  }

  private enum Outcome { DONE, HUNG, ECHO }

  private Outcome run(Reply reply, Socket socket, OutputStream out, Recording recording) throws IOException {
    for (Action action : reply.actions()) {
      switch (action.verb()) {
        case "send" -> {
          out.write(action.bytes().getBytes(StandardCharsets.ISO_8859_1));
          out.flush();
        }
        case "pause" -> sleep(action.millis());
        case "close" -> {
          recording.closedHere = true;
          socket.shutdownOutput();
        }
        case "reset" -> {
          recording.closedHere = true;
          socket.setSoLinger(true, 0);
          socket.close();
          return Outcome.HUNG;
        }
        case "hang" -> {
          return Outcome.HUNG;
        }
        case "echo" -> {
          return Outcome.ECHO;
        }
        default -> throw new IllegalStateException(action.verb());
      }
    }
    return Outcome.DONE;
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException ignored) {
      // already closed
    }
  }

  @Override
  public void close() throws IOException {
    stopped = true;
    listener.close();
    end();
  }
}
