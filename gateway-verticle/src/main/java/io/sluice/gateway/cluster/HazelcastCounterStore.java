package io.sluice.gateway.cluster;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import com.hazelcast.map.listener.EntryEvictedListener;
import com.hazelcast.query.Predicates;
import io.sluice.gateway.LogThrottle;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.LeaseGrant;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.LongAdder;

/**
 * Limiter state in a Hazelcast {@link IMap} shared by every gateway of the cluster. Each call is one entry
 * processor on the key's owner; its completion continues on the caller's Vert.x context instead of a Hazelcast
 * thread, so nothing blocks and handlers stay on their event loop. A store made by {@link #batching} sends the calls
 * of one event-loop turn together, one message per owning member ({@link OwnerBatches}); each call is still its own
 * atomic step on the key's owner, in the order made.
 */
public final class HazelcastCounterStore implements CounterStore {

  private static final Logger LOG = LoggerFactory.getLogger(HazelcastCounterStore.class);

  private final Vertx vertx;
  private final HazelcastInstance hazelcast;
  private final IMap<String, WindowState> map;
  private final LongAdder remoteCalls = new LongAdder();
  private final LongAdder remoteOperations = new LongAdder();
  private final LatencyEstimate latency = new LatencyEstimate();
  /** Entries of this member's partitions the map dropped to make room. */
  private final LongAdder evictedKeys = new LongAdder();
  /** A flood of new keys evicts thousands a second: one line per interval says so. */
  static final long EVICTION_LOG_INTERVAL_MILLIS = 10_000;
  private final LogThrottle evictionLog = new LogThrottle(EVICTION_LOG_INTERVAL_MILLIS);
  /** Null: every call is its own round trip. */
  private final OwnerBatches batches;

  /** A store whose every call is its own round trip. */
  public HazelcastCounterStore(Vertx vertx, HazelcastInstance hazelcast, String mapName) {
    this(vertx, hazelcast, mapName, false);
  }

  private HazelcastCounterStore(Vertx vertx, HazelcastInstance hazelcast, String mapName, boolean batched) {
    this.vertx = vertx;
    this.hazelcast = hazelcast;
    this.map = hazelcast.getMap(mapName);
    // entries this member owns, without their values: one event per eviction, on a Hazelcast event thread
    map.addLocalEntryListener((EntryEvictedListener<String, WindowState>) event -> evicted(mapName),
        Predicates.alwaysTrue(), false);
    this.batches = batched
        ? new OwnerBatches(vertx, hazelcast, map, remoteCalls, remoteOperations, latency) : null;
  }

  /** A store that sends the calls made during one event-loop turn as one round trip per owning member. */
  public static HazelcastCounterStore batching(Vertx vertx, HazelcastInstance hazelcast, String mapName) {
    return new HazelcastCounterStore(vertx, hazelcast, mapName, true);
  }

  @Override
  public long evictedKeys() {
    return evictedKeys.sum();
  }

  private void evicted(String mapName) {
    evictedKeys.increment();
    long evicted = evictionLog.count(System.currentTimeMillis());
    if (evicted > 0) {
      LOG.warn("limiter store: {} key(s) evicted from map '{}' on this member since the last such line: its eviction "
          + "size in cluster.xml is reached, and a live key dropped starts a fresh window; raise the size or add "
          + "members", evicted, mapName);
    }
  }

  @Override
  public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                     long latestMillis) {
    return submit(key, new ReserveProcessor(spec, nowMillis, notBeforeMillis, latestMillis));
  }

  @Override
  public Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket) {
    return submit(key, new ReleaseProcessor(spec, nowMillis, bucket)).mapEmpty();
  }

  @Override
  public Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted) {
    return submit(key, new AddAdmissionsProcessor(spec, nowMillis, admitted)).mapEmpty();
  }

  @Override
  public Future<Reservation> peek(String key, WindowSpec spec, long nowMillis) {
    return submit(key, new PeekProcessor(spec, nowMillis));
  }

  @Override
  public Future<Void> reset(String key, WindowSpec spec, long nowMillis) {
    return submit(key, new ResetProcessor(spec, nowMillis)).mapEmpty();
  }

  /** Returns {@code returned} unused permits recorded in {@code returnBucket} and asks for a new batch. */
  public Future<LeaseGrant> lease(String key, WindowSpec spec, long nowMillis, long startMillis, long endMillis,
                                  int wanted, long returnBucket, int returned) {
    return submit(key, new LeaseProcessor(spec, nowMillis, startMillis, endMillis, wanted, returnBucket, returned));
  }

  @Override
  public boolean isReady() {
    return hazelcast.getLifecycleService().isRunning()
        && hazelcast.getCluster().getMembers().contains(hazelcast.getCluster().getLocalMember());
  }

  /**
   * The key's partition: its owner and its backup answer for every counted decision on it. {@link #NO_PLACE} once
   * this member has stopped (its calls all fail then, wherever their keys live).
   */
  @Override
  public int placeOf(String key) {
    try {
      return hazelcast.getPartitionService().getPartition(key).getPartitionId();
    } catch (com.hazelcast.core.HazelcastInstanceNotActiveException stopped) {
      return NO_PLACE;
    }
  }

  /** The place of every key once this member has stopped: no partition has that number. */
  static final int NO_PLACE = -1;

  @Override
  public int clusterMembers() {
    return hazelcast.getLifecycleService().isRunning() ? hazelcast.getCluster().getMembers().size() : 0;
  }

  /** The minority side of a split cluster: the map's split-brain protection refuses every call until the merge. */
  @Override
  public boolean refusesForNow(Throwable failure) {
    return failure instanceof com.hazelcast.splitbrainprotection.SplitBrainProtectionException;
  }

  @Override
  public long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
    return latency.generousMillis();
  }

  @Override
  public long slowAnswerMillis(String key, WindowSpec spec, long nowMillis) {
    return latency.slowMillis();
  }

  @Override
  public long remoteCalls() {
    return remoteCalls.sum();
  }

  @Override
  public long remoteOperations() {
    return remoteOperations.sum();
  }

  private <T> Future<T> submit(String key, WindowProcessor<T> operation) {
    if (batches != null) {
      return batches.submit(key, operation);
    }
    remoteCalls.increment();
    remoteOperations.increment();
    return onContext(map.submitToKey(key, operation));
  }

  private <T> Future<T> onContext(CompletionStage<T> stage) {
    long started = System.nanoTime();
    Context context = vertx.getOrCreateContext();
    Promise<T> promise = Promise.promise();
    stage.whenCompleteAsync((result, failure) -> {
      latency.record((System.nanoTime() - started) / 1e6);
      if (failure != null) {
        promise.fail(failure);
      } else {
        promise.complete(result);
      }
    }, command -> context.runOnContext(v -> command.run()));
    return promise.future();
  }
}
