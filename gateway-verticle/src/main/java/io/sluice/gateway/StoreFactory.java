package io.sluice.gateway;

import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.sluice.gateway.policy.PolicyStore;
import io.vertx.core.Vertx;

/** Chooses where limiter state lives: in this JVM, or in the cluster the launcher joined. */
@FunctionalInterface
public interface StoreFactory {

  CounterStore create(Vertx vertx, GatewayConfig config);

  /** Where the policy document lives: by default in this JVM (this gateway alone changes its policies). */
  default PolicyStore policyStore(Vertx vertx) {
    return PolicyStore.local();
  }
}
