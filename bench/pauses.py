"""The stop-the-world pauses of JVMs, from their safepoint logs, as lines for bench/over_limit.py (stdlib only).

usage: python3 bench/pauses.py MIN_MS LOG...

Each LOG is written by a JVM started with -Xlog:safepoint:file=LOG:time (wall-clock time on every line; JDK 17's
format: 'Safepoint "<operation>", Time since last: ... ns, Reaching safepoint: R ns, ... Total: T ns', logged as the
safepoint ends). Prints one line per pause of at least MIN_MS: the log's name, the epoch ms the pause began (the line's
time less its total), and its length in ms, tab-separated; then, on stderr, each log's count and longest pause.
"""
import datetime
import os
import re
import sys

LINE = re.compile(r"^\[(?P<time>[^\]]+)\].*Safepoint \"(?P<op>[^\"]+)\".*Total: (?P<total>\d+) ns")


def epoch_ms(stamp):
    # e.g. 2026-12-02T18:50:01.123+0000
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    min_ms = float(sys.argv[1])
    for path in sys.argv[2:]:
        name = os.path.basename(path)
        count, longest = 0, 0.0
        for line in open(path, errors="replace"):
            m = LINE.match(line)
            if not m:
                continue
            total_ms = int(m.group("total")) / 1e6
            longest = max(longest, total_ms)
            if total_ms >= min_ms:
                count += 1
                print(f"{name}\t{epoch_ms(m.group('time')) - total_ms:.1f}\t{total_ms:.1f}")
        print(f"{name}: {count} pause(s) of {min_ms:g} ms or more, longest {longest:.1f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
