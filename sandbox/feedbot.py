"""Feedbot Export API, as documented: one host per bot (here ``/feedbot/<bot_id>``), eight GET
exports under ``/api/management/export/``, an Azure Functions key as ``x-functions-key`` or
``?code=``, ``fromTimestamp``/``toTimestamp`` in Unix seconds, ``notEmpty`` and ``where<Field>``
on the user-data exports, a JSON array as the answer.

Where the contract is silent the sandbox serves each plausible reading, listed in ``VARIANTS``
(the first is the default) and chosen per app with ``app.variant = {point: option}``:

- ``range_bounds``: how ``fromTimestamp``/``toTimestamp`` apply to a row's ``timestamp``:
  ``inclusive`` (both ends: a tap that does not drop the rows at a window's edge emits them
  twice), ``exclusive`` (both ends), ``exclusive_start`` or ``exclusive_end``;
- ``timestamp_form``: how a row's ``timestamp`` is spelled: ``mixed`` (each row one of epoch
  seconds, epoch milliseconds, ISO with ``Z``, ISO with ``+02:00``), or every row ``seconds``,
  ``milliseconds``, ``seconds_text`` (epoch seconds as a JSON string), ``iso_z`` or
  ``iso_offset``;
- ``body``: the answer's top level: ``array`` ("Returns list of objects") or ``wrapped``
  (``{"value": [...], "count": n}``, as Azure APIs often answer).

Event moments are whole seconds (the filters' unit), so every spelling names the same instant;
some rows sit exactly on midnight. An older bot answers 404 (empty body) on the exports added in
v1.7.474 and a bad key gets 401 (empty body).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import typing as t
from dataclasses import dataclass, field

from sandbox.server import Request, Response, json_response

EXPORT_ROOT = "/api/management/export/"
USER_DATA_EXPORTS = ("userData", "userDataSnapshot")
NEWER_EXPORTS = (
    "userDataSnapshot",
    "nlpLog",
    "outgoingEmail",
    "outgoingSms",
    "fuzzyQuestionAnswerLog",
    "integrationLog",
    "urlTracker",
)
ALL_EXPORTS = ("userData", *NEWER_EXPORTS)
NEWER_SINCE = (1, 7, 474)
_ROUTE = re.compile(r"^/([^/]+)/api/management/export/([^/]+)$")
_INTEGER = re.compile(r"^-?\d+$")
TIME_FORMS = ("seconds", "milliseconds", "iso_z", "iso_offset")

#: Undocumented points and their plausible readings; the first is the default.
VARIANTS: dict[str, tuple[str, ...]] = {
    "range_bounds": ("inclusive", "exclusive", "exclusive_start", "exclusive_end"),
    "timestamp_form": ("mixed", "seconds", "milliseconds", "seconds_text", "iso_z", "iso_offset"),
    "body": ("array", "wrapped"),
}


# ---------------------------------------------------------------------- timestamps


def render_time(when: dt.datetime, form: str) -> t.Any:
    """``when`` the way one Feedbot row may carry it."""
    if form == "seconds":
        return int(when.timestamp())
    if form == "milliseconds":
        return round(when.timestamp() * 1000)
    if form == "seconds_text":
        return str(int(when.timestamp()))
    if form == "iso_z":
        return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if form == "iso_offset":
        return when.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    raise ValueError(form)


def row_time(row: t.Mapping[str, t.Any]) -> dt.datetime:
    """The moment a generated row's ``timestamp`` stands for (ground truth for tests)."""
    value = row["timestamp"]
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int):
        seconds = value / 1000 if value > 100_000_000_000 else value
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(dt.UTC)


# ---------------------------------------------------------------------- data generation

STORAGES: dict[str, t.Callable[[random.Random, int], dict[str, t.Any]]] = {
    "shop": lambda rng, n: {
        "name": rng.choice(["Jana", "Petr", "Eva", "Tomas", "Lucie"]) + f" {n}",
        "email": f"user{n}@example.com" if rng.random() < 0.8 else "",
        "phone": f"+420600{n:06d}" if rng.random() < 0.6 else None,
        "gender": rng.choice(["male", "female"]),
        # A storage filled from free text: usually a number, sometimes not.
        "age": rng.choice([rng.randint(18, 80), str(rng.randint(18, 80)), "unknown"]),
        "newsletter": rng.random() < 0.4,
        "lastOrder": {"id": f"ord-{n}", "total": round(rng.uniform(5, 500), 2)},
    },
    "city": lambda rng, n: {
        "firstName": rng.choice(["Adam", "Bara", "Cyril"]),
        "district": rng.choice(["Praha 1", "Praha 2", "Brno-stred"]),
        "language": rng.choice(["cs", "en"]),
        "ticketCount": rng.randint(0, 9),
        "consent": rng.choice(["true", "false"]),
    },
    "legacy": lambda rng, n: {
        "name": f"Visitor {n}",
        "phone": f"+421900{n:06d}" if rng.random() < 0.5 else "",
        "topic": rng.choice(["opening hours", "prices", "contact"]),
    },
}


def _log_row(rng: random.Random, export: str, user: str, n: int) -> dict[str, t.Any]:
    if export == "nlpLog":
        return {
            "userId": user,
            "result": {"intent": None, "score": round(rng.random() / 2, 3)},
            "processed": rng.choice(["where is my parcel", "asdf", "cancel it pls"]),
        }
    if export == "outgoingEmail":
        return {
            "userId": user,
            "body": f"<p>Thank you for order {n}</p>",
            "from": "bot@example.com",
            "recipients": [f"user{n}@example.com"],
            "replyTo": "support@example.com",
            "stepId": f"step-{rng.randint(1, 30)}",
            "subject": "Your order",
        }
    if export == "outgoingSms":
        return {
            "userId": user,
            "channel": "sms",
            "link": f"https://example.com/s/{n}",
            "message": "Your code is 1234",
            "provider": rng.choice(["twilio", "o2"]),
            "recipients": [f"+420600{n:06d}"],
        }
    if export == "fuzzyQuestionAnswerLog":
        return {
            "userId": user,
            "intent": rng.choice(["opening_hours", "prices", "delivery"]),
            "score": round(rng.random(), 4),
            "text": rng.choice(["when are you open", "how much", "delivery time?"]),
            "stepId": rng.randint(1, 30),  # a number although documented as an id
            "dialogId": f"dialog-{rng.randint(1, 5)}",
            "matched": rng.random() < 0.7,
            "otherClassifications": [{"intent": "other", "score": 0.1}],
        }
    if export == "integrationLog":
        return {
            "userId": user,
            "url": "https://crm.example.com/api/contacts",
            "method": rng.choice(["GET", "POST"]),
            "requestBody": {"contact": n},
            "requestHeaders": {"content-type": "application/json"},
            "responseStatus": rng.choice([200, 200, 201, 500]),
            "responseBody": '{"ok":true}',
            "duration": rng.randint(20, 900),
            "correlationId": f"corr-{n}",  # undocumented: must be kept
        }
    if export == "urlTracker":
        return {
            "userId": user,
            "domain": "example.com",
            "url": f"https://example.com/page/{rng.randint(1, 9)}",
        }
    raise ValueError(export)


@dataclass
class FakeBot:
    key: str
    version: tuple[int, int, int]
    #: export path -> rows as the API serves them (the ground truth for tests)
    exports: dict[str, list[dict[str, t.Any]]]

    @property
    def has_newer_exports(self) -> bool:
        return self.version >= NEWER_SINCE


def _moments(
    rng: random.Random, start: dt.date, end: dt.date, per_day: int
) -> t.Iterator[dt.datetime]:
    """Event moments (whole seconds) over days ``[start, end)``; the first of a day may sit on
    midnight."""
    day = start
    while day < end:
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        count = rng.randint(0, per_day)
        for i in range(count):
            if i == 0 and rng.random() < 0.3:
                yield midnight
            else:
                yield midnight + dt.timedelta(seconds=rng.randrange(86_400_000) // 1000)
        day += dt.timedelta(days=1)


def _stamp(rng: random.Random, row: dict[str, t.Any], when: dt.datetime) -> dict[str, t.Any]:
    return {"timestamp": render_time(when, rng.choice(TIME_FORMS)), **row}


def generate_bot(
    bot_id: str,
    key: str,
    start: dt.date,
    end: dt.date,
    *,
    storages: str = "shop",
    version: tuple[int, int, int] = (1, 7, 512),
    per_day: int = 4,
    seed: int = 1,
) -> FakeBot:
    """A bot with users and logs over days ``[start, end)``."""
    rng = random.Random(f"{seed}-{bot_id}")
    make_storages = STORAGES[storages]
    users: list[dict[str, t.Any]] = []
    snapshots: list[dict[str, t.Any]] = []
    for n, when in enumerate(_moments(rng, start, end, per_day)):
        user = f"{bot_id}-u{n:05d}"
        users.append(_stamp(rng, {"userId": user, **make_storages(rng, n)}, when))
        if rng.random() < 0.4:
            earlier = when - dt.timedelta(hours=rng.randint(1, 48))
            if earlier.date() >= start:
                snapshots.append(_stamp(rng, {"userId": user, **make_storages(rng, n)}, earlier))
    exports: dict[str, list[dict[str, t.Any]]] = {"userData": users}
    if version >= NEWER_SINCE:
        exports["userDataSnapshot"] = snapshots
        for export in NEWER_EXPORTS[1:]:
            rows = []
            for n, when in enumerate(_moments(rng, start, end, per_day)):
                user = rng.choice(users)["userId"] if users else f"{bot_id}-anon"
                rows.append(_stamp(rng, _log_row(rng, export, user, n), when))
            exports[export] = rows
    return FakeBot(key=key, version=version, exports=exports)


# ---------------------------------------------------------------------- the fake API


@dataclass
class Call:
    bot_id: str
    export: str
    from_ts: int | None
    to_ts: int | None
    rows: int


def _empty(value: t.Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass
class FeedbotApp:
    """Every bot's host under ``/feedbot/<bot_id>``."""

    bots: dict[str, FakeBot]
    prefix: str = "/feedbot"
    #: rows later than this are not served (a real API cannot return the future)
    not_after: dt.datetime | None = None
    calls: list[Call] = field(default_factory=list)
    #: point -> option (see ``VARIANTS``); unset points read their default.
    variant: dict[str, str] = field(default_factory=dict)

    def reading(self, point: str) -> str:
        """The option this app serves for an undocumented ``point``."""
        option = self.variant.get(point, VARIANTS[point][0])
        if option not in VARIANTS[point]:
            raise ValueError(f"{point}: unknown option {option!r}")
        return option

    def handle(self, request: Request) -> Response:
        match = _ROUTE.match(request.path)
        bot = self.bots.get(match.group(1)) if match else None
        if match is None or bot is None:
            return Response(status=404, raw=b"")
        export = match.group(2)
        if export not in bot.exports:  # unknown function, or a bot older than v1.7.474
            return Response(status=404, raw=b"")
        if request.method != "GET":
            return Response(status=405, raw=b"")
        key = request.headers.get("x-functions-key") or request.arg("code")
        if key != bot.key:
            return Response(status=401, raw=b"")
        bounds: list[int | None] = []
        for name in ("fromTimestamp", "toTimestamp"):
            text = request.arg(name)
            if text is not None and not _INTEGER.match(text.strip()):
                return json_response(
                    {"error": f"{name} must be a second-based UNIX timestamp"}, status=400
                )
            bounds.append(None if text is None else int(text))
        low, high = bounds
        rows = [row for row in bot.exports[export] if self._in_range(row, low, high)]
        if export in USER_DATA_EXPORTS:
            rows = self._user_filters(rows, request)
        self.calls.append(Call(match.group(1), export, low, high, len(rows)))
        form = self.reading("timestamp_form")
        if form != "mixed":
            rows = [{**row, "timestamp": render_time(row_time(row), form)} for row in rows]
        if self.reading("body") == "wrapped":
            return json_response({"value": rows, "count": len(rows)})
        return json_response(rows)

    def _in_range(self, row: dict[str, t.Any], low: int | None, high: int | None) -> bool:
        seconds = row_time(row).timestamp()
        if self.not_after is not None and seconds > self.not_after.timestamp():
            return False
        bounds = self.reading("range_bounds")
        low_open = bounds in ("exclusive", "exclusive_start")
        high_open = bounds in ("exclusive", "exclusive_end")
        return (low is None or (seconds > low if low_open else seconds >= low)) and (
            high is None or (seconds < high if high_open else seconds <= high)
        )

    @staticmethod
    def _user_filters(rows: list[dict[str, t.Any]], request: Request) -> list[dict[str, t.Any]]:
        not_empty = [f for f in (request.arg("notEmpty") or "").split(",") if f]
        where = {
            name[5:6].lower() + name[6:]: values[0]
            for name, values in request.query.items()
            if name.startswith("where") and len(name) > 5
        }

        def keep(row: dict[str, t.Any]) -> bool:
            if any(_empty(row.get(f)) for f in not_empty):
                return False
            return all(str(row.get(f)) == value for f, value in where.items())

        return [row for row in rows if keep(row)]

    def expected(
        self, start: dt.datetime, end: dt.datetime
    ) -> dict[tuple[str, str], list[dict[str, t.Any]]]:
        """Ground truth: (bot, export) -> rows whose time is in ``[start, end)``."""
        return {
            (bot_id, export): [r for r in rows if start <= row_time(r) < end]
            for bot_id, bot in self.bots.items()
            for export, rows in bot.exports.items()
        }


def default_app(start: dt.date, end: dt.date, seed: int = 1) -> FeedbotApp:
    """Three bots with different storages; ``legacy-bot`` predates the newer exports."""
    now = dt.datetime.now(dt.UTC)
    app = FeedbotApp(
        bots={
            "acme-shop": generate_bot(
                "acme-shop", "sandbox-feedbot-key-acme", start, end, storages="shop", seed=seed
            ),
            "city-help": generate_bot(
                "city-help", "sandbox-feedbot-key-city", start, end, storages="city", seed=seed
            ),
            "legacy-bot": generate_bot(
                "legacy-bot",
                "sandbox-feedbot-key-legacy",
                start,
                end,
                storages="legacy",
                version=(1, 7, 301),
                seed=seed,
            ),
        },
        not_after=now,
    )
    for bot in app.bots.values():
        for export, rows in bot.exports.items():
            bot.exports[export] = [r for r in rows if row_time(r) <= now]
    return app


def demo_config(app: FeedbotApp, base_url: str) -> dict[str, t.Any]:
    """The tap's ``feedbot`` section for this sandbox."""
    return {
        "bots": [{"bot_id": bot_id, "function_key": bot.key} for bot_id, bot in app.bots.items()],
        "api_url_template": f"{base_url}{app.prefix}/{{bot_id}}",
        "user_data_columns": {"email": "string", "age": "integer", "newsletter": "boolean"},
    }
