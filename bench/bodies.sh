#!/usr/bin/env bash
# bench/bodies.sh: big bodies through the gateway. With curl: a 1 GiB upload (PUT /api/sink) and a 1 GiB download
# (GET /api/bytes), each direct to the API and through ONE gateway (not clustered, in-memory store, a limit never
# reached). Both JVMs run with -Xmx256m, so a body held in memory would fail. For every transfer it prints the
# status, the bytes sent and received, the time and MB/s (10^6 bytes per second), and for the gateway the peak heap
# (largest heap occupancy its GC log shows during the transfer, or the occupancy at its end if larger) and the peak
# RSS (VmHWM, reset before each transfer).
#
# Usage: bench/bodies.sh [--build]
#   --build   run `mvn -B -q package -DskipTests` first (also done when a jar is missing)
# Environment: BODIES_BYTES (1073741824), BODIES_MAX_SECONDS (longest transfer, 180), BODIES_OUT (target/bodies)
# Only loopback; ports are chosen by the processes themselves (port 0) and read from their logs.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BYTES="${BODIES_BYTES:-1073741824}"
MAX_S="${BODIES_MAX_SECONDS:-180}"
OUT="${BODIES_OUT:-target/bodies}"
UPLOAD_FILE="$OUT/upload.bin"
POLICIES='[{"name":"global","key":"global","requests":1000000,"window":"1s"}]'
NAME=bodies.sh
source bench/jars.sh
parse_build_option "$@"
ON_EXIT='rm -f "$UPLOAD_FILE"'

for tool in java curl awk truncate; do command -v "$tool" >/dev/null || die "$tool not found"; done
build_jars "$BUILD"
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.json

start api SLUICE_API_PORT=0 -- -Xmx256m "-Xlog:gc:file=$OUT/api-gc.log" -jar "$API_JAR" -conf '{"http": {"host": "127.0.0.1", "port": 0}}'
API_PID="${PIDS[-1]}"
API_PORT="$(await_line "$OUT/api.log" 'listening on port ([0-9]+)' "$API_PID")" || die "the API did not start"

start gateway SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT=0 SLUICE_MANAGEMENT_HOST=127.0.0.1 \
  SLUICE_MANAGEMENT_PORT=0 SLUICE_UPSTREAMS="http://127.0.0.1:$API_PORT" SLUICE_WARMUP_REQUESTS=0 \
  SLUICE_HTTP_MAX_BODY_SIZE=0 \
  SLUICE_POLICIES="$POLICIES" -- -Xmx256m "-Xlog:gc:file=$OUT/gateway-gc.log" -jar "$GW_JAR"
GW_PID="${PIDS[-1]}"
GW_PORT="$(await_line "$OUT/gateway.log" 'proxy port ([0-9]+)' "$GW_PID")" || die "the gateway did not start"
say "API pid $API_PID on 127.0.0.1:$API_PORT; gateway pid $GW_PID on 127.0.0.1:$GW_PORT (-Xmx256m, in-memory store)"

truncate -s "$BYTES" "$UPLOAD_FILE" || die "cannot create $UPLOAD_FILE"

kib_to_mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
vm_hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
vm_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Heap in use now, in MiB: the sum of jstat's survivor, eden and old "used" columns (KiB).
heap_used_mb() {
  jstat -gc "$1" 2>/dev/null | awk 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
    NR == 2 { printf "%.0f", ($col["S0U"] + $col["S1U"] + $col["EU"] + $col["OU"]) / 1024 }'
}
# Largest heap occupancy (before a collection) in GC log lines after line FROM, in MiB.
gc_peak_mb() {
  awk -v from="$2" 'NR > from && match($0, /[0-9]+[KMG]->[0-9]+[KMG]\(/) {
      v = substr($0, RSTART, RLENGTH); split(v, p, "->"); n = p[1] + 0; u = substr(p[1], length(p[1]));
      mb = u == "K" ? n / 1024 : (u == "G" ? n * 1024 : n); if (mb > max) max = mb }
    END { printf "%.0f", max }' "$1"
}
gc_lines() { wc -l < "$1" 2>/dev/null || echo 0; }
reset_peak_rss() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null || say "(cannot reset VmHWM of pid $1: peak RSS is since start)"; }

printf '\n%-28s %6s %14s %14s %8s %9s %16s %15s %12s\n' transfer status sent received seconds MB/s \
  "gateway heap MB" "gateway RSS MB" "API RSS MB" | tee "$OUT/summary.txt"

# transfer NAME PORT up|down
transfer() {
  local name="$1" port="$2" direction="$3" via_gateway=false gc_mark result code sent received secs rate
  [[ "$port" == "$GW_PORT" ]] && via_gateway=true
  reset_peak_rss "$GW_PID"
  reset_peak_rss "$API_PID"
  gc_mark="$(gc_lines "$OUT/gateway-gc.log")"
  if [[ "$direction" == up ]]; then
    # -T streams the file with a Content-Length; no "Expect: 100-continue", whose 1 s wait would count in the time
    result="$(curl -sS --max-time "$MAX_S" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
      -T "$UPLOAD_FILE" -o "$OUT/$name.json" -w '%{http_code} %{size_upload} %{size_download} %{time_total}' \
      "http://127.0.0.1:$port/api/sink" 2>>"$OUT/curl.log")"
  else
    result="$(curl -sS --max-time "$MAX_S" -o /dev/null \
      -w '%{http_code} %{size_upload} %{size_download} %{time_total}' \
      "http://127.0.0.1:$port/api/bytes?n=$BYTES" 2>>"$OUT/curl.log")"
  fi
  read -r code sent received secs <<< "${result:-000 0 0 0}"
  local moved="$received"
  [[ "$direction" == up ]] && moved="$sent"
  rate="$(awk -v b="$moved" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0 ? b / s / 1e6 : 0) }')"
  local heap="-" rss="-"
  if $via_gateway; then
    local logged now
    logged="$(gc_peak_mb "$OUT/gateway-gc.log" "$gc_mark")"
    now="$(heap_used_mb "$GW_PID")"
    heap=$(( ${logged:-0} > ${now:-0} ? ${logged:-0} : ${now:-0} ))
    rss="$(kib_to_mb "$(vm_hwm_kib "$GW_PID")")"
  fi
  printf '%-28s %6s %14s %14s %8.2f %9s %16s %15s %12s\n' "$name" "$code" "$sent" "$received" "$secs" "$rate" \
    "$heap" "$rss" "$(kib_to_mb "$(vm_hwm_kib "$API_PID")")" | tee -a "$OUT/summary.txt"
  if [[ "$direction" == up && -s "$OUT/$name.json" ]]; then
    say "    answer: $(head -c 300 "$OUT/$name.json")" | tee -a "$OUT/summary.txt"
  fi
}

say "gateway idle: heap $(heap_used_mb "$GW_PID") MB in use, RSS $(kib_to_mb "$(vm_rss_kib "$GW_PID")") MB" \
  | tee -a "$OUT/summary.txt"
transfer "download direct" "$API_PORT" down
transfer "download via gateway" "$GW_PORT" down
transfer "upload direct" "$API_PORT" up
transfer "upload via gateway" "$GW_PORT" up
say "(${BYTES} bytes each; logs, GC logs and answers in $OUT/)"
