#!/usr/bin/env bash
# `make test`: installs what the tests need, then runs every test. Each integration test starts
# its own redis-server on its own port and stops it, so nothing is left running.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_redis
ensure_nextest
log "unit and integration tests"
cargo nextest run --workspace --no-fail-fast
log "fuzzing the HTTP API with schemathesis"
"$ROOT/scripts/fuzz.sh"
