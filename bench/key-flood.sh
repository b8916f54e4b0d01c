#!/usr/bin/env bash
# bench/key-flood.sh: a flood of distinct keys against three clustered gateways (-Xmx512m each), as fast as they
# answer, while one known key is sent far over its limit. One wrk per gateway walks its own range of FLOOD_KEYS
# distinct X-Key values (bench/keys.lua), so until a range is used up every request brings a key never seen before;
# the policy is per-key, 5 per minute, so every key stays live (and in the counters) for a minute or more.
# Every 10 s it prints each gateway's RSS and heap, what the counters evicted and refused, and the limiter's mode;
# at the end: requests and distinct keys sent, answers by class, the known key's most arrivals at the API in any
# 60 s window (the limit is 5), what the gateways logged about evictions, refusals and mode switches, and three
# verdicts: no gateway died or ran out of memory; the known key held its limit; every flood request was answered
# 2xx (each key is sent once, so a 429, a 503 or a socket error counts against it).
#
# Usage: bench/key-flood.sh [--build]
# Environment: FLOOD_SECONDS (600, at most 900), FLOOD_KEYS (10000000), FLOOD_CONNECTIONS (32 per wrk), FLOOD_HEAP
#              (512m: each gateway's -Xmx),
#              FLOOD_OUT (target/key-flood)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FLOOD_S="${FLOOD_SECONDS:-600}"
KEYS="${FLOOD_KEYS:-10000000}"
CONNS="${FLOOD_CONNECTIONS:-32}"
HEAP="${FLOOD_HEAP:-512m}"
OUT="${FLOOD_OUT:-target/key-flood}"
(( FLOOD_S <= 900 )) || { echo "key-flood.sh: FLOOD_SECONDS at most 900" >&2; exit 2; }
# every request a new key for a minute: each key is live for its window and the store's time-to-live after it
POLICIES='[{"name":"per-key","key":"header:X-Key","requests":5,"window":"1m","onMissingKey":"skip"}]'
KNOWN_RATE=5          # requests per second of the known key: 60 times its limit of 5 per minute
KNOWN_LIMIT=5
NAME=key-flood.sh
source bench/jars.sh
parse_build_option "$@"

for tool in java wrk python3 awk ps; do command -v "$tool" >/dev/null || die "$tool not found"; done
build_jars "$BUILD"
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.txt

CLUSTER="flood-$$-$RANDOM"
read -r -a PORTS <<< "$(free_ports 7)"
API_PORT="${PORTS[0]}"
declare -A GW_PID

start api -- -jar "$API_JAR" -conf "{\"http\": {\"host\": \"127.0.0.1\", \"port\": $API_PORT}, \"warmupRequests\": 500}"
API_PID="${PIDS[-1]}"
await_line "$OUT/api.log" "listening on port ($API_PORT)" "$API_PID" > /dev/null || die "the API did not start"
for i in 1 2 3; do
  hp="${PORTS[$((2 * i - 1))]}" mp="${PORTS[$((2 * i))]}"
  start "gateway-$i" SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT="$hp" SLUICE_MANAGEMENT_HOST=127.0.0.1 \
    SLUICE_MANAGEMENT_PORT="$mp" SLUICE_UPSTREAMS="http://127.0.0.1:$API_PORT" SLUICE_CLUSTER_NAME="$CLUSTER" \
    SLUICE_POLICIES="$POLICIES" -- -Xmx"$HEAP" -XX:+ExitOnOutOfMemoryError -jar "$GW_JAR" -cluster -conf conf/gateway.json
  GW_PID[$i]="${PIDS[-1]}"
  await_line "$OUT/gateway-$i.log" "Sluice gateway (ready)" "${GW_PID[$i]}" > /dev/null || die "gateway $i did not start"
done
say "[$(date +%T)] ready: API :$API_PORT, gateways :${PORTS[1]} :${PORTS[3]} :${PORTS[5]} (-Xmx$HEAP), cluster $CLUSTER;"
say "  flood ${FLOOD_S}s: 3 x wrk -t1 -c$CONNS over $KEYS distinct keys, policy per-key 5/1m; known key $KNOWN_RATE r/s"

# sample: one line per gateway every 10 s while the flood runs
sample() {
  local t0="$1" i mp
  while sleep 10; do
    for i in 1 2 3; do
      mp="${PORTS[$((2 * i))]}"
      python3 - "$i" "$mp" "${GW_PID[$i]}" "$t0" <<'PY' >> "$OUT/samples.txt" 2>/dev/null
import json, sys, time, urllib.request
i, port, pid, t0 = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
try:
    rss = int(open(f"/proc/{pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024
except Exception:
    print(f"{time.time() - t0:6.0f}s gateway-{i} DEAD"); sys.exit()
metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
def total(name, having=""):
    return sum(float(l.rsplit(" ", 1)[1]) for l in metrics.splitlines()
               if l.startswith(name) and having in l and not l.startswith("#"))
stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5).read())
heap = total("jvm_memory_used_bytes", 'area="heap"') / 2**20
print(f"{time.time() - t0:6.0f}s gateway-{i} rss={rss}MB heap={heap:.0f}MB "
      f"evicted={total('sluice_store_evicted_keys_total'):.0f} refused={stats['keysRefused']} "
      f"forwarded={stats['forwarded']} rejected={stats['rejected']} limiterFailures={stats['limiterFailures']} "
      f"mode={stats['limiterMode']} switches={stats['limiterModeSwitches']}")
PY
    done
    tail -n 3 "$OUT/samples.txt"
  done
}
T0="$(date +%s.%N)"
sample "$T0" &
SAMPLER=$!
ON_EXIT="kill $SAMPLER 2>/dev/null"

# the known key: KNOWN_RATE r/s round robin over the gateways, each answer's status and arrival stamp at the API
python3 - "$FLOOD_S" "$KNOWN_RATE" "${PORTS[1]}" "${PORTS[3]}" "${PORTS[5]}" > "$OUT/known.txt" 2> "$OUT/known.log" <<'PY' &
import sys, time, urllib.request, urllib.error
seconds, rate, ports = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
start = time.time()
n = 0
while time.time() - start < seconds:
    port = ports[n % len(ports)]
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/hello", headers={"X-Key": "known-key"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            print(r.status, r.headers.get("X-Upstream-Received-At", "-"), flush=True)
    except urllib.error.HTTPError as e:
        print(e.code, "-", flush=True)
    except Exception as e:
        print("failed", "-", flush=True)
    n += 1
    time.sleep(max(0.0, start + n / rate - time.time()))
PY
KNOWN=$!

per_range=$((KEYS / 3))
for i in 1 2 3; do
  KEYS="$KEYS" KEY_OFFSET=$(((i - 1) * per_range)) timeout -k 5 $((FLOOD_S + 180)) \
    wrk -t1 -c"$CONNS" -d"${FLOOD_S}s" --timeout 10s -s bench/keys.lua "http://127.0.0.1:${PORTS[$((2 * i - 1))]}/api/hello" \
    > "$OUT/wrk-$i.txt" 2>&1 &
  WRK[$i]=$!
done
for i in 1 2 3; do wait "${WRK[$i]}"; done
wait "$KNOWN"
kill "$SAMPLER" 2>/dev/null

say ""
say "----- results ($(date +%T))"
python3 - "$OUT" "$KEYS" "$KNOWN_LIMIT" <<'PY'
import glob, re, sys
out, keys, known_limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sent = non2xx = errors = 0
for f in sorted(glob.glob(f"{out}/wrk-*.txt")):
    text = open(f).read()
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    n = int(m.group(1)) if m else 0
    bad = int(re.search(r"Non-2xx or 3xx responses: (\d+)", text).group(1)) if "Non-2xx" in text else 0
    err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    e = sum(map(int, err.groups())) if err else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    print(f"{f.rsplit('/', 1)[1]}: {n} requests, {rps.group(1) if rps else '?'} req/s, non-2xx {bad}, socket errors {e}")
    sent += n; non2xx += bad; errors += e
print(f"flood: {sent} requests, {min(sent, keys)} distinct keys sent (of {keys}), non-2xx {non2xx}, "
      f"socket errors {errors}")
print("verdict every flood request answered 2xx:", "PASS" if non2xx == 0 and errors == 0 and sent > 0 else "FAIL")
arrivals, statuses = [], {}
for line in open(f"{out}/known.txt"):
    status, stamp = line.split()
    statuses[status] = statuses.get(status, 0) + 1
    if status == "200" and stamp != "-":
        arrivals.append(int(stamp) / 1e6)
arrivals.sort()
most = max((sum(1 for b in arrivals if a <= b < a + 60) for a in arrivals), default=0)
print(f"known key: answers {statuses}; most arrivals at the API in any 60 s window: {most} (limit {known_limit})")
print("verdict known key held its limit:", "PASS" if most <= known_limit and arrivals else "FAIL")
PY
grep -h "evicted from map\|new key refused\|OutOfMemory\|limiter store .* ->" "$OUT"/gateway-*.log | cut -c1-220 | head -n 12
alive=true
for i in 1 2 3; do kill -0 "${GW_PID[$i]}" 2>/dev/null || { alive=false; say "gateway $i is gone"; }; done
grep -q OutOfMemoryError "$OUT"/gateway-*.log && alive=false
say "verdict no gateway died or ran out of memory: $($alive && echo PASS || echo FAIL)"
say "samples (every 10 s): $OUT/samples.txt; logs: $OUT/"
