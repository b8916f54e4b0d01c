#!/usr/bin/env bash
# bench/conformance.sh: replay the HTTP/1.1 conformance table (gateway-verticle/src/test/resources/conformance)
# against the gateway and against HAProxy in front of the same recording upstream, and print where they differ.
#
#   1. the gateway: ConformanceTest deploys it itself (as in `mvn verify`)           -> $OUT/gateway.tsv
#   2. HAProxy 2.6 (bench/haproxy/conformance.cfg) started here on loopback, the suite
#      replayed against it with -Dconformance.target / -Dconformance.upstreamPort    -> $OUT/haproxy.tsv
#   3. a table: case, gateway PASS/FAIL (statuses), HAProxy PASS/FAIL (statuses), for the cases that differ
#
# Usage: bench/conformance.sh [REGEX]      (REGEX: only the cases whose name matches, e.g. '^smuggle-')
# Needs: haproxy on the PATH (Debian: apt-get install -y haproxy), Maven, Java 17.
# Environment: CONF_BASE_PORT (18710), CONF_OUT (bench/out/conformance), CONF_BUDGET (seconds per replay, 900).
# Every process it starts is stopped by its PID; each replay is bounded by `timeout`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
ONLY="${1:-.*}"
BASE="${CONF_BASE_PORT:-18710}"
OUT="${CONF_OUT:-$ROOT/bench/out/conformance}"
BUDGET="${CONF_BUDGET:-900}"
HAP_PORT="$BASE"
UPSTREAM_PORT="$((BASE + 1))"
mkdir -p "$OUT"
rm -f "$OUT/gateway.tsv" "$OUT/haproxy.tsv"

command -v haproxy >/dev/null || { echo "conformance.sh: haproxy not found (apt-get install -y haproxy)" >&2; exit 2; }
for port in "$HAP_PORT" "$UPSTREAM_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "conformance.sh: port $port is taken; set CONF_BASE_PORT" >&2; exit 2
  fi
done

replay() { # replay REPORT [extra -D...]
  local report="$1"; shift
  timeout "$BUDGET" mvn -B -q -pl gateway-verticle -am verify -Dtest='Conformance*' \
    -Dsurefire.failIfNoSpecifiedTests=false -DskipITs "-Dconformance.only=$ONLY" "-Dconformance.report=$report" "$@" \
    > "${report%.tsv}.log" 2>&1
  echo "  $(grep -c $'\tPASS\t' "$report" 2>/dev/null || echo 0) passed, $(grep -c $'\tFAIL\t' "$report" 2>/dev/null || echo 0) failed (log: ${report%.tsv}.log)"
}

echo "== the gateway"
replay "$OUT/gateway.tsv"

echo "== HAProxy $(haproxy -v | head -1 | awk '{print $3}') in front of the recording upstream"
HAP_BIND="127.0.0.1:$HAP_PORT" HAP_UPSTREAM="127.0.0.1:$UPSTREAM_PORT" \
  haproxy -db -f "$ROOT/bench/haproxy/conformance.cfg" > "$OUT/haproxy-process.log" 2>&1 &
HAP_PID=$!
trap 'kill "$HAP_PID" 2>/dev/null; wait "$HAP_PID" 2>/dev/null' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$HAP_PORT") 2>/dev/null && break
  sleep 0.1
done
replay "$OUT/haproxy.tsv" "-Dconformance.target=127.0.0.1:$HAP_PORT" "-Dconformance.upstreamPort=$UPSTREAM_PORT" \
  -Dconformance.lenient=true
kill "$HAP_PID" 2>/dev/null; wait "$HAP_PID" 2>/dev/null; trap - EXIT

echo
echo "== where they differ (PASS/FAIL against the table, HAProxy compared leniently: field-name case and"
echo "   error-body format ignored; statuses the client saw; the first thing the table found wrong)"
python3 - "$OUT/gateway.tsv" "$OUT/haproxy.tsv" <<'PY'
import sys
def load(path):
    rows = {}
    try:
        for line in open(path, encoding="utf-8"):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                rows[parts[0]] = parts
    except FileNotFoundError:
        pass
    return rows
g, h = load(sys.argv[1]), load(sys.argv[2])
names = list(dict.fromkeys(list(g) + list(h)))
print(f"{'case':45} {'gateway':22} {'haproxy':22}")
differ = 0
for n in names:
    a, b = g.get(n, [n, "-", "-"]), h.get(n, [n, "-", "-"])
    if a[1] != b[1] or a[2] != b[2]:
        differ += 1
        why = (b[3] if b[1] == "FAIL" and len(b) > 3 else a[3] if len(a) > 3 else "")
        why = why.split("] ", 1)[-1][:90]
        print(f"{n:45} {a[1] + ' ' + a[2]:22} {b[1] + ' ' + b[2]:22} {why}")
both = sum(1 for n in names if g.get(n, ["", ""])[1] == "PASS" and h.get(n, ["", ""])[1] == "PASS")
print(f"\n{len(names)} cases, {differ} differ; gateway passes {sum(1 for r in g.values() if r[1] == 'PASS')}, "
      f"HAProxy passes {sum(1 for r in h.values() if r[1] == 'PASS')}, both {both}")
PY
