/*
 * Sluice LoadClient: an open-loop, rate-paced HTTP load generator (JDK only, single file).
 *
 *   java bench/LoadClient.java --help
 *
 * Open loop means every request is sent at its scheduled instant no matter how (or whether) earlier
 * requests were answered: a slow or missing response never delays later sends. Each stream is paced
 * independently with evenly spaced sends; the actual send instant of every request is recorded, so the
 * report shows how closely the schedule was kept ("send lag" = actual send time - scheduled time).
 *
 * Structure: a pacer thread (this program's main thread) sleeps until each scheduled instant and writes
 * the pre-built request bytes on an idle keep-alive connection; one I/O thread (a NIO selector) opens
 * connections, reads and parses responses (HTTP/1.1: Content-Length, chunked, read-until-close) and
 * enforces timeouts. Each request is one schedule slot (Rec) whose outcome is recorded exactly once.
 *
 * The numbers this tool prints are used as evidence for Sluice's accuracy claims, so every figure is
 * defined in --help and computed from per-request records that can be exported with --csv.
 */

import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.PrintStream;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

public final class LoadClient {

    static final String USAGE = """
        Sluice LoadClient: open-loop, rate-paced HTTP load generator (JDK 17+, no build needed)

        usage: java bench/LoadClient.java [options]
               java bench/LoadClient.java --self-test      (exit 0/1; checks the window/bucket math,
                   percentiles, option parsing, the schedule, and the HTTP engine against a scripted
                   loopback server: chunked, 100-continue, HTTP/1.0, dribbled bytes, hang-up, timeout)

        Open loop: every request is SENT ON SCHEDULE whatever the responses; a slow or missing
        response never delays later sends (no coordinated omission). Each stream is paced on its own
        with evenly spaced sends; stream i starts at offset (i/numStreams) x its interval so that
        streams do not all fire at the same instant. Only loopback targets (127.0.0.0/8, ::1,
        localhost) are accepted. HTTP/1.1 over plain TCP (JDK NIO, keep-alive; no TLS, no HTTP/2).

        Target and request
          --targets URL[,URL...]   base URLs, default http://127.0.0.1:8080. Each stream spreads its
                                   requests round-robin over them (stream i starts at target i).
          --path PATH              request path, default /api/hello
          --method METHOD          HTTP method, default GET (sent without a body)

        Load
          --stream SPEC            repeatable. SPEC = name=NAME,rate=R[,header=Name:Value]...
                                   e.g. --stream name=noisy1,rate=30,header=X-Api-Key:tok1
                                   R = requests per second (may be fractional). Several header=
                                   items are allowed; a stream without header= sends no extra header.
          --rate R                 shorthand when no --stream is given: one stream named "all".
          --duration D             measured duration, default 6s. Units: ms, s or m (e.g. 500ms, 6s).
          --warmup D               extra sending time BEFORE the measured duration, default 0s.
                                   Requests scheduled in it are sent but excluded from all stats.
          --timeout D              per-request timeout, default 10s. A request still unanswered this
                                   long after its send counts as "timeout" (its connection is closed).
                                   The run ends at the latest at (last send + timeout).
          --connections N          keep-alive connections opened per target before the first send
                                   (TCP connect only, no request), default 4. More are opened on
                                   demand: one request per connection at a time (no pipelining), so a
                                   slow response never holds up a later send.
          --max-connections N      cap per target, default 1000. A send that finds the cap reached
                                   waits for a free connection; its lag shows in "send lag".
          --spin D                 sleep until D before each send, then busy-wait (timing precision),
                                   default 200us, capped at 10% of the mean interval between sends
                                   (so at most ~0.1 CPU); 0 = sleep only.
          --nice N                 nice value for the pacer and I/O threads, default -10 (needs root or
                                   CAP_SYS_NICE; otherwise left unchanged, as the report says). Keeps
                                   sends on time when the machine is busy. 0 = leave unchanged.
          --no-prewarm             skip warming the client code against an in-process dummy server
                                   (the pre-warm never sends anything to the targets).

        Statistics
          --window D               sliding window length W for the accuracy figures, default 1s.
          --late D                 a 2xx is counted as "late" if its latency exceeds D, default 100ms.
          --json FILE              write the full result (config, per-stream stats, assertions) as JSON.
          --csv FILE               write one row per request (warm-up rows included, flagged).

        Assertions (exit code 1 if any fails; each prints PASS/FAIL). STREAM may be * = every stream.
          --expect-max-window STREAM=N   max forwarded in any sliding window (t-W, t] <= N
          --expect-min-rate STREAM=R     forwarded / measured duration >= R per second
          --expect-never-limited STREAM  every request of STREAM got a 2xx (no 4xx/5xx, no timeout,
                                         no connection error)
          --expect-statuses STREAM=C,C.. every request of STREAM was answered with one of these codes
          --expect-limited-headers       every 429 (all streams) carries Retry-After, RateLimit and
                                         RateLimit-Policy headers and a non-empty body with
                                         Content-Type application/problem+json
          --expect-upstream-times        every 2xx carries X-Upstream-Received-At (so all forwarded
                                         times are the upstream's, not the client's)
        Each stream's block ends with a "summary: stream=NAME key=value ..." line for scripts.
        Exit codes: 0 = ran and all assertions passed, 1 = an assertion failed, 2 = usage/run error.

        Definitions used in the report
          sent        requests scheduled inside the measured duration. All are sent; if one could
                      not even be written (connect failure, connection cap) the report says so.
                      Forwards of warm-up requests are in no statistic, windows included.
          forwarded   a response with status 2xx.
          fwd time    the response header X-Upstream-Received-At (epoch microseconds at which the
                      upstream API received the request) when present, else the client's receive
                      time. The report says per stream how many times came from each source.
          mean fwd/s  forwarded / measured duration.
          max window  max number of forwarded times in any half-open window (t-W, t], over ALL t
                      (exact: two-pointer scan over the sorted forwarded times).
          min bucket  min forwarded count over the whole aligned buckets [kW, (k+1)W) that start at
                      or after 1 s and end at or before the measured duration (time 0 = start of the
                      measured duration).
          fwd/1s      forwarded per 1-second bucket [s, s+1); a '|' marks the end of the measured
                      duration (later buckets hold forwards of requests that were delayed).
          latency     response complete - actual send, nearest-rank percentiles, 2xx and 429 apart.
          send rate   (sends - 1) / (last actual send - first actual send).
          send lag    actual send time (start of the socket write) - scheduled time (max and p99).

        CSV columns: stream,target,seq,measured,scheduledMicros,sendMicros,doneMicros,latencyMicros,
          status,forwardedAtMicros,forwardedSource,retryAfter,rateLimit,rateLimitPolicy
          (all *Micros except latency are relative to the start of the measured duration; warm-up rows
          are negative; status is the HTTP code, "timeout" or "connerr"; forwardedAtMicros only for 2xx).
        """;

    static final int PENDING = 0, TIMEOUT = -1, CONN_ERR = -2;
    static final long NONE = Long.MIN_VALUE;
    static final String RECEIVED_HEADER = "X-Upstream-Received-At";

    // ------------------------------------------------------------------------------------------ main

    public static void main(String[] args) {
        int code;
        try {
            code = run(args);
        } catch (UsageException e) {
            System.err.println("LoadClient: " + e.getMessage());
            System.err.println("(java bench/LoadClient.java --help for usage)");
            code = 2;
        } catch (Throwable t) {
            System.err.println("LoadClient: run failed:");
            t.printStackTrace();
            code = 2;
        }
        System.out.flush();
        System.err.flush();
        System.exit(code);
    }

    static int run(String[] args) throws Exception {
        Config cfg = Config.parse(args);
        if (cfg.help) {
            System.out.print(USAGE);
            return 0;
        }
        if (cfg.selfTest) {
            return SelfTest.run() ? 0 : 1;
        }
        cfg.validate();

        // Pre-built request bytes, one per (stream, target): nothing is built on the send path.
        int nS = cfg.streams.size(), nT = cfg.targets.size();
        byte[][][] requests = new byte[nS][nT][];
        for (int s = 0; s < nS; s++) {
            for (int t = 0; t < nT; t++) {
                requests[s][t] = requestBytes(cfg.method, cfg.path, cfg.targets.get(t), cfg.streams.get(s).headers);
            }
        }
        InetSocketAddress[] addrs = new InetSocketAddress[nT];
        for (int t = 0; t < nT; t++) {
            URI u = cfg.targets.get(t);
            addrs[t] = new InetSocketAddress(InetAddress.getByName(u.getHost()), u.getPort() < 0 ? 80 : u.getPort());
        }

        Rec[] schedule = buildSchedule(cfg);
        if (!cfg.noPrewarm) prewarm();
        System.gc();   // start the schedule with a clean heap (the in-memory compile left garbage)

        Engine eng = new Engine(addrs, requests, cfg.method.equals("HEAD"), cfg.timeoutNanos, cfg.maxConnections);
        eng.nice = cfg.nice;
        eng.start(cfg.connections);   // pre-opens TCP connections (no HTTP request is sent)
        String pacerPriority = cfg.nice == 0 ? "unchanged (--nice 0)" : reniceCurrentThread(cfg.nice);

        // Time base: t0 (nanoTime) is the schedule origin; measurement starts at t0 + warmup.
        long t0 = System.nanoTime() + 50_000_000L;
        eng.t0 = t0;
        long epochMicrosAtT0 = epochMicrosAt(t0);

        // ---- the pacer: send every request at its scheduled instant, never waiting for responses.
        // It sleeps until shortly before each send, then busy-waits the rest; the busy-wait is capped at
        // 10 % of the mean interval between sends so that it never costs more than ~0.1 CPU.
        double totalRate = 0;
        for (StreamSpec sp : cfg.streams) totalRate += sp.rate;
        long spin = Math.min(cfg.spinNanos, (long) (0.1e9 / totalRate));
        long[] rrCounter = new long[nS];
        for (Rec r : schedule) {
            long due = t0 + r.schedNanos;
            long now;
            while ((now = System.nanoTime()) < due) {
                long rem = due - now;
                if (rem > spin) LockSupport.parkNanos(rem - spin);
                else Thread.onSpinWait();
            }
            r.target = (int) ((r.stream + rrCounter[r.stream]++) % nT);
            eng.dispatch(r, now);
            r.dispatchNanos = System.nanoTime() - now;
        }

        // ---- wait for the answers, at most until (last send + timeout)
        long lastSend = 0;
        for (Rec r : schedule) lastSend = Math.max(lastSend, Math.max(r.schedNanos, r.sendNanos));
        long deadline = t0 + lastSend + cfg.timeoutNanos;
        while (eng.pending.get() > 0 && System.nanoTime() < deadline && eng.failure == null) {
            LockSupport.parkNanos(2_000_000L);
        }
        eng.stop();
        int forcedTimeouts = 0;
        for (Rec r : schedule) {
            if (r.forceTimeout(System.nanoTime() - t0)) forcedTimeouts++;
        }
        long endNanos = System.nanoTime() - t0;
        if (eng.failure != null) throw new IllegalStateException("I/O thread failed", eng.failure);

        Result res = analyse(cfg, schedule, epochMicrosAtT0);
        res.forcedTimeouts = forcedTimeouts;
        res.wallSeconds = endNanos / 1e9;
        res.epochMicrosAtMeasureStart = epochMicrosAtT0 + cfg.warmupNanos / 1000;
        res.connectionsOpened = eng.opened;
        res.maxOpenConnections = eng.maxOpen;
        res.connectionLimitWaits = eng.capWaits;
        res.priority = "pacer thread " + pacerPriority + " (sleeps, then busy-waits the last " + spin / 1000 + " us before each send), I/O thread "
            + eng.priority;

        List<String[]> assertionResults = evaluate(cfg, res);
        printReport(System.out, cfg, res, assertionResults);
        if (cfg.jsonFile != null) writeJson(Path.of(cfg.jsonFile), cfg, res, assertionResults);
        if (cfg.csvFile != null) writeCsv(Path.of(cfg.csvFile), cfg, schedule, epochMicrosAtT0);
        boolean allPass = assertionResults.stream().allMatch(a -> a[0].equals("PASS"));
        return allPass ? 0 : 1;
    }

    /** Epoch microseconds corresponding to a System.nanoTime() value (best of a few samples). */
    static long epochMicrosAt(long nanoTime) {
        long bestGap = Long.MAX_VALUE, best = 0;
        for (int i = 0; i < 5; i++) {
            long a = System.nanoTime();
            Instant now = Instant.now();
            long b = System.nanoTime();
            if (b - a < bestGap) {
                bestGap = b - a;
                long mid = a + (b - a) / 2;
                long nowMicros = now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
                best = nowMicros + (nanoTime - mid) / 1000;
            }
        }
        return best;
    }

    /**
     * Lowers the nice value of the calling thread (Linux: /proc/thread-self + renice) so that sends and
     * receive timestamps stay on time when the machine is busy (e.g. with the gateways under test).
     * Needs root or CAP_SYS_NICE; otherwise the thread keeps its priority and the report says so.
     */
    static String reniceCurrentThread(int nice) {
        try {
            Path self = Path.of("/proc/thread-self");
            if (!Files.exists(self)) return "unchanged (no /proc/thread-self)";
            String tid = Files.readSymbolicLink(self).getFileName().toString();
            Process p = new ProcessBuilder("renice", "-n", Integer.toString(nice), "-p", tid).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(3, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroy();
                return "unchanged (renice hung)";
            }
            return p.exitValue() == 0 ? "nice " + nice : "unchanged (renice: " + out + ")";
        } catch (Exception e) {
            return "unchanged (" + e + ")";
        }
    }

    /** The exact bytes of one request (HTTP/1.1, keep-alive, no body). */
    static byte[] requestBytes(String method, String path, URI target, List<String[]> headers) throws UsageException {
        if (!method.matches("[A-Z]+")) throw new UsageException("bad method '" + method + "'");
        if (!path.matches("/[\\x21-\\x7e]*")) throw new UsageException("bad path '" + path + "' (no spaces or control characters)");
        StringBuilder sb = new StringBuilder();
        sb.append(method).append(' ').append(path).append(" HTTP/1.1\r\n");
        boolean hasHost = false;
        for (String[] h : headers) hasHost |= h[0].equalsIgnoreCase("Host");
        if (!hasHost) sb.append("Host: ").append(target.getHost()).append(':').append(target.getPort() < 0 ? 80 : target.getPort()).append("\r\n");
        sb.append("User-Agent: sluice-loadclient\r\nAccept: */*\r\n");
        if (method.equals("POST") || method.equals("PUT") || method.equals("PATCH")) sb.append("Content-Length: 0\r\n");
        for (String[] h : headers) {
            if (!h[0].matches("[!#$%&'*+.^_`|~0-9A-Za-z-]+")) throw new UsageException("bad header name '" + h[0] + "'");
            if (!h[1].matches("[\\x20-\\x7e\\t]*")) throw new UsageException("bad value for header '" + h[0] + "'");
            String n = h[0].toLowerCase(Locale.ROOT);
            if (n.equals("content-length") || n.equals("transfer-encoding") || n.equals("connection")) {
                throw new UsageException("header '" + h[0] + "' is managed by LoadClient");
            }
            sb.append(h[0]).append(": ").append(h[1]).append("\r\n");
        }
        sb.append("\r\n");
        return sb.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    /** Exercise the engine's code paths (class loading, JIT) against an in-process server; never the targets. */
    static void prewarm() throws Exception {
        System.setProperty("sun.net.httpserver.nodelay", "true");
        HttpServer srv = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 256);
        byte[] body = "{\"ok\":true}".getBytes(StandardCharsets.UTF_8);
        AtomicInteger n = new AtomicInteger();
        srv.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            boolean limited = n.incrementAndGet() % 3 == 0;
            ex.getResponseHeaders().add(RECEIVED_HEADER, "0");
            ex.getResponseHeaders().add("Retry-After", "1");
            ex.getResponseHeaders().add("Content-Type", limited ? "application/problem+json" : "application/json");
            if (n.get() % 2 == 0) {
                ex.sendResponseHeaders(limited ? 429 : 200, 0);   // chunked
                ex.getResponseBody().write(body, 0, 5);
                ex.getResponseBody().write(body, 5, body.length - 5);
            } else {
                ex.sendResponseHeaders(limited ? 429 : 200, body.length);
                ex.getResponseBody().write(body);
            }
            ex.close();
        });
        srv.start();
        Engine eng = null;
        try {
            URI u = URI.create("http://127.0.0.1:" + srv.getAddress().getPort());
            byte[][][] req = {{requestBytes("GET", "/warm", u, List.<String[]>of(new String[] {"X-Warm", "1"}))}};
            eng = new Engine(new InetSocketAddress[] {new InetSocketAddress(InetAddress.getLoopbackAddress(), u.getPort())},
                req, false, 5_000_000_000L, 100);
            eng.start(2);
            eng.t0 = System.nanoTime();
            for (int i = 0; i < 1500; i++) {
                Rec r = new Rec(0, i, System.nanoTime() - eng.t0, true);
                eng.dispatch(r, System.nanoTime());
                if (i % 8 == 7) LockSupport.parkNanos(300_000L);
            }
            long until = System.nanoTime() + 3_000_000_000L;
            while (eng.pending.get() > 0 && System.nanoTime() < until) LockSupport.parkNanos(1_000_000L);
        } finally {
            if (eng != null) eng.stop();
            srv.stop(0);
        }
    }

    // ------------------------------------------------------------------------------- HTTP engine

    /**
     * A small non-blocking HTTP/1.1 client: one I/O thread (selector) reads and parses responses;
     * the pacer thread writes a request directly on an idle keep-alive connection of the target
     * (fast path) or hands it to the I/O thread, which opens a new connection for it. No pipelining:
     * a connection carries one request at a time, so a slow response never holds up later sends;
     * more connections are opened as needed (up to --max-connections per target).
     */
    static final class Conn {
        final int target;
        final SocketChannel ch;
        SelectionKey key;
        volatile Rec inflight;       // the request written on this connection, awaiting its response
        volatile boolean closed;
        Rec afterConnect;            // request to write as soon as the connection is established
        ByteBuffer pendingWrite;     // rest of a partial write
        // response parser state (I/O thread only)
        byte[] buf = new byte[4096];
        int start, end, scan;        // unread bytes are buf[start, end); CRLFCRLF search resumes at scan
        int state;                   // see Engine.S_*
        long remaining, bodyLen, contentLength;
        int status;
        boolean keepAlive, chunked;
        long upstream;
        String retryAfter, rateLimit, rateLimitPolicy, contentType;

        Conn(int target, SocketChannel ch) {
            this.target = target;
            this.ch = ch;
        }
    }

    static final class Engine {
        static final int S_HEAD = 0, S_FIXED = 1, S_CHUNK_SIZE = 2, S_CHUNK_DATA = 3, S_CHUNK_CRLF = 4, S_TRAILERS = 5, S_UNTIL_CLOSE = 6;

        final InetSocketAddress[] addrs;
        final byte[][][] requests;
        final boolean head;
        final long timeoutNanos;
        final int maxConnsPerTarget;
        final Selector sel;
        final List<java.util.concurrent.ConcurrentLinkedDeque<Conn>> idle = new ArrayList<>();
        final java.util.concurrent.ConcurrentLinkedQueue<Object[]> inbox = new java.util.concurrent.ConcurrentLinkedQueue<>();
        final List<ArrayDeque<Rec>> waiting = new ArrayList<>();
        final List<Conn> conns = new ArrayList<>();     // I/O thread only
        final int[] open;
        final AtomicInteger pending = new AtomicInteger();
        final ByteBuffer rb = ByteBuffer.allocateDirect(64 * 1024);
        volatile long t0;
        volatile boolean stopping;
        volatile Throwable failure;
        Thread thread;
        long lastScan;
        int opened, maxOpen, capWaits, preopen;         // written by the I/O thread, read after stop()
        int nice;
        volatile String priority = "unchanged";

        Engine(InetSocketAddress[] addrs, byte[][][] requests, boolean head, long timeoutNanos, int maxConnsPerTarget) throws IOException {
            this.addrs = addrs;
            this.requests = requests;
            this.head = head;
            this.timeoutNanos = timeoutNanos;
            this.maxConnsPerTarget = maxConnsPerTarget;
            this.sel = Selector.open();
            this.open = new int[addrs.length];
            for (int i = 0; i < addrs.length; i++) {
                idle.add(new java.util.concurrent.ConcurrentLinkedDeque<>());
                waiting.add(new ArrayDeque<>());
            }
        }

        /** Starts the I/O thread after opening {@code perTarget} idle connections per target (waits at most 1 s). */
        void start(int perTarget) {
            perTarget = Math.min(perTarget, maxConnsPerTarget);
            preopen = perTarget;
            thread = new Thread(this::loop, "loadclient-io");
            thread.setDaemon(true);
            thread.start();
            long until = System.nanoTime() + 1_000_000_000L;
            for (int t = 0; t < addrs.length; t++) {
                while (idle.get(t).size() < perTarget && System.nanoTime() < until) LockSupport.parkNanos(1_000_000L);
            }
        }

        void stop() throws InterruptedException {
            stopping = true;
            sel.wakeup();
            thread.join(5000);
        }

        /** Pacer thread: send r now, on an idle connection if there is one, else via the I/O thread. */
        void dispatch(Rec r, long now) {
            pending.incrementAndGet();
            r.sendNanos = now - t0;   // replaced by the actual write time; kept if it is never written
            Conn c;
            while ((c = idle.get(r.target).pollLast()) != null && c.closed) {
                // skip connections the I/O thread has closed meanwhile
            }
            if (c != null) {
                write(c, r, now, true);
            } else {
                inbox.add(new Object[] {r});
                sel.wakeup();
            }
        }

        /** Writes r on c. From the pacer, problems are handed to the I/O thread, which owns connection state. */
        void write(Conn c, Rec r, long now, boolean fromPacer) {
            r.sendNanos = now - t0;
            r.written = true;
            c.inflight = r;
            if (c.closed) {   // closed by the I/O thread between poll and here: let it fail r
                if (fromPacer) handOff(c, new IOException("connection closed before send"));
                else closeConn(c, "connection closed before send");
                return;
            }
            ByteBuffer b = ByteBuffer.wrap(requests[r.stream][r.target]);
            try {
                c.ch.write(b);
                if (b.hasRemaining()) {
                    if (fromPacer) handOff(c, b);
                    else {
                        c.pendingWrite = b;
                        c.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
                    }
                }
            } catch (IOException e) {
                if (fromPacer) handOff(c, e);
                else closeConn(c, "write failed: " + e);
            }
        }

        void handOff(Conn c, Object what) {
            inbox.add(new Object[] {c, what});
            sel.wakeup();
        }

        void finish(Rec r, int kind, String msg) {
            if (r.completeError(kind, msg, System.nanoTime() - t0)) pending.decrementAndGet();
        }

        void loop() {
            try {
                if (nice != 0) priority = reniceCurrentThread(nice);
                for (int t = 0; t < addrs.length; t++) {
                    for (int i = 0; i < preopen; i++) openFor(t, null);
                }
                while (!stopping) {
                    sel.select(5);
                    drainInbox();
                    var it = sel.selectedKeys().iterator();
                    while (it.hasNext()) {
                        SelectionKey k = it.next();
                        it.remove();
                        handleKey(k);
                    }
                    drainInbox();
                    serveWaiting();
                    scanTimeouts(System.nanoTime());
                }
            } catch (Throwable t) {
                failure = t;
            } finally {
                long now = System.nanoTime() - t0;
                for (Conn c : new ArrayList<>(conns)) {
                    Rec r = c.inflight != null ? c.inflight : c.afterConnect;
                    if (r != null && r.completeError(TIMEOUT, "no answer by the end of the run (last send + timeout)", now)) {
                        pending.decrementAndGet();
                    }
                    closeConn(c, null);
                }
                try {
                    sel.close();
                } catch (IOException ignored) {
                    // nothing to do
                }
            }
        }

        void drainInbox() {
            Object[] m;
            while ((m = inbox.poll()) != null) {
                if (m.length == 1) {
                    need((Rec) m[0]);
                    continue;
                }
                Conn c = (Conn) m[0];
                if (m[1] instanceof ByteBuffer bb) {
                    if (c.closed) continue;
                    c.pendingWrite = bb;
                    c.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
                } else {
                    closeConn(c, "write failed: " + m[1]);
                }
            }
        }

        /** Requests waiting for a connection get new ones when connections were closed below the cap. */
        void serveWaiting() {
            for (int t = 0; t < addrs.length; t++) {
                ArrayDeque<Rec> q = waiting.get(t);
                while (!q.isEmpty() && open[t] < maxConnsPerTarget) openFor(t, q.pollFirst());
            }
        }

        /** I/O thread: find or open a connection for r; wait for one if the per-target cap is reached. */
        void need(Rec r) {
            Conn c;
            while ((c = idle.get(r.target).pollLast()) != null && c.closed) {
                // skip
            }
            if (c != null) write(c, r, System.nanoTime(), false);
            else if (open[r.target] < maxConnsPerTarget) openFor(r.target, r);
            else {
                waiting.get(r.target).add(r);
                capWaits++;
            }
        }

        void openFor(int target, Rec r) {
            SocketChannel ch = null;
            try {
                ch = SocketChannel.open();
                ch.configureBlocking(false);
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                Conn c = new Conn(target, ch);
                c.afterConnect = r;
                conns.add(c);
                open[target]++;
                opened++;
                maxOpen = Math.max(maxOpen, conns.size());
                boolean done = ch.connect(addrs[target]);
                c.key = ch.register(sel, done ? SelectionKey.OP_READ : SelectionKey.OP_CONNECT, c);
                if (done) connected(c);
            } catch (IOException e) {
                if (r != null) finish(r, CONN_ERR, "connect failed: " + e);
                for (Conn c : new ArrayList<>(conns)) if (c.ch == ch) closeConn(c, null);
                if (ch != null) {
                    try {
                        ch.close();
                    } catch (IOException ignored) {
                        // already failing
                    }
                }
            }
        }

        void connected(Conn c) {
            c.key.interestOps(SelectionKey.OP_READ);
            Rec r = c.afterConnect;
            c.afterConnect = null;
            if (r != null) write(c, r, System.nanoTime(), false);
            else release(c);
        }

        /** c is free again: give it to a waiting request, else to the idle pool. */
        void release(Conn c) {
            Rec w = waiting.get(c.target).poll();
            if (w != null) write(c, w, System.nanoTime(), false);
            else idle.get(c.target).addLast(c);
        }

        /** Closes c (idempotent) and fails whatever request it carried with msg. */
        void closeConn(Conn c, String msg) {
            if (!c.closed) {
                c.closed = true;
                idle.get(c.target).remove(c);
                if (c.key != null) c.key.cancel();
                try {
                    c.ch.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
                open[c.target]--;
                conns.remove(c);
            }
            Rec r = c.inflight != null ? c.inflight : c.afterConnect;
            if (r != null) finish(r, CONN_ERR, msg == null ? "connection closed" : msg);
        }

        void handleKey(SelectionKey k) {
            Conn c = (Conn) k.attachment();
            try {
                if (!k.isValid()) return;
                if (k.isConnectable()) {
                    c.ch.finishConnect();
                    connected(c);
                }
                if (k.isValid() && k.isWritable() && c.pendingWrite != null) {
                    c.ch.write(c.pendingWrite);
                    if (!c.pendingWrite.hasRemaining()) {
                        c.pendingWrite = null;
                        k.interestOps(SelectionKey.OP_READ);
                    }
                }
                if (k.isValid() && k.isReadable()) read(c);
            } catch (IOException | java.nio.channels.CancelledKeyException e) {
                closeConn(c, (c.afterConnect != null ? "connect failed: " : "I/O error: ") + e);
            }
        }

        void read(Conn c) throws IOException {
            rb.clear();
            int n = c.ch.read(rb);
            if (n < 0) {
                if (c.inflight != null && c.state == S_UNTIL_CLOSE) {
                    finishResponse(c);
                    closeConn(c, null);
                } else {
                    closeConn(c, c.inflight != null ? "connection closed by server before a full response" : null);
                }
                return;
            }
            if (n == 0) return;
            rb.flip();
            if (c.end + n > c.buf.length) {
                int live = c.end - c.start;
                byte[] nb = c.buf.length - live >= n ? c.buf : new byte[Math.max(c.buf.length * 2, live + n)];
                System.arraycopy(c.buf, c.start, nb, 0, live);
                c.buf = nb;
                c.scan -= c.start;
                c.start = 0;
                c.end = live;
            }
            rb.get(c.buf, c.end, n);
            c.end += n;
            parse(c);
        }

        void parse(Conn c) {
            while (true) {
                if (c.closed) return;
                if (c.inflight == null) {
                    if (c.end > c.start) closeConn(c, "unexpected data from server");
                    return;
                }
                switch (c.state) {
                    case S_HEAD -> {
                        int idx = indexOf(c.buf, Math.max(c.start, c.scan), c.end, true);
                        if (idx < 0) {
                            c.scan = Math.max(c.start, c.end - 3);
                            if (c.end - c.start > (1 << 20)) closeConn(c, "response header over 1 MiB");
                            return;
                        }
                        if (!parseHead(c, c.start, idx)) {
                            closeConn(c, "malformed response header");
                            return;
                        }
                        c.start = idx + 4;
                        c.scan = c.start;
                        if (c.status >= 100 && c.status < 200) continue;   // interim response: wait for the final one
                        if (head || c.status == 204 || c.status == 304) {
                            finishResponse(c);
                        } else if (c.chunked) {
                            c.state = S_CHUNK_SIZE;
                        } else if (c.contentLength >= 0) {
                            c.state = S_FIXED;
                            c.remaining = c.contentLength;
                        } else {
                            c.state = S_UNTIL_CLOSE;
                            c.keepAlive = false;
                        }
                    }
                    case S_FIXED, S_CHUNK_DATA -> {
                        long take = Math.min(c.end - c.start, c.remaining);
                        c.start += (int) take;
                        c.remaining -= take;
                        c.bodyLen += take;
                        if (c.remaining > 0) {
                            compact(c);
                            return;
                        }
                        if (c.state == S_FIXED) finishResponse(c);
                        else c.state = S_CHUNK_CRLF;
                    }
                    case S_CHUNK_SIZE -> {
                        int eol = indexOf(c.buf, c.start, c.end, false);
                        if (eol < 0) {
                            if (c.end - c.start > 4096) closeConn(c, "bad chunk size line");
                            return;
                        }
                        String line = new String(c.buf, c.start, eol - c.start, StandardCharsets.ISO_8859_1);
                        int semi = line.indexOf(';');
                        long size;
                        try {
                            size = Long.parseLong((semi >= 0 ? line.substring(0, semi) : line).trim(), 16);
                        } catch (NumberFormatException e) {
                            closeConn(c, "bad chunk size '" + line + "'");
                            return;
                        }
                        c.start = eol + 2;
                        if (size == 0) {
                            c.state = S_TRAILERS;
                        } else {
                            c.remaining = size;
                            c.state = S_CHUNK_DATA;
                        }
                    }
                    case S_CHUNK_CRLF -> {
                        if (c.end - c.start < 2) return;
                        c.start += 2;
                        c.state = S_CHUNK_SIZE;
                    }
                    case S_TRAILERS -> {
                        int eol = indexOf(c.buf, c.start, c.end, false);
                        if (eol < 0) return;
                        boolean empty = eol == c.start;
                        c.start = eol + 2;
                        if (empty) finishResponse(c);
                    }
                    case S_UNTIL_CLOSE -> {
                        c.bodyLen += c.end - c.start;
                        c.start = c.end;
                        compact(c);
                        return;
                    }
                    default -> throw new IllegalStateException("state " + c.state);
                }
            }
        }

        static void compact(Conn c) {
            if (c.start == c.end) {
                c.start = c.end = c.scan = 0;
            }
        }

        /** Index of CRLFCRLF (crlf2) or CRLF in buf[from, to), or -1. */
        static int indexOf(byte[] b, int from, int to, boolean crlf2) {
            int need = crlf2 ? 4 : 2;
            for (int i = from; i + need <= to; i++) {
                if (b[i] == '\r' && b[i + 1] == '\n' && (!crlf2 || (b[i + 2] == '\r' && b[i + 3] == '\n'))) return i;
            }
            return -1;
        }

        /** Parses the status line and the headers in buf[from, to) (to = start of the blank line). */
        static boolean parseHead(Conn c, int from, int to) {
            c.status = -1;
            c.contentLength = -1;
            c.chunked = false;
            c.bodyLen = 0;
            c.upstream = NONE;
            c.retryAfter = c.rateLimit = c.rateLimitPolicy = c.contentType = null;
            String head = new String(c.buf, from, to - from, StandardCharsets.ISO_8859_1);
            String[] lines = head.split("\r\n");
            String sl = lines[0];
            if (!sl.startsWith("HTTP/1.") || sl.length() < 12) return false;
            c.keepAlive = !sl.startsWith("HTTP/1.0");
            try {
                c.status = Integer.parseInt(sl.substring(9, 12));
            } catch (NumberFormatException e) {
                return false;
            }
            for (int i = 1; i < lines.length; i++) {
                String l = lines[i];
                int colon = l.indexOf(':');
                if (colon <= 0) continue;
                String name = l.substring(0, colon).trim();
                String value = l.substring(colon + 1).trim();
                switch (name.toLowerCase(Locale.ROOT)) {
                    case "content-length" -> {
                        try {
                            c.contentLength = Long.parseLong(value);
                        } catch (NumberFormatException e) {
                            return false;
                        }
                    }
                    case "transfer-encoding" -> c.chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
                    case "connection" -> {
                        String v = value.toLowerCase(Locale.ROOT);
                        if (v.contains("close")) c.keepAlive = false;
                        else if (v.contains("keep-alive")) c.keepAlive = true;
                    }
                    case "retry-after" -> c.retryAfter = value;
                    case "ratelimit" -> c.rateLimit = value;
                    case "ratelimit-policy" -> c.rateLimitPolicy = value;
                    case "content-type" -> c.contentType = value;
                    case "x-upstream-received-at" -> {
                        try {
                            c.upstream = Long.parseLong(value);
                        } catch (NumberFormatException e) {
                            c.upstream = NONE;
                        }
                    }
                    default -> {
                        // not needed
                    }
                }
            }
            return true;
        }

        void finishResponse(Conn c) {
            Rec r = c.inflight;
            long done = System.nanoTime() - t0;
            if (r.completeResponse(c.status, c.upstream, c.retryAfter, c.rateLimit, c.rateLimitPolicy, c.contentType, c.bodyLen, done)) {
                pending.decrementAndGet();
            }
            c.inflight = null;
            c.state = S_HEAD;
            if (c.start < c.end) {
                closeConn(c, null);   // bytes beyond the response: do not reuse this connection
                return;
            }
            compact(c);
            if (!c.keepAlive) closeConn(c, null);
            else release(c);
        }

        /** Every few ms: fail requests older than the timeout (and close their connections). */
        void scanTimeouts(long nowAbs) {
            if (nowAbs - lastScan < 2_000_000L) return;
            lastScan = nowAbs;
            long now = nowAbs - t0;
            for (int i = conns.size() - 1; i >= 0; i--) {
                Conn c = conns.get(i);
                Rec r = c.inflight;
                if (r != null && r.written && now > r.sendNanos + timeoutNanos) {
                    if (r.completeError(TIMEOUT, "no response within the timeout", now)) pending.decrementAndGet();
                    closeConn(c, null);
                } else if (r == null && c.afterConnect != null && now > c.afterConnect.schedNanos + timeoutNanos) {
                    Rec a = c.afterConnect;
                    if (a.completeError(TIMEOUT, "connect not finished within the timeout", now)) pending.decrementAndGet();
                    closeConn(c, null);
                }
            }
            for (ArrayDeque<Rec> q : waiting) {
                while (!q.isEmpty() && now > q.peekFirst().schedNanos + timeoutNanos) {
                    Rec r = q.pollFirst();
                    if (r.completeError(TIMEOUT, "never sent: connection limit reached", now)) pending.decrementAndGet();
                }
            }
        }
    }

    // ------------------------------------------------------------------------------ configuration

    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String m) {
            super(m);
        }
    }

    static final class StreamSpec {
        String name;
        double rate;
        final List<String[]> headers = new ArrayList<>();

        static StreamSpec parse(String spec) throws UsageException {
            StreamSpec s = new StreamSpec();
            s.rate = Double.NaN;
            for (String item : spec.split(",")) {
                item = item.trim();
                if (item.isEmpty()) continue;
                int eq = item.indexOf('=');
                if (eq <= 0) throw new UsageException("stream item '" + item + "' is not key=value in '" + spec + "'");
                String k = item.substring(0, eq).trim(), v = item.substring(eq + 1).trim();
                switch (k) {
                    case "name" -> s.name = v;
                    case "rate" -> s.rate = parseNumber(v, "stream rate");
                    case "header" -> {
                        int c = v.indexOf(':');
                        if (c <= 0) throw new UsageException("header must be Name:Value, got '" + v + "'");
                        s.headers.add(new String[] {v.substring(0, c).trim(), v.substring(c + 1).trim()});
                    }
                    default -> throw new UsageException("unknown stream key '" + k + "' (name, rate, header)");
                }
            }
            if (s.name == null || s.name.isEmpty()) throw new UsageException("stream needs name=: '" + spec + "'");
            if (s.name.equals("*") || s.name.contains("=")) throw new UsageException("bad stream name '" + s.name + "'");
            if (Double.isNaN(s.rate) || !(s.rate > 0) || Double.isInfinite(s.rate)) {
                throw new UsageException("stream '" + s.name + "' needs rate=R with R > 0");
            }
            return s;
        }

        String headerText() {
            if (headers.isEmpty()) return "(none)";
            StringBuilder sb = new StringBuilder();
            for (String[] h : headers) {
                if (sb.length() > 0) sb.append("; ");
                sb.append(h[0]).append(": ").append(h[1]);
            }
            return sb.toString();
        }
    }

    static final class Assertion {
        final String kind;     // max-window, min-rate, never-limited, statuses, limited-headers
        final String stream;   // stream name, "*" or null
        final double number;
        final Set<Integer> codes;

        Assertion(String kind, String stream, double number, Set<Integer> codes) {
            this.kind = kind;
            this.stream = stream;
            this.number = number;
            this.codes = codes;
        }
    }

    static final class Config {
        boolean help, selfTest, noPrewarm;
        List<URI> targets = new ArrayList<>();
        String path = "/api/hello";
        String method = "GET";
        long durationNanos = 6_000_000_000L;
        long warmupNanos = 0;
        long timeoutNanos = 10_000_000_000L;
        long windowMicros = 1_000_000L;
        long lateMicros = 100_000L;
        long spinNanos = 200_000L;
        int connections = 4, maxConnections = 1000, nice = -10;
        Double shorthandRate;
        final List<StreamSpec> streams = new ArrayList<>();
        String jsonFile, csvFile;
        final List<Assertion> assertions = new ArrayList<>();
        String targetsText = "http://127.0.0.1:8080";

        static Config parse(String[] args) throws UsageException {
            Config c = new Config();
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                String inline = null;
                if (a.startsWith("--")) {
                    int eq = a.indexOf('=');
                    if (eq > 0) {
                        inline = a.substring(eq + 1);
                        a = a.substring(0, eq);
                    }
                }
                String v = null;
                if (takesValue(a)) {
                    if (inline != null) v = inline;
                    else if (i + 1 < args.length) v = args[++i];
                    else throw new UsageException(a + " needs a value");
                } else if (inline != null) {
                    throw new UsageException(a + " takes no value");
                }
                switch (a) {
                    case "--help", "-h" -> c.help = true;
                    case "--self-test" -> c.selfTest = true;
                    case "--no-prewarm" -> c.noPrewarm = true;
                    case "--targets" -> c.targetsText = v;
                    case "--path" -> c.path = v;
                    case "--method" -> c.method = v.toUpperCase(Locale.ROOT);
                    case "--duration" -> c.durationNanos = parseDurationNanos(v);
                    case "--warmup" -> c.warmupNanos = parseDurationNanos(v);
                    case "--timeout" -> c.timeoutNanos = parseDurationNanos(v);
                    case "--window" -> c.windowMicros = parseDurationNanos(v) / 1000;
                    case "--late" -> c.lateMicros = parseDurationNanos(v) / 1000;
                    case "--spin" -> c.spinNanos = parseDurationNanos(v);
                    case "--nice" -> c.nice = (int) parseNumber(v, "--nice");
                    case "--connections" -> c.connections = (int) parseNumber(v, "--connections");
                    case "--max-connections" -> c.maxConnections = (int) parseNumber(v, "--max-connections");
                    case "--rate" -> c.shorthandRate = parseNumber(v, "--rate");
                    case "--stream" -> c.streams.add(StreamSpec.parse(v));
                    case "--json" -> c.jsonFile = v;
                    case "--csv" -> c.csvFile = v;
                    case "--expect-max-window" -> c.assertions.add(streamNumber("max-window", v));
                    case "--expect-min-rate" -> c.assertions.add(streamNumber("min-rate", v));
                    case "--expect-never-limited" -> c.assertions.add(new Assertion("never-limited", v.trim(), 0, null));
                    case "--expect-statuses" -> {
                        int eq = v.indexOf('=');
                        if (eq <= 0) throw new UsageException("--expect-statuses needs STREAM=CODE[,CODE...]");
                        Set<Integer> codes = new LinkedHashSet<>();
                        for (String code : v.substring(eq + 1).split(",")) {
                            codes.add((int) parseNumber(code.trim(), "status code"));
                        }
                        c.assertions.add(new Assertion("statuses", v.substring(0, eq).trim(), 0, codes));
                    }
                    case "--expect-limited-headers" -> c.assertions.add(new Assertion("limited-headers", null, 0, null));
                    case "--expect-upstream-times" -> c.assertions.add(new Assertion("upstream-times", null, 0, null));
                    default -> throw new UsageException("unknown option '" + a + "'");
                }
            }
            return c;
        }

        static boolean takesValue(String opt) {
            return switch (opt) {
                case "--help", "-h", "--self-test", "--no-prewarm", "--expect-limited-headers", "--expect-upstream-times" -> false;
                default -> true;
            };
        }

        static Assertion streamNumber(String kind, String v) throws UsageException {
            int eq = v.lastIndexOf('=');
            if (eq <= 0) throw new UsageException("--expect-" + kind + " needs STREAM=NUMBER, got '" + v + "'");
            return new Assertion(kind, v.substring(0, eq).trim(), parseNumber(v.substring(eq + 1).trim(), kind), null);
        }

        void validate() throws UsageException {
            for (String t : targetsText.split(",")) {
                t = t.trim();
                if (t.isEmpty()) continue;
                URI u;
                try {
                    u = URI.create(t.endsWith("/") ? t.substring(0, t.length() - 1) : t);
                } catch (IllegalArgumentException e) {
                    throw new UsageException("bad target URL '" + t + "'");
                }
                if (!"http".equals(u.getScheme()) || u.getHost() == null) {
                    throw new UsageException("target must be http://host:port, got '" + t + "'");
                }
                if (!isLoopback(u.getHost())) {
                    throw new UsageException("target host '" + u.getHost() + "' is not a loopback address");
                }
                targets.add(u);
            }
            if (targets.isEmpty()) throw new UsageException("no targets");
            if (!path.startsWith("/")) throw new UsageException("--path must start with '/'");
            if (shorthandRate != null) {
                if (!streams.isEmpty()) throw new UsageException("use either --rate or --stream, not both");
                if (!(shorthandRate > 0) || shorthandRate.isInfinite()) throw new UsageException("--rate must be > 0");
                StreamSpec s = new StreamSpec();
                s.name = "all";
                s.rate = shorthandRate;
                streams.add(s);
            }
            if (streams.isEmpty()) throw new UsageException("give --rate R or at least one --stream");
            Set<String> names = new LinkedHashSet<>();
            for (StreamSpec s : streams) {
                if (!names.add(s.name)) throw new UsageException("duplicate stream name '" + s.name + "'");
            }
            if (durationNanos <= 0) throw new UsageException("--duration must be > 0");
            if (warmupNanos < 0) throw new UsageException("--warmup must be >= 0");
            if (timeoutNanos <= 0) throw new UsageException("--timeout must be > 0");
            if (windowMicros <= 0) throw new UsageException("--window must be > 0");
            if (durationNanos + warmupNanos > 3_600_000_000_000L) throw new UsageException("warmup + duration must be <= 1 hour");
            if (timeoutNanos > 600_000_000_000L) throw new UsageException("--timeout must be <= 10 minutes");
            if (nice < -20 || nice > 19) throw new UsageException("--nice must be -20..19");
            if (connections < 0 || connections > 64) throw new UsageException("--connections must be 0..64");
            if (maxConnections < 1 || maxConnections > 5000) throw new UsageException("--max-connections must be 1..5000");
            if (spinNanos < 0 || spinNanos > 2_000_000L) throw new UsageException("--spin must be 0..2ms");
            double total = 0;
            for (StreamSpec s : streams) total += s.rate * (durationNanos + warmupNanos) / 1e9;
            if (total > 5_000_000) throw new UsageException("more than 5,000,000 requests requested (" + (long) total + ")");
            for (Assertion a : assertions) {
                if (a.stream != null && !a.stream.equals("*") && !names.contains(a.stream)) {
                    throw new UsageException("assertion names unknown stream '" + a.stream + "' (streams: " + names + ")");
                }
            }
        }
    }

    static boolean isLoopback(String host) {
        String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (h.equalsIgnoreCase("localhost") || h.equals("::1")) return true;
        String[] p = h.split("\\.");
        if (p.length != 4 || !p[0].equals("127")) return false;
        for (String x : p) {
            if (!x.matches("\\d{1,3}") || Integer.parseInt(x) > 255) return false;
        }
        return true;
    }

    static double parseNumber(String v, String what) throws UsageException {
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new UsageException("bad number for " + what + ": '" + v + "'");
        }
    }

    /** "250ms", "6s", "1.5s", "2m", "500us". A unit is required. */
    static long parseDurationNanos(String v) throws UsageException {
        String s = v.trim().toLowerCase(Locale.ROOT);
        long mult;
        String num;
        if (s.endsWith("ms")) {
            mult = 1_000_000L;
            num = s.substring(0, s.length() - 2);
        } else if (s.endsWith("us")) {
            mult = 1_000L;
            num = s.substring(0, s.length() - 2);
        } else if (s.endsWith("s")) {
            mult = 1_000_000_000L;
            num = s.substring(0, s.length() - 1);
        } else if (s.endsWith("m")) {
            mult = 60_000_000_000L;
            num = s.substring(0, s.length() - 1);
        } else {
            throw new UsageException("duration '" + v + "' needs a unit: ms, s or m (e.g. 500ms, 6s)");
        }
        double d;
        try {
            d = Double.parseDouble(num);
        } catch (NumberFormatException e) {
            throw new UsageException("bad duration '" + v + "'");
        }
        if (d < 0 || Double.isNaN(d) || Double.isInfinite(d)) throw new UsageException("bad duration '" + v + "'");
        return Math.round(d * mult);
    }

    // ---------------------------------------------------------------------------------- schedule

    /** One request: its schedule, what the pacer did, and how it ended. */
    static final class Rec {
        final int stream, seq;
        final long schedNanos;   // relative to t0 (schedule origin)
        final boolean measured;  // scheduled at or after the end of the warm-up
        int target;
        long sendNanos;          // actual send (start of the socket write), relative to t0
        boolean written;         // the request bytes were written (false: never sent)
        long dispatchNanos;      // time the pacer spent handing this request over (socket write)

        // completion, guarded by "this"
        int outcome = PENDING;   // HTTP status, TIMEOUT or CONN_ERR
        long doneNanos;
        long upstreamMicros = NONE;   // X-Upstream-Received-At (epoch µs), if present and parseable
        String retryAfter, rateLimit, rateLimitPolicy, contentType, error;
        long bodyLength;

        Rec(int stream, int seq, long schedNanos, boolean measured) {
            this.stream = stream;
            this.seq = seq;
            this.schedNanos = schedNanos;
            this.measured = measured;
        }

        /** Records a response once; returns false if the request had already been finished. */
        synchronized boolean completeResponse(int status, long upstream, String ra, String rl, String rlp, String ct, long body, long done) {
            if (outcome != PENDING) return false;
            outcome = status;
            upstreamMicros = upstream;
            retryAfter = ra;
            rateLimit = rl;
            rateLimitPolicy = rlp;
            contentType = ct;
            bodyLength = body;
            doneNanos = done;
            return true;
        }

        /** Records a failure (TIMEOUT or CONN_ERR) once. */
        synchronized boolean completeError(int kind, String msg, long done) {
            if (outcome != PENDING) return false;
            outcome = kind;
            error = msg;
            doneNanos = done;
            return true;
        }

        /** Called after the I/O thread stopped: anything still open counts as timeout. */
        synchronized boolean forceTimeout(long now) {
            if (outcome != PENDING) return false;
            outcome = TIMEOUT;
            doneNanos = now;
            if (!written) {
                sendNanos = now;
                error = "never sent (no connection became available)";
            } else {
                error = "no answer by (last send + timeout)";
            }
            return true;
        }

        synchronized boolean is2xx() {
            return outcome >= 200 && outcome < 300;
        }
    }

    /** All sends of all streams, merged and sorted by scheduled time. */
    static Rec[] buildSchedule(Config cfg) {
        List<Rec> all = new ArrayList<>();
        long end = cfg.warmupNanos + cfg.durationNanos;
        int n = cfg.streams.size();
        for (int s = 0; s < n; s++) {
            double interval = 1e9 / cfg.streams.get(s).rate;
            double offset = interval * s / n;          // stagger streams inside one interval
            for (int k = 0; ; k++) {
                long at = Math.round(offset + k * interval);
                if (at >= end) break;
                all.add(new Rec(s, k, at, at >= cfg.warmupNanos));
            }
        }
        all.sort(Comparator.comparingLong((Rec r) -> r.schedNanos).thenComparingInt(r -> r.stream));
        return all.toArray(new Rec[0]);
    }

    // ---------------------------------------------------------------------------------- the math

    /**
     * Exact maximum number of times in any half-open window (t - w, t], over all real t.
     * The maximum is always reached with t equal to one of the times (move t left to the latest time
     * inside the window: no time leaves it), so a two-pointer scan over the sorted times is exact.
     * Returns {max, t at which it is reached (NONE if no times)}.
     */
    static long[] maxInWindow(long[] sorted, long w) {
        int best = 0;
        long bestEnd = NONE;
        int i = 0;
        for (int j = 0; j < sorted.length; j++) {
            while (sorted[i] <= sorted[j] - w) i++;
            int count = j - i + 1;
            if (count > best) {
                best = count;
                bestEnd = sorted[j];
            }
        }
        return new long[] {best, bestEnd};
    }

    /**
     * Counts of times in the whole aligned buckets [k*w, (k+1)*w) with k*w >= from and
     * (k+1)*w <= to. Returns {k of the first bucket, count0, count1, ...}; only {k} if none fits.
     */
    static long[] alignedBuckets(long[] sorted, long w, long from, long to) {
        long k0 = Math.floorDiv(from + w - 1, w);       // first k with k*w >= from
        long kEnd = Math.floorDiv(to, w);                // buckets k < kEnd end at or before "to"
        int n = (int) Math.max(0, kEnd - k0);
        long[] out = new long[n + 1];
        out[0] = k0;
        for (long t : sorted) {
            long k = Math.floorDiv(t, w);
            if (k >= k0 && k < kEnd) out[(int) (k - k0) + 1]++;
        }
        return out;
    }

    /** Counts per bucket [k*b, (k+1)*b) for k = 0..; at least minBuckets; negative times go to bucket 0. */
    static int[] perBucket(long[] sorted, long b, int minBuckets) {
        int n = minBuckets;
        if (sorted.length > 0) n = (int) Math.max(n, Math.floorDiv(sorted[sorted.length - 1], b) + 1);
        int[] out = new int[Math.max(n, 0)];
        for (long t : sorted) out[(int) Math.max(0, Math.floorDiv(t, b))]++;
        return out;
    }

    /** Nearest-rank percentile of sorted values (p in (0,100]); NONE if empty. */
    static long percentile(long[] sorted, double p) {
        if (sorted.length == 0) return NONE;
        int idx = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.min(sorted.length - 1, Math.max(0, idx))];
    }

    // ---------------------------------------------------------------------------------- analysis

    static final class Stats {
        String name;
        double rate;
        String headers;
        int sent, unsent, s200, s429, s401, s502, s504, other, timeouts, connErrors;
        final TreeMap<Integer, Integer> otherCodes = new TreeMap<>();
        final TreeMap<String, Integer> errorKinds = new TreeMap<>();
        int forwarded, fwdFromHeader, fwdFromClient, clockSuspects;
        double meanFwdPerSec;
        int maxWindow;
        long maxWindowEndMicros = NONE;
        int minBucket = -1;
        long minBucketStartMicros = NONE;
        int alignedBucketCount;
        int[] perSecond = new int[0];
        int measuredSeconds;
        long[] lat2xx = new long[0], lat429 = new long[0];
        int late2xx;
        double achievedSendRate = Double.NaN;
        long maxLagMicros, p99LagMicros, maxDispatchMicros;
        int n429, n429Complete, missRetryAfter, missRateLimit, missPolicy, badContentType, emptyBody;
        String limitedHeaderExample;

        int nonSuccess() {
            return sent - forwarded;
        }

        String fwdSource() {
            if (forwarded == 0) return "n/a (nothing forwarded)";
            if (fwdFromClient == 0) return RECEIVED_HEADER + " header (all " + forwarded + ")";
            if (fwdFromHeader == 0) return "client receive time (all " + forwarded + "; no " + RECEIVED_HEADER + " header)";
            return "MIXED: header " + fwdFromHeader + ", client receive time " + fwdFromClient;
        }
    }

    static final class Result {
        final List<Stats> streams = new ArrayList<>();
        Stats total;
        int forcedTimeouts;
        double wallSeconds;
        long epochMicrosAtMeasureStart;
        int connectionsOpened, maxOpenConnections, connectionLimitWaits;
        String priority = "";
    }

    static Result analyse(Config cfg, Rec[] schedule, long epochMicrosAtT0) {
        Result res = new Result();
        List<List<Rec>> byStream = new ArrayList<>();
        for (int s = 0; s < cfg.streams.size(); s++) byStream.add(new ArrayList<>());
        List<Rec> allMeasured = new ArrayList<>();
        for (Rec r : schedule) {
            if (!r.measured) continue;
            byStream.get(r.stream).add(r);
            allMeasured.add(r);
        }
        double totalRate = 0;
        for (int s = 0; s < cfg.streams.size(); s++) {
            StreamSpec sp = cfg.streams.get(s);
            totalRate += sp.rate;
            res.streams.add(stats(cfg, sp.name, sp.rate, sp.headerText(), byStream.get(s), epochMicrosAtT0));
        }
        res.total = stats(cfg, "TOTAL", totalRate, "", allMeasured, epochMicrosAtT0);
        return res;
    }

    static Stats stats(Config cfg, String name, double rate, String headers, List<Rec> recs, long epochMicrosAtT0) {
        Stats st = new Stats();
        st.name = name;
        st.rate = rate;
        st.headers = headers;
        long measureStartNanos = cfg.warmupNanos;
        long epochMicrosAtMeasureStart = epochMicrosAtT0 + measureStartNanos / 1000;
        List<Long> fwd = new ArrayList<>(), l2 = new ArrayList<>(), l429 = new ArrayList<>(), lags = new ArrayList<>();
        long firstSend = Long.MAX_VALUE, lastSend = Long.MIN_VALUE;
        for (Rec r : recs) {
            st.sent++;
            if (!r.written) st.unsent++;
            firstSend = Math.min(firstSend, r.sendNanos);
            lastSend = Math.max(lastSend, r.sendNanos);
            lags.add((r.sendNanos - r.schedNanos) / 1000);
            st.maxDispatchMicros = Math.max(st.maxDispatchMicros, r.dispatchNanos / 1000);
            long latency = (r.doneNanos - r.sendNanos) / 1000;
            int o = r.outcome;
            switch (o) {
                case 200 -> st.s200++;
                case 429 -> st.s429++;
                case 401 -> st.s401++;
                case 502 -> st.s502++;
                case 504 -> st.s504++;
                case TIMEOUT -> st.timeouts++;
                case CONN_ERR -> st.connErrors++;
                default -> {
                    st.other++;
                    st.otherCodes.merge(o, 1, Integer::sum);
                }
            }
            if (r.error != null) st.errorKinds.merge(r.error.split(":")[0], 1, Integer::sum);
            if (o >= 200 && o < 300) {
                st.forwarded++;
                long t;
                if (r.upstreamMicros != NONE) {
                    st.fwdFromHeader++;
                    t = r.upstreamMicros - epochMicrosAtMeasureStart;
                    // the upstream cannot receive a request before it was sent: allow 1 ms for clocks
                    long sendRel = (r.sendNanos - measureStartNanos) / 1000;
                    long doneRel = (r.doneNanos - measureStartNanos) / 1000;
                    if (t < sendRel - 1000 || t > doneRel + 1000) st.clockSuspects++;
                } else {
                    st.fwdFromClient++;
                    t = (r.doneNanos - measureStartNanos) / 1000;
                }
                fwd.add(t);
                l2.add(latency);
                if (latency > cfg.lateMicros) st.late2xx++;
            } else if (o == 429) {
                l429.add(latency);
                st.n429++;
                boolean ok = true;
                if (r.retryAfter == null) {
                    st.missRetryAfter++;
                    ok = false;
                }
                if (r.rateLimit == null) {
                    st.missRateLimit++;
                    ok = false;
                }
                if (r.rateLimitPolicy == null) {
                    st.missPolicy++;
                    ok = false;
                }
                if (r.contentType == null || !r.contentType.split(";")[0].trim().equalsIgnoreCase("application/problem+json")) {
                    st.badContentType++;
                    ok = false;
                }
                if (r.bodyLength == 0) {
                    st.emptyBody++;
                    ok = false;
                }
                if (ok) st.n429Complete++;
                if (st.limitedHeaderExample == null) {
                    st.limitedHeaderExample = "Retry-After: " + r.retryAfter + " | RateLimit: " + r.rateLimit
                        + " | RateLimit-Policy: " + r.rateLimitPolicy + " | Content-Type: " + r.contentType;
                }
            }
        }
        long[] f = toSortedArray(fwd);
        st.lat2xx = toSortedArray(l2);
        st.lat429 = toSortedArray(l429);
        long[] lag = toSortedArray(lags);
        st.maxLagMicros = lag.length == 0 ? 0 : lag[lag.length - 1];
        st.p99LagMicros = lag.length == 0 ? 0 : percentile(lag, 99);
        if (st.sent > 1 && lastSend > firstSend) st.achievedSendRate = (st.sent - 1) * 1e9 / (lastSend - firstSend);
        long durMicros = cfg.durationNanos / 1000;
        st.meanFwdPerSec = st.forwarded / (cfg.durationNanos / 1e9);
        long[] mw = maxInWindow(f, cfg.windowMicros);
        st.maxWindow = (int) mw[0];
        st.maxWindowEndMicros = mw[1];
        long[] ab = alignedBuckets(f, cfg.windowMicros, 1_000_000L, durMicros);
        st.alignedBucketCount = ab.length - 1;
        for (int i = 1; i < ab.length; i++) {
            if (st.minBucket < 0 || ab[i] < st.minBucket) {
                st.minBucket = (int) ab[i];
                st.minBucketStartMicros = (ab[0] + i - 1) * cfg.windowMicros;
            }
        }
        st.measuredSeconds = (int) Math.ceil(cfg.durationNanos / 1e9);
        st.perSecond = perBucket(f, 1_000_000L, st.measuredSeconds);
        return st;
    }

    static long[] toSortedArray(List<Long> xs) {
        long[] a = new long[xs.size()];
        for (int i = 0; i < a.length; i++) a[i] = xs.get(i);
        Arrays.sort(a);
        return a;
    }

    // -------------------------------------------------------------------------------- assertions

    /** Each result: {PASS|FAIL, description, detail}. */
    static List<String[]> evaluate(Config cfg, Result res) {
        List<String[]> out = new ArrayList<>();
        for (Assertion a : cfg.assertions) {
            if (a.kind.equals("limited-headers")) {
                Stats t = res.total;
                boolean ok = t.n429Complete == t.n429;
                String detail = t.n429Complete + "/" + t.n429 + " responses 429 complete";
                if (!ok) {
                    detail += " (missing Retry-After " + t.missRetryAfter + ", RateLimit " + t.missRateLimit
                        + ", RateLimit-Policy " + t.missPolicy + ", not application/problem+json " + t.badContentType
                        + ", empty body " + t.emptyBody + "; first seen: " + t.limitedHeaderExample + ")";
                }
                if (t.n429 == 0) detail += " (no 429 received, nothing to check)";
                out.add(new String[] {ok ? "PASS" : "FAIL", "every 429 has Retry-After, RateLimit, RateLimit-Policy, problem+json body", detail});
                continue;
            }
            if (a.kind.equals("upstream-times")) {
                Stats t = res.total;
                boolean ok = t.fwdFromClient == 0;
                out.add(new String[] {ok ? "PASS" : "FAIL", "every 2xx carries " + RECEIVED_HEADER + " (forwarded times are upstream times)",
                    t.fwdFromHeader + "/" + t.forwarded + " had it"});
                continue;
            }
            for (Stats s : res.streams) {
                if (!a.stream.equals("*") && !a.stream.equals(s.name)) continue;
                switch (a.kind) {
                    case "max-window" -> out.add(new String[] {s.maxWindow <= a.number ? "PASS" : "FAIL",
                        s.name + ": max forwarded in any " + fmtDur(cfg.windowMicros) + " window <= " + fmtNum(a.number),
                        "observed " + s.maxWindow + (s.maxWindowEndMicros == NONE ? "" : " (window ending at +" + fmtMs(s.maxWindowEndMicros) + ")")});
                    case "min-rate" -> out.add(new String[] {s.meanFwdPerSec >= a.number ? "PASS" : "FAIL",
                        s.name + ": mean forwarded/s >= " + fmtNum(a.number),
                        String.format(Locale.ROOT, "observed %.3f/s (%d forwarded / %s)", s.meanFwdPerSec, s.forwarded, fmtDur(cfg.durationNanos / 1000))});
                    case "never-limited" -> out.add(new String[] {s.forwarded == s.sent ? "PASS" : "FAIL",
                        s.name + ": never limited (every request got a 2xx)",
                        s.forwarded + "/" + s.sent + " were 2xx" + (s.forwarded == s.sent ? "" : " — " + outcomesText(s))});
                    case "statuses" -> {
                        int bad = 0;
                        for (var e : outcomeCounts(s).entrySet()) {
                            if (e.getValue() > 0 && !a.codes.contains(e.getKey())) bad += e.getValue();
                        }
                        out.add(new String[] {bad == 0 ? "PASS" : "FAIL",
                            s.name + ": every answer is one of " + a.codes,
                            bad == 0 ? "all " + s.sent + " ok" : bad + " other outcomes — " + outcomesText(s)});
                    }
                    default -> throw new IllegalStateException(a.kind);
                }
            }
        }
        return out;
    }

    /** Outcome code -> count (TIMEOUT and CONN_ERR as negative codes). */
    static Map<Integer, Integer> outcomeCounts(Stats s) {
        Map<Integer, Integer> m = new LinkedHashMap<>();
        m.put(200, s.s200);
        m.put(429, s.s429);
        m.put(401, s.s401);
        m.put(502, s.s502);
        m.put(504, s.s504);
        s.otherCodes.forEach(m::put);
        m.put(TIMEOUT, s.timeouts);
        m.put(CONN_ERR, s.connErrors);
        return m;
    }

    static String outcomesText(Stats s) {
        StringBuilder sb = new StringBuilder();
        sb.append("200=").append(s.s200).append(" 429=").append(s.s429).append(" 401=").append(s.s401)
            .append(" 502=").append(s.s502).append(" 504=").append(s.s504).append(" other=").append(s.other);
        if (!s.otherCodes.isEmpty()) sb.append(s.otherCodes.toString().replace(", ", ",").replace("{", "{").replace("}", "}"));
        sb.append(" timeout=").append(s.timeouts).append(" connErr=").append(s.connErrors);
        return sb.toString();
    }

    // ----------------------------------------------------------------------------------- output

    static String fmtMs(long micros) {
        return String.format(Locale.ROOT, "%.3f ms", micros / 1000.0);
    }

    static String fmtDur(long micros) {
        if (micros % 1_000_000 == 0) return (micros / 1_000_000) + "s";
        if (micros % 1000 == 0) return (micros / 1000) + "ms";
        return micros + "us";
    }

    static String fmtNum(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : String.format(Locale.ROOT, "%s", d);
    }

    static String latText(long[] sorted) {
        if (sorted.length == 0) return "n/a (none)";
        return String.format(Locale.ROOT, "p50 %.2f / p99 %.2f / max %.2f ms (n=%d)",
            percentile(sorted, 50) / 1000.0, percentile(sorted, 99) / 1000.0, sorted[sorted.length - 1] / 1000.0, sorted.length);
    }

    static String perSecondText(Stats s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.perSecond.length; i++) {
            if (i > 0) sb.append(i == s.measuredSeconds ? " | " : " ");
            sb.append(s.perSecond[i]);
        }
        if (s.perSecond.length == s.measuredSeconds) sb.append(" |");
        return sb.toString();
    }

    static void printReport(PrintStream o, Config cfg, Result res, List<String[]> asserts) {
        String w = fmtDur(cfg.windowMicros);
        o.println("=== Sluice LoadClient (open loop: sends follow the schedule, never wait for responses) ===");
        StringBuilder tg = new StringBuilder();
        for (URI u : cfg.targets) tg.append(tg.length() == 0 ? "" : ", ").append(u);
        o.println("targets     " + tg + "  (round-robin per stream)   request: " + cfg.method + " " + cfg.path);
        o.println("measured    " + fmtDur(cfg.durationNanos / 1000) + " (warm-up before it, not counted: " + fmtDur(cfg.warmupNanos / 1000)
            + ")   window W=" + w + "   timeout " + fmtDur(cfg.timeoutNanos / 1000) + "   wall " + String.format(Locale.ROOT, "%.2f s", res.wallSeconds));
        o.println("forwarded   = a 2xx response; its time = " + RECEIVED_HEADER + " (upstream receive) if present, else client receive time");
        o.println("            time 0 = start of the measured duration; max window = max count in any (t-W, t]");
        for (Stats s : res.streams) printStats(o, cfg, s, false);
        if (res.streams.size() > 1) printStats(o, cfg, res.total, true);
        else o.println("  " + summaryLine(res.total) + "   (one stream: TOTAL = the stream above)");
        o.println();
        o.println("threads: " + res.priority);
        o.println("connections: " + res.connectionsOpened + " opened (incl. " + Math.min(cfg.connections, cfg.maxConnections)
            + " pre-opened per target), at most "
            + res.maxOpenConnections + " open at once" + (res.connectionLimitWaits > 0
            ? "; " + res.connectionLimitWaits + " sends waited for a free connection (--max-connections reached)" : ""));
        if (res.forcedTimeouts > 0) {
            o.println("note: " + res.forcedTimeouts + " request(s) were still unanswered at (last send + timeout) and count as timeout");
        }
        if (!asserts.isEmpty()) {
            o.println("--- assertions");
            for (String[] a : asserts) o.println(a[0] + "  " + a[1] + ": " + a[2]);
            long failed = asserts.stream().filter(a -> a[0].equals("FAIL")).count();
            o.println(failed == 0 ? "RESULT: all " + asserts.size() + " assertions passed" : "RESULT: " + failed + " of " + asserts.size() + " assertions FAILED");
        }
    }

    static void printStats(PrintStream o, Config cfg, Stats s, boolean total) {
        String w = fmtDur(cfg.windowMicros);
        o.println();
        if (total) o.println("--- TOTAL over all streams (target " + fmtNum2(s.rate) + "/s)");
        else o.println("--- stream " + s.name + "   rate " + fmtNum2(s.rate) + "/s   headers: " + s.headers);
        o.println("  sent " + s.sent + (s.unsent > 0 ? " (" + s.unsent + " of them NEVER written: no connection)" : "")
            + "   answered: " + outcomesText(s));
        if (!s.errorKinds.isEmpty()) o.println("  errors: " + s.errorKinds);
        o.println(String.format(Locale.ROOT, "  forwarded %d   mean %.3f/s   late 2xx (> %s) %d", s.forwarded, s.meanFwdPerSec, fmtDur(cfg.lateMicros), s.late2xx));
        o.println("  fwd time from: " + s.fwdSource() + (s.clockSuspects > 0 ? "   WARNING: " + s.clockSuspects + " header times outside [send-1ms, receive+1ms]" : ""));
        o.println("  max forwarded in any (t-" + w + ", t]: " + s.maxWindow
            + (s.maxWindowEndMicros == NONE ? "" : "  (first reached at t=+" + fmtMs(s.maxWindowEndMicros) + ")"));
        if (s.alignedBucketCount > 0) {
            o.println("  min forwarded in aligned " + w + " buckets after the 1st second: " + s.minBucket
                + String.format(Locale.ROOT, "  (first such bucket [%.3f s, %.3f s), of %d whole buckets)",
                s.minBucketStartMicros / 1e6, (s.minBucketStartMicros + cfg.windowMicros) / 1e6, s.alignedBucketCount));
        } else {
            o.println("  min forwarded in aligned " + w + " buckets after the 1st second: n/a (no whole bucket fits)");
        }
        o.println("  fwd/1s: " + perSecondText(s));
        o.println("  latency 2xx: " + latText(s.lat2xx));
        o.println("  latency 429: " + latText(s.lat429));
        if (s.n429 > 0) {
            o.println("  429 with all limit headers + problem+json body: " + s.n429Complete + "/" + s.n429
                + (s.n429Complete == s.n429 ? "" : "  (missing Retry-After " + s.missRetryAfter + ", RateLimit " + s.missRateLimit
                + ", RateLimit-Policy " + s.missPolicy + ", bad content-type " + s.badContentType + ", empty body " + s.emptyBody + ")"));
            if (!total) o.println("  first 429: " + s.limitedHeaderExample);
        }
        o.println(String.format(Locale.ROOT, "  sending: target %s/s  achieved %.3f/s  lag max %s  p99 %s  (longest send call %s)",
            fmtNum2(s.rate), s.achievedSendRate, fmtMs(s.maxLagMicros), fmtMs(s.p99LagMicros), fmtMs(s.maxDispatchMicros)));
        o.println("  " + summaryLine(s));
    }

    /** One greppable key=value line per stream (and TOTAL), for scripts. */
    static String summaryLine(Stats s) {
        return String.format(Locale.ROOT,
            "summary: stream=%s sent=%d fwd=%d s200=%d s429=%d s401=%d s502=%d s504=%d other=%d timeout=%d connErr=%d"
                + " late2xx=%d meanPerSec=%.3f maxWindow=%d minBucket=%s fwdFromHeader=%d fwdFromClient=%d"
                + " lat2xxP50Ms=%s lat2xxP99Ms=%s lat2xxMaxMs=%s lat429P50Ms=%s limited=%d limitedComplete=%d"
                + " sendRate=%.3f lagMaxMs=%.3f lagP99Ms=%.3f",
            s.name, s.sent, s.forwarded, s.s200, s.s429, s.s401, s.s502, s.s504, s.other, s.timeouts, s.connErrors,
            s.late2xx, s.meanFwdPerSec, s.maxWindow, s.minBucket < 0 ? "na" : Integer.toString(s.minBucket), s.fwdFromHeader, s.fwdFromClient,
            msOrNa(s.lat2xx, 50), msOrNa(s.lat2xx, 99), msOrNa(s.lat2xx, 100), msOrNa(s.lat429, 50), s.n429, s.n429Complete,
            s.achievedSendRate, s.maxLagMicros / 1000.0, s.p99LagMicros / 1000.0);
    }

    static String msOrNa(long[] sorted, double p) {
        return sorted.length == 0 ? "na" : String.format(Locale.ROOT, "%.2f", percentile(sorted, p) / 1000.0);
    }

    static String fmtNum2(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : String.format(Locale.ROOT, "%.3f", d);
    }

    // ------------------------------------------------------------------------------- JSON / CSV

    static String js(String s) {
        if (s == null) return "null";
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        return sb.append('"').toString();
    }

    static String jn(double d) {
        if (Double.isNaN(d) || Double.isInfinite(d)) return "null";
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : String.format(Locale.ROOT, "%.6f", d);
    }

    static String jLat(long[] sorted) {
        if (sorted.length == 0) return "{\"count\":0}";
        return "{\"count\":" + sorted.length + ",\"p50Micros\":" + percentile(sorted, 50) + ",\"p99Micros\":" + percentile(sorted, 99)
            + ",\"maxMicros\":" + sorted[sorted.length - 1] + "}";
    }

    static String statsJson(Stats s) {
        StringBuilder b = new StringBuilder("{");
        b.append("\"name\":").append(js(s.name)).append(",\"targetRate\":").append(jn(s.rate))
            .append(",\"headers\":").append(js(s.headers))
            .append(",\"sent\":").append(s.sent).append(",\"neverWritten\":").append(s.unsent)
            .append(",\"status\":{\"200\":").append(s.s200).append(",\"429\":").append(s.s429).append(",\"401\":").append(s.s401)
            .append(",\"502\":").append(s.s502).append(",\"504\":").append(s.s504).append(",\"other\":").append(s.other)
            .append(",\"timeout\":").append(s.timeouts).append(",\"connectionError\":").append(s.connErrors).append("}");
        b.append(",\"otherCodes\":{");
        boolean first = true;
        for (var e : s.otherCodes.entrySet()) {
            b.append(first ? "" : ",").append(js(e.getKey().toString())).append(':').append(e.getValue());
            first = false;
        }
        b.append("},\"errors\":{");
        first = true;
        for (var e : s.errorKinds.entrySet()) {
            b.append(first ? "" : ",").append(js(e.getKey())).append(':').append(e.getValue());
            first = false;
        }
        b.append("}");
        b.append(",\"forwarded\":").append(s.forwarded)
            .append(",\"forwardedTimeFromHeader\":").append(s.fwdFromHeader)
            .append(",\"forwardedTimeFromClient\":").append(s.fwdFromClient)
            .append(",\"forwardedTimeSource\":").append(js(s.fwdSource()))
            .append(",\"clockSuspects\":").append(s.clockSuspects)
            .append(",\"meanForwardedPerSec\":").append(jn(s.meanFwdPerSec))
            .append(",\"maxForwardedInWindow\":").append(s.maxWindow)
            .append(",\"maxWindowEndMicros\":").append(s.maxWindowEndMicros == NONE ? "null" : Long.toString(s.maxWindowEndMicros))
            .append(",\"minForwardedInAlignedBucketAfterFirstSecond\":").append(s.minBucket < 0 ? "null" : Integer.toString(s.minBucket))
            .append(",\"minBucketStartMicros\":").append(s.minBucketStartMicros == NONE ? "null" : Long.toString(s.minBucketStartMicros))
            .append(",\"alignedBuckets\":").append(s.alignedBucketCount)
            .append(",\"forwardedPerSecond\":").append(Arrays.toString(s.perSecond).replace(" ", ""))
            .append(",\"measuredSeconds\":").append(s.measuredSeconds)
            .append(",\"late2xx\":").append(s.late2xx)
            .append(",\"latency2xx\":").append(jLat(s.lat2xx))
            .append(",\"latency429\":").append(jLat(s.lat429))
            .append(",\"limited\":{\"count\":").append(s.n429).append(",\"complete\":").append(s.n429Complete)
            .append(",\"missingRetryAfter\":").append(s.missRetryAfter).append(",\"missingRateLimit\":").append(s.missRateLimit)
            .append(",\"missingRateLimitPolicy\":").append(s.missPolicy).append(",\"badContentType\":").append(s.badContentType)
            .append(",\"emptyBody\":").append(s.emptyBody).append(",\"example\":").append(js(s.limitedHeaderExample)).append("}")
            .append(",\"send\":{\"achievedRate\":").append(jn(s.achievedSendRate)).append(",\"maxLagMicros\":").append(s.maxLagMicros)
            .append(",\"p99LagMicros\":").append(s.p99LagMicros).append(",\"maxSendCallMicros\":").append(s.maxDispatchMicros).append("}");
        return b.append("}").toString();
    }

    static void writeJson(Path file, Config cfg, Result res, List<String[]> asserts) throws IOException {
        StringBuilder b = new StringBuilder("{\n");
        b.append("\"tool\":\"sluice-loadclient\",\n");
        b.append("\"config\":{\"targets\":[");
        for (int i = 0; i < cfg.targets.size(); i++) b.append(i == 0 ? "" : ",").append(js(cfg.targets.get(i).toString()));
        b.append("],\"path\":").append(js(cfg.path)).append(",\"method\":").append(js(cfg.method))
            .append(",\"durationMicros\":").append(cfg.durationNanos / 1000).append(",\"warmupMicros\":").append(cfg.warmupNanos / 1000)
            .append(",\"timeoutMicros\":").append(cfg.timeoutNanos / 1000).append(",\"windowMicros\":").append(cfg.windowMicros)
            .append(",\"lateMicros\":").append(cfg.lateMicros).append(",\"streams\":[");
        for (int i = 0; i < cfg.streams.size(); i++) {
            StreamSpec s = cfg.streams.get(i);
            b.append(i == 0 ? "" : ",").append("{\"name\":").append(js(s.name)).append(",\"rate\":").append(jn(s.rate))
                .append(",\"headers\":").append(js(s.headerText())).append("}");
        }
        b.append("]},\n");
        b.append("\"epochMicrosAtMeasureStart\":").append(res.epochMicrosAtMeasureStart).append(",\n");
        b.append("\"wallSeconds\":").append(jn(res.wallSeconds)).append(",\n");
        b.append("\"forcedTimeouts\":").append(res.forcedTimeouts).append(",\n");
        b.append("\"threadPriority\":").append(js(res.priority)).append(",\n");
        b.append("\"connections\":{\"opened\":").append(res.connectionsOpened).append(",\"maxOpen\":").append(res.maxOpenConnections)
            .append(",\"limitWaits\":").append(res.connectionLimitWaits).append("},\n");
        b.append("\"streams\":[\n");
        for (int i = 0; i < res.streams.size(); i++) b.append(i == 0 ? "" : ",\n").append(statsJson(res.streams.get(i)));
        b.append("\n],\n\"total\":").append(statsJson(res.total)).append(",\n");
        b.append("\"assertions\":[");
        for (int i = 0; i < asserts.size(); i++) {
            String[] a = asserts.get(i);
            b.append(i == 0 ? "\n" : ",\n").append("{\"result\":").append(js(a[0])).append(",\"check\":").append(js(a[1]))
                .append(",\"detail\":").append(js(a[2])).append("}");
        }
        b.append("\n],\n\"passed\":").append(asserts.stream().allMatch(a -> a[0].equals("PASS"))).append("\n}\n");
        if (file.getParent() != null) Files.createDirectories(file.getParent());
        Files.writeString(file, b.toString());
    }

    static String csv(String s) {
        if (s == null) return "";
        if (s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")) return "\"" + s.replace("\"", "\"\"") + "\"";
        return s;
    }

    static void writeCsv(Path file, Config cfg, Rec[] schedule, long epochMicrosAtT0) throws IOException {
        if (file.getParent() != null) Files.createDirectories(file.getParent());
        long ms = cfg.warmupNanos;          // relative origin: start of the measured duration
        long epochMs = epochMicrosAtT0 + ms / 1000;
        try (Writer w = Files.newBufferedWriter(file)) {
            w.write("stream,target,seq,measured,scheduledMicros,sendMicros,doneMicros,latencyMicros,status,forwardedAtMicros,forwardedSource,retryAfter,rateLimit,rateLimitPolicy\n");
            for (Rec r : schedule) {
                String status = r.outcome == TIMEOUT ? "timeout" : r.outcome == CONN_ERR ? "connerr" : Integer.toString(r.outcome);
                String fwdAt = "", src = "";
                if (r.is2xx()) {
                    if (r.upstreamMicros != NONE) {
                        fwdAt = Long.toString(r.upstreamMicros - epochMs);
                        src = "header";
                    } else {
                        fwdAt = Long.toString((r.doneNanos - ms) / 1000);
                        src = "client";
                    }
                }
                w.write(csv(cfg.streams.get(r.stream).name) + "," + csv(cfg.targets.get(r.target).toString()) + "," + r.seq + ","
                    + r.measured + "," + (r.schedNanos - ms) / 1000 + "," + (r.sendNanos - ms) / 1000 + "," + (r.doneNanos - ms) / 1000 + ","
                    + (r.doneNanos - r.sendNanos) / 1000 + "," + status + "," + fwdAt + "," + src + "," + csv(r.retryAfter) + ","
                    + csv(r.rateLimit) + "," + csv(r.rateLimitPolicy) + "\n");
            }
        }
    }

    // -------------------------------------------------------------------------------- self-test

    static final class SelfTest {
        static int failures, checks;

        static void check(boolean ok, String what) {
            checks++;
            if (!ok) {
                failures++;
                System.out.println("FAIL " + what);
            }
        }

        static void eq(long got, long want, String what) {
            check(got == want, what + ": got " + got + ", want " + want);
        }

        static long[] a(long... xs) {
            return xs;
        }

        /** Scripted raw responses, by request path, for the HTTP engine test. */
        static byte[][] scripted(String path) {
            String crlf = "\r\n";
            return switch (path) {
                case "/fixed" -> new byte[][] {("HTTP/1.1 200 OK" + crlf + "Content-Length: 5" + crlf
                    + "X-Upstream-Received-At: 1234567" + crlf + crlf + "hello").getBytes(StandardCharsets.ISO_8859_1)};
                case "/chunked429" -> new byte[][] {("HTTP/1.1 429 Too Many Requests" + crlf + "transfer-encoding: chunked" + crlf
                    + "retry-after: 1" + crlf + "RateLimit: \"g\";r=0;t=1" + crlf + "RateLimit-Policy: \"g\";q=10;w=1" + crlf
                    + "Content-Type: application/problem+json; charset=utf-8" + crlf + crlf + "3;ext=1" + crlf + "abc" + crlf)
                    .getBytes(StandardCharsets.ISO_8859_1),
                    ("2" + crlf + "de" + crlf + "0" + crlf + "X-Trailer: t" + crlf + crlf).getBytes(StandardCharsets.ISO_8859_1)};
                case "/continue" -> new byte[][] {("HTTP/1.1 100 Continue" + crlf + crlf + "HTTP/1.1 201 Created" + crlf
                    + "Content-Length: 2" + crlf + crlf + "ok").getBytes(StandardCharsets.ISO_8859_1)};
                case "/http10" -> new byte[][] {("HTTP/1.0 200 OK" + crlf + "Content-Type: text/plain" + crlf + crlf + "until close")
                    .getBytes(StandardCharsets.ISO_8859_1), null};   // null = close the connection
                case "/nocontent" -> new byte[][] {("HTTP/1.1 204 No Content" + crlf + crlf).getBytes(StandardCharsets.ISO_8859_1)};
                case "/close" -> new byte[][] {("HTTP/1.1 502 Bad Gateway" + crlf + "Connection: close" + crlf + "Content-Length: 3" + crlf
                    + crlf + "bad").getBytes(StandardCharsets.ISO_8859_1), null};
                case "/dribble" -> {
                    byte[] all = ("HTTP/1.1 200 OK" + crlf + "Content-Length: 4" + crlf + crlf + "slow").getBytes(StandardCharsets.ISO_8859_1);
                    byte[][] parts = new byte[all.length][];
                    for (int i = 0; i < all.length; i++) parts[i] = new byte[] {all[i]};
                    yield parts;
                }
                case "/hangup" -> new byte[][] {null};
                default -> new byte[0][];   // "/silent": never answer
            };
        }

        /** Runs the real engine against a raw loopback server that sends scripted byte sequences. */
        static void httpParsing() throws Exception {
            String[] paths = {"/fixed", "/chunked429", "/continue", "/http10", "/nocontent", "/close", "/dribble", "/hangup", "/silent"};
            java.net.ServerSocket ss = new java.net.ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            List<java.net.Socket> accepted = java.util.Collections.synchronizedList(new ArrayList<>());
            Thread acceptor = new Thread(() -> {
                while (!ss.isClosed()) {
                    try {
                        java.net.Socket sock = ss.accept();
                        accepted.add(sock);
                        Thread h = new Thread(() -> serveScripted(sock));
                        h.setDaemon(true);
                        h.start();
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            Engine eng = null;
            try {
                URI u = URI.create("http://127.0.0.1:" + ss.getLocalPort());
                byte[][][] req = new byte[paths.length][1][];
                for (int i = 0; i < paths.length; i++) req[i][0] = requestBytes("GET", paths[i], u, List.of());
                eng = new Engine(new InetSocketAddress[] {new InetSocketAddress(InetAddress.getLoopbackAddress(), ss.getLocalPort())},
                    req, false, 700_000_000L, 10);
                eng.start(1);
                eng.t0 = System.nanoTime();
                Rec[] recs = new Rec[paths.length + 1];
                for (int i = 0; i < paths.length; i++) {
                    recs[i] = new Rec(i, 0, 0, true);
                    eng.dispatch(recs[i], System.nanoTime());
                }
                long until = System.nanoTime() + 3_000_000_000L;
                while (eng.pending.get() > 0 && System.nanoTime() < until) LockSupport.parkNanos(5_000_000L);
                // a second request on a kept-alive connection after the 204
                recs[paths.length] = new Rec(4, 1, 0, true);
                eng.dispatch(recs[paths.length], System.nanoTime());
                until = System.nanoTime() + 2_000_000_000L;
                while (eng.pending.get() > 0 && System.nanoTime() < until) LockSupport.parkNanos(5_000_000L);
                eng.stop();
                Rec f = recs[0], c429 = recs[1];
                check(f.outcome == 200 && f.upstreamMicros == 1234567 && f.bodyLength == 5, "http: fixed length 200 + upstream header");
                check(c429.outcome == 429 && c429.bodyLength == 5 && "1".equals(c429.retryAfter) && c429.rateLimit != null
                    && c429.rateLimitPolicy != null && c429.contentType.startsWith("application/problem+json"), "http: chunked 429 with limit headers");
                check(recs[2].outcome == 201 && recs[2].bodyLength == 2, "http: 100 Continue then 201");
                check(recs[3].outcome == 200 && recs[3].bodyLength == 11, "http: HTTP/1.0 body until close (got " + recs[3].outcome + "/" + recs[3].bodyLength + ")");
                check(recs[4].outcome == 204 && recs[paths.length].outcome == 204, "http: 204 then reuse of the connection");
                check(recs[5].outcome == 502, "http: 502 with Connection: close");
                check(recs[6].outcome == 200 && recs[6].bodyLength == 4, "http: response dribbled byte by byte");
                check(recs[7].outcome == CONN_ERR, "http: server hangs up -> connection error (got " + recs[7].outcome + ")");
                check(recs[8].outcome == TIMEOUT, "http: no answer -> timeout (got " + recs[8].outcome + ")");
                check(recs[0].upstreamMicros != NONE && recs[6].upstreamMicros == NONE, "http: upstream time only when the header is present");
            } finally {
                if (eng != null) eng.stop();
                ss.close();
                synchronized (accepted) {
                    for (java.net.Socket sock : accepted) sock.close();
                }
            }
        }

        static void serveScripted(java.net.Socket sock) {
            try (sock) {
                var in = sock.getInputStream();
                var out = sock.getOutputStream();
                sock.setTcpNoDelay(true);
                while (true) {
                    StringBuilder head = new StringBuilder();
                    int b;
                    while ((b = in.read()) >= 0) {
                        head.append((char) b);
                        if (head.length() >= 4 && head.substring(head.length() - 4).equals("\r\n\r\n")) break;
                    }
                    if (b < 0) return;
                    String path = head.toString().split(" ")[1];
                    for (byte[] part : scripted(path)) {
                        if (part == null) return;   // close
                        out.write(part);
                        out.flush();
                        if (path.equals("/dribble") || path.equals("/chunked429")) Thread.sleep(3);
                    }
                    if (path.equals("/silent")) Thread.sleep(5000);
                }
            } catch (Exception ignored) {
                // the test client went away
            }
        }

        /** Brute force: max over many real t of |{x : t-w < x <= t}|, including t between events. */
        static int naiveMax(long[] xs, long w, long[] probes) {
            int best = 0;
            for (long t : probes) {
                int c = 0;
                for (long x : xs) if (x > t - w && x <= t) c++;
                best = Math.max(best, c);
            }
            return best;
        }

        static boolean run() throws Exception {
            failures = 0;
            checks = 0;
            long S = 1_000_000L;
            // --- sliding window, hand-made cases (W = 1 s = 1,000,000 µs)
            eq(maxInWindow(a(), S)[0], 0, "empty");
            eq(maxInWindow(a(5), S)[0], 1, "single");
            eq(maxInWindow(a(0, S), S)[0], 1, "exactly W apart: (t-W,t] excludes t-W");
            eq(maxInWindow(a(0, S - 1), S)[0], 2, "W-1 apart: both in one window");
            eq(maxInWindow(a(0, 500_000, S, S, 1_500_000), S)[0], 3, "ties at the boundary");
            eq(maxInWindow(a(0, 500_000, S, S, 1_500_000), S)[1], S, "window end where the max is first reached");
            eq(maxInWindow(a(7, 7, 7, 7), S)[0], 4, "all equal");
            // 10 per second evenly spaced for 6 s: never more than 10 in a window
            long[] even = new long[60];
            for (int i = 0; i < 60; i++) even[i] = i * 100_000L;
            eq(maxInWindow(even, S)[0], 10, "10/s evenly spaced");
            // burst at end of one second + start of next: fixed-window limiter's classic 2x burst
            long[] burst = new long[20];
            for (int i = 0; i < 10; i++) {
                burst[i] = 990_000L + i;        // 10 at ~0.99 s
                burst[10 + i] = 1_000_000L + i; // 10 at ~1.00 s
            }
            eq(maxInWindow(burst, S)[0], 20, "boundary burst detected by the sliding window");
            long[] ab = alignedBuckets(burst, S, S, 2 * S);
            eq(ab.length, 2, "one aligned bucket [1s,2s)");
            eq(ab[0], 1, "first aligned bucket k=1");
            eq(ab[1], 10, "aligned bucket [1s,2s) sees only 10 of the burst");
            // --- aligned buckets: skip the first second, only whole buckets
            long[] ts = a(0, 100, 1_000_000, 1_999_999, 2_000_000, 5_999_999, 6_000_000);
            long[] b = alignedBuckets(ts, S, S, 6 * S);
            eq(b.length, 6, "5 whole buckets in [1s,6s)");
            eq(b[1], 2, "bucket [1,2)");
            eq(b[2], 1, "bucket [2,3)");
            eq(b[3], 0, "bucket [3,4)");
            eq(b[5], 1, "bucket [5,6) (6.000000 belongs to the next)");
            eq(alignedBuckets(ts, 400_000L, S, 2 * S).length - 1, 2, "W=400ms: buckets [1.2,1.6),[1.6,2.0)");
            eq(alignedBuckets(ts, S, S, S + 999_999).length - 1, 0, "no whole bucket fits");
            // --- per-second row
            int[] ps = perBucket(ts, S, 6);
            check(Arrays.equals(ps, new int[] {2, 2, 1, 0, 0, 1, 1}), "per-second row " + Arrays.toString(ps));
            check(Arrays.equals(perBucket(a(), S, 3), new int[] {0, 0, 0}), "empty per-second row");
            check(Arrays.equals(perBucket(a(-5, 10), S, 1), new int[] {2}), "negative time clamped to bucket 0");
            // --- percentiles (nearest rank)
            long[] p = a(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
            eq(percentile(p, 50), 5, "p50 of 1..10");
            eq(percentile(p, 99), 10, "p99 of 1..10");
            eq(percentile(a(42), 99), 42, "p99 of one value");
            eq(percentile(a(), 50), NONE, "percentile of nothing");
            // --- randomised comparison against brute force (many ties, small ranges)
            Random rnd = new Random(12345);
            for (int iter = 0; iter < 2000; iter++) {
                int n = rnd.nextInt(40);
                long range = 1 + rnd.nextInt(50);
                long w = 1 + rnd.nextInt(20);
                long[] xs = new long[n];
                for (int i = 0; i < n; i++) xs[i] = rnd.nextInt((int) range) - 5;
                Arrays.sort(xs);
                long[] probes = new long[(int) range + 2 * (int) w + 20];
                for (int i = 0; i < probes.length; i++) probes[i] = i - 5 - w - 5;
                int want = naiveMax(xs, w, probes);
                int got = (int) maxInWindow(xs, w)[0];
                if (got != want) {
                    check(false, "random case " + iter + " xs=" + Arrays.toString(xs) + " w=" + w + " got " + got + " want " + want);
                    break;
                }
                // the reported end must really hold that many
                long end = maxInWindow(xs, w)[1];
                if (n > 0) {
                    int c = 0;
                    for (long x : xs) if (x > end - w && x <= end) c++;
                    if (c != got) {
                        check(false, "random case " + iter + ": reported window end holds " + c + " not " + got);
                        break;
                    }
                }
                // aligned buckets agree with a direct count
                long from = rnd.nextInt(10), to = from + rnd.nextInt(60);
                long[] al = alignedBuckets(xs, w, from, to);
                for (int i = 1; i < al.length; i++) {
                    long lo = (al[0] + i - 1) * w;
                    int c = 0;
                    for (long x : xs) if (x >= lo && x < lo + w) c++;
                    if (c != al[i] || lo < from || lo + w > to) {
                        check(false, "aligned bucket mismatch case " + iter);
                        break;
                    }
                }
            }
            checks++;
            // --- parsing
            eq(parseDurationNanos("6s"), 6_000_000_000L, "6s");
            eq(parseDurationNanos("250ms"), 250_000_000L, "250ms");
            eq(parseDurationNanos("1.5s"), 1_500_000_000L, "1.5s");
            eq(parseDurationNanos("2m"), 120_000_000_000L, "2m");
            eq(parseDurationNanos("0s"), 0, "0s");
            boolean threw = false;
            try {
                parseDurationNanos("6");
            } catch (UsageException e) {
                threw = true;
            }
            check(threw, "duration without unit is rejected");
            StreamSpec sp = StreamSpec.parse("name=noisy1,rate=30,header=X-Api-Key:tok1,header=X-B: a:b");
            check(sp.name.equals("noisy1") && sp.rate == 30 && sp.headers.size() == 2
                && sp.headers.get(1)[0].equals("X-B") && sp.headers.get(1)[1].equals("a:b"), "stream spec parse");
            check(StreamSpec.parse("name=q,rate=0.5").headers.isEmpty(), "stream without header");
            check(isLoopback("127.0.0.1") && isLoopback("127.1.2.3") && isLoopback("localhost") && !isLoopback("10.0.0.1")
                && !isLoopback("127.0.0.256") && !isLoopback("example.com"), "loopback check");
            // --- schedule: counts, even spacing, staggering
            Config c = Config.parse(new String[] {"--stream", "name=a,rate=100", "--stream", "name=b,rate=100",
                "--duration", "2s", "--warmup", "500ms"});
            c.validate();
            Rec[] sch = buildSchedule(c);
            int na = 0, nb = 0, ma = 0;
            long prevA = -1;
            boolean spacing = true;
            for (Rec r : sch) {
                if (r.stream == 0) {
                    na++;
                    if (r.measured) ma++;
                    if (prevA >= 0 && Math.abs(r.schedNanos - prevA - 10_000_000L) > 1) spacing = false;
                    prevA = r.schedNanos;
                } else {
                    nb++;
                }
            }
            eq(na, 250, "stream a sends in 2.5 s at 100/s");
            eq(nb, 250, "stream b sends");
            eq(ma, 200, "stream a measured sends (warm-up excluded)");
            check(spacing, "stream a evenly spaced 10 ms");
            eq(sch[1].schedNanos, 5_000_000L, "stream b staggered by half an interval");
            for (int i = 1; i < sch.length; i++) {
                if (sch[i].schedNanos < sch[i - 1].schedNanos) {
                    check(false, "merged schedule sorted");
                    break;
                }
            }
            httpParsing();
            System.out.println("self-test: " + (checks - failures) + "/" + checks + " checks passed");
            return failures == 0;
        }
    }
}
