"""Certainly Message Report API, as documented: GET, JWT header, <= 15 days, <= 500 rows.

What the document leaves open is served in each plausible reading (``VARIANTS``; the first
option of each point is the default): set ``app.variant = {point: option}``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import typing as t
from dataclasses import dataclass, field

import msgspec

from sandbox.server import Request, Response, json_response

#: Undocumented points (vendor-apis.md 1.4-1.6) and their readings; the first is the default.
VARIANTS: dict[str, tuple[str, ...]] = {
    # `response`: one object, a list of speech bubbles (each {text, type, wait}), or either
    # from row to row (`mixed`: a list in rows with an even id).
    "response_shape": ("object", "list", "mixed"),
    # `data`: one object, a list of the Module's Connections (each {type, fallback, position}),
    # or either from row to row (`mixed`, as above).
    "data_shape": ("object", "list", "mixed"),
    # Order of the rows served, applied before the 500-row cut (so it also decides which rows
    # a capped answer keeps): oldest first, newest first, or no order at all.
    "order": ("oldest_first", "newest_first", "unsorted"),
    # Which rows a capped answer keeps: the first ones in the served order, or the newest ones
    # (then served in `order`: with oldest_first, the newest 500 in time order).
    "capped_keeps": ("first_served", "newest"),
    # `toDate`: inclusive (rows of that day served) or exclusive (not served).
    "to_date": ("inclusive", "exclusive"),
    # Spelling of `timestamp` and `botuser.created_date` (the same instant in each): `Z` with
    # microseconds, `+00:00`, a `+09:00` offset, or `Z` without fractional seconds.
    "timestamp": ("utc_z", "utc_offset", "offset_0900", "no_fraction"),
}
_JST = dt.timezone(dt.timedelta(hours=9))

TOKEN = "sandbox-certainly-token"
PATH = "/api/reports/messages/"
MAX_DAYS = 15
ROW_CAP = 500


def generate_messages(
    bot_id: str,
    start: dt.date,
    end: dt.date,
    per_day: int | t.Mapping[dt.date, int],
    seed: int = 1,
) -> list[dict[str, t.Any]]:
    """Realistic rows for days ``[start, end)``; ``per_day`` is a count or a day->count map."""
    rng = random.Random(f"{seed}-{bot_id}")
    rows: list[dict[str, t.Any]] = []
    next_id = rng.randint(10_000, 90_000) * 1000
    day = start
    while day < end:
        count = per_day.get(day, 0) if isinstance(per_day, t.Mapping) else per_day
        seconds = sorted(rng.randrange(86_400 * 1_000_000) for _ in range(count))
        for micro in seconds:
            when = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            when += dt.timedelta(microseconds=micro)
            next_id += 1
            rows.append(_message(rng, next_id, when, bot_id))
        day += dt.timedelta(days=1)
    return rows


class DailyMessages:
    """A bot's messages, generated day by day on demand (deterministic, nothing kept).

    Cheap at any scale: a call for some days generates just those days. Iterating gives every
    message in time order (the ground truth for tests and benchmarks).
    """

    def __init__(
        self,
        bot_id: str,
        start: dt.date,
        end: dt.date,
        per_day: int | t.Mapping[dt.date, int],
        seed: int = 1,
    ) -> None:
        self.bot_id, self.start, self.end, self.seed = bot_id, start, end, seed
        self.per_day = per_day

    def count(self, day: dt.date) -> int:
        if not self.start <= day < self.end:
            return 0
        return self.per_day.get(day, 0) if isinstance(self.per_day, t.Mapping) else self.per_day

    def day(self, day: dt.date) -> list[dict[str, t.Any]]:
        count = self.count(day)
        if not count:
            return []
        rng = random.Random(f"{self.seed}-{self.bot_id}-{day.isoformat()}")
        base = day.toordinal() * 1_000_000
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        micros = sorted(rng.randrange(86_400 * 1_000_000) for _ in range(count))
        return [
            _message(rng, base + n, midnight + dt.timedelta(microseconds=micro), self.bot_id)
            for n, micro in enumerate(micros)
        ]

    def between(self, first: dt.date, last: dt.date) -> t.Iterator[dict[str, t.Any]]:
        """Messages of days ``first..last`` (inclusive), in time order."""
        day = max(first, self.start)
        while day <= last and day < self.end:
            yield from self.day(day)
            day += dt.timedelta(days=1)

    def count_between(self, first: dt.date, last: dt.date) -> int:
        day, total = max(first, self.start), 0
        while day <= last and day < self.end:
            total += self.count(day)
            day += dt.timedelta(days=1)
        return total

    def __iter__(self) -> t.Iterator[dict[str, t.Any]]:
        return self.between(self.start, self.end)

    def __len__(self) -> int:
        return self.count_between(self.start, self.end)


def _message(rng: random.Random, ident: int, when: dt.datetime, bot_id: str) -> dict[str, t.Any]:
    module_id = rng.randint(1, 40)
    kind = rng.choice(["Text", "Wait", "Choice"])
    row: dict[str, t.Any] = {
        "id": ident,
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "message": rng.choice(["Hi", "Track my order", "Talk to a human", "Suggested Replies"]),
        "response": {"text": f"Module {module_id} says hello", "type": kind, "wait": 1.5},
        "conversation_id": f"conv-{bot_id}-{ident // 7}",
        "through_bot_modules": [module_id - 1] if module_id > 1 else [],
        "bot_module_id": module_id,
        "is_test": rng.random() < 0.05,
        "external_agent": None,
        "through_connection_id": rng.randint(1, 500),
        "is_global_module_match": rng.random() < 0.2,
        "is_deleted": False,
        "id_message_evaluate": rng.randint(1, 500),
        "data": {"type": "local", "fallback": rng.random() < 0.1, "position": rng.randint(0, 4)},
        "user_message_empty": False,
        "bot_response_empty": False,
        "bot_module": {
            "id": module_id,
            "name": f"Module {module_id}",
            "type": "statement",
            "instruction": "Say hello",
            "error_instruction": "Sorry?",
            "is_global": False,
            "priority": 0,
            "is_starting": module_id == 1,
            "fallback_module_id": None,
            "skip_user_input": False,
            "skip_global_connection_evaluation": False,
            "group": None,
            "kpis": [{"label": "Greeting", "colour": "green", "id": 3}] if module_id < 5 else [],
        },
        "botuser": {
            "id": f"user-{ident % 997}",
            "created_date": (when - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "undocumented_score": round(rng.random(), 3),
    }
    if rng.random() < 0.7:
        row["botuser"]["botuser_meta"] = {
            "web": {
                "host": "shop.example.com",
                "current_ip": "203.0.113.7",
                "hostPageUrl": "https://shop.example.com/help",
            }
        }
    return row


def _day(ts: str) -> dt.date:
    return dt.date.fromisoformat(ts[:10])


@dataclass
class CertainlyApp:
    """Fake API; ``bots`` maps bot id to its messages (any order)."""

    bots: dict[str, list[dict[str, t.Any]] | DailyMessages]
    token: str = TOKEN
    path: str = PATH
    prefix: str = "/certainly"
    row_cap: int = ROW_CAP
    calls: list[tuple[str, dt.date, dt.date, int]] = field(default_factory=list)
    #: Readings of undocumented points (see VARIANTS); absent points take their default.
    variant: dict[str, str] = field(default_factory=dict)

    def reading(self, point: str) -> str:
        option = self.variant.get(point, VARIANTS[point][0])
        if option not in VARIANTS[point]:
            raise ValueError(f"unknown Certainly variant {point}={option!r}")
        return option

    def handle(self, request: Request) -> Response:
        if request.path != self.path:
            return json_response({"detail": "Not found."}, status=404)
        if request.method != "GET":
            return json_response({"detail": "Method not allowed."}, status=405)
        if request.headers.get("authorization") != f"JWT {self.token}":
            return json_response({"detail": "Invalid token."}, status=401)
        try:
            start = dt.date.fromisoformat(request.arg("fromDate") or "")
            end = dt.date.fromisoformat(request.arg("toDate") or "")
            report = int(request.arg("reportId") or "")
        except ValueError:
            return json_response({"detail": "fromDate, toDate and reportId are required"}, 400)
        if report not in (1, 2, 3, 4):
            return json_response({"detail": "reportId must be 1..4"}, status=400)
        if end < start:
            return json_response({"detail": "toDate is before fromDate"}, status=400)
        if (end - start).days + 1 > MAX_DAYS:
            return json_response({"detail": "The maximum time range supported is 15 days"}, 400)
        bot = request.arg("botId")
        if bot not in self.bots:
            return json_response({"detail": "Bot not found."}, status=404)
        messages = self.bots[bot]
        last = end if self.reading("to_date") == "inclusive" else end - dt.timedelta(days=1)
        if isinstance(messages, DailyMessages):
            total = messages.count_between(start, last)
            if self.variant:
                rows = list(messages.between(start, last))
            else:  # the default reading, cheap at any scale: only the rows served are made
                rows = list(itertools.islice(messages.between(start, last), self.row_cap))
        else:
            rows = [m for m in messages if start <= _day(m["timestamp"]) <= last]
            rows.sort(key=lambda m: m["timestamp"])
            total = len(rows)
        self.calls.append((bot, start, end, total))
        if self.variant:
            rows = self._served(rows, f"{bot}/{start}/{end}")
        return Response(raw=msgspec.json.encode(rows[: self.row_cap]))

    def _served(self, rows: list[dict[str, t.Any]], key: str) -> list[dict[str, t.Any]]:
        """``rows`` (in time order, the stored truth) as this variant serves them (copies)."""
        if self.reading("capped_keeps") == "newest":
            rows = rows[-self.row_cap :]
        order = self.reading("order")
        if order == "newest_first":
            rows = rows[::-1]
        elif order == "unsorted":
            rows = rows[:]
            random.Random(key).shuffle(rows)
        return [self._shaped(row) for row in rows[: self.row_cap]]

    def _shaped(self, stored: dict[str, t.Any]) -> dict[str, t.Any]:
        row = msgspec.json.decode(msgspec.json.encode(stored))  # a deep copy
        even = row["id"] % 2 == 0
        shape = self.reading("response_shape")
        if shape == "list" or (shape == "mixed" and even):
            first = row["response"]
            row["response"] = [first, {"text": "Anything else?", "type": "Choice", "wait": 0}]
        shape = self.reading("data_shape")
        if shape == "list" or (shape == "mixed" and even):
            first = row["data"]
            row["data"] = [first, {"type": "global", "fallback": True, "position": 9}]
        spelling = self.reading("timestamp")
        if spelling != "utc_z":
            row["timestamp"] = _spelled(row["timestamp"], spelling)
            user = row.get("botuser")
            if isinstance(user, dict) and user.get("created_date"):
                user["created_date"] = _spelled(user["created_date"], spelling)
        return row


def _spelled(stored: str, spelling: str) -> str:
    """A stored ``...Z`` instant in another spelling of the same instant (``no_fraction``:
    the same second)."""
    when = dt.datetime.fromisoformat(stored)
    if spelling == "utc_offset":
        return when.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if spelling == "offset_0900":
        return when.astimezone(_JST).isoformat(timespec="microseconds")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_app(start: dt.date, end: dt.date, seed: int = 1) -> CertainlyApp:
    """Two bots: a steady one and one with a burst that forces window splitting."""
    burst_day = start + (end - start) // 2
    burst = {start + dt.timedelta(days=i): 12 for i in range((end - start).days)}
    burst.update({burst_day: 420, burst_day + dt.timedelta(days=1): 380})
    return CertainlyApp(
        bots={
            "bot-alpha": generate_messages("bot-alpha", start, end, 25, seed),
            "bot-beta": generate_messages("bot-beta", start, end, burst, seed),
        }
    )


def demo_config(app: CertainlyApp, base_url: str) -> dict[str, t.Any]:
    return {
        "api_token": app.token,
        "bot_ids": sorted(app.bots),
        "api_url": f"{base_url}{app.prefix}/api/",
        "message_report_path": app.path.removeprefix("/api/"),
    }
