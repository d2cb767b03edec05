#!/usr/bin/env bash
# `make run`: Redis and a Kafka-compatible broker (docker compose where a Docker engine answers,
# else a local redis-server and tansu), then every function under `cargo lambda watch` on
# 127.0.0.1:9000, seeded with the default data. CLUSTER=1: on a local 3-primary Redis Cluster.
# ENGINE=valkey: Valkey instead of Redis, in each of those three set-ups.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

WATCH_PORT="${WATCH_PORT:-9000}"
if [ "${CLUSTER:-0}" = 1 ]; then
  # `make run CLUSTER=1`: a fresh in-memory 3-primary Redis Cluster instead of the one Redis.
  start_redis_cluster
  export REDIS_URL="redis://127.0.0.1:${CLUSTER_PORTS[0]}" REDIS_CLUSTER=true
  start_local_broker 9092
elif docker_engine_answers; then
  log "starting $ENGINE and Redpanda with docker compose"
  # The valkey service has a profile of its own, so a plain `docker compose up` stays on Redis.
  docker compose --profile "$ENGINE" up -d --wait "$ENGINE" redpanda topics
else
  start_local_redis 6379
  start_local_broker 9092
fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
export BOOKING_RETENTION_DAYS="${BOOKING_RETENTION_DAYS:-$SAMPLE_RETENTION_DAYS}"
ensure_cargo_lambda

# Its own process group, so that stopping it also stops the cargo-lambda child and the
# function processes it spawned.
# --features jwks: IDENTITY=jwt with IDENTITY_JWKS works here as on local-api (no gateway runs).
setsid cargo lambda watch --features jwks -A 127.0.0.1 -P "$WATCH_PORT" &
watch_pid=$!
trap 'kill -TERM -- -$watch_pid 2>/dev/null; wait $watch_pid 2>/dev/null; stop_redis_cluster' EXIT INT TERM
wait_for_port 127.0.0.1 "$WATCH_PORT" 600
log "seeding the default data set (existing counters are kept)"
cargo lambda invoke seed --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
  --data-file events/seed-default.json
echo
log "serving: curl http://127.0.0.1:$WATCH_PORT/stations/PWTC   (Ctrl-C stops)"
wait $watch_pid
