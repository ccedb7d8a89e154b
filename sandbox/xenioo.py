"""Xenioo statistics API, as documented: token exchange, bearer tokens that expire, throttles.

Endpoints (below ``/xenioo``): ``POST /authorization/integration``; account statistics
``GET /analytics/statistics/account/<APIKEY>/<TYPES>/<GROUPMODE>/<DAYS>`` (account token, 1 call
per account per hour); bot statistics ``GET /analytics/statistics/<TYPES>/<GROUPMODE>/<DAYS>`` (bot
token, 1 call per bot per 30 minutes; the URL is an assumption); delivery receipts
``GET /analytics/statistics/dlr/account/<APIKEY>/<GROUPMODE>/<DAYS>`` and
``GET /analytics/statistics/dlr/<GROUPMODE>/<DAYS>``. Rows are aggregated at request time from
generated events over the last DAYS (never later than now). Each served call is kept in
``calls`` so tests can compare what the tap emitted with what was served.

Undocumented points have the readings in ``VARIANTS`` (the first is the default), chosen per
app with ``app.variant = {point: option}``:

- ``token_fields``: the token exchange's answer: ``legacy`` ``{"Token", "Expires": minutes}``
  (older docs), ``current`` ``{"token", "expires": minutes}``, ``current_expire``
  ``{"token", "expire": minutes}`` (the current docs show ``{"token": ..., "expire...``),
  ``current_expires_at`` ``{"token", "expiresAt": ISO moment}``;
- ``value_field``: the name of a row's metric after ``EventLabel`` (not published): ``Value``
  (next to ``Count``), ``Total`` (next to ``Count``), ``value`` (next to ``count``), or
  ``Count`` alone.

Each tap run needs a fresh app (or ``forget_throttles``): the budgets are hourly.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import threading
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import unquote

from sandbox.server import Request, Response, json_response

#: Undocumented points and their plausible readings; the first is the default.
VARIANTS: dict[str, tuple[str, ...]] = {
    "token_fields": ("legacy", "current", "current_expire", "current_expires_at"),
    "value_field": ("Value", "Total", "value", "Count"),
}
#: value_field option -> (name of the metric, name of the event count or None)
_VALUE_FIELDS = {
    "Value": ("Value", "Count"),
    "Total": ("Total", "Count"),
    "value": ("value", "count"),
    "Count": ("Count", None),
}

ACCOUNT_KEY = "sandbox-xenioo-account-key"
TYPE_NAMES = {
    0: "New User",
    1: "Returning User",
    2: "Active User",
    3: "Messages",
    4: "Action Messages",
    5: "Fallback Reply",
    6: "NLP Detected",
    7: "NLP Missed",
    8: "Conversation Length",
    9: "Time To Pick Up",
    10: "Takeover Rate",
    11: "Support Conversation Length",
    12: "Goal Reached",
    13: "Incoming Message",
    14: "API Request",
    15: "API Request Error",
    16: "Time To First Message",
    17: "Operator Message",
    18: "Tag Hit",
}
GROUP_MODES = ("hour", "day", "month", "year")
NOT_FOUND = "The specified account or bot has not been found."
DLR_GROUP_MODES = ("minute", *GROUP_MODES)
CHANNELS = ("Web Chat", "WhatsApp", "Facebook Messenger")
DLR_STATUSES = ("Sent", "Delivered", "Read", "Failed")
THROTTLE_BODY = {
    "account": "Account Statistics calls are throttled at 1 call per account per hour.",
    "bot": "Bot Statistics calls are throttled at 1 call per bot every 30 minutes.",
}
_LABEL = {
    "minute": "%Y-%m-%d %H:%M",
    "hour": "%Y-%m-%d %H:00",
    "day": "%Y-%m-%d",
    "month": "%Y-%m",
    "year": "%Y",
}


@dataclass(frozen=True)
class Bot:
    api_key: str
    api_secret: str
    name: str


@dataclass(frozen=True)
class Event:
    bot_key: str
    channel: str
    code: int  # type code, or -1 for a delivery receipt
    label: str  # EventLabel
    at: dt.datetime
    value: float


def bucket(at: dt.datetime, mode: str) -> str:
    if mode == "minute":
        at = at.replace(minute=at.minute - at.minute % 10)
    return at.strftime(_LABEL[mode])


def generate_events(
    bots: t.Sequence[Bot], start: dt.date, end: dt.date, per_day: int, seed: int
) -> tuple[list[Event], list[Event]]:
    """Statistics events (every type code on every bot) and delivery receipts for [start, end)."""
    stats: list[Event] = []
    receipts: list[Event] = []
    for bot in bots:
        rng = random.Random(f"{seed}-{bot.api_key}")
        day = start
        while day < end:
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            for index in range(per_day):
                at = midnight + dt.timedelta(seconds=rng.randrange(86_400))
                code = index % len(TYPE_NAMES)  # every code, every day
                label = TYPE_NAMES[code]
                if code == 12:
                    label = rng.choice(["Checkout", "Lead captured"])
                elif code == 18:
                    label = rng.choice(["vip", "returning-customer"])
                value = float(rng.randint(1, 20)) if code in (8, 9, 11, 16) else 1.0
                stats.append(Event(bot.api_key, rng.choice(CHANNELS), code, label, at, value))
            for _ in range(per_day // 3):
                at = midnight + dt.timedelta(seconds=rng.randrange(86_400))
                status = rng.choice(DLR_STATUSES)
                receipts.append(Event(bot.api_key, "WhatsApp", -1, status, at, 1.0))
            day += dt.timedelta(days=1)
    return stats, receipts


@dataclass
class ServedCall:
    endpoint: str  # account_stats, bot_stats, account_dlr, bot_dlr
    key: str  # APIKEY filter or the bot's key
    rows: list[dict[str, t.Any]]
    at: float


@dataclass
class XeniooApp:
    """Fake API. ``token_lifetime`` (seconds) is how long a token works; ``advertised_minutes``
    (default: the real lifetime) is what the exchange answers, in the spelling of the
    ``token_fields`` variant."""

    bots: list[Bot]
    events: list[Event]
    receipts: list[Event]
    account_key: str = ACCOUNT_KEY
    prefix: str = "/xenioo"
    token_lifetime: float = 3600.0
    advertised_minutes: float | None = None
    #: point -> option (see ``VARIANTS``); unset points read their default.
    variant: dict[str, str] = field(default_factory=dict)
    account_throttle: float = 3600.0
    bot_throttle: float = 1800.0
    throttle_status: int = 400
    #: The account statistics and account DLR endpoints share one budget (unknown upstream).
    shared_account_budget: bool = False
    clock: t.Callable[[], float] = time.time
    calls: list[ServedCall] = field(default_factory=list)
    tokens_issued: list[tuple[str, float]] = field(default_factory=list)
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    _last_call: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        if request.path == "/authorization/integration":
            if request.method != "POST":
                return json_response({"message": "Method not allowed"}, status=405)
            return self._token(request)
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        if parts[:2] != ["analytics", "statistics"] or request.method != "GET":
            return json_response({"message": "Not found"}, status=404)
        rest = parts[2:]
        if len(rest) == 5 and rest[0] == "account":
            return self._account_stats(request, *rest[1:])
        if len(rest) == 5 and rest[:2] == ["dlr", "account"]:
            return self._account_dlr(request, *rest[2:])
        if len(rest) == 3 and rest[0] == "dlr":
            return self._bot_dlr(request, *rest[1:])
        if len(rest) == 3:
            return self._bot_stats(request, *rest)
        return json_response({"message": "Not found"}, status=404)

    # ------------------------------------------------------------------ auth

    def _token(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return json_response({"message": "Invalid JSON body"}, status=400)
        if not isinstance(body, dict) or not body.get("AccountAPIKey"):
            return json_response({"message": "Missing AccountAPIKey"}, status=400)
        if body["AccountAPIKey"] != self.account_key:
            return json_response(
                {"message": "The specified account API key has not been found"}, status=404
            )
        subject = "account"
        if "BotAPIKey" in body or "BotAPISecret" in body:
            if not body.get("BotAPIKey") or not body.get("BotAPISecret"):
                return json_response({"message": "Missing BotAPIKey or BotAPISecret"}, 400)
            bot = self._bot(body["BotAPIKey"])
            if bot is None or bot.api_secret != body["BotAPISecret"]:
                return json_response({"message": "The specified bot has not been found"}, 404)
            subject = f"bot:{bot.api_key}"
        token = secrets.token_urlsafe(24)
        now = self.clock()
        with self._lock:
            self._tokens[token] = (subject, now + self.token_lifetime)
            self.tokens_issued.append((subject, now))
        minutes = (
            self.advertised_minutes
            if self.advertised_minutes is not None
            else self.token_lifetime / 60
        )
        spelling = self.reading("token_fields")
        if spelling == "legacy":
            return json_response({"Token": token, "Expires": minutes})
        if spelling == "current_expire":
            return json_response({"token": token, "expire": minutes})
        if spelling == "current_expires_at":
            moment = dt.datetime.fromtimestamp(now + minutes * 60, dt.UTC)
            return json_response({"token": token, "expiresAt": moment.isoformat()})
        return json_response({"token": token, "expires": minutes})

    def reading(self, point: str) -> str:
        return self.variant.get(point, VARIANTS[point][0])

    def _subject(self, request: Request) -> str | None:
        header = request.headers.get("authorization") or ""
        if not header.startswith("Bearer "):
            return None
        entry = self._tokens.get(header.removeprefix("Bearer "))
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def _bot(self, key: str) -> Bot | None:
        return next((b for b in self.bots if b.api_key == key), None)

    # ------------------------------------------------------------------ validation

    def _params(self, mode: str, days: str, modes: t.Sequence[str]) -> tuple[str, int] | Response:
        if mode not in modes:
            return json_response({"message": f"Invalid GROUPMODE {mode}"}, status=400)
        if not days.isdigit() or not 1 <= int(days) <= 30:
            return json_response({"message": "DAYS must be between 1 and 30"}, status=400)
        return mode, int(days)

    def _types(self, text: str, highest: int) -> list[int] | Response:
        try:
            codes = [int(part) for part in text.split(",")]
        except ValueError:
            return json_response({"message": f"Invalid TYPES {text}"}, status=400)
        if not codes or any(not 0 <= c <= highest for c in codes):
            return json_response({"message": f"Invalid TYPES {text}"}, status=400)
        return codes

    def _throttled(self, budget: tuple[str, str], seconds: float, kind: str) -> Response | None:
        now = self.clock()
        with self._lock:
            last = self._last_call.get(budget)
            if last is not None and now - last < seconds:
                return json_response({"message": THROTTLE_BODY[kind]}, status=self.throttle_status)
            self._last_call[budget] = now
        return None

    def _account_budget(self, endpoint: str) -> tuple[str, str]:
        return ("account", "stats" if self.shared_account_budget else endpoint)

    # ------------------------------------------------------------------ endpoints

    def _account_stats(
        self, request: Request, key: str, types: str, mode: str, days: str
    ) -> Response:
        if self._subject(request) != "account":
            return json_response({"message": "Unauthorized"}, status=401)
        params = self._params(mode, days, GROUP_MODES)
        codes = self._types(types, 17)
        if isinstance(params, Response):
            return params
        if isinstance(codes, Response):
            return codes
        if key != "*" and self._bot(key) is None:
            return json_response(
                {"message": "The specified account or bot has not been found."}, 404
            )
        throttled = self._throttled(self._account_budget("stats"), self.account_throttle, "account")
        if throttled:
            return throttled
        keys = {b.api_key for b in self.bots} if key == "*" else {key}
        rows = self.aggregate(self.events, keys, set(codes), params[0], params[1])
        return self._serve("account_stats", key, rows)

    def _bot_stats(self, request: Request, types: str, mode: str, days: str) -> Response:
        subject = self._subject(request) or ""
        if not subject.startswith("bot:"):
            return json_response({"message": "Unauthorized"}, status=401)
        params = self._params(mode, days, GROUP_MODES)
        codes = self._types(types, 18)
        if isinstance(params, Response):
            return params
        if isinstance(codes, Response):
            return codes
        key = subject.removeprefix("bot:")
        throttled = self._throttled(("bot-stats", key), self.bot_throttle, "bot")
        if throttled:
            return throttled
        rows = self.aggregate(self.events, {key}, set(codes), params[0], params[1])
        return self._serve("bot_stats", key, rows)

    def _account_dlr(self, request: Request, key: str, mode: str, days: str) -> Response:
        if self._subject(request) != "account":
            return json_response({"message": "Unauthorized"}, status=401)
        params = self._params(mode, days, DLR_GROUP_MODES)
        if isinstance(params, Response):
            return params
        if key != "*" and self._bot(key) is None:
            return json_response(
                {"message": "The specified account or bot has not been found."}, 404
            )
        throttled = self._throttled(self._account_budget("dlr"), self.account_throttle, "account")
        if throttled:
            return throttled
        keys = {b.api_key for b in self.bots} if key == "*" else {key}
        rows = self.aggregate(self.receipts, keys, None, params[0], params[1])
        return self._serve("account_dlr", key, rows)

    def _bot_dlr(self, request: Request, mode: str, days: str) -> Response:
        subject = self._subject(request) or ""
        if not subject.startswith("bot:"):
            return json_response({"message": "Unauthorized"}, status=401)
        params = self._params(mode, days, DLR_GROUP_MODES)
        if isinstance(params, Response):
            return params
        key = subject.removeprefix("bot:")
        throttled = self._throttled(("bot-dlr", key), self.bot_throttle, "bot")
        if throttled:
            return throttled
        rows = self.aggregate(self.receipts, {key}, None, params[0], params[1])
        return self._serve("bot_dlr", key, rows)

    def _serve(self, endpoint: str, key: str, rows: list[dict[str, t.Any]]) -> Response:
        with self._lock:
            self.calls.append(ServedCall(endpoint, key, rows, self.clock()))
        return json_response(rows)

    # ------------------------------------------------------------------ data

    def aggregate(
        self,
        events: t.Sequence[Event],
        keys: set[str],
        codes: set[int] | None,
        mode: str,
        days: int,
    ) -> list[dict[str, t.Any]]:
        """Rows for the last ``days`` up to now: one per bucket x bot x channel x label."""
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        since = now - dt.timedelta(days=days)
        names = {b.api_key: b.name for b in self.bots}
        grouped: dict[tuple[str, str, str, str, int], list[float]] = {}
        for event in events:
            if event.bot_key not in keys or not since <= event.at <= now:
                continue
            if codes is not None and event.code not in codes:
                continue
            group = (bucket(event.at, mode), names[event.bot_key], event.channel, event.label)
            grouped.setdefault((*group, event.code), []).append(event.value)
        rows = []
        for (label, bot, channel, event_label, code), values in sorted(grouped.items()):
            row: dict[str, t.Any] = {
                "GroupLabel": label,
                "BotName": bot,
                "ChannelName": channel,
                "EventLabel": event_label,
            }
            if code >= 0:
                row["Type"] = code
            value_name, count_name = _VALUE_FIELDS[self.reading("value_field")]
            row[value_name] = (
                round(sum(values) / len(values), 2) if code in (8, 9, 11, 16) else len(values)
            )
            if count_name is not None:
                row[count_name] = len(values)
            rows.append(row)
        return rows

    def forget_throttles(self) -> None:
        with self._lock:
            self._last_call.clear()


def default_app(start: dt.date, end: dt.date, seed: int = 1) -> XeniooApp:
    """Three bots with events of every type code on every day of [start, end)."""
    bots = [
        Bot("bot-key-support", "sandbox-secret-support-1", "Support Bot"),
        Bot("bot-key-sales", "sandbox-secret-sales-2", "Sales Bot"),
        Bot("bot-key-faq", "sandbox-secret-faq-3", "FAQ Bot"),
    ]
    events, receipts = generate_events(bots, start, end, per_day=40, seed=seed)
    return XeniooApp(bots=bots, events=events, receipts=receipts)


def demo_config(app: XeniooApp, base_url: str) -> dict[str, t.Any] | None:
    """The tap config section pointing at the sandbox (all bots, default types and group mode)."""
    url = f"{base_url}{app.prefix}"
    return {
        "account_api_key": app.account_key,
        "service_endpoint": url,
        "api_url": url,
        "bots": [{"api_key": b.api_key, "api_secret": b.api_secret} for b in app.bots],
    }
