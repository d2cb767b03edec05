#!/usr/bin/env bash
# `make bench-events`: the latency publishing adds to a booking, on a private Redis and broker.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_redis
ensure_tansu
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
broker_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_local_redis "$redis_port" --appendonly no --save ""
start_local_broker "$broker_port"
trap 'stop_local_redis $redis_port; stop_local_broker $broker_port' EXIT
REDIS_URL="redis://127.0.0.1:$redis_port" KAFKA_BROKERS="127.0.0.1:$broker_port" \
  cargo run --quiet --release -p api-tests --example event_latency
