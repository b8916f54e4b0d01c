package io.sluice.gateway.limit;

/**
 * A store's table of keys holds {@code limiter.maxKeys} live keys and cannot count one more. The request that brought
 * the new key is refused (503 {@code limiter-full}): a key the limiter cannot count is never let through uncounted,
 * and no live key is dropped to make room, since a dropped key would start a fresh window and go over its limit. Keys
 * already in the table are decided as always.
 */
public final class KeyTableFull extends RuntimeException {

  private final int maxKeys;

  public KeyTableFull(int maxKeys) {
    super("the limiter already counts limiter.maxKeys = " + maxKeys + " live keys", null, false, false);
    this.maxKeys = maxKeys;
  }

  public int maxKeys() {
    return maxKeys;
  }
}
