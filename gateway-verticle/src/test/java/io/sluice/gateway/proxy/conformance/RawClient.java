package io.sluice.gateway.proxy.conformance;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * The client of the suite: one TCP connection that writes bytes exactly as given and collects everything it
 * receives (on a reader thread) until the other side closes or resets.
 */
final class RawClient implements AutoCloseable {

  private final Socket socket;
  private final StringBuilder received = new StringBuilder();
  private volatile boolean closed;
  private volatile boolean reset;
  private volatile String writeError;
  private Thread writer;

  RawClient(InetSocketAddress target, int connectTimeoutMillis) throws IOException {
    socket = new Socket();
    socket.setTcpNoDelay(true);
    socket.connect(target, connectTimeoutMillis);
    Thread reader = new Thread(this::read, "conformance-client-reader");
    reader.setDaemon(true);
    reader.start();
  }

  private void read() {
    byte[] buffer = new byte[64 * 1024];
    try {
      InputStream in = socket.getInputStream();
      for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
        synchronized (received) {
          received.append(new String(buffer, 0, n, StandardCharsets.ISO_8859_1));
        }
      }
    } catch (IOException e) {
      // a reset closes too, but ends nothing: a body delimited by the close is cut, not complete
      reset = true;
    }
    closed = true;
  }

  /**
   * Writes {@code bytes}, waiting at most {@code millis} for the write to finish (a gateway that stops reading must
   * not hang the suite: the blocked write ends when the connection is closed). A write refused (the gateway closed)
   * or not finished in time is noted, not thrown: the checks tell the rest.
   */
  void send(String bytes, long millis) {
    if (writer != null && writer.isAlive()) {
      noteWriteError("a later write skipped: an earlier one is still blocked");
      return;
    }
    writer = new Thread(() -> {
      try {
        socket.getOutputStream().write(bytes.getBytes(StandardCharsets.ISO_8859_1));
        socket.getOutputStream().flush();
      } catch (IOException e) {
        noteWriteError(e.getMessage());
      }
    }, "conformance-client-writer");
    writer.setDaemon(true);
    writer.start();
    try {
      writer.join(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (writer.isAlive()) {
      noteWriteError("write of " + bytes.length() + " bytes not finished after " + millis + " ms");
    }
  }

  private synchronized void noteWriteError(String message) {
    if (writeError == null) {
      writeError = message;
    }
  }

  String received() {
    synchronized (received) {
      return received.toString();
    }
  }

  /** Whether the gateway closed (or reset) the connection. */
  boolean closed() {
    return closed;
  }

  /** Whether the connection ended with an orderly close (not a reset): only that completes a close-delimited body. */
  boolean closedInOrder() {
    return closed && !reset;
  }

  String writeError() {
    return writeError;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
