package io.sluice.gateway.proxy.conformance;

import java.util.Set;

/**
 * {@link ProxyPropertyTest}'s properties and examples against the vertx engine. Its library differences that
 * random requests reach are tolerated and counted in the statistics: dropped request trailers (see
 * {@code conformance/known-differences/vertx.txt}) and the framing fields written last.
 */
class VertxEngineProxyPropertyTest extends ProxyPropertyTest {

  @Override
  protected String engine() {
    return "vertx";
  }

  @Override
  protected Set<PropertyTry.EngineDifference> engineDifferences() {
    return Set.of(PropertyTry.EngineDifference.REQUEST_TRAILERS_DROPPED,
        PropertyTry.EngineDifference.FRAMING_FIELDS_LAST);
  }
}
