package io.sluice.gateway.policy;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

import java.util.List;

/**
 * Where the {@link PolicyDocument} lives and where each gateway says which version it applied: in this JVM for a
 * gateway alone ({@link #local}), in the cluster for clustered gateways ({@code cluster.HazelcastPolicyStore}). Every
 * call completes on the caller's Vert.x context and never blocks it.
 */
public interface PolicyStore {

  /** A store of one gateway, without a cluster. */
  static PolicyStore local() {
    return new LocalPolicyStore();
  }

  /** This gateway's name among those that report to the store (a cluster member's UUID, or "local"). */
  String gatewayId();

  /** Stores {@code initial} unless a document is there already; the document in force either way. */
  Future<PolicyDocument> seed(PolicyDocument initial);

  /** The document in force. */
  Future<PolicyDocument> current();

  /**
   * Replaces {@code expected} with {@code next} if {@code expected} is still the document in force: true if it was,
   * false if another change came first (nothing is stored then).
   */
  Future<Boolean> replace(PolicyDocument expected, PolicyDocument next);

  /** Records what this gateway applied ({@code version}, {@code appliedAt}, ...), shown by {@link #appliedByGateway}. */
  Future<Void> recordApplied(JsonObject applied);

  /** What each gateway now in the cluster last applied, one object each with its {@code gateway} id. */
  Future<List<JsonObject>> appliedByGateway();

  /** {@code changed} runs (on any thread) whenever the document may have changed; at most one watcher. */
  void watch(Runnable changed);

  /** Stops watching. */
  void close();
}
