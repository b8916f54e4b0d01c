"""Which requests put more than the limit in a window at the API, and where they spent their time (stdlib only).

usage: python3 bench/over_limit.py LIMIT WINDOW_MS RUN.csv [RUN.json] [PAUSES.tsv ...]

RUN.csv is bench/LoadClient.java's --csv, RUN.json its --json (for the epoch of the measured start). For every
stream (key) and every 1-window span in which the API received more than LIMIT of its requests
(forwardedAtMicros, the API's X-Upstream-Received-At), it prints those requests: the gateway they went through, when
they were sent, their transit (from the client's send to the API's receipt) and their whole latency. PAUSES.tsv
files (from bench/pauses.py: JVM NAME, START_EPOCH_MS, DURATION_MS) are matched against the slowest request's
transit: a pause of a JVM that overlaps it is printed beside it.
"""
import csv
import json
import sys


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    limit, window_ms, csv_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rest = sys.argv[4:]
    epoch_ms = None
    if rest and rest[0].endswith(".json"):
        epoch_ms = json.load(open(rest[0]))["epochMicrosAtMeasureStart"] / 1000
        rest = rest[1:]
    pauses = []
    for path in rest:
        for line in open(path):
            name, start, duration = line.split("\t")
            pauses.append((name, float(start), float(duration)))
    by_stream = {}
    for row in csv.DictReader(open(csv_path)):
        if row["measured"] != "true" or row["forwardedSource"] != "header":
            continue
        by_stream.setdefault(row["stream"], []).append(row)
    windows = 0
    transits = []
    for stream, rows in sorted(by_stream.items()):
        rows.sort(key=lambda r: int(r["forwardedAtMicros"]))
        for r in rows:
            transits.append((int(r["forwardedAtMicros"]) - int(r["sendMicros"])) / 1000)
        arrivals = [int(r["forwardedAtMicros"]) for r in rows]
        start = 0
        reported_until = -1
        for end in range(len(rows)):
            while arrivals[end] - arrivals[start] >= window_ms * 1000:
                start += 1
            if end - start + 1 > limit and end > reported_until:
                windows += 1
                reported_until = end
                print(f"stream {stream}: {end - start + 1} arrivals within {window_ms} ms at the API")
                slowest = max(rows[start:end + 1], key=lambda r: int(r["forwardedAtMicros"]) - int(r["sendMicros"]))
                for r in rows[start:end + 1]:
                    transit = (int(r["forwardedAtMicros"]) - int(r["sendMicros"])) / 1000
                    print(f"  via {r['target']:>24}  sent {int(r['sendMicros']) / 1000:10.1f} ms  at the API "
                          f"{int(r['forwardedAtMicros']) / 1000:10.1f} ms  transit {transit:7.1f} ms  "
                          f"answered after {int(r['latencyMicros']) / 1000:7.1f} ms")
                if epoch_ms is not None and pauses:
                    sent = epoch_ms + int(slowest["sendMicros"]) / 1000
                    arrived = epoch_ms + int(slowest["forwardedAtMicros"]) / 1000
                    for name, p_start, p_duration in pauses:
                        if p_start < arrived and p_start + p_duration > sent:
                            print(f"  pause in {name}: {p_duration:.1f} ms, {p_start - sent:+.1f} ms after the "
                                  f"slowest request was sent")
    transits.sort()
    if transits:
        pick = lambda q: transits[min(len(transits) - 1, int(q * len(transits)))]
        print(f"{windows} window(s) over {limit}; transit of forwarded requests (send to API receipt): "
              f"p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, p99.9 {pick(0.999):.1f} ms, max {transits[-1]:.1f} ms")


if __name__ == "__main__":
    main()
