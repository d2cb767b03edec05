#!/usr/bin/env bash
# `make bench-rush`: the opening minute against local-api (release) on a private Redis and
# broker. RUSH_PEOPLE distinct people (default 100,000) join the waiting room at once, the inlet
# lets them in at RUSH_INLET_RATE people a minute, each admitted person books once, and there are
# RUSH_SLOTS slots (fewer than people). Then the same people rush POST /booking with the room
# off. Then both again under IDENTITY=otp (each person sends the identity token their phone's
# code earned them), and the room once more with RUSH_BOT_PERCENT (10) of the joiners bots:
# made-up IDs without a token. Prints a summary, writes target/bench/rush.json. Figures only:
# never fails on speed.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PEOPLE="${RUSH_PEOPLE:-100000}"
SLOTS="${RUSH_SLOTS:-$((PEOPLE * 3 / 10))}"          # about the Klang Valley ratio: 1 in 3
INLET_RATE="${RUSH_INLET_RATE:-240000}"              # people per minute (4,000/s)
CONNECTIONS="${RUSH_CONNECTIONS:-512}"               # clients at once
MAX_IN_FLIGHT="${RUSH_MAX_IN_FLIGHT:-256}"           # local-api's bound (MAX_IN_FLIGHT)
BOT_PERCENT="${RUSH_BOT_PERCENT:-10}"                # of the joiners, in the bots row
# The identity rows' token key: the API checks what the driver signs as the API would issue it.
IDENTITY_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/bench"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"

ensure_redis
ensure_tansu
mkdir -p "$OUT"
log "building local-api and the rush driver (release; minutes the first time)"
cargo build --release -q -p local-api -p rush

redis_port="$(free_port)"
api_port="$(free_port)"
broker_port="$(free_port)"
api_pid=""
stop_api() {
  if [ -n "$api_pid" ]; then
    kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
    api_pid=""
  fi
  return 0
}
cleanup() {
  stop_api
  [ -n "${PRIVATE_REDIS_PID:-}" ] && kill "$PRIVATE_REDIS_PID" 2>/dev/null && wait "$PRIVATE_REDIS_PID" 2>/dev/null
  stop_local_broker "$broker_port"
  return 0
}
trap cleanup EXIT
# Each client holds a connection: raise the descriptor limit as far as allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

start_private_redis "$redis_port" "$OUT/rush-redis.log"
start_local_broker "$broker_port"
rcli() { redis-cli -p "$redis_port" "$@"; }

# Fresh data for each run: one station, one date, SLOTS slots (the documented keys).
reset_data() {
  rcli FLUSHALL >/dev/null
  rcli HSET 'slots:{RUSH}' 20210516 "$SLOTS" >/dev/null
  rcli HSET 'capacity:{RUSH}' 20210516 "$SLOTS" >/dev/null
  rcli SADD stations RUSH >/dev/null
}

# Every client keeps its connection (plus the driver's pollers): local-api's connection cap must
# not leave some of them waiting to be accepted. The in-flight bound is what is measured.
start_api() { # waiting room on|off, identity none|otp
  IDENTITY="$2" IDENTITY_TOKEN_KEY="$IDENTITY_KEY" OTP_SENDER=file OTP_FILE="$OUT/rush-otp.log" \
  ADMISSION_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" WAITING_ROOM="$1" \
    QUEUE_INLET_RATE="$INLET_RATE" MAX_IN_FLIGHT="$MAX_IN_FLIGHT" \
    CLIENT_WRITES_PER_MINUTE=0 \
    MAX_CONNECTIONS=$((CONNECTIONS + 64)) METRICS_PORT="$(free_port)" \
    REDIS_URL="redis://127.0.0.1:$redis_port" KAFKA_BROKERS="127.0.0.1:$broker_port" \
    PORT="$api_port" RUST_LOG="${RUST_LOG:-warn}" "$BIN_DIR/local-api" >>"$OUT/rush-local-api.log" 2>&1 &
  api_pid=$!
  wait_for_port 127.0.0.1 "$api_port" 30
}

rush() { # name mode [identity token key] [bot percent]
  RUSH_MODE="$2" RUSH_ADDR="127.0.0.1:$api_port" RUSH_PEOPLE="$PEOPLE" RUSH_SLOTS="$SLOTS" \
    RUSH_CONNECTIONS="$CONNECTIONS" RUSH_OUT="$OUT/rush-$1.json" \
    RUSH_BOT_PERCENT="${4:-0}" RUSH_IDENTITY_TOKEN_KEY="${3:-}" \
    timeout 900 "$BIN_DIR/rush"
}

# What Redis holds afterwards: the bookings stored and the slots left must add up.
stored() { # mode
  local bookings left
  bookings="$(rcli --scan --pattern 'booking:*' | wc -l | tr -d ' ')"
  left="$(rcli HGET 'slots:{RUSH}' 20210516)"
  echo "{\"stored_bookings\": $bookings, \"slots_left\": $left}" >"$OUT/rush-$1-redis.json"
}

: >"$OUT/rush-local-api.log"
log "rush with the waiting room: $PEOPLE people, $SLOTS slots, inlet $INLET_RATE/min, $CONNECTIONS clients, MAX_IN_FLIGHT $MAX_IN_FLIGHT"
reset_data
start_api on none
rush room room
stored room
stop_api

log "the same rush without the room"
reset_data
start_api off none
rush direct direct
stored direct
stop_api

log "both again under IDENTITY=otp: every person sends their identity token"
reset_data
start_api on otp
rush room-otp room "$IDENTITY_KEY"
stored room-otp
stop_api
reset_data
start_api off otp
rush direct-otp direct "$IDENTITY_KEY"
stored direct-otp
stop_api

log "the room under IDENTITY=otp with $BOT_PERCENT% of the joiners bots (made-up IDs, no token)"
reset_data
start_api on otp
rush room-otp-bots room "$IDENTITY_KEY" "$BOT_PERCENT"
stored room-otp-bots
stop_api

python3 - "$OUT" "$INLET_RATE" "$MAX_IN_FLIGHT" <<'PY'
import json, sys
out, rate, bound = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    with open(f"{out}/{name}.json") as f:
        return json.load(f)
runs = {name: load(f"rush-{name}") for name in ("room", "direct", "room-otp", "direct-otp", "room-otp-bots")}
for name, run in runs.items():
    run["redis"] = load(f"rush-{name}-redis")
room, direct = runs["room"], runs["direct"]
summary = {"inlet_people_per_minute": rate, "max_in_flight": bound, "room": room, "no_room": direct,
           "room_identity_otp": runs["room-otp"], "no_room_identity_otp": runs["direct-otp"],
           "room_identity_otp_bots": runs["room-otp-bots"]}
with open(f"{out}/rush.json", "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")

def lat(s):
    return f"p50 {s['p50_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms  ({s['requests']} requests)"
def statuses(s):
    return " ".join(f"{k}:{v}" for k, v in sorted(s["statuses"].items()))
closed = room["closed_after_sell_out_ms"]
print(f"\nrush with the waiting room: {room['people']} people, {room['slots']} slots, inlet {rate}/min")
print(f"  joins ({room['join_seconds']:.2f} s for all)   {lat(room['join'])}   {statuses(room['join'])}")
print(f"  polls, everybody's GET /queue   {lat(room['poll_everybody'])}")
print(f"  polls, waiting tickets          {lat(room['poll_ticket_waiting'])}")
print(f"  polls, collecting the token     {lat(room['poll_ticket_token'])}")
print(f"  bookings                        {lat(room['booking'])}   {statuses(room['booking'])}")
print(f"  bookings vs slots               {room['bookings']} / {room['slots']}  (Redis: {room['redis']['stored_bookings']} stored, {room['redis']['slots_left']} left)")
print(f"  5xx (and connection errors)     {room['server_errors']}")
print(f"  admitted out of queue order     {room['out_of_order']} of {room['admitted']} admitted ({room['out_of_order_share']:.4%}); positions distinct: {room['positions_distinct']}")
print(f"  sell-out to 'closed'            " + (f"{closed:.0f} ms" if closed is not None else "not observed"))
print(f"  429s                            {room['too_many_requests']}")
print(f"  total                           {room['seconds']:.1f} s")
print(f"\nthe same rush without the room: {direct['people']} people at once on POST /booking")
print(f"  bookings                        {lat(direct['booking'])}   {statuses(direct['booking'])}")
print(f"  bookings vs slots               {direct['bookings']} / {direct['slots']}  (Redis: {direct['redis']['stored_bookings']} stored, {direct['redis']['slots_left']} left)")
print(f"  5xx (and connection errors)     {direct['server_errors']}   429s {direct['too_many_requests']}")
print(f"  total                           {direct['seconds']:.1f} s")

# The identity rows beside the plain ones: what proving the ID costs in the rush, and whether
# bots moved anybody (same people, same slots, same inlet).
def ms(s):
    return f"{s['p50_ms']:7.2f} {s['p99_ms']:8.2f}"
print(f"\nunder IDENTITY=otp (each person sends the identity token their code earned; bots send none)")
print(f"{'run':28} {'booked':>13} {'booking p50/p99 ms':>18} {'wait to admission s':>20} {'out of order':>12} {'5xx':>5}")
for name, label in (("room", "room"), ("room-otp", "room, otp"),
                    ("room-otp-bots", f"room, otp, bots"), ("direct", "no room"),
                    ("direct-otp", "no room, otp")):
    r = runs[name]
    wait = r.get("wait_to_admission")
    wait = f"{wait['p50_ms'] / 1000:9.2f} {wait['p99_ms'] / 1000:9.2f}" if wait else f"{'-':>9} {'-':>9}"
    order = f"{r['out_of_order']}/{r['admitted']}" if "admitted" in r else "-"
    booked = f"{r['bookings']}/{r['slots']}"
    print(f"{label:28} {booked:>13} {ms(r['booking']):>18} {wait:>20} {order:>12} {r['server_errors']:>5}")
bots = runs["room-otp-bots"]
print(f"  bots: {bots['bots']} joins ({bots['bots'] / (bots['bots'] + bots['people']):.0%} of the joiners), "
      f"answers {statuses(bots['bot_join'])}, places taken {bots['bots_queued']}; "
      f"people queued {bots['queued']} of {bots['people']}")
print(f"\nwritten to {out}/rush.json")
PY
