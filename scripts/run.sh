#!/usr/bin/env bash
# `make run`: Redis (docker compose where a Docker engine answers, else a local redis-server),
# then every function under `cargo lambda watch` on 127.0.0.1:9000, seeded with the default data.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

WATCH_PORT="${WATCH_PORT:-9000}"
if docker_engine_answers; then
  log "starting Redis with docker compose"
  docker compose up -d --wait redis
else
  start_local_redis 6379
fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
ensure_cargo_lambda

cargo lambda watch -A 127.0.0.1 -P "$WATCH_PORT" &
watch_pid=$!
# `cargo lambda` runs cargo-lambda as a child: stop both.
trap 'pkill -TERM -P $watch_pid 2>/dev/null; kill $watch_pid 2>/dev/null; wait $watch_pid 2>/dev/null' EXIT INT TERM
wait_for_port 127.0.0.1 "$WATCH_PORT" 600
log "seeding the default data set (existing counters are kept)"
cargo lambda invoke seed --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
  --data-file events/seed-default.json
echo
log "serving: curl http://127.0.0.1:$WATCH_PORT/stations/PWTC   (Ctrl-C stops)"
wait $watch_pid
