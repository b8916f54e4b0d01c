package io.sluice.gateway.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The launcher's {@code -conf} argument: a JSON object written inline (it starts with <code>{</code>), or the path of
 * a file holding one. Read before Vert.x starts, so that a missing file or broken JSON stops the gateway with one line
 * instead of a warning and a start on the defaults.
 */
public final class ConfArgument {

  /** How errors name an inline argument. */
  public static final String INLINE_SOURCE = "-conf JSON";

  private ConfArgument() {
  }

  /** The value of {@code -conf} (or {@code --conf}, {@code -conf=...}) among the launcher's arguments, or null. */
  public static String find(String[] args) {
    String found = null;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      String lower = arg.toLowerCase(java.util.Locale.ROOT);
      if ((lower.equals("-conf") || lower.equals("--conf")) && i + 1 < args.length) {
        found = args[++i];
      } else if (lower.startsWith("-conf=") || lower.startsWith("--conf=")) {
        found = arg.substring(arg.indexOf('=') + 1);
      }
    }
    return found;
  }

  /** What errors call this source: the file's path, or {@link #INLINE_SOURCE}. */
  public static String sourceOf(String argument) {
    return isInline(argument) ? INLINE_SOURCE : argument;
  }

  /** The JSON object the argument gives; a {@link ConfigException} naming the source if there is none. */
  public static JsonObject read(String argument) {
    String source = sourceOf(argument);
    String text = isInline(argument) ? argument : readFile(argument);
    if (text.isBlank()) {
      throw new ConfigException(source + ": is empty; expected a JSON object");
    }
    Object value;
    try {
      value = Json.decodeValue(text);
    } catch (DecodeException e) {
      throw new ConfigException(source + ": is not valid JSON: " + syntaxError(e));
    }
    if (!(value instanceof JsonObject)) {
      String got = value instanceof JsonArray ? "an array" : "a single value " + ConfigLoader.shown(value);
      throw new ConfigException(source + ": must hold a JSON object, got " + got);
    }
    return (JsonObject) value;
  }

  private static boolean isInline(String argument) {
    String trimmed = argument.trim();
    return trimmed.startsWith("{") || trimmed.startsWith("[");
  }

  private static String readFile(String path) {
    String hint = " (-conf takes the path of a JSON file, or a JSON object)";
    try {
      Path file = Path.of(path);
      if (Files.isDirectory(file)) {
        throw new ConfigException(path + ": is a directory, not a JSON file" + hint);
      }
      return StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file)))
          .toString();
    } catch (NoSuchFileException | InvalidPathException e) {
      throw new ConfigException(path + ": no such file" + hint);
    } catch (AccessDeniedException e) {
      throw new ConfigException(path + ": cannot be read (permission denied)");
    } catch (CharacterCodingException e) {
      throw new ConfigException(path + ": is not UTF-8 text");
    } catch (IOException e) {
      throw new ConfigException(path + ": cannot be read (" + oneLine(String.valueOf(e.getMessage())) + ")");
    }
  }

  /** Jackson's complaint and where, without its multi-line "[Source: ...]" suffix. */
  private static String syntaxError(DecodeException e) {
    if (e.getCause() instanceof JsonProcessingException jackson) {
      JsonLocation at = jackson.getLocation();
      String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
      String complaint = jackson.getOriginalMessage()
          .replaceAll("\\[Source: [^]]*?; (line: \\d+, column: \\d+)]", "$1");
      return oneLine(complaint) + where;
    }
    return oneLine(String.valueOf(e.getMessage()));
  }

  private static String oneLine(String text) {
    String line = text.replaceAll("\\s+", " ").trim();
    return line.length() <= 200 ? line : line.substring(0, 200) + "…";
  }
}
