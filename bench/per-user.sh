#!/usr/bin/env bash
# bench/per-user.sh: issue 14's workloads (per-user limits) on HAProxy and on Sluice with 1, 2 and 3 gateways, in one
# command; bench/run.sh runs it as its phase 4 (--per-user) and puts its table in RESULTS.md.
#
#   systems   haproxy-1   one HAProxy, bench/haproxy/per-key.cfg (a stick table per header, excess 429)
#             haproxy-2   two HAProxies sharing their tables through peers (HAProxy's own replication)
#             sluice-1    one gateway, in-memory store (vertx engine, conf/gateway.json)
#             sluice-2/3  two and three clustered gateways (-cluster)
#   per system, on fresh processes, the load spread over its instances:
#     leased    wrk over 10,000 keys, but every request in one global policy of 100,000,000/1 s (served locally by
#               leases on a cluster): the same instances with limits that cost nothing, the yardstick
#     per-key   the same wrk, each request in the per-token policy of its key, PU_LIMIT/1 s (never hit)
#               wrk: two threads and 64 connections in all (one wrk per instance: -t2 -c64, -t1 -c32 each,
#               -t1 -c21 each), bench/keys.lua, PU_WRK_SECONDS measured after an unmeasured run of the same:
#               PU_WRK_WARM s before the first workload (a fresh JVM's JIT needs 30-40 s of load; a cluster just
#               formed still migrates partitions), 10 s before the second
#     latency   bench/LoadClient.java, 100 keys x 3 r/s against 10/1 s (never hit), each key round robin over the
#               instances: PU_OL_WARM unmeasured then PU_OL_SECONDS; median over the keys of p50 and p99
#     overload  100 keys x 10 r/s against 5/1 s (reject), PU_OL_SECONDS, no warm-up of that policy: forwarded per
#               key (median, lowest), the most arrivals in any 1 s window at the API (X-Upstream-Received-At),
#               p99 of the forwarded requests (median over keys)
#   figures   PU_OUT/per-user.tsv, one line per system and workload, and a table on stdout; nothing asserted
#
# Usage: bench/per-user.sh [--build]
# Environment: PU_SYSTEMS ("haproxy-1 haproxy-2 sluice-1 sluice-2 sluice-3"), PU_WRK_SECONDS (10), PU_WRK_WARM (30),
#              PU_OL_SECONDS (15), PU_OL_WARM (20s), PU_LIMIT (10), PU_OUT (target/per-user)
# Everything runs on 127.0.0.1 at nice 15 (free ports); every process it starts is stopped on exit, by PID. About
# 110 s per system.
set -uo pipefail
if [[ -z "${PU_NICED:-}" ]]; then exec env PU_NICED=1 nice -n 15 "$0" "$@"; fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NAME=per-user.sh
OUT="${PU_OUT:-target/per-user}"
SYSTEMS="${PU_SYSTEMS:-haproxy-1 haproxy-2 sluice-1 sluice-2 sluice-3}"
WRK_S="${PU_WRK_SECONDS:-10}"
WRK_WARM="${PU_WRK_WARM:-30}"
OL_S="${PU_OL_SECONDS:-15}"
OL_WARM="${PU_OL_WARM:-20s}"
LIMIT="${PU_LIMIT:-10}"
KEYS=10000
mkdir -p "$OUT"
source bench/jars.sh
parse_build_option "$@"
for tool in java javac wrk haproxy curl python3 timeout; do command -v "$tool" > /dev/null || die "$tool not found"; done
build_jars "$BUILD"
javac -d "$OUT/lc" bench/LoadClient.java || die "LoadClient did not compile"

POLICIES="[{\"name\":\"global-high\",\"key\":\"header:X-Bench-Global\",\"requests\":100000000,\"window\":\"1s\",\
\"onExceed\":\"reject\",\"onMissingKey\":\"skip\"},{\"name\":\"per-token\",\"key\":\"header:X-Key\",\
\"requests\":$LIMIT,\"window\":\"1s\",\"onExceed\":\"reject\",\"onMissingKey\":\"skip\"},{\"name\":\"overload\",\
\"key\":\"header:X-Over\",\"requests\":5,\"window\":\"1s\",\"onExceed\":\"reject\",\"onMissingKey\":\"skip\"}]"
read -r P_API P_1 P_2 P_3 M_1 M_2 M_3 PEER_A PEER_B <<< "$(free_ports 9)"
PORTS=("$P_1" "$P_2" "$P_3")
MGMT=("$M_1" "$M_2" "$M_3")

start api -- -jar "$API_JAR" -conf "{\"http\":{\"host\":\"127.0.0.1\",\"port\":$P_API},\"warmupRequests\":500}"
API_PID="${PIDS[-1]}"
await_line "$OUT/api.log" 'listening on port ([0-9]+)' "$API_PID" > /dev/null || die "the API did not start"

# up SYSTEM: starts its instances (their PIDs in INSTANCES, their proxy ports in TARGET_PORTS); false if not ready
up() {
  local system="$1" n="${1##*-}" i peer
  INSTANCES=(); TARGET_PORTS=("${PORTS[@]:0:$n}")
  for ((i = 0; i < n; i++)); do
    if [[ "$system" == haproxy-* ]]; then
      peer=hap-a; (( i == 1 )) && peer=hap-b
      env HAP_BIND="127.0.0.1:${PORTS[$i]}" HAP_API="127.0.0.1:$P_API" HAP_PEER_A="127.0.0.1:$PEER_A" \
        HAP_PEER_B="127.0.0.1:$PEER_B" HAP_KEY_LIMIT="$LIMIT" HAP_OVER_LIMIT=5 \
        haproxy -db -L "$peer" -f bench/haproxy/per-key.cfg < /dev/null > "$OUT/$system-$i.log" 2>&1 &
      PIDS+=("$!")
    else
      local cluster=()
      (( n > 1 )) && cluster=(-cluster)
      start "$system-$i" SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT="${PORTS[$i]}" SLUICE_MANAGEMENT_HOST=127.0.0.1 \
        SLUICE_MANAGEMENT_PORT="${MGMT[$i]}" SLUICE_UPSTREAMS="http://127.0.0.1:$P_API" \
        SLUICE_CLUSTER_NAME="per-user-$system-$$" SLUICE_POLICIES="$POLICIES" \
        -- -jar "$GW_JAR" "${cluster[@]}" -conf conf/gateway.json
    fi
    INSTANCES+=("${PIDS[-1]}")
  done
  for ((i = 0; i < n; i++)); do
    ready "$system" "$i" || { say "$system: instance $i did not get ready (see $OUT/$system-$i.log)"; return 1; }
  done
}

ready() {  # ready SYSTEM INDEX: HAProxy answers /health (no limited header: straight to the API); a gateway its readiness
  local url="http://127.0.0.1:${MGMT[$2]}/health/ready" i
  [[ "$1" == haproxy-* ]] && url="http://127.0.0.1:${PORTS[$2]}/health"
  for ((i = 0; i < 450; i++)); do
    curl -sf -m 1 -o /dev/null "$url" && return 0
    kill -0 "${INSTANCES[$2]}" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

down() {
  local pid keep=() q
  for pid in "${INSTANCES[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${INSTANCES[@]}"; do wait "$pid" 2>/dev/null; done
  for q in "${PIDS[@]}"; do [[ " ${INSTANCES[*]} " == *" $q "* ]] || keep+=("$q"); done
  PIDS=("${keep[@]}")
}

# wrk_load WORKLOAD SECONDS PREFIX: one wrk per instance, two threads and 64 connections in all
wrk_load() {
  local workload="$1" secs="$2" prefix="$3" n="${#TARGET_PORTS[@]}" hdr=() header=X-Key pids=() i threads conns
  if [[ "$workload" == leased ]]; then hdr=(-H 'X-Bench-Global: all'); header=X-Unlimited; fi
  threads=1; (( n == 1 )) && threads=2
  conns=$((64 / n))
  for ((i = 0; i < n; i++)); do
    KEYS="$KEYS" KEY_HEADER="$header" KEY_OFFSET=$((i * KEYS / n)) timeout -k 2 $((secs + 15)) \
      wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s bench/keys.lua "${hdr[@]}" \
      "http://127.0.0.1:${TARGET_PORTS[$i]}/api/hello" > "$prefix.$i.txt" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
}

wrk_figures() {  # wrk_figures SYSTEM WORKLOAD PREFIX N: req/s (sum) and p99 of the merged histograms
  python3 - "$@" <<'PY'
import re, sys
system, workload, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rps, non2xx, hist = 0.0, 0, {}
for i in range(n):
    text = open(f"{prefix}.{i}.txt").read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    rps += float(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    non2xx += int(m.group(1)) if m else 0
    m = re.search(r"latency-histogram: (.*)", text)
    for part in (m.group(1).split() if m else []):
        us, count = part.split(":")
        hist[int(us)] = hist.get(int(us), 0) + int(count)
total, seen, p99 = sum(hist.values()), 0, 0
for us in sorted(hist):
    seen += hist[us]
    if seen >= 0.99 * total:
        p99 = us
        break
print(f"{system}\t{workload}\treq_s={rps:.0f}\tp99_ms={p99 / 1000:.2f}\tnon2xx={non2xx}")
PY
}

streams() {  # streams PREFIX HEADER RATE: 100 --stream options, one key each
  local i
  for ((i = 0; i < 100; i++)); do printf -- '--stream name=%s%d,rate=%s,header=%s:%s%d ' "$1" "$i" "$3" "$2" "$1" "$i"; done
}

ol_load() {  # ol_load NAME WARMUP PREFIX HEADER RATE
  local targets="" port
  for port in "${TARGET_PORTS[@]}"; do targets+="${targets:+,}http://127.0.0.1:$port"; done
  # shellcheck disable=SC2046
  timeout -k 5 $((OL_S + 120)) java -cp "$OUT/lc" LoadClient --targets "$targets" --duration "${OL_S}s" \
    --warmup "$2" --csv "$OUT/$1.csv" $(streams "$3" "$4" "$5") > "$OUT/$1.txt" 2>&1
}

ol_figures() {  # ol_figures SYSTEM WORKLOAD FILE
  python3 - "$@" <<'PY'
import statistics, sys
system, workload, path = sys.argv[1:4]
rows = []
for line in open(path):
    line = line.strip()
    if line.startswith("summary: stream=") and "stream=TOTAL" not in line:
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
if not rows:
    print(f"{system}\t{workload}\tno-results")
    sys.exit(0)
num = lambda key: [float(r[key]) for r in rows if r[key] != "na"]
p50, p99, rate = num("lat2xxP50Ms"), num("lat2xxP99Ms"), num("meanPerSec")
print(f"{system}\t{workload}\tp50_ms={statistics.median(p50):.2f}\tp99_ms={statistics.median(p99):.2f}"
      f"\tworst_p99_ms={max(p99):.1f}\tper_key={statistics.median(rate):.3f}\tlowest={min(rate):.3f}"
      f"\tmax_window={max(int(r['maxWindow']) for r in rows)}"
      f"\tnot_forwarded={sum(int(r['sent']) - int(r['fwd']) for r in rows)}")
PY
}

: > "$OUT/per-user.tsv"
say "per-user.sh: $SYSTEMS; wrk ${WRK_WARM}+${WRK_S} s over $KEYS keys (limit $LIMIT/1s), open loop ${OL_WARM}+${OL_S} s; out $OUT"
for system in $SYSTEMS; do
  case "$system" in haproxy-1|haproxy-2|sluice-1|sluice-2|sluice-3) ;; *) die "unknown system $system" ;; esac
  up "$system" || { down; continue; }
  n="${#TARGET_PORTS[@]}"
  warm="$WRK_WARM"
  for workload in leased per-key; do
    prefix="$OUT/$system-$workload"
    wrk_load "$workload" "$warm" "$prefix.warm"
    warm=10
    wrk_load "$workload" "$WRK_S" "$prefix"
    wrk_figures "$system" "$workload" "$prefix" "$n" | tee -a "$OUT/per-user.tsv"
  done
  ol_load "$system-latency" "$OL_WARM" u X-Key 3
  ol_figures "$system" latency "$OUT/$system-latency.txt" | tee -a "$OUT/per-user.tsv"
  ol_load "$system-overload" 0s o X-Over 10
  ol_figures "$system" overload "$OUT/$system-overload.txt" | tee -a "$OUT/per-user.tsv"
  down
done
say "per-user.sh: done in $SECONDS s; figures in $OUT/per-user.tsv"
