#!/usr/bin/env bash
# The booking page in a real browser, a step of `make test`: headless chromium (Debian's),
# driven by Playwright for Python, against `local-api` on a private redis-server and broker,
# with axe-core checking accessibility in the page. Screenshots of a failure go to
# target/browser-test/; `UPDATE_SCREENSHOTS=1` also rewrites the README's docs/*.png.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

WORK="$LOCAL/browser-test"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SHOTS="$TARGET_DIR/browser-test"

ensure_redis
ensure_tansu
ensure_browser_tools
mkdir -p "$WORK" "$SHOTS"
log "building local-api"
cargo build -q -p local-api

redis_port="$(free_port)"
api_port="$(free_port)"
broker_port="$(free_port)"
redis_pid=""
api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  stop_local_broker "$broker_port"
  return 0
}
trap cleanup EXIT

start_private_redis "$redis_port" "$WORK/redis.log"
redis_pid="$PRIVATE_REDIS_PID"
start_local_broker "$broker_port"

# The documented keys, as the seed function writes them: PWTC with 5 slots on each of three
# dates, and IDCC with a single slot, for the fully-booked case.
seed() { # location capacity dates...
  local location="$1" capacity="$2"
  shift 2
  for date in "$@"; do
    redis-cli -p "$redis_port" HSET "slots:$location" "$date" "$capacity" >/dev/null
    redis-cli -p "$redis_port" HSET "capacity:$location" "$date" "$capacity" >/dev/null
  done
  redis-cli -p "$redis_port" SADD stations "$location" >/dev/null
}
seed PWTC 5 20210516 20210517 20210518
seed IDCC 1 20210516

REDIS_URL="redis://127.0.0.1:$redis_port" KAFKA_BROKERS="127.0.0.1:$broker_port" \
  PORT="$api_port" RUST_LOG=warn \
  "$TARGET_DIR/debug/local-api" >"$WORK/local-api.log" 2>&1 &
api_pid=$!
wait_for_port 127.0.0.1 "$api_port" 30

docs_dir=""
[ "${UPDATE_SCREENSHOTS:-}" = 1 ] && docs_dir="$ROOT/docs"
log "booking page in chromium against local-api on 127.0.0.1:$api_port"
timeout 180 "$BROWSER_VENV/bin/python" "$ROOT/scripts/browser/booking_page.py" \
  --base-url "http://127.0.0.1:$api_port" --redis-port "$redis_port" \
  --chromium "$CHROMIUM" --axe "$AXE_JS" --shots "$SHOTS" ${docs_dir:+--docs "$docs_dir"}
if grep -q panicked "$WORK/local-api.log"; then
  log "local-api panicked; see $WORK/local-api.log"
  exit 1
fi
