#!/usr/bin/env bash
# bench/slow-clients.sh: many slow clients against one gateway. An open-loop client (bench/LoadClient.java) sends
# 200 requests/s through the gateway for 20 s, first alone, then while bench/slow_clients.py holds 2,000
# connections that trickle a request head one byte every 2 s and never finish it. It prints the normal client's
# latency both times, how long the slow connections lived, and two verdicts:
#   p99 under attack <= 2 x p99 alone, and no slow connection outlived clientIdleTimeout (+ one idle sweep, at
#   most 250 ms, + 0.5 s for the attacker to notice).
# One gateway (in-memory store, a limit never reached, clientIdleTimeout 10 s) in front of the API; both JVMs
# as the jars start them. Only loopback; ports are chosen by the processes (port 0) and read from their logs.
#
# Usage: bench/slow-clients.sh [--build]
# Environment: SLOW_CONNECTIONS (2000), SLOW_RATE (200), SLOW_IDLE_SECONDS (10), SLOW_OUT (target/slow-clients)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CONNECTIONS="${SLOW_CONNECTIONS:-2000}"
RATE="${SLOW_RATE:-200}"
IDLE_S="${SLOW_IDLE_SECONDS:-10}"
OUT="${SLOW_OUT:-target/slow-clients}"
CLASSES="$OUT/classes"
POLICIES='[{"name":"global","key":"global","requests":1000000,"window":"1s"}]'
NAME=slow-clients.sh
source bench/jars.sh
parse_build_option "$@"

for tool in java javac python3 awk; do command -v "$tool" >/dev/null || die "$tool not found"; done
build_jars "$BUILD"
mkdir -p "$OUT" "$CLASSES"
rm -f "$OUT"/*.log "$OUT"/*.txt
javac -d "$CLASSES" bench/LoadClient.java || die "cannot compile bench/LoadClient.java"

# field FILE KEY: a value from a "summary: ..." or "slow: ..." line of key=value pairs
field() { tr ' ' '\n' < "$1" | sed -n "s/^$2=//p" | head -n 1; }

start api -- -jar "$API_JAR" -conf '{"http": {"host": "127.0.0.1", "port": 0}}'
API_PID="${PIDS[-1]}"
API_PORT="$(await_line "$OUT/api.log" 'listening on port ([0-9]+)' "$API_PID")" || die "the API did not start"
start gateway SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT=0 SLUICE_MANAGEMENT_HOST=127.0.0.1 \
  SLUICE_MANAGEMENT_PORT=0 SLUICE_UPSTREAMS="http://127.0.0.1:$API_PORT" SLUICE_CLIENT_IDLE_TIMEOUT="${IDLE_S}s" \
  SLUICE_POLICIES="$POLICIES" -- -jar "$GW_JAR"
GW_PID="${PIDS[-1]}"
GW_PORT="$(await_line "$OUT/gateway.log" 'proxy port ([0-9]+)' "$GW_PID")" || die "the gateway did not start"
MGMT_PORT="$(await_line "$OUT/gateway.log" 'management port ([0-9]+)' "$GW_PID")"
say "API pid $API_PID on :$API_PORT; gateway pid $GW_PID on :$GW_PORT (clientIdleTimeout ${IDLE_S}s)"

# normal NAME: the open-loop client, 10 s warm-up then 20 s measured, summary line to $OUT/NAME.txt
normal() {
  timeout -k 5 90 java -cp "$CLASSES" LoadClient --targets "http://127.0.0.1:$GW_PORT" --rate "$RATE" \
    --warmup 10s --duration 20s --timeout 5s --nice 0 > "$OUT/$1.log" 2>&1
  grep -m1 'summary: stream=all ' "$OUT/$1.log" > "$OUT/$1.txt" || die "no summary from the load client ($OUT/$1.log)"
}

say "normal client alone: $RATE req/s, 10 s warm-up, 20 s measured"
normal alone
say "normal client with $CONNECTIONS slow connections (they start first and last $((IDLE_S * 4)) s)"
python3 bench/slow_clients.py --port "$GW_PORT" --connections "$CONNECTIONS" --trickle 2 \
  --seconds "$((IDLE_S * 4))" > "$OUT/slow.txt" 2>&1 &
SLOW_PID=$!
PIDS+=("$SLOW_PID")
sleep 3
OPEN_DURING="$(python3 -c "import json,urllib.request;print(json.load(urllib.request.urlopen('http://127.0.0.1:$MGMT_PORT/stats'))['openConnections'])" 2>/dev/null || echo '?')"
normal attacked
wait "$SLOW_PID"
STATS="$(python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:$MGMT_PORT/stats').read().decode())" 2>/dev/null)"

say ""
printf '%-22s %8s %8s %10s %10s %10s\n' run sent 2xx "p50 ms" "p99 ms" "max ms" | tee "$OUT/summary.txt"
for run in alone attacked; do
  printf '%-22s %8s %8s %10s %10s %10s\n' "$run" "$(field "$OUT/$run.txt" sent)" "$(field "$OUT/$run.txt" fwd)" \
    "$(field "$OUT/$run.txt" lat2xxP50Ms)" "$(field "$OUT/$run.txt" lat2xxP99Ms)" \
    "$(field "$OUT/$run.txt" lat2xxMaxMs)" | tee -a "$OUT/summary.txt"
done
say "$(cat "$OUT/slow.txt")" | tee -a "$OUT/summary.txt"
say "gateway connections open 3 s into the attack: $OPEN_DURING; idleConnectionsClosed after: $(sed -nE 's/.*"idleConnectionsClosed" *: *([0-9]+).*/\1/p' <<< "$STATS")" | tee -a "$OUT/summary.txt"

P99_ALONE="$(field "$OUT/alone.txt" lat2xxP99Ms)"
P99_ATTACKED="$(field "$OUT/attacked.txt" lat2xxP99Ms)"
LIFE_MAX="$(field "$OUT/slow.txt" lifetime_max_s)"
STILL="$(field "$OUT/slow.txt" still_open)"
SENT_ATT="$(field "$OUT/attacked.txt" sent)"; FWD_ATT="$(field "$OUT/attacked.txt" fwd)"
# the gateway sweeps idle connections every min(250 ms, idle / 4): a connection lives at most idle + one sweep;
# 0.5 s more for the attacker's own accept-to-notice delay on a busy box
BOUND="$(awk -v i="$IDLE_S" 'BEGIN { s = i / 4; if (s > 0.25) s = 0.25; printf "%.2f", i + s + 0.5 }')"
rc=0
if awk -v a="$P99_ALONE" -v b="$P99_ATTACKED" 'BEGIN { exit !(b <= 2 * a) }'; then
  say "PASS  p99 under attack $P99_ATTACKED ms <= 2 x $P99_ALONE ms"
else
  say "FAIL  p99 under attack $P99_ATTACKED ms > 2 x $P99_ALONE ms"; rc=1
fi
if [[ "$SENT_ATT" == "$FWD_ATT" ]]; then say "PASS  every normal request answered 2xx under attack ($FWD_ATT)";
else say "FAIL  $FWD_ATT of $SENT_ATT normal requests answered 2xx under attack"; rc=1; fi
if [[ "$STILL" == 0 ]] && awk -v l="$LIFE_MAX" -v b="$BOUND" 'BEGIN { exit !(l <= b) }'; then
  say "PASS  every slow connection closed by the gateway, the longest after $LIFE_MAX s (bound $BOUND s)"
else
  say "FAIL  slow connections: longest lived $LIFE_MAX s (bound $BOUND s), $STILL still open at the end"; rc=1
fi
exit "$rc"
