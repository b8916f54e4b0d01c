package io.sluice.gateway.policy;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/** The policy document of a gateway without a cluster: one reference in memory. */
final class LocalPolicyStore implements PolicyStore {

  static final String GATEWAY_ID = "local";

  private final AtomicReference<PolicyDocument> document = new AtomicReference<>();
  private final AtomicReference<JsonObject> applied = new AtomicReference<>();
  private volatile Runnable watcher = () -> { };

  @Override
  public String gatewayId() {
    return GATEWAY_ID;
  }

  @Override
  public Future<PolicyDocument> seed(PolicyDocument initial) {
    document.compareAndSet(null, initial);
    return Future.succeededFuture(document.get());
  }

  @Override
  public Future<PolicyDocument> current() {
    return Future.succeededFuture(document.get());
  }

  @Override
  public Future<Boolean> replace(PolicyDocument expected, PolicyDocument next) {
    boolean replaced = document.compareAndSet(expected, next);
    if (replaced) {
      watcher.run();
    }
    return Future.succeededFuture(replaced);
  }

  @Override
  public Future<Void> recordApplied(JsonObject state) {
    applied.set(state.copy().put("gateway", GATEWAY_ID));
    return Future.succeededFuture();
  }

  @Override
  public Future<List<JsonObject>> appliedByGateway() {
    JsonObject state = applied.get();
    return Future.succeededFuture(state == null ? List.of() : List.of(state.copy()));
  }

  @Override
  public void watch(Runnable changed) {
    watcher = changed;
  }

  @Override
  public void close() {
    watcher = () -> { };
  }
}
