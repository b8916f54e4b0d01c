#!/usr/bin/env python3
"""Turn the raw outputs of bench/run.sh into bench/RESULTS.md and bench/accuracy.svg (stdlib only).

usage: python3 bench/report.py OUT_DIR RESULTS.md accuracy.svg

OUT_DIR holds meta.env (key=value lines), runs.tsv (one line per measurement: phase, system, config, rep,
output files, /stats snapshots before and after, the command) and the files those lines name.
"""
import collections
import csv
import html
import json
import os
import re
import statistics
import sys

LIMITS = {"global": 10, "token": 5}
STREAM_LABEL = {"global": "global 10/1s", "token": "per-token 5/1s"}
SYS_LABEL = {
    "direct": "API direct",
    "haproxy": "HAProxy (high.cfg)",
    "haproxy-limited": "HAProxy (limited.cfg)",
    "sluice-1": "Sluice vertx engine, 1 gateway (in-memory)",
    "sluice-2": "Sluice vertx engine, 2 gateways (cluster)",
    "sluice-3": "Sluice vertx engine, 3 gateways (cluster)",
    "netty-1": "Sluice netty engine, 1 gateway (in-memory)",
    "netty-2": "Sluice netty engine, 2 gateways (cluster)",
    "netty-3": "Sluice netty engine, 3 gateways (cluster)",
    "haproxy-1": "HAProxy, 1 instance",
    "haproxy-2": "HAProxy, 2 instances",
}
ACC_SYSTEMS = ["sluice-1", "sluice-2", "sluice-3", "netty-1", "netty-2", "netty-3", "haproxy-1", "haproxy-2"]
# the gateways of the throughput and reject phases: each engine alone (in-memory) and as a 2-gateway cluster
GATEWAYS = ("sluice-1", "sluice-2", "netty-1", "netty-2")


def in_memory(system):
    return system.endswith("-1") and not system.startswith("haproxy")
ACC_MULTS = ["x0.8", "x1.2", "x2", "x20"]


# ------------------------------------------------------------------------------------------------ input

def read_meta(out):
    meta = {}
    path = os.path.join(out, "meta.env")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v
    return meta


def read_runs(out):
    runs = []
    path = os.path.join(out, "runs.tsv")
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 8:
                continue
            phase, system, config, rep, outputs, before, after, command = parts[:8]
            def num(i):
                try:
                    return float(parts[i]) if len(parts) > i else None
                except ValueError:
                    return None
            foreign, steal = num(8), num(9)
            runs.append(dict(phase=phase, system=system, config=config, rep=int(rep),
                             outputs=[o for o in outputs.split(",") if o], before=before, after=after,
                             command=command, foreign=foreign, steal=steal,
                             usage=parse_usage(parts[10] if len(parts) > 10 else "")))
    return runs


USAGE_HEADER = "CPUs used: system · API · wrk · idle; system's run-queue wait ms/s (median)"
CPU_REQ_HEADER = "system CPU per request (median)"
USAGE_TEXT = ("`system CPU per request` = CPU time (user + kernel) of the system under test's processes over the run "
              "÷ requests answered: what one request costs the proxy itself, whatever share of the machine it got. "
              "`CPUs used` (from `/proc`, over each run): CPUs' worth of time used by the system under test "
              "(the proxy processes, or the API for direct), by the API, by the wrk processes, and left idle; then "
              "how long per second the system's threads were runnable but waiting for a CPU "
              "(`/proc/PID/task/*/schedstat`).")


def parse_usage(text):
    """'system=0.85 api=0.28 load=0.83 idle=0.02 wait=52' (see usage_split in run.sh) -> dict of floats, or None."""
    pairs = dict(kv.split("=", 1) for kv in text.split() if "=" in kv)
    try:
        return {k: float(v) for k, v in pairs.items()} or None
    except ValueError:
        return None


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    return float(m.group(1)) * UNIT_MS[m.group(2)] if m else None


def parse_wrk(path):
    """Requests/sec, request count, duration, p50/p99 (ms), non-2xx, socket errors of one wrk output."""
    r = dict(rps=None, requests=0, seconds=None, p50=None, p99=None, non2xx=0, errors=0, histogram=None)
    try:
        text = open(path).read()
    except OSError:
        return r
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", text)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = to_ms(m.group(2) + m.group(3)) / 1000.0
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+" + pct + r"(?:\.000)?%\s+(\S+)", text, re.M)
        if m:
            r[key] = to_ms(m.group(1))
    m = re.search(r"^latency-histogram:(.*)$", text, re.M)
    if m:
        r["histogram"] = [tuple(int(x) for x in pair.split(":")) for pair in m.group(1).split()]
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
    return r


def percentile(histogram, pct):
    """wrk's percentile of a latency histogram [(micros, count)] sorted by micros: the first value whose cumulative
    count reaches pct% of the total. In ms."""
    total = sum(c for _, c in histogram)
    want, seen = pct / 100.0 * total, 0
    for micros, count in histogram:
        seen += count
        if seen >= want:
            return micros / 1000.0
    return None


def combine_wrk(parts):
    """Parallel wrk processes against several gateways: sum the rates. Latency percentiles come from the merged
    histograms (every request of the system counts once); p99_worst keeps the worse of the processes' own p99."""
    ok = [p for p in parts if p["rps"] is not None]
    if not ok:
        return None
    c = dict(rps=sum(p["rps"] for p in ok), requests=sum(p["requests"] for p in ok),
             seconds=max(p["seconds"] or 0 for p in ok),
             p50=max(p["p50"] for p in ok if p["p50"] is not None),
             p99=max(p["p99"] for p in ok if p["p99"] is not None),
             non2xx=sum(p["non2xx"] for p in ok), errors=sum(p["errors"] for p in ok), n=len(ok))
    c["p99_worst"] = c["p99"]
    if len(ok) > 1 and all(p["histogram"] for p in ok):
        merged = collections.Counter()
        for p in ok:
            for micros, count in p["histogram"]:
                merged[micros] += count
        hist = sorted(merged.items())
        c["p50"], c["p99"] = percentile(hist, 50), percentile(hist, 99)
        c["merged"] = True
    return c


def stats_delta(before, after):
    """Sum over the gateways of (after - before) for every counter in GET /stats."""
    if not before or not after or not os.path.exists(before) or not os.path.exists(after):
        return None

    def load(path):
        rows = []
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        rows.append({})
        return rows

    b, a = load(before), load(after)
    total = {}
    for x, y in zip(b, a):
        for k, v in y.items():
            if isinstance(v, (int, float)) and isinstance(x.get(k), (int, float)):
                total[k] = total.get(k, 0) + v - x[k]
    return total


def parse_summary(path):
    """LoadClient's 'summary: stream=NAME k=v ...' lines -> {stream: {k: v}}."""
    res = {}
    try:
        text = open(path).read()
    except OSError:
        return res
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("summary: stream="):
            continue
        kv = {}
        for tok in line[len("summary: "):].split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                kv[k] = v
        res[kv.get("stream")] = kv
    return res


def read_forward_times(path):
    """Per stream, the sorted forwarded times (seconds since the start of the measured duration)."""
    times = {}
    try:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("measured") not in ("true", "1", "True"):
                    continue
                if row.get("forwardedAtMicros"):
                    times.setdefault(row["stream"], []).append(int(row["forwardedAtMicros"]) / 1e6)
    except OSError:
        pass
    for v in times.values():
        v.sort()
    return times


def trailing_counts(times, t_end, step=0.02, window=1.0):
    """Forwarded requests in the trailing window (t - window, t] sampled every `step` seconds."""
    pts, lo, hi, t, n = [], 0, 0, 0.0, len(times)
    while t <= t_end + 1e-9:
        while hi < n and times[hi] <= t:
            hi += 1
        while lo < hi and times[lo] <= t - window:
            lo += 1
        pts.append((t, hi - lo))
        t += step
    return pts


# ------------------------------------------------------------------------------------------------ helpers

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fnum(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def fms(v):
    if v is None:
        return "n/a"
    return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms" if v < 1000 else f"{v / 1000:.2f} s"


def ratio(a, b):
    return None if a is None or not b else a / b


def fratio(v):
    return "n/a" if v is None else f"{v:.2f}×"


def fpct(v):
    return "n/a" if v is None else f"{max(v, 0):.0f}%"


def fcpu(runs):
    """'others' CPU / steal' of a list of runs: the worst of each."""
    return f"{fpct(max_or_none([r.get('foreign') for r in runs]))} / {fpct(max_or_none([r.get('steal') for r in runs]))}"


def fusage(runs):
    """Median CPUs used during the runs by the system itself, the API, the wrk processes, and left idle; then the
    system's threads' run-queue wait (ms per s: runnable, waiting for a CPU)."""
    us = [r.get("usage") for r in runs if r.get("usage")]
    if not us:
        return "n/a"
    m = {k: med([u[k] for u in us if k in u]) for k in ("system", "api", "load", "idle", "wait")}
    if any(v is None for v in m.values()):
        return "n/a"
    return f"{m['system']:.2f} · {m['api']:.2f} · {m['load']:.2f} · {m['idle']:.2f}; {m['wait']:.0f}"


def cpu_per_request(run):
    """CPU time the system under test used per answered request, in µs: its CPUs times the marks' span (or wrk's
    duration for outputs without it), over wrk's request count."""
    u = run.get("usage")
    if not u or "system" not in u or not run.get("requests"):
        return None
    secs = u.get("secs") or run.get("seconds")
    return u["system"] * secs * 1e6 / run["requests"] if secs else None


def fcpu_req(runs):
    """Median CPU µs per request of the runs (see cpu_per_request)."""
    v = med([x for x in (cpu_per_request(r) for r in runs) if x is not None])
    return "n/a" if v is None else f"{v:.1f} µs"


def max_or_none(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ analysis

def wrk_phase(runs, phase, slot_of):
    """Combined wrk results and /stats deltas of one phase, grouped by slot_of(run) -> nested dict path."""
    res = {}
    for r in runs:
        if r["phase"] != phase:
            continue
        c = combine_wrk([parse_wrk(p) for p in r["outputs"]])
        if c is None:
            continue
        keys = slot_of(r)
        node = res
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        slot = node.setdefault(keys[-1], {"runs": [], "stats": []})
        c["foreign"], c["steal"], c["usage"] = r["foreign"], r["steal"], r["usage"]
        slot["runs"].append(c)
        d = stats_delta(r["before"], r["after"])
        if d is not None:
            slot["stats"].append(d)
    return res


def throughput(runs):
    """{config: {system: {'runs': [combined wrk], 'stats': [delta]}}}"""
    return wrk_phase(runs, "tput", lambda r: (r["config"], r["system"]))


def reject(runs):
    """{system: {'runs': [combined wrk], 'stats': [delta]}}"""
    return wrk_phase(runs, "reject", lambda r: (r["system"],))


def accuracy(runs, acc_seconds):
    """{(system, mult): {'summary': {...}, 'times': {...}, 'stats': delta, 'command': str}}"""
    res = {}
    for r in runs:
        if r["phase"] != "accuracy":
            continue
        txt = next((p for p in r["outputs"] if p.endswith(".txt")), None)
        csvp = next((p for p in r["outputs"] if p.endswith(".csv")), None)
        times = read_forward_times(csvp) if csvp else {}
        inrun = {st: sum(1 for t in v if 0 <= t < acc_seconds) / acc_seconds for st, v in times.items()}
        res[(r["system"], r["config"])] = dict(
            summary=parse_summary(txt) if txt else {}, times=times, inrun=inrun,
            stats=stats_delta(r["before"], r["after"]), command=r["command"], foreign=r["foreign"])
    return res


def ideal_forwarded(rate, seconds, limit, window):
    """What an exact sliding-window limiter that rejects (no delay) forwards from evenly spaced arrivals."""
    taken = []
    for i in range(int(round(rate * seconds))):
        t = i / rate
        recent = [x for x in taken[-limit:] if x > t - window + 1e-9]
        if len(recent) < limit:
            taken.append(t)
    return len(taken)


def verdict(stream, mult, run):
    """PASS/FAIL of one stream of one accuracy run against Sluice's targets. The mean is the forwarded rate
    during the run (arrivals at the API within the measured duration), so that requests delayed past the end
    do not count."""
    limit = LIMITS[stream]
    s = run["summary"].get(stream, {})
    try:
        sent, fwd = int(s["sent"]), int(s["fwd"])
        mw = int(s["maxWindow"])
        mean = run["inrun"].get(stream, 0.0)
    except (KeyError, ValueError):
        return "ERROR", "no result"
    why = []
    if mw > limit:
        why.append(f"max window {mw} > {limit}")
    if mult == "x0.8":
        if fwd < sent:
            why.append(f"{sent - fwd} of {sent} not forwarded")
    elif mean < 0.97 * limit:
        why.append(f"mean {mean:.2f}/s < {0.97 * limit:.2f}/s")
    return ("FAIL" if why else "PASS"), "; ".join(why)


# ------------------------------------------------------------------------------------------------ SVG

COLORS = {"global": "#1f63b5", "token": "#e07b00"}


def write_svg(path, acc, acc_seconds):
    cols = [s for s in ACC_SYSTEMS if any((s, m) in acc for m in ACC_MULTS)]
    rows = [m for m in ACC_MULTS if any((s, m) in acc for s in cols)]
    pw, ph = 250, 150           # panel
    ml, mt, gap_x, gap_y = 92, 92, 22, 34
    x_end = acc_seconds + 2.0
    series = {}
    ymax = 12
    for key, run in acc.items():
        for stream in ("global", "token"):
            pts = trailing_counts(run["times"].get(stream, []), x_end)
            series[(key, stream)] = pts
            if pts:
                ymax = max(ymax, max(c for _, c in pts) + 1)
    ymax = int((ymax + 4) // 5 * 5)
    width = ml + len(cols) * (pw + gap_x) + 10
    height = mt + len(rows) * (ph + gap_y) + 40
    o = []
    a = o.append
    a(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
      f'font-family="Helvetica, Arial, sans-serif" font-size="11">')
    a(f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>')
    a(f'<text x="{ml}" y="22" font-size="16" font-weight="bold">Forwarded requests per second against time '
      f'(count in the trailing 1 s window, sampled every 20 ms; times stamped by the API)</text>')
    a(f'<text x="{ml}" y="42" font-size="12">Open-loop load (bench/LoadClient.java) for {acc_seconds:g} s at 0.8×, '
      f'1.2×, 2× and 20× the limit; both streams at once. Dashed lines: the limits. '
      f'Later than {acc_seconds:g} s: delayed requests still leaving.</text>')
    lx = ml
    for stream in ("global", "token"):
        a(f'<line x1="{lx}" y1="60" x2="{lx + 26}" y2="60" stroke="{COLORS[stream]}" stroke-width="2.2"/>')
        a(f'<text x="{lx + 32}" y="64" font-size="12">{html.escape(STREAM_LABEL[stream])} '
          f'({"reject" if stream == "global" else "Sluice: delay ≤ 2 s; HAProxy: tarpit 2 s then 429"})</text>')
        lx += 190
    for ci, sysname in enumerate(cols):
        x0 = ml + ci * (pw + gap_x)
        a(f'<text x="{x0 + pw / 2}" y="{mt - 12}" text-anchor="middle" font-size="13" font-weight="bold">'
          f'{html.escape(SYS_LABEL.get(sysname, sysname))}</text>')
    for ri, mult in enumerate(rows):
        y0 = mt + ri * (ph + gap_y)
        mm = mult[1:]
        a(f'<text x="{ml - 52}" y="{y0 + ph / 2 - 6}" text-anchor="middle" font-size="14" font-weight="bold">'
          f'{mm}×</text>')
        a(f'<text x="{ml - 52}" y="{y0 + ph / 2 + 10}" text-anchor="middle" font-size="10">'
          f'{float(mm) * 10:g}/s + {float(mm) * 5:g}/s</text>')
        for ci, sysname in enumerate(cols):
            x0 = ml + ci * (pw + gap_x)
            a(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999" stroke-width="0.8"/>')

            def X(t):
                return x0 + t / x_end * pw

            def Y(v):
                return y0 + ph - v / ymax * ph

            for v in range(0, ymax + 1, 5):
                a(f'<line x1="{x0}" y1="{Y(v):.1f}" x2="{x0 + pw}" y2="{Y(v):.1f}" stroke="#e3e3e3" stroke-width="0.6"/>')
                if ci == 0:
                    a(f'<text x="{x0 - 4}" y="{Y(v) + 4:.1f}" text-anchor="end" font-size="10">{v}</text>')
            for t in range(0, int(x_end) + 1, 2):
                a(f'<line x1="{X(t):.1f}" y1="{y0 + ph}" x2="{X(t):.1f}" y2="{y0 + ph + 3}" stroke="#666"/>')
                a(f'<text x="{X(t):.1f}" y="{y0 + ph + 13}" text-anchor="middle" font-size="9">{t} s</text>')
            a(f'<line x1="{X(acc_seconds):.1f}" y1="{y0}" x2="{X(acc_seconds):.1f}" y2="{y0 + ph}" stroke="#bbb" '
              f'stroke-dasharray="2,3"/>')
            key = (sysname, mult)
            if key not in acc:
                a(f'<text x="{x0 + pw / 2}" y="{y0 + ph / 2}" text-anchor="middle" fill="#888">not run</text>')
                continue
            summ = acc[key]["summary"]
            for si, stream in enumerate(("global", "token")):
                lim = LIMITS[stream]
                a(f'<line x1="{x0}" y1="{Y(lim):.1f}" x2="{x0 + pw}" y2="{Y(lim):.1f}" stroke="{COLORS[stream]}" '
                  f'stroke-width="0.9" stroke-dasharray="5,4" opacity="0.8"/>')
                pts = series.get((key, stream), [])
                if pts:
                    d = " ".join(f"{X(t):.1f},{Y(c):.1f}" for t, c in pts)
                    a(f'<polyline fill="none" stroke="{COLORS[stream]}" stroke-width="1.6" points="{d}"/>')
                s = summ.get(stream, {})
                v, _ = verdict(stream, mult, acc[key])
                label = (f'max {s.get("maxWindow", "?")}, {acc[key]["inrun"].get(stream, 0):.2f}/s {v}'
                         if s else "no data")
                a(f'<text x="{x0 + pw - 4}" y="{y0 + 12 + si * 12}" text-anchor="end" font-size="10" '
                  f'fill="{COLORS[stream]}">{html.escape(label)}</text>')
    a(f'<text x="{ml}" y="{height - 12}" font-size="11" fill="#444">Label in each panel: maximum forwarded in any '
      f'sliding 1 s window, forwarded per second during the run (API arrivals in [0, {acc_seconds:g} s)), PASS/FAIL against '
      f'Sluice\'s targets (max ≤ limit; that rate ≥ 97% of the limit from 1.2×; all forwarded at 0.8×).</text>')
    a("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


# ------------------------------------------------------------------------------------------------ markdown

def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out, md_path, svg_path = sys.argv[1:]
    meta = read_meta(out)
    runs = read_runs(out)
    acc_seconds = float(meta.get("acc_s", "6"))
    tp = throughput(runs)
    rj = reject(runs)
    acc = accuracy(runs, acc_seconds)
    write_svg(svg_path, acc, acc_seconds)

    L = []
    a = L.append
    a("# Sluice vs HAProxy: benchmark results")
    a("")
    a(f"Generated by `bench/run.sh` on {meta.get('date', '?')} (UTC) in {meta.get('total_s', '?')} s"
      + (" — **PARTIAL RUN** (stopped early; some tables are incomplete)" if meta.get("partial") else "")
      + (" — quick mode (`--quick`): 1 run each, short durations" if meta.get("quick") == "true" else "") + ".")
    a("Raw outputs (wrk texts, LoadClient reports/CSVs, `/stats` snapshots, logs): `bench/out/` (not committed).")
    a("")
    a("## Machine")
    a("")
    a(table(["item", "value"], [
        ["CPUs (`nproc`)", meta.get("nproc", "?")],
        ["CPU model", meta.get("cpu", "?")],
        ["memory", meta.get("mem", "?")],
        ["kernel", meta.get("kernel", "?")],
        ["java -version", meta.get("java", "?").replace(";", "<br>")],
        ["haproxy -v", meta.get("haproxy", "?")],
        ["wrk", meta.get("wrk", "?")],
        ["Sluice commit", meta.get("git", "?")],
        ["jars (sha256 prefix, build time)", f"api {meta.get('api_jar', '?')}<br>gateway {meta.get('gw_jar', '?')}"],
        ["machine busy before start", f"{meta.get('busy_before', '?')}% CPU (1 s sample); load average "
                                      f"{meta.get('loadavg_before', '?')}; processes using ≥ 5% of a CPU then: "
                                      f"{meta.get('other_procs', '').strip() or 'none'}"],
    ]))
    a("")
    a("Every process (load generators, proxies, gateways, the API) runs on this one machine and shares its "
      f"{meta.get('nproc', '?')} CPUs, over loopback. Absolute figures are therefore low and noisy; the ratios "
      "between systems measured in the same interleaved rounds are the useful part.")
    a("")

    # ------------------------------------------------------------------ headline
    a("## Headline")
    a("")
    head = []
    for cfg in ("t2c64", "t1c16"):
        sysd = tp.get(cfg, {})

        def mrps(s):
            return med([r["rps"] for r in sysd.get(s, {}).get("runs", [])])

        def mp99(s):
            return med([r["p99"] for r in sysd.get(s, {}).get("runs", [])])

        d, h = mrps("direct"), mrps("haproxy")
        wl = "wrk -t2 -c64" if cfg == "t2c64" else "wrk -t1 -c16"
        for s in GATEWAYS:
            v = mrps(s)
            if v is None:
                continue
            head.append([f"throughput, limits not hit ({wl}), {SYS_LABEL[s]}",
                         f"{fnum(v)} req/s = {fratio(ratio(v, d))} direct, {fratio(ratio(v, h))} HAProxy "
                         f"(direct {fnum(d)}, HAProxy {fnum(h)})"])
        for s in GATEWAYS:
            v = mp99(s)
            if v is None:
                continue
            head.append([f"p99 latency ({wl}), {SYS_LABEL[s]}",
                         f"{fms(v)} (direct {fms(mp99('direct'))}, HAProxy {fms(mp99('haproxy'))})"])
        if sysd:
            head.append([f"CPU per request of the proxy itself ({wl})",
                         ", ".join(f"{SYS_LABEL[s]} {fcpu_req(sysd[s]['runs'])}"
                                   for s in ("haproxy",) + GATEWAYS if s in sysd)])
    for s in ("haproxy-limited",) + GATEWAYS:
        if s in rj:
            head.append([f"reject path (global 10/1s flooded), {SYS_LABEL[s]}",
                         f"{fnum(med([r['rps'] for r in rj[s]['runs']]))} answers/s, p99 "
                         f"{fms(med([r['p99'] for r in rj[s]['runs']]))}, CPU per answer {fcpu_req(rj[s]['runs'])}"])
    for sysname in ACC_SYSTEMS:
        cells = [(m, st) for m in ACC_MULTS for st in ("global", "token") if (sysname, m) in acc]
        if not cells:
            continue
        npass = sum(1 for m, st in cells if verdict(st, m, acc[(sysname, m)])[0] == "PASS")
        worst = {}
        for m, st in cells:
            s = acc[(sysname, m)]["summary"].get(st, {})
            if "maxWindow" in s:
                worst[st] = max(worst.get(st, 0), int(s["maxWindow"]))
        low = []
        for m, st in cells:
            if m == "x0.8":
                continue
            if st in acc[(sysname, m)]["inrun"]:
                low.append((acc[(sysname, m)]["inrun"][st] / LIMITS[st], st, m))
        lowtxt = ""
        if low:
            lo = min(low)
            lowtxt = f"; lowest forwarded rate from 1.2× on: {lo[0] * 100:.0f}% of the limit ({lo[1]} at {lo[2][1:]}×)"
        head.append([f"accuracy, {SYS_LABEL[sysname]}",
                     f"{npass}/{len(cells)} PASS; worst max 1 s window: global {worst.get('global', '?')} (limit 10), "
                     f"per-token {worst.get('token', '?')} (limit 5){lowtxt}"])
    a(table(["what", "result"], head))
    a("")
    fr = [r["foreign"] for r in runs if r["foreign"] is not None and r["phase"] in ("tput", "reject")]
    st = [r["steal"] for r in runs if r["steal"] is not None and r["phase"] in ("tput", "reject")]
    disturbed = [r for r in runs if r["phase"].endswith("-disturbed")]
    a(f"Runs during which the hypervisor's steal time exceeded {meta.get('steal_limit', '?')}% of the CPUs were run "
      f"once more, whichever system they measured, and left out of the medians (at most 6 per benchmark, while time "
      f"allowed): {len(disturbed)} this time"
      + (": " + ", ".join(f"{r['phase'].split('-')[0]} {SYS_LABEL.get(r['system'], r['system'])} {r['config']} "
                          f"round {r['rep']} (steal {r['steal'] or 0:.0f}%)" for r in disturbed) if disturbed else "")
      + ". They are listed with the other runs.")
    a("")
    if fr:
        worst = max(fr)
        msg = (f"Other processes on the machine (not started by this benchmark) used up to {max(worst, 0):.0f}% of its "
               f"CPU during a wrk run (median {max(statistics.median(fr), 0):.0f}%)"
               + (f"; the hypervisor's steal time was up to {max(st):.0f}% (median {statistics.median(st):.0f}%)"
                  if st else "") + " (column `others' CPU / steal`).")
        if worst > 10 or (st and max(st) > 10):
            msg = "**Warning:** " + msg + " Runs with a high share are disturbed; compare within a round."
        a(msg)
        a("")

    # ------------------------------------------------------------------ throughput
    a("## 1. Throughput and latency with limits configured but not hit")
    a("")
    a(f"`GET /api/hello`, every request carrying `X-Bench-Global: all` and `X-Api-Key: bench`; "
      f"{meta.get('reps', '?')} runs of {meta.get('wrk_s', '?')} s per system and configuration, interleaved "
      "round robin (direct, HAProxy, each engine with 1 and 2 gateways, then again), after warming each system up "
      "with 3 s wrk runs (`-t2 -c64`) until three in a row agreed within 5% (or a cap: 12 s direct, 9 s HAProxy, "
      "45 s vertx engine 1 gateway, 33 s netty engine 1 gateway, 66 s for 2 gateways; curves below). "
      "2 gateways: one wrk per gateway in parallel, each with half the threads and connections; requests/s summed, "
      "latency percentiles from the two wrk latency histograms merged (`bench/wrk-histogram.lua` prints each "
      "histogram; every request counts once, as in one wrk), the worse of the two wrk's own p99 in the table of every "
      "run. Medians over the runs; the range is min–max of requests/s. "
      "`store RT / fwd` = Hazelcast round trips per forwarded request (from `/stats` deltas; the in-memory store "
      "makes none). wrk is closed-loop, so its latency figures include queueing at the client. "
      f"{USAGE_TEXT}")
    a("")
    for cfg in ("t2c64", "t1c16"):
        sysd = tp.get(cfg)
        if not sysd:
            continue
        a(f"### wrk {'-t2 -c64' if cfg == 't2c64' else '-t1 -c16'}")
        a("")
        d = med([r["rps"] for r in sysd.get("direct", {}).get("runs", [])])
        h = med([r["rps"] for r in sysd.get("haproxy", {}).get("runs", [])])
        rows = []
        for s in ("direct", "haproxy") + GATEWAYS:
            if s not in sysd:
                continue
            rr = sysd[s]["runs"]
            rps = [r["rps"] for r in rr]
            v = med(rps)
            st = sysd[s]["stats"]
            fwd = sum(x.get("forwarded", 0) for x in st)
            srt = sum(x.get("storeRoundTrips", 0) for x in st)
            bad = sum(r["non2xx"] + r["errors"] for r in rr)
            other = ""
            if st:
                other = ("n/a (in-memory)" if in_memory(s) else f"{srt / fwd:.2f}" if fwd else "n/a") + (
                    f" (delayed {sum(x.get('delayed', 0) for x in st)}, rejected "
                    f"{sum(x.get('rejected', 0) for x in st)}, decided again {sum(x.get('decidedAgainWhenLate', 0) for x in st)})")
            rows.append([SYS_LABEL[s], len(rr), fnum(v), f"{fnum(min(rps))}–{fnum(max(rps))}",
                         fms(med([r["p50"] for r in rr])), fms(med([r["p99"] for r in rr])),
                         fratio(ratio(v, d)), fratio(ratio(v, h)), bad, other or "–",
                         fcpu_req(rr), fusage(rr), fcpu(rr)])
        a(table(["system", "runs", "req/s (median)", "range", "p50", "p99", "× direct", "× HAProxy",
                 "non-2xx + socket errors (all runs)", "store RT / fwd (Sluice counters, all runs)",
                 CPU_REQ_HEADER, USAGE_HEADER, "others' CPU / steal (max)"], rows))
        a("")
    curves = [[SYS_LABEL[k], meta.get(f"warmup_{k}", "").replace(" ", " → ")]
              for k in ("direct", "haproxy") + GATEWAYS if meta.get(f"warmup_{k}")]
    if curves:
        a("Warm-up (req/s of each 3 s run before the measurements; a rising curve = the JVM still compiling):")
        a("")
        a(table(["system", "warm-up runs, req/s"], curves))
        a("")
    a("<details><summary>every throughput run</summary>")
    a("")
    rows = []
    for r in runs:
        if r["phase"] not in ("tput", "tput-disturbed"):
            continue
        c = combine_wrk([parse_wrk(p) for p in r["outputs"]])
        if c:
            rows.append([f"{r['rep']}" + (" (disturbed: steal, run again; not in the medians)"
                                          if r["phase"].endswith("-disturbed") else ""),
                         r["config"], SYS_LABEL.get(r["system"], r["system"]), fnum(c["rps"]),
                         fms(c["p50"]), fms(c["p99"]) + (f" (worse wrk: {fms(c['p99_worst'])})" if c.get("merged") else ""),
                         c["non2xx"], c["errors"], fusage([r]), fcpu([r])])
    a(table(["round", "config", "system", "req/s", "p50", "p99", "non-2xx", "socket errors",
             USAGE_HEADER, "others' CPU / steal"], rows))
    a("")
    a("</details>")
    a("")

    # ------------------------------------------------------------------ reject path
    a("## 2. Reject path: offered load far above a 10/1 s global limit")
    a("")
    a("`wrk -t2 -c64` with `X-Acc-Global: all` (the global 10/1 s policy; HAProxy: `bench/haproxy/limited.cfg`), "
      f"{meta.get('wrk_s', '?')} s per run, 3 interleaved rounds after 2 × 3 s of the same load on each system; thousands of requests/s offered, i.e. far more than 100× "
      "the limit. Answers/s counts every response (almost all 429). `× own proxied` = answers/s over the same "
      "system's median requests/s in the throughput runs (`-t2 -c64`, section 1); the target is 2×. "
      "`store RT / rejected` = Hazelcast round trips "
      "per rejected request over the run; `locally` = share of rejections decided from the gateway's 50 ms "
      f"local denial cache without a round trip. {USAGE_TEXT}")
    a("")
    rows = []
    hr = med([r["rps"] for r in rj.get("haproxy-limited", {}).get("runs", [])])
    for s in ("haproxy-limited",) + GATEWAYS:
        if s not in rj:
            continue
        rr = rj[s]["runs"]
        st = rj[s]["stats"]
        v = med([r["rps"] for r in rr])
        ok = [(r["requests"] - r["non2xx"]) / (r["seconds"] or 1) for r in rr]
        rej = sum(x.get("rejected", 0) for x in st)
        srt = sum(x.get("storeRoundTrips", 0) for x in st)
        loc = sum(x.get("rejectedLocally", 0) for x in st)
        own = "haproxy" if s == "haproxy-limited" else s
        proxied = med([r["rps"] for r in tp.get("t2c64", {}).get(own, {}).get("runs", [])])
        rows.append([SYS_LABEL[s], len(rr), fnum(v), fratio(ratio(v, hr)), fratio(ratio(v, proxied)),
                     fms(med([r["p50"] for r in rr])),
                     fms(med([r["p99"] for r in rr])), fnum(med(ok), 1),
                     sum(r["errors"] for r in rr),
                     (f"{srt / rej:.3f}" if rej and s.endswith("-2") else "n/a (in-memory)" if in_memory(s) else "–"),
                     (f"{loc / rej * 100:.1f}%" if rej else "–"), fcpu_req(rr), fusage(rr), fcpu(rr)])
    a(table(["system", "runs", "answers/s (median)", "× HAProxy", "× own proxied", "p50", "p99", "2xx/s",
             "socket errors",
             "store RT / rejected", "rejected locally", CPU_REQ_HEADER, USAGE_HEADER, "others' CPU / steal (max)"],
            rows))
    a("")

    # ------------------------------------------------------------------ accuracy
    a("## 3. Accuracy: open-loop load at 0.8×, 1.2×, 2× and 20× the limits")
    a("")
    a(f"`bench/LoadClient.java`, {acc_seconds:g} s per run, two independently paced streams at once: "
      "`global` (header `X-Acc-Global`, limit 10 per 1 s, reject) at 8, 12, 20, 200 requests/s and `token` "
      "(header `X-Acc-Key`, one token, limit 5 per 1 s; Sluice: delay up to 2 s, HAProxy: tarpit 2 s then 429) at "
      "4, 6, 10, 100 requests/s; load spread round-robin over the gateways / HAProxy instances. Forwarded = 2xx; its "
      "time is the API's arrival stamp (`X-Upstream-Received-At`). `mean/s (LoadClient)` = forwarded ÷ duration, counting "
      "every request sent during the run even if a delay forwarded it after the end (so it can exceed the limit for "
      "Sluice's delayed per-token stream); `fwd/s during run` = requests that reached the API within the run ÷ "
      "duration; `max win` = the most "
      "forwarded in any sliding 1 s window, `min bucket` = fewest forwarded in an aligned 1 s bucket after the first "
      "second. Verdicts use Sluice's targets for every system: max window ≤ limit always; at 0.8× every request "
      "forwarded; from 1.2× on, forwarded during the run ≥ 97% of the limit per second. Each Sluice run uses fresh key values; each HAProxy run "
      "a freshly started HAProxy. The third gateway joined the 2-gateway cluster just before the Sluice-3 runs. "
      "Picture: `bench/accuracy.svg`.")
    a("")
    a("Summary (global | per-token): max forwarded in a 1 s window / forwarded per second during the run, ✓ = PASS")
    a("")
    hdr = ["system"] + [f"{m[1:]}× ({float(m[1:]) * 10:g}/s, {float(m[1:]) * 5:g}/s)" for m in ACC_MULTS]
    rows = []
    for sysname in ACC_SYSTEMS:
        if not any((sysname, m) in acc for m in ACC_MULTS):
            continue
        row = [SYS_LABEL[sysname]]
        for m in ACC_MULTS:
            if (sysname, m) not in acc:
                row.append("not run")
                continue
            cells = []
            for st in ("global", "token"):
                s = acc[(sysname, m)]["summary"].get(st, {})
                v, _ = verdict(st, m, acc[(sysname, m)])
                cells.append(f"{s.get('maxWindow', '?')} / {acc[(sysname, m)]['inrun'].get(st, 0):.2f} "
                             f"{'✓' if v == 'PASS' else '✗'}")
            row.append(" \\| ".join(cells))
        rows.append(row)
    a(table(hdr, rows))
    a("")
    a("All runs:")
    a("")
    rows = []
    for sysname in ACC_SYSTEMS:
        for m in ACC_MULTS:
            if (sysname, m) not in acc:
                continue
            run = acc[(sysname, m)]
            for st in ("global", "token"):
                s = run["summary"].get(st, {})
                v, why = verdict(st, m, run)
                other = sum(int(s.get(k, 0)) for k in ("s401", "s502", "s504", "other", "timeout", "connErr")) if s else 0
                rows.append([SYS_LABEL[sysname], f"{m[1:]}×", STREAM_LABEL[st],
                             f"{float(m[1:]) * LIMITS[st]:g}", s.get("sent", "?"), s.get("fwd", "?"),
                             s.get("s429", "?"), other, s.get("late2xx", "?"), s.get("meanPerSec", "?"),
                             f"{run['inrun'].get(st, 0):.2f}", s.get("maxWindow", "?"), s.get("minBucket", "?"),
                             v + (f" ({why})" if why else "")])
    a(table(["system", "load", "stream", "offered/s", "sent", "fwd", "429", "other", "fwd > 100 ms",
             "mean/s (LoadClient)", "fwd/s during run", "max win", "min bucket", "verdict"], rows))
    a("")

    # ------------------------------------------------------------------ commands
    a("## Exact commands")
    a("")
    a("Everything is started by `bench/run.sh` (run from the repository root; `bench/run.sh --help`). Ports "
      f"used in this run: {meta.get('ports', '?')}; Hazelcast cluster name `{meta.get('cluster', '?')}`.")
    a("")
    a("```bash")
    a("# API (the ceiling)")
    a(f"java -jar bench/out/jars/api-verticle.jar -conf '{{\"http\":{{\"port\":P_API}},\"warmupRequests\":500}}'")
    a("# Sluice, per engine (ENGINE = vertx or netty): one gateway without -cluster (sluice-1 / netty-1), and")
    a("# cluster gateways A, B (and C later) with -cluster, one cluster per engine")
    a("SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT=P SLUICE_MANAGEMENT_HOST=127.0.0.1 SLUICE_MANAGEMENT_PORT=M \\")
    a("SLUICE_UPSTREAMS=http://127.0.0.1:P_API SLUICE_CLUSTER_NAME=<unique>-ENGINE SLUICE_PROXY_ENGINE=ENGINE \\")
    a("SLUICE_POLICIES=\"$POLICIES\" \\")
    a("  java -jar bench/out/jars/gateway-verticle.jar [-cluster] -conf conf/gateway.json")
    a("# HAProxy (foreground, one process per instance)")
    a("HAP_BIND=127.0.0.1:PORT HAP_API=127.0.0.1:P_API haproxy -db -f bench/haproxy/high.cfg      # or limited.cfg")
    a("```")
    a("")
    a("`SLUICE_POLICIES` (one cluster serves every phase; a request only meets the policies whose header it carries):")
    a("")
    a("```json")
    try:
        a(json.dumps(json.loads(meta.get("policies", "[]")), indent=1))
    except ValueError:
        a(meta.get("policies", "?"))
    a("```")
    a("")
    a("Load commands as run (one of each kind; `URL` = the system's base URL):")
    a("")
    a("```bash")
    seen = set()
    for r in runs:
        kind = (r["phase"], r["system"], r["config"] if r["phase"] != "accuracy" else "")
        if kind in seen:
            continue
        seen.add(kind)
        cmd = r["command"]
        m = re.search(r" URL/api/hello  \(x(\d+) in parallel: (.*?) ?\)$", cmd)   # older run.sh wording
        if m:
            urls = m.group(2).split()
            cmd = cmd[:m.start()] + (f" {urls[0]}/api/hello" if m.group(1) == "1" else
                                     f" URL/api/hello   # one wrk per gateway, in parallel, URL = {' '.join(urls)}")
        if r["phase"] == "accuracy":
            cmd = cmd.replace("\\,", ",").rstrip()   # older run.sh quoted commas
        a(f"# {r['phase']} {r['system']} {r['config']}")
        a(cmd)
    a("```")
    a("")

    # ------------------------------------------------------------------ notes
    a("## Notes")
    a("")
    a("- **HAProxy setup** (`bench/haproxy/*.cfg`): `mode http`, `nbthread 2` (= the CPU count, HAProxy's default "
      "here), `maxconn 4096`, `option http-keep-alive` with `http-reuse safe` to the API, timeouts connect 5 s, "
      "client/server 30 s, keep-alive 30 s, no logging. The global limit is a stick table keyed on a constant "
      "(`track-sc0 str(global)`) with `http_req_rate(1s)` and `http-request deny deny_status 429 if "
      "{ sc_http_req_rate(0) gt 10 }`; the per-token limit is a second table keyed on the token header "
      "(`track-sc1 req.hdr(X-Acc-Key)`) that sends offenders (`gt 5`) to a `slowdown` backend doing "
      "`http-request tarpit deny_status 429` with `timeout tarpit 2s`. Each rule only counts requests carrying its "
      "header, like Sluice's `onMissingKey: skip`. `high.cfg` is the same with both thresholds at `gt 100000000` "
      "and the throughput headers (`X-Bench-Global`, `X-Api-Key`), so both tables are still updated on every "
      "request. \"2 instances\" = two HAProxy processes on two ports, each with its own tables.")
    a("- **Sluice setup**: the jars as built (copied to `bench/out/jars` first), `conf/gateway.json` with the "
      "policies above from `SLUICE_POLICIES`, default JVM options and `upstreamPool`; the 1-gateway systems use the "
      "in-memory store, the 2- and 3-gateway systems "
      "one Hazelcast cluster per engine on 127.0.0.1 (the third gateway joins it for the last accuracy runs). The throughput "
      "runs meet two policies with limits of 100,000,000 per 1 s; how often the clustered gateways then call "
      "Hazelcast is the `store RT / fwd` column.")
    a("- HAProxy's `http_req_rate(1s)` counts denied and tarpitted requests too and is a per-period estimate, not "
      "a sliding window: under overload the counted rate stays above the threshold, so it forwards much less than "
      "the limit; between periods it can forward more than the limit in some 1 s windows. Two HAProxy instances "
      "each enforce the full limit on their share of the traffic.")
    ideal = []
    for m in (1.2, 2, 20):
        r = 10 * m
        ideal.append(f"{m:g}×: {ideal_forwarded(r, acc_seconds, 10, 1.0)} with a 1.000 s window, "
                     f"{ideal_forwarded(r, acc_seconds, 10, 1.008)} with 1.008 s")
    a(f"- **What a perfect limiter would forward** from the global stream's evenly spaced requests in "
      f"{acc_seconds:g} s (10 per window, rejecting; computed, not measured): {'; '.join(ideal)}. Sluice's "
      "windows are conservative by 8 ms (README: 10 per 1.008 s for a 1 s window). At 1.2× a request arrives every "
      "83 ms, so the request arriving as a slot frees would be a few ms early; a rejecting policy holds such a "
      "request up to 25 ms instead of refusing it, which is why Sluice forwards the full limit at 1.2×.")
    a("- `others' CPU` = share of the whole machine (all CPUs) used during the run by processes this benchmark did "
      "not start, from `/proc/stat` minus the CPU time of the benchmark's own processes; `steal` = share the "
      "hypervisor gave to other guests (a virtual machine's CPUs are not all ours).")
    a("- Same machine for everything: wrk and LoadClient compete with the proxies for the CPUs, so no system gets "
      "the whole machine; the ratios are comparable only within this run.")
    phase = [f"start {meta.get('startup_s', '?')} s", f"throughput {meta.get('phase1_s', '?')} s",
             f"reject {meta.get('phase2_s', '?')} s", f"accuracy {meta.get('phase3_s', '?')} s"]
    if "phase4_s" in meta:
        phase.append(f"per-user {meta['phase4_s']} s")
    a(f"- Time taken: {', '.join(phase)}; total {meta.get('total_s', '?')} s (budget {meta.get('budget', '?')} s, "
      "hard stop by a watchdog).")
    a("")
    per_user_section(out, a)
    with open(md_path, "w") as f:
        f.write("\n".join(L))


def read_per_user(out):
    """bench/per-user.sh's lines: system, workload, then key=value figures."""
    path = os.path.join(out, "per-user", "per-user.tsv")
    rows = {}
    if not os.path.exists(path):
        return rows
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) >= 3:
            rows[(parts[0], parts[1])] = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
    return rows


def per_user_section(out, a):
    """Phase 4 (bench/run.sh --per-user): issue 14's per-user workloads, one row per system."""
    rows = read_per_user(out)
    if not rows:
        return
    systems = list(dict.fromkeys(system for system, _ in rows))

    def get(system, workload, key):
        return rows.get((system, workload), {}).get(key)

    def rps(system, workload):
        v, p99 = get(system, workload, "req_s"), get(system, workload, "p99_ms")
        return "—" if v is None else f"{int(v):,} ({p99} ms)"

    table_rows = []
    for system in systems:
        leased, per_key = get(system, "leased", "req_s"), get(system, "per-key", "req_s")
        ratio = f"{float(per_key) / float(leased):.2f}×" if leased and per_key and float(leased) > 0 else "—"
        lat = (f"{get(system, 'latency', 'p50_ms')} / {get(system, 'latency', 'p99_ms')} ms"
               if get(system, "latency", "p50_ms") else "—")
        over = (f"{get(system, 'overload', 'per_key')}/s (lowest {get(system, 'overload', 'lowest')}), "
                f"max {get(system, 'overload', 'max_window')} in a window, p99 {get(system, 'overload', 'p99_ms')} ms"
                if get(system, "overload", "per_key") else "—")
        table_rows.append([system, rps(system, "leased"), rps(system, "per-key"), ratio, lat, over])
    a("## Per-user limits (phase 4, `bench/per-user.sh`)")
    a("")
    a(table(["system", "10,000 keys, one leased limit: req/s (p99)", "10,000 keys, 10/1 s each, not hit: req/s (p99)",
             "per-key / leased", "100 keys × 3 r/s under 10/1 s: p50 / p99 (median over keys)",
             "100 keys × 10 r/s against 5/1 s: forwarded per key, most at the API in 1 s, p99"], table_rows))
    a("")
    a("HAProxy: `bench/haproxy/per-key.cfg`, a stick table per header keyed on its value (`http_req_rate(1s)`, "
      "excess 429); `haproxy-2` is two instances sharing their tables through a `peers` section. Sluice: one "
      "gateway in memory, two and three clustered (`-cluster`), vertx engine. wrk: two threads and 64 connections "
      "in all, split over the instances; the open-loop runs spread each key's requests round robin over them. "
      "Figures of one run each, on the same shared machine as the rest.")
    a("")


if __name__ == "__main__":
    main()
