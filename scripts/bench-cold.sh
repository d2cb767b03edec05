#!/usr/bin/env bash
# `make bench-cold`: every function's bootstrap as `make build` makes it (cargo lambda, release:
# the file that goes into the zip), next to hello-lambda built the same way, started by
# tools/lambda-bench against a local Lambda Runtime API, with a private Redis and broker: init
# time (exec to the first request for work), the first invocation, per-invocation p50/p99, peak
# RSS and size, next to a hello-world lambda_http function measured the same way. Figures only.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

INVOCATIONS="${BENCH_INVOCATIONS:-10000}"
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/bench"
REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"
LAMBDA="${CARGO_TARGET_DIR:-$ROOT/target}/lambda"
FUNCTIONS=(get-station create-booking get-booking cancel-booking healthz api-docs route-fallback
  queue-join queue-status queue-inlet seed outbox-relay)

ensure_redis
ensure_tansu
ensure_cargo_lambda
mkdir -p "$OUT"
log "building the functions, hello-lambda and lambda-bench (release; minutes the first time)"
# As sam build does, no function shares a build with a function of other dependencies: cargo
# unifies features across one build, which would link (say) the publishers' HTTP/2 into readers.
build_functions_apart cargo lambda build --release -q
cargo lambda build --release -q -p hello-lambda
cargo build --release -q -p lambda-bench

redis_port="$(free_port)"
broker_port="$(free_port)"
cleanup() {
  [ -n "${PRIVATE_REDIS_PID:-}" ] && kill "$PRIVATE_REDIS_PID" 2>/dev/null && wait "$PRIVATE_REDIS_PID" 2>/dev/null
  stop_local_broker "$broker_port"
  return 0
}
trap cleanup EXIT
start_private_redis "$redis_port" "$OUT/redis-cold.log"
start_local_broker "$broker_port"
dates=()
for i in $(seq 0 29); do dates+=("$(date -u -d "20210516 + $i days" +%Y%m%d)" 1000000); done
redis-cli -p "$redis_port" HSET 'slots:{PWTC}' "${dates[@]}" >/dev/null
redis-cli -p "$redis_port" HSET 'capacity:{PWTC}' "${dates[@]}" >/dev/null
redis-cli -p "$redis_port" SADD stations PWTC >/dev/null
export REDIS_URL="redis://127.0.0.1:$redis_port" KAFKA_BROKERS="127.0.0.1:$broker_port" RUST_LOG=warn

person='{"mysejahteraId":"{id}","firstName":"Fadhil","lastName":"Yaacob","address":"Kuala Lumpur","location":"PWTC","phoneNumber":"0123456789","date":"20210516"}'
event_for() {
  case "$1" in
    hello-lambda) echo "GET /hello" ;;
    get-station) echo "GET /stations/PWTC" ;;
    create-booking) echo "POST /booking $person" ;;
    get-booking) echo "GET /booking/{id}" ;;
    cancel-booking) echo "DELETE /booking/{id}" ;;
    api-docs) echo "GET /openapi.json" ;;
    route-fallback) echo "GET /nowhere" ;;
    healthz) echo "GET /healthz" ;;
    queue-join) echo 'POST /queue {"mysejahteraId":"{id}"}' ;;
    queue-status) echo "GET /queue" ;;
    queue-inlet) echo '{"seconds":1}' ;;
    seed) echo '{"startDate":"20210516","days":1,"stations":[{"location":"COLD","dailyCapacity":10}]}' ;;
    outbox-relay) echo '{}' ;;
  esac
}
results="$OUT/cold.jsonl"
: >"$results"
# create-booking's answers give each person's booking reference; get- and cancel-booking then
# present it (Authorization: Bearer), so they measure the owner's read and cancel, not a 401.
export BENCH_REFERENCES="$OUT/cold-references.txt"
: >"$BENCH_REFERENCES"
for name in hello-lambda "${FUNCTIONS[@]}"; do
  # The 10,000 that the goal names for get-station (and the reference); fewer for the rest,
  # whose work (a seed, a relay run) is heavier and not on the hot path.
  case "$name" in
    hello-lambda | get-station | create-booking) n=$INVOCATIONS ;;
    queue-inlet) n=5 ;; # a tick a second
    *) n=1000 ;;
  esac
  case "$name" in get-booking | cancel-booking) authorization='Bearer {reference}' ;; *) authorization="" ;; esac
  log "$name: $n invocations"
  BENCH_AUTHORIZATION="$authorization" \
    timeout 300 "$REL/lambda-bench" "$name" "$LAMBDA/$name/bootstrap" "$n" "$(event_for "$name")" >>"$results"
done

python3 - "$results" "$OUT/cold.json" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
ref = rows[0]
print()
print(f"{'function':16} {'size MiB':>8} {'init ms':>8} {'x ref':>6} {'1st inv ms':>10} "
      f"{'p50 ms':>7} {'p99 ms':>7} {'peak RSS MiB':>12} {'x ref':>6} {'anon':>5} {'file':>5}  invocations: statuses")
for r in rows:
    statuses = " ".join(f"{k}:{v}" for k, v in r["statuses"].items())
    print(f"{r['name']:16} {r['binary_bytes']/2**20:8.2f} {r['cold_start_ms']:8.2f} "
          f"{r['cold_start_ms']/ref['cold_start_ms']:6.2f} {r['first_invocation_ms']:10.2f} "
          f"{r['p50_ms']:7.3f} {r['p99_ms']:7.3f} {r['peak_rss_kib']/1024:12.2f} "
          f"{r['peak_rss_kib']/ref['peak_rss_kib']:6.2f} {r['rss_anon_kib']/1024:5.2f} "
          f"{r['rss_file_kib']/1024:5.2f}  {r['invocations']}: {statuses}")
    if r.get("last_error"):
        print(f"    last error: {r['last_error'][:200]}")
gs = next(r for r in rows if r["name"] == "get-station")
publishers = {"create-booking", "cancel-booking", "outbox-relay"}
functions = rows[1:]
goals = [
    ("every function that does not publish: bootstrap at most 6 MB (issue 21)",
     all(r["binary_bytes"] <= 6 * 2**20 for r in functions if r["name"] not in publishers)),
    ("the publishers: at most 10 MB (issue 21)",
     all(r["binary_bytes"] <= 10 * 2**20 for r in functions if r["name"] in publishers)),
    ("every function's init within 1.5x of hello-world's (issue 21)",
     all(r["cold_start_ms"] <= 1.5 * ref["cold_start_ms"] for r in functions)),
    ("every function's peak RSS within 1.5x of hello-world's (issue 21)",
     all(r["peak_rss_kib"] <= 1.5 * ref["peak_rss_kib"] for r in functions)),
    ("get-station per-invocation p50 < 0.5 ms", gs["p50_ms"] < 0.5),
]
print("\ninit: exec to the first GET .../invocation/next (median of 7 processes); 1st inv: the")
print("invocation right after init; p50/p99 over one warm process; RSS = VmHWM after them, of")
print("which anon (heap, stacks) and file (pages of the binary it touched) at the end, in MiB.")
print("goals (printed, never asserted):")
for name, met in goals:
    print(f"  [{'met' if met else 'NOT met'}] {name}")
json.dump({"functions": rows, "goals": dict(goals)}, open(sys.argv[2], "w"), indent=2)
print(f"\nJSON: {sys.argv[2]}")
PY
