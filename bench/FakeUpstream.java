/*
 * A tiny fake upstream for exercising bench/LoadClient.java (JDK only, single file, loopback only).
 *
 *   java bench/FakeUpstream.java --help
 *
 * Answers 200 with X-Upstream-Received-At (epoch microseconds of receipt). It can instead answer 429
 * (with Retry-After, RateLimit, RateLimit-Policy and an application/problem+json body) for a fixed
 * fraction of requests, or limit itself with an exact sliding-log rule (at most N admitted in any
 * window (t-W, t], per key), so the load client's window figures can be checked against a known
 * answer. It stops by itself after --max-seconds.
 */

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

public final class FakeUpstream {

    static final String USAGE = """
        FakeUpstream: test server for LoadClient (listens on 127.0.0.1 only)

        usage: java bench/FakeUpstream.java [options]
          --port P               port, default 0 = any free port (the chosen port is printed as PORT=P)
          --also-port P          listen on this second port too, sharing the same limiter (like two
                                 clustered gateways sharing one limit)
          --port-file FILE       also write the chosen port to FILE (for scripts)
          --reject-fraction F    answer 429 to exactly a fraction F of requests (evenly spread), default 0
          --limit N              self rate-limit: admit at most N requests in any window (t-W, t]
          --window D             window for --limit, default 1s (units ms or s)
          --key K                limiter key: "global" (default) or "header:NAME" (missing header = own key)
          --delay D              wait D before answering (applies to every response), default 0ms
          --omit-limit-headers   send 429 without Retry-After/RateLimit/RateLimit-Policy and as text/plain
          --no-received-header   do not send X-Upstream-Received-At on 200
          --threads N            handler threads, default 32
          --max-seconds S        exit by itself after S seconds, default 120
        """;

    public static void main(String[] args) throws Exception {
        int port = 0, alsoPort = -1, threads = 32, limit = -1;
        double rejectFraction = 0, maxSeconds = 120;
        long windowMicros = 1_000_000L, delayMillis = 0;
        String key = "global", portFile = null;
        boolean omitHeaders = false, noReceived = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--help", "-h" -> {
                    System.out.print(USAGE);
                    return;
                }
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--port-file" -> portFile = args[++i];
                case "--also-port" -> alsoPort = Integer.parseInt(args[++i]);
                case "--reject-fraction" -> rejectFraction = Double.parseDouble(args[++i]);
                case "--limit" -> limit = Integer.parseInt(args[++i]);
                case "--window" -> windowMicros = micros(args[++i]);
                case "--key" -> key = args[++i];
                case "--delay" -> delayMillis = micros(args[++i]) / 1000;
                case "--omit-limit-headers" -> omitHeaders = true;
                case "--no-received-header" -> noReceived = true;
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--max-seconds" -> maxSeconds = Double.parseDouble(args[++i]);
                default -> {
                    System.err.println("unknown option " + a + "\n" + USAGE);
                    System.exit(2);
                }
            }
        }
        if (!key.equals("global") && !key.startsWith("header:")) {
            System.err.println("--key must be global or header:NAME");
            System.exit(2);
        }

        // without this the JDK server leaves Nagle on, which with the client's delayed ACK adds ~40 ms
        System.setProperty("sun.net.httpserver.nodelay", "true");
        final Limiter limiter = new Limiter(limit, windowMicros, rejectFraction);
        final String headerKey = key.startsWith("header:") ? key.substring("header:".length()) : null;
        final long delay = delayMillis;
        final boolean omit = omitHeaders, noRecv = noReceived;
        final double stopAfter = maxSeconds;
        final AtomicLong served = new AtomicLong(), rejected = new AtomicLong();
        final String policy = limit > 0 ? "\"fake\";q=" + limit + ";w=" + Math.max(1, windowMicros / 1_000_000L) : "\"fake\";q=0;w=1";

        ExecutorService pool = Executors.newFixedThreadPool(threads);
        com.sun.net.httpserver.HttpHandler handler = ex -> {
            try {
                ex.getRequestBody().readAllBytes();
                String k = headerKey == null ? "" : ex.getRequestHeaders().getFirst(headerKey);
                long[] decision = limiter.decide(k == null ? "\u0000missing" : k);   // {admitted?1:0, receivedMicros}
                if (delay > 0) Thread.sleep(delay);
                if (decision[0] == 1) {
                    served.incrementAndGet();
                    if (!noRecv) ex.getResponseHeaders().add("X-Upstream-Received-At", Long.toString(decision[1]));
                    send(ex, 200, "text/plain", "hello\n");
                } else {
                    rejected.incrementAndGet();
                    if (omit) {
                        send(ex, 429, "text/plain", "too many\n");
                    } else {
                        ex.getResponseHeaders().add("Retry-After", "1");
                        ex.getResponseHeaders().add("RateLimit", "\"fake\";r=0;t=1");
                        ex.getResponseHeaders().add("RateLimit-Policy", policy);
                        send(ex, 429, "application/problem+json",
                            "{\"type\":\"about:blank\",\"title\":\"Too Many Requests\",\"status\":429}");
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                ex.close();
            }
        };
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1024);
        server.setExecutor(pool);
        server.createContext("/", handler);
        server.start();
        final HttpServer second;
        if (alsoPort >= 0) {
            second = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), alsoPort), 1024);
            second.setExecutor(pool);
            second.createContext("/", handler);
            second.start();
            System.out.println("also listening on http://127.0.0.1:" + second.getAddress().getPort() + " (same limiter)");
        } else {
            second = null;
        }
        int actual = server.getAddress().getPort();
        if (portFile != null) Files.writeString(Path.of(portFile), actual + "\n");
        System.out.println("PORT=" + actual);
        System.out.println("FakeUpstream listening on http://127.0.0.1:" + actual + " (limit=" + limit + " per "
            + windowMicros + "us, key=" + key + ", reject-fraction=" + rejectFraction + ", delay=" + delayMillis
            + "ms, exits after " + maxSeconds + " s)");
        System.out.flush();

        Thread stopper = new Thread(() -> {
            try {
                Thread.sleep((long) (stopAfter * 1000));
            } catch (InterruptedException ignored) {
                // fall through to stop
            }
            server.stop(0);
            if (second != null) second.stop(0);
            pool.shutdownNow();
            System.out.println("FakeUpstream: stopping after " + stopAfter + " s; served 200=" + served.get() + " 429=" + rejected.get());
            System.exit(0);
        }, "stopper");
        stopper.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
            System.out.println("FakeUpstream: exit; served 200=" + served.get() + " 429=" + rejected.get())));
    }

    static void send(HttpExchange ex, int code, String type, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", type);
        ex.sendResponseHeaders(code, b.length);
        ex.getResponseBody().write(b);
    }

    static long micros(String v) {
        String s = v.trim().toLowerCase(Locale.ROOT);
        if (s.endsWith("ms")) return Math.round(Double.parseDouble(s.substring(0, s.length() - 2)) * 1000);
        if (s.endsWith("s")) return Math.round(Double.parseDouble(s.substring(0, s.length() - 1)) * 1_000_000);
        throw new IllegalArgumentException("duration needs ms or s: " + v);
    }

    static long nowMicros() {
        Instant n = Instant.now();
        return n.getEpochSecond() * 1_000_000L + n.getNano() / 1000;
    }

    /** Exact sliding log per key plus a deterministic reject fraction. Time is read inside the lock. */
    static final class Limiter {
        final int limit;
        final long window;
        final double fraction;
        final Map<String, ArrayDeque<Long>> logs = new HashMap<>();
        long count;

        Limiter(int limit, long window, double fraction) {
            this.limit = limit;
            this.window = window;
            this.fraction = fraction;
        }

        synchronized long[] decide(String key) {
            long now = nowMicros();
            count++;
            if (fraction > 0 && Math.floor(count * fraction) > Math.floor((count - 1) * fraction)) {
                return new long[] {0, now};
            }
            if (limit >= 0) {
                ArrayDeque<Long> log = logs.computeIfAbsent(key, x -> new ArrayDeque<>());
                while (!log.isEmpty() && log.peekFirst() <= now - window) log.pollFirst();
                if (log.size() >= limit) return new long[] {0, now};
                log.addLast(now);
            }
            return new long[] {1, now};
        }
    }
}
