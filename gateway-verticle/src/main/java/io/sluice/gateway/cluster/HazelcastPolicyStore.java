package io.sluice.gateway.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import com.hazelcast.map.listener.EntryAddedListener;
import com.hazelcast.map.listener.EntryMergedListener;
import com.hazelcast.map.listener.EntryUpdatedListener;
import io.sluice.gateway.policy.PolicyDocument;
import io.sluice.gateway.policy.PolicyStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * The cluster's policy document in a Hazelcast map, as JSON text (no serializer of ours to keep compatible): map
 * {@value #DOCUMENTS_MAP}, key {@value #CURRENT}. Each gateway records what it applied in map {@value #APPLIED_MAP},
 * keyed by its member UUID; a member that leaves has its entry removed, and only members still in the cluster are
 * shown. Changes are compare-and-set ({@code IMap.replace(key, old, new)}), so of two concurrent changes one wins.
 *
 * <p>Hazelcast's blocking calls run on a worker thread ({@code executeBlocking}); reads of the document, which the
 * gateways make often, use the asynchronous API. Every future completes on the caller's Vert.x context.
 */
public final class HazelcastPolicyStore implements PolicyStore {

  static final String DOCUMENTS_MAP = "sluice.policies";
  static final String CURRENT = "current";
  static final String APPLIED_MAP = "sluice.policies.applied";

  private final Vertx vertx;
  private final HazelcastInstance hazelcast;
  private final IMap<String, String> documents;
  private final IMap<String, String> applied;
  private final String self;
  /** Listener registrations, made and removed on worker threads under this object's lock. */
  private UUID documentListener;
  private UUID membershipListener;
  private boolean closed;

  public HazelcastPolicyStore(Vertx vertx, HazelcastInstance hazelcast) {
    this.vertx = vertx;
    this.hazelcast = hazelcast;
    this.documents = hazelcast.getMap(DOCUMENTS_MAP);
    this.applied = hazelcast.getMap(APPLIED_MAP);
    this.self = hazelcast.getCluster().getLocalMember().getUuid().toString();
  }

  @Override
  public String gatewayId() {
    return self;
  }

  @Override
  public Future<PolicyDocument> seed(PolicyDocument initial) {
    return vertx.executeBlocking(() -> {
      String existing = documents.putIfAbsent(CURRENT, initial.encode());
      return existing == null ? initial : PolicyDocument.decode(existing);
    }, false);
  }

  @Override
  public Future<PolicyDocument> current() {
    return Future.fromCompletionStage(documents.getAsync(CURRENT), vertx.getOrCreateContext())
        .map(stored -> stored == null ? null : PolicyDocument.decode(stored));
  }

  @Override
  public Future<Boolean> replace(PolicyDocument expected, PolicyDocument next) {
    return vertx.executeBlocking(() -> {
      // compared as documents, then replaced as the exact text stored: a member that encodes the same document
      // differently (another version of Sluice) must not make every change fail
      String stored = documents.get(CURRENT);
      if (stored == null || !PolicyDocument.decode(stored).equals(expected)) {
        return false;
      }
      return documents.replace(CURRENT, stored, next.encode());
    }, false);
  }

  @Override
  public Future<Void> recordApplied(JsonObject state) {
    Member member = hazelcast.getCluster().getLocalMember();
    String entry = state.copy().put("gateway", self).put("member", member.getAddress().toString()).encode();
    return Future.fromCompletionStage(applied.setAsync(self, entry), vertx.getOrCreateContext());
  }

  @Override
  public Future<List<JsonObject>> appliedByGateway() {
    return vertx.executeBlocking(() -> {
      Set<String> members = new HashSet<>();
      for (Member member : hazelcast.getCluster().getMembers()) {
        members.add(member.getUuid().toString());
      }
      List<JsonObject> states = new ArrayList<>();
      for (Map.Entry<String, String> entry : applied.getAll(members).entrySet()) {
        states.add(new JsonObject(entry.getValue()));
      }
      states.sort((a, b) -> a.getString("gateway").compareTo(b.getString("gateway")));
      return states;
    }, false);
  }

  @Override
  public void watch(Runnable changed) {
    vertx.executeBlocking(() -> {
      synchronized (this) {
        if (!closed) {
          documentListener = documents.addEntryListener(new DocumentListener(changed), CURRENT, false);
          membershipListener = hazelcast.getCluster().addMembershipListener(new DepartedMembers());
        }
      }
      return null;
    }, false);
  }

  @Override
  public void close() {
    vertx.executeBlocking(() -> {
      // after a registration still under way when close was called: the lock orders the two
      synchronized (this) {
        closed = true;
        if (documentListener != null) {
          documents.removeEntryListener(documentListener);
        }
        if (membershipListener != null) {
          hazelcast.getCluster().removeMembershipListener(membershipListener);
        }
      }
      return null;
    }, false);
  }

  /** Tells the watcher the document was stored, replaced, or merged back after a split (on a Hazelcast thread). */
  private record DocumentListener(Runnable changed) implements EntryAddedListener<String, String>,
      EntryUpdatedListener<String, String>, EntryMergedListener<String, String> {

    @Override
    public void entryAdded(EntryEvent<String, String> event) {
      changed.run();
    }

    @Override
    public void entryUpdated(EntryEvent<String, String> event) {
      changed.run();
    }

    @Override
    public void entryMerged(EntryEvent<String, String> event) {
      changed.run();
    }
  }

  /** Removes what a departed member applied: it no longer enforces anything. */
  private final class DepartedMembers implements MembershipListener {

    @Override
    public void memberAdded(MembershipEvent event) {
    }

    @Override
    public void memberRemoved(MembershipEvent event) {
      applied.removeAsync(event.getMember().getUuid().toString());
    }
  }
}
