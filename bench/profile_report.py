#!/usr/bin/env python3
"""Summarise `jfr print --events jdk.ExecutionSample` output: the event-loop threads' CPU samples.

usage: python3 bench/profile_report.py SAMPLES.txt [TOP]

Prints (1) self time by area (the package group of the frame that was running), (2) inclusive time of a few
markers (samples with such a frame anywhere on the stack), (3) the TOP self frames.
"""
import collections
import re
import sys

# first match wins; the area of a frame by its class name
AREAS = [
    ("Sluice limiter (limit/)", r"^io\.sluice\.gateway\.limit\."),
    ("Sluice proxy code (proxy/)", r"^io\.sluice\.gateway\.proxy\."),
    ("Sluice other", r"^io\.sluice\."),
    ("vertx-http-proxy", r"^io\.vertx\.httpproxy\."),
    ("Vert.x HTTP", r"^io\.vertx\.core\.http\."),
    ("Vert.x core (futures, contexts, streams)", r"^io\.vertx\."),
    ("Netty HTTP codec", r"^io\.netty\.handler\.codec\."),
    ("Netty buffers", r"^io\.netty\.buffer\."),
    ("Netty channel / event loop", r"^io\.netty\."),
    ("socket I/O (JDK, kernel)", r"^(sun\.nio\.|java\.nio\.|io\.netty\.channel\.epoll\.Native|jdk\.internal\.misc\.)"),
    ("JDK collections, strings", r"^java\.(util|lang)\."),
    ("JDK other", r"^(java|javax|jdk|sun)\."),
]
MARKERS = [
    ("the limiter's decision (RateLimiter, stores)", r"io\.sluice\.gateway\.limit\."),
    ("LimitGate", r"io\.sluice\.gateway\.proxy\.LimitGate\."),
    ("RequestCheck", r"io\.sluice\.gateway\.proxy\.RequestCheck\."),
    ("StrictRequestDecoder (strict decoding)", r"StrictRequestDecoder\."),
    ("GatewayInterceptor", r"GatewayInterceptor\."),
    ("vertx-http-proxy", r"io\.vertx\.httpproxy\."),
    ("Vert.x header validation (HttpUtils.validate*)", r"io\.vertx\.core\.http\.impl\.HttpUtils\.validate"),
    ("client connection pool", r"io\.vertx\.core\.(net\.impl\.pool|internal\.pool|http\.impl\..*Pool|http\.impl\.SharedHttpClientConnectionGroup)"),
    ("context creation, JSON copies", r"(ContextImpl\.<init>|JsonObject\.copy|DeploymentOptions\.<init>|createContext)"),
    ("socket writes (flush)", r"(writev|write0|doWrite|flush0)"),
    ("socket reads", r"(readAddress|read0|doReadBytes)"),
]


def samples(path):
    thread, stack, inside = None, [], False
    with open(path, errors="replace") as f:
        for line in f:
            s = line.strip()
            if s.startswith("jdk.ExecutionSample"):
                thread, stack, inside = None, [], False
            elif s.startswith("sampledThread"):
                m = re.search(r'"([^"]*)"', s)
                thread = m.group(1) if m else "?"
            elif s.startswith("stackTrace = ["):
                inside = True
            elif inside and s == "]":
                inside = False
            elif inside and s and s != "...":
                stack.append(s.split("  line:")[0].strip())
            elif s == "}" and thread is not None:
                yield thread, stack
                thread, stack = None, []


def area_of(frame):
    for name, pattern in AREAS:
        if re.search(pattern, frame):
            return name
    return "other"


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    total = 0
    per_area = collections.Counter()
    per_frame = collections.Counter()
    marked = collections.Counter()
    threads = collections.Counter()
    for thread, stack in samples(path):
        threads[thread] += 1
        if "eventloop" not in thread or not stack:
            continue
        total += 1
        per_area[area_of(stack[0])] += 1
        per_frame[stack[0]] += 1
        text = "\n".join(stack)
        for name, pattern in MARKERS:
            if re.search(pattern, text):
                marked[name] += 1
    print(f"event-loop samples: {total} (all threads: {sum(threads.values())}; "
          + ", ".join(f"{t} {n}" for t, n in threads.most_common(4)) + ")")
    if not total:
        return
    print("\nself time by area (the frame that was running):")
    for name, n in per_area.most_common():
        print(f"  {n / total * 100:5.1f}%  {name}")
    print("\ninclusive (a frame of it anywhere on the stack):")
    for name, _ in MARKERS:
        print(f"  {marked[name] / total * 100:5.1f}%  {name}")
    print(f"\ntop {top} self frames:")
    for frame, n in per_frame.most_common(top):
        print(f"  {n / total * 100:5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()
