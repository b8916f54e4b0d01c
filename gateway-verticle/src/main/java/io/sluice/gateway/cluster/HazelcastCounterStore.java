package io.sluice.gateway.cluster;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.limit.LeaseGrant;
import io.sluice.gateway.limit.Reservation;
import io.sluice.gateway.limit.WindowSpec;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.LongAdder;

/**
 * Limiter state in a Hazelcast {@link IMap} shared by every gateway of the cluster. Each call is one entry
 * processor on the key's owner ({@code submitToKey}); its completion continues on the caller's Vert.x context
 * instead of a Hazelcast thread, so nothing blocks and handlers stay on their event loop.
 */
public final class HazelcastCounterStore implements CounterStore {

  private final Vertx vertx;
  private final HazelcastInstance hazelcast;
  private final IMap<String, WindowState> map;
  private final LongAdder remoteCalls = new LongAdder();
  private final LatencyEstimate latency = new LatencyEstimate();

  public HazelcastCounterStore(Vertx vertx, HazelcastInstance hazelcast, String mapName) {
    this.vertx = vertx;
    this.hazelcast = hazelcast;
    this.map = hazelcast.getMap(mapName);
  }

  @Override
  public Future<Reservation> reserve(String key, WindowSpec spec, long nowMillis, long notBeforeMillis,
                                     long latestMillis) {
    return onContext(map.submitToKey(key, new ReserveProcessor(spec, nowMillis, notBeforeMillis, latestMillis)));
  }

  @Override
  public Future<Void> release(String key, WindowSpec spec, long nowMillis, long bucket) {
    return onContext(map.submitToKey(key, new ReleaseProcessor(spec, nowMillis, bucket))).mapEmpty();
  }

  @Override
  public Future<Void> addAdmissions(String key, WindowSpec spec, long nowMillis, WindowState admitted) {
    return onContext(map.submitToKey(key, new AddAdmissionsProcessor(spec, nowMillis, admitted))).mapEmpty();
  }

  /** Returns {@code returned} unused permits recorded in {@code returnBucket} and asks for a new batch. */
  public Future<LeaseGrant> lease(String key, WindowSpec spec, long nowMillis, long startMillis, long endMillis,
                                  int wanted, long returnBucket, int returned) {
    return onContext(map.submitToKey(key,
        new LeaseProcessor(spec, nowMillis, startMillis, endMillis, wanted, returnBucket, returned)));
  }

  @Override
  public boolean isReady() {
    return hazelcast.getLifecycleService().isRunning()
        && hazelcast.getCluster().getMembers().contains(hazelcast.getCluster().getLocalMember());
  }

  @Override
  public long expectedLatencyMillis(String key, WindowSpec spec, long nowMillis) {
    return latency.generousMillis();
  }

  @Override
  public long remoteCalls() {
    return remoteCalls.sum();
  }

  private <T> Future<T> onContext(CompletionStage<T> stage) {
    remoteCalls.increment();
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
