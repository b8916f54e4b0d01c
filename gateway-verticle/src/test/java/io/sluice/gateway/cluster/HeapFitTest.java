package io.sluice.gateway.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.MaxSizePolicy;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Properties;

import static org.junit.jupiter.api.Assertions.assertEquals;

@DisplayName("The counters' eviction size fits the member's heap")
class HeapFitTest {

  private static final long MB = 1L << 20;
  private static final int CLUSTER_XML_SIZE = 1_000_000;

  /** cluster.xml as loaded, with its size as written (loading has already fitted it to this JVM's heap). */
  private static Config clusterXml() {
    Config config = ClusterSetup.load(Map.of(), new Properties());
    config.getMapConfig(ClusterSetup.LIMITS_MAP).getEvictionConfig().setSize(CLUSTER_XML_SIZE);
    return config;
  }

  @Test
  @DisplayName("-Xmx512m: cluster.xml's 1,000,000 entries per member (800 MB with a backup) come down to 40% of the "
      + "heap at 400 bytes per entry and backup")
  void smallHeapLowersTheSize() {
    Config config = clusterXml();
    int size = ClusterSetup.fitToHeap(config, 512 * MB);
    assertEquals((long) (512 * MB * 0.4) / (400 * 2), size);
    assertEquals(268_435, size);
    assertEquals(size, config.getMapConfig(ClusterSetup.LIMITS_MAP).getEvictionConfig().getSize());
  }

  @Test
  @DisplayName("a heap that holds cluster.xml's size keeps it")
  void largeHeapKeepsTheFile() {
    assertEquals(1_000_000, ClusterSetup.fitToHeap(clusterXml(), 16_384 * MB));
  }

  @Test
  @DisplayName("a size policy other than PER_NODE is the operator's, kept as written")
  void otherPolicyIsKept() {
    Config config = clusterXml();
    config.getMapConfig(ClusterSetup.LIMITS_MAP).getEvictionConfig()
        .setMaxSizePolicy(MaxSizePolicy.PER_PARTITION).setSize(5_000);
    assertEquals(5_000, ClusterSetup.fitToHeap(config, 64 * MB));
  }
}
