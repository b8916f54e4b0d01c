package io.sluice.gateway;

import io.sluice.gateway.config.GatewayConfig;
import io.sluice.gateway.limit.CounterStore;
import io.vertx.core.Vertx;

/** Chooses where limiter state lives: in this JVM, or in the cluster the launcher joined. */
@FunctionalInterface
public interface StoreFactory {

  CounterStore create(Vertx vertx, GatewayConfig config);
}
