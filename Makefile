# Every target installs what it needs (apt, pip) and talks only to 127.0.0.1.
SHELL := /bin/bash
WATCH_PORT ?= 9000
BASE_URL ?= http://127.0.0.1:$(WATCH_PORT)
REDIS_PORT ?= 6379
# The original server's load-test body, unchanged.
BOOKING_BODY := {"address":"Kuala Lumpur","date":"20210516","firstName":"Fadhil","lastName":"Yaacob","location":"PWTC","mysejahteraId":"900127015527","phoneNumber":"0123456789"}

# x86_64 or arm64: the Lambda architecture to build (and, for deploy, to deploy) for.
ARCH ?= x86_64
ARCH_FLAG := $(if $(filter arm64,$(ARCH)),--arm64,)

.PHONY: run test fuzz build deploy bench bench-cold bench-events bench-rush inlet seed room redis-cli events relay topics load-test lint stop openapi

## Redis + every function under `cargo lambda watch` on $(BASE_URL), seeded. CLUSTER=1: on a
## local 3-primary Redis Cluster (REDIS_CLUSTER=true). ENGINE=valkey: on Valkey instead.
CLUSTER ?= 0
ENGINE ?= redis
run:
	CLUSTER=$(CLUSTER) ENGINE=$(ENGINE) ./scripts/run.sh

## All tests, with the services they need started and stopped on their own ports.
test:
	./scripts/test.sh

## Throughput and latency of local-api (release) under wrk, next to redis-benchmark doing the
## same Redis work; prints a table, writes target/bench/summary.json. Private Redis and broker.
bench:
	./scripts/bench.sh

## Each function's bootstrap, as make build makes it, against a local Lambda Runtime API: init, per-invocation
## p50/p99, peak RSS, size, next to a hello-world lambda_http function.
bench-cold:
	./scripts/bench-cold.sh

## The opening minute: 100,000 people join the waiting room of local-api (release) at once, are
## let in at a set rate and book once each, then the same rush with no room; target/bench/rush.json.
## RUSH_PEOPLE, RUSH_SLOTS, RUSH_INLET_RATE, RUSH_CONNECTIONS, RUSH_MAX_IN_FLIGHT change it.
bench-rush:
	./scripts/bench-rush.sh

## p50/p99 latency that publishing adds to a booking (private Redis and broker).
bench-events:
	./scripts/bench-events.sh

## Release binaries for Lambda: target/lambda/<function>/bootstrap for every function, built in
## groups of like dependencies (scripts/lib.sh), so each links what sam build would link.
build:
	source scripts/lib.sh && ensure_cargo_lambda && build_functions_apart cargo lambda build --release $(ARCH_FLAG)
	@ls -l target/lambda/*/bootstrap

## Build with SAM (cargo lambda per function) and deploy to your AWS account, asking for the
## parameters the first time (see the README's "Deploy"). Needs AWS credentials.
deploy:
	source scripts/lib.sh && ensure_cargo_lambda && ensure_template_tools && \
	sam build --parameter-overrides Architecture=$(ARCH) && \
	sam deploy --guided --parameter-overrides Architecture=$(ARCH)

## Every function's bootstrap, as `sam build` builds it (release), under the AWS Lambda Runtime
## Interface Emulator with the template's environment and AWS-shaped events; skipped without
## aws-lambda-rie (README, "The Lambda runtime"). make test runs it on debug builds.
.PHONY: rie-test
rie-test:
	./scripts/rie-test.sh

## Only the browser step of `make test`: the booking page in headless chromium against
## local-api. UPDATE_SCREENSHOTS=1 also rewrites the README's docs/*.png.
.PHONY: browser-test
browser-test:
	./scripts/browser-test.sh

## Only the schemathesis step of `make test`: generated requests against local-api.
fuzz:
	./scripts/fuzz.sh

## Seed the default data set into the running system (`make run` already did once).
seed:
	source scripts/lib.sh && ensure_cargo_lambda && \
	cargo lambda invoke seed --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) \
	  --data-file events/seed-default.json

## A shell on the local Redis (ENGINE=valkey: valkey-cli).
redis-cli:
	@source scripts/lib.sh && ensure_engine && "$$REDIS_CLI" -p $(REDIS_PORT)

## Print the booking events on the local broker (one partition: PARTITION=0|1|2).
PARTITION ?= 0
events:
	source scripts/lib.sh && ensure_tansu && \
	"$$TANSU_BIN" cat consume booking-slot --broker tcp://127.0.0.1:9092 --partition $(PARTITION) --max-wait-time-ms 1000

## Run the outbox relay once (it is scheduled every minute in AWS).
relay:
	source scripts/lib.sh && ensure_cargo_lambda && \
	cargo lambda invoke outbox-relay --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) --data-ascii '{}'

## Run the waiting room's inlet for INLET_SECONDS (default 55) against the running system: it lets
## people in at QUEUE_INLET_RATE per minute (scheduled every minute in AWS).
INLET_SECONDS ?= 55
inlet:
	source scripts/lib.sh && ensure_cargo_lambda && \
	cargo lambda invoke queue-inlet --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) --data-ascii '{"seconds":$(INLET_SECONDS)}'

## Open or close the waiting room's epoch on the running system: ROOM=open (events/room-open.json)
## or ROOM=close. In AWS, invoke the seed function with the same events.
ROOM ?= open
room:
	source scripts/lib.sh && ensure_cargo_lambda && \
	cargo lambda invoke seed --invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) \
	  --data-file events/room-$(ROOM).json

## Create the booking topic on the local broker (make run does it).
topics:
	source scripts/lib.sh && create_topic 9092

## The original server's two load commands, against the running system.
load-test:
	source scripts/lib.sh && ensure_hey
	hey -c 100 -z 5s $(BASE_URL)/stations/PWTC
	hey -T "application/json" -c 100 -z 5s -m POST -d '$(BOOKING_BODY)' $(BASE_URL)/booking

## Formatting and lints, as reviewers expect them.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## Stop the local redis-server and broker that `make run` started (docker compose: `docker compose down`).
stop:
	source scripts/lib.sh && stop_local_redis $(REDIS_PORT) && stop_local_broker 9092

## Rewrite openapi.json from the code (a test fails while the committed one is stale).
openapi:
	cargo run -q -p booking-http --example openapi > openapi.json
