package io.sluice.gateway.policy;

import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.RouteMatch;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * Policies written back as configuration JSON, in one canonical form: every key the policy has (defaults written
 * out), durations in the largest exact unit, match lists sorted (paths and hosts in lower case, as they are matched). Two gateways that configure the same policies in
 * different words write the same JSON, so the form can be compared, stored in the cluster and shown; reading it with
 * {@code ConfigLoader.parsePolicies} gives back equal policies.
 */
public final class PolicyJson {

  private static final long SECOND = 1_000;
  private static final long MINUTE = 60 * SECOND;
  private static final long HOUR = 60 * MINUTE;
  private static final String PREFIX_SUFFIX = "/*";

  private PolicyJson() {
  }

  public static JsonArray toJson(List<Policy> policies) {
    JsonArray array = new JsonArray();
    policies.forEach(policy -> array.add(toJson(policy)));
    return array;
  }

  public static JsonObject toJson(Policy policy) {
    JsonObject json = new JsonObject()
        .put("name", policy.name())
        .put("key", policy.keySource().spec())
        .put("requests", policy.window().requests())
        .put("window", duration(policy.window().windowMillis()))
        .put("onExceed", lower(policy.onExceed()));
    if (policy.delays()) {
      json.put("maxDelay", duration(policy.maxDelayMillis()));
    }
    json.put("onMissingKey", lower(policy.onMissingKey()));
    if (!policy.match().any()) {
      json.put("match", match(policy.match()));
    }
    return json.put("mode", lower(policy.mode()));
  }

  /** Milliseconds as the configuration writes durations, in the largest unit that divides them. */
  static String duration(long millis) {
    if (millis > 0 && millis % HOUR == 0) {
      return millis / HOUR + "h";
    }
    if (millis > 0 && millis % MINUTE == 0) {
      return millis / MINUTE + "m";
    }
    if (millis > 0 && millis % SECOND == 0) {
      return millis / SECOND + "s";
    }
    return millis + "ms";
  }

  private static JsonObject match(RouteMatch match) {
    JsonObject json = new JsonObject();
    TreeSet<String> paths = new TreeSet<>(match.exactPaths());
    match.prefixes().forEach(prefix -> paths.add(prefix + PREFIX_SUFFIX));
    if (!paths.isEmpty()) {
      json.put("paths", new JsonArray(new ArrayList<>(paths)));
    }
    TreeSet<String> methods = new TreeSet<>(match.methods());
    if (methods.contains("GET")) {
      // GET brings HEAD with it when read (RouteMatch.of)
      methods.remove("HEAD");
    }
    if (!methods.isEmpty()) {
      json.put("methods", new JsonArray(new ArrayList<>(methods)));
    }
    if (!match.hosts().isEmpty()) {
      json.put("hosts", new JsonArray(new ArrayList<>(new TreeSet<>(match.hosts()))));
    }
    return json;
  }

  private static String lower(Enum<?> value) {
    return value.name().toLowerCase(Locale.ROOT);
  }

  /**
   * What changed from {@code before} to {@code after} (both canonical), in one line: policies added, removed, and
   * changed with each changed setting ({@code global requests 10 -> 30}); "no change" when there is none.
   */
  public static String differences(JsonArray before, JsonArray after) {
    Map<String, JsonObject> old = byName(before);
    Map<String, JsonObject> now = byName(after);
    List<String> parts = new ArrayList<>();
    List<String> added = new ArrayList<>();
    List<String> changed = new ArrayList<>();
    for (Map.Entry<String, JsonObject> entry : now.entrySet()) {
      JsonObject was = old.get(entry.getKey());
      if (was == null) {
        added.add(entry.getKey());
      } else if (!was.equals(entry.getValue())) {
        changed.add(entry.getKey() + " " + settingChanges(was, entry.getValue()));
      }
    }
    List<String> removed = old.keySet().stream().filter(name -> !now.containsKey(name)).toList();
    if (!added.isEmpty()) {
      parts.add("added " + String.join(", ", added));
    }
    if (!removed.isEmpty()) {
      parts.add("removed " + String.join(", ", removed));
    }
    if (!changed.isEmpty()) {
      parts.add("changed " + String.join("; ", changed));
    }
    if (parts.isEmpty() && !before.equals(after)) {
      parts.add("reordered");
    }
    return parts.isEmpty() ? "no change" : String.join("; ", parts);
  }

  private static String settingChanges(JsonObject was, JsonObject now) {
    TreeSet<String> keys = new TreeSet<>(was.fieldNames());
    keys.addAll(now.fieldNames());
    List<String> changes = new ArrayList<>();
    for (String key : keys) {
      Object before = was.getValue(key);
      Object after = now.getValue(key);
      if (before == null ? after != null : !before.equals(after)) {
        changes.add(key + " " + shown(before) + " -> " + shown(after));
      }
    }
    return String.join(", ", changes);
  }

  private static String shown(Object value) {
    return value == null ? "(none)" : value instanceof JsonObject || value instanceof JsonArray
        ? value.toString() : String.valueOf(value);
  }

  private static Map<String, JsonObject> byName(JsonArray policies) {
    Map<String, JsonObject> map = new LinkedHashMap<>();
    for (int i = 0; i < policies.size(); i++) {
      JsonObject policy = policies.getJsonObject(i);
      map.put(policy.getString("name"), policy);
    }
    return map;
  }
}
