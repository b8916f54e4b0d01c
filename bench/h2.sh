#!/usr/bin/env bash
# bench/h2.sh: HTTP/2 load through the vertx engine and through HAProxy, side by side (issue 11).
# Clear-text HTTP/2 with prior knowledge from h2load (Debian's nghttp2-client) to:
#   haproxy   bench/haproxy/h2.cfg (`bind ... proto h2`, two stick tables with limits out of reach)
#   vertx     one gateway, proxy.engine vertx with proxy.h2c true, two policies with limits out of reach
# both forwarding HTTP/1.1 with keep-alive to the API verticle. Every request carries X-Bench-Global and X-Api-Key,
# so both proxies count it twice, as in bench/run.sh's throughput phase. After a warm-up (H2_WARMUP_SECONDS of
# load on each), H2_ROUNDS interleaved rounds of H2_SECONDS each; prints req/s and latency per run and the medians.
# Only loopback; every h2load run is bounded by -D and a timeout.
#
# Usage: bench/h2.sh [--build]
# Environment: H2_CLIENTS (16), H2_STREAMS (max concurrent streams per connection, 8), H2_THREADS (1),
#              H2_SECONDS (6), H2_WARMUP_SECONDS (40), H2_ROUNDS (3), H2_OUT (target/h2)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLIENTS="${H2_CLIENTS:-16}"
STREAMS="${H2_STREAMS:-8}"
THREADS="${H2_THREADS:-1}"
SECS="${H2_SECONDS:-6}"
WARM="${H2_WARMUP_SECONDS:-40}"
ROUNDS="${H2_ROUNDS:-3}"
OUT="${H2_OUT:-target/h2}"
POLICIES='[{"name":"global-high","key":"header:X-Bench-Global","requests":100000000,"window":"1s","onMissingKey":"skip"},
 {"name":"per-token-high","key":"header:X-Api-Key","requests":100000000,"window":"1s","onMissingKey":"skip"}]'
POLICIES="$(tr -d '\n' <<< "$POLICIES")"
NAME=h2.sh
source bench/jars.sh
parse_build_option "$@"

for tool in java h2load haproxy ss awk; do command -v "$tool" >/dev/null || die "$tool not found"; done
build_jars "$BUILD"
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.txt

free_port() {  # a port nothing listens on, from 18800 up
  local p
  for ((p = ${1:-18800}; p < 18900; p++)); do ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }; done
  die "no free port in 18800-18899"
}

start api -- -jar "$API_JAR" -conf '{"http": {"host": "127.0.0.1", "port": 0}, "warmupRequests": 500}'
API_PID="${PIDS[-1]}"
API_PORT="$(await_line "$OUT/api.log" 'listening on port ([0-9]+)' "$API_PID")" || die "the API did not start"
start gateway SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT=0 SLUICE_MANAGEMENT_HOST=127.0.0.1 \
  SLUICE_MANAGEMENT_PORT=0 SLUICE_UPSTREAMS="http://127.0.0.1:$API_PORT" SLUICE_PROXY_ENGINE=vertx \
  SLUICE_PROXY_H2C=true SLUICE_POLICIES="$POLICIES" -- -jar "$GW_JAR"
GW_PID="${PIDS[-1]}"
GW_PORT="$(await_line "$OUT/gateway.log" 'proxy port ([0-9]+)' "$GW_PID")" || die "the gateway did not start"
MGMT_PORT="$(await_line "$OUT/gateway.log" 'management port ([0-9]+)' "$GW_PID")"
HAP_PORT="$(free_port 18800)"
HAP_BIND="127.0.0.1:$HAP_PORT" HAP_API="127.0.0.1:$API_PORT" haproxy -db -f bench/haproxy/h2.cfg \
  < /dev/null > "$OUT/haproxy.log" 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 50; i++)); do ss -Hltn "sport = :$HAP_PORT" | grep -q . && break; sleep 0.1; done
say "API :$API_PORT; vertx engine (h2c) :$GW_PORT; HAProxy (proto h2) :$HAP_PORT"
say "h2load -t$THREADS -c$CLIENTS -m$STREAMS, ${SECS} s per run, $ROUNDS rounds after ${WARM} s of warm-up each"

url_of() { case "$1" in haproxy) echo "http://127.0.0.1:$HAP_PORT/api/hello" ;; vertx) echo "http://127.0.0.1:$GW_PORT/api/hello" ;; esac; }

# load NAME SECONDS FILE: one h2load run, its output in FILE
load() {
  timeout -k 5 $(($2 + 30)) h2load -t "$THREADS" -c "$CLIENTS" -m "$STREAMS" -D "$2" \
    -H 'X-Bench-Global: all' -H 'X-Api-Key: bench' "$(url_of "$1")" > "$3" 2>&1
}
# figures FILE: req/s, answers that were 2xx, request time (h2load's line: min max mean sd)
figures() {
  awk '/^finished in/ {rps = $4}
       /^requests:/ {total = $2}
       /^status codes:/ {s2 = $3; s5 = $9}
       /^time for request:/ {min = $4; max = $5; mean = $6}
       END {printf "%s req/s, 2xx %s of %s (5xx %s), request time min %s mean %s max %s\n", rps, s2, total, s5, min, mean, max}' "$1"
}

for sys in haproxy vertx; do
  load "$sys" "$WARM" "$OUT/warmup-$sys.txt"
  say "warm-up $sys: $(figures "$OUT/warmup-$sys.txt")"
done
stats() { curl -s -m 2 "http://127.0.0.1:$MGMT_PORT/stats" | tr -d '{}"' | tr ',' ' '; echo; }
say "gateway /stats after the warm-up: $(stats)"
for ((r = 1; r <= ROUNDS; r++)); do
  for sys in haproxy vertx; do
    load "$sys" "$SECS" "$OUT/$sys-r$r.txt"
    say "round $r $sys: $(figures "$OUT/$sys-r$r.txt")"
  done
done
say "gateway /stats at the end: $(stats)"
for sys in haproxy vertx; do
  med="$(for ((r = 1; r <= ROUNDS; r++)); do awk '/^finished in/ {print $4}' "$OUT/$sys-r$r.txt"; done \
    | sort -n | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "n/a"}')"
  say "median $sys: $med req/s"
  echo "$sys $med" >> "$OUT/medians.txt"
done
awk '{v[$1] = $2} END {if (v["haproxy"] > 0) printf "vertx engine / HAProxy (HTTP/2): %.2fx\n", v["vertx"] / v["haproxy"]}' "$OUT/medians.txt"
