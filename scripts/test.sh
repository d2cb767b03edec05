#!/usr/bin/env bash
# `make test`: installs what the tests need, then runs every test. Each integration test starts
# its own redis-server and tansu broker on their own ports and stops them: nothing is left running.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_redis
ensure_tansu
ensure_nextest
log "unit and integration tests"
cargo nextest run --workspace --no-fail-fast
