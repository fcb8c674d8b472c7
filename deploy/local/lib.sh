# shellcheck shell=bash
# Shared helpers for the local infrastructure scripts. Source it; do not run it.
#
# State (data, pid files, logs, dev keys) lives in FUPIN_HOME (default ~/.fupin) and
# downloaded jars in FUPIN_CACHE (default ~/.cache/fupin), both outside the source tree,
# so `deploy/local/reset` can wipe the state without touching the checkout.

if [[ -n "${_FUPIN_LIB_LOADED:-}" ]]; then
  return 0
fi
_FUPIN_LIB_LOADED=1

FUPIN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
FUPIN_HOME="${FUPIN_HOME:-${HOME:?HOME is not set}/.fupin}"
FUPIN_CACHE="${FUPIN_CACHE:-${HOME:?HOME is not set}/.cache/fupin}"
# Absolute paths only: the state directory is handed to other users (postgres) and processes.
[[ "$FUPIN_HOME" == /* ]] || FUPIN_HOME="$PWD/$FUPIN_HOME"
[[ "$FUPIN_CACHE" == /* ]] || FUPIN_CACHE="$PWD/$FUPIN_CACHE"
FUPIN_RUN="$FUPIN_HOME/run"
FUPIN_LOGS="$FUPIN_HOME/logs"
FUPIN_KEYS="$FUPIN_HOME/keys"
FUPIN_ENV_FILE="$FUPIN_ROOT/deploy/local/fupin.env"
export FUPIN_ROOT FUPIN_HOME FUPIN_CACHE

# name  directory under services/  python package  settings env prefix
FUPIN_SERVICES_TABLE="\
registry registry fupin_registry REGISTRY
funds funds fupin_funds FUNDS
teams teams fupin_teams TEAMS
evaluation evaluation fupin_evaluation EVALUATION
social social-platform fupin_social SOCIAL"

# ---------------------------------------------------------------------------- logging

_fupin_tag="$(basename "$0")"

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "$_fupin_tag" "$*" >&2; }
warn() { printf '%s [%s] WARNING: %s\n' "$(date +%H:%M:%S)" "$_fupin_tag" "$*" >&2; }
die() {
  printf '%s [%s] ERROR: %s\n' "$(date +%H:%M:%S)" "$_fupin_tag" "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------- configuration

# load_env FILE: export every KEY=value line of FILE. A variable that is already set in the
# environment keeps its value (the usual dotenv rule), so one key can be overridden per run.
load_env() {
  local file="$1" line key value
  [[ -f "$file" ]] || die "missing configuration file $file"
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%$'\r'}"
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || die "$file: not a KEY=value line: $line"
    key="${BASH_REMATCH[1]}"
    value="${BASH_REMATCH[2]}"
    if [[ -z "${!key+set}" ]]; then
      export "$key=$value"
    else
      export "${key?}"
    fi
  done <"$file"
}

load_fupin_env() { load_env "$FUPIN_ENV_FILE"; }

# services_selected: prints the table rows of the services to act on (FUPIN_SERVICES, a
# space-separated list of names, narrows it; default all five).
services_selected() {
  local name dir pkg prefix wanted="${FUPIN_SERVICES:-}"
  while read -r name dir pkg prefix; do
    if [[ -z "$wanted" || " $wanted " == *" $name "* ]]; then
      printf '%s %s %s %s\n' "$name" "$dir" "$pkg" "$prefix"
    fi
  done <<<"$FUPIN_SERVICES_TABLE"
}

ensure_state_dirs() {
  mkdir -p "$FUPIN_HOME" "$FUPIN_RUN" "$FUPIN_LOGS" "$FUPIN_KEYS" "$FUPIN_CACHE"
  chmod 700 "$FUPIN_KEYS"
}

# ---------------------------------------------------------------------------- ports

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_for_port HOST PORT SECONDS [PID]: waits until the port accepts; gives up early when
# PID (the process that should open it) has exited.
wait_for_port() {
  local host="$1" port="$2" limit="$3" pid="${4:-}" start=$SECONDS
  while ! port_open "$host" "$port"; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    if ((SECONDS - start >= limit)); then
      return 1
    fi
    sleep 0.3
  done
}

# ---------------------------------------------------------------------------- processes

# pid_matches PID MARKER: the process exists and its command line contains MARKER
# (guards against a stale pid file whose number now belongs to another process).
pid_matches() {
  local pid="$1" marker="$2" cmdline
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$marker"* ]]
}

# running_pid PIDFILE MARKER: prints the pid and succeeds when the process we started is alive.
running_pid() {
  local pidfile="$1" marker="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(head -n1 "$pidfile" 2>/dev/null)"
  if pid_matches "$pid" "$marker"; then
    printf '%s\n' "$pid"
    return 0
  fi
  return 1
}

# start_detached PIDFILE LOGFILE CMD...: runs CMD in its own session (so it survives the
# calling shell and can be stopped as a process group), appends its output to LOGFILE and
# records its pid. Prints the pid.
start_detached() {
  local pidfile="$1" logfile="$2" pid
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  printf '\n===== %s starting: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logfile"
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$pidfile"
  printf '%s\n' "$pid"
}

# stop_pidfile PIDFILE MARKER NAME [SECONDS]: SIGTERM to the process (its whole process group
# when it leads one, as start_detached arranges), SIGKILL after SECONDS (default 30).
stop_pidfile() {
  local pidfile="$1" marker="$2" name="$3" limit="${4:-30}" pid target start
  if ! pid="$(running_pid "$pidfile" "$marker")"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  target="$pid"
  if [[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" == "$pid" ]]; then
    target="-$pid"
  fi
  log "$name: stopping (pid $pid)"
  kill -TERM -- "$target" 2>/dev/null || true
  start=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS - start >= limit)); then
      warn "$name: still running after ${limit}s, sending SIGKILL"
      kill -KILL -- "$target" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "$name: stopped"
}

# ---------------------------------------------------------------------------- tools

_FUPIN_APT_UPDATED=""

apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  ((EUID == 0)) || die "installing $* needs root (apt-get)"
  if [[ -z "$_FUPIN_APT_UPDATED" ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    _FUPIN_APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# ensure_java: java, javac (the topic/readiness helper is compiled once) and mvn.
ensure_java() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
  command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  if ((${#missing[@]})); then
    # shellcheck disable=SC2046
    apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
  fi
}

# ensure_uv: sets the array UV to the uv command, installing uv with pip when absent.
ensure_uv() {
  if ((${#UV[@]})); then
    return
  fi
  if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then
    log "installing uv with pip"
    python3 -m pip install --quiet uv ||
      python3 -m pip install --quiet --break-system-packages uv
    hash -r
  fi
  if command -v uv >/dev/null 2>&1; then
    UV=("$(command -v uv)")
  else
    UV=(python3 -m uv)
  fi
}
UV=()

# uv_cmd ARGS...: runs uv.
uv_cmd() {
  ensure_uv
  "${UV[@]}" "$@"
}

# uv_sync: the workspace environment, from the lock when there is one.
uv_sync() {
  if [[ -f "$FUPIN_ROOT/uv.lock" ]]; then
    (cd "$FUPIN_ROOT" && uv_cmd sync --frozen)
  else
    warn "no uv.lock yet: resolving with 'uv sync'"
    (cd "$FUPIN_ROOT" && uv_cmd sync)
  fi
}

# http_ok URL: true on a 2xx answer.
http_ok() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null -m 3 "$1" 2>/dev/null
  else
    python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    sys.exit(0 if 200 <= r.status < 300 else 1)
PY
  fi
}
