package io.sluice.gateway.proxy.conformance;

import java.util.Set;

/**
 * {@link ProxyPropertyTest}'s properties and examples against the vertx engine. Its library differences that
 * random requests reach are tolerated and counted in the statistics: the framing fields written last. (Request
 * trailer fields, dropped by Vert.x, are relayed by the engine since 2026-12-02: no longer tolerated.)
 */
class VertxEngineProxyPropertyTest extends ProxyPropertyTest {

  @Override
  protected String engine() {
    return "vertx";
  }

  @Override
  protected Set<PropertyTry.EngineDifference> engineDifferences() {
    return Set.of(PropertyTry.EngineDifference.FRAMING_FIELDS_LAST);
  }
}
