# bench/jars.sh: sourced by the bench scripts that start the built jars on loopback (bodies.sh, slow-clients.sh, ...);
# API_JAR and GW_JAR may be set beforehand (bench/run.sh passes its copies).
# The sourcing script sets OUT (where logs go) and NAME (its name, for messages) first; it gets PIDS (what it
# started), say, die, parse_build_option, free_ports, start, await_line, and a cleanup on exit that stops every PID it started (SIGTERM, then
# SIGKILL after 10 s). It may set ON_EXIT to a command run at the end of the cleanup.

API_JAR="${API_JAR:-api-verticle/target/api-verticle.jar}"
GW_JAR="${GW_JAR:-gateway-verticle/target/gateway-verticle.jar}"
PIDS=()
ON_EXIT=":"

say() { printf '%s\n' "$*"; }
die() { say "$NAME: $*" >&2; exit 1; }

cleanup() {
  trap - EXIT INT TERM
  local pid i
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for ((i = 0; i < 100; i++)); do
    local alive=false
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  eval "$ON_EXIT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# parse_build_option ARGS...: the one option of the scripts that start the jars, --build (BUILD=true: build them
# even when they exist); -h/--help prints the script's header comment and exits; anything else is refused
parse_build_option() {
  BUILD=false
  case "${1:-}" in
    --build) BUILD=true ;;
    "") ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "$NAME: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
}

# free_ports N: N distinct loopback ports free now (held open together while asked for), on one line
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# build_jars BUILD: `mvn -B -q package -DskipTests` when BUILD is true or a jar is missing
build_jars() {
  if [[ "$1" == true || ! -f "$API_JAR" || ! -f "$GW_JAR" ]]; then
    say "building: mvn -B -q package -DskipTests"
    mvn -B -q package -DskipTests || die "build failed"
  fi
}

# start NAME ENV=VALUE... -- JAVA_ARGS...: a JVM in the background, its output in $OUT/NAME.log
start() {
  local name="$1" envs=()
  shift
  while [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" java "$@" < /dev/null > "$OUT/$name.log" 2>&1 &
  PIDS+=("$!")
}

# await_line FILE REGEX PID: the first group of REGEX in FILE, waiting up to 60 s for it while PID lives
await_line() {
  local file="$1" regex="$2" pid="$3" i match
  for ((i = 0; i < 600; i++)); do
    match="$(sed -nE "s/.*$regex.*/\\1/p" "$file" 2>/dev/null | head -n 1)"
    [[ -n "$match" ]] && { printf '%s' "$match"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  say "----- $file" >&2
  tail -n 20 "$file" >&2
  return 1
}
