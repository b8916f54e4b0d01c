package io.sluice.gateway.proxy;

import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import io.sluice.gateway.StoreFactory;
import io.sluice.gateway.cluster.ClusterSetup;
import io.sluice.gateway.cluster.ClusteredStores;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;

import java.util.Map;
import java.util.Properties;
import java.util.UUID;

@DisplayName("Gateway over HTTP, Hazelcast counters")
class HazelcastGatewayTest extends GatewayHttpContract {

  private static HazelcastInstance member;

  @BeforeAll
  static void startMember() {
    member = Hazelcast.newHazelcastInstance(ClusterSetup.load(
        Map.of("SLUICE_CLUSTER_NAME", "http-test-" + UUID.randomUUID()), new Properties()));
  }

  @AfterAll
  static void stopMember() {
    member.shutdown();
  }

  @Override
  protected StoreFactory storeFactory() {
    // the production store, on a map of its own: gateways of other tests on this member never share its counters
    String map = "limits-" + UUID.randomUUID();
    return (vertx, config) -> ClusteredStores.production(vertx, member, config.limiter().withMapName(map));
  }
}
