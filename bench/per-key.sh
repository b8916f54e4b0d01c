#!/usr/bin/env bash
# bench/per-key.sh: two clustered gateways under per-key limits over 10,000 keys, against the same two gateways with
# only a big global limit (served locally by leases), for one or more builds of the gateway jar, interleaved.
#
#   workloads  global   header X-Bench-Global: all -> policy global-high, 100,000,000/1s (leased, never hit)
#              per-key  header X-Key: k0..k9999 round robin (bench/keys.lua) -> policy per-token, PK_LIMIT/1s
#                       (default 10/1s, the issue's case; never hit: each key sees a few requests per second)
#   load       one wrk per gateway in parallel, -t1 -c$PK_CONNS each, PK_SECONDS s measured after PK_WARM s unmeasured;
#              both workloads run bench/keys.lua (the global one sets an unlimited header), so Lua costs the same
#   figures    req/s (sum), p99 of the merged latency histograms, non-2xx, store round trips per request,
#              operations per round trip and store failures (deltas of the gateways' /stats over the measured run),
#              and the limiter mode of each gateway after the run (SHARED, or DEGRADED: it decided alone)
#   order      rep 1: the builds in the order given, rep 2 reversed, ... each build on a fresh cluster per rep
#
# Usage: bench/per-key.sh LABEL=GATEWAY_JAR[@VAR=VALUE] [LABEL=GATEWAY_JAR[@VAR=VALUE] ...] [haproxy]
#   VAR=VALUE is one more environment variable for that label's gateways, e.g. SLUICE_LIMITER_BATCH=true
#   haproxy: two HAProxy instances instead of two gateways (bench/haproxy/per-key.cfg: a stick table per header,
#   shared through peers), the same workloads and limits; no /stats, so no round trips
#   e.g. bench/per-key.sh main=/tmp/sluice-main/gateway-verticle/target/gateway-verticle.jar \
#          off=gateway-verticle/target/gateway-verticle.jar \
#          batch=gateway-verticle/target/gateway-verticle.jar@SLUICE_LIMITER_BATCH=true
# Environment: PK_REPS (3), PK_SECONDS (8), PK_WARM (3), PK_CONNS (32), PK_LIMIT (10), PK_KEYS (10000),
#              PK_BASE_PORT (19400), PK_BUDGET (seconds before it stops, 1200), API_JAR, PK_OUT (bench/out-per-key),
#              PK_STORE_TIMEOUT (limiter.storeTimeout, e.g. 1s; default: conf/gateway.json's)
# Everything runs on 127.0.0.1 at nice 15; every process it starts is stopped on exit, by PID.
set -uo pipefail
if [[ -z "${PK_NICED:-}" ]]; then exec env PK_NICED=1 nice -n 15 "$0" "$@"; fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REPS="${PK_REPS:-3}"
MEASURE="${PK_SECONDS:-8}"
WARM="${PK_WARM:-3}"
CONNS="${PK_CONNS:-32}"
LIMIT="${PK_LIMIT:-10}"
KEYS="${PK_KEYS:-10000}"
BASE="${PK_BASE_PORT:-19400}"
BUDGET="${PK_BUDGET:-1200}"
OUT="${PK_OUT:-bench/out-per-key}"
NAME=per-key
mkdir -p "$OUT"
source bench/jars.sh
API_JAR="${API_JAR:-api-verticle/target/api-verticle.jar}"
SECONDS=0

(( $# >= 1 )) || die "usage: bench/per-key.sh LABEL=GATEWAY_JAR [LABEL=GATEWAY_JAR ...]"
LABELS=()
declare -A JAR_OF=() EXTRA_OF=()
for arg in "$@"; do
  if [[ "$arg" == haproxy ]]; then
    command -v haproxy > /dev/null || die "haproxy not found"
    LABELS+=(haproxy); continue
  fi
  [[ "$arg" == *=* ]] || die "not LABEL=JAR (or haproxy): $arg"
  label="${arg%%=*}"; jar="${arg#*=}"; extra=""
  if [[ "$jar" == *@* ]]; then extra="${jar#*@}"; jar="${jar%%@*}"; fi
  EXTRA_OF[$label]="$extra"
  [[ -f "$jar" ]] || die "no jar at $jar"
  mkdir -p "$OUT/jars/$label"
  cp "$jar" "$OUT/jars/$label/gateway.jar"   # a rebuild during the run cannot disturb it
  LABELS+=("$label"); JAR_OF[$label]="$OUT/jars/$label/gateway.jar"
done
[[ -f "$API_JAR" ]] || die "no API jar at $API_JAR (build it, or set API_JAR)"
for tool in java wrk curl python3 timeout; do command -v "$tool" > /dev/null || die "$tool not found"; done

P_API=$BASE; P_GA=$((BASE + 1)); P_GB=$((BASE + 2)); M_GA=$((BASE + 11)); M_GB=$((BASE + 12))
PEER_A=$((BASE + 21)); PEER_B=$((BASE + 22))
POLICIES="[{\"name\":\"global-high\",\"key\":\"header:X-Bench-Global\",\"requests\":100000000,\"window\":\"1s\",\
\"onExceed\":\"reject\",\"onMissingKey\":\"skip\"},{\"name\":\"per-token\",\"key\":\"header:X-Key\",\
\"requests\":$LIMIT,\"window\":\"1s\",\"onExceed\":\"reject\",\"onMissingKey\":\"skip\"}]"

# start_haproxy NAME ENV=VALUE... ARGS...: as jars.sh's start, for HAProxy
start_haproxy() {
  local name="$1" envs=()
  shift
  while [[ "$1" == *=* ]]; do envs+=("$1"); shift; done
  env "${envs[@]}" haproxy "$@" < /dev/null > "$OUT/$name.log" 2>&1 &
  PIDS+=("$!")
}

over_budget() { (( SECONDS > BUDGET )); }

# stop_some PID...: SIGTERM, up to 10 s, then SIGKILL; forgets them
stop_some() {
  local p i alive
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 100; i++)); do
    alive=false
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  local keep=() q
  for q in "${PIDS[@]}"; do [[ " $* " == *" $q "* ]] || keep+=("$q"); done
  PIDS=("${keep[@]}")
}

wait_ready() {  # wait_ready URL PID SECONDS
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    curl -sf -m 1 -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

stats() { curl -sf -m 2 "http://127.0.0.1:$1/stats" || echo '{}'; }

# load WORKLOAD SECONDS PREFIX: one wrk per gateway, in parallel
load() {
  local workload="$1" secs="$2" prefix="$3" hdr=() pids=() i=0 port
  if [[ "$workload" == global ]]; then hdr=(-H 'X-Bench-Global: all'); header=X-Unlimited; else header=X-Key; fi
  for port in "$P_GA" "$P_GB"; do
    KEYS="$KEYS" KEY_HEADER="$header" KEY_OFFSET=$((i * KEYS / 2)) timeout -k 2 $((secs + 15)) \
      wrk -t1 -c"$CONNS" -d"${secs}s" --latency -s bench/keys.lua "${hdr[@]}" "http://127.0.0.1:$port/api/hello" \
      > "$prefix.$i.txt" 2>&1 &
    pids+=($!); PIDS+=($!); i=$((i + 1))
  done
  for i in "${pids[@]}"; do wait "$i"; done
  local keep=() q
  for q in "${PIDS[@]}"; do [[ " ${pids[*]} " == *" $q "* ]] || keep+=("$q"); done
  PIDS=("${keep[@]}")
}

# figures LABEL WORKLOAD REP PREFIX BEFORE_A BEFORE_B AFTER_A AFTER_B: one line of results.tsv
figures() {
  python3 - "$@" <<'PY'
import json, re, sys
label, workload, rep, prefix = sys.argv[1:5]
before = [json.loads(s) for s in sys.argv[5:7]]
after = [json.loads(s) for s in sys.argv[7:9]]
rps, non2xx, hist = 0.0, 0, {}
for i in (0, 1):
    text = open(f"{prefix}.{i}.txt").read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    rps += float(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    non2xx += int(m.group(1)) if m else 0
    m = re.search(r"latency-histogram: (.*)", text)
    for part in (m.group(1).split() if m else []):
        us, n = part.split(":")
        hist[int(us)] = hist.get(int(us), 0) + int(n)
total = sum(hist.values())
p99, seen = 0, 0
for us in sorted(hist):
    seen += hist[us]
    if seen >= 0.99 * total:
        p99 = us
        break
def delta(field):
    if any(field not in s for s in before + after):
        return None
    return sum(a[field] - b[field] for a, b in zip(after, before))
trips = delta("storeRoundTrips")
requests = (delta("forwarded") or 0) + (delta("rejected") or 0)
ops = delta("storeOperations")
per_request = trips / requests if trips is not None and requests else float("nan")
per_trip = ops / trips if ops is not None and trips else float("nan")
failures = delta("storeFailures")
modes = "/".join(s.get("limiterMode", "?") for s in after)
print(f"{label}\t{workload}\t{rep}\t{rps:.0f}\t{p99 / 1000:.1f}\t{non2xx}\t{per_request:.3f}\t{per_trip:.2f}\t{requests}"
      f"\t{failures}\t{modes}")
PY
}

say "per-key.sh: ${LABELS[*]}; $REPS reps, ${WARM}+${MEASURE} s per run, -t1 -c$CONNS per gateway, limit $LIMIT/1s over $KEYS keys, store timeout ${PK_STORE_TIMEOUT:-as configured}; out $OUT"
start api -- -jar "$API_JAR" -conf "{\"http\":{\"host\":\"127.0.0.1\",\"port\":$P_API},\"warmupRequests\":500}"
API_PID="${PIDS[-1]}"
wait_ready "http://127.0.0.1:$P_API/health" "$API_PID" 30 || die "the API did not start (see $OUT/api.log)"
printf 'label\tworkload\trep\treq_s\tp99_ms\tnon2xx\tround_trips_per_request\toperations_per_round_trip\trequests\tstore_failures\tmodes_after\n' \
  > "$OUT/results.tsv"

for ((rep = 1; rep <= REPS; rep++)); do
  order=("${LABELS[@]}")
  if (( rep % 2 == 0 )); then
    order=(); for ((j = ${#LABELS[@]} - 1; j >= 0; j--)); do order+=("${LABELS[$j]}"); done
  fi
  for label in "${order[@]}"; do
    over_budget && { say "budget of $BUDGET s spent: stopping"; break 2; }
    cluster="per-key-$label-$rep-$$"
    gw=()
    if [[ "$label" == haproxy ]]; then
      for side in a b; do
        hp=$P_GA; [[ $side == b ]] && hp=$P_GB
        start_haproxy "$label-$rep-hap-$side" HAP_BIND="127.0.0.1:$hp" HAP_API="127.0.0.1:$P_API" \
          HAP_PEER_A="127.0.0.1:$PEER_A" HAP_PEER_B="127.0.0.1:$PEER_B" HAP_KEY_LIMIT="$LIMIT" HAP_OVER_LIMIT="$LIMIT" \
          -db -L "hap-$side" -f bench/haproxy/per-key.cfg
        gw+=("${PIDS[-1]}")
      done
    fi
    for side in a b; do
      [[ "$label" == haproxy ]] && break
      hp=$P_GA; mp=$M_GA; [[ $side == b ]] && { hp=$P_GB; mp=$M_GB; }
      start "$label-$rep-gw-$side" SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT=$hp SLUICE_MANAGEMENT_HOST=127.0.0.1 \
        SLUICE_MANAGEMENT_PORT=$mp SLUICE_UPSTREAMS="http://127.0.0.1:$P_API" SLUICE_CLUSTER_NAME="$cluster" \
        SLUICE_POLICIES="$POLICIES" ${PK_STORE_TIMEOUT:+SLUICE_LIMITER_STORE_TIMEOUT=$PK_STORE_TIMEOUT} \
        ${EXTRA_OF[$label]:+"${EXTRA_OF[$label]}"} -- -jar "${JAR_OF[$label]}" -cluster -conf conf/gateway.json
      gw+=("${PIDS[-1]}")
    done
    ready_a="http://127.0.0.1:$M_GA/health/ready"; ready_b="http://127.0.0.1:$M_GB/health/ready"
    # HAProxy has no readiness endpoint: a request without a limited header goes straight to the API
    [[ "$label" == haproxy ]] && { ready_a="http://127.0.0.1:$P_GA/health"; ready_b="http://127.0.0.1:$P_GB/health"; }
    if ! wait_ready "$ready_a" "${gw[0]}" 90 || ! wait_ready "$ready_b" "${gw[1]}" 90; then
      say "$label rep $rep: gateways not ready (see $OUT/$label-$rep-gw-*.log); skipped"
      stop_some "${gw[@]}"; continue
    fi
    for workload in global per-key; do
      prefix="$OUT/$label-$workload-$rep"
      load "$workload" "$WARM" "$prefix.warm"
      sa="$(stats $M_GA)"; sb="$(stats $M_GB)"
      load "$workload" "$MEASURE" "$prefix"
      ea="$(stats $M_GA)"; eb="$(stats $M_GB)"
      printf '%s\n' "$sa" "$sb" "$ea" "$eb" > "$prefix.stats"   # before a, before b, after a, after b
      line="$(figures "$label" "$workload" "$rep" "$prefix" "$sa" "$sb" "$ea" "$eb")"
      printf '%s\n' "$line" >> "$OUT/results.tsv"
      say "$(awk -F'\t' '{printf "%-8s %-8s rep %s: %6d req/s  p99 %5.1f ms  non-2xx %d  round trips/request %s  ops/round trip %s  store failures %s (%s)", $1, $2, $3, $4, $5, $6, $7, $8, $10, $11}' <<< "$line")"
    done
    stop_some "${gw[@]}"
  done
done

say ""
say "summary (ranges over reps; per-key/global is per rep, same build and cluster):"
python3 - "$OUT/results.tsv" <<'PY'
import csv, sys, collections
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = collections.defaultdict(list)
for r in rows:
    by[(r["label"], r["workload"])].append(r)
def rng(values, fmt):
    values = [v for v in values if v == v]
    return "-" if not values else (fmt % min(values)) + ("" if min(values) == max(values) else "–" + fmt % max(values))
labels = list(dict.fromkeys(r["label"] for r in rows))
print(f"{'build':8} {'workload':8} {'req/s':>15} {'p99 ms':>11} {'trips/request':>14} {'ops/trip':>10}")
for label in labels:
    for workload in ("global", "per-key"):
        rs = by.get((label, workload), [])
        print(f"{label:8} {workload:8} {rng([float(r['req_s']) for r in rs], '%.0f'):>15} "
              f"{rng([float(r['p99_ms']) for r in rs], '%.1f'):>11} "
              f"{rng([float(r['round_trips_per_request']) for r in rs], '%.3f'):>14} "
              f"{rng([float(r['operations_per_round_trip']) for r in rs], '%.2f'):>10}")
    ratios = []
    for g in by.get((label, "global"), []):
        for p in by.get((label, "per-key"), []):
            if p["rep"] == g["rep"] and float(g["req_s"]) > 0:
                ratios.append(float(p["req_s"]) / float(g["req_s"]))
    print(f"{label:8} per-key/global throughput: {rng(ratios, '%.2f')}x")
PY
say "total ${SECONDS} s; raw outputs in $OUT"
