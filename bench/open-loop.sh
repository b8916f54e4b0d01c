#!/usr/bin/env bash
# bench/open-loop.sh: issue 14's open-loop runs, per-user limits over 100 keys, each key its own paced stream
# (bench/LoadClient.java: sends on schedule whatever the answers, so no coordinated omission).
#
#   latency    100 keys x 3 r/s against a per-key limit of 10/1 s (never hit), OL_SECONDS measured after OL_WARM
#              of the same load unmeasured: first against one gateway (in-memory store), then against two clustered
#              gateways (-cluster), each key's requests round robin over both
#   overload   then, on the same two gateways, OL_RUNS runs of 100 keys x 10 r/s against 5/1 s (reject): twice the
#              limit, OL_SECONDS measured, no warm-up of their own
#   figures    per run, over the 100 keys: median p50 and p99 of the 2xx latencies (and the worst key's p99), the
#              forwarded rate per key (median and lowest), the most forwarded in any 1 s window at the API
#              (X-Upstream-Received-At), and the gateways' /stats counters over the run (requests decided again,
#              store calls over limiter.storeTimeout)
#   haproxy    then (unless OL_HAPROXY=false, or without haproxy) the same runs against HAProxy as the setup Sluice
#              replaces (bench/haproxy/per-key.cfg: a stick table per header, excess 429): the latency run on one
#              instance and on two sharing their tables through peers, then the overload runs on the two
#   pass/fail  none: it prints figures (issue 14's targets: p50 added <= 1 ms and p99 added <= 5 ms under the limit;
#              at 2x never over the limit, >= 97% forwarded per key, p99 <= 30 ms)
#
# Usage: bench/open-loop.sh [--build]
#   over the limit  after each overload run, bench/over_limit.py lists the windows that held more than 5 of a key at
#              the API and the requests in them (gateway, transit from send to API receipt); with OL_PAUSES=true the
#              API and the gateways log their safepoints (-Xlog:safepoint) and the pauses that overlap the slowest
#              transit are listed with it (bench/pauses.py)
# Environment: OL_SECONDS (20), OL_WARM (40s), OL_RUNS (2), OL_HAPROXY (true), OL_PAUSES (false), OL_GATEWAY_ENV (one VAR=VALUE more for every gateway,
#              e.g. SLUICE_LIMITER_ON_STORE_FAILURE=closed), OL_OUT (target/open-loop)
# Everything runs on 127.0.0.1; every process it starts is stopped on exit, by PID. At most about
# 60 s + 2 x (OL_WARM + OL_SECONDS) + OL_RUNS x OL_SECONDS of load, twice with HAProxy.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NAME=open-loop.sh
OUT="${OL_OUT:-target/open-loop}"
SECS="${OL_SECONDS:-20}"
WARM="${OL_WARM:-40s}"
RUNS="${OL_RUNS:-2}"
mkdir -p "$OUT"
source bench/jars.sh
parse_build_option "$@"
for tool in java javac curl python3; do command -v "$tool" > /dev/null || die "$tool not found"; done
build_jars "$BUILD"
javac -d "$OUT/lc" bench/LoadClient.java || die "LoadClient did not compile"

POLICIES='[{"name":"latency","key":"header:X-Key","requests":10,"window":"1s","onExceed":"reject","onMissingKey":"skip"},
 {"name":"overload","key":"header:X-Over","requests":5,"window":"1s","onExceed":"reject","onMissingKey":"skip"}]'
POLICIES="$(tr -d '\n' <<< "$POLICIES")"
read -r P_API P_A P_B M_A M_B PEER_A PEER_B <<< "$(free_ports 7)"

# safepoint_log NAME: the JVM option that logs NAME's safepoints with wall-clock times, when OL_PAUSES=true
safepoint_log() {
  [[ "${OL_PAUSES:-false}" == true ]] && echo "JAVA_TOOL_OPTIONS=-Xlog:safepoint:file=$OUT/$1-safepoint.log:time"
}
rm -f "$OUT"/*-safepoint.log
start api $(safepoint_log api) -- -jar "$API_JAR" -conf "{\"http\":{\"host\":\"127.0.0.1\",\"port\":$P_API},\"warmupRequests\":500}"
API_PID="${PIDS[-1]}"
await_line "$OUT/api.log" 'listening on port ([0-9]+)' "$API_PID" > /dev/null || die "the API did not start"

gateway() {  # gateway NAME PORT MGMT_PORT MODE...
  start "$1" SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT="$2" SLUICE_MANAGEMENT_HOST=127.0.0.1 \
    SLUICE_MANAGEMENT_PORT="$3" SLUICE_UPSTREAMS="http://127.0.0.1:$P_API" SLUICE_CLUSTER_NAME="open-loop-$$" \
    SLUICE_POLICIES="$POLICIES" ${OL_GATEWAY_ENV:+"$OL_GATEWAY_ENV"} $(safepoint_log "$1") \
    -- -jar "$GW_JAR" "${@:4}" -conf conf/gateway.json
}
ready() {  # ready MGMT_PORT PID
  local i
  for ((i = 0; i < 450; i++)); do
    curl -sf -m 1 -o /dev/null "http://127.0.0.1:$1/health/ready" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
streams() {  # streams PREFIX HEADER RATE: 100 --stream options, one key each
  local i
  for ((i = 0; i < 100; i++)); do printf -- '--stream name=%s%d,rate=%s,header=%s:%s%d ' "$1" "$i" "$3" "$2" "$1" "$i"; done
}
stats() { curl -sf -m 2 "http://127.0.0.1:$1/stats" || echo '{}'; }
load() {  # load NAME TARGETS WARMUP PREFIX HEADER RATE
  # shellcheck disable=SC2046
  timeout -k 5 $((SECS + 120)) java -cp "$OUT/lc" LoadClient --targets "$2" --duration "${SECS}s" --warmup "$3" \
    --csv "$OUT/$1.csv" --json "$OUT/$1.json" $(streams "$4" "$5" "$6") > "$OUT/$1.txt" 2>&1
}
over_limit() {  # over_limit NAME: the windows over 5 at the API in that run, and what was slow in them
  local pauses=()
  if [[ "${OL_PAUSES:-false}" == true ]]; then
    python3 bench/pauses.py 5 "$OUT"/*-safepoint.log > "$OUT/pauses.tsv" 2> "$OUT/pauses-summary.txt"
    pauses=("$OUT/pauses.tsv")
  fi
  python3 bench/over_limit.py 5 1000 "$OUT/$1.csv" "$OUT/$1.json" "${pauses[@]}" > "$OUT/$1-over.txt"
  tail -n 1 "$OUT/$1-over.txt"
}
report() {  # report NAME LABEL [STATS_BEFORE_A STATS_BEFORE_B STATS_AFTER_A STATS_AFTER_B]
  python3 - "$OUT/$1.txt" "$2" "${@:3}" <<'PY'
import json, statistics, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("summary: stream=") and "stream=TOTAL" not in line:
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
if not rows:
    print(f"{sys.argv[2]}: no results (see {sys.argv[1]})")
    sys.exit(0)
num = lambda key: [float(r[key]) for r in rows if r[key] != "na"]
p50, p99, rate = num("lat2xxP50Ms"), num("lat2xxP99Ms"), num("meanPerSec")
line = (f"{sys.argv[2]}: p50 {statistics.median(p50):.2f} ms, p99 {statistics.median(p99):.2f} ms "
        f"(worst key {max(p99):.1f}); forwarded per key {statistics.median(rate):.3f}/s (lowest "
        f"{min(rate):.3f}); most in a 1 s window at the API {max(int(r['maxWindow']) for r in rows)}; "
        f"not forwarded {sum(int(r['sent']) - int(r['fwd']) for r in rows)}")
if len(sys.argv) == 7:
    before, after = [json.loads(s) for s in sys.argv[3:5]], [json.loads(s) for s in sys.argv[5:7]]
    delta = lambda k: sum(a.get(k, 0) - b.get(k, 0) for a, b in zip(after, before))
    line += f"; decided again {delta('decidedAgainWhenLate')}, store calls over the timeout {delta('storeFailures')}"
print(line)
PY
}

say "open-loop.sh: 100 keys; latency runs ${WARM} + ${SECS} s, then $RUNS overload runs of ${SECS} s; out $OUT"
gateway one "$P_A" "$M_A"
ready "$M_A" "${PIDS[-1]}" || die "the single gateway did not get ready (see $OUT/one.log)"
load one-latency "http://127.0.0.1:$P_A" "$WARM" u X-Key 3
report one-latency "one gateway, in memory, 100 keys x 3 r/s (limit 10/1s)"
kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null; unset 'PIDS[-1]'

gateway a "$P_A" "$M_A" -cluster
gateway b "$P_B" "$M_B" -cluster
ready "$M_A" "${PIDS[-2]}" && ready "$M_B" "${PIDS[-1]}" || die "the clustered gateways did not get ready"
TARGETS="http://127.0.0.1:$P_A,http://127.0.0.1:$P_B"
load two-latency "$TARGETS" "$WARM" u X-Key 3
report two-latency "two clustered gateways, 100 keys x 3 r/s (limit 10/1s)"
metrics() { curl -sf -m 2 "http://127.0.0.1:$1/metrics" | grep '^sluice_upstream_response_seconds_bucket' || true; }
upstream_answers() {  # upstream_answers NAME: from the gateways' sluice_upstream_response_seconds over the run
  python3 - "$OUT/$1.metrics-before" "$OUT/$1.metrics-after" <<'PY'
import re, sys
def buckets(path):
    b = {}
    for line in open(path):
        m = re.match(r'sluice_upstream_response_seconds_bucket\{.*le="([^"]+)".*\} (\S+)', line)
        if m:
            b[m.group(1)] = b.get(m.group(1), 0) + float(m.group(2))
    return b
before, after = buckets(sys.argv[1]), buckets(sys.argv[2])
d = {le: after[le] - before.get(le, 0) for le in after}
total = d.get("+Inf", 0)
if total:
    over = lambda le: total - d.get(le, total)
    print(f"  upstream answers (from leaving the gateway to the response head): {total:.0f}, over 10 ms {over('0.01'):.0f}, "
          f"over 25 ms {over('0.025'):.0f}, over 50 ms {over('0.05'):.0f}, over 100 ms {over('0.1'):.0f}")
PY
}
for ((run = 1; run <= RUNS; run++)); do
  { metrics "$M_A"; metrics "$M_B"; } > "$OUT/overload-$run.metrics-before"
  sa="$(stats "$M_A")"; sb="$(stats "$M_B")"
  load "overload-$run" "$TARGETS" 0s "o$run-" X-Over 10
  report "overload-$run" "two clustered gateways, 100 keys x 10 r/s against 5/1s, run $run" \
    "$sa" "$sb" "$(stats "$M_A")" "$(stats "$M_B")"
  { metrics "$M_A"; metrics "$M_B"; } > "$OUT/overload-$run.metrics-after"
  upstream_answers "overload-$run"
  over_limit "overload-$run"
done
# the two gateways go (their ports serve the HAProxies next); the API stays
GA_PID="${PIDS[-2]}"; GB_PID="${PIDS[-1]}"
kill -TERM "$GA_PID" "$GB_PID"; wait "$GA_PID" "$GB_PID" 2>/dev/null
PIDS=("${PIDS[@]:0:${#PIDS[@]}-2}")

[[ "${OL_HAPROXY:-true}" == true ]] || exit 0
command -v haproxy > /dev/null || { say "haproxy not found: no HAProxy runs"; exit 0; }
haproxy_instance() {  # haproxy_instance NAME PORT PEER_NAME
  env HAP_BIND="127.0.0.1:$2" HAP_API="127.0.0.1:$P_API" HAP_PEER_A="127.0.0.1:$PEER_A" HAP_PEER_B="127.0.0.1:$PEER_B" \
    HAP_KEY_LIMIT=10 HAP_OVER_LIMIT=5 haproxy -db -L "$3" -f bench/haproxy/per-key.cfg < /dev/null > "$OUT/$1.log" 2>&1 &
  PIDS+=("$!")
}
listening() {  # listening PORT PID
  local i
  for ((i = 0; i < 50; i++)); do
    curl -sf -m 1 -o /dev/null "http://127.0.0.1:$1/health" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
haproxy_instance hap-one "$P_A" hap-a
listening "$P_A" "${PIDS[-1]}" || die "HAProxy did not start (see $OUT/hap-one.log)"
load hap-one-latency "http://127.0.0.1:$P_A" "$WARM" u X-Key 3
report hap-one-latency "one HAProxy, 100 keys x 3 r/s (limit 10/1s)"
kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null; unset 'PIDS[-1]'

haproxy_instance hap-a "$P_A" hap-a
haproxy_instance hap-b "$P_B" hap-b
listening "$P_A" "${PIDS[-2]}" && listening "$P_B" "${PIDS[-1]}" || die "the two HAProxies did not start"
load hap-two-latency "$TARGETS" "$WARM" u X-Key 3
report hap-two-latency "two HAProxies (peers), 100 keys x 3 r/s (limit 10/1s)"
for ((run = 1; run <= RUNS; run++)); do
  load "hap-overload-$run" "$TARGETS" 0s "h$run-" X-Over 10
  report "hap-overload-$run" "two HAProxies (peers), 100 keys x 10 r/s against 5/1s, run $run"
done
