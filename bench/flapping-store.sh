#!/usr/bin/env bash
# bench/flapping-store.sh: two clustered gateways (separate JVMs from the built jars) whose store keeps missing
# limiter.storeTimeout (set to 1 ms), so they switch between shared and local counting all the time, under bursts of
# FLAP_BURST concurrent requests (curl, one connection each) every ~0.7 s against a global limit of 5 per 2 s. Prints
# how many requests got which answer; "000" = no answer within 5 s, which must never happen. Only loopback; bounded
# by FLAP_ROUNDS and curl's -m.
#
# Usage: bench/flapping-store.sh [vertx|netty]
# Environment: FLAP_ROUNDS (10), FLAP_BURST (40), FLAP_PIPELINING (upstreamPool.pipelining, 16), FLAP_OUT (target/flapping)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ENGINE="${1:-vertx}"
ROUNDS="${FLAP_ROUNDS:-10}"
BURST="${FLAP_BURST:-40}"
OUT="${FLAP_OUT:-target/flapping}/$ENGINE"
NAME=flapping-store.sh
source bench/jars.sh
mkdir -p "$OUT"; rm -f "$OUT"/*
build_jars false
CLUSTER="flapping-$$-$(date +%s)"
POLICIES='[{"name":"g","key":"global","requests":5,"window":"2s","onExceed":"reject"}]'
start api -- -jar "$API_JAR" -conf '{"http": {"host": "127.0.0.1", "port": 0}}'
API_PORT="$(await_line "$OUT/api.log" 'listening on port ([0-9]+)' "${PIDS[-1]}")" || die "the API did not start"
GW=(); MG=()
for i in 1 2; do
  start "gw$i" SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT=0 SLUICE_MANAGEMENT_HOST=127.0.0.1 SLUICE_MANAGEMENT_PORT=0 \
    SLUICE_UPSTREAMS="http://127.0.0.1:$API_PORT" SLUICE_CLUSTER_NAME="$CLUSTER" SLUICE_PROXY_ENGINE="$ENGINE" \
    SLUICE_UPSTREAM_PIPELINING="${FLAP_PIPELINING:-16}" SLUICE_LIMITER_STORE_TIMEOUT=1ms SLUICE_POLICIES="$POLICIES" \
    -- -jar "$GW_JAR" -cluster -conf conf/gateway.json
  GW+=("$(await_line "$OUT/gw$i.log" 'proxy port ([0-9]+)' "${PIDS[-1]}")") || die "gateway $i did not start"
  MG+=("$(await_line "$OUT/gw$i.log" 'management port ([0-9]+)' "${PIDS[-1]}")")
done
say "engine $ENGINE: gateways :${GW[0]} :${GW[1]}; $ROUNDS bursts of $BURST requests"
for ((r = 0; r < ROUNDS; r++)); do
  cp=()
  for ((i = 0; i < BURST; i++)); do
    (curl -s -o /dev/null -m 5 -w '%{http_code}\n' "http://127.0.0.1:${GW[$((i % 2))]}/api/hello" >> "$OUT/codes") &
    cp+=($!)
  done
  wait "${cp[@]}"
  sleep 0.7
done
say "answers (000 = none within 5 s):"
sort "$OUT/codes" | uniq -c
for m in "${MG[@]}"; do
  curl -s "http://127.0.0.1:$m/stats" | tr ',' '\n' | grep -E 'forwarded|limiterModeSwitches|storeFailures' | paste -sd ' ' -
done
