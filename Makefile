# Every target installs what it needs (apt, pip) and talks only to 127.0.0.1.
SHELL := /bin/bash
WATCH_PORT ?= 9000
BASE_URL ?= http://127.0.0.1:$(WATCH_PORT)
REDIS_PORT ?= 6379
# The original server's load-test body, unchanged.
BOOKING_BODY := {"address":"Kuala Lumpur","date":"20210516","firstName":"Fadhil","lastName":"Yaacob","location":"PWTC","mysejahteraId":"900127015527","phoneNumber":"0123456789"}

.PHONY: run test fuzz seed redis-cli load-test lint stop openapi

## Redis + every function under `cargo lambda watch` on $(BASE_URL), seeded.
run:
	./scripts/run.sh

## All tests, with the services they need started and stopped on their own ports.
test:
	./scripts/test.sh

## Only the schemathesis step of `make test`: generated requests against local-api.
fuzz:
	./scripts/fuzz.sh

## Seed the default data set into the running system (`make run` already did once).
seed:
	source scripts/lib.sh && ensure_cargo_lambda && \
	cargo lambda invoke seed --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) \
	  --data-file events/seed-default.json

## A shell on the local Redis.
redis-cli:
	@source scripts/lib.sh && ensure_redis && redis-cli -p $(REDIS_PORT)

## The original server's two load commands, against the running system.
load-test:
	source scripts/lib.sh && ensure_hey
	hey -c 100 -z 5s $(BASE_URL)/stations/PWTC
	hey -T "application/json" -c 100 -z 5s -m POST -d '$(BOOKING_BODY)' $(BASE_URL)/booking

## Formatting and lints, as reviewers expect them.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## Stop the local redis-server that `make run` started (docker compose: `docker compose down`).
stop:
	source scripts/lib.sh && stop_local_redis $(REDIS_PORT)

## Rewrite openapi.json from the code (a test fails while the committed one is stale).
openapi:
	cargo run -q -p shared --example openapi > openapi.json
