# Shared helpers for the Make targets: install what is missing, start and stop local services.
# Sourced, not run. Everything local lives in .local/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"
CARGO_LAMBDA_VERSION="1.9.2"
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS="$LOCAL/venv/bin/schemathesis"

log() { printf '==> %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# Python console scripts land in the interpreter's scripts folder; make sure it is on PATH.
python_scripts_on_path() {
  local scripts
  scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
  case ":$PATH:" in *":$scripts:"*) ;; *) export PATH="$scripts:$PATH" ;; esac
}

ensure_redis() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    log "installing redis-server"
    apt_install redis-server
  fi
}

ensure_cargo_lambda() {
  python_scripts_on_path
  if ! command -v cargo-lambda >/dev/null; then
    log "installing cargo-lambda $CARGO_LAMBDA_VERSION"
    python3 -m pip install -q "cargo-lambda==$CARGO_LAMBDA_VERSION"
    hash -r
  fi
}

# Into a virtualenv of its own, so its many dependencies never meet the system's Python.
ensure_schemathesis() {
  if ! "$SCHEMATHESIS" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into .local/venv"
    python3 -m venv "$LOCAL/venv" || { apt_install python3-venv && python3 -m venv "$LOCAL/venv"; }
    "$LOCAL/venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ensure_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}

ensure_hey() {
  command -v hey >/dev/null || { log "installing hey"; apt_install hey; }
}

docker_engine_answers() {
  command -v docker >/dev/null && docker info >/dev/null 2>&1
}

wait_for_port() { # host port seconds
  local deadline=$((SECONDS + $3))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "nothing listens on $1:$2 after $3 s"
      return 1
    fi
    sleep 0.2
  done
}

# A local redis-server on $1, pid and log in .local/, unless something already listens there.
start_local_redis() {
  local port="$1"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "Redis already listens on 127.0.0.1:$port"
    return 0
  fi
  ensure_redis
  log "starting redis-server on 127.0.0.1:$port"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
    --dir "$LOCAL" --dbfilename "redis-$port.rdb" --appendonly yes \
    --appenddirname "redis-$port-aof" \
    --pidfile "$LOCAL/redis-$port.pid" --logfile "$LOCAL/redis-$port.log"
  wait_for_port 127.0.0.1 "$port" 10
}

stop_local_redis() {
  local pidfile="$LOCAL/redis-$1.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}
