#!/usr/bin/env bash
# bench/run.sh: Sluice's two proxy engines against HAProxy on this machine, in one command, hard-bounded to 19 minutes.
#
# Starts every system itself (all on 127.0.0.1, free ports from BENCH_BASE_PORT up), measures, stops them,
# then writes bench/RESULTS.md and bench/accuracy.svg (via bench/report.py). Raw outputs: bench/out/.
#
#   systems  direct     the API verticle alone (the ceiling)
#            haproxy    HAProxy 2.6, bench/haproxy/high.cfg (limits out of reach) or limited.cfg (10/1s, 5/1s)
#            sluice-1   one gateway, in-memory store (no -cluster), proxy.engine vertx (the default)
#            sluice-2   two clustered gateways (Hazelcast), load spread over both, vertx engine
#            sluice-3   the same cluster after a third gateway joined (accuracy runs only)
#            netty-1/2/3  the same three setups with proxy.engine netty (a cluster of their own)
#   phases   1 throughput/latency, limits configured but never hit: wrk -t2 -c64 and -t1 -c16, BENCH_REPS runs
#              each, interleaved round robin direct, haproxy, sluice-1, sluice-2, netty-1, netty-2
#            2 reject path: wrk -t2 -c64 against a 10/1s global limit (about 100x offered), haproxy and the four gateways
#            3 accuracy: bench/LoadClient.java (open loop) at 0.8x, 1.2x, 2x and 20x the limits, a global
#              stream (10/1s) and a per-token stream (5/1s) at once, against sluice-1/2/3, netty-1/2/3 and 1 or 2
#              HAProxies
#            4 per-user limits (with --per-user): bench/per-user.sh, issue 14's workloads on HAProxy (1, and 2 with
#              peers) and Sluice (1, 2, 3 gateways, vertx engine): 10,000 keys with limits not hit, against the same
#              instances with one leased limit; 100 keys open loop under the limit; 100 keys at 2x a 5/1 s limit
#
# Usage: bench/run.sh [--build] [--quick] [--per-user]
#   --build   first run `mvn -B -q -o package -DskipTests` (counted in the 19 minutes)
#   --quick   1 run per throughput configuration, 3 s wrk runs, 4 s accuracy runs (a smoke test of the script)
#   --per-user  phase 4 too, about 10 more minutes (the budget grows by PER_USER_S)
# Environment: BENCH_BASE_PORT (18600), BENCH_BUDGET (seconds before the watchdog stops everything, 1140),
#              BENCH_REPS (3), BENCH_WRK_SECONDS (5), BENCH_ACC_SECONDS (6), BENCH_OUT (bench/out)
# The jars are copied to BENCH_OUT/jars first, so a rebuild during the run cannot disturb it.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

BUILD=false
QUICK=false
PER_USER=false
# phase 4's share of the budget: bench/per-user.sh takes about 110 s per system, five systems, plus starts and stops
PER_USER_S=660
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=true ;;
    --quick) QUICK=true ;;
    --per-user) PER_USER=true ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

BUDGET="${BENCH_BUDGET:-1140}"
$PER_USER && [[ -z "${BENCH_BUDGET:-}" ]] && BUDGET=$((BUDGET + PER_USER_S))
# A run during which the hypervisor gave more than STEAL_LIMIT % of the CPUs to other machines (steal) measured them
# as much as the system: it is recorded as "PHASE-disturbed" (listed in the results, left out of the medians) and
# run once more, whichever system it was, while REPEAT_RESERVE seconds stay for the rest and at most MAX_REPEATS times.
STEAL_LIMIT=5
MAX_REPEATS=6
REPEATS=0
REPEAT_RESERVE=0
REPS="${BENCH_REPS:-3}"
WRK_S="${BENCH_WRK_SECONDS:-5}"
ACC_S="${BENCH_ACC_SECONDS:-6}"
if $QUICK; then REPS=1; WRK_S=3; ACC_S=4; fi
OUT="${BENCH_OUT:-bench/out}"
SECONDS=0
T_START_EPOCH="$(date +%s)"

API_JAR_SRC=api-verticle/target/api-verticle.jar
GW_JAR_SRC=gateway-verticle/target/gateway-verticle.jar

say() { printf '[%3ds] %s\n' "$SECONDS" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

for tool in java javac wrk haproxy curl python3 ss timeout; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

# ---------------------------------------------------------------- processes: every one we start, by PID
declare -A PID_OF=()     # name -> pid of long-running systems
ORDER=()                 # start order (stopped in reverse)
TRANSIENT=()             # pids of wrk / LoadClient runs in flight
WATCHDOG_PID=""
CLEANED=false

# alive PID: our children only. bash reaps a child that exited almost at once, so kill -0 is enough; /proc's
# "State: Z" is not used because a JVM whose main thread ended shows Z while its other threads still shut down.
alive() { kill -0 "$1" 2>/dev/null; }

write_pidfile() {  # for the watchdog's last resort
  local n
  : > "$OUT/pids"
  for n in "${!PID_OF[@]}"; do echo "${PID_OF[$n]}" >> "$OUT/pids"; done
  for n in "${TRANSIENT[@]}"; do echo "$n" >> "$OUT/pids"; done
}

# start_bg NAME CMD...: run CMD in the background, log to $OUT/logs/NAME.log
start_bg() {
  local name="$1"; shift
  "$@" > "$OUT/logs/$name.log" 2>&1 &
  PID_OF[$name]=$!
  ORDER+=("$name")
  write_pidfile
  say "started $name (pid ${PID_OF[$name]})"
}

# stop_pids PID...: SIGTERM, wait up to 12 s, then SIGKILL what is left
stop_pids() {
  local p i left
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 120; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    (( left == 0 )) && break
    sleep 0.1
  done
  for p in "$@"; do
    if alive "$p"; then say "pid $p still running after 12 s: SIGKILL"; kill -KILL "$p" 2>/dev/null || true; fi
    wait "$p" 2>/dev/null || true
  done
}

stop_named() {  # stop_named NAME...
  local n pids=()
  for n in "$@"; do
    [[ -n "${PID_OF[$n]:-}" ]] && pids+=("${PID_OF[$n]}")
  done
  (( ${#pids[@]} )) && stop_pids "${pids[@]}"
  for n in "$@"; do unset "PID_OF[$n]"; done
  write_pidfile
}

cleanup() {
  local rc=$? i pids=()
  $CLEANED && return
  CLEANED=true
  trap - EXIT INT TERM
  (( ${#TRANSIENT[@]} )) && stop_pids "${TRANSIENT[@]}"
  for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
    [[ -n "${PID_OF[${ORDER[$i]}]:-}" ]] && pids+=("${PID_OF[${ORDER[$i]}]}")
  done
  if (( ${#pids[@]} )); then say "stopping ${#pids[@]} processes"; stop_pids "${pids[@]}"; fi
  PID_OF=()
  write_pidfile 2>/dev/null
  if [[ "${REPORT_DONE:-false}" != true && -s "$OUT/runs.tsv" ]]; then
    say "writing a partial report"
    echo "partial=1" >> "$OUT/meta.env"
    timeout -k 2 15 python3 bench/report.py "$OUT" bench/RESULTS.md bench/accuracy.svg || true
  fi
  [[ -n "$WATCHDOG_PID" ]] && { kill -TERM "$WATCHDOG_PID" 2>/dev/null; wait "$WATCHDOG_PID" 2>/dev/null; }
  say "done (exit $rc), total ${SECONDS} s"
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "watchdog: time budget of ${BUDGET} s reached, stopping"; exit 124' TERM

# run_child CMD...: run CMD as a child we can stop (a trapped signal interrupts `wait` at once)
run_child() {
  local p rc q keep=()
  "$@" &
  p=$!
  TRANSIENT+=("$p"); write_pidfile
  wait "$p"; rc=$?
  for q in "${TRANSIENT[@]}"; do [[ "$q" != "$p" ]] && keep+=("$q"); done
  TRANSIENT=("${keep[@]}")
  write_pidfile
  return "$rc"
}

left() { echo $(( BUDGET - SECONDS )); }
have_time() { (( $(left) >= $1 )); }

# ---------------------------------------------------------------- output directory, jars, load client
mkdir -p "$OUT"
rm -rf "${OUT:?}/logs" "${OUT:?}/tput" "${OUT:?}/reject" "${OUT:?}/acc" "${OUT:?}/stats" "$OUT/runs.tsv" "$OUT/meta.env" "$OUT/pids"
mkdir -p "$OUT/logs" "$OUT/tput" "$OUT/reject" "$OUT/acc" "$OUT/stats" "$OUT/jars" "$OUT/lc"

# watchdog: TERM the script at the budget (its trap stops everything and writes what it has), then as a last
# resort SIGKILL the script and the pids it listed, 30 s later. Started before anything else.
(
  sp=""
  trap 'kill -TERM $sp 2>/dev/null; exit 0' TERM
  sleep "$BUDGET" & sp=$!; wait "$sp"
  kill -TERM $$ 2>/dev/null
  sleep 30 & sp=$!; wait "$sp"
  kill -KILL $$ 2>/dev/null
  [[ -f "$OUT/pids" ]] && while read -r p; do [[ "$p" =~ ^[0-9]+$ ]] && kill -KILL "$p" 2>/dev/null; done < "$OUT/pids"
) &
WATCHDOG_PID=$!

if $BUILD; then
  say "building: mvn -B -q -o package -DskipTests"
  run_child timeout -k 5 180 mvn -B -q -o package -DskipTests > "$OUT/logs/build.log" 2>&1 || die "build failed, see $OUT/logs/build.log"
fi
[[ -f "$API_JAR_SRC" && -f "$GW_JAR_SRC" ]] || die "jars missing: run with --build (or mvn -B -q -o package -DskipTests)"
cp "$API_JAR_SRC" "$OUT/jars/api-verticle.jar"
cp "$GW_JAR_SRC" "$OUT/jars/gateway-verticle.jar"
API_JAR="$OUT/jars/api-verticle.jar"
GW_JAR="$OUT/jars/gateway-verticle.jar"

say "compiling bench/LoadClient.java"
run_child javac -d "$OUT/lc" bench/LoadClient.java || die "javac LoadClient failed"

# ---------------------------------------------------------------- ports
port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
BASE="${BENCH_BASE_PORT:-18600}"
for ((try = 0; try < 12; try++)); do
  busy=""
  for ((o = 0; o < 40; o++)); do port_in_use $((BASE + o)) && { busy=$((BASE + o)); break; }; done
  [[ -z "$busy" ]] && break
  say "port $busy is taken, trying base $((BASE + 100))"
  BASE=$((BASE + 100))
done
[[ -z "$busy" ]] || die "no free block of 40 ports found"
P_API=$((BASE + 0))
P_HAP_HIGH=$((BASE + 10)); P_HAP_L1=$((BASE + 11)); P_HAP_L2=$((BASE + 12))
P_S1=$((BASE + 20)); M_S1=$((BASE + 30))
P_GA=$((BASE + 21)); M_GA=$((BASE + 31))
P_GB=$((BASE + 22)); M_GB=$((BASE + 32))
P_GC=$((BASE + 23)); M_GC=$((BASE + 33))
P_N1=$((BASE + 24)); M_N1=$((BASE + 34))
P_NA=$((BASE + 25)); M_NA=$((BASE + 35))
P_NB=$((BASE + 26)); M_NB=$((BASE + 36))
P_NC=$((BASE + 27)); M_NC=$((BASE + 37))
CLUSTER="sluice-bench-$(hostname -s 2>/dev/null || echo host)-$$-$(date +%s)"
u() { echo "http://127.0.0.1:$1"; }

# ---------------------------------------------------------------- machine description
cpu_busy_pct() {  # CPU busy % of the whole machine over 1 s
  local a b
  read -r -a a < <(head -1 /proc/stat)
  sleep 1
  read -r -a b < <(head -1 /proc/stat)
  local ta=0 tb=0 i
  for ((i = 1; i < ${#a[@]}; i++)); do ta=$((ta + a[i])); tb=$((tb + b[i])); done
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) tot=$((tb - ta))
  (( tot > 0 )) && echo $(( 100 * (tot - idle) / tot )) || echo 0
}
# wait (at most 20 s) for other work on the machine to calm down; the figure goes into RESULTS.md
BUSY_BEFORE="$(cpu_busy_pct)"
for ((i = 0; i < 10 && BUSY_BEFORE > 25; i++)); do
  say "machine busy (${BUSY_BEFORE}% CPU) before starting; waiting"
  sleep 1; BUSY_BEFORE="$(cpu_busy_pct)"
done
(( BUSY_BEFORE > 25 )) && say "WARNING: the machine is ${BUSY_BEFORE}% busy with other work; figures will be noisy"
# processes using >= 5% of one CPU during a 1 s sample (ps's %CPU is a lifetime average, so sample /proc twice)
OTHER_PROCS="$(python3 - <<'PY'
import os, time
def snap():
    r = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                t = open(f'/proc/{d}/stat').read()
                rest = t[t.rindex(')') + 2:].split()
                r[d] = (t[t.index('(') + 1:t.rindex(')')], int(rest[11]) + int(rest[12]))
            except (OSError, ValueError):
                pass
    return r
a = snap(); time.sleep(1); b = snap(); hz = os.sysconf('SC_CLK_TCK')
use = sorted(((b[p][1] - a[p][1]) * 100 / hz, b[p][0], p) for p in b if p in a)
print(' '.join(f'{n}[{p}]({c:.0f}%)' for c, n, p in reversed(use) if c >= 5)[:300])
PY
)"

{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -srm)"
  echo "java=$(java -version 2>&1 | paste -sd ';' -)"
  echo "haproxy=$(haproxy -v 2>&1 | head -1)"
  echo "wrk=$(wrk -v 2>&1 | head -1 | sed 's/ Copyright.*//')"
  echo "git=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- api-verticle gateway-verticle 2>/dev/null || echo ' (+ uncommitted changes in the verticles)')"
  echo "api_jar=$(sha256sum "$API_JAR" | cut -c1-12) $(date -u -r "$API_JAR_SRC" +%Y-%m-%dT%H:%M:%SZ)"
  echo "gw_jar=$(sha256sum "$GW_JAR" | cut -c1-12) $(date -u -r "$GW_JAR_SRC" +%Y-%m-%dT%H:%M:%SZ)"
  echo "busy_before=$BUSY_BEFORE"
  echo "other_procs=$OTHER_PROCS"
  echo "loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "reps=$REPS"; echo "wrk_s=$WRK_S"; echo "acc_s=$ACC_S"; echo "budget=$BUDGET"; echo "steal_limit=$STEAL_LIMIT"
  echo "ports=api $P_API, haproxy-high $P_HAP_HIGH, haproxy-limited $P_HAP_L1/$P_HAP_L2, sluice-1 $P_S1 (mgmt $M_S1), cluster $P_GA/$P_GB/$P_GC (mgmt $M_GA/$M_GB/$M_GC), netty-1 $P_N1 (mgmt $M_N1), netty cluster $P_NA/$P_NB/$P_NC (mgmt $M_NA/$M_NB/$M_NC)"
  echo "cluster=$CLUSTER"
  echo "quick=$QUICK"
} > "$OUT/meta.env"
say "ports from $BASE; cluster name $CLUSTER; machine ${BUSY_BEFORE}% busy before start"

# ---------------------------------------------------------------- policies
# Sluice: four policies, each skipped by requests without its header, so one started cluster serves every phase.
#   throughput traffic sends  X-Bench-Global: all  +  X-Api-Key: bench   -> the two "-high" policies (never hit)
#   reject/accuracy traffic    X-Acc-Global: <v>   and/or  X-Acc-Key: <t> -> global 10/1s reject, per-token 5/1s delay
# HAProxy: bench/haproxy/high.cfg counts the first pair, bench/haproxy/limited.cfg the second, with the same limits.
POLICIES='[
 {"name":"global","key":"header:X-Acc-Global","requests":10,"window":"1s","onExceed":"reject","onMissingKey":"skip"},
 {"name":"per-token","key":"header:X-Acc-Key","requests":5,"window":"1s","onExceed":"delay","maxDelay":"2s","onMissingKey":"skip"},
 {"name":"global-high","key":"header:X-Bench-Global","requests":100000000,"window":"1s","onExceed":"reject","onMissingKey":"skip"},
 {"name":"per-token-high","key":"header:X-Api-Key","requests":100000000,"window":"1s","onExceed":"reject","onMissingKey":"skip"}
]'
POLICIES="$(tr -d '\n' <<< "$POLICIES")"
echo "policies=$POLICIES" >> "$OUT/meta.env"

start_gateway() {  # start_gateway NAME HTTP_PORT MGMT_PORT cluster|local vertx|netty [LAUNCHER FLAGS...]
  local name="$1" hp="$2" mp="$3" engine="$5" mode=()
  [[ "$4" == cluster ]] && mode=(-cluster)
  shift 5
  # each engine's gateways form a cluster of their own, so the two never share counters or CPU for Hazelcast
  start_bg "$name" env SLUICE_HTTP_HOST=127.0.0.1 SLUICE_HTTP_PORT="$hp" SLUICE_MANAGEMENT_HOST=127.0.0.1 \
    SLUICE_MANAGEMENT_PORT="$mp" SLUICE_UPSTREAMS="$(u "$P_API")" SLUICE_CLUSTER_NAME="$CLUSTER-$engine" \
    SLUICE_PROXY_ENGINE="$engine" SLUICE_POLICIES="$POLICIES" java -jar "$GW_JAR" "${mode[@]}" -conf conf/gateway.json "$@"
}

start_haproxy() {  # start_haproxy NAME CFG PORT
  start_bg "$1" env HAP_BIND="127.0.0.1:$3" HAP_API="127.0.0.1:$P_API" haproxy -db -f "$2"
}

# wait_ready NAME URL SECONDS: poll until 200; fail early if the process died
wait_ready() {
  local name="$1" url="$2" max="$3" t0=$SECONDS
  while (( SECONDS - t0 < max )); do
    curl -sf -m 1 -o /dev/null "$url" && { say "$name ready after $((SECONDS - t0)) s"; return 0; }
    alive "${PID_OF[$name]}" || { say "$name exited; last log lines:"; tail -n 8 "$OUT/logs/$name.log" >&2; return 1; }
    sleep 0.2
  done
  say "$name not ready after $max s; last log lines:"; tail -n 8 "$OUT/logs/$name.log" >&2
  return 1
}

wait_port() {  # wait_port NAME PORT: until something accepts on the port (HAProxy)
  local i
  for ((i = 0; i < 50; i++)); do
    port_in_use "$2" && return 0
    alive "${PID_OF[$1]}" || { tail -n 5 "$OUT/logs/$1.log" >&2; return 1; }
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- start: API, HAProxy (high), sluice-1, gateways A and B
say "== starting the API, HAProxy (high limits), and per engine one gateway and a 2-gateway cluster"
start_bg api java -jar "$API_JAR" -conf "{\"http\":{\"port\":$P_API},\"warmupRequests\":500}"
wait_ready api "$(u "$P_API")/health" 30 || die "API did not start"
start_haproxy haproxy-high bench/haproxy/high.cfg "$P_HAP_HIGH"
# every gateway as the jar starts by default: one event loop (on these 2 shared cores, two event loops measured
# 15-20% slower with 16 connections and about 6% faster with 64)
start_gateway sluice-1 "$P_S1" "$M_S1" local vertx
start_gateway gw-a "$P_GA" "$M_GA" cluster vertx
start_gateway gw-b "$P_GB" "$M_GB" cluster vertx
start_gateway netty-1 "$P_N1" "$M_N1" local netty
start_gateway gw-na "$P_NA" "$M_NA" cluster netty
start_gateway gw-nb "$P_NB" "$M_NB" cluster netty
wait_port haproxy-high "$P_HAP_HIGH" || die "HAProxy (high) did not start"
wait_ready sluice-1 "$(u "$M_S1")/health/ready" 60 || die "sluice-1 did not start"
wait_ready gw-a "$(u "$M_GA")/health/ready" 90 || die "gateway A did not start"
wait_ready gw-b "$(u "$M_GB")/health/ready" 90 || die "gateway B did not start"
wait_ready netty-1 "$(u "$M_N1")/health/ready" 60 || die "netty-1 did not start"
wait_ready gw-na "$(u "$M_NA")/health/ready" 90 || die "gateway NA did not start"
wait_ready gw-nb "$(u "$M_NB")/health/ready" 90 || die "gateway NB did not start"
echo "startup_s=$SECONDS" >> "$OUT/meta.env"

# ---------------------------------------------------------------- helpers for runs
stats_snapshot() {  # stats_snapshot FILE MGMT_PORT...: one JSON object per line
  local f="$1" p; shift
  : > "$f"
  for p in "$@"; do curl -sf -m 2 "$(u "$p")/stats" >> "$f" || echo '{}' >> "$f"; echo >> "$f"; done
}

# runs.tsv columns: phase system config rep outputs(comma) stats_before stats_after command foreign_cpu_pct steal_pct
#                   cpu_split (usage_split)
record_run() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$OUT/runs.tsv"; }

# cpu_mark [PID...]: "busy total mine steal idle system api load wait" in clock ticks (wait in ns): the machine's
# busy, total, steal and idle time (/proc/stat, all CPUs); mine = the CPU time of this script's processes (itself,
# every child it has reaped such as wrk, and the running systems); system = the given processes' CPU time; api = the
# API's; load = this script's reaped children (the wrk processes); wait = the time the given processes' threads were
# runnable but had no CPU (/proc/PID/task/*/schedstat, second field).
# foreign_pct MARK_BEFORE MARK_AFTER: share of the machine used by processes that are NOT ours in between.
cpu_mark() {
  local pids=("$@") line f mine=0 p busy total steal idle sys=0 api=0 load wait
  read -r line < /proc/stat
  set -- $line
  busy=$(( $2 + $3 + $4 + $7 + $8 )); total=$(( $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 )); steal=$9; idle=$(( $5 + $6 ))
  f="$(< /proc/$$/stat)"; f="${f##*) }"; set -- $f
  mine=$(( ${12} + ${13} + ${14} + ${15} )); load=$(( ${14} + ${15} ))
  for p in "${PID_OF[@]}"; do
    f="$(cat "/proc/$p/stat" 2>/dev/null)" || continue
    f="${f##*) }"; set -- $f
    mine=$(( mine + ${12} + ${13} ))
    [[ "$p" == "${PID_OF[api]:-}" ]] && api=$(( ${12} + ${13} ))
    [[ " ${pids[*]} " == *" $p "* ]] && sys=$(( sys + ${12} + ${13} ))
  done
  wait="$(for p in "${pids[@]}"; do cat "/proc/$p/task/"*/schedstat 2>/dev/null; done | awk '{s += $2} END {printf "%.0f", s}')"
  echo "$busy $total $mine $steal $idle $sys $api $load ${wait:-0}"
}
steal_pct() {  # steal_pct MARK_BEFORE MARK_AFTER: CPU time the hypervisor gave to others (VMs)
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
    if (t <= 0) { print "na"; exit } printf "%.1f", 100 * (y[4] - x[4]) / t }'
}
foreign_pct() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
    if (t <= 0) { print "na"; exit } printf "%.1f", 100 * ((y[1] - x[1]) - (y[3] - x[3])) / t }'
}

WRK_TPUT_H=(-H 'X-Bench-Global: all' -H 'X-Api-Key: bench')
WRK_REJ_H=(-H 'X-Acc-Global: all')

# wrk_run OUTPREFIX THREADS CONNS SECONDS HEADERS_ARRAY_NAME URL...: one wrk per URL, in parallel, threads and
# connections split evenly; prints the output file names (comma-separated) to stdout
declare -a WRK_FILES
wrk_run() {
  local prefix="$1" t="$2" c="$3" d="$4" hname="$5"; shift 5
  local -n hdrs="$hname"
  local n=$# i=0 url pids=() files=() tt cc
  tt=$(( t / n )); (( tt < 1 )) && tt=1
  cc=$(( c / n ))
  for url in "$@"; do
    i=$((i + 1))
    timeout -k 2 $((d + 15)) wrk -t"$tt" -c"$cc" -d"${d}s" --latency -s bench/wrk-histogram.lua "${hdrs[@]}" \
      "$url/api/hello" > "$prefix.$i.txt" 2>&1 &
    pids+=($!); files+=("$prefix.$i.txt")
  done
  TRANSIENT+=("${pids[@]}"); write_pidfile
  for i in "${pids[@]}"; do wait "$i" || true; done
  TRANSIENT=(); write_pidfile
  WRK_FILES=("${files[@]}")
  WRK_CMD="wrk -t$tt -c$cc -d${d}s --latency -s bench/wrk-histogram.lua"
  for i in "${hdrs[@]}"; do [[ "$i" == -H ]] && WRK_CMD+=" -H" || WRK_CMD+=" '$i'"; done
  if (( n == 1 )); then WRK_CMD+=" $1/api/hello"
  else WRK_CMD+=" URL/api/hello   # one wrk per gateway, in parallel, URL = $*"; fi
}

mgmt_ports_of() {
  case "$1" in
    sluice-1) echo "$M_S1" ;;
    sluice-2) echo "$M_GA $M_GB" ;;
    sluice-3) echo "$M_GA $M_GB $M_GC" ;;
    netty-1) echo "$M_N1" ;;
    netty-2) echo "$M_NA $M_NB" ;;
    netty-3) echo "$M_NA $M_NB $M_NC" ;;
    *) echo "" ;;
  esac
}
urls_of() {
  case "$1" in
    direct) u "$P_API" ;;
    haproxy) u "$P_HAP_HIGH" ;;
    haproxy-limited) u "$P_HAP_L1" ;;
    sluice-1) u "$P_S1" ;;
    sluice-2) echo "$(u "$P_GA") $(u "$P_GB")" ;;
    sluice-3) echo "$(u "$P_GA") $(u "$P_GB") $(u "$P_GC")" ;;
    netty-1) u "$P_N1" ;;
    netty-2) echo "$(u "$P_NA") $(u "$P_NB")" ;;
    netty-3) echo "$(u "$P_NA") $(u "$P_NB") $(u "$P_NC")" ;;
  esac
}

pids_of() {  # the processes that make up SYSTEM (what serves its port)
  case "$1" in
    direct) echo "${PID_OF[api]}" ;;
    haproxy) echo "${PID_OF[haproxy-high]}" ;;
    haproxy-limited) echo "${PID_OF[haproxy-limited]}" ;;
    sluice-1) echo "${PID_OF[sluice-1]}" ;;
    sluice-2) echo "${PID_OF[gw-a]} ${PID_OF[gw-b]}" ;;
    netty-1) echo "${PID_OF[netty-1]}" ;;
    netty-2) echo "${PID_OF[gw-na]} ${PID_OF[gw-nb]}" ;;
  esac
}

# usage_split MARK_BEFORE MARK_AFTER: "system=0.85 api=0.28 load=0.83 idle=0.02 wait=52 secs=5.04" (CPUs used on
# average; wait = the system's run-queue wait in ms per second; secs = the time between the marks)
usage_split() {
  awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " "); w = (y[2] - x[2]) / n;
    if (w <= 0) { print "na"; exit }
    printf "system=%.3f api=%.2f load=%.2f idle=%.2f wait=%.0f secs=%.2f", (y[6] - x[6]) / w, (y[7] - x[7]) / w,
      (y[8] - x[8]) / w, (y[5] - x[5]) / w, (y[9] - x[9]) / 1e6 / (w / 100), w / 100 }'
}

# one wrk measurement of SYSTEM; PHASE decides the headers and the output directory
measure() {  # measure PHASE SYSTEM CONFIG(t2c64|t1c16) REP SECONDS [ATTEMPT]
  local phase="$1" sys="$2" cfg="$3" rep="$4" d="$5" attempt="${6:-1}" t c hv mp=() sb="" sa="" id urls st
  t="${cfg#t}"; t="${t%%c*}"; c="${cfg#*c}"
  hv=WRK_TPUT_H; [[ "$phase" == reject ]] && hv=WRK_REJ_H
  id="$phase-$sys-$cfg-r$rep"; (( attempt > 1 )) && id+="-again"
  read -r -a mp <<< "$(mgmt_ports_of "$sys")"
  read -r -a urls <<< "$(urls_of "$sys")"
  if (( ${#mp[@]} )); then sb="$OUT/stats/$id.before"; stats_snapshot "$sb" "${mp[@]}"; fi
  local c0 c1 fp pids=()
  read -r -a pids <<< "$(pids_of "$sys")"
  c0="$(cpu_mark "${pids[@]}")"
  wrk_run "$OUT/$phase/$id" "$t" "$c" "$d" "$hv" "${urls[@]}"
  c1="$(cpu_mark "${pids[@]}")"
  fp="$(foreign_pct "$c0" "$c1")"
  if (( ${#mp[@]} )); then sa="$OUT/stats/$id.after"; stats_snapshot "$sa" "${mp[@]}"; fi
  st="$(steal_pct "$c0" "$c1")"
  local recorded="$phase" again=false
  if (( attempt == 1 && REPEATS < MAX_REPEATS )) && awk -v s="$st" -v l="$STEAL_LIMIT" 'BEGIN {exit !(s + 0 > l)}' \
      && have_time $((d + 1 + REPEAT_RESERVE)); then
    recorded="$phase-disturbed"; again=true; REPEATS=$((REPEATS + 1))
  fi
  record_run "$recorded" "$sys" "$cfg" "$rep" "$(IFS=,; echo "${WRK_FILES[*]}")" "$sb" "$sa" "$WRK_CMD" "$fp" \
    "$st" "$(usage_split "$c0" "$c1")"
  say "  $id: $(grep -h 'Requests/sec' "${WRK_FILES[@]}" | awk '{s += $2} END {printf "%.0f req/s", s}') $(grep -h 'Non-2xx' "${WRK_FILES[@]}" | awk '{s += $NF} END {if (s) printf "(non-2xx %d)", s}') [others used ${fp}% CPU, steal ${st}%]$($again && echo " - steal over ${STEAL_LIMIT}%: run again")"
  if $again; then measure "$phase" "$sys" "$cfg" "$rep" "$d" 2; fi
}

# ---------------------------------------------------------------- phase 1: throughput and latency, limits not hit
SYSTEMS=(direct haproxy sluice-1 sluice-2 netty-1 netty-2)
CONFIGS=(t2c64 t1c16)
# warm_until_stable SYSTEM MAX_SECONDS HEADERS_ARRAY_NAME: 3 s wrk runs until three in a row are within 5% of
# each other, or MAX_SECONDS of them. The JVMs (Vert.x, Hazelcast) take tens of seconds of load to
# reach their steady speed; the curve goes to meta.env (warmup_SYSTEM=rps rps ...).
warm_until_stable() {
  local sys="$1" max="$2" hv="$3" t0=$SECONDS prev=0 prev2=0 cur n=0 curve="" urls=()
  read -r -a urls <<< "$(urls_of "$sys")"
  while (( SECONDS - t0 + 3 <= max )); do
    n=$((n + 1))
    wrk_run "$OUT/tput/warmup-$sys-$n" 2 64 3 "$hv" "${urls[@]}"
    cur="$(grep -h 'Requests/sec' "${WRK_FILES[@]}" | awk '{s += $2} END {printf "%.0f", s}')"
    curve+="${cur:-0} "
    if (( n >= 3 && prev2 > 0 )) && awk -v a="$prev2" -v b="$prev" -v c="${cur:-0}" \
        'BEGIN {lo = a; hi = a; if (b < lo) lo = b; if (c < lo) lo = c; if (b > hi) hi = b; if (c > hi) hi = c;
                exit !(hi <= 1.05 * lo)}'; then
      break
    fi
    prev2="$prev"; prev="${cur:-0}"
  done
  echo "warmup_${sys}=${curve% }" >> "$OUT/meta.env"
  say "  warm-up $sys: ${curve% } req/s (3 s runs)"
}
say "== warm-up: 3 s wrk runs against each system until three in a row agree within 5% (or a cap)"
warm_until_stable direct 12 WRK_TPUT_H
warm_until_stable haproxy 9 WRK_TPUT_H
# the vertx engine's JIT takes 30-40 s of load to settle (issue 11), hence its longer caps
warm_until_stable sluice-1 45 WRK_TPUT_H
warm_until_stable sluice-2 66 WRK_TPUT_H
warm_until_stable netty-1 33 WRK_TPUT_H
warm_until_stable netty-2 66 WRK_TPUT_H
# the second client setting takes other code paths (fewer connections in flight): one 3 s run each
for sys in "${SYSTEMS[@]}"; do
  read -r -a urls <<< "$(urls_of "$sys")"
  wrk_run "$OUT/tput/warmup-$sys-t1c16" 1 16 3 WRK_TPUT_H "${urls[@]}"
done
T1=$SECONDS
per_round=$(( ${#SYSTEMS[@]} * ${#CONFIGS[@]} * (WRK_S + 1) ))
say "== phase 1: throughput, $REPS x ${#CONFIGS[@]} configurations x ${#SYSTEMS[@]} systems, ${WRK_S} s each (~$((REPS * per_round)) s)"
for ((rep = 1; rep <= REPS; rep++)); do
  # keep ~520 s for phases 2 and 3
  have_time $((per_round + 520)) || { say "skipping throughput round $rep: not enough time left"; break; }
  # a repeat must leave the later rounds, phase 2 (~130 s) and phase 3 with its 3-gateway runs (~420 s)
  REPEAT_RESERVE=$(( (REPS - rep) * per_round + 560 ))
  for cfg in "${CONFIGS[@]}"; do
    for sys in "${SYSTEMS[@]}"; do measure tput "$sys" "$cfg" "$rep" "$WRK_S"; done
  done
done
echo "phase1_s=$((SECONDS - T1))" >> "$OUT/meta.env"

# ---------------------------------------------------------------- phase 2: reject path
T2=$SECONDS
REJ_SYSTEMS=(haproxy-limited sluice-1 sluice-2 netty-1 netty-2)
say "== phase 2: reject path, global 10/1s, wrk -t2 -c64, 3 rounds"
start_haproxy haproxy-limited bench/haproxy/limited.cfg "$P_HAP_L1"
wait_port haproxy-limited "$P_HAP_L1" || die "HAProxy (limited) did not start"
# a short warm-up of the rejection path (other code than forwarding)
for sys in "${REJ_SYSTEMS[@]}"; do
  read -r -a urls <<< "$(urls_of "$sys")"
  wrk_run "$OUT/reject/warmup-$sys-1" 2 64 3 WRK_REJ_H "${urls[@]}"
  wrk_run "$OUT/reject/warmup-$sys-2" 2 64 3 WRK_REJ_H "${urls[@]}"
done
for ((rep = 1; rep <= 3; rep++)); do
  have_time $((5 * (WRK_S + 1) + 400)) || { say "skipping reject round $rep: not enough time left"; break; }
  REPEAT_RESERVE=$(( (3 - rep) * 5 * (WRK_S + 1) + 420 ))
  for sys in "${REJ_SYSTEMS[@]}"; do measure reject "$sys" t2c64 "$rep" "$WRK_S"; done
done
stop_named haproxy-limited
echo "phase2_s=$((SECONDS - T2))" >> "$OUT/meta.env"

# ---------------------------------------------------------------- phase 3: accuracy
T3=$SECONDS
MULTS=(0.8 1.2 2 20)
LC=(java -cp "$OUT/lc" LoadClient)
ACC_RUN_S=$((ACC_S + 6))
acc_run() {  # acc_run SYSTEM MULT URL...
  local sys="$1" m="$2"; shift 2
  local targets id rg rt mp=() sb="" sa="" rc=0 cmd a
  targets="$(IFS=,; echo "$*")"
  id="acc-$sys-x$m"
  rg="$(awk -v m="$m" 'BEGIN {printf "%g", 10 * m}')"
  rt="$(awk -v m="$m" 'BEGIN {printf "%g", 5 * m}')"
  read -r -a mp <<< "$(mgmt_ports_of "$sys")"
  if (( ${#mp[@]} )); then sb="$OUT/stats/$id.before"; stats_snapshot "$sb" "${mp[@]}"; fi
  # fresh key values per run (Sluice counts per header value; HAProxy is restarted per run instead)
  local args=(--targets "$targets" --duration "${ACC_S}s" --timeout 4s --window 1s
    --stream "name=global,rate=$rg,header=X-Acc-Global:g-$sys-$m-$$"
    --stream "name=token,rate=$rt,header=X-Acc-Key:t-$sys-$m-$$"
    --json "$OUT/acc/$id.json" --csv "$OUT/acc/$id.csv")
  local c0 c1
  c0="$(cpu_mark)"
  run_child timeout -k 3 $((ACC_S + 20)) "${LC[@]}" "${args[@]}" > "$OUT/acc/$id.txt" 2>&1 || rc=$?
  c1="$(cpu_mark)"
  if (( ${#mp[@]} )); then sa="$OUT/stats/$id.after"; stats_snapshot "$sa" "${mp[@]}"; fi
  cmd="java -cp $OUT/lc LoadClient"
  for a in "${args[@]}"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,@+-]+$ ]]; then cmd+=" $a"; else cmd+=" $(printf '%q' "$a")"; fi
  done
  record_run accuracy "$sys" "x$m" 1 "$OUT/acc/$id.txt,$OUT/acc/$id.csv" "$sb" "$sa" "$cmd" "$(foreign_pct "$c0" "$c1")" "$(steal_pct "$c0" "$c1")"
  say "  $id (rc $rc): $(grep -h 'summary: stream=global ' "$OUT/acc/$id.txt" | grep -o 'maxWindow=[0-9]*\|meanPerSec=[0-9.]*' | paste -sd ' ' -) | token $(grep -h 'summary: stream=token ' "$OUT/acc/$id.txt" | grep -o 'maxWindow=[0-9]*\|meanPerSec=[0-9.]*' | paste -sd ' ' -)"
  sleep 0.3
}

say "== phase 3: accuracy, LoadClient ${ACC_S} s per run, global 10/1s + per-token 5/1s at ${MULTS[*]} x the limit"
for sys in sluice-1 netty-1 sluice-2 netty-2; do
  read -r -a urls <<< "$(urls_of "$sys")"
  for m in "${MULTS[@]}"; do
    have_time $((ACC_RUN_S + 30)) || { say "skipping $sys x$m: not enough time left"; continue; }
    acc_run "$sys" "$m" "${urls[@]}"
  done
  [[ "$sys" == *-1 ]] && stop_named "$sys"   # free its CPU
done

# the third gateway joins while HAProxy is measured (HAProxy's decisions do not depend on CPU timing)
GC_STARTED=false
if have_time $((14 * ACC_RUN_S + 10)); then
  say "starting gateways C and NC (each joins its engine's cluster in the background)"
  start_gateway gw-c "$P_GC" "$M_GC" cluster vertx
  start_gateway gw-nc "$P_NC" "$M_NC" cluster netty
  GC_STARTED=true
fi

for n in 1 2; do
  for m in "${MULTS[@]}"; do
    have_time $((ACC_RUN_S + 20)) || { say "skipping haproxy-$n x$m: not enough time left"; continue; }
    start_haproxy hap-acc-1 bench/haproxy/limited.cfg "$P_HAP_L1"
    urls=("$(u "$P_HAP_L1")")
    if (( n == 2 )); then start_haproxy hap-acc-2 bench/haproxy/limited.cfg "$P_HAP_L2"; urls+=("$(u "$P_HAP_L2")"); fi
    wait_port hap-acc-1 "$P_HAP_L1" || die "HAProxy did not start"
    (( n == 2 )) && { wait_port hap-acc-2 "$P_HAP_L2" || die "HAProxy 2 did not start"; }
    acc_run "haproxy-$n" "$m" "${urls[@]}"
    stop_named hap-acc-1 hap-acc-2
  done
done

acc_three() {  # acc_three SYSTEM GATEWAY MGMT_PORT: the accuracy runs of a 3-gateway cluster
  local sys="$1" gw="$2" mp="$3" urls=()
  if $GC_STARTED && wait_ready "$gw" "$(u "$mp")/health/ready" 60; then
    sleep 2
    read -r -a urls <<< "$(urls_of "$sys")"
    wrk_run "$OUT/tput/warmup-$sys" 2 60 2 WRK_TPUT_H "${urls[@]}"
    sleep 1.5
    for m in "${MULTS[@]}"; do
      have_time $((ACC_RUN_S + 15)) || { say "skipping $sys x$m: not enough time left"; continue; }
      acc_run "$sys" "$m" "${urls[@]}"
    done
  else
    say "$sys skipped (gateway $gw not started or not ready)"
  fi
}
acc_three sluice-3 gw-c "$M_GC"
stop_named gw-c gw-b gw-a   # free their CPU for the netty cluster
acc_three netty-3 gw-nc "$M_NC"
echo "phase3_s=$((SECONDS - T3))" >> "$OUT/meta.env"

# ---------------------------------------------------------------- stop, phase 4, report
say "== stopping everything"
stop_named gw-nc gw-nb gw-na netty-1 gw-c gw-b gw-a sluice-1 haproxy-high api
if $PER_USER; then
  T4=$SECONDS
  rm -rf "${OUT:?}/per-user"
  if have_time "$PER_USER_S"; then
    say "== phase 4: per-user limits (bench/per-user.sh, output in $OUT/per-user)"
    PU_OUT="$OUT/per-user" API_JAR="$API_JAR" GW_JAR="$GW_JAR" run_child bench/per-user.sh > "$OUT/logs/per-user.log" 2>&1 \
      || say "bench/per-user.sh failed (see $OUT/logs/per-user.log)"
  else
    say "skipping phase 4: $(left) s left, it needs $PER_USER_S"
  fi
  echo "phase4_s=$((SECONDS - T4))" >> "$OUT/meta.env"
fi
echo "total_s=$SECONDS" >> "$OUT/meta.env"
say "== writing bench/RESULTS.md and bench/accuracy.svg"
timeout -k 2 30 python3 bench/report.py "$OUT" bench/RESULTS.md bench/accuracy.svg && REPORT_DONE=true
say "finished in ${SECONDS} s (budget ${BUDGET} s + stop)"
