#!/usr/bin/env bash
# `make fuzz`, and the last step of `make test`: schemathesis generates requests from openapi.json
# (valid and invalid, plus stateful book -> look up -> move -> cancel sequences that carry the 201's
# bookingReference into the GET, PATCH and DELETE) against `local-api`, the
# same handlers the Lambdas run, on a private redis-server and broker, with identity on as deployed
# (IDENTITY=otp: scripts/schemathesis_identity.py proves each generated person's phone and sends
# the token). It fails on any 5xx, any response the
# document does not describe, any crash, or fewer than MIN_CASES generated cases. Afterwards the
# slots must still add up: bookings held + slots left = capacity.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

FUZZ_SEED="${FUZZ_SEED:-20210516}"   # fixed, so a failure reproduces; set another to explore
MAX_EXAMPLES="${MAX_EXAMPLES:-150}"  # per operation and phase
MIN_CASES=500
WORK="$LOCAL/fuzz"

ensure_redis
ensure_tansu
ensure_schemathesis
mkdir -p "$WORK"
rm -f "$WORK"/local-api*.log   # an earlier run's must not pass or fail this one
log "building local-api"
cargo build -q -p local-api

start_test_stack "$WORK"
redis_port="$STACK_REDIS_PORT"
api_port="$STACK_API_PORT"

# The keys the README documents, as the seed function writes them: the example station PWTC
# with a week from 20210516, so the original example booking succeeds.
redis_cli() { redis-cli -p "$redis_port" "$@" >/dev/null; }
CAPACITY=100
dates=(20210516 20210517 20210518 20210519 20210520 20210521 20210522)
for date in "${dates[@]}"; do
  redis_cli HSET 'slots:{PWTC}' "$date" "$CAPACITY"
  redis_cli HSET 'capacity:{PWTC}' "$date" "$CAPACITY"
done
redis_cli SADD stations PWTC

otp_file="$WORK/otp-codes.log"
rm -f "$otp_file"
start_stack_api "$api_port" IDENTITY=otp OTP_SENDER=file OTP_FILE="$otp_file" \
  IDENTITY_TOKEN_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

log "schemathesis $SCHEMATHESIS_VERSION against local-api on 127.0.0.1:$api_port (seed $FUZZ_SEED)"
status=0
# Its example database and reports stay in .local/, out of the work tree.
# Every check runs (the default without --checks), except where scripts/schemathesis.toml says
# why not: `--checks all` would override it. One worker: with two, Python 3.11's ast.parse,
# which hypothesis calls from both threads, fails now and then with "AST constructor recursion
# depth mismatch" (a runtime error of the tool, not a finding).
(cd "$WORK" && FUZZ_API_URL="http://127.0.0.1:$api_port" FUZZ_OTP_FILE="$otp_file" \
  FUZZ_STATION=PWTC FUZZ_DATES="${dates[*]}" FUZZ_STATUS_FILE="$WORK/answers.json" \
  SCHEMATHESIS_HOOKS="$ROOT/scripts/schemathesis_identity.py" timeout 1200 "$SCHEMATHESIS" --config-file "$ROOT/scripts/schemathesis.toml" \
  run "$ROOT/openapi.json" --url "http://127.0.0.1:$api_port" --workers 1 \
  --max-examples "$MAX_EXAMPLES" --seed "$FUZZ_SEED" --request-timeout 10) \
  | tee "$WORK/schemathesis.log" || status=$?

# -a: the log can hold NUL bytes (generated values echoed back), which would make grep call it binary.
cases="$(grep -aEo '[0-9]+ generated' "$WORK/schemathesis.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)"
if [ "$status" -ne 0 ]; then
  log "schemathesis failed (exit $status); see $WORK/schemathesis.log"
  exit 1
fi
if [ "$cases" -lt "$MIN_CASES" ]; then
  log "schemathesis generated only $cases cases (at least $MIN_CASES wanted)"
  exit 1
fi
if grep -q panicked "$WORK"/local-api*.log; then
  log "local-api panicked; see $WORK/local-api-$api_port.log"
  exit 1
fi

held="$(redis-cli -p "$redis_port" --scan --pattern 'booking:*' | wc -l)"
left="$(redis-cli -p "$redis_port" HVALS 'slots:{PWTC}' | awk '{ s += $1 } END { print s }')"
total=$((CAPACITY * ${#dates[@]}))
if [ $((held + left)) -ne "$total" ]; then
  log "slots do not add up: $held bookings + $left left != $total capacity"
  exit 1
fi
log "slots add up: $held bookings + $left left = $total"
# The broker was up throughout, so every booking and cancellation event was published.
waiting="$(outbox_entries "$redis_port")"
if [ "$waiting" -ne 0 ]; then
  log "$waiting events were never published"
  exit 1
fi

# Metrics are on the operator port only: the public port must not know the path.
# Read the whole page first: `curl | grep -q` fails under pipefail when grep stops reading early.
operator_metrics="$(curl -fsS "http://127.0.0.1:$STACK_METRICS_PORT/metrics" || true)"
# And bookings were made: the identity hook got tokens the service took (with none, every
# generated booking would be a 401 and the run would prove little).
created="$(awk '$1 == "bookings_created" { print int($2) }' <<<"$operator_metrics")"
if [ -z "$created" ] || [ "$created" -eq 0 ]; then
  log "bookings_created is ${created:-missing} on the operator port 127.0.0.1:$STACK_METRICS_PORT/metrics"
  exit 1
fi
log "$created bookings were made by proven people"
# And owners acted on them: stateful runs read, moved or cancelled their bookings with the 201's
# reference and their token (the links work under identity).
owner_acts="$(python3 -c '
import json, sys
answers = json.load(open(sys.argv[1]))
acts = {what: count for what, count in answers.items() if "{mysejahteraId}" in what and what.endswith(" 200")}
print(sum(acts.values()), ", ".join(f"{what} {count}" for what, count in acts.items()) or "none")
' "$WORK/answers.json")"
if [ "${owner_acts%% *}" -eq 0 ]; then
  log "no owner read, moved or cancelled a booking (no 200 on /booking/{id}); see $WORK/answers.json"
  exit 1
fi
log "owners' acts that succeeded: ${owner_acts#* }"
public_metrics="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$api_port/metrics")"
if [ "$public_metrics" != 404 ]; then
  log "GET /metrics on the public port answered $public_metrics, not 404"
  exit 1
fi
log "metrics on the operator port only"

# A container stop must end the server cleanly.
kill -TERM "$STACK_API_PID"
if ! wait "$STACK_API_PID"; then
  log "local-api did not exit cleanly on SIGTERM"
  exit 1
fi
STACK_API_PID=""
log "fuzzing passed: $cases cases"
