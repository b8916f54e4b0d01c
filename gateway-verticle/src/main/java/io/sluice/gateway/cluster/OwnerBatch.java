package io.sluice.gateway.cluster;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.HazelcastInstanceAware;
import com.hazelcast.map.IMap;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.TimeUnit;

/**
 * One gateway's flush for the keys one member owns, sent to that member as one message (its executor), where each
 * key's operations run as a local {@code submitToKey}: the same atomic entry processor on the partition thread, with
 * the map's synchronous backup, that a single call from the gateway would run. Only the trip between gateway and
 * owner is shared. (Hazelcast's own multi-key call, {@code submitToKeys}, backs up asynchronously: an owner that
 * dies right after answering could take decisions with it.) The price: the member's executor thread waits for those
 * calls (at most {@link #MAX_WAIT_NANOS}), so a backup that stops answering ties up the executor's threads.
 *
 * <p>The answer lists every operation's result, key by key in the order the keys were given, each key's in queue
 * order.
 */
final class OwnerBatch implements Callable<List<Object>>, IdentifiedDataSerializable, HazelcastInstanceAware {

  /**
   * How long the executor thread waits for its keys' calls (a write waits for its backup, up to Hazelcast's backup
   * timeout): past that the gateway gets a failure, as it would get a timeout, rather than a queue of batches behind
   * a dead backup growing on this member.
   */
  static final long MAX_WAIT_NANOS = TimeUnit.SECONDS.toNanos(1);

  private static final Executor DIRECT = Runnable::run;

  private String mapName;
  private Map<String, List<WindowProcessor<?>>> operations;
  private transient HazelcastInstance hazelcast;

  OwnerBatch() {
  }

  OwnerBatch(String mapName, Map<String, List<WindowProcessor<?>>> operations) {
    this.mapName = mapName;
    this.operations = operations;
  }

  @Override
  public void setHazelcastInstance(HazelcastInstance hazelcast) {
    this.hazelcast = hazelcast;
  }

  @Override
  public List<Object> call() throws Exception {
    return all(hazelcast.getMap(mapName), operations).get(MAX_WAIT_NANOS, TimeUnit.NANOSECONDS);
  }

  /**
   * Every key's operations as one entry processor call each (the lone operation itself, or all of them in order):
   * their results key by key, each key's in order, once all are in; the first failure fails the whole.
   *
   * <p>Hazelcast's futures are continued only with an explicit executor, here the thread that completes them: its
   * own non-async continuations (and the JDK's {@code allOf} over them) go through its default async executor,
   * which on a 2-core machine starts a thread per callback (see docs/batching.md).
   */
  static CompletableFuture<List<Object>> all(IMap<String, WindowState> map,
                                             Map<String, List<WindowProcessor<?>>> operations) {
    CompletableFuture<List<Object>> all = new CompletableFuture<>();
    Object[][] perKey = new Object[operations.size()][];
    AtomicInteger pending = new AtomicInteger(operations.size());
    int index = 0;
    for (Map.Entry<String, List<WindowProcessor<?>>> keyed : operations.entrySet()) {
      int at = index++;
      List<WindowProcessor<?>> queued = keyed.getValue();
      CompletionStage<?> stage = queued.size() == 1
          ? map.submitToKey(keyed.getKey(), queued.get(0))
          : map.submitToKey(keyed.getKey(), new BatchProcessor(queued));
      stage.whenCompleteAsync((result, failure) -> {
        if (failure != null) {
          all.completeExceptionally(failure);
          return;
        }
        perKey[at] = queued.size() == 1 ? new Object[] {result} : ((List<?>) result).toArray();
        if (pending.decrementAndGet() == 0) {
          List<Object> results = new ArrayList<>();
          for (Object[] answers : perKey) {
            results.addAll(Arrays.asList(answers));
          }
          all.complete(results);
        }
      }, DIRECT);
    }
    return all;
  }

  @Override
  public int getFactoryId() {
    return ClusterSerialization.FACTORY_ID;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.OWNER_BATCH;
  }

  @Override
  public void writeData(ObjectDataOutput out) throws IOException {
    out.writeString(mapName);
    out.writeInt(operations.size());
    for (Map.Entry<String, List<WindowProcessor<?>>> keyed : operations.entrySet()) {
      out.writeString(keyed.getKey());
      BatchProcessor.writeOperations(out, keyed.getValue());
    }
  }

  @Override
  public void readData(ObjectDataInput in) throws IOException {
    mapName = in.readString();
    int keys = in.readInt();
    operations = new LinkedHashMap<>(Math.max(4, keys * 2));
    for (int k = 0; k < keys; k++) {
      operations.put(in.readString(), BatchProcessor.readOperations(in));
    }
  }
}
