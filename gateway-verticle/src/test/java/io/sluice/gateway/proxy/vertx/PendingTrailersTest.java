package io.sluice.gateway.proxy.vertx;

import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpHeaders;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The trailer fields a connection keeps for requests not sent upstream yet (see {@link UpstreamGuard#carry}). */
class PendingTrailersTest {

  private static HttpHeaders fields(String value) {
    return new DefaultHttpHeaders().add("X-Sum", value);
  }

  @Test
  void eachRequestTakesItsOwnAndForgetsEarlierOnes() {
    IdleConnections.State state = new IdleConnections.State();
    state.dispatch();
    HttpHeaders first = fields("1");
    HttpHeaders third = fields("3");
    state.trailers(1, first);
    state.trailers(3, third);
    assertSame(third, state.takeTrailers(3), "the second request had none");
    assertNull(state.takeTrailers(1), "request 1's were forgotten when request 3 took its own");
  }

  @Test
  void refusedRequestsWithTrailersDoNotPileUp() {
    IdleConnections.State state = new IdleConnections.State();
    for (int request = 1; request <= 10_000; request++) {
      state.dispatch();
      // every request is refused: its trailers are never taken
      state.trailers(request, fields(Integer.toString(request)));
      assertTrue(state.pendingTrailers() <= 1, "at request " + request + ": " + state.pendingTrailers());
    }
  }

  @Test
  void pipelinedRequestsDecodedAheadKeepAtMostTheBound() {
    IdleConnections.State state = new IdleConnections.State();
    state.dispatch();
    for (int request = 1; request <= 50; request++) {
      state.trailers(request, fields(Integer.toString(request)));
    }
    assertEquals(IdleConnections.MAX_PENDING_TRAILERS, state.pendingTrailers());
    assertEquals("50", state.takeTrailers(50).get("X-Sum"));
  }
}
