#!/usr/bin/env bash
# Sluice acceptance scenarios, run against a real local stack started with bin/sluice:
#   API on 8000, two clustered gateways on 8080 and 8081 (management 9090 and 9091).
#
#   1  global 10/1s reject      100 r/s open loop over both gateways for 6 s
#                               -> max 10 forwarded in any 1 s window, mean >= 9.7/s, every other answer a 429
#                                  carrying Retry-After, RateLimit, RateLimit-Policy and a problem+json body
#   2  per-token 5/1s reject    3 tokens x 30 r/s + 1 token x 3 r/s over both gateways for 6 s
#                               -> each noisy token max 5 per window and mean >= 4.85/s; the quiet one never limited
#   3  per-token 5/1s delay     8 r/s on one token for 5 s (maxDelay 2s)
#                               -> max 5 per window; reports 200s (and how many were late) vs 429s, latency of the 200s
#   4  SIGTERM                  bin/sluice stop under light load -> every process exited within 10 s, no SIGKILL
#
# Each scenario restarts the stack with its policy in SLUICE_POLICIES (bin/sluice stop; SLUICE_POLICIES=...
# bin/sluice start) and measures with bench/LoadClient.java (open loop, rate-paced; see its --help).
# Forwarded times come from the API's X-Upstream-Received-At header; each report says so.
#
# Usage: bench/acceptance.sh [--build] [--only N[,N...]]
#   --build   run `mvn -B -q package -DskipTests` first (not counted in the time budget)
#   --only    run only these scenarios, e.g. --only 1,4
# Environment: ACCEPTANCE_BUDGET (seconds, default 250; the script ends within about budget + 45 s),
#              STOP_LIMIT (seconds allowed for the whole `bin/sluice stop`, default 10),
#              ACCEPTANCE_WARMUP=1 (default 0): before each measured run, send 2 s of the same traffic
#                (scenario 2: on other tokens) to the fresh stack, then pause 2 s (longer than every
#                window), so that JIT/cluster cold-start latency is not part of the measurement.
# Output: target/acceptance/ (per scenario NAME.txt report, NAME.json, NAME.csv, NAME-logs/ with the stack's
#         logs, NAME-start.log / NAME-stop.log) and summary.txt. Exit 0 if every scenario passed, else 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT=target/acceptance
CLASSES="$OUT/classes"
BUDGET="${ACCEPTANCE_BUDGET:-250}"
WARMUP="${ACCEPTANCE_WARMUP:-0}"
STOP_LIMIT="${STOP_LIMIT:-10}"
G1="${GATEWAY1_PORT:-8080}"
G2="${GATEWAY2_PORT:-8081}"
TARGETS="http://127.0.0.1:${G1},http://127.0.0.1:${G2}"

ONLY=""
BUILD=false
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=true; shift ;;
    --only) ONLY="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "acceptance: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "acceptance: $*" >&2; exit 2; }
[[ -x bin/sluice ]] || die "bin/sluice is missing or not executable"
command -v java >/dev/null || die "java not found"
command -v javac >/dev/null || die "javac not found (a JDK 17 is needed)"
command -v curl >/dev/null || die "curl not found (bin/sluice needs it)"

if $BUILD; then
  echo "building: mvn -B -q package -DskipTests"
  mvn -B -q package -DskipTests
fi
SECONDS=0

mkdir -p "$OUT"
rm -rf "${OUT:?}"/s[0-9]-* "$CLASSES" "$OUT/summary.txt" "$OUT/final-stop.log" "$OUT/cleanup-stop.log"
mkdir -p "$CLASSES"

NAMES=()
RESULTS=()
DETAILS=()
record() { NAMES+=("$1"); RESULTS+=("$2"); DETAILS+=("$3"); printf '>>> %s: %s  %s\n' "$1" "$2" "$3"; }

wanted() { [[ -z "$ONLY" || ",$ONLY," == *",$1,"* ]]; }

left() { echo $(( BUDGET - SECONDS )); }
# step_timeout MAX: MAX seconds, or whatever is left of the budget if less (at least 1)
step_timeout() {
  local l
  l="$(left)"
  (( l < 1 )) && l=1
  (( l < $1 )) && echo "$l" || echo "$1"
}

BG_PIDS=()
STACK_TOUCHED=false
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${BG_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  if $STACK_TOUCHED; then
    echo "cleanup: stopping the stack"
    timeout -k 5 40 bin/sluice stop >> "$OUT/cleanup-stop.log" 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the load client: compile once, check its own math first
echo "compiling bench/LoadClient.java"
javac -d "$CLASSES" bench/LoadClient.java
lc() { timeout -k 5 "$(step_timeout 45)" java -cp "$CLASSES" LoadClient "$@"; }

# summary_field FILE STREAM KEY: a value from LoadClient's "summary: stream=NAME k=v ..." line
summary_field() {
  local line
  line="$(grep -m1 -- "summary: stream=$2 " "$1" 2>/dev/null || true)"
  tr ' ' '\n' <<< "$line" | sed -n "s/^$3=//p" | head -n1
}
failed_checks() { grep '^FAIL' "$1" 2>/dev/null | sed 's/^FAIL  //' | paste -sd ';' - | cut -c1-300 || true; }
verdict() {
  case "$1" in
    0) echo PASS ;;
    1) echo FAIL ;;
    124|137) echo "ERROR(timeout)" ;;
    *) echo "ERROR(rc=$1)" ;;
  esac
}

stop_stack() {  # stop_stack TAG
  STACK_TOUCHED=true
  timeout -k 5 "$(step_timeout 45)" bin/sluice stop > "$OUT/$1-stop.log" 2>&1 || true
}

# restart_stack TAG POLICIES_JSON: stop whatever runs, start with these policies (bin/sluice waits for readiness)
restart_stack() {
  local tag="$1" policies="$2" rc=0
  stop_stack "$tag"
  SLUICE_POLICIES="$policies" SLUICE_START_TIMEOUT=60 \
    timeout -k 20 "$(step_timeout 75)" bin/sluice start > "$OUT/$tag-start.log" 2>&1 || rc=$?
  if (( rc != 0 )); then
    echo "stack did not start (rc=$rc), last lines of $OUT/$tag-start.log:"
    tail -n 15 "$OUT/$tag-start.log" | sed 's/^/    /'
    save_logs "$tag"
    return 1
  fi
  return 0
}

# warm TAG LOADCLIENT_ARGS...: optional warm-up traffic (ACCEPTANCE_WARMUP=1), then a pause longer than any window
warm() {
  local tag="$1"
  shift
  [[ "$WARMUP" == 1 ]] || return 0
  lc --targets "$TARGETS" --duration 2s --timeout 5s "$@" > "$OUT/$tag-warmup.txt" 2>&1 || true
  sleep 2
}

save_logs() { mkdir -p "$OUT/$1-logs"; cp target/run/*.log "$OUT/$1-logs/" 2>/dev/null || true; }

enough_time() {  # enough_time SECONDS NAME
  if (( $(left) < $1 )); then
    record "$2" "SKIP" "not enough of the ${BUDGET} s budget left ($(left) s)"
    return 1
  fi
}

# ---- 0: LoadClient self-test (window math and HTTP parsing on fixed inputs)
rc=0
timeout -k 5 60 java -cp "$CLASSES" LoadClient --self-test > "$OUT/s0-selftest.txt" 2>&1 || rc=$?
record "0 LoadClient self-test" "$(verdict "$rc")" "$(tail -n1 "$OUT/s0-selftest.txt")"

# ---- 1: global 10/1s reject
scenario1() {
  local name="1 global 10/1s reject" tag=s1-global rc=0 f
  enough_time 60 "$name" || return 0
  restart_stack "$tag" '[{"name":"global","key":"global","requests":10,"window":"1s","onExceed":"reject"}]' \
    || { record "$name" FAIL "stack did not start, see $OUT/$tag-start.log"; return 0; }
  warm "$tag" --rate 100
  lc --targets "$TARGETS" --rate 100 --duration 6s --window 1s --timeout 5s \
    --expect-max-window all=10 --expect-min-rate all=9.7 --expect-statuses all=200,429 --expect-limited-headers \
    --json "$OUT/$tag.json" --csv "$OUT/$tag.csv" > "$OUT/$tag.txt" 2>&1 || rc=$?
  save_logs "$tag"
  f="$OUT/$tag.txt"
  record "$name" "$(verdict "$rc")" "maxWindow=$(summary_field "$f" all maxWindow) mean=$(summary_field "$f" all meanPerSec)/s 200=$(summary_field "$f" all s200) 429=$(summary_field "$f" all s429) 429-with-headers=$(summary_field "$f" all limitedComplete)/$(summary_field "$f" all limited) fwdTimeFromHeader=$(summary_field "$f" all fwdFromHeader)/$(summary_field "$f" all fwd) $(failed_checks "$f")"
}

# ---- 2: per-token 5/1s reject
scenario2() {
  local name="2 per-token 5/1s reject" tag=s2-per-token rc=0 f s parts=""
  enough_time 60 "$name" || return 0
  restart_stack "$tag" '[{"name":"per-token","key":"header:X-Api-Key","requests":5,"window":"1s","onExceed":"reject","onMissingKey":"reject"}]' \
    || { record "$name" FAIL "stack did not start, see $OUT/$tag-start.log"; return 0; }
  warm "$tag" --stream name=w1,rate=30,header=X-Api-Key:acc-warm-1 --stream name=w2,rate=30,header=X-Api-Key:acc-warm-2 \
    --stream name=w3,rate=30,header=X-Api-Key:acc-warm-3 --stream name=w4,rate=3,header=X-Api-Key:acc-warm-4
  lc --targets "$TARGETS" --duration 6s --window 1s --timeout 5s \
    --stream name=noisy1,rate=30,header=X-Api-Key:acc-noisy-1 \
    --stream name=noisy2,rate=30,header=X-Api-Key:acc-noisy-2 \
    --stream name=noisy3,rate=30,header=X-Api-Key:acc-noisy-3 \
    --stream name=quiet,rate=3,header=X-Api-Key:acc-quiet \
    --expect-max-window noisy1=5 --expect-max-window noisy2=5 --expect-max-window noisy3=5 \
    --expect-min-rate noisy1=4.85 --expect-min-rate noisy2=4.85 --expect-min-rate noisy3=4.85 \
    --expect-never-limited quiet --expect-statuses '*=200,429' --expect-limited-headers \
    --json "$OUT/$tag.json" --csv "$OUT/$tag.csv" > "$OUT/$tag.txt" 2>&1 || rc=$?
  save_logs "$tag"
  f="$OUT/$tag.txt"
  for s in noisy1 noisy2 noisy3; do
    parts+="$s: max $(summary_field "$f" "$s" maxWindow) mean $(summary_field "$f" "$s" meanPerSec)/s; "
  done
  parts+="quiet: $(summary_field "$f" quiet s200)/$(summary_field "$f" quiet sent) 200"
  record "$name" "$(verdict "$rc")" "$parts $(failed_checks "$f")"
}

# ---- 3: per-token 5/1s delay (maxDelay 2s)
scenario3() {
  local name="3 per-token 5/1s delay" tag=s3-delay rc=0 f
  enough_time 60 "$name" || return 0
  restart_stack "$tag" '[{"name":"per-token-delay","key":"header:X-Api-Key","requests":5,"window":"1s","onExceed":"delay","maxDelay":"2s","onMissingKey":"reject"}]' \
    || { record "$name" FAIL "stack did not start, see $OUT/$tag-start.log"; return 0; }
  warm "$tag" --stream name=warm,rate=8,header=X-Api-Key:acc-warm-patient
  lc --targets "$TARGETS" --duration 5s --window 1s --timeout 5s --late 100ms \
    --stream name=patient,rate=8,header=X-Api-Key:acc-patient \
    --expect-max-window patient=5 --expect-statuses patient=200,429 \
    --json "$OUT/$tag.json" --csv "$OUT/$tag.csv" > "$OUT/$tag.txt" 2>&1 || rc=$?
  save_logs "$tag"
  f="$OUT/$tag.txt"
  record "$name" "$(verdict "$rc")" "maxWindow=$(summary_field "$f" patient maxWindow) sent=$(summary_field "$f" patient sent) 200=$(summary_field "$f" patient s200) (late >100ms: $(summary_field "$f" patient late2xx)) 429=$(summary_field "$f" patient s429) latency of 200s p50/p99/max=$(summary_field "$f" patient lat2xxP50Ms)/$(summary_field "$f" patient lat2xxP99Ms)/$(summary_field "$f" patient lat2xxMaxMs) ms $(failed_checks "$f")"
}

# process_alive PID: exists and is not a zombie
process_alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != "Z" ]]
}
now_ms() { date +%s%3N; }

# ---- 4: SIGTERM: time bin/sluice stop under light load, every process must be gone within STOP_LIMIT s
scenario4() {
  local name="4 SIGTERM stop" tag=s4-sigterm f pidf pid names=() pids=() exit_ms=() load_pid stop_pid stop_rc=0
  local t0 elapsed=0 i all_gone=false per="" slowest=0 verdict_=PASS why=""
  enough_time 45 "$name" || return 0
  restart_stack "$tag" '[{"name":"per-token-delay","key":"header:X-Api-Key","requests":5,"window":"1s","onExceed":"delay","maxDelay":"2s","onMissingKey":"reject"}]' \
    || { record "$name" FAIL "stack did not start, see $OUT/$tag-start.log"; return 0; }
  for pidf in target/run/*.pid; do
    [[ -f "$pidf" ]] || continue
    pid="$(<"$pidf")"
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    names+=("$(basename "$pidf" .pid)")
    pids+=("$pid")
    exit_ms+=("")
  done
  if (( ${#pids[@]} == 0 )); then
    record "$name" FAIL "no pid files in target/run after bin/sluice start"
    return 0
  fi
  # light load, some of it held in the gateways' delay queues while they shut down (informational only)
  timeout -k 5 30 java -cp "$CLASSES" LoadClient --targets "$TARGETS" --duration 6s --timeout 3s \
    --stream name=during-stop,rate=8,header=X-Api-Key:acc-stop > "$OUT/$tag-load.txt" 2>&1 &
  load_pid=$!
  BG_PIDS+=("$load_pid")
  sleep 4   # the client needs ~1-2 s to start; then ~2 s of load before SIGTERM
  t0="$(now_ms)"
  timeout -k 5 45 bin/sluice stop > "$OUT/$tag-stop.log" 2>&1 &
  stop_pid=$!
  BG_PIDS+=("$stop_pid")
  # watch every process until all are gone (or 40 s), noting when each one exited
  while true; do
    all_gone=true
    for i in "${!pids[@]}"; do
      if [[ -z "${exit_ms[$i]}" ]]; then
        if process_alive "${pids[$i]}"; then all_gone=false; else exit_ms[i]=$(( $(now_ms) - t0 )); fi
      fi
    done
    $all_gone && break
    (( $(now_ms) - t0 > 40000 )) && break
    sleep 0.05
  done
  wait "$stop_pid" || stop_rc=$?
  elapsed=$(( $(now_ms) - t0 ))
  wait "$load_pid" || true
  BG_PIDS=()
  save_logs "$tag"
  for i in "${!pids[@]}"; do
    if [[ -z "${exit_ms[$i]}" ]]; then
      per+="${names[$i]} STILL RUNNING (pid ${pids[$i]}); "
      verdict_=FAIL
      why+="a process did not exit; "
    else
      per+="${names[$i]} $(printf '%d.%03d' $(( exit_ms[i] / 1000 )) $(( exit_ms[i] % 1000 ))) s; "
      (( exit_ms[i] > slowest )) && slowest=${exit_ms[$i]}
    fi
  done
  if (( slowest > STOP_LIMIT * 1000 )); then verdict_=FAIL; why+="slowest exit after ${STOP_LIMIT} s; "; fi
  if grep -q SIGKILL "$OUT/$tag-stop.log"; then verdict_=FAIL; why+="SIGKILL was needed; "; fi
  if (( stop_rc != 0 )); then verdict_=FAIL; why+="bin/sluice stop rc=$stop_rc; "; fi
  f="$OUT/$tag-load.txt"
  record "$name" "$verdict_" "exited after (from start of stop): ${per}stop command took $(printf '%d.%03d' $(( elapsed / 1000 )) $(( elapsed % 1000 ))) s; load during stop: 200=$(summary_field "$f" during-stop s200) 429=$(summary_field "$f" during-stop s429) 502=$(summary_field "$f" during-stop s502) other=$(summary_field "$f" during-stop other) connErr=$(summary_field "$f" during-stop connErr) timeout=$(summary_field "$f" during-stop timeout) ${why}"
}

wanted 1 && scenario1
wanted 2 && scenario2
wanted 3 && scenario3
wanted 4 && scenario4
if $STACK_TOUCHED; then
  timeout -k 5 40 bin/sluice stop > "$OUT/final-stop.log" 2>&1 || true
  STACK_TOUCHED=false
fi

# ---- summary
{
  echo
  echo "=== Sluice acceptance summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), ${SECONDS} s, warm-up $([[ "$WARMUP" == 1 ]] && echo on || echo off), outputs in $OUT/) ==="
  printf '%-26s %-8s %s\n' "scenario" "result" "details"
  for i in "${!NAMES[@]}"; do
    printf '%-26s %-8s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${DETAILS[$i]}"
  done
} | tee "$OUT/summary.txt"

for r in "${RESULTS[@]}"; do
  [[ "$r" == PASS ]] || { echo "ACCEPTANCE: FAILED"; exit 1; }
done
echo "ACCEPTANCE: PASSED"
exit 0
