"""Every function's bootstrap under the AWS Lambda Runtime Interface Emulator (RIE).

Run by scripts/rie-test.sh, which starts a private Redis (or Valkey), a broker and moto, and
builds the bootstraps. For each function of template.yaml this starts its bootstrap under
aws-lambda-rie with the environment the template gives that function (its Variables, resolved
against the parameters' defaults and a few local values) plus what Lambda itself sets, then
sends it AWS-shaped events, one at a time (the RIE serves one request per process): HTTP API
payload 2.0 and REST API 1.0 for the HTTP functions, the schedule's events for the relay and
the inlet, the seed's events. Each answer is checked against the API contract (status, error
code, headers, body), every REPORT line is read, and the bootstrap's peak RSS is taken from
/proc (the RIE reports the memory size as "Max Memory Used"). The settings secret is read at
cold start from moto's Secrets Manager, as in AWS; starts that must fail (a wrong ARN, a
secret without a key, an unreachable endpoint) must name the variable in the RIE's answer.
Exits non-zero on the first run with any failed check; prints a table and writes JSON.
"""

import argparse
import base64
import copy
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

# The template loader is shared with scripts/template_checks.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import cfn_yaml  # noqa: E402

REGION = "ap-southeast-1"
PERSON = {
    "firstName": "Fadhil",
    "lastName": "Yaacob",
    "address": "Kuala Lumpur",
    "location": "PWTC",
    "phoneNumber": "0123456789",
    "date": "20210516",
}
# Real MyKad numbers (issue 23 validates them).
IDS = ["900127015527", "850101145566", "770303035511", "660404045522", "550505055533",
       "440606065544", "900127145501"]


# ---- template.yaml ---------------------------------------------------------------------------

# A booking reference: six groups of four Crockford base32 symbols.
REFERENCE = re.compile(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}")


def resolve(value, parameters, where):
    """A Variables value: a literal or a !Ref to a parameter; anything else is not expected."""
    if isinstance(value, (str, int, float, bool)):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        names = re.findall(r"\$\{([A-Za-z0-9]+)\}", value["Fn::Sub"])
        if all(name in parameters for name in names):
            return re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: parameters[m.group(1)],
                          value["Fn::Sub"])
    # !Join [",", !Ref List]: a CommaDelimitedList parameter is held as its comma-joined text.
    if (isinstance(value, dict) and set(value) == {"Fn::Join"} and value["Fn::Join"][0] == ","
            and isinstance(value["Fn::Join"][1], dict)
            and value["Fn::Join"][1].get("Ref") in parameters):
        return parameters[value["Fn::Join"][1]["Ref"]]
    raise SystemExit(f"rie-test: cannot resolve {where} = {value!r}: extend resolve()")


class Function:
    def __init__(self, logical, resource, globals_, parameters):
        properties = resource["Properties"]
        self.logical = logical
        self.name = resource["Metadata"]["BuildProperties"]["Binary"]
        self.memory = int(properties.get("MemorySize", globals_.get("MemorySize", 128)))
        self.timeout = int(properties.get("Timeout", globals_.get("Timeout", 3)))
        logging = properties.get("LoggingConfig", {})
        self.log_format = logging.get("LogFormat", "Text")
        self.log_level = resolve(logging.get("ApplicationLogLevel", "INFO"), parameters,
                                 f"{logical}.LoggingConfig")
        self.variables = properties.get("Environment", {}).get("Variables", {})
        events = properties.get("Events", {}).values()
        self.routes = [(e["Properties"]["Method"].upper(), e["Properties"]["Path"])
                       for e in events if e["Type"] == "HttpApi"]
        self.scheduled = any(e["Type"] in ("Schedule", "ScheduleV2") for e in events)

    def environment(self, parameters):
        return {key: resolve(value, parameters, f"{self.logical}.{key}")
                for key, value in self.variables.items()}


def load_template(path):
    template = cfn_yaml.load(path)
    defaults = {name: str(spec["Default"]) for name, spec in template["Parameters"].items()
                if "Default" in spec}
    return template, defaults


def template_functions(template, parameters):
    globals_ = template.get("Globals", {}).get("Function", {})
    return {f.name: f for f in (
        Function(logical, resource, globals_, parameters)
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function")}


# ---- moto ------------------------------------------------------------------------------------

def aws_json(port, service, target, body):
    """One AWS JSON-protocol call to moto, which routes by the SigV4 scope and checks no
    signature."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/", data=json.dumps(body).encode(), method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": target,
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/"
                             "aws4_request, SignedHeaders=host;x-amz-target, Signature=00",
        })
    with urllib.request.urlopen(request, timeout=20) as answer:
        return json.loads(answer.read())


def create_secret(port, name, settings):
    reply = aws_json(port, "secretsmanager", "secretsmanager.CreateSecret",
                     {"Name": name, "SecretString": json.dumps(settings)})
    return reply["ARN"]


# ---- the emulator ----------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REPORT = re.compile(r"^REPORT RequestId: (\S+)\t(?:Init Duration: ([\d.]+) ms\t)?"
                    r"Duration: ([\d.]+) ms\tBilled Duration: (\d+) ms\t"
                    r"Memory Size: (\d+) MB\tMax Memory Used: (\d+) MB", re.M)
RIE_LINE = re.compile(r"^(\d\d \w{3} \d{4} [\d:,]+ \[\w+\] \(rapid\)|(START|END|REPORT) RequestId: )")
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")


class Invocation:
    def __init__(self, status, body, report):
        self.status = status  # the invoke endpoint's own status
        self.raw = body
        self.report = report
        try:
            self.payload = json.loads(body)
        except ValueError:
            self.payload = None

    # The HTTP response an API Gateway integration makes of the function's answer.
    @property
    def http_status(self):
        return (self.payload or {}).get("statusCode")

    @property
    def headers(self):
        answer = self.payload or {}
        headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
        for key, values in (answer.get("multiValueHeaders") or {}).items():
            headers.setdefault(key.lower(), ", ".join(values))
        return headers

    @property
    def text(self):
        answer = self.payload or {}
        body = answer.get("body") or ""
        return base64.b64decode(body).decode() if answer.get("isBase64Encoded") else body

    @property
    def json(self):
        try:
            return json.loads(self.text)
        except ValueError:
            return None


class Emulator:
    """One aws-lambda-rie process serving one function's bootstrap, on ports of its own."""

    def __init__(self, rie, bootstrap, environment, log_path, timeout):
        self.api_port, self.invoke_port = free_port(), free_port()
        self.log_path = log_path
        self.timeout = timeout
        self.reports = 0
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [rie, "--runtime-api-address", f"127.0.0.1:{self.api_port}",
             "--runtime-interface-emulator-address", f"127.0.0.1:{self.invoke_port}", bootstrap],
            env=environment, stdout=self.log, stderr=subprocess.STDOUT, cwd=log_path.parent)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.invoke_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"rie-test: the RIE did not listen (see {log_path})")
                time.sleep(0.05)

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def invoke(self, event):
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.invoke_port}/2015-03-31/functions/function/invocations",
            data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout + 10) as answer:
                status, raw = answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read().decode()
        return Invocation(status, raw, self._next_report())

    def _next_report(self):
        """The REPORT line of the invocation just answered: the RIE prints it right after."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            reports = REPORT.findall(self.log_text())
            if len(reports) > self.reports:
                self.reports = len(reports)
                request_id, init, duration, billed, size, used = reports[-1]
                return {"duration_ms": float(duration), "billed_ms": int(billed),
                        "memory_size_mb": int(size), "max_memory_used_mb": int(used),
                        "init_duration_ms": float(init) if init else None}
            time.sleep(0.02)
        return None

    def init_ms(self):
        """The init phase as the RIE timed it (its REPORT's Init Duration is a placeholder)."""
        found = INIT_REPORT.findall(self.log_text())
        return float(found[0]) if found else None

    def peak_rss_kb(self):
        """VmHWM of the bootstrap, the RIE's child process."""
        for child in self._children():
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
            if match:
                return int(match.group(1))
        return None

    def _children(self):
        try:
            tasks = Path(f"/proc/{self.process.pid}/task").iterdir()
            return [c for t in tasks for c in (t / "children").read_text().split()]
        except OSError:
            return []

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# ---- AWS-shaped events -----------------------------------------------------------------------

class Events:
    """Events built from the SAM CLI's own samples (`sam local generate-event`), so their
    shape is AWS's, with this request's method, path, headers and body filled in."""

    def __init__(self, sam):
        def generate(*what):
            out = subprocess.run([sam, "local", "generate-event", *what], check=True,
                                 capture_output=True, text=True, timeout=120,
                                 env=dict(os.environ, SAM_CLI_TELEMETRY="0"))
            return json.loads(out.stdout)

        self.v2_sample = generate("apigateway", "http-api-proxy")
        self.v1_sample = generate("apigateway", "aws-proxy")
        self.scheduled = generate("cloudwatch", "scheduled-event")

    @staticmethod
    def route(routes, method, path):
        """The template's route this request takes, and its path parameters (decoded, as API
        Gateway passes them)."""
        for route_method, pattern in routes:
            names = re.findall(r"{(\w+)}", pattern)
            regex = "^" + re.sub(r"{\w+}", "([^/]+)", pattern) + "$"
            match = re.match(regex, path.split("?")[0])
            if match and route_method == method:
                values = [urllib.request.unquote(v) for v in match.groups()]
                return f"{method} {pattern}", pattern, dict(zip(names, values))
        return "$default", None, None

    def v2(self, routes, method, path, headers=None, body=None, base64_body=False):
        event = copy.deepcopy(self.v2_sample)
        route_key, _, parameters = self.route(routes, method, path)
        raw_path, _, query = path.partition("?")
        event.update({
            "routeKey": route_key, "rawPath": raw_path, "rawQueryString": query,
            "headers": {"accept": "application/json", "user-agent": "rie-test",
                        **(headers or {})},
            "isBase64Encoded": base64_body,
        })
        event.pop("cookies", None)
        event.pop("queryStringParameters", None)
        event.pop("stageVariables", None)
        event["requestContext"].pop("authentication", None)
        event["requestContext"].pop("authorizer", None)
        event["requestContext"]["routeKey"] = route_key
        event["requestContext"]["stage"] = "$default"
        event["requestContext"]["http"].update({"method": method, "path": raw_path})
        if parameters:
            event["pathParameters"] = parameters
        else:
            event.pop("pathParameters", None)
        if body is None:
            event.pop("body", None)
        else:
            event["body"] = base64.b64encode(body.encode()).decode() if base64_body else body
        return event

    def v1(self, routes, method, path, headers=None, body=None):
        event = copy.deepcopy(self.v1_sample)
        _, pattern, parameters = self.route(routes, method, path)
        headers = {"Accept": "application/json", "User-Agent": "rie-test", **(headers or {})}
        # SAM's REST API stage (Prod): lambda_http puts it in front of the request's path.
        event.update({
            "resource": pattern or "/{proxy+}", "path": path, "httpMethod": method,
            "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": parameters or {"proxy": path.lstrip("/")},
            "stageVariables": None, "body": body, "isBase64Encoded": False,
        })
        event["requestContext"].update({
            "resourcePath": pattern or "/{proxy+}", "httpMethod": method,
            "path": f"/Prod{path}", "stage": "Prod"})
        return event


# ---- the checks ------------------------------------------------------------------------------

class Results:
    def __init__(self):
        self.failures = []
        self.cases = []

    def check(self, function, case, shape, invocation, problems):
        self.cases.append({"function": function, "case": case, "shape": shape,
                           "ok": not problems, "report": invocation.report if invocation else None})
        mark = "ok  " if not problems else "FAIL"
        print(f"  {mark} {function:15} {shape:9} {case}")
        for problem in problems:
            print(f"         {problem}")
            self.failures.append(f"{function} {shape} {case}: {problem}")


def http_problems(inv, status, error=None, has=None, check=None):
    """What differs from the contract: `has` maps a header to a value it must contain (None:
    only present); `check` is a predicate on the body (JSON, else text)."""
    if inv.status != 200:
        return [f"the RIE answered {inv.status}: {inv.raw[:300]}"]
    if inv.http_status != status:
        return [f"status {inv.http_status}, expected {status}: {inv.raw[:300]}"]
    problems = []
    if inv.report is None:
        problems.append("no REPORT line")
    if error is not None:
        got = (inv.json or {}).get("error")
        if got != error:
            problems.append(f"error {got!r}, expected {error!r}: {inv.text[:200]}")
    for name, wanted in (has or {}).items():
        value = inv.headers.get(name)
        if value is None or (wanted is not None and wanted not in value):
            problems.append(f"header {name}: {value!r}, expected {wanted or 'present'}")
    if check is not None and not check(inv.json if inv.json is not None else inv.text):
        problems.append(f"unexpected body: {inv.text[:300]}")
    return problems


class Suite:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.template, self.defaults = load_template(args.template)
        self.events = Events(args.sam)
        self.results = Results()
        self.figures = {}
        self.reference_key = secrets.token_hex(32)
        settings = {"REDIS_URL": f"redis://127.0.0.1:{args.redis_port}",
                    "BOOKING_REFERENCE_KEY": self.reference_key,
                    "ADMISSION_KEY": secrets.token_hex(32), "LOG_HASH_KEY": secrets.token_hex(32),
                    "CHECKIN_KEY": secrets.token_hex(32), "IDENTITY_TOKEN_KEY": secrets.token_hex(32)}
        # Two secrets, as the template has them: Redis's, and the signing keys.
        redis = {"REDIS_URL": settings.pop("REDIS_URL")}
        self.secret = create_secret(args.moto_port, "booking/redis", redis)
        self.keys_secret = create_secret(args.moto_port, "booking/keys", settings)
        # Redis where nothing listens: the store-unavailable answers.
        self.store_down_secret = create_secret(
            args.moto_port, "booking/store-down",
            {"REDIS_URL": f"redis://127.0.0.1:{free_port()}"})
        self.keyless_secret = create_secret(
            args.moto_port, "booking/no-reference-key",
            {k: v for k, v in settings.items() if k != "BOOKING_REFERENCE_KEY"})
        self.functions = template_functions(self.template, self.parameters())

    def parameters(self, **overrides):
        # Identity=none: the events carry no identity token (the template's default, otp, is for
        # deployments; tests/api/identity_jwt.rs and verification.rs cover jwt and otp through
        # the handlers).
        return {**self.defaults, "RedisSecretArn": self.secret, "KeysSecretArn": self.keys_secret,
                "KafkaBrokers": self.args.brokers, "Identity": "none", **overrides}

    def lambda_environment(self, function, parameters, endpoint=None):
        """What Lambda sets for every function, then the template's Variables."""
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "_HANDLER": "bootstrap", "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "AWS_LAMBDA_FUNCTION_NAME": function.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout),
            "AWS_LAMBDA_LOG_FORMAT": function.log_format.upper(),
            "AWS_LAMBDA_LOG_LEVEL": function.log_level,
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "ASIATESTING", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint or f"http://127.0.0.1:{self.args.moto_port}",
            **function.environment(parameters),
        }

    def start(self, name, label=None, endpoint=None, env=None, **overrides):
        function = self.functions[name]
        environment = self.lambda_environment(function, self.parameters(**overrides), endpoint)
        environment.update(env or {})
        bootstrap = self.args.bootstrap.format(name=name)
        log = self.work / f"{label or name}.log"
        return Emulator(self.args.rie, bootstrap, environment, log, function.timeout)

    def record(self, name, emulator):
        """The figures of a function's main run: init, per-invocation durations, peak RSS."""
        durations = [c["report"]["duration_ms"] for c in self.results.cases
                     if c["function"] == name and c["report"]]
        rss = emulator.peak_rss_kb()
        self.figures[name] = {
            "init_ms": emulator.init_ms(),
            "first_ms": durations[0] if durations else None,
            "median_ms": statistics.median(durations) if durations else None,
            "max_ms": max(durations) if durations else None,
            "invocations": len(durations),
            "peak_rss_mb": round(rss / 1024, 1) if rss else None,
            "memory_size_mb": self.functions[name].memory,
            "report_max_memory_used_mb": max(
                (c["report"]["max_memory_used_mb"] for c in self.results.cases
                 if c["function"] == name and c["report"]), default=None),
        }
        log = emulator.log_text()
        if "panicked" in log:
            self.results.failures.append(f"{name}: panicked (see {emulator.log_path})")
        if self.functions[name].log_format.upper() == "JSON":
            # What the bootstrap printed (log lines, EMF metrics), not the RIE's own lines.
            for line in log.splitlines():
                if RIE_LINE.match(line) or not line.strip():
                    continue
                try:
                    json.loads(line)
                except ValueError:
                    self.results.failures.append(
                        f"{name}: a log line that is not JSON (LogFormat: JSON): {line[:200]}")
                    break

    # -- HTTP ----------------------------------------------------------------------------------

    def http(self, emulator, name, case, method, path, shapes=("v2", "v1"), **expect):
        """`case` on each event shape; the answer of the last shape."""
        request = {k: expect.pop(k) for k in ("headers", "body", "base64_body") if k in expect}
        routes = self.functions[name].routes
        answer = None
        for shape in shapes:
            if shape == "v2":
                event = self.events.v2(routes, method, path, **request)
            else:
                request.pop("base64_body", None)
                event = self.events.v1(routes, method, path, **request)
            answer = emulator.invoke(event)
            label = {"v2": "HTTP 2.0", "v1": "REST 1.0"}[shape]
            self.results.check(name, case, label, answer, http_problems(answer, **expect))
        return answer

    def store_down(self, name, method, path, **request):
        emulator = self.start(name, f"{name}-store-down", RedisSecretArn=self.store_down_secret)
        try:
            self.http(emulator, name, "Redis unreachable: 503", method, path, shapes=("v2",),
                      status=503, error="store_unavailable", **request)
        finally:
            emulator.stop()

    def json_post(self, body):
        return {"headers": {"content-type": "application/json"}, "body": json.dumps(body)}

    def run_http_functions(self):
        bearer = {}

        def booking(id_, key=None, **fields):
            request = self.json_post({"mysejahteraId": id_, **PERSON, **fields})
            if key:
                request["headers"]["idempotency-key"] = key
            return request

        attempt = secrets.token_hex(16)  # the client's Idempotency-Key for IDS[0]'s booking

        # api-docs: the three documents.
        e = self.start("api-docs")
        self.http(e, "api-docs", "GET /openapi.json", "GET", "/openapi.json", status=200,
                  has={"content-type": "application/json"},
                  check=lambda b: isinstance(b, dict) and b.get("openapi", "").startswith("3.1"))
        self.http(e, "api-docs", "GET /docs", "GET", "/docs", status=200,
                  has={"content-type": "text/html"}, check=lambda b: "<html" in str(b))
        self.http(e, "api-docs", "GET / (the booking page)", "GET", "/", status=200,
                  has={"content-type": "text/html"}, check=lambda b: "<html" in str(b))
        self.record("api-docs", e)
        e.stop()

        e = self.start("route-fallback")
        self.http(e, "route-fallback", "unknown path: 404", "GET", "/nowhere", status=404,
                  error="route_not_found")
        self.http(e, "route-fallback", "wrong method: 405 + Allow", "POST", "/stations",
                  status=405, error="method_not_allowed", has={"allow": "GET"})
        self.record("route-fallback", e)
        e.stop()

        e = self.start("healthz")
        self.http(e, "healthz", "GET /healthz", "GET", "/healthz", status=200,
                  check=lambda b: b == {"status": "ok"})
        self.record("healthz", e)
        e.stop()
        self.store_down("healthz", "GET", "/healthz")

        e = self.start("get-station")
        self.http(e, "get-station", "GET /stations", "GET", "/stations", status=200,
                  has={"etag": None, "cache-control": "max-age="},
                  check=lambda b: any(s["location"] == "PWTC" for s in b))
        one = self.http(e, "get-station", "GET /stations/PWTC", "GET", "/stations/PWTC",
                        status=200, has={"etag": None, "cache-control": "public"},
                        check=lambda b: b and all(d["location"] == "PWTC" for d in b))
        etag = one.headers.get("etag", "")
        self.http(e, "get-station", "If-None-Match: 304", "GET", "/stations/PWTC",
                  headers={"if-none-match": etag}, status=304, check=lambda b: not b)
        self.http(e, "get-station", "unknown station: 404", "GET", "/stations/NOPE", status=404,
                  error="station_not_found")
        self.http(e, "get-station", "bad location: 400", "GET", "/stations/PW:TC", status=400,
                  error="invalid_field")
        self.record("get-station", e)
        e.stop()
        self.store_down("get-station", "GET", "/stations/PWTC")

        e = self.start("create-booking")
        first = self.http(e, "create-booking", "a booking: 201", "POST", "/booking",
                          shapes=("v2",), status=201,
                          has={"location": f"/booking/{IDS[0]}"},
                          check=lambda b: REFERENCE.fullmatch(b.get("bookingReference", "")) is not None,
                          **booking(IDS[0], key=attempt))
        bearer[IDS[0]] = (first.json or {}).get("bookingReference")
        self.http(e, "create-booking", "the identical retry with its key: 200, same reference",
                  "POST", "/booking", shapes=("v2",), status=200,
                  check=lambda b: b.get("bookingReference") == bearer[IDS[0]],
                  **booking(IDS[0], key=attempt))
        self.http(e, "create-booking", "the identical retry without its key: 200, no reference",
                  "POST", "/booking", status=200,
                  check=lambda b: "bookingReference" not in b, **booking(IDS[0]))
        self.http(e, "create-booking", "a second booking: 409", "POST", "/booking", status=409,
                  error="already_booked", **booking(IDS[0], date="20210517"))
        rest = self.http(e, "create-booking", "a booking (REST 1.0): 201", "POST", "/booking",
                         shapes=("v1",), status=201, **booking(IDS[1]))
        bearer[IDS[1]] = (rest.json or {}).get("bookingReference")
        self.http(e, "create-booking", "a base64 body (HTTP 2.0): 201", "POST", "/booking",
                  shapes=("v2",), status=201, base64_body=True, **booking(IDS[2]))
        self.http(e, "create-booking", "the last slot: 201", "POST", "/booking", shapes=("v2",),
                  status=201, **booking(IDS[3], location="FULL"))
        self.http(e, "create-booking", "a full date: 409", "POST", "/booking", status=409,
                  error="fully_booked", **booking(IDS[4], location="FULL"))
        self.http(e, "create-booking", "unknown station: 404", "POST", "/booking", status=404,
                  error="station_not_found", **booking(IDS[4], location="NOPE"))
        self.http(e, "create-booking", "unknown date: 404", "POST", "/booking", status=404,
                  error="date_not_found", **booking(IDS[4], date="20991231"))
        self.http(e, "create-booking", "malformed JSON: 400", "POST", "/booking", status=400,
                  error="malformed_json",
                  headers={"content-type": "application/json"}, body="{")
        self.http(e, "create-booking", "invalid field: 400 naming it", "POST", "/booking",
                  status=400, error="invalid_field", **booking(IDS[4], phoneNumber="12ab"))
        self.http(e, "create-booking", "no JSON content type: 415", "POST", "/booking",
                  status=415, error="unsupported_media_type",
                  headers={"content-type": "text/plain"},
                  body=json.dumps({"mysejahteraId": IDS[4], **PERSON}))
        self.http(e, "create-booking", "over 16 KiB: 413", "POST", "/booking", status=413,
                  error="payload_too_large", **booking(IDS[4], address="x" * 17000))
        self.record("create-booking", e)
        e.stop()
        self.store_down("create-booking", "POST", "/booking", **booking(IDS[5]))
        e = self.start("create-booking", "create-booking-room", WaitingRoom="on")
        self.http(e, "create-booking", "waiting room on, no token: 403", "POST", "/booking",
                  shapes=("v2",), status=403, error="not_admitted", **booking(IDS[5]))
        e.stop()

        e = self.start("get-booking")
        auth = {"authorization": f"Bearer {bearer[IDS[0]]}"}
        self.http(e, "get-booking", "with its reference: 200", "GET", f"/booking/{IDS[0]}",
                  status=200, headers=auth, has={"cache-control": "no-store"},
                  check=lambda b: b.get("mysejahteraId") == IDS[0])
        self.http(e, "get-booking", "no Authorization: 401", "GET", f"/booking/{IDS[0]}",
                  status=401, error="unauthorized", has={"www-authenticate": "Bearer"})
        self.http(e, "get-booking", "another reference: 404", "GET", f"/booking/{IDS[1]}",
                  status=404, error="booking_not_found", headers=auth)
        self.http(e, "get-booking", "bad ID: 400", "GET", "/booking/A:B", status=400,
                  error="invalid_field", headers=auth)
        self.record("get-booking", e)
        e.stop()
        self.store_down("get-booking", "GET", f"/booking/{IDS[0]}", headers=auth)

        e = self.start("move-booking")

        def move(location, date, authorization=None):
            headers = {"content-type": "application/json"}
            if authorization:
                headers["authorization"] = f"Bearer {authorization}"
            return {"headers": headers,
                    "body": json.dumps({"location": location, "date": date})}

        self.http(e, "move-booking", "no Authorization: 401", "PATCH", f"/booking/{IDS[0]}",
                  status=401, error="unauthorized", has={"www-authenticate": "Bearer"},
                  **move("PWTC", "20210517"))
        self.http(e, "move-booking", "to a full date: 409", "PATCH", f"/booking/{IDS[0]}",
                  status=409, error="fully_booked", **move("FULL", "20210516", bearer[IDS[0]]))
        self.http(e, "move-booking", "unknown station: 404", "PATCH", f"/booking/{IDS[0]}",
                  status=404, error="station_not_found",
                  **move("NOPE", "20210516", bearer[IDS[0]]))
        self.http(e, "move-booking", "invalid date: 400 naming it", "PATCH",
                  f"/booking/{IDS[0]}", status=400, error="invalid_field",
                  check=lambda b: b.get("field") == "date",
                  **move("PWTC", "20210230", bearer[IDS[0]]))
        self.http(e, "move-booking", "with its reference: 200", "PATCH", f"/booking/{IDS[0]}",
                  shapes=("v2",), status=200, has={"cache-control": "no-store"},
                  check=lambda b: (b.get("location"), b.get("date")) == ("PWTC", "20210517"),
                  **move("PWTC", "20210517", bearer[IDS[0]]))
        self.http(e, "move-booking", "REST 1.0, back again: 200", "PATCH", f"/booking/{IDS[0]}",
                  shapes=("v1",), status=200,
                  check=lambda b: b.get("date") == "20210516",
                  **move("PWTC", "20210516", bearer[IDS[0]]))
        self.record("move-booking", e)
        e.stop()
        self.store_down("move-booking", "PATCH", f"/booking/{IDS[0]}",
                        **move("PWTC", "20210517", bearer[IDS[0]]))

        e = self.start("cancel-booking")
        self.http(e, "cancel-booking", "no Authorization: 401", "DELETE", f"/booking/{IDS[0]}",
                  status=401, error="unauthorized", has={"www-authenticate": "Bearer"})
        self.http(e, "cancel-booking", "with its reference: 200", "DELETE", f"/booking/{IDS[0]}",
                  shapes=("v2",), status=200, headers=auth,
                  check=lambda b: b.get("mysejahteraId") == IDS[0])
        self.http(e, "cancel-booking", "a second cancel: 404", "DELETE", f"/booking/{IDS[0]}",
                  status=404, error="booking_not_found", headers=auth)
        self.http(e, "cancel-booking", "REST 1.0 with its reference: 200", "DELETE",
                  f"/booking/{IDS[1]}", shapes=("v1",), status=200,
                  headers={"authorization": f"Bearer {bearer[IDS[1]]}"})
        self.http(e, "cancel-booking", "bad ID: 400", "DELETE", "/booking/A:B", status=400,
                  error="invalid_field", headers=auth)
        self.record("cancel-booking", e)
        e.stop()
        self.store_down("cancel-booking", "DELETE", f"/booking/{IDS[0]}", headers=auth)

        e = self.start("queue-join")
        joined = self.http(e, "queue-join", "join: 201", "POST", "/queue", shapes=("v2",),
                           status=201, check=lambda b: b.get("position") == 1 and "ticket" in b,
                           **self.json_post({"mysejahteraId": IDS[0]}))
        ticket = (joined.json or {}).get("ticket", "")
        self.http(e, "queue-join", "join again: 200, same ticket", "POST", "/queue", status=200,
                  check=lambda b: b.get("ticket") == ticket,
                  **self.json_post({"mysejahteraId": IDS[0]}))
        self.http(e, "queue-join", "bad ID: 400", "POST", "/queue", status=400,
                  error="invalid_field", **self.json_post({"mysejahteraId": "A:B"}))
        self.http(e, "queue-join", "no JSON content type: 415", "POST", "/queue", status=415,
                  error="unsupported_media_type", headers={"content-type": "text/plain"},
                  body="{}")
        self.record("queue-join", e)
        e.stop()
        self.store_down("queue-join", "POST", "/queue", **self.json_post({"mysejahteraId": IDS[0]}))

        e = self.start("queue-status")
        self.http(e, "queue-status", "GET /queue", "GET", "/queue", status=200,
                  has={"cache-control": "max-age=1"},
                  check=lambda b: "serving" in b and b.get("status") in ("open", "closed"))
        self.http(e, "queue-status", "GET /queue/{ticket}", "GET",
                  f"/queue/{urllib.request.quote(ticket, safe='')}", status=200,
                  check=lambda b: b.get("position") == 1)
        self.http(e, "queue-status", "not a ticket: 404", "GET", "/queue/1.x.y", status=404,
                  error="ticket_not_found")
        self.record("queue-status", e)
        e.stop()
        self.store_down("queue-status", "GET", "/queue")

    # -- one-time codes, and the template's default Identity=otp --------------------------------

    def moto_sms(self):
        """The SMS moto's SNS took, oldest first: (phone number, text)."""
        url = f"http://127.0.0.1:{self.args.moto_port}/moto-api/data.json"
        with urllib.request.urlopen(url, timeout=10) as reply:
            data = json.load(reply)
        return [(m["phone_number"], m["message"]) for m in data.get("sns", {}).get("SMS", [])]

    def run_verify_identity(self):
        """A code by SMS (SNS Publish, here moto's), its confirmation for a token, and that token
        booking through create-booking started with Identity=otp, the template's default."""
        person, phone = "880412105531", "0198765432"
        sns = {"AWS_ENDPOINT_URL_SNS": f"http://127.0.0.1:{self.args.moto_port}"}
        e = self.start("verify-identity", env=sns)
        self.http(e, "verify-identity", "bad phone: 400 naming the field", "POST",
                  "/verification", **self.json_post({"mysejahteraId": person,
                                                     "phoneNumber": "12"}),
                  status=400, error="invalid_field")
        ask = {"mysejahteraId": person, "phoneNumber": phone}
        # One shape per code: a phone gets three codes an hour.
        self.http(e, "verify-identity", "POST /verification: 202, an SMS", "POST",
                  "/verification", shapes=("v2",), **self.json_post(ask), status=202,
                  check=lambda b: b.get("expiresInSeconds") == 300)
        texts = [text for number, text in self.moto_sms() if number == "+60198765432"]
        codes = re.findall(r"\b(\d{6})\b", texts[-1]) if texts else []
        if not codes:
            self.results.failures.append(f"verify-identity: no SMS with a code reached SNS: {texts}")
            e.stop()
            return
        code = codes[0]
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        self.http(e, "verify-identity", "a wrong code: 401", "POST", "/verification/confirm",
                  shapes=("v1",), **self.json_post({**ask, "code": wrong}), status=401,
                  error="verification_failed")
        answer = self.http(e, "verify-identity", "the SMS's code: 200, a token", "POST",
                           "/verification/confirm", shapes=("v2",),
                           **self.json_post({**ask, "code": code}), status=200,
                           has={"cache-control": "no-store"},
                           check=lambda b: bool(b.get("identityToken")))
        token = (answer.json or {}).get("identityToken")
        self.record("verify-identity", e)
        e.stop()
        if not token:
            return
        booking = {"mysejahteraId": person, **PERSON, "phoneNumber": phone}
        e = self.start("create-booking", "create-booking-otp", Identity="otp")
        self.http(e, "create-booking", "Identity=otp, no token: 401", "POST", "/booking",
                  shapes=("v2",), **self.json_post(booking), status=401, error="unauthorized")
        request = self.json_post(booking)
        request["headers"]["x-identity-token"] = token
        self.http(e, "create-booking", "Identity=otp, the confirmed token: 201", "POST",
                  "/booking", shapes=("v2",), **request, status=201,
                  check=lambda b: bool(b.get("bookingReference")))
        e.stop()

    # -- events that are not HTTP --------------------------------------------------------------

    def function_call(self, emulator, name, case, event, shape, check):
        answer = emulator.invoke(event)
        problems = []
        if answer.status != 200:
            problems.append(f"the RIE answered {answer.status}: {answer.raw[:300]}")
        elif not check(answer.payload):
            problems.append(f"unexpected answer: {answer.raw[:300]}")
        if answer.report is None:
            problems.append("no REPORT line")
        self.results.check(name, case, shape, answer, problems)
        return answer

    def run_seed(self):
        e = self.start("seed")
        small = json.loads(Path(self.args.events, "seed-small.json").read_text())
        self.function_call(e, "seed", "events/seed-small.json", small, "invoke",
                           lambda a: a.get("totalSlots") == 15 and a.get("datesSkipped") == 0)
        stations = {"startDate": "20210516", "days": 2,
                    "stations": [{"location": "PWTC", "dailyCapacity": 100},
                                 {"location": "FULL", "dailyCapacity": 1}]}
        self.function_call(e, "seed", "the test's stations", stations, "invoke",
                           lambda a: a.get("slotsCreated") == {"FULL": 2, "PWTC": 200})
        self.function_call(e, "seed", "the same again: every date kept", stations, "invoke",
                           lambda a: a.get("datesSkipped") == 4 and a.get("totalSlots") == 0)
        self.function_call(e, "seed", "a bad event: a function error", {"days": 0}, "invoke",
                           lambda a: bool(a.get("errorType")) and "days" in a.get("errorMessage", ""))
        # The waiting room opens for queue-join and queue-status below.
        room = json.loads(Path(self.args.events, "room-open.json").read_text())
        self.function_call(e, "seed", "events/room-open.json", room, "invoke",
                           lambda a: a.get("room") == "open" and bool(a.get("epoch")))
        migrate = json.loads(Path(self.args.events, "seed-migrate.json").read_text())
        self.function_call(e, "seed", "events/seed-migrate.json", migrate, "invoke",
                           lambda a: "datesMigrated" in a)
        self.record("seed", e)
        e.stop()

    def run_relay(self):
        e = self.start("outbox-relay")
        relayed = lambda a: "published" in a and a.get("remaining") == 0
        self.function_call(e, "outbox-relay", "the schedule's event (EventBridge)",
                           self.events.scheduled, "schedule", relayed)
        self.function_call(e, "outbox-relay", "{} (Scheduler without Input)", {}, "schedule",
                           relayed)
        # Unlike `cargo lambda watch`, the RIE sends the invocation's real deadline.
        if "no usable invocation deadline" in e.log_text():
            self.results.failures.append("outbox-relay: the RIE's deadline was not usable")
        self.record("outbox-relay", e)
        e.stop()

    def start_inlet(self):
        """The inlet's scheduled run ticks for 55 s: in the background, beside the rest."""
        emulator = self.start("queue-inlet")

        def run():
            self.function_call(emulator, "queue-inlet", "{\"seconds\": 1}", {"seconds": 1},
                               "invoke", lambda a: a.get("ticks") == 1)
            self.function_call(emulator, "queue-inlet", "the schedule's event: 55 ticks",
                               self.events.scheduled, "schedule", lambda a: a.get("ticks") == 55)

        thread = threading.Thread(target=run)
        thread.start()
        return emulator, thread

    # -- starts that must fail -----------------------------------------------------------------

    def failed_start(self, name, case, wanted, endpoint=None, **overrides):
        emulator = self.start(name, f"{name}-start-fails", endpoint, **overrides)
        try:
            answer = emulator.invoke(self.events.v2(self.functions[name].routes, "GET", "/healthz"))
        finally:
            emulator.stop()
        problems = []
        payload = answer.payload or {}
        if answer.status != 502:
            problems.append(f"the RIE answered {answer.status}, expected 502: {answer.raw[:300]}")
        elif payload.get("errorType") != "ConfigError" or not all(
                w in payload.get("errorMessage", "") for w in wanted):
            problems.append(f"expected a ConfigError naming {wanted}: {answer.raw[:300]}")
        self.results.check(name, case, "init", answer, problems)

    def run_failed_starts(self):
        wrong = self.secret.replace("booking/redis", "booking/rediss")
        self.failed_start("healthz", "a wrong secret ARN: the start fails, naming it",
                          ["SETTINGS_SECRET_ARN", "ResourceNotFoundException"],
                          RedisSecretArn=wrong)
        self.failed_start("get-booking", "a secret without the reference key",
                          ["BOOKING_REFERENCE_KEY"], KeysSecretArn=self.keyless_secret)
        self.failed_start("create-booking", "Secrets Manager unreachable",
                          ["SETTINGS_SECRET_ARN", "cannot reach"],
                          endpoint=f"http://127.0.0.1:{free_port()}")

    # -----------------------------------------------------------------------------------------

    def run(self):
        print(f"==> rie-test: {len(self.functions)} functions of {self.args.template}, "
              f"bootstraps {self.args.bootstrap}")
        self.run_seed()
        inlet, inlet_thread = self.start_inlet()
        self.run_http_functions()
        self.run_verify_identity()
        self.run_relay()
        self.run_failed_starts()
        inlet_thread.join()
        self.record("queue-inlet", inlet)
        inlet.stop()
        tested = {c["function"] for c in self.results.cases}
        untested = sorted(set(self.functions) - tested)
        if untested:
            self.results.failures.append(f"functions of the template never invoked: {untested}")
        self.summary()
        return not self.results.failures

    def summary(self):
        print("\n  function         cases  init ms  first ms  median ms  max ms  peak RSS MB  "
              "REPORT memory (size/used)")
        for name in sorted(self.figures):
            f = self.figures[name]
            cases = sum(1 for c in self.results.cases if c["function"] == name)
            fmt = lambda v: "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))
            print(f"  {name:15} {cases:6} {fmt(f['init_ms']):>8} {fmt(f['first_ms']):>9} "
                  f"{fmt(f['median_ms']):>10} {fmt(f['max_ms']):>7} {fmt(f['peak_rss_mb']):>12}  "
                  f"{f['memory_size_mb']}/{fmt(f['report_max_memory_used_mb'])}")
        shapes = sorted({c["shape"] for c in self.results.cases})
        print(f"\n  {len(self.results.cases)} checks, event shapes: {', '.join(shapes)}; "
              f"{len(self.results.failures)} failed")
        Path(self.args.out).write_text(json.dumps(
            {"bootstrap": self.args.bootstrap, "figures": self.figures,
             "cases": self.results.cases, "failures": self.results.failures}, indent=1))
        for failure in self.results.failures:
            print(f"  FAILED: {failure}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("template", "events", "rie", "sam", "bootstrap", "brokers", "work", "out"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--moto-port", type=int, required=True)
    args = parser.parse_args()
    sys.exit(0 if Suite(args).run() else 1)


if __name__ == "__main__":
    main()
