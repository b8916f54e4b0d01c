package io.sluice.gateway.config;

import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@DisplayName("The -conf argument")
class ConfArgumentTest {

  @TempDir
  Path dir;

  private static String rejection(String argument) {
    String message = assertThrows(ConfigException.class, () -> ConfArgument.read(argument)).getMessage();
    assertFalse(message.contains("\n") || message.contains("\r"), () -> "not one line: " + message);
    return message;
  }

  @Test
  @DisplayName("is found as -conf X, --conf X or -conf=X, in any case; the last one counts")
  void found() {
    assertEquals("a.json", ConfArgument.find(new String[] {"-cluster", "-conf", "a.json"}));
    assertEquals("b.json", ConfArgument.find(new String[] {"--CONF", "b.json", "-instances", "2"}));
    assertEquals("{}", ConfArgument.find(new String[] {"-conf={}"}));
    assertEquals("d.json", ConfArgument.find(new String[] {"-conf", "c.json", "-conf", "d.json"}));
    assertNull(ConfArgument.find(new String[] {"-cluster"}));
  }

  @Test
  @DisplayName("a file holding a JSON object, or an inline object, is read")
  void valid() throws IOException {
    Path file = Files.writeString(dir.resolve("ok.json"), "{\"http\": {\"port\": 1}}");

    assertEquals(new JsonObject().put("http", new JsonObject().put("port", 1)), ConfArgument.read(file.toString()));
    assertEquals(new JsonObject().put("a", 1), ConfArgument.read(" {\"a\": 1}"));
  }

  @Test
  @DisplayName("a file that does not exist is named, with what -conf takes")
  void missingFile() {
    String path = dir.resolve("does/not/exist.json").toString();

    assertEquals(path + ": no such file (-conf takes the path of a JSON file, or a JSON object)", rejection(path));
  }

  @Test
  @DisplayName("a directory is not a file")
  void directory() {
    assertEquals(dir + ": is a directory, not a JSON file (-conf takes the path of a JSON file, or a JSON object)",
        rejection(dir.toString()));
  }

  @Test
  @DisplayName("a file that is not JSON is named with the line and column of the first error")
  void brokenFile() throws IOException {
    Path file = Files.writeString(dir.resolve("broken.json"), "{\n  \"http\": {\"port\": 8080,}\n}\n");

    String message = rejection(file.toString());

    assertTrue(message.startsWith(file + ": is not valid JSON: "), message);
    assertTrue(message.endsWith(" at line 2, column 25"), message);
  }

  @Test
  @DisplayName("an empty file, an array or a lone value is not a configuration")
  void notAnObject() throws IOException {
    Path empty = Files.writeString(dir.resolve("empty.json"), "  \n");
    Path array = Files.writeString(dir.resolve("array.json"), "[{\"http\": {}}]");
    Path number = Files.writeString(dir.resolve("number.json"), "8080");

    assertEquals(empty + ": is empty; expected a JSON object", rejection(empty.toString()));
    assertEquals(array + ": must hold a JSON object, got an array", rejection(array.toString()));
    assertEquals(number + ": must hold a JSON object, got a single value 8080", rejection(number.toString()));
  }

  @Test
  @DisplayName("an inline object that is not JSON is blamed on -conf JSON")
  void brokenInline() {
    String message = rejection("{\"http\": {\"port\": 80");

    assertTrue(message.startsWith("-conf JSON: is not valid JSON: "), message);
    assertTrue(message.endsWith(" at line 1, column 21"), message);
    assertFalse(message.contains("Source:"), message);
  }
}
