#!/usr/bin/env bash
# `make test`: installs what the tests need, then checks the SAM template and runs every test.
# Each integration test, and the end-to-end test, starts its own redis-server (and tansu broker)
# on its own free ports and stops them, so nothing is left running.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_redis
ensure_valkey
ensure_engine
ensure_openssl
ensure_tansu
ensure_moto
ensure_nextest
ensure_template_tools

# cfn-lint exits non-zero on warnings too, so an unjustified warning fails the run; a justified
# one is silenced in template.yaml next to its reason.
log "template: cfn-lint $CFN_LINT_VERSION"
cfn-lint template.yaml waf.yaml
log "template: what cfn-lint cannot know (personal data in logs, secrets per function, throttles)"
"$VENV/bin/python" scripts/template_checks.py template.yaml
# Offline and without credentials: it needs only a region to expand pseudo parameters (a dummy
# one here, so a developer's own AWS settings play no part).
log "template: sam validate --lint"
env -u AWS_PROFILE AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
  AWS_SHARED_CREDENTIALS_FILE=/dev/null sam validate --lint

# Every test on ENGINE (Redis unless told), then the engine-relevant ones (the `engine` profile
# in .config/nextest.toml) on the other: the same build, only the servers differ.
other_engine=valkey
[ "$ENGINE" = valkey ] && other_engine=redis
log "unit and integration tests on $("$ENGINE-server" --version | cut -d' ' -f1-3)"
ENGINE="$ENGINE" cargo nextest run --workspace --no-fail-fast
# The workspace build turns booking-core's `jwks` feature on (local-api and the tests use it);
# the deployed functions build without it, so its own tests run once that way too.
log "booking-core's tests as the deployed functions build it (without the jwks feature)"
cargo nextest run -p booking-core --no-fail-fast
log "the engine's tests again on $("$other_engine-server" --version | cut -d' ' -f1-3)"
ENGINE="$other_engine" cargo nextest run --workspace --profile engine --no-fail-fast

log "every function under the AWS Lambda runtime emulator (debug builds; make rie-test: release)"
RIE_BUILD=debug "$ROOT/scripts/rie-test.sh"

log "end to end: the local developer flow under cargo lambda watch"
"$ROOT/scripts/e2e-emulator.sh"

log "the booking page in a real browser"
"$ROOT/scripts/browser-test.sh"

log "fuzzing the HTTP API with schemathesis"
"$ROOT/scripts/fuzz.sh"
