-- The wrk script of every `make bench` scenario, chosen by BENCH_MODE:
--   get       GET /stations/$BENCH_STATION
--   list      GET /stations
--   revalidate GET /stations with If-None-Match: $BENCH_ETAG (304s while nothing changes)
--   same      POST /booking with the original server's load-test body (one person, repeated)
--   distinct  POST /booking, a new person every request (person numbers from
--             $BENCH_PEOPLE_FROM, unique per thread and request)
--   mix       9 station reads, then 1 booking of a new person
--   proven    as distinct, each new person with the identity token their phone's code earned
--             (IDENTITY=otp): the k-th request of the run takes line k of $BENCH_TOKENS
--             (`ID TOKEN` lines that the rush driver signs, as wrk cannot)
--   verify    POST /verification, a new person and a new phone every request: the first of
--             the two requests that earn a token (its code goes to local-api's OTP_FILE)
-- wrk cannot vary a body by itself, hence this script. It counts statuses per thread and, when
-- done, prints one line `BENCH_JSON {...}` that scripts/bench.sh turns into the table.
local mode = os.getenv("BENCH_MODE") or "get"
local station = os.getenv("BENCH_STATION") or "PWTC"
local date = os.getenv("BENCH_DATE") or "20210516"
-- New people's numbers start here (each scenario has its own range, so runs against the same
-- Redis never collide); thread t of n takes every n-th number from t.
local people_from = tonumber(os.getenv("BENCH_PEOPLE_FROM") or "0")
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")

local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

-- Per thread (each wrk thread has a Lua state of its own).
counts = {}
local sent = 0
local get_request, same_request, list_request, revalidate_request
local json = { ["Content-Type"] = "application/json" }
local proven = {}  -- proven mode: { {id, token}, ... } from $BENCH_TOKENS

function init(args)
  get_request = wrk.format("GET", "/stations/" .. station)
  list_request = wrk.format("GET", "/stations")
  revalidate_request = wrk.format("GET", "/stations",
    { ["If-None-Match"] = os.getenv("BENCH_ETAG") or "" })
  same_request = wrk.format("POST", "/booking", json,
    '{"address":"Kuala Lumpur","date":"20210516","firstName":"Fadhil","lastName":"Yaacob","location":"PWTC","mysejahteraId":"900127015527","phoneNumber":"0123456789"}')
  if mode == "proven" then
    for line in io.lines(os.getenv("BENCH_TOKENS")) do
      local id, token = line:match("^(%S+) (%S+)$")
      table.insert(proven, { id, token })
    end
  end
end

-- The n-th person's MyKad number, as the tests' person_id makes it: a real birth date (a new
-- one every 10,000 people; the year changes every 3,360,000), birthplace code 14, and n.
local function person_id(n)
  -- wrk runs LuaJIT (Lua 5.1): no integer division operator.
  local date = math.floor(n / 10000)
  local year = (90 + math.floor(date / 336)) % 100
  local month, day = 1 + math.floor(date / 28) % 12, 1 + date % 28
  return string.format("%02d%02d%02d14%04d", year, month, day, n % 10000)
end

local function booking_body(id)
  return string.format(
    '{"address":"Kuala Lumpur","date":"%s","firstName":"Fadhil","lastName":"Yaacob","location":"%s","mysejahteraId":"%s","phoneNumber":"0123456789"}',
    date, station, id)
end

local function new_person()
  return wrk.format("POST", "/booking", json, booking_body(person_id(people_from + sent * thread_count + tid)))
end

-- Past the file's end the last person repeats (an identical retry): bench.sh makes the file
-- larger than any run books.
local function proven_person()
  local person = proven[math.min((sent - 1) * thread_count + tid + 1, #proven)]
  return wrk.format("POST", "/booking",
    { ["Content-Type"] = "application/json", ["X-Identity-Token"] = person[2] },
    booking_body(person[1]))
end

local function new_verification()
  local n = people_from + sent * thread_count + tid
  return wrk.format("POST", "/verification", json, string.format(
    '{"mysejahteraId":"%s","phoneNumber":"011%08d"}', person_id(n), n % 100000000))
end

function request()
  sent = sent + 1
  if mode == "get" then
    return get_request
  elseif mode == "list" then
    return list_request
  elseif mode == "revalidate" then
    return revalidate_request
  elseif mode == "same" then
    return same_request
  elseif mode == "distinct" then
    return new_person()
  elseif mode == "proven" then
    return proven_person()
  elseif mode == "verify" then
    return new_verification()
  elseif sent % 10 == 0 then
    return new_person()
  end
  return get_request
end

function response(status, headers, body)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local statuses = {}
  for status, n in pairs(total) do
    table.insert(statuses, string.format('"%s":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"status":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, table.concat(statuses, ",")))
end
