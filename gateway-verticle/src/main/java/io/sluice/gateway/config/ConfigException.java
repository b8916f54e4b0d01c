package io.sluice.gateway.config;

/** Invalid configuration. The message is one line: where the value came from, the key, and what was expected. */
public final class ConfigException extends RuntimeException {

  public ConfigException(String message) {
    super(message, null, false, false);
  }
}
