"""CleverTap Get Message Reports API, as documented: POST JSON, two auth headers, no paging.

Strict on the documented contract (so it catches tap bugs): POST only, both headers and
``Content-Type: application/json`` required, body keys limited to the documented ones, ``from``
and ``to`` as ``YYYYMMDD`` strings, filters as arrays of strings. Failures use CleverTap's
envelope ``{"status": "fail", "error": ..., "code": ...}``: bad credentials on HTTP 200 (as seen
in third-party clients), bad parameters on HTTP 400, more than 3 requests in flight for one
account on HTTP 429.

Modelled where the contract is silent (the tap must not depend on these): each undocumented
point has the readings in ``VARIANTS`` (the first is the default), chosen per app with
``app.variant = {point: option}``:

- ``to_bound``: ``to`` is ``inclusive`` (the last day asked) or ``exclusive`` (the day after);
- ``daily_shape``: where the day is with ``daily``: ``dated`` (``data`` = one list per A/B
  variant of ``{"date": YYYYMMDD number, sent, viewed, clicked}``), ``dated_day_iso``
  (``"day": "YYYY-MM-DD"``), ``dated_report_date`` (``"report_date": "YYYYMMDD"``),
  ``dated_dt`` (``"dt": "YYYY-MM-DD"``), ``flat`` (one flat list of dated objects, variants one
  after another), ``keyed`` (``{"YYYYMMDD": [per variant]}``), ``keyed_iso``
  (``{"YYYY-MM-DD": [per variant]}``).

``UNREADABLE`` lists readings the sandbox also serves but the tap cannot read without a setting
(it must stop with one line naming it): ``daily_shape=aggregate`` (``daily`` ignored).

With ``daily`` a message is listed for every day of the range it has counts on; without it
messages are selected by start day and their counts summed over the range. Nothing later than
``now`` is ever returned.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import threading
import time
import typing as t
from dataclasses import dataclass, field

from sandbox.server import Request, Response, json_response

#: Undocumented points and their plausible readings; the first is the default.
VARIANTS: dict[str, tuple[str, ...]] = {
    "daily_shape": (
        "dated",
        "dated_day_iso",
        "dated_report_date",
        "dated_dt",
        "flat",
        "keyed",
        "keyed_iso",
    ),
    "to_bound": ("inclusive", "exclusive"),
}
#: Readings served on request that the tap cannot read with its defaults (it stops with one
#: line naming the setting); not part of the zero-loss matrix.
UNREADABLE: dict[str, tuple[str, ...]] = {"daily_shape": ("aggregate",)}
#: dated shapes: (key, day format) of the day inside each count object.
_DATED = {
    "dated": ("date", "int"),
    "dated_day_iso": ("day", "%Y-%m-%d"),
    "dated_report_date": ("report_date", "%Y%m%d"),
    "dated_dt": ("dt", "%Y-%m-%d"),
    "flat": ("date", "int"),
}

PATH = "/1/message/report.json"
MAX_IN_FLIGHT = 3
BODY_KEYS = {"from", "to", "daily", "channel", "delivery", "status", "message_type", "label"}
FILTER_KEYS = ("channel", "delivery", "status", "message_type", "label")
_DAY = re.compile(r"^\d{8}$")

CHANNELS = {
    "push": "Push",
    "email": "Email",
    "sms": "SMS",
    "inapp": "InApp",
    "webhooks": "Webhooks",
    "browser": "Browser",
    "web_pop_up": "Web Pop Up",
}
DELIVERIES = {"one_time": "One time", "action": "Action", "inaction": "Inaction", "api": "API"}
TOPICS = ["welcome", "sale", "reminder", "digest"]
LABELS = ["Onboarding", "Promo", "Retention", "Transactional"]


@dataclass
class Message:
    """One generated message; ``stats`` holds the counts per day, one dict per A/B variant."""

    message_id: int
    name: str
    channel: str
    delivery: str
    status: str
    message_type: str
    labels: list[str]
    device: list[str]
    start: dt.datetime
    stats: dict[dt.date, list[dict[str, int]]]
    conversion_event: str | None = None
    created_by: str = "ops@example.com"

    def matches(self, filters: dict[str, list[str]]) -> bool:
        wanted = {key: {v.lower() for v in values} for key, values in filters.items()}
        checks = {
            "channel": {self.channel.lower(), _key_of(CHANNELS, self.channel)},
            "delivery": {self.delivery.lower(), _key_of(DELIVERIES, self.delivery)},
            "status": {self.status},
            "message_type": {self.message_type},
            "label": {label.lower() for label in self.labels},
        }
        return all(not (values and not values & checks[key]) for key, values in wanted.items())

    def public(self) -> dict[str, t.Any]:
        """The message fields as the API spells them (without ``data``)."""
        hour = self.start.hour % 12 or 12
        return {
            "message id": self.message_id,
            "start_date": f"{self.start:%b} {self.start.day}, {hour}:{self.start:%M %p}",
            "device": self.device,
            "conversion_event": self.conversion_event,
            "labels": self.labels,
            "status": self.status,
            "channel": self.channel,
            "message_name": self.name,
            "delivery": self.delivery,
            "created by": self.created_by,  # undocumented, with a space
        }


@dataclass
class Account:
    passcode: str
    messages: list[Message]


@dataclass
class CleverTapApp:
    accounts: dict[str, Account]
    prefix: str = "/clevertap"
    #: point -> option (see ``VARIANTS``); unset points read their default.
    variant: dict[str, str] = field(default_factory=dict)
    max_in_flight: int = MAX_IN_FLIGHT
    #: Seconds each report takes while counted as in flight (the server-wide ``latency`` is
    #: spent before a request reaches the app, so it does not show in ``peak_in_flight``).
    report_delay: float = 0.0
    #: Fixed "now" for tests; None means the real clock at request time.
    now: dt.datetime | None = None
    calls: list[dict[str, t.Any]] = field(default_factory=list)
    peak_in_flight: int = 0
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reading(self, point: str) -> str:
        return self.variant.get(point, VARIANTS[point][0])

    # ------------------------------------------------------------------ ground truth

    def current_time(self) -> dt.datetime:
        return self.now or dt.datetime.now(dt.UTC)

    def message_days(
        self, account: str, first: dt.date, last: dt.date
    ) -> dict[tuple[str, str], dict]:
        """(message id, day) -> summed counts for every message-day in ``[first, last]``."""
        now = self.current_time()
        result: dict[tuple[str, str], dict] = {}
        for message in self.accounts[account].messages:
            if message.start > now:
                continue
            for day, variants in message.stats.items():
                if first <= day <= last and day <= now.date():
                    result[(str(message.message_id), day.isoformat())] = _sum(variants)
        return result

    def aggregates(self, account: str, first: dt.date, last: dt.date) -> dict[str, dict]:
        """message id -> counts summed up to ``last``, for messages started in ``[first, last]``."""
        now = self.current_time()
        result: dict[str, dict] = {}
        for message in self.accounts[account].messages:
            if message.start > now or not first <= message.start.date() <= last:
                continue
            days = [v for d, v in message.stats.items() if d <= min(last, now.date())]
            result[str(message.message_id)] = _sum([x for variants in days for x in variants])
        return result

    # ------------------------------------------------------------------ API

    def handle(self, request: Request) -> Response:
        if request.path != PATH:
            return _fail("Resource not found", 404, http_status=404)
        if request.method != "POST":
            return _fail("Method not allowed", 405, http_status=405)
        account_id = request.headers.get("x-clevertap-account-id")
        account = self.accounts.get(account_id or "")
        if account is None or request.headers.get("x-clevertap-passcode") != account.passcode:
            return _fail("Invalid Credentials", 401)
        assert account_id is not None
        if (request.headers.get("content-type") or "").split(";")[0].strip() != "application/json":
            return _fail("Content-Type must be application/json", 400, http_status=400)
        with self._lock:
            in_flight = self._in_flight.get(account_id, 0) + 1
            self._in_flight[account_id] = in_flight
            self.peak_in_flight = max(self.peak_in_flight, in_flight)
        try:
            if in_flight > self.max_in_flight:
                return _fail("Too many concurrent requests", 429, http_status=429)
            if self.report_delay:
                time.sleep(self.report_delay)
            return self._report(account_id, account, request)
        finally:
            with self._lock:
                self._in_flight[account_id] -= 1

    def _report(self, account_id: str, account: Account, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return _fail("Invalid JSON payload", 400, http_status=400)
        problem = _validate(body)
        if problem:
            return _fail(problem, 400, http_status=400)
        first = _day(body["from"])
        last = _day(body["to"])
        if self.reading("to_bound") == "exclusive":
            last -= dt.timedelta(days=1)
        daily = bool(body.get("daily", False))
        shape = self.reading("daily_shape")
        filters = {key: body[key] for key in FILTER_KEYS if body.get(key)}
        self.calls.append({"account": account_id, **body})
        now = self.current_time()
        newest = min(last, now.date())
        out: list[dict[str, t.Any]] = []
        for message in account.messages:
            if message.start > now or not message.matches(filters):
                continue
            if daily and shape != "aggregate":
                days = {d: v for d, v in message.stats.items() if first <= d <= newest}
                if days:
                    out.append({**message.public(), "data": _daily_data(days, shape)})
            elif first <= message.start.date() <= last:
                variants = _per_variant([v for d, v in message.stats.items() if d <= newest])
                out.append({**message.public(), "data": [variants]})
        return json_response({"status": "success", "total_results": len(out), "messages": out})


def _daily_data(days: dict[dt.date, list[dict[str, int]]], shape: str) -> t.Any:
    """A message's ``data`` with ``daily`` in the reading ``shape`` (see ``VARIANTS``)."""
    ordered = sorted(days)
    if shape in ("keyed", "keyed_iso"):
        form = "%Y%m%d" if shape == "keyed" else "%Y-%m-%d"
        return {d.strftime(form): days[d] for d in ordered}
    key, form = _DATED[shape]

    def dated(d: dt.date, counts: dict[str, int]) -> dict[str, t.Any]:
        day: t.Any = int(d.strftime("%Y%m%d")) if form == "int" else d.strftime(form)
        return {key: day, **counts}

    width = max(len(days[d]) for d in ordered)
    per_variant = [
        [dated(d, days[d][i]) for d in ordered if i < len(days[d])] for i in range(width)
    ]
    if shape == "flat":
        return [entry for variant in per_variant for entry in variant]
    return per_variant


# ---------------------------------------------------------------------- helpers


def _fail(error: str, code: int, http_status: int = 200) -> Response:
    return json_response({"status": "fail", "error": error, "code": code}, status=http_status)


def _validate(body: t.Any) -> str | None:
    if not isinstance(body, dict):
        return "Payload must be a JSON object"
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        return f"Unknown parameter(s): {', '.join(unknown)}"
    for key in ("from", "to"):
        value = body.get(key)
        if value is None:
            return "from & to are required parameters"
        if not isinstance(value, str) or not _DAY.match(value) or _day(value) is None:
            return f"{key} must be a date string in YYYYMMDD format"
    if _day(body["to"]) < _day(body["from"]):  # type: ignore[operator]
        return "to must not be before from"
    if "daily" in body and not isinstance(body["daily"], bool):
        return "daily must be true or false"
    for key in FILTER_KEYS:
        if key in body and (
            not isinstance(body[key], list) or not all(isinstance(v, str) for v in body[key])
        ):
            return f"{key} must be an array of strings"
    return None


def _day(text: str) -> dt.date:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None  # type: ignore[return-value]


def _key_of(table: dict[str, str], display: str) -> str:
    return next((key for key, value in table.items() if value == display), display.lower())


def _sum(entries: t.Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for entry in entries:
        for key, value in entry.items():
            total[key] = total.get(key, 0) + value
    return total


def _per_variant(days: list[list[dict[str, int]]]) -> list[dict[str, int]]:
    width = max((len(v) for v in days), default=1)
    return [_sum(v[i] for v in days if i < len(v)) or _zero() for i in range(width)]


def _zero() -> dict[str, int]:
    return {"sent": 0, "viewed": 0, "clicked": 0}


def generate_messages(
    start: dt.date, end: dt.date, per_day: int, seed: int = 1, first_id: int = 1_700_000_000
) -> list[Message]:
    """Messages started on days ``[start, end)``, each with counts for up to 8 days (< end)."""
    rng = random.Random(f"clevertap-{seed}-{first_id}")
    messages: list[Message] = []
    ident = first_id
    day = start
    while day < end:
        for _ in range(per_day):
            ident += rng.randint(1, 9000)
            when = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + dt.timedelta(
                seconds=rng.randrange(86_400)
            )
            channel = rng.choice(list(CHANNELS))
            message_type = rng.choice(["single", "single", "ab", "message_on_user_property"])
            variants = 2 if message_type == "ab" else 1
            audience = rng.randint(200, 20_000)
            stats: dict[dt.date, list[dict[str, int]]] = {}
            for offset in range(rng.randint(1, 8)):
                stat_day = day + dt.timedelta(days=offset)
                if stat_day >= end:
                    break
                share = max(1, audience // (2 ** (offset + 1)) // variants)
                stats[stat_day] = [
                    {
                        "sent": share,
                        "viewed": share * rng.randint(20, 60) // 100,
                        "clicked": share * rng.randint(1, 12) // 100,
                    }
                    for _ in range(variants)
                ]
            messages.append(
                Message(
                    message_id=ident,
                    name=f"{channel}_{rng.choice(TOPICS)}_{ident % 1000}",
                    channel=CHANNELS[channel],
                    delivery=DELIVERIES[rng.choice(list(DELIVERIES))],
                    status=rng.choice(["completed", "completed", "running", "stopped"]),
                    message_type=message_type,
                    labels=rng.sample(LABELS, rng.randint(0, 2)),
                    device=rng.sample(["Android", "iOS", "Web"], rng.randint(1, 3)),
                    start=when,
                    stats=stats,
                    conversion_event=rng.choice([None, "Charged", "App Launched"]),
                )
            )
        day += dt.timedelta(days=1)
    return messages


def default_app(start: dt.date, end: dt.date, seed: int = 1) -> CleverTapApp:
    """Two accounts (partitions are accounts: one per tap config section)."""
    return CleverTapApp(
        accounts={
            "TEST-4R8-ZZ1-5Z7Z": Account(
                "sandbox-clevertap-passcode", generate_messages(start, end, 4, seed)
            ),
            "TEST-9K2-ZZ2-8Q1Z": Account(
                "sandbox-clevertap-other", generate_messages(start, end, 2, seed, 1_800_000_000)
            ),
        }
    )


def demo_config(app: CleverTapApp, base_url: str) -> dict[str, t.Any]:
    account_id = next(iter(app.accounts))
    return {
        "account_id": account_id,
        "passcode": app.accounts[account_id].passcode,
        "api_url": f"{base_url}{app.prefix}",
    }
