package io.sluice.gateway.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.EvictionConfig;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.config.FileSystemXmlConfig;
import com.hazelcast.config.JavaSerializationFilterConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.config.ClasspathXmlConfig;
import com.hazelcast.config.SplitBrainProtectionConfig;
import com.hazelcast.splitbrainprotection.SplitBrainProtectionOn;

import java.io.File;
import java.io.FileNotFoundException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the Hazelcast configuration and applies the overrides that let one file serve a laptop and a compose
 * network alike. Lookup: system property {@code vertx.hazelcast.config}, then {@code ./cluster.xml}, then the copy
 * packaged in the jar.
 */
public final class ClusterSetup {

  private static final Logger LOG = LoggerFactory.getLogger(ClusterSetup.class);

  static final String PACKAGED = "sluice-defaults/cluster.xml";
  /**
   * The only classes a member deserializes from Java serialization, besides Hazelcast's own, the JDK's and arrays
   * (Hazelcast's default list): Sluice's and Vert.x's. Anything else a peer sends (the "gadget" of a
   * deserialization exploit) is refused. Sluice's own values never use Java serialization (see
   * {@link ClusterSerialization}); the filter closes the door for the rest.
   */
  static final String[] DESERIALIZABLE_PREFIXES = {"io.sluice.", "io.vertx."};

  /** System properties under this prefix override cluster.xml's {@code <properties>} (e.g. failure detection). */
  static final String HAZELCAST_PROPERTY_PREFIX = "hazelcast.";
  /** The limiter's map as conf/gateway.json names it ({@code limiter.mapName}), whose counters are protected. */
  static final String LIMITS_MAP = "sluice.limits";
  /**
   * The split-brain protection of {@link #LIMITS_MAP} in cluster.xml: there disabled, enabled here when the expected
   * number of gateways is given.
   */
  static final String LIMITS_PROTECTION = "sluice-limits-majority";
  /**
   * The member attribute that tells this member's store how many gateways to expect (see
   * {@link ClusteredStores#seat}): a gateway on the minority side of a split then keeps its part of each limit as one
   * of that many, not as one of the few it still sees.
   */
  static final String EXPECTED_GATEWAYS_ATTRIBUTE = "sluice.expected-gateways";

  private ClusterSetup() {
  }

  public static Config load(Map<String, String> environment, Properties systemProperties) {
    Config config = read(systemProperties.getProperty("vertx.hazelcast.config"));
    // Hazelcast reads a property from the system only when the file leaves it out: a -D given at start wins here
    for (String name : systemProperties.stringPropertyNames()) {
      if (name.startsWith(HAZELCAST_PROPERTY_PREFIX)) {
        config.setProperty(name, systemProperties.getProperty(name));
      }
    }
    String members = setting(environment, systemProperties, "SLUICE_CLUSTER_MEMBERS", "sluice.cluster.members");
    if (members != null) {
      List<String> list = new ArrayList<>();
      for (String member : members.split(",")) {
        if (!member.isBlank()) {
          list.add(member.trim());
        }
      }
      config.getNetworkConfig().getJoin().getTcpIpConfig().setEnabled(true).setMembers(list);
    }
    String networkInterface =
        setting(environment, systemProperties, "SLUICE_CLUSTER_INTERFACE", "sluice.cluster.interface");
    if (networkInterface != null) {
      NetworkConfig network = config.getNetworkConfig();
      network.getInterfaces().clear();
      if (networkInterface.equals("*")) {
        network.getInterfaces().setEnabled(false);
      } else {
        network.getInterfaces().setEnabled(true).addInterface(networkInterface);
      }
    }
    String port = setting(environment, systemProperties, "SLUICE_CLUSTER_PORT", "sluice.cluster.port");
    if (port != null) {
      // exactly this port: the other members list it, so trying the next ones when it is taken would hide it
      config.getNetworkConfig().setPort(memberPort(port)).setPortAutoIncrement(false);
    }
    String name = setting(environment, systemProperties, "SLUICE_CLUSTER_NAME", "sluice.cluster.name");
    if (name != null) {
      config.setClusterName(name);
    }
    String expected = setting(environment, systemProperties, "SLUICE_CLUSTER_EXPECTED_GATEWAYS",
        "sluice.cluster.expectedGateways");
    if (expected != null) {
      protectMajority(config, expectedGateways(expected));
    }
    if (config.getSerializationConfig().getJavaSerializationFilterConfig() == null) {
      // a filter of the file's own (<java-serialization-filter>) is kept as written
      JavaSerializationFilterConfig filter = new JavaSerializationFilterConfig().setDefaultsDisabled(false);
      filter.getWhitelist().addPrefixes(DESERIALIZABLE_PREFIXES);
      config.getSerializationConfig().setJavaSerializationFilterConfig(filter);
    }
    fitToHeap(config, Runtime.getRuntime().maxMemory());
    ClusterSerialization.register(config);
    return config;
  }

  /**
   * What one entry of the counters costs the member that holds it, owned or as a backup: 336 bytes measured by
   * {@code bench/KeyMemory.java} (a one-member cluster, a per-key policy), rounded up for the larger windows' buckets.
   */
  static final long ENTRY_BYTES = 400;
  /** The heap the counters may take; the rest serves requests in flight, Vert.x, Netty and Hazelcast itself. */
  static final double HEAP_SHARE = 0.4;

  /**
   * Lowers the counters' eviction size ({@code PER_NODE}: entries each member owns) to what fits in
   * {@link #HEAP_SHARE} of {@code maxHeapBytes}, each owned entry costing {@link #ENTRY_BYTES} once more for each
   * backup another member keeps of it: cluster.xml's 1,000,000 is 800 MB per member with one backup, and a 512 MB
   * member flooded with live keys would run out of memory long before evicting any. A size below the fit, or another
   * policy, is the operator's and kept. Returns the size in force.
   */
  static int fitToHeap(Config config, long maxHeapBytes) {
    MapConfig map = config.getMapConfig(LIMITS_MAP);
    EvictionConfig eviction = map.getEvictionConfig();
    if (eviction.getMaxSizePolicy() != MaxSizePolicy.PER_NODE) {
      return eviction.getSize();
    }
    long fits = (long) (maxHeapBytes * HEAP_SHARE) / (ENTRY_BYTES * (1 + map.getTotalBackupCount()));
    if (fits < eviction.getSize()) {
      LOG.info("map {} holds at most {} entries per member (cluster.xml: {}): {} of the {} MB heap at {} bytes per "
              + "entry and backup", LIMITS_MAP, fits, eviction.getSize(), HEAP_SHARE, maxHeapBytes >> 20, ENTRY_BYTES);
      eviction.setSize((int) Math.max(1, fits));
    }
    return eviction.getSize();
  }

  /**
   * With {@code gateways} expected, the limiter's counters answer only on a side of the cluster that holds a
   * majority of them, {@code floor(gateways / 2) + 1}: on a smaller side every store call fails at once
   * (SplitBrainProtectionException), and its gateways decide as {@code limiter.onStoreFailure} says until the sides
   * have merged. At most one side has a majority, so at most one side counts a limit in full. One gateway expected:
   * nothing to protect. A protection the file enables itself is kept as written.
   */
  static void protectMajority(Config config, int gateways) {
    if (gateways < 2) {
      return;
    }
    SplitBrainProtectionConfig protection = config.getSplitBrainProtectionConfigs().get(LIMITS_PROTECTION);
    if (protection == null) {
      protection = new SplitBrainProtectionConfig(LIMITS_PROTECTION);
      config.addSplitBrainProtectionConfig(protection);
    }
    if (!protection.isEnabled()) {
      protection.setEnabled(true).setMinimumClusterSize(gateways / 2 + 1)
          .setProtectOn(SplitBrainProtectionOn.READ_WRITE);
    }
    if (config.getMapConfig(LIMITS_MAP).getSplitBrainProtectionName() == null) {
      config.getMapConfig(LIMITS_MAP).setSplitBrainProtectionName(LIMITS_PROTECTION);
    }
    config.getMemberAttributeConfig().setAttribute(EXPECTED_GATEWAYS_ATTRIBUTE, Integer.toString(gateways));
  }

  private static int memberPort(String value) {
    try {
      int port = Integer.parseInt(value);
      if (port >= 1 && port <= 65_535) {
        return port;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("SLUICE_CLUSTER_PORT / sluice.cluster.port: expected the port this member "
        + "listens on for the others, 1-65535, got '" + value + "'");
  }

  private static int expectedGateways(String value) {
    try {
      int gateways = Integer.parseInt(value);
      if (gateways >= 1) {
        return gateways;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("SLUICE_CLUSTER_EXPECTED_GATEWAYS / sluice.cluster.expectedGateways: "
        + "expected the number of gateways in the cluster, a whole number >= 1, got '" + value + "'");
  }

  private static Config read(String explicit) {
    String path = explicit != null ? explicit : new File("cluster.xml").isFile() ? "cluster.xml" : null;
    if (path == null) {
      return new ClasspathXmlConfig(PACKAGED);
    }
    if (path.startsWith("classpath:")) {
      return new ClasspathXmlConfig(path.substring("classpath:".length()));
    }
    try {
      return new FileSystemXmlConfig(path);
    } catch (FileNotFoundException e) {
      throw new IllegalArgumentException("Hazelcast configuration file not found: " + path, e);
    }
  }

  private static String setting(Map<String, String> environment, Properties properties, String variable,
                                String property) {
    String value = properties.getProperty(property, environment.get(variable));
    return value == null || value.isBlank() ? null : value.trim();
  }
}
