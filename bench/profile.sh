#!/usr/bin/env bash
# bench/profile.sh: where one gateway's CPU goes under load, from a JFR recording (issue 11).
# Starts the API verticle and one gateway (in-memory store, the engine given, two policies never hit, as
# bench/run.sh's throughput phase), drives `wrk -t2 -c64` for PROFILE_WARMUP_SECONDS unrecorded, then records
# PROFILE_SECONDS of the same load with Java Flight Recorder (execution samples every 10 ms per thread), and prints
# the event loop's time by area and its top frames (bench/profile_report.py). Only loopback; bounded by wrk's -d.
#
# Usage: bench/profile.sh [--build] [vertx|netty]
# Environment: PROFILE_WARMUP_SECONDS (40), PROFILE_SECONDS (20), PROFILE_OUT (target/profile)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD=false
ENGINE=vertx
for arg in "$@"; do
  case "$arg" in
    --build) BUILD=true ;;
    vertx|netty) ENGINE="$arg" ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
WARM="${PROFILE_WARMUP_SECONDS:-40}"
SECS="${PROFILE_SECONDS:-20}"
OUT="${PROFILE_OUT:-target/profile}"
POLICIES='[{"name":"global-high","key":"header:X-Bench-Global","requests":100000000,"window":"1s","onMissingKey":"skip"},
 {"name":"per-token-high","key":"header:X-Api-Key","requests":100000000,"window":"1s","onMissingKey":"skip"}]'
POLICIES="$(tr -d '\n' <<< "$POLICIES")"
NAME=profile.sh
source bench/jars.sh

for tool in java jfr wrk python3; do command -v "$tool" >/dev/null || die "$tool not found"; done
build_jars "$BUILD"
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.jfr "$OUT"/*.txt

start api -- -jar "$API_JAR" -conf '{"http": {"host": "127.0.0.1", "port": 0}, "warmupRequests": 500}'
API_PID="${PIDS[-1]}"
API_PORT="$(await_line "$OUT/api.log" 'listening on port ([0-9]+)' "$API_PID")" || die "the API did not start"
start gateway SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT=0 SLUICE_MANAGEMENT_HOST=127.0.0.1 \
  SLUICE_MANAGEMENT_PORT=0 SLUICE_UPSTREAMS="http://127.0.0.1:$API_PORT" SLUICE_PROXY_ENGINE="$ENGINE" \
  SLUICE_POLICIES="$POLICIES" -- -XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints -jar "$GW_JAR"
GW_PID="${PIDS[-1]}"
GW_PORT="$(await_line "$OUT/gateway.log" 'proxy port ([0-9]+)' "$GW_PID")" || die "the gateway did not start"
URL="http://127.0.0.1:$GW_PORT/api/hello"
say "engine $ENGINE on :$GW_PORT (pid $GW_PID); warm-up ${WARM} s, then ${SECS} s recorded, wrk -t2 -c64"

timeout -k 5 $((WARM + 30)) wrk -t2 -c64 -d"${WARM}s" -H 'X-Bench-Global: all' -H 'X-Api-Key: bench' "$URL" \
  > "$OUT/warmup.txt" 2>&1
say "warm-up: $(grep 'Requests/sec' "$OUT/warmup.txt")"
jcmd "$GW_PID" JFR.start name=sluice settings=profile filename="$PWD/$OUT/gateway.jfr" > "$OUT/jcmd.log" 2>&1 \
  || die "jcmd JFR.start failed: $(cat "$OUT/jcmd.log")"
timeout -k 5 $((SECS + 30)) wrk -t2 -c64 -d"${SECS}s" --latency -H 'X-Bench-Global: all' -H 'X-Api-Key: bench' "$URL" \
  > "$OUT/recorded.txt" 2>&1
jcmd "$GW_PID" JFR.stop name=sluice >> "$OUT/jcmd.log" 2>&1 || die "jcmd JFR.stop failed"
say "recorded: $(grep 'Requests/sec' "$OUT/recorded.txt"); p99 $(awk '$1 == "99%" {print $2}' "$OUT/recorded.txt")"
jfr print --events jdk.ExecutionSample --stack-depth 64 "$OUT/gateway.jfr" > "$OUT/samples.txt" \
  || die "jfr print failed"
python3 bench/profile_report.py "$OUT/samples.txt" | tee "$OUT/report.txt"
