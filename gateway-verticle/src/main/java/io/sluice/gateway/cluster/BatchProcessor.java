package io.sluice.gateway.cluster;

import com.hazelcast.map.EntryProcessor;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;
import io.sluice.gateway.limit.WindowState;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The operations a gateway queued for one key during one flush, applied on the key's owner in the order they were
 * queued, as one atomic step ({@code submitToKey}, so with the map's synchronous backup, as a single call). Each is
 * the same processor a single call would send, so they decide exactly what the same calls one by one would have
 * decided; the result is the list of their results, in order. Deterministic, so the backup replays it.
 */
final class BatchProcessor implements EntryProcessor<String, WindowState, List<Object>>, IdentifiedDataSerializable {

  private List<WindowProcessor<?>> operations;

  BatchProcessor() {
  }

  BatchProcessor(List<WindowProcessor<?>> operations) {
    this.operations = operations;
  }

  @Override
  public List<Object> process(Map.Entry<String, WindowState> entry) {
    List<Object> results = new ArrayList<>(operations.size());
    for (WindowProcessor<?> operation : operations) {
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
    writeOperations(out, operations);
  }

  @Override
  public void readData(ObjectDataInput in) throws IOException {
    operations = readOperations(in);
  }

  static void writeOperations(ObjectDataOutput out, List<WindowProcessor<?>> operations) throws IOException {
    out.writeInt(operations.size());
    for (WindowProcessor<?> operation : operations) {
      out.writeObject(operation);
    }
  }

  static List<WindowProcessor<?>> readOperations(ObjectDataInput in) throws IOException {
    int count = in.readInt();
    List<WindowProcessor<?>> operations = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      operations.add(in.readObject());
    }
    return operations;
  }
}
