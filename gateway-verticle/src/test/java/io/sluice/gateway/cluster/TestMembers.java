package io.sluice.gateway.cluster;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Members of one fresh cluster built from the project's cluster.xml, returned once every partition has its owner
 * and backup where the cluster wants them. Before that, the partitions are still migrating to the members that
 * joined, and a call may wait out many retries: on a loaded CI machine long enough for a short window's entry to
 * expire under a test that meant it to count (seen: HazelcastCounterStoreTest.addedAdmissionsCount).
 */
final class TestMembers {

  /** Generous: migrating 271 near-empty partitions takes well under a second on a quiet machine. */
  private static final long SETTLE_MILLIS = 60_000;

  private TestMembers() {
  }

  static List<HazelcastInstance> start(int count, String clusterPrefix) {
    Map<String, String> env = Map.of("SLUICE_CLUSTER_NAME", clusterPrefix + "-" + UUID.randomUUID());
    List<HazelcastInstance> members = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      members.add(Hazelcast.newHazelcastInstance(ClusterSetup.load(env, new Properties())));
    }
    assertEquals(count, members.get(0).getCluster().getMembers().size());
    settled(members);
    return members;
  }

  /** Waits (bounded) until no partition of any of {@code members} is migrating or missing a backup. */
  static void settled(List<HazelcastInstance> members) {
    long deadline = System.currentTimeMillis() + SETTLE_MILLIS;
    for (HazelcastInstance member : members) {
      while (!member.getPartitionService().isClusterSafe()) {
        assertTrue(System.currentTimeMillis() < deadline, "partitions still migrating after " + SETTLE_MILLIS + " ms");
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new AssertionError(e);
        }
      }
    }
  }
}
