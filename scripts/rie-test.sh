#!/usr/bin/env bash
# `make rie-test`: every function's bootstrap under the AWS Lambda Runtime Interface Emulator,
# the Runtime API that AWS's provided.al2023 image and `sam local` run, with the environment
# template.yaml gives each function and AWS-shaped events (scripts/rie/rie_test.py says what is
# checked). Alone it builds what `sam build` deploys (release, each function group apart);
# `make test` runs it on the debug binaries it built anyway (RIE_BUILD=debug). The RIE is never
# fetched: without aws-lambda-rie on PATH or in .local/ this says so in one line and passes.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

RIE="$(command -v aws-lambda-rie || true)"
[ -z "$RIE" ] && [ -x "$LOCAL/aws-lambda-rie" ] && RIE="$LOCAL/aws-lambda-rie"
if [ -z "$RIE" ]; then
  log "rie-test: skipped: no aws-lambda-rie on PATH or in .local/ (README, \"Engines and the Lambda runtime\")"
  exit 0
fi

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$TARGET/rie"
case "${RIE_BUILD:-release}" in
  release)
    ensure_cargo_lambda
    log "rie-test: building the bootstraps as sam build does (release; minutes the first time)"
    build_functions_apart cargo lambda build --release -q
    BOOTSTRAP="$TARGET/lambda/{name}/bootstrap"
    ;;
  debug)
    # The same features as the test build, so only the binaries are linked anew.
    cargo build -q --workspace --all-targets
    BOOTSTRAP="$TARGET/debug/{name}"
    ;;
  *)
    log "RIE_BUILD=$RIE_BUILD: must be release or debug"
    exit 1
    ;;
esac

ensure_engine
ensure_tansu
ensure_moto
ensure_template_tools
rm -rf "$WORK" && mkdir -p "$WORK"
redis_port="$(free_port)"
broker_port="$(free_port)"
moto_port="$(free_port)"
moto_pid=""
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
  [ -n "${PRIVATE_REDIS_PID:-}" ] && kill "$PRIVATE_REDIS_PID" 2>/dev/null && wait "$PRIVATE_REDIS_PID" 2>/dev/null
  stop_local_broker "$broker_port"
  return 0
}
trap cleanup EXIT
start_private_redis "$redis_port" "$WORK/$ENGINE.log"
start_local_broker "$broker_port"
"$MOTO_SERVER" -H 127.0.0.1 -p "$moto_port" >"$WORK/moto.log" 2>&1 &
moto_pid=$!
wait_for_port 127.0.0.1 "$moto_port" 30

log "rie-test: $RIE on $ENGINE, bootstraps $BOOTSTRAP"
"$VENV/bin/python" "$ROOT/scripts/rie/rie_test.py" --template "$ROOT/template.yaml" \
  --events "$ROOT/events" --rie "$RIE" --sam "$VENV/bin/sam" --bootstrap "$BOOTSTRAP" \
  --brokers "127.0.0.1:$broker_port" --redis-port "$redis_port" --moto-port "$moto_port" \
  --work "$WORK" --out "$WORK/report.json"
outbox="$(outbox_entries "$redis_port")"
if [ "$outbox" != 0 ]; then
  log "rie-test: $outbox events left in the outbox: the bookings did not publish them"
  exit 1
fi
log "rie-test: every function answered as the contract says; figures in $WORK/report.json"
