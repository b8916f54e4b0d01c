#!/usr/bin/env python3
"""bench/soak_report.py OUT GLOBAL_LIMIT TOKEN_LIMIT: the figures and picture of a bench/soak.sh run.

Reads OUT/requests.csv (LoadClient, one row per request), OUT/load.json, OUT/events.txt and OUT/rss.csv; prints per
10 s what the API received against the limits, the errors and the gateways' RSS, then the verdicts, and writes
OUT/soak.svg. Windows: global 1 s, per token 2 s (as soak.sh configures them), checked over every instant
(two pointers over the sorted arrival times at the API, X-Upstream-Received-At).
"""
import csv
import json
import sys
from collections import defaultdict

GLOBAL_WINDOW_US = 1_000_000
TOKEN_WINDOW_US = 2_000_000
TIMEOUT_US = 5_000_000  # LoadClient --timeout in soak.sh


def max_in_window(times, window):
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main():
    out, global_limit, token_limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    t0_us = json.load(open(f"{out}/load.json"))["epochMicrosAtMeasureStart"]
    events = []
    port_of = {}
    for line in open(f"{out}/events.txt"):
        epoch_ms, text = line.rstrip("\n").split(" ", 1)
        rel_us = int(epoch_ms) * 1000 - t0_us
        events.append((rel_us, text))
        if text.startswith("ready: "):
            ports = [p.lstrip(":").rstrip(",") for p in text.split("gateways ")[1].split(", cluster")[0].split()]
            port_of = {port: str(i + 1) for i, port in enumerate(ports)}
    # when each gateway, and the API, could not have served: from its kill (less a timeout: requests in flight)
    # to its readiness again
    down = defaultdict(list)
    pending = {}
    for rel, text in events:
        words = text.split()
        if text.startswith("kill -9 gateway"):
            pending[words[3]] = rel
        elif text.startswith("gateway") and "ready again" in text:
            down[words[1]].append((pending.pop(words[1]) - TIMEOUT_US, rel))
        elif text.startswith("API stopped"):
            pending["api"] = rel
        elif text.startswith("API started again"):
            down["api"].append((pending.pop("api") - TIMEOUT_US, rel + 1_000_000))
    for key, start in pending.items():
        down[key].append((start - TIMEOUT_US, 10**15))

    def excused(gateway, sent_us):
        return any(a <= sent_us <= b for a, b in down[gateway] + down["api"])

    global_times, token_times = [], defaultdict(list)
    per10 = defaultdict(lambda: defaultdict(int))
    errors_excused, errors_unexcused, unexcused_examples = 0, 0, []
    for row in csv.DictReader(open(f"{out}/requests.csv")):
        if row["measured"] not in ("true", "1"):
            continue
        sent = int(row["sendMicros"])
        bucket = max(0, sent // 10_000_000)
        status = row["status"]
        if status.isdigit() and 200 <= int(status) < 300:
            at = int(row["forwardedAtMicros"])
            if row["stream"] == "global":
                global_times.append(at)
                per10[bucket]["global"] += 1
            else:
                token_times[row["stream"]].append(at)
                per10[bucket]["tokens"] += 1
        elif status == "429":
            per10[bucket]["429"] += 1
        else:
            gateway = port_of.get(row["target"].rsplit(":", 1)[-1].rstrip("/"), "?")
            if excused(gateway, sent):
                errors_excused += 1
                per10[bucket]["excused"] += 1
            else:
                errors_unexcused += 1
                per10[bucket]["errors"] += 1
                if len(unexcused_examples) < 5:
                    unexcused_examples.append(f"{row['stream']} to gateway {gateway} at {sent / 1e6:.2f} s: {status}")

    rss = defaultdict(list)
    for row in csv.DictReader(open(f"{out}/rss.csv")):
        rss[row["gateway"]].append((int(row["epoch_ms"]) * 1000 - t0_us, int(row["rss_kib"]) // 1024))

    tokens = len(token_times) or 1
    print(f"{'from s':>7} {'global/s':>9} {'tokens/s':>9} {'429/s':>7} {'errors':>7} {'excused':>8}   RSS MB g1 g2 g3")
    for b in sorted(per10):
        c = per10[b]
        marks = [f"{max((m for t, m in rss[g] if b * 1e7 <= t < (b + 1) * 1e7), default=0):>4}" for g in "123"]
        print(f"{b * 10:>7} {c['global'] / 10:>9.1f} {c['tokens'] / 10:>9.1f} {c['429'] / 10:>7.1f} "
              f"{c['errors']:>7} {c['excused']:>8}   {' '.join(marks)}")
    for rel, text in events:
        print(f"event at {rel / 1e6:8.2f} s: {text}")

    worst_global = max_in_window(global_times, GLOBAL_WINDOW_US)
    worst_token = max((max_in_window(t, TOKEN_WINDOW_US) for t in token_times.values()), default=0)
    over_tokens = sum(1 for t in token_times.values() if max_in_window(t, TOKEN_WINDOW_US) > token_limit)
    duration_s = max((b + 1) * 10 for b in per10) if per10 else 1
    print(f"global: {len(global_times)} forwarded, {len(global_times) / duration_s:.2f}/s against {global_limit}/s; "
          f"max in any 1 s window {worst_global}")
    print(f"tokens: {sum(len(t) for t in token_times.values())} forwarded over {len(token_times)} tokens; "
          f"max in any 2 s window {worst_token} (limit {token_limit}); tokens over the limit: {over_tokens}")
    print(f"errors: {errors_unexcused} not explained by a kill or the API restart, {errors_excused} explained")
    for example in unexcused_examples:
        print(f"  e.g. {example}")
    growth = []
    for g in "123":
        points = [m for t, m in rss[g]]
        if len(points) >= 24:
            first, last = sorted(points[12:24])[6], max(points[-12:])  # a minute after the start vs the last minute
            growth.append((g, first, last))
            print(f"gateway {g}: RSS {first} MB a minute in, {last} MB at most in the last minute")
    rc = 0
    for ok, text in [(worst_global <= global_limit, f"global limit held in every 1 s window ({worst_global} <= {global_limit})"),
                     (over_tokens == 0, f"per-token limit held in every 2 s window for every token ({worst_token} <= {token_limit})"),
                     (errors_unexcused == 0, f"no error besides requests to a killed gateway or a stopped API ({errors_unexcused})"),
                     (all(last <= first * 1.25 + 32 for g, first, last in growth), "RSS flat after warm-up (within 25% + 32 MB)")]:
        print(("PASS  " if ok else "FAIL  ") + text)
        rc |= 0 if ok else 1
    draw(out, per10, events, rss, global_limit, token_limit * len(token_times) / 2)
    return rc


def draw(out, per10, events, rss, global_limit, token_target):
    w, h, pad = 960, 420, 50
    buckets = sorted(per10)
    if not buckets:
        return
    span = (buckets[-1] + 1) * 10

    def x(seconds):
        return pad + (w - 2 * pad) * seconds / span

    top = max([global_limit * 2, token_target * 1.2] + [per10[b]["tokens"] / 10 for b in buckets])

    def y(value):
        return h - pad - (h - 2 * pad) * value / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{pad}" y="20" font-size="13">soak: forwarded per second at the API (10 s means), kills and restarts</text>']
    for value, color, label in [(global_limit, "#1f77b4", "global limit"), (token_target, "#2ca02c", "token limits, sum")]:
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="{color}" '
                     f'stroke-dasharray="4 3"/><text x="{w - pad - 100}" y="{y(value) - 4:.1f}" fill="{color}">{label}</text>')
    for key, color in [("global", "#1f77b4"), ("tokens", "#2ca02c"), ("errors", "#d62728")]:
        points = " ".join(f"{x(b * 10 + 5):.1f},{y(per10[b][key] / 10):.1f}" for b in buckets)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>')
    for rel, text in events:
        if "kill" in text or "API" in text:
            parts.append(f'<line x1="{x(rel / 1e6):.1f}" x2="{x(rel / 1e6):.1f}" y1="{pad}" y2="{h - pad}" stroke="#999"/>'
                         f'<text x="{x(rel / 1e6) + 2:.1f}" y="{pad + 10}" fill="#666">{text.split("(")[0][:18]}</text>')
    parts.append(f'<text x="{pad}" y="{h - 15}">0 s</text><text x="{w - pad - 30}" y="{h - 15}">{span} s</text>')
    parts.append("</svg>")
    open(f"{out}/soak.svg", "w").write("\n".join(parts))


if __name__ == "__main__":
    sys.exit(main())
