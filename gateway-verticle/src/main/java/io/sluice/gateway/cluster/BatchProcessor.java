package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Many keys' operations in one message to one member ({@code submitToKeys}): for each key, the operations a gateway
 * queued for it, applied in the order they were queued, as one atomic step on the key's owner. Each operation is
 * the same processor a single call would send, so a batch decides exactly what the same calls one by one would have
 * decided; the result for a key is the list of their results, in order. Deterministic, so the backup replays it.
 */
final class BatchProcessor implements EntryProcessor<String, WindowState, List<Object>>, IdentifiedDataSerializable {

  /** Operations deserialized in this JVM (by an owner or a backup), for tests of what crosses the cluster. */
  private static final LongAdder OPERATIONS_READ = new LongAdder();

  private Map<String, List<WindowProcessor<?>>> operations;

  BatchProcessor() {
  }

  BatchProcessor(Map<String, List<WindowProcessor<?>>> operations) {
    this.operations = operations;
  }

  @Override
  public List<Object> process(Map.Entry<String, WindowState> entry) {
    List<WindowProcessor<?>> queued = operations.get(entry.getKey());
    List<Object> results = new ArrayList<>(queued.size());
    for (WindowProcessor<?> operation : queued) {
      // each one sees the state the previous one stored in the entry
      results.add(operation.process(entry));
    }
    return results;
  }

  @Override
  public int getFactoryId() {
    return ClusterSerialization.FACTORY_ID;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.BATCH;
  }

  @Override
  public void writeData(ObjectDataOutput out) throws IOException {
    out.writeInt(operations.size());
    for (Map.Entry<String, List<WindowProcessor<?>>> keyed : operations.entrySet()) {
      out.writeString(keyed.getKey());
      out.writeInt(keyed.getValue().size());
      for (WindowProcessor<?> operation : keyed.getValue()) {
        out.writeObject(operation);
      }
    }
  }

  @Override
  public void readData(ObjectDataInput in) throws IOException {
    int keys = in.readInt();
    operations = new HashMap<>(Math.max(4, keys * 2));
    for (int k = 0; k < keys; k++) {
      String key = in.readString();
      int count = in.readInt();
      List<WindowProcessor<?>> queued = new ArrayList<>(count);
      for (int i = 0; i < count; i++) {
        queued.add(in.readObject());
      }
      operations.put(key, queued);
    }
    OPERATIONS_READ.add(count(operations));
  }

  private static int count(Map<String, List<WindowProcessor<?>>> operations) {
    int count = 0;
    for (List<WindowProcessor<?>> queued : operations.values()) {
      count += queued.size();
    }
    return count;
  }

  static long operationsRead() {
    return OPERATIONS_READ.sum();
  }
}
