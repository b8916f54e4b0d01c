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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
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
    IMap<String, WindowState> map = hazelcast.getMap(mapName);
    List<CompletableFuture<List<Object>>> perKey = new ArrayList<>(operations.size());
    for (Map.Entry<String, List<WindowProcessor<?>>> keyed : operations.entrySet()) {
      perKey.add(submit(map, keyed.getKey(), keyed.getValue()).toCompletableFuture());
    }
    long deadline = System.nanoTime() + MAX_WAIT_NANOS;
    List<Object> results = new ArrayList<>();
    for (CompletableFuture<List<Object>> answer : perKey) {
      results.addAll(answer.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
    }
    return results;
  }

  /** One key's operations as one entry processor call: the lone operation itself, or all of them in order. */
  static CompletionStage<List<Object>> submit(IMap<String, WindowState> map, String key,
                                              List<WindowProcessor<?>> queued) {
    if (queued.size() == 1) {
      return map.submitToKey(key, queued.get(0)).thenApply(List::of);
    }
    return map.submitToKey(key, new BatchProcessor(queued));
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
