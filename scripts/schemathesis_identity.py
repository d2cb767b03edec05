"""schemathesis hook (scripts/fuzz.sh): the fuzzed local-api runs with IDENTITY=otp, as deployed.

Before each request that acts for a person (it names a `mysejahteraId` in its path or JSON body),
this proves that person's phone the way a citizen does, `POST /verification` then
`POST /verification/confirm` with the code the file sender wrote, and sends the token it gets as
`X-Identity-Token` (in place of any schemathesis generated). So the generated bookings reach the
store and the stateful runs (book -> look up -> move -> cancel) act as their owner, while, by
the ID's hash so that one person's requests are treated alike:
- one ID in eight keeps whatever header schemathesis generated (random text or none): the 401
  path;
- one ID in eight is sent with no token at all: the missing-token path;
- an ID the service refuses (400) gets none, and its request is refused as it would be anyway.

Generated people rarely pass the ID rules (a real birth date and birthplace code) and rarely pick
the seeded station and dates, so half of the valid (positive) bookings and moves are pointed at
them: a made-up but valid MyKad number, `FUZZ_STATION`, one of `FUZZ_DATES`. Without that the
stateful runs would seldom get a 201 to follow. Negative cases are never touched, so what the
service must refuse stays refused.

Each ID proves its own phone (derived from the ID), so the per-phone limits (3 codes an hour, 4
IDs a day) are not what the fuzzing measures; those are tested in the integration suite.
"""
import atexit
import collections
import hashlib
import json
import os
import time
import urllib.error
import urllib.request

import schemathesis

API = os.environ["FUZZ_API_URL"]
OTP_FILE = os.environ["FUZZ_OTP_FILE"]
STATION = os.environ["FUZZ_STATION"]
DATES = os.environ["FUZZ_DATES"].split()
# Tokens live 15 minutes; one is asked again well before that.
TOKEN_REUSE_SECONDS = 600

# id -> (token or None, when it was got)
_tokens: dict[str, tuple[str | None, float]] = {}
# "METHOD /path/{template} STATUS" -> how many answers; written to FUZZ_STATUS_FILE at exit, so
# fuzz.sh can require that owners did read, move and cancel their bookings.
_answers: collections.Counter[str] = collections.Counter()


def _post(path: str, document: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        API + path,
        data=json.dumps(document).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as refused:
        return refused.code, {}


def _phone_for(person: str) -> str:
    """A Malaysian mobile number of this ID's own: 011 and 8 digits from the ID's hash."""
    digits = int(hashlib.sha256(person.encode()).hexdigest(), 16) % 10**8
    return f"011{digits:08d}"


def _last_code(phone: str) -> str | None:
    """The code the file sender wrote last for this phone (lines are `time +60... code`)."""
    e164 = "+6" + phone
    try:
        with open(OTP_FILE, encoding="utf-8") as codes:
            found = [line.split()[2] for line in codes if line.split()[1:2] == [e164]]
    except FileNotFoundError:
        return None
    return found[-1] if found else None


def _prove(person: str) -> str | None:
    phone = _phone_for(person)
    status, _ = _post("/verification", {"mysejahteraId": person, "phoneNumber": phone})
    if status != 202:
        return None  # not an ID the service takes (400), or refused for now
    code = _last_code(phone)
    if code is None:
        raise RuntimeError(f"a 202 for {phone}, but no code in {OTP_FILE}")
    status, body = _post(
        "/verification/confirm", {"mysejahteraId": person, "phoneNumber": phone, "code": code}
    )
    if status != 200:
        raise RuntimeError(f"the code just sent was refused: {status}")
    return body["identityToken"]


def _token(person: str) -> str | None:
    cached = _tokens.get(person)
    if cached is None or time.monotonic() - cached[1] > TOKEN_REUSE_SECONDS:
        cached = (_prove(person), time.monotonic())
        _tokens[person] = cached
    return cached[0]


def _person(case) -> str | None:
    person = (case.path_parameters or {}).get("mysejahteraId")
    if person is None and isinstance(case.body, dict):
        person = case.body.get("mysejahteraId")
    return person if isinstance(person, str) else None


def _digest(value) -> bytes:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).digest()


def _aim_at_seeded_slots(case) -> None:
    """Half of the positive bookings and moves: a valid person, the seeded station and a date."""
    method = case.operation.method.upper()
    aimed = (method == "POST" and case.path == "/booking") or (
        method == "PATCH" and case.path == "/booking/{mysejahteraId}"
    )
    meta = case.meta
    if not aimed or not isinstance(case.body, dict) or meta is None:
        return
    if not meta.generation.mode.is_positive:
        return
    digest = _digest(case.body)
    if digest[0] % 2:
        return
    body = dict(case.body)
    body["location"] = STATION
    body["date"] = DATES[digest[1] % len(DATES)]
    if method == "POST":
        # YYMMDD a real date, 10 (Selangor) a registered birthplace, 4 digits of the hash.
        month, day, serial = 1 + digest[2] % 12, 1 + digest[3] % 28, int.from_bytes(digest[4:6])
        body["mysejahteraId"] = f"90{month:02d}{day:02d}10{serial % 10_000:04d}"
    case.body = body


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.path.startswith("/verification"):
        return  # proving a phone needs no token
    _aim_at_seeded_slots(case)
    person = _person(case)
    if person is None:
        return
    kind = hashlib.sha256(person.encode()).digest()[0] % 8
    if kind == 0:
        return  # as generated
    headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if name.lower() != "x-identity-token"
    }
    token = None if kind == 1 else _token(person)
    if token is not None:
        headers["X-Identity-Token"] = token
    case.headers = headers


@schemathesis.hook
def after_call(ctx, case, response):
    _answers[f"{case.operation.method.upper()} {case.path} {response.status_code}"] += 1


@atexit.register
def _write_answers() -> None:
    with open(os.environ["FUZZ_STATUS_FILE"], "w", encoding="utf-8") as out:
        json.dump(dict(sorted(_answers.items())), out, indent=1)
