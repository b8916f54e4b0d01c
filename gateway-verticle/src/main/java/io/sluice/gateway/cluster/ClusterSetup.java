package io.sluice.gateway.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.FileSystemXmlConfig;
import com.hazelcast.config.JavaSerializationFilterConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.config.ClasspathXmlConfig;

import java.io.File;
import java.io.FileNotFoundException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Finds the Hazelcast configuration and applies the overrides that let one file serve a laptop and a compose
 * network alike. Lookup: system property {@code vertx.hazelcast.config}, then {@code ./cluster.xml}, then the copy
 * packaged in the jar.
 */
public final class ClusterSetup {

  static final String PACKAGED = "sluice-defaults/cluster.xml";
  /**
   * The only classes a member deserializes from Java serialization, besides Hazelcast's own, the JDK's and arrays
   * (Hazelcast's default list): Sluice's and Vert.x's. Anything else a peer sends (the "gadget" of a
   * deserialization exploit) is refused. Sluice's own values never use Java serialization (see
   * {@link ClusterSerialization}); the filter closes the door for the rest.
   */
  static final String[] DESERIALIZABLE_PREFIXES = {"io.sluice.", "io.vertx."};

  private ClusterSetup() {
  }

  public static Config load(Map<String, String> environment, Properties systemProperties) {
    Config config = read(systemProperties.getProperty("vertx.hazelcast.config"));
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
    String name = setting(environment, systemProperties, "SLUICE_CLUSTER_NAME", "sluice.cluster.name");
    if (name != null) {
      config.setClusterName(name);
    }
    if (config.getSerializationConfig().getJavaSerializationFilterConfig() == null) {
      // a filter of the file's own (<java-serialization-filter>) is kept as written
      JavaSerializationFilterConfig filter = new JavaSerializationFilterConfig().setDefaultsDisabled(false);
      filter.getWhitelist().addPrefixes(DESERIALIZABLE_PREFIXES);
      config.getSerializationConfig().setJavaSerializationFilterConfig(filter);
    }
    ClusterSerialization.register(config);
    return config;
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
