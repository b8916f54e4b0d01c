package io.sluice.gateway.policy;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.time.Instant;

/**
 * The policies in force, as one versioned document: what every gateway of a cluster applies. Versions count up from
 * {@link #FIRST_VERSION} (the document seeded from the first gateway's configuration), one per accepted change.
 *
 * @param policies        the policies in {@link PolicyJson canonical} form
 * @param changedAtMillis when this version was made
 * @param changedBy       who made it: "configuration of the first gateway" or the admin API's caller
 */
public record PolicyDocument(long version, JsonArray policies, long changedAtMillis, String changedBy) {

  public static final long FIRST_VERSION = 1;

  /** The next version, with other policies. */
  public PolicyDocument next(JsonArray newPolicies, long atMillis, String by) {
    return new PolicyDocument(version + 1, newPolicies, atMillis, by);
  }

  public JsonObject toJson() {
    return new JsonObject()
        .put("version", version)
        .put("changedAt", Instant.ofEpochMilli(changedAtMillis).toString())
        .put("changedBy", changedBy)
        .put("policies", policies.copy());
  }

  /** The document as stored: {@link #toJson()} encoded. */
  public String encode() {
    return toJson().encode();
  }

  public static PolicyDocument decode(String stored) {
    JsonObject json = new JsonObject(stored);
    return new PolicyDocument(json.getLong("version"), json.getJsonArray("policies"),
        Instant.parse(json.getString("changedAt")).toEpochMilli(), json.getString("changedBy"));
  }
}
