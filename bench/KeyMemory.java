/*
 * Sluice KeyMemory: what one live key of one policy costs in memory, for each counter store.
 *
 *   java -cp gateway-verticle/target/gateway-verticle.jar bench/KeyMemory.java [--keys N] [--store memory|hazelcast]
 *
 * It builds the limiter as the gateway does (configuration from conf/gateway.json's defaults with one policy:
 * 5 requests per 60 s per X-Api-Key, so that no key expires during the run), decides one request for each of N
 * distinct keys (all admitted), then collects garbage and prints the heap used per key. For the Hazelcast store
 * (the production wiring: leases over the map, one member in this JVM, so no backups: with two or more members
 * every key also has one backup entry on another member) it also prints the map's statistics. The heap figure
 * includes everything the limiter keeps per key (the store's entry, the remembered hash of the key while it is among the last 10,000 seen).
 */

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.cluster.ClusterSetup;
import io.sluice.gateway.cluster.ClusteredStores;
import io.sluice.gateway.config.ConfigLoader;
import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.InMemoryCounterStore;
import io.sluice.gateway.limit.RateLimiter;
import io.sluice.gateway.limit.RequestInfo;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.lang.management.ManagementFactory;
import java.time.Clock;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

public final class KeyMemory {

  /** Decisions in flight at once while the keys are created. */
  private static final int IN_FLIGHT = 2_000;

  public static void main(String[] args) throws Exception {
    int keys = 1_000_000;
    String storeName = "memory";
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--keys" -> keys = Integer.parseInt(args[++i]);
        case "--store" -> storeName = args[++i];
        default -> {
          System.err.println("usage: KeyMemory [--keys N] [--store memory|hazelcast]");
          System.exit(2);
        }
      }
    }
    Vertx vertx = Vertx.vertx();
    JsonObject conf = new JsonObject()
        .put("limiter", new JsonObject().put("maxKeys", Math.max(keys * 2, 1_000)))
        .put("policies", new JsonArray().add(new JsonObject().put("name", "per-token").put("key", "header:X-Api-Key")
            .put("requests", 5).put("window", "60s")));
    GatewayConfig config = ConfigLoader.load(vertx, conf).toCompletionStage().toCompletableFuture().get();
    HazelcastInstance member = null;
    CounterStore store;
    if (storeName.equals("hazelcast")) {
      member = Hazelcast.newHazelcastInstance(ClusterSetup.load(
          Map.of("SLUICE_CLUSTER_NAME", "key-memory-" + UUID.randomUUID()), new Properties()));
      store = ClusteredStores.production(vertx, member, config.limiter().mapName());
    } else {
      store = new InMemoryCounterStore(Clock.systemUTC(), config.limiter().maxKeys());
    }
    RateLimiter limiter = new RateLimiter(config.policies(), store, Clock.systemUTC());

    long before = heapAfterGc();
    long started = System.nanoTime();
    Context context = vertx.getOrCreateContext();
    Promise<Long> done = Promise.promise();
    int total = keys;
    context.runOnContext(v -> feed(limiter, 0, total, new long[1], done));
    long admitted = done.future().toCompletionStage().toCompletableFuture().get();
    double seconds = (System.nanoTime() - started) / 1e9;
    long after = heapAfterGc();

    System.out.printf("store=%s keys=%d admitted=%d seconds=%.1f heapBeforeMB=%.1f heapAfterMB=%.1f bytesPerKey=%.0f%n",
        storeName, keys, admitted, seconds, before / 1e6, after / 1e6, (after - before) / (double) keys);
    if (member != null) {
      var stats = member.getMap(config.limiter().mapName()).getLocalMapStats();
      System.out.printf("hazelcast: entries=%d ownedEntryMemoryCost=%d bytesPerEntry=%.0f backupEntries=%d%n",
          stats.getOwnedEntryCount(), stats.getOwnedEntryMemoryCost(),
          stats.getOwnedEntryMemoryCost() / (double) Math.max(1, stats.getOwnedEntryCount()),
          stats.getBackupEntryCount());
      member.shutdown();
    }
    vertx.close().toCompletionStage().toCompletableFuture().get();
  }

  /** Decides one request for each key from {@code next} on, {@link #IN_FLIGHT} at a time, then completes. */
  private static void feed(RateLimiter limiter, int next, int total, long[] admitted, Promise<Long> done) {
    if (next >= total) {
      done.complete(admitted[0]);
      return;
    }
    int end = Math.min(total, next + IN_FLIGHT);
    Future<?>[] batch = new Future<?>[end - next];
    for (int i = next; i < end; i++) {
      String key = "key-" + i + "-" + Long.toHexString(i * 0x9E3779B97F4A7C15L);
      batch[i - next] = limiter.decide(new Info(key)).onSuccess(d -> {
        if (d.admitted()) {
          admitted[0]++;
        }
      });
    }
    // the next batch in a later turn of the event loop: an in-memory store decides at once, and the loop must breathe
    Future.join(java.util.List.of(batch)).onComplete(all -> Vertx.currentContext()
        .runOnContext(v -> feed(limiter, end, total, admitted, done)));
  }

  private static long heapAfterGc() throws InterruptedException {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(200);
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  private record Info(String key) implements RequestInfo {
    @Override
    public String header(String name) {
      return name.equalsIgnoreCase("X-Api-Key") ? key : null;
    }

    @Override
    public String clientIp() {
      return "127.0.0.1";
    }
  }
}
