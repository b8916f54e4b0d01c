package io.sluice.gateway.proxy.conformance;

import io.sluice.gateway.proxy.conformance.ConformanceCase.Action;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Await;
import io.sluice.gateway.proxy.conformance.ConformanceCase.ClientStep;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Expectations;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Pause;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Reply;
import io.sluice.gateway.proxy.conformance.ConformanceCase.Send;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/** Reads the case table: every {@code *.txt} under a directory, in file-name order. Format: see the README. */
final class CaseParser {

  private static final long DEFAULT_AWAIT_MILLIS = 2_000;
  private static final long MAX_PAUSE_MILLIS = 3_000;

  private CaseParser() {
  }

  /** The cases of the table on the test class path under {@code resource} (a directory). */
  static List<ConformanceCase> fromClassPath(String resource) {
    URL url = CaseParser.class.getClassLoader().getResource(resource);
    if (url == null) {
      throw new IllegalStateException("no case table at " + resource + " on the class path");
    }
    try {
      return fromDirectory(Path.of(url.toURI()));
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  static List<ConformanceCase> fromDirectory(Path directory) {
    List<ConformanceCase> cases = new ArrayList<>();
    try (Stream<Path> files = Files.list(directory)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".txt")).sorted().toList()) {
        cases.addAll(parse(file.getFileName().toString(), Files.readString(file, StandardCharsets.UTF_8)));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Set<String> names = new HashSet<>();
    for (ConformanceCase c : cases) {
      if (!names.add(c.name())) {
        throw new IllegalArgumentException("case name used twice: " + c.name());
      }
    }
    return cases;
  }

  static List<ConformanceCase> parse(String fileName, String text) {
    List<ConformanceCase> cases = new ArrayList<>();
    Builder current = null;
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length; i++) {
      String line = lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
      String where = fileName + ":" + (i + 1);
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      if (line.startsWith("=== ")) {
        if (current != null) {
          cases.add(current.build());
        }
        current = new Builder(line.substring(4).trim(), where);
        continue;
      }
      if (current == null) {
        throw new IllegalArgumentException(where + ": a line before the first '=== name'");
      }
      int colon = line.indexOf(':');
      if (colon < 0) {
        throw new IllegalArgumentException(where + ": expected 'key: value', got: " + line);
      }
      String key = line.substring(0, colon).trim();
      String value = line.substring(colon + 1);
      if (value.startsWith(" ")) {
        value = value.substring(1);
      }
      try {
        current.add(key, value);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
      }
    }
    if (current != null) {
      cases.add(current.build());
    }
    return cases;
  }

  private static final class Builder {
    private final String name;
    private final String source;
    private String why;
    private final List<ClientStep> steps = new ArrayList<>();
    private final List<Reply> replies = new ArrayList<>();
    private boolean listens = true;
    private List<List<List<Integer>>> statuses;
    private String closed;
    private boolean problem;
    private final Map<Integer, List<String>> headers = new TreeMap<>();
    private final Map<Integer, List<String>> noHeaders = new TreeMap<>();
    private final Map<Integer, String> bodies = new TreeMap<>();
    private final Map<Integer, String> bodyContains = new TreeMap<>();
    private final Map<Integer, List<String>> trailers = new TreeMap<>();
    private final List<Integer> incomplete = new ArrayList<>();
    private String tunnel;
    private String upstream;
    private final StringBuilder upstreamBytes = new StringBuilder();
    private int upstreamConnections = -1;
    private String upstreamClosed = "any";

    Builder(String name, String source) {
      if (!name.matches("[a-z0-9][a-z0-9.-]*")) {
        throw new IllegalArgumentException(source + ": case names are lower-case words joined by '-': " + name);
      }
      this.name = name;
      this.source = source;
    }

    void add(String key, String value) {
      String[] keyParts = key.split(" ", 2);
      String base = keyParts[0];
      int n = keyParts.length > 1 ? Integer.parseInt(keyParts[1].trim()) : 0;
      switch (base) {
        case "why" -> why = value;
        case "send" -> steps.add(new Send(ByteNotation.decode(value)));
        case "pause" -> steps.add(new Pause(Math.min(MAX_PAUSE_MILLIS, Long.parseLong(value.trim()))));
        case "await" -> {
          String[] parts = value.trim().split("\\s+");
          long millis = parts.length > 1 ? Long.parseLong(parts[1]) : DEFAULT_AWAIT_MILLIS;
          if (!parts[0].matches("\\d{3}|interim|final|response")) {
            throw new IllegalArgumentException("await takes a status, interim, final or response: " + value);
          }
          steps.add(new Await(parts[0], Math.min(millis, 5_000)));
        }
        case "reply", "reply-on-head" -> replies.add(new Reply(base.equals("reply-on-head"),
            new ArrayList<>(List.of(action(value)))));
        case "and" -> {
          if (replies.isEmpty()) {
            throw new IllegalArgumentException("'and:' before any 'reply:'");
          }
          replies.get(replies.size() - 1).actions().add(action(value));
        }
        case "listen" -> listens = yesNo(value).equals("yes");
        case "status" -> statuses = statuses(value);
        case "closed" -> closed = yesNoAny(value);
        case "problem" -> problem = yesNo(value).equals("yes");
        case "header" -> headers.computeIfAbsent(position(n), k -> new ArrayList<>()).add(field(value));
        case "no-header" -> noHeaders.computeIfAbsent(position(n), k -> new ArrayList<>()).add(value.trim());
        case "body" -> bodies.put(position(n), ByteNotation.decode(value));
        case "body-contains" -> bodyContains.put(position(n), value);
        case "trailer" -> trailers.computeIfAbsent(position(n), k -> new ArrayList<>()).add(field(value));
        case "complete" -> {
          if (yesNo(value).equals("no")) {
            incomplete.add(position(n));
          }
        }
        case "tunnel" -> tunnel = ByteNotation.decode(value);
        case "upstream" -> {
          String v = value.trim();
          if (v.equals("nothing") || v.equals("any") || v.equals("incomplete")) {
            upstream = v;
          } else {
            upstream = "exact";
            upstreamBytes.append(ByteNotation.decode(value));
          }
        }
        case "upstream-connections" -> upstreamConnections = Integer.parseInt(value.trim());
        case "upstream-closed" -> upstreamClosed = yesNoAny(value);
        default -> throw new IllegalArgumentException("unknown key '" + key + "'");
      }
    }

    private static int position(int n) {
      if (n < 1) {
        throw new IllegalArgumentException("this key needs a response number, e.g. 'header 1: ...'");
      }
      return n;
    }

    private static String field(String value) {
      if (value.indexOf(':') <= 0) {
        throw new IllegalArgumentException("expected 'Name: value', got: " + value);
      }
      return ByteNotation.decode(value);
    }

    private static Action action(String value) {
      String v = value.strip();
      int space = v.indexOf(' ');
      String verb = space < 0 ? v : v.substring(0, space);
      String rest = space < 0 ? "" : value.substring(value.indexOf(verb) + verb.length() + 1);
      return switch (verb) {
        case "send" -> new Action(verb, ByteNotation.decode(rest), 0);
        case "pause" -> new Action(verb, null, Math.min(MAX_PAUSE_MILLIS, Long.parseLong(rest.trim())));
        case "close", "reset", "hang", "echo" -> new Action(verb, null, 0);
        default -> throw new IllegalArgumentException("unknown upstream action '" + verb + "'");
      };
    }

    private static List<List<List<Integer>>> statuses(String value) {
      List<List<List<Integer>>> alternatives = new ArrayList<>();
      for (String alternative : value.trim().split("\\s+or\\s+")) {
        List<List<Integer>> positions = new ArrayList<>();
        if (!alternative.equals("none")) {
          for (String position : alternative.split("\\s+")) {
            List<Integer> codes = new ArrayList<>();
            for (String code : position.split("\\|")) {
              codes.add(Integer.parseInt(code));
            }
            positions.add(codes);
          }
        }
        alternatives.add(positions);
      }
      return alternatives;
    }

    private static String yesNo(String value) {
      String v = value.trim();
      if (!v.equals("yes") && !v.equals("no")) {
        throw new IllegalArgumentException("expected yes or no, got: " + value);
      }
      return v;
    }

    private static String yesNoAny(String value) {
      String v = value.trim();
      if (!v.equals("yes") && !v.equals("no") && !v.equals("any")) {
        throw new IllegalArgumentException("expected yes, no or any, got: " + value);
      }
      return v;
    }

    ConformanceCase build() {
      List<String> missing = new ArrayList<>();
      if (why == null) {
        missing.add("why");
      }
      if (steps.stream().noneMatch(s -> s instanceof Send)) {
        missing.add("send");
      }
      if (statuses == null) {
        missing.add("status");
      }
      if (closed == null) {
        missing.add("closed");
      }
      if (upstream == null) {
        missing.add("upstream");
      }
      if (!missing.isEmpty()) {
        throw new IllegalArgumentException(source + ": case '" + name + "' lacks " + missing);
      }
      Expectations expect = new Expectations(statuses, closed, problem, new LinkedHashMap<>(headers),
          new LinkedHashMap<>(noHeaders), bodies, bodyContains, trailers, incomplete, tunnel, upstream,
          upstreamBytes.toString(), upstreamConnections, upstreamClosed);
      return new ConformanceCase(name, why, source, List.copyOf(steps), List.copyOf(replies), listens, expect);
    }
  }
}
