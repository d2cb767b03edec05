#!/usr/bin/env bash
# End-to-end test of the local developer flow, exactly as the README tells a developer to run it:
# a real redis-server and broker, `cargo lambda watch`, `cargo lambda invoke seed`, then HTTP calls both at
# /lambda-url/<function>/... and at the production paths (the router in Cargo.toml), checking
# the answers and what Redis holds. Identity is on as the template deploys it (IDENTITY=otp): each
# person proves a phone by the one-time code, which the file sender writes where a phone would get
# the SMS. Own free ports, every wait bounded, everything stopped on exit.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# The emulator compiles each function (debug) on its first call: on a cold, busy 2-core machine
# that can take minutes. Every later call is bounded far tighter.
FIRST_CALL_SECONDS="${E2E_FIRST_CALL_SECONDS:-900}"
CALL_SECONDS=20

ensure_redis
ensure_tansu
ensure_cargo_lambda

work="$(mktemp -d "$LOCAL/e2e.XXXXXX")"
redis_port="$(free_port)"
watch_port="$(free_port)"
while [ "$watch_port" = "$redis_port" ]; do watch_port="$(free_port)"; done
broker_port="$(free_port)"
while [ "$broker_port" = "$redis_port" ] || [ "$broker_port" = "$watch_port" ]; do broker_port="$(free_port)"; done
redis_pid=""
watch_pid=""

stop_all() {
  local status=$?
  if [ -n "$watch_pid" ]; then
    # cargo-lambda runs as a child of cargo and starts each function as its own child: the
    # whole process group must go, or a function binary keeps running after the test.
    kill -TERM -- "-$watch_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$watch_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$watch_pid" 2>/dev/null || true
    wait "$watch_pid" 2>/dev/null || true
  fi
  stop_local_broker "$broker_port"
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ]; then
    log "e2e failed; last lines of the emulator's log:"
    tail -n 40 "$work/watch.log" >&2 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

log "e2e: redis-server on 127.0.0.1:$redis_port"
# No persistence: the data is this test's alone and dies with it.
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
wait_for_port 127.0.0.1 "$redis_port" 10

start_local_broker "$broker_port"

log "e2e: cargo lambda watch on 127.0.0.1:$watch_port"
otp_file="$work/otp-codes.log"
# setsid: its own process group (pgid = $watch_pid), so stop_all can end all of it.
REDIS_URL="redis://127.0.0.1:$redis_port" KAFKA_BROKERS="127.0.0.1:$broker_port" \
  BOOKING_RETENTION_DAYS="$SAMPLE_RETENTION_DAYS" \
  IDENTITY=otp OTP_SENDER=file OTP_FILE="$otp_file" \
  IDENTITY_TOKEN_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
  setsid cargo lambda watch --features jwks -A 127.0.0.1 -P "$watch_port" \
  >"$work/watch.log" 2>&1 </dev/null &
watch_pid=$!
wait_for_port 127.0.0.1 "$watch_port" 120

passed=0
failed=0
check() { # description expected actual
  if [ "$2" = "$3" ]; then
    passed=$((passed + 1))
    printf '  ok    %s\n' "$1"
  else
    failed=$((failed + 1))
    printf '  FAIL  %s\n        expected: %s\n        actual:   %s\n' "$1" "$2" "$3"
  fi
}

# JSON in a canonical form (sorted keys, no spaces), so documents compare as strings; what is
# not JSON comes back marked, never equal to an expected document.
canon() {
  python3 -c '
import json, sys
text = sys.stdin.read()
try:
    print(json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")))
except ValueError:
    print("NOT JSON: " + text[:200])
'
}
# One field of a JSON object (empty when absent).
field() {
  python3 -c '
import json, sys
try:
    print(json.load(sys.stdin).get(sys.argv[1], ""))
except (ValueError, AttributeError):
    print("NOT A JSON OBJECT")
' "$1"
}

# The booking in a reply, without its bookingReference (canonical JSON).
without_reference() {
  python3 -c '
import json, sys
try:
    document = json.load(sys.stdin)
    document.pop("bookingReference", None)
    print(json.dumps(document, sort_keys=True, separators=(",", ":")))
except (ValueError, AttributeError):
    print("NOT A JSON OBJECT")
'
}

# request METHOD PATH [BODY] [SECONDS] [AUTHORIZATION] [IDEMPOTENCY-KEY]: sets status, body and
# headers. It shows $identity (an identity token, empty for none) as X-Identity-Token.
identity=""
request() {
  local method="$1" path="$2" data="${3:-}" seconds="${4:-$CALL_SECONDS}" authorization="${5:-}" key="${6:-}"
  rm -f "$work/body" "$work/headers"
  local args=(-sS -X "$method" --max-time "$seconds" -o "$work/body" -D "$work/headers" -w '%{http_code}')
  [ -n "$data" ] && args+=(-H 'content-type: application/json' --data-binary "$data")
  [ -n "$authorization" ] && args+=(-H "authorization: $authorization")
  [ -n "$key" ] && args+=(-H "idempotency-key: $key")
  [ -n "$identity" ] && args+=(-H "x-identity-token: $identity")
  status="$(curl "${args[@]}" "http://127.0.0.1:$watch_port$path" || echo "no answer")"
  body="$(cat "$work/body" 2>/dev/null || true)"
  headers="$(tr -d '\r' <"$work/headers" 2>/dev/null || true)"
}
header() { printf '%s\n' "$headers" | grep -i "^$1: " | tail -n 1 | cut -d' ' -f2-; }

rcli() { redis-cli -p "$redis_port" "$@"; }

booking() { # id date
  printf '{"mysejahteraId":"%s","firstName":"Fadhil","lastName":"Yaacob","address":"Kuala Lumpur","location":"E2E","phoneNumber":"0123456789","date":"%s"}' "$1" "$2"
}

echo "e2e: seed through cargo lambda invoke"
seed_event='{"startDate":"20210516","days":2,"stations":[{"location":"E2E","dailyCapacity":1}]}'
seed_reply="$(timeout "$FIRST_CALL_SECONDS" cargo lambda invoke seed --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" --data-ascii "$seed_event" 2>"$work/invoke.err" || cat "$work/invoke.err")"
check "seed reply" '{"datesSkipped":0,"slotsCreated":{"E2E":2},"totalSlots":2}' "$(canon <<<"$seed_reply")"
check "slots:{E2E} holds each date's capacity" $'20210516\n1\n20210517\n1' "$(rcli HGETALL 'slots:{E2E}' | paste - - | sort | tr '\t' '\n')"
check "E2E is in the stations set" "1" "$(rcli SISMEMBER stations E2E)"

echo "e2e: GET a station"
station_json='[{"availability":1,"date":"20210516","location":"E2E"},{"availability":1,"date":"20210517","location":"E2E"}]'
request GET /lambda-url/get-station/stations/E2E "" "$FIRST_CALL_SECONDS"
check "GET /lambda-url/get-station/stations/E2E status" 200 "$status"
check "GET /lambda-url/get-station/stations/E2E body" "$station_json" "$(canon <<<"$body")"
check "GET station Cache-Control: less than the second is left" \
  "public, max-age=0, stale-while-revalidate=1" "$(header cache-control)"
request GET /stations/E2E
check "GET /stations/E2E (router) status" 200 "$status"
check "GET /stations/E2E (router) body" "$station_json" "$(canon <<<"$body")"
etag="$(header etag)"
# request() sends no headers of its own: the conditional read goes through curl directly.
conditional_status() { # path etag
  curl -sS -o /dev/null -w '%{http_code}' --max-time "$CALL_SECONDS" -H "If-None-Match: $2" \
    "http://127.0.0.1:$watch_port$1" || echo "no answer"
}
check "GET /stations/E2E with its ETag (router) is 304" 304 "$(conditional_status /stations/E2E "$etag")"

echo "e2e: GET the station list"
list_json='[{"dates":[{"availability":1,"date":"20210516"},{"availability":1,"date":"20210517"}],"location":"E2E"}]'
request GET /lambda-url/get-station/stations
check "GET /lambda-url/get-station/stations status" 200 "$status"
check "GET /lambda-url/get-station/stations body" "$list_json" "$(canon <<<"$body")"
request GET /stations
check "GET /stations (router) status" 200 "$status"
check "GET /stations (router) body" "$list_json" "$(canon <<<"$body")"
check "GET /stations with its ETag (router) is 304" 304 "$(conditional_status /stations "$(header etag)")"
request GET /stations/NOWHERE
check "GET unknown station status" 404 "$status"
check "GET unknown station error" station_not_found "$(field error <<<"$body")"

request GET /healthz "" "$FIRST_CALL_SECONDS"
check "GET /healthz (router) status" 200 "$status"
check "GET /healthz body" '{"status":"ok"}' "$(canon <<<"$body")"

echo "e2e: the booking page at / (api-docs, through the router)"
request GET / "" "$FIRST_CALL_SECONDS"
check "GET / (router) status" 200 "$status"
check "GET / content type" "text/html; charset=utf-8" "$(header content-type)"
check "GET / is the booking page, Malay first" 1 "$(grep -c '^<html lang="ms">$' <<<"$body")"

# The router's catch-all plays API Gateway's $default route: the contract's JSON 404.
request GET /no/such/path "" "$FIRST_CALL_SECONDS"
check "GET an unknown path (catch-all) status" 404 "$status"
check "GET an unknown path (catch-all) error" route_not_found "$(field error <<<"$body")"

echo "e2e: a booking needs the person's proof"
first="$(booking 900127015527 20210516)"
request POST /lambda-url/create-booking/booking "$first" "$FIRST_CALL_SECONDS"
check "POST booking without an identity token status" 401 "$status"
check "POST booking without an identity token error" unauthorized "$(field error <<<"$body")"
check "nothing is stored for it" 0 "$(rcli EXISTS "$(booking_key 900127015527)")"
check "nor is a slot taken" 1 "$(rcli HGET 'slots:{E2E}' 20210516)"

# prove ID PHONE: the verification round trip; sets code and token (empty if it failed, so the
# checks that need it fail too).
prove() {
  local id="$1" phone="$2" e164="+60${2#0}" seconds="${3:-$CALL_SECONDS}"
  token=""
  identity=""
  request POST /verification "{\"mysejahteraId\":\"$id\",\"phoneNumber\":\"$phone\"}" "$seconds"
  check "POST /verification for $id status" 202 "$status"
  # As the SMS would bring it: the file's last line for this phone ends with the code.
  code="$(grep -F " $e164 " "$otp_file" 2>/dev/null | tail -n 1 | awk '{ print $3 }')"
  check "a 6-digit code reached the phone (the file sender)" 6 "${#code}"
  request POST /lambda-url/verify-identity/verification/confirm \
    "{\"mysejahteraId\":\"$id\",\"phoneNumber\":\"$phone\",\"code\":\"$code\"}"
  check "POST /verification/confirm for $id status" 200 "$status"
  check "the token is never cached" "no-store" "$(header cache-control)"
  token="$(field identityToken <<<"$body")"
}
echo "e2e: proving the phone (IDENTITY=otp)"
request POST /verification '{"mysejahteraId":"900127015527","phoneNumber":"0123456789"}' "$FIRST_CALL_SECONDS"
check "POST /verification (router) status" 202 "$status"
check "a code is good for 5 minutes" 300 "$(field expiresInSeconds <<<"$body")"
code="$(grep -F ' +60123456789 ' "$otp_file" 2>/dev/null | tail -n 1 | awk '{ print $3 }')"
wrong_code="$(printf '%06d' $(( (10#${code:-0} + 1) % 1000000 )))"
request POST /verification/confirm "{\"mysejahteraId\":\"900127015527\",\"phoneNumber\":\"0123456789\",\"code\":\"$wrong_code\"}"
check "a wrong code status" 401 "$status"
check "a wrong code error" verification_failed "$(field error <<<"$body")"
prove 900127015527 0123456789
fadhil="$token"
check "an identity token is issued" yes "$([ -n "$fadhil" ] && echo yes || echo no)"
request POST /verification/confirm "{\"mysejahteraId\":\"900127015527\",\"phoneNumber\":\"0123456789\",\"code\":\"$code\"}"
check "a code works once: the used one again" 401 "$status"
prove 880101015555 0198765432
other="$token"
prove 770101015555 0171234567
third="$token"
identity="$fadhil"
request POST /booking "$(booking 880101015555 20210516)"
check "booking another's ID with one's own token status" 403 "$status"
check "booking another's ID with one's own token error" identity_mismatch "$(field error <<<"$body")"
check "nothing is stored for the other ID" 0 "$(rcli EXISTS "$(booking_key 880101015555)")"

echo "e2e: POST bookings"
attempt="$(python3 -c 'import uuid; print(uuid.uuid4())')"   # the client's Idempotency-Key
request POST /lambda-url/create-booking/booking "$first" "$CALL_SECONDS" "" "$attempt"
check "POST /lambda-url/create-booking/booking status" 201 "$status"
check "POST booking body is the stored booking" "$(canon <<<"$first")" "$(without_reference <<<"$body")"
reference="$(field bookingReference <<<"$body")"
check "POST booking shows a grouped bookingReference (XXXX-XXXX-XXXX-XXXX-XXXX-XXXX)" 29 "${#reference}"
check "POST booking Location" "/booking/900127015527" "$(header location)"
check "booking:900127015527 in Redis" "$(canon <<<"$first")" "$(rcli GET "$(booking_key 900127015527)" | canon)"
check "slot taken in Redis" 0 "$(rcli HGET 'slots:{E2E}' 20210516)"

request POST /booking "$first" "" "" "$attempt"
check "identical booking again (router) status" 200 "$status"
check "identical booking again body" "$(canon <<<"$first")" "$(without_reference <<<"$body")"
check "identical booking again with its Idempotency-Key shows the same reference" "$reference" "$(field bookingReference <<<"$body")"
check "a retry takes no second slot" 0 "$(rcli HGET 'slots:{E2E}' 20210516)"
request POST /booking "$first"
check "identical booking without the key status" 200 "$status"
check "identical booking without the key shows no reference" "" "$(field bookingReference <<<"$body")"
request POST /booking "$first" "" "" "another-attempt"
check "identical booking with another key shows no reference" "" "$(field bookingReference <<<"$body")"
request POST /booking "$first" "" "" "$(printf 'k%.0s' {1..256})"
check "an Idempotency-Key over 255 characters status" 400 "$status"
check "an Idempotency-Key over 255 characters names the header" Idempotency-Key "$(field field <<<"$body")"
check "the key is kept only as a keyed digest" 64 "$(rcli GET "$(booking_key 900127015527 booking-retry)" | tr -d '\n' | wc -c)"

identity="$other"
request POST /booking "$(booking 880101015555 20210516)"
check "another person on the full date status" 409 "$status"
check "another person on the full date error" fully_booked "$(field error <<<"$body")"
check "no booking stored for the refused person" 0 "$(rcli EXISTS "$(booking_key 880101015555)")"
identity="$fadhil"

request POST /booking "$(booking 900127015527 20210517)"
check "same person, other date status" 409 "$status"
check "same person, other date error" already_booked "$(field error <<<"$body")"
check "the other date keeps its slot" 1 "$(rcli HGET 'slots:{E2E}' 20210517)"

request POST /booking '{"mysejahteraId":"900127015527","firstName":"Fadhil","lastName":"Yaacob","address":"KL","location":"E2E","phoneNumber":"12","date":"20210517"}'
check "invalid phone number status" 400 "$status"
check "invalid phone number names the field" phoneNumber "$(field field <<<"$body")"

# A station read may be up to 1 s old (max-age=1; get-station keeps it in memory that long),
# so the read that must show the booking waits that out.
sleep 1.1
request GET /stations/E2E
check "station shows the booked date" \
  '[{"availability":0,"date":"20210516","location":"E2E"},{"availability":1,"date":"20210517","location":"E2E"}]' \
  "$(canon <<<"$body")"

echo "e2e: only the booking reference reads the booking"
request GET /lambda-url/get-booking/booking/900127015527 "" "$FIRST_CALL_SECONDS"
check "GET booking without Authorization status" 401 "$status"
check "GET booking without Authorization error" unauthorized "$(field error <<<"$body")"
check "GET booking without Authorization WWW-Authenticate" Bearer "$(header www-authenticate)"
wrong="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
request GET /booking/900127015527 "" "$CALL_SECONDS" "Bearer $wrong"
check "GET booking with a wrong reference status" 404 "$status"
not_found_body="$body"
identity="$other"   # the ID's own person, who holds no booking
request GET /booking/880101015555 "" "$CALL_SECONDS" "Bearer $reference"
check "GET a booking nobody holds status" 404 "$status"
check "wrong reference and no booking answer alike" "$not_found_body" "$body"
identity="$fadhil"
request GET /lambda-url/get-booking/booking/900127015527 "" "$CALL_SECONDS" "Bearer $reference"
check "GET booking with its reference status" 200 "$status"
check "GET booking body is the booking, no reference" "$(canon <<<"$first")" "$(canon <<<"$body")"
identity=""
request GET /booking/900127015527 "" "$CALL_SECONDS" "Bearer $reference"
check "GET booking with its reference but no identity token status" 401 "$status"
identity="$other"
request GET /booking/900127015527 "" "$CALL_SECONDS" "Bearer $reference"
check "GET booking with its reference and another's token status" 403 "$status"
check "GET booking with another's token error" identity_mismatch "$(field error <<<"$body")"
request DELETE /booking/900127015527 "" "$CALL_SECONDS" "Bearer $reference"
check "DELETE booking with its reference and another's token status" 403 "$status"
identity="$fadhil"
request GET /booking/900127015527 "" "$CALL_SECONDS" "Bearer $reference"
check "GET /booking/{id} (router) with its reference status" 200 "$status"
typed="$(tr 'A-Z-' 'a-z ' <<<"$reference" | sed 's/0/o/g; s/1/l/g')"
request GET /booking/900127015527 "" "$CALL_SECONDS" "Bearer $typed"
check "the reference as typed (lower case, spaces, o for 0, l for 1) reads it too" 200 "$status"
request GET "/booking/900127015527/slip?lang=ta" "" "$CALL_SECONDS" "Bearer $reference"
check "GET the slip (router) status" 200 "$status"
check "the slip is in the asked language" 1 "$(grep -c '<html lang="ta"' <<<"$body")"
check "the slip carries a QR code" 1 "$(grep -c '<svg' <<<"$body")"
request GET /booking/900127015527/calendar "" "$CALL_SECONDS" "Bearer $reference"
check "GET the calendar entry (router) status" 200 "$status"
check "the calendar entry is text/calendar" "text/calendar; charset=utf-8" "$(header content-type)"
request GET /booking/900127015527/slip
check "GET the slip without Authorization status" 401 "$status"
request DELETE /lambda-url/cancel-booking/booking/900127015527 "" "$FIRST_CALL_SECONDS"
check "DELETE booking without Authorization status" 401 "$status"
request DELETE /booking/900127015527 "" "$CALL_SECONDS" "Bearer $wrong"
check "DELETE booking with a wrong reference status" 404 "$status"
check "the booking is still held" 1 "$(rcli EXISTS "$(booking_key 900127015527)")"

echo "e2e: the booking moves to the other date in one step, and back"
request PATCH /lambda-url/move-booking/booking/900127015527 '{"location":"E2E","date":"20210517"}' "$FIRST_CALL_SECONDS"
check "PATCH booking without Authorization status" 401 "$status"
request PATCH /booking/900127015527 '{"location":"E2E","date":"20210517"}' "$CALL_SECONDS" "Bearer $reference"
check "PATCH /booking/{id} (router) with its reference status" 200 "$status"
check "the moved booking is on the other date" "$(canon <<<"$(booking 900127015527 20210517)")" "$(canon <<<"$body")"
check "the old date's slot is free again" 1 "$(rcli HGET 'slots:{E2E}' 20210516)"
check "the new date's slot is taken" 0 "$(rcli HGET 'slots:{E2E}' 20210517)"
request PATCH /booking/900127015527 '{"location":"E2E","date":"20210601"}' "$CALL_SECONDS" "Bearer $reference"
check "PATCH to a date the station lacks status" 404 "$status"
check "PATCH to a date the station lacks error" date_not_found "$(field error <<<"$body")"
request PATCH /lambda-url/move-booking/booking/900127015527 '{"location":"E2E","date":"20210516"}' "$CALL_SECONDS" "Bearer $reference"
check "PATCH back with the same reference status" 200 "$status"
check "the first date is taken again" 0 "$(rcli HGET 'slots:{E2E}' 20210516)"
check "the other date is free again" 1 "$(rcli HGET 'slots:{E2E}' 20210517)"

echo "e2e: the booking's event reached the broker"
check "the outbox is empty once published" 0 "$(outbox_entries "$redis_port")"
events=""
for partition in 0 1 2; do
  events+="$(timeout "$CALL_SECONDS" "$TANSU_BIN" cat consume booking-slot --broker "tcp://127.0.0.1:$broker_port" \
    --partition "$partition" --max-wait-time-ms 500 2>/dev/null || true)"
done
check "one booking.created event for the person" 1 "$(grep -o '"type":"booking.created"' <<<"$events" | wc -l | tr -d ' ')"
check "two booking.rescheduled events, there and back" 2 "$(grep -o '"type":"booking.rescheduled"' <<<"$events" | wc -l | tr -d ' ')"
relay_reply="$(timeout "$FIRST_CALL_SECONDS" cargo lambda invoke outbox-relay --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" --data-ascii '{}' 2>"$work/invoke.err" || cat "$work/invoke.err")"
check "the relay finds nothing left" '{"deadlineReached":false,"published":0,"remaining":0,"skipped":false}' "$(canon <<<"$relay_reply")"

echo "e2e: the waiting room (off here: the bookings above needed no admission token)"
request POST /queue '{"mysejahteraId":"900127015527"}' "$FIRST_CALL_SECONDS"
check "no room open yet: POST /queue refused" 409 "$status"
check "... as room_not_open" room_not_open "$(field error <<<"$body")"
room_reply="$(timeout "$CALL_SECONDS" cargo lambda invoke seed --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" --data-file events/room-open.json 2>"$work/invoke.err" || cat "$work/invoke.err")"
check "the operator opens the room (seed event)" open "$(field room <<<"$room_reply")"
identity="$other"
request POST /queue '{"mysejahteraId":"900127015527"}' "$CALL_SECONDS"
check "a place for another's ID status" 403 "$status"
check "a place for another's ID error" identity_mismatch "$(field error <<<"$body")"
identity=""
request POST /queue '{"mysejahteraId":"900127015527"}' "$CALL_SECONDS"
check "a place without a token status" 401 "$status"
check "no place was given" 0 "$(rcli GET 'queue:{room}:seq' | tr -d '\n' | sed 's/^$/0/')"
identity="$fadhil"
request POST /queue '{"mysejahteraId":"900127015527"}' "$CALL_SECONDS"
check "POST /queue (router) status" 201 "$status"
check "the first to join is position 1" 1 "$(field position <<<"$body")"
ticket="$(field ticket <<<"$body")"
request POST /lambda-url/queue-join/queue '{"mysejahteraId":"900127015527"}'
check "joining again status" 200 "$status"
check "joining again gives the same ticket" "$ticket" "$(field ticket <<<"$body")"
request GET "/queue/$ticket" "" "$FIRST_CALL_SECONDS"
check "GET /queue/{ticket} before the inlet ran" waiting "$(field status <<<"$body")"
check "a waiting answer is cacheable" "public, max-age=1" "$(header cache-control)"
inlet_reply="$(timeout "$FIRST_CALL_SECONDS" cargo lambda invoke queue-inlet --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" --data-ascii '{"seconds":1}' 2>"$work/invoke.err" || cat "$work/invoke.err")"
check "the inlet lets the one person in" '{"open":true,"serving":1,"slotsLeft":1,"ticks":1}' "$(canon <<<"$inlet_reply")"
request GET "/queue/$ticket"
check "GET /queue/{ticket} once admitted" admitted "$(field status <<<"$body")"
check "an answer with a token is never cached" "no-store" "$(header cache-control)"
check "it carries an admission token" yes "$([ -n "$(field admissionToken <<<"$body")" ] && echo yes || echo no)"
request GET /queue
check "GET /queue (everybody's poll)" '{"serving":1,"status":"open"}' "$(canon <<<"$body")"
check "queue:{room}:serving in Redis" 1 "$(rcli GET 'queue:{room}:serving')"
identity="$third"
request POST /booking "$(booking 770101015555 20210517)"
check "the last slot is booked" 201 "$status"
identity="$fadhil"
inlet_reply="$(timeout "$CALL_SECONDS" cargo lambda invoke queue-inlet --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" --data-ascii '{"seconds":1}' 2>"$work/invoke.err" || cat "$work/invoke.err")"
check "no slot left: the inlet closes the room" '{"open":false,"serving":1,"slotsLeft":0,"ticks":1}' "$(canon <<<"$inlet_reply")"
request GET /queue
check "GET /queue says closed" closed "$(field status <<<"$body")"
room_reply="$(timeout "$CALL_SECONDS" cargo lambda invoke seed --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" --data-file events/room-close.json 2>"$work/invoke.err" || cat "$work/invoke.err")"
check "the operator closes the room (seed event)" closed "$(field room <<<"$room_reply")"
request GET "/queue/$ticket"
check "the closed room's ticket is gone" 404 "$status"
check "the epoch's counters are gone" 0 "$(rcli EXISTS 'queue:{room}:epoch' 'queue:{room}:seq' 'queue:{room}:serving')"
person_key="$(rcli --scan --pattern 'queue:{room}:person:*' | head -1)"
check "the places left behind expire with the room" yes "$([ "$(rcli PTTL "$person_key")" -gt 0 ] && echo yes || echo no)"

echo "e2e: seeding again keeps live counters"
seed_reply="$(timeout "$CALL_SECONDS" cargo lambda invoke seed --invoke-address 127.0.0.1 \
  --invoke-port "$watch_port" --data-ascii "$seed_event" 2>"$work/invoke.err" || cat "$work/invoke.err")"
check "second seed skips both dates" 2 "$(field datesSkipped <<<"$seed_reply")"
check "booked slot stays booked" 0 "$(rcli HGET 'slots:{E2E}' 20210516)"

echo "e2e: cancel with the reference"
request DELETE /booking/900127015527 "" "$CALL_SECONDS" "Bearer $reference"
check "DELETE booking with its reference status" 200 "$status"
check "DELETE booking body is the cancelled booking" "$(canon <<<"$first")" "$(canon <<<"$body")"
check "the slot is free again" 1 "$(rcli HGET 'slots:{E2E}' 20210516)"
check "no booking key is left" 0 "$(rcli EXISTS "$(booking_key 900127015527)" "$(booking_key 900127015527 booking-owner)")"
request GET /booking/900127015527 "" "$CALL_SECONDS" "Bearer $reference"
check "the old reference is dead" 404 "$status"
request POST /booking "$first" "" "" "$(python3 -c 'import uuid; print(uuid.uuid4())')"
check "booking again status" 201 "$status"
check "booking again gives a new reference" new "$([ "$(field bookingReference <<<"$body")" != "$reference" ] && echo new || echo same)"

echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
