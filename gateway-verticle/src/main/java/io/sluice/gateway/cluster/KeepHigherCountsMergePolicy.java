package io.sluice.gateway.cluster;

import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;
import com.hazelcast.spi.impl.merge.MapMergingEntryImpl;
import com.hazelcast.spi.merge.MergingExpirationTime;
import com.hazelcast.spi.merge.MergingTTL;
import com.hazelcast.spi.merge.MergingValue;
import com.hazelcast.spi.merge.SplitBrainMergePolicy;
import io.sluice.gateway.limit.WindowState;

/**
 * How {@code sluice.limits} heals after a split brain (named in cluster.xml's {@code <merge-policy>}): when the
 * smaller side rejoins, each of its entries meets the larger side's entry for the same key, and the result holds, per
 * bucket, the larger of the two counts ({@link WindowState#atLeastBoth}). A count never goes down at a merge, so the
 * merge lets no request through that either side's counters would have refused. Hazelcast's own policies keep one
 * side's value whole (PutIfAbsent: the larger side's; LatestUpdate: the later write's) and so drop the other side's
 * admissions.
 *
 * <p>Hazelcast gives an entry whose value the merge changed the expiry of the merging (smaller side's) entry. That
 * copy may be older than the larger side's and expire first, taking the larger side's recent admissions with it, so
 * the later of the two expiries is kept. That needs Hazelcast's merging-entry class (internal API, checked by
 * KeepHigherCountsMergePolicyTest against the pinned Hazelcast version); if Hazelcast hands over another class, the
 * merge still never lowers a count, and only the expiry may be the smaller side's.
 *
 * <p>Sent to the members that own the keys inside merge operations, so it travels as Sluice's own
 * {@link IdentifiedDataSerializable} (no Java serialization; no fields to write). It asks only for what a map without
 * per-entry statistics provides (value, expiry, TTL): Hazelcast refuses at start a policy that wants more.
 *
 * @param <T> what Hazelcast hands over of each side's entry
 */
public final class KeepHigherCountsMergePolicy<T extends MergingValue<WindowState> & MergingExpirationTime & MergingTTL>
    implements SplitBrainMergePolicy<WindowState, T, Object>, IdentifiedDataSerializable {

  /** Hazelcast creates the policy by class name from the configuration, and the factory creates it off the wire. */
  public KeepHigherCountsMergePolicy() {
  }

  @Override
  public Object merge(T merging, T existing) {
    if (merging == null) {
      return existing == null ? null : existing.getRawValue();
    }
    if (existing == null) {
      return merging.getRawValue();
    }
    WindowState theirs = merging.getValue();
    WindowState ours = existing.getValue();
    if (ours.covers(theirs)) {
      // unchanged: the entry keeps its value and its expiry as they are
      return existing.getRawValue();
    }
    keepLaterExpiry(merging, existing);
    return WindowState.atLeastBoth(ours, theirs);
  }

  /** Makes the merging entry, whose expiry Hazelcast gives the merged one, expire no sooner than the existing one. */
  private static <T extends MergingExpirationTime & MergingTTL> void keepLaterExpiry(T merging, T existing) {
    if (merging instanceof MapMergingEntryImpl<?, ?> entry
        && existing.getExpirationTime() > merging.getExpirationTime()) {
      // an expiration time set is used as it is (the TTL goes with it, for Hazelcast's own bookkeeping)
      entry.setTtl(existing.getTtl()).setExpirationTime(existing.getExpirationTime());
    }
  }

  @Override
  public int getFactoryId() {
    return ClusterSerialization.FACTORY_ID;
  }

  @Override
  public int getClassId() {
    return ClusterSerialization.MERGE_POLICY;
  }

  @Override
  public void writeData(ObjectDataOutput out) {
  }

  @Override
  public void readData(ObjectDataInput in) {
  }
}
