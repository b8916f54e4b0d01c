package io.sluice.gateway.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.IExecutorService;
import com.hazelcast.map.IMap;
import com.hazelcast.partition.PartitionService;
import io.sluice.gateway.limit.WindowState;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.LongAdder;

/**
 * Sends the store operations queued while an event loop runs one turn as one message per member that owns some of
 * their keys, instead of one per operation. The first operation queued schedules the flush on its
 * Vert.x context ({@code runOnContext}), so the flush runs once the event loop has handled the I/O in hand; a queue
 * of {@link #MAX_OPERATIONS} is sent at once. Nothing waits on a timer: a lone operation leaves at the end of its
 * turn, as it would have alone.
 *
 * <p>Each key's operations run on its owner in the order they were queued, as one atomic entry processor call with
 * the map's synchronous backup ({@link BatchProcessor}, {@link OwnerBatch}); every operation is answered on the
 * Vert.x context it was queued from.
 */
final class OwnerBatches {

  /** Where a member runs the batches other gateways send it (Hazelcast's executor defaults: 16 threads). */
  static final String EXECUTOR = "sluice.batches";
  /** A batch this big is sent at once rather than at the end of the turn. */
  static final int MAX_OPERATIONS = 256;

  private final Vertx vertx;
  private final IMap<String, WindowState> map;
  private final PartitionService partitions;
  private final IExecutorService executor;
  private final LongAdder roundTrips;
  private final LongAdder operations;
  private final LatencyEstimate latency;

  // guarded by this
  private List<Queued<?>> queue = new ArrayList<>();
  private boolean flushScheduled;

  OwnerBatches(Vertx vertx, HazelcastInstance hazelcast, IMap<String, WindowState> map, LongAdder roundTrips,
               LongAdder operations, LatencyEstimate latency) {
    this.vertx = vertx;
    this.map = map;
    this.partitions = hazelcast.getPartitionService();
    this.executor = hazelcast.getExecutorService(EXECUTOR);
    this.roundTrips = roundTrips;
    this.operations = operations;
    this.latency = latency;
  }

  <R> Future<R> submit(String key, WindowProcessor<R> operation) {
    Queued<R> queued = new Queued<>(key, operation, vertx.getOrCreateContext());
    List<Queued<?>> full = null;
    boolean schedule = false;
    synchronized (this) {
      queue.add(queued);
      if (queue.size() >= MAX_OPERATIONS) {
        full = queue;
        queue = new ArrayList<>();
      } else if (!flushScheduled) {
        flushScheduled = true;
        schedule = true;
      }
    }
    if (full != null) {
      send(full);
    }
    if (schedule) {
      queued.context.runOnContext(v -> flush());
    }
    return queued.promise.future();
  }

  private void flush() {
    List<Queued<?>> batch;
    synchronized (this) {
      flushScheduled = false;
      batch = queue;
      queue = new ArrayList<>();
    }
    if (!batch.isEmpty()) {
      send(batch);
    }
  }

  private void send(List<Queued<?>> batch) {
    Map<Member, Map<String, List<Queued<?>>>> byOwner;
    try {
      byOwner = byOwner(batch);
    } catch (RuntimeException e) {
      failAll(batch, e);
      return;
    }
    byOwner.forEach((owner, keys) -> {
      try {
        sendToOwner(owner, keys);
      } catch (RuntimeException e) {
        // e.g. the member has shut down: Hazelcast throws instead of returning a failed stage
        keys.values().forEach(queued -> failAll(queued, e));
      }
    });
  }

  /** Owner → key → its operations in queue order (null: a partition without an owner yet, Hazelcast routes it). */
  private Map<Member, Map<String, List<Queued<?>>>> byOwner(List<Queued<?>> batch) {
    Map<Member, Map<String, List<Queued<?>>>> byOwner = new HashMap<>();
    for (Queued<?> queued : batch) {
      Member owner = partitions.getPartition(queued.key).getOwner();
      byOwner.computeIfAbsent(owner, o -> new LinkedHashMap<>())
          .computeIfAbsent(queued.key, k -> new ArrayList<>(2)).add(queued);
    }
    return byOwner;
  }

  private static void failAll(List<Queued<?>> queued, Throwable failure) {
    for (Queued<?> one : queued) {
      one.context.runOnContext(v -> one.promise.tryFail(failure));
    }
  }

  /**
   * One message for the keys one member owns: a single key's operations go as one entry processor call; several
   * keys' as one {@link OwnerBatch} to the member's executor, or, when this member owns them, as local calls.
   */
  private void sendToOwner(Member owner, Map<String, List<Queued<?>>> keys) {
    Map<String, List<WindowProcessor<?>>> carried = new LinkedHashMap<>(keys.size() * 2);
    int count = 0;
    for (Map.Entry<String, List<Queued<?>>> keyed : keys.entrySet()) {
      List<WindowProcessor<?>> list = new ArrayList<>(keyed.getValue().size());
      for (Queued<?> queued : keyed.getValue()) {
        list.add(queued.operation);
      }
      carried.put(keyed.getKey(), list);
      count += list.size();
    }
    roundTrips.increment();
    operations.add(count);
    long started = System.nanoTime();
    Context context = keys.values().iterator().next().get(0).context;
    Executor onContext = command -> context.runOnContext(v -> command.run());
    CompletionStage<List<Object>> answers = owner == null || owner.localMember() || keys.size() == 1
        ? OwnerBatch.all(map, carried)
        : stage(executor.submitToMember(new OwnerBatch(map.getName(), carried), owner));
    answers.whenCompleteAsync((results, failure) -> answer(keys, results, failure, started), onContext);
  }

  @SuppressWarnings("unchecked")
  private static <T> CompletionStage<T> stage(java.util.concurrent.Future<T> future) {
    if (future instanceof CompletionStage<?> stage) {
      return (CompletionStage<T>) stage;
    }
    throw new IllegalStateException("Hazelcast's executor no longer answers with a CompletionStage: "
        + future.getClass().getName());
  }

  /**
   * Completes every operation of one round trip, each on its own context (most often the one running this):
   * {@code results} holds their answers key by key, each key's in queue order.
   */
  private void answer(Map<String, List<Queued<?>>> keys, List<Object> results, Throwable failure,
                      long startedNanos) {
    latency.record((System.nanoTime() - startedNanos) / 1e6);
    Context here = Vertx.currentContext();
    Map<Context, List<Runnable>> elsewhere = new IdentityHashMap<>();
    int index = 0;
    for (List<Queued<?>> queued : keys.values()) {
      for (Queued<?> one : queued) {
        int at = index++;
        Runnable completion = failure != null ? () -> one.promise.tryFail(failure)
            : results == null || results.size() <= at
            ? () -> one.promise.tryFail(new IllegalStateException("no answer for a batched operation on " + one.key))
            : completion(one, results.get(at));
        if (one.context == here) {
          completion.run();
        } else {
          elsewhere.computeIfAbsent(one.context, c -> new ArrayList<>()).add(completion);
        }
      }
    }
    elsewhere.forEach((context, completions) -> context.runOnContext(v -> completions.forEach(Runnable::run)));
  }

  private static Runnable completion(Queued<?> queued, Object result) {
    return () -> queued.complete(result);
  }

  /** One operation waiting for its batch: the key, what to run there, and who to answer where. */
  private static final class Queued<R> {
    final String key;
    final WindowProcessor<R> operation;
    final Context context;
    final Promise<R> promise = Promise.promise();

    Queued(String key, WindowProcessor<R> operation, Context context) {
      this.key = key;
      this.operation = operation;
      this.context = context;
    }

    @SuppressWarnings("unchecked")
    void complete(Object result) {
      promise.tryComplete((R) result);
    }
  }
}
