#!/usr/bin/env bash
# The booking page in a real browser, a step of `make test`: headless chromium (Debian's),
# driven by Playwright for Python, against `local-api` on a private redis-server and broker,
# with axe-core checking accessibility in the page. Screenshots of a failure go to
# target/browser-test/; `UPDATE_SCREENSHOTS=1` also rewrites the README's docs/*.png.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

WORK="$LOCAL/browser-test"
SHOTS="${CARGO_TARGET_DIR:-$ROOT/target}/browser-test"

ensure_redis
ensure_tansu
ensure_browser_tools
mkdir -p "$WORK" "$SHOTS"
rm -f "$SHOTS"/*.png  # only this run's pictures
log "building local-api"
cargo build -q -p local-api

start_test_stack "$WORK"
redis_port="$STACK_REDIS_PORT"

# The documented keys, as the seed function writes them: PWTC with 5 slots on each of three
# dates, IDCC with a single slot, for the fully-booked case, and UM.
seed() { # location capacity dates...
  local location="$1" capacity="$2"
  shift 2
  for date in "$@"; do
    redis-cli -p "$redis_port" HSET "slots:{$location}" "$date" "$capacity" >/dev/null
    redis-cli -p "$redis_port" HSET "capacity:{$location}" "$date" "$capacity" >/dev/null
  done
  redis-cli -p "$redis_port" SADD stations "$location" >/dev/null
}
seed PWTC 5 20210516 20210517 20210518
seed IDCC 1 20210516
seed UM 2 20210518
# Names and addresses as a seed event gives them (UM has none: listed by its code).
redis-cli -p "$redis_port" HSET "station-names:{stations}" PWTC "Pusat Dagangan Dunia Putra (PWTC)" \
  IDCC "IDCC Shah Alam" >/dev/null
redis-cli -p "$redis_port" HSET "station-addresses:{stations}" \
  PWTC "41, Jalan Tun Ismail, 50480 Kuala Lumpur" IDCC "Seksyen 15, 40200 Shah Alam" >/dev/null

start_stack_api
# A second local-api on the same Redis with the waiting room on, admitting one person a second.
room_port="$(free_port)"
start_stack_api "$room_port" WAITING_ROOM=on QUEUE_INLET_RATE=60 \
  ADMISSION_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
# A third, on the same Redis, where every act for a person needs a phone proved by a one-time
# code; the codes go to a file the test reads (as a phone would get the SMS).
otp_port="$(free_port)"
otp_file="$WORK/otp-codes.log"
rm -f "$otp_file"
start_stack_api "$otp_port" IDENTITY=otp OTP_SENDER=file OTP_FILE="$otp_file" \
  IDENTITY_TOKEN_KEY=browser-test-identity-token-key-0123456789

docs_dir=""
[ "${UPDATE_SCREENSHOTS:-}" = 1 ] && docs_dir="$ROOT/docs"
log "booking page in chromium against local-api on 127.0.0.1:$STACK_API_PORT"
timeout 180 "$BROWSER_VENV/bin/python" "$ROOT/scripts/browser/booking_page.py" \
  --base-url "http://127.0.0.1:$STACK_API_PORT" --room-url "http://127.0.0.1:$room_port" \
  --otp-url "http://127.0.0.1:$otp_port" --otp-file "$otp_file" \
  --redis-port "$redis_port" \
  --chromium "$CHROMIUM" --axe "$AXE_JS" --shots "$SHOTS" ${docs_dir:+--docs "$docs_dir"}
if grep -q panicked "$WORK"/local-api*.log; then
  log "local-api panicked; see $WORK/local-api.log"
  exit 1
fi
