#!/usr/bin/env bash
# bench/soak.sh: three clustered gateways under a steady 2x overload for up to 15 minutes, with one gateway killed
# (kill -9) and started again every 2 minutes, in turn, and the API restarted once, half way. The load is
# bench/LoadClient.java (open loop) spread round robin over the three gateways: a "global" stream at twice a global
# limit, and SOAK_TOKENS token streams each at twice a per-token limit. Afterwards bench/soak_report.py prints, per
# second, what the API received against the limits, the errors and each gateway's RSS, draws it (SVG), and states
# the failures: a window over a limit, an error that is not a request sent to a killed gateway or to the API while it
# was down, RSS growing after warm-up.
#
# Usage: bench/soak.sh [--build]
# Environment: SOAK_SECONDS (840, at most 900), SOAK_KILL_EVERY (120), SOAK_TOKENS (1000),
#              SOAK_GLOBAL_LIMIT (20 per 1 s), SOAK_TOKEN_LIMIT (1 per 2 s), SOAK_OUT (target/soak)
# Only loopback; fixed free ports are picked at start (a killed gateway comes back on its own ports).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_TOTAL="${SOAK_SECONDS:-840}"
KILL_EVERY="${SOAK_KILL_EVERY:-120}"
TOKENS="${SOAK_TOKENS:-1000}"
GLOBAL_LIMIT="${SOAK_GLOBAL_LIMIT:-20}"
TOKEN_LIMIT="${SOAK_TOKEN_LIMIT:-1}"
OUT="${SOAK_OUT:-target/soak}"
CLASSES="$OUT/classes"
(( SECONDS_TOTAL <= 900 )) || { echo "soak.sh: SOAK_SECONDS at most 900" >&2; exit 2; }
NAME=soak.sh
source bench/jars.sh
parse_build_option "$@"

for tool in java javac python3 awk; do command -v "$tool" >/dev/null || die "$tool not found"; done
build_jars "$BUILD"
mkdir -p "$OUT" "$CLASSES"
rm -f "$OUT"/*.log "$OUT"/*.txt "$OUT"/*.csv "$OUT"/*.json "$OUT"/*.svg
javac -d "$CLASSES" bench/LoadClient.java || die "cannot compile bench/LoadClient.java"

POLICIES="[{\"name\":\"global\",\"key\":\"header:X-Global\",\"requests\":$GLOBAL_LIMIT,\"window\":\"1s\",\"onMissingKey\":\"skip\"},\
{\"name\":\"per-token\",\"key\":\"header:X-Api-Key\",\"requests\":$TOKEN_LIMIT,\"window\":\"2s\",\"onMissingKey\":\"skip\"}]"
CLUSTER="soak-$$-$RANDOM"
# ports: API, then proxy and management port of each gateway
read -r -a PORTS <<< "$(free_ports 7)"
API_PORT="${PORTS[0]}"
declare -A GW_PID
now_ms() { date +%s%3N; }
event() { printf '%s %s\n' "$(now_ms)" "$*" >> "$OUT/events.txt"; say "[$(date +%T)] $*"; }

start_api() {
  # warmed up before it listens (as conf/api.json does), so a restarted API is not a cold one that stamps a backlog
  # of arrivals late and together
  start api -- -jar "$API_JAR" -conf "{\"http\": {\"host\": \"127.0.0.1\", \"port\": $API_PORT}, \"warmupRequests\": 500}"
  API_PID="${PIDS[-1]}"
  await_line "$OUT/api.log" "listening on port ($API_PORT)" "$API_PID" > /dev/null || die "the API did not start"
}
start_gateway() {  # start_gateway I (1..3)
  local i="$1" hp="${PORTS[$((2 * $1 - 1))]}" mp="${PORTS[$((2 * $1))]}"
  start "gateway-$i-$(now_ms)" SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT="$hp" SLUICE_MANAGEMENT_HOST=127.0.0.1 \
    SLUICE_MANAGEMENT_PORT="$mp" SLUICE_UPSTREAMS="http://127.0.0.1:$API_PORT" SLUICE_CLUSTER_NAME="$CLUSTER" \
    SLUICE_POLICIES="$POLICIES" -- -Xmx512m -jar "$GW_JAR" -cluster -conf conf/gateway.json
  GW_PID[$i]="${PIDS[-1]}"
}
ready() {  # ready I: wait up to 60 s for /health/ready
  local i="$1" mp="${PORTS[$((2 * $1))]}" n
  for ((n = 0; n < 600; n++)); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$mp/health/ready', timeout=1)" \
      2>/dev/null && return 0
    kill -0 "${GW_PID[$i]}" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start_api
for i in 1 2 3; do start_gateway "$i"; ready "$i" || die "gateway $i did not get ready"; done
event "ready: API :$API_PORT, gateways :${PORTS[1]} :${PORTS[3]} :${PORTS[5]}, cluster $CLUSTER"

STREAMS=(--stream "name=global,rate=$((GLOBAL_LIMIT * 2)),header=X-Global:all")
TOKEN_RATE="$(awk -v l="$TOKEN_LIMIT" 'BEGIN { printf "%g", 2 * l / 2 }')"   # twice TOKEN_LIMIT per 2 s
for ((t = 0; t < TOKENS; t++)); do STREAMS+=(--stream "name=t$t,rate=$TOKEN_RATE,header=X-Api-Key:token-$t"); done
timeout -k 5 $((SECONDS_TOTAL + 60)) java -Xmx1g -cp "$CLASSES" LoadClient \
  --targets "http://127.0.0.1:${PORTS[1]},http://127.0.0.1:${PORTS[3]},http://127.0.0.1:${PORTS[5]}" \
  "${STREAMS[@]}" --warmup 10s --duration "${SECONDS_TOTAL}s" --timeout 5s --connections 8 --nice 0 \
  --csv "$OUT/requests.csv" --json "$OUT/load.json" > "$OUT/load.txt" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
event "load started: global $((GLOBAL_LIMIT * 2))/s against $GLOBAL_LIMIT/1s, $TOKENS tokens at $TOKEN_RATE/s against $TOKEN_LIMIT/2s"

# RSS of each gateway every 5 s; kills and restarts on their schedule; the API restarted once, half way
started=$SECONDS
next_kill=$((started + 10 + KILL_EVERY))
api_restart=$((started + 10 + SECONDS_TOTAL / 2 + KILL_EVERY / 4))
victim=1
printf 'epoch_ms,gateway,rss_kib\n' > "$OUT/rss.csv"
while kill -0 "$LOAD_PID" 2>/dev/null; do
  for i in 1 2 3; do
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/${GW_PID[$i]}/status" 2>/dev/null || true)"
    [[ -n "$rss" ]] && printf '%s,%s,%s\n' "$(now_ms)" "$i" "$rss" >> "$OUT/rss.csv"
  done
  if (( SECONDS >= next_kill && SECONDS < started + 10 + SECONDS_TOTAL - 30 )); then
    event "kill -9 gateway $victim (pid ${GW_PID[$victim]})"
    kill -KILL "${GW_PID[$victim]}"
    start_gateway "$victim"
    if ready "$victim"; then event "gateway $victim ready again (pid ${GW_PID[$victim]})";
    else event "gateway $victim did NOT get ready again"; fi
    victim=$((victim % 3 + 1))
    next_kill=$((next_kill + KILL_EVERY))
  fi
  if (( api_restart > 0 && SECONDS >= api_restart )); then
    event "API stopped (SIGTERM, pid $API_PID)"
    kill -TERM "$API_PID"
    while kill -0 "$API_PID" 2>/dev/null; do sleep 0.05; done
    start_api
    event "API started again (pid $API_PID)"
    api_restart=0
  fi
  sleep 5
done
wait "$LOAD_PID"
event "load finished (exit $?)"
# what each gateway's limiter went through in its current life, and how often any gateway decided alone
for i in 1 2 3; do
  mp="${PORTS[$((2 * i))]}"
  python3 - "$mp" "$i" > "$OUT/stats-$i.txt" 2>&1 <<'PY'
import json, sys, urllib.request
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/stats", timeout=5))
keys = ["forwarded", "overloaded", "decidedAgainWhenLate", "decidedAgainLateBy", "staleOnStoreAnswer", "storeFailures",
        "limiterModeSwitches", "limiterMode"]
print(f"gateway {sys.argv[2]} (since its last start): " + ", ".join(f"{k} {stats.get(k)}" for k in keys))
PY
  say "$(cat "$OUT/stats-$i.txt")"
done
say "switches to deciding alone, all gateway lives: $(cat "$OUT"/gateway-*.log 2>/dev/null | grep -c -- '-> DEGRADED (')"
python3 bench/soak_report.py "$OUT" "$GLOBAL_LIMIT" "$TOKEN_LIMIT"
