package io.sluice.gateway.policy;

import io.sluice.gateway.config.ConfigLoader;
import io.sluice.gateway.limit.Policy;
import io.sluice.gateway.limit.WindowSpec;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

@DisplayName("Policies written as canonical JSON")
class PolicyJsonTest {

  private static final String SOURCE = "test";

  private static List<Policy> read(JsonArray policies) {
    return ConfigLoader.parsePolicies(policies, WindowSpec.DEFAULT_TRANSIT_MILLIS, SOURCE);
  }

  @Test
  @DisplayName("every setting is written out, defaults included, and reads back into equal policies")
  void roundTrip() {
    JsonArray written = new JsonArray()
        .add(new JsonObject().put("name", "global").put("key", "global").put("requests", 10).put("window", "1000ms"))
        .add(new JsonObject().put("name", "per-token").put("key", "header:X-Api-Key").put("requests", 5)
            .put("window", "90s").put("onExceed", "delay").put("mode", "shadow")
            .put("match", new JsonObject().put("paths", new JsonArray().add("/api/*").add("/Login"))
                .put("methods", new JsonArray().add("POST").add("GET")).put("hosts", new JsonArray().add("A.example"))));
    List<Policy> policies = read(written);
    JsonArray canonical = PolicyJson.toJson(policies);

    assertEquals(new JsonObject().put("name", "global").put("key", "global").put("requests", 10).put("window", "1s")
        .put("onExceed", "reject").put("onMissingKey", "reject").put("mode", "enforce"), canonical.getJsonObject(0));
    assertEquals(new JsonObject().put("name", "per-token").put("key", "header:X-Api-Key").put("requests", 5)
        .put("window", "90s").put("onExceed", "delay").put("maxDelay", "90s").put("onMissingKey", "reject")
        .put("match", new JsonObject().put("paths", new JsonArray().add("/api/*").add("/login"))
            .put("methods", new JsonArray().add("GET").add("POST")).put("hosts", new JsonArray().add("a.example")))
        .put("mode", "shadow"), canonical.getJsonObject(1));
    assertEquals(policies, read(canonical));
    assertEquals(canonical, PolicyJson.toJson(read(canonical)));
  }

  @Test
  @DisplayName("durations are written in the largest unit that divides them")
  void durations() {
    assertEquals("250ms", PolicyJson.duration(250));
    assertEquals("1500ms", PolicyJson.duration(1_500));
    assertEquals("2s", PolicyJson.duration(2_000));
    assertEquals("90s", PolicyJson.duration(90_000));
    assertEquals("2m", PolicyJson.duration(120_000));
    assertEquals("1h", PolicyJson.duration(3_600_000));
  }

  @Test
  @DisplayName("differences name the policies added, removed and changed, with each changed setting")
  void differences() {
    JsonArray before = PolicyJson.toJson(read(new JsonArray()
        .add(new JsonObject().put("name", "global").put("key", "global").put("requests", 10).put("window", "1s"))
        .add(new JsonObject().put("name", "old").put("key", "ip").put("requests", 1).put("window", "1s"))));
    JsonArray after = PolicyJson.toJson(read(new JsonArray()
        .add(new JsonObject().put("name", "global").put("key", "global").put("requests", 30).put("window", "1s"))
        .add(new JsonObject().put("name", "new").put("key", "bearer").put("requests", 1).put("window", "1s"))));

    assertEquals("added new; removed old; changed global requests 10 -> 30",
        PolicyJson.differences(before, after));
    assertEquals("no change", PolicyJson.differences(after, after.copy()));
  }
}
