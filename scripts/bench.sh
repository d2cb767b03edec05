#!/usr/bin/env bash
# `make bench`: local-api (release) under a real HTTP load generator (wrk) on a private Redis and
# broker, next to redis-benchmark doing the same Redis work at the same concurrency (the ceiling
# no HTTP server in front of this Redis could beat). Prints one table, writes
# target/bench/summary.json, and checks from Redis that the distinct-people bookings add up.
# Figures only: nothing here fails on speed. Everything binds 127.0.0.1 on free ports.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DURATION="${BENCH_DURATION:-8}"   # seconds per HTTP scenario
THREADS="${BENCH_THREADS:-2}"     # wrk threads: one per core of the reference machine
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/bench"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/local-api"
# Capacity of the dates the distinct-people and mix scenarios book: never the limit.
BIG=5000000

ensure_redis
ensure_tansu
command -v wrk >/dev/null || { log "installing wrk"; apt_install wrk; }
mkdir -p "$OUT"
rm -f "$OUT"/*.out "$OUT"/*.csv
log "building local-api and the rush driver, which signs the identity rows' tokens (release; minutes the first time)"
cargo build --release -q -p local-api -p rush

redis_port="$(free_port)"
api_port="$(free_port)"
broker_port="$(free_port)"
api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
  [ -n "${PRIVATE_REDIS_PID:-}" ] && kill "$PRIVATE_REDIS_PID" 2>/dev/null && wait "$PRIVATE_REDIS_PID" 2>/dev/null
  stop_local_broker "$broker_port"
  stop_redis_cluster
  return 0
}
trap cleanup EXIT

start_private_redis "$redis_port" "$OUT/redis.log"
redis_pid="$PRIVATE_REDIS_PID"
start_local_broker "$broker_port"
rcli() { redis-cli -p "$redis_port" "$@"; }

# The keys the README documents, as the seed function writes them: PWTC with 30 dates from
# 20210516 like the default data set; 20210518 (distinct people), 20210519 (mix), 20210520
# (no broker), 20210521 (per-booking publishing) and 20210522 (identity on) large enough never to
# fill; CEIL only for redis-benchmark's bookings.
seed_args=()
for i in $(seq 0 29); do
  date="$(date -u -d "20210516 + $i days" +%Y%m%d)"
  case "$date" in 20210518 | 20210519 | 20210520 | 20210521 | 20210522) cap=$BIG ;; *) cap=8000 ;; esac
  seed_args+=("$date" "$cap")
done
rcli HSET 'slots:{PWTC}' "${seed_args[@]}" >/dev/null
rcli HSET 'capacity:{PWTC}' "${seed_args[@]}" >/dev/null
rcli HSET 'slots:{CEIL}' 20210516 100000000 >/dev/null
rcli HSET 'capacity:{CEIL}' 20210516 100000000 >/dev/null
rcli SADD stations PWTC >/dev/null
# The rest of the default data set, so that GET /stations lists three stations as in production.
for station in UM:5000 IDCC:3000; do
  list_args=()
  for i in $(seq 0 29); do
    list_args+=("$(date -u -d "20210516 + $i days" +%Y%m%d)" "${station#*:}")
  done
  rcli HSET "slots:{${station%%:*}}" "${list_args[@]}" >/dev/null
  rcli HSET "capacity:{${station%%:*}}" "${list_args[@]}" >/dev/null
  rcli SADD stations "${station%%:*}" >/dev/null
done

# RUST_LOG=warn: a line per request would measure the terminal, not the server.
start_api() { # brokers [events per produce request: KAFKA_BATCH_MAX]; BENCH_REDIS_URL and
  # BENCH_REDIS_CLUSTER point it at another Redis (the cluster row), BENCH_IDENTITY=otp turns
  # identity on (the template's default mode)
  IDENTITY="${BENCH_IDENTITY:-none}" IDENTITY_TOKEN_KEY="$identity_key" OTP_SENDER=file \
    OTP_FILE="$OUT/otp-codes.log" \
  REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:$redis_port}" KAFKA_BROKERS="$1" KAFKA_BATCH_MAX="${2:-}" \
    REDIS_CLUSTER="${BENCH_REDIS_CLUSTER:-false}" CLIENT_WRITES_PER_MINUTE=0 \
    PORT="$api_port" METRICS_PORT="$(free_port)" RUST_LOG="${RUST_LOG:-warn}" "$BIN" >>"$OUT/local-api.log" 2>&1 &
  api_pid=$!
  wait_for_port 127.0.0.1 "$api_port" 30
}
# The identity rows' key: the API checks the tokens the rush driver signs with it.
identity_key="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
: >"$OUT/local-api.log" >"$OUT/otp-codes.log"
start_api "127.0.0.1:$broker_port"
broker_pid="$(cat "$LOCAL/tansu-$broker_port.pid")"
base="http://127.0.0.1:$api_port"
curl -fsS "$base/stations/PWTC" >/dev/null

# Where the machine's CPU went during a scenario: local-api, redis-server, and the rest (wrk,
# the broker, anything else running), as jiffies from /proc.
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

# Calls of one Redis command so far (INFO commandstats), e.g. `redis_calls hgetall`.
redis_calls() {
  rcli INFO commandstats | awk -F'[:=,]' -v cmd="cmdstat_$1" '$1 == cmd { n = $3 } END { print n + 0 }'
}

# Each scenario books people of its own birth year (the year of person_id changes every 3,360,000
# people): 90 + its number (mod 100), so `booking:*:$people_year*` finds exactly its bookings.
scenarios=0
run_wrk() { # name mode connections [date]
  scenarios=$((scenarios + 1))
  people_year="$(printf %02d $(((90 + scenarios) % 100)))"
  log "scenario $1: wrk -t$THREADS -c$3 -d${DURATION}s ($2)"
  local api0 redis0 broker0 busy0 total0 api1 redis1 broker1 busy1 total1
  local hgetall0 smembers0
  api0="$(cpu_of "$api_pid")" redis0="$(cpu_of "$redis_pid")" broker0="$(cpu_of "$broker_pid")"
  read -r busy0 total0 < <(machine)
  hgetall0="$(redis_calls hgetall)" smembers0="$(redis_calls smembers)"
  BENCH_MODE="$2" BENCH_PEOPLE_FROM=$((scenarios * 3360000)) BENCH_THREADS="$THREADS" \
    BENCH_STATION=PWTC BENCH_DATE="${4:-20210516}" \
    BENCH_ETAG="${bench_etag:-}" BENCH_TOKENS="${BENCH_TOKENS:-}" \
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$3" -d"${DURATION}s" --timeout 5s \
    -s scripts/bench/wrk.lua "$base" >"$OUT/$1.out"
  api1="$(cpu_of "$api_pid")" redis1="$(cpu_of "$redis_pid")" broker1="$(cpu_of "$broker_pid")"
  read -r busy1 total1 < <(machine)
  echo "{\"api\": $((api1 - api0)), \"redis\": $((redis1 - redis0)), \"broker\": $((broker1 - broker0)), \"busy\": $((busy1 - busy0)), \"total\": $((total1 - total0))}" >"$OUT/$1.cpu"
  # The station reads' Redis work during the run: HGETALL per station, SMEMBERS per list read.
  echo "{\"hgetall\": $(($(redis_calls hgetall) - hgetall0)), \"smembers\": $(($(redis_calls smembers) - smembers0))}" >"$OUT/$1.reads"
}

run_ceiling() { # name connections requests command...
  local name="$1" clients="$2" requests="$3"
  shift 3
  log "ceiling $name: redis-benchmark -c$clients -n$requests $1 ..."
  timeout 120 redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$clients" -n "$requests" \
    -r 100000000 --csv "$@" >"$OUT/$name.csv"
}

# A short warm-up so every scenario finds connections and caches as a running service has them.
BENCH_MODE=get timeout 30 wrk -t"$THREADS" -c50 -d2s -s scripts/bench/wrk.lua "$base" >/dev/null

run_wrk get_station get 50
run_wrk list_stations list 50
# A client (or CDN) that holds the list revalidates it: 304s, no body, while nothing changes
# (no booking runs before this scenario ends).
bench_etag="$(curl -fsS -D - -o /dev/null "$base/stations" | tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }')"
[ -n "$bench_etag" ] || { log "GET /stations sent no ETag"; exit 1; }
run_wrk revalidate_list revalidate 50
bench_etag=""
run_wrk book_same same 100
before="$(rcli HGET 'slots:{PWTC}' 20210518)"
run_wrk book_distinct distinct 100 20210518
after="$(rcli HGET 'slots:{PWTC}' 20210518)"
stored="$(rcli --scan --pattern "booking:*:$people_year*" | wc -l)"
run_wrk mix mix 50 20210519

# The same distinct-people bookings with each event in its own produce request (local-api's
# batching off, as before issue 16): the broker's cost per event, side by side with the above.
restart_api() { # brokers [KAFKA_BATCH_MAX]
  kill "$api_pid" && wait "$api_pid" 2>/dev/null || true
  start_api "$@"
  curl -fsS -o /dev/null -H 'content-type: application/json' "$base/booking" -d \
    '{"address":"x","date":"'"$warm_date"'","firstName":"x","lastName":"x","location":"PWTC","mysejahteraId":"80010114'"${warm_date: -4}"'","phoneNumber":"0123456789"}'
}
warm_date=20210521 restart_api "127.0.0.1:$broker_port" 1
run_wrk book_per_event distinct 100 20210521

# The same bookings with the broker unreachable: the publish breaker leaves events to the relay,
# so this is the booking path without the broker's share (where the time goes).
warm_date=20210520 restart_api "127.0.0.1:$(free_port)"
run_wrk book_no_broker distinct 100 20210520

# Identity on (IDENTITY=otp): the distinct-people bookings again, each person sending the identity
# token their phone's code earned (HS256, checked on every act), and the request that asks for a
# code (POST /verification: the first of the two a person makes once; its confirm is one script
# like it). The tokens are signed beforehand, as the API would issue them, for people of the
# year 2010 (no other scenario's); 150,000 is more than a run books.
kill "$api_pid" && wait "$api_pid" 2>/dev/null || true
RUSH_MODE=tokens RUSH_IDENTITY_TOKEN_KEY="$identity_key" RUSH_PEOPLE=150000 \
  RUSH_PEOPLE_FROM=$((20 * 3360000)) "${CARGO_TARGET_DIR:-$ROOT/target}/release/rush" >"$OUT/tokens.txt"
BENCH_IDENTITY=otp start_api "127.0.0.1:$broker_port"
curl -fsS -o /dev/null "$base/stations/PWTC"
BENCH_TOKENS="$OUT/tokens.txt" run_wrk book_proven proven 100 20210522
run_wrk verify_send verify 100
codes_written="$(wc -l <"$OUT/otp-codes.log")"

# The distinct-people bookings again on a local 3-primary Redis Cluster (REDIS_CLUSTER=true: the
# claim protocol, four scripts on two shards per booking), measured in the same run as the single
# Redis above. Its redis-server CPU shows under wrk+other.
kill "$api_pid" && wait "$api_pid" 2>/dev/null || true
start_redis_cluster
ccli() { redis-cli -c -p "${CLUSTER_PORTS[0]}" "$@"; }
ccli HSET 'slots:{PWTC}' 20210516 8000 20210518 "$BIG" >/dev/null
ccli HSET 'capacity:{PWTC}' 20210516 8000 20210518 "$BIG" >/dev/null
ccli SADD stations PWTC >/dev/null
BENCH_REDIS_URL="redis://127.0.0.1:${CLUSTER_PORTS[0]}" BENCH_REDIS_CLUSTER=true \
  start_api "127.0.0.1:$broker_port"
run_wrk book_cluster distinct 100 20210518
cluster_stored="$(for port in "${CLUSTER_PORTS[@]}"; do
  redis-cli -p "$port" --scan --pattern "booking:*:$people_year*"; done | wc -l)"
echo "{\"bookings_stored\": $cluster_stored}" >"$OUT/cluster_verify.json"
echo "{\"codes_written\": $codes_written}" >"$OUT/identity_verify.json"

# The same Redis work without HTTP: the station read, and the booking script for new people
# (and for the one repeated person, which the script answers from its first GET).
# The script as the store sends it: `#!lua`, the shared functions, then book.lua.
book_script="$(printf '#!lua\n'; cd shared/redis/src && cat take_slot.lua record_booking.lua book.lua)"
sha="$(rcli SCRIPT LOAD "$book_script")"
booking_json='{"mysejahteraId":"ceil-__rand_int__","firstName":"Fadhil","lastName":"Yaacob","address":"Kuala Lumpur","location":"CEIL","phoneNumber":"0123456789","date":"20210516"}'
event_json='{"eventId":"0b6f4f2e-8d8c-4d47-9a57-3f3c1c7a8e11","type":"booking.created","occurredAt":"2021-05-16T00:00:00.000Z","booking":'"$booking_json"'}'
run_ceiling redis_hgetall 50 400000 HGETALL 'slots:{PWTC}'
nonce=0123456789abcdef0123456789abcdef
expires=$(( $(date +%s) + 86400 ))
# One person bucket for every redis-benchmark person ({p:000}): the key names cost the same.
# No Idempotency-Key (an empty digest), as the wrk bookings send none.
run_ceiling redis_book_new 100 200000 EVALSHA "$sha" 9 'slots:{CEIL}' 'booking:{p:000}:ceil-__rand_int__' \
  'outbox:{p:000}' 'booking-owner:{p:000}:ceil-__rand_int__' 'held:{CEIL}' 'capacity:{CEIL}' \
  'event-seq:{p:000}:ceil-__rand_int__' 'holders:{CEIL}' 'booking-retry:{p:000}:ceil-__rand_int__' \
  20210516 "$booking_json" 'ceil-__rand_int__' "$event_json" "$nonce" 1621123200000 "$expires" \
  0123456789abcdef0123456789abcdef '' 900000
same_key="$(rcli --scan --pattern 'booking:*:900127015527' | head -1)"
same_tag="${same_key#booking:}" same_tag="${same_tag%%:900127015527}"
same_json="$(rcli GET "$same_key")"
run_ceiling redis_book_same 100 300000 EVALSHA "$sha" 9 'slots:{PWTC}' "$same_key" \
  "outbox:$same_tag" "booking-owner:$same_tag:900127015527" 'held:{PWTC}' 'capacity:{PWTC}' \
  "event-seq:$same_tag:900127015527" 'holders:{PWTC}' "booking-retry:$same_tag:900127015527" \
  20210516 "$same_json" 900127015527 "{}" "$nonce" 1621123200000 "$expires" \
  0123456789abcdef0123456789abcdef '' 900000

cat >"$OUT/verify.json" <<JSON
{"capacity_before": $before, "capacity_after": $after, "bookings_stored": $stored,
 "min_counter": $(rcli HVALS 'slots:{PWTC}' | sort -n | head -1)}
JSON

python3 - "$OUT" "$DURATION" <<'PY'
import json, os, sys, pathlib
out, duration = pathlib.Path(sys.argv[1]), int(sys.argv[2])

def wrk(name):
    for line in (out / f"{name}.out").read_text().splitlines():
        if line.startswith("BENCH_JSON "):
            r = json.loads(line[len("BENCH_JSON "):])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            c = json.loads((out / f"{name}.cpu").read_text())
            share = lambda j: round(100 * j / max(c["total"], 1))
            r["cpu_jiffies"] = c
            r["cpu_percent_of_machine"] = {
                "local_api": share(c["api"]), "redis": share(c["redis"]),
                "broker": share(c["broker"]),
                "wrk_other": share(c["busy"] - c["api"] - c["redis"] - c["broker"]),
                "idle": share(c["total"] - c["busy"])}
            return r
    raise SystemExit(f"{name}: wrk printed no result; see {out}/{name}.out")

def ceiling(name):
    # The command (first column) holds unescaped quotes of its JSON arguments; the seven
    # figures after it do not.
    last = (out / f"{name}.csv").read_text().strip().splitlines()[-1]
    rps, _avg, _min, p50, _p95, p99, _max = (float(f.strip('"')) for f in last.rsplit(",", 7)[1:])
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99}

ceilings = {n: ceiling(n) for n in ("redis_hgetall", "redis_book_new", "redis_book_same")}
# redis-benchmark runs one command at a time; the mix's ceiling follows from the two (9:1).
g, b = ceilings["redis_hgetall"]["rps"], ceilings["redis_book_new"]["rps"]
ceilings["redis_mix_9_1"] = {"rps": 1 / (0.9 / g + 0.1 / b), "derived": True}
scenarios = [
    ("get_station", "GET /stations/PWTC, c=50", "redis_hgetall"),
    # No redis-benchmark command does what one list read does (SMEMBERS, then a pipeline).
    ("list_stations", "GET /stations (3 stations), c=50", None),
    ("revalidate_list", "GET /stations, If-None-Match (304), c=50", None),
    ("book_same", "POST /booking, original body repeated, c=100", "redis_book_same"),
    ("book_distinct", "POST /booking, distinct people, c=100", "redis_book_new"),
    ("mix", "90% GET station / 10% POST booking, c=50", "redis_mix_9_1"),
    ("book_per_event", "POST /booking, distinct, 1 produce per booking", "redis_book_new"),
    ("book_no_broker", "POST /booking, distinct, broker down (to relay)", "redis_book_new"),
    ("book_proven", "POST /booking, distinct, IDENTITY=otp token", "redis_book_new"),
    ("verify_send", "POST /verification (code to a file), IDENTITY=otp", None),
    ("book_cluster", "POST /booking, distinct, 3-primary Redis Cluster", None),
]
summary = {"duration_s": duration, "scenarios": {}, "redis_ceiling": ceilings}
print()
print(f"{'scenario':48} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'of ceiling':>10}  statuses / errors")
for name, label, ceil in scenarios:
    r = wrk(name)
    ratio = r["rps"] / ceilings[ceil]["rps"] if ceil else None
    errors = {k: v for k, v in r["errors"].items() if v}
    summary["scenarios"][name] = {
        "label": label, "requests": r["requests"], "requests_per_s": round(r["rps"]),
        "duration_s": r["duration_us"] / 1e6,
        "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000, "max_ms": r["max_us"] / 1000,
        "status": r["status"], "errors": r["errors"], "ceiling": ceil,
        "cpu_percent_of_machine": r["cpu_percent_of_machine"],
        "ratio_to_ceiling": round(ratio, 3) if ratio is not None else None}
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(r["status"].items()))
    shown = f"{ratio:9.0%}" if ratio is not None else f"{'-':>9} "
    print(f"{label:48} {r['rps']:9.0f} {r['p50_us']/1000:7.2f} {r['p99_us']/1000:7.2f} "
          f"{shown}  {statuses} {errors or ''}")
print()
print("CPU during each scenario, % of the whole machine (all cores):")
print(f"{'scenario':48} {'local-api':>9} {'redis':>6} {'broker':>6} {'wrk+other':>9} {'idle':>5}")
for name, label, _ in scenarios:
    c = summary["scenarios"][name]["cpu_percent_of_machine"]
    print(f"{label:48} {c['local_api']:8}% {c['redis']:5}% {c['broker']:5}% {c['wrk_other']:8}% "
          f"{c['idle']:4}%")
print()
print(f"{'raw Redis ceiling (redis-benchmark, same keys)':48} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
for name, c in ceilings.items():
    if c.get("derived"):
        print(f"{name:48} {c['rps']:9.0f}       (9:1 of the two above)")
    else:
        print(f"{name:48} {c['rps']:9.0f} {c['p50_ms']:7.2f} {c['p99_ms']:7.2f}")

# What the station reads cost Redis: with the 1-second cache and single flight, about one
# HGETALL per station and second (and one SMEMBERS per second for the list), whatever the load.
reads_rows = [("get_station", 1), ("list_stations", 3), ("revalidate_list", 3)]
print()
print("Redis reads caused by the station endpoints (INFO commandstats before/after each run):")
print(f"{'scenario':48} {'HGETALL/s':>9} {'SMEMBERS/s':>10} {'per station/s':>13}")
for name, stations in reads_rows:
    reads = json.loads((out / f"{name}.reads").read_text())
    seconds = summary["scenarios"][name]["duration_s"]
    per_s = {k: v / seconds for k, v in reads.items()}
    per_station = per_s["hgetall"] / stations
    summary["scenarios"][name]["redis_reads_per_s"] = {**per_s, "per_station": per_station}
    print(f"{summary['scenarios'][name]['label']:48} {per_s['hgetall']:9.1f} {per_s['smembers']:10.1f} "
          f"{per_station:13.2f}")

v = json.loads((out / "verify.json").read_text())
d = summary["scenarios"]["book_distinct"]
created = d["status"].get("201", 0)
taken = v["capacity_before"] - v["capacity_after"]
checks = {
    "201s counted": created,
    "bookings stored": v["bookings_stored"],
    "counter decreased by": taken,
    "lowest counter": v["min_counter"],
}
# A 201 the store does not hold would make stored < 201s. Stored > 201s by at most the
# connections is the requests in flight when wrk stopped: stored, their replies never read
# (not phantoms: the person's retry answers 200).
in_flight = v["bookings_stored"] - created
v.update({"created_201": created, "counter_decrease": taken,
          "in_flight_at_stop": in_flight,
          "phantom_successes": max(0, -in_flight),
          "overbooked": v["min_counter"] < 0 or taken != v["bookings_stored"],
          "consistent": 0 <= in_flight <= 100 and taken == v["bookings_stored"]
                        and v["min_counter"] >= 0})
checks["in flight when wrk stopped"] = in_flight
summary["distinct_check"] = v
# On the cluster a 201 comes only after the confirm step stored the booking: stored >= 201s.
cv = json.loads((out / "cluster_verify.json").read_text())
cv["created_201"] = s_cluster_created = summary["scenarios"]["book_cluster"]["status"].get("201", 0)
cv["phantom_successes"] = max(0, s_cluster_created - cv["bookings_stored"])
summary["cluster_check"] = cv
print()
print("distinct people, from Redis: " + ", ".join(f"{k} {n}" for k, n in checks.items())
      + (" -> consistent, zero overbooking, zero phantom successes" if v["consistent"]
         else " -> INCONSISTENT"))
print(f"distinct people on the cluster, from Redis: 201s counted {cv['created_201']}, bookings "
      f"stored {cv['bookings_stored']}, phantom successes {cv['phantom_successes']}")

# What identity costs per booking, in this run: the proven bookings beside the plain ones (same
# local-api, same Redis, same connections), and the code requests a person makes first.
b, p, vs = summary["scenarios"]["book_distinct"], summary["scenarios"]["book_proven"], \
    summary["scenarios"]["verify_send"]
iv = json.loads((out / "identity_verify.json").read_text())
summary["identity_check"] = {
    "proven_per_plain_booking_rate": round(p["requests_per_s"] / max(b["requests_per_s"], 1), 3),
    "p50_added_ms": round(p["p50_ms"] - b["p50_ms"], 3),
    "codes_written": iv["codes_written"], "verifications_202": vs["status"].get("202", 0)}
print()
print(f"identity on (IDENTITY=otp): proven bookings at {p['requests_per_s'] / max(b['requests_per_s'], 1):.0%} "
      f"of the plain rate, p50 {p['p50_ms'] - b['p50_ms']:+.2f} ms; POST /verification "
      f"{vs['requests_per_s']}/s ({vs['status'].get('202', 0)} codes asked, {iv['codes_written']} "
      f"written by the file sender)")

# What one event costs the broker (and local-api), batched and one produce request per booking:
# CPU time during the run over the 201s it answered (each 201 published one event or left it to
# the relay).
tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
print()
print("CPU per booking event, ms (CPU time during the run / 201s):")
print(f"{'scenario':48} {'201s/s':>9} {'broker':>7} {'local-api':>9} {'redis':>6}")
for name in ("book_distinct", "book_per_event", "book_no_broker"):
    r = summary["scenarios"][name]
    c = wrk(name)["cpu_jiffies"]
    n = max(r["status"].get("201", 0), 1)
    per_event = {k: c[k] * tick_ms / n for k in ("broker", "api", "redis")}
    r["created_per_s"] = round(n / r["duration_s"])
    r["cpu_ms_per_event"] = {k: round(v, 4) for k, v in per_event.items()}
    print(f"{r['label']:48} {r['created_per_s']:9} {per_event['broker']:7.3f} "
          f"{per_event['api']:9.3f} {per_event['redis']:6.3f}")

s = summary["scenarios"]
goals = [
    ("GET station > 50,000 req/s", s["get_station"]["requests_per_s"] > 50000),
    ("GET /stations > 50,000 req/s", s["list_stations"]["requests_per_s"] > 50000),
    ("GET station p99 < 10 ms", s["get_station"]["p99_ms"] < 10),
    ("distinct bookings (batched) > 15,000 201s/s",
     created / (d["requests"] / d["requests_per_s"]) > 15000),
    ("distinct bookings (batched) p99 < 20 ms", d["p99_ms"] < 20),
    ("distinct bookings (batched) >= 50% of the Redis ceiling", d["ratio_to_ceiling"] >= 0.5),
    ("zero overbooking, zero phantom successes", v["consistent"]),
    ("every scenario >= 50% of its Redis ceiling",
     all(x["ratio_to_ceiling"] >= 0.5 for n, x in s.items()
         if n not in ("book_no_broker", "book_per_event") and x["ratio_to_ceiling"] is not None)),
    ("station reads: at most about one Redis read per station per second (issue 15)",
     all(s[n]["redis_reads_per_s"]["per_station"] <= 1.5 for n, _ in reads_rows)),
]
summary["goals"] = {name: met for name, met in goals}
print()
print("goals (issues 6 and 16; printed, never asserted):")
for name, met in goals:
    print(f"  [{'met' if met else 'NOT met'}] {name}")
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"\nJSON: {out / 'summary.json'}")
PY
