"""Xenioo: pure logic (no I/O): token responses, statistics rows, group labels, throttle budget.

Contract: shared/vendor-apis.md section 5. Only the names of the first four fields of a
statistics row are documented (``GroupLabel``, ``BotName``, ``ChannelName``, ``EventLabel``), not
their types: they are primary-key columns, so each is a string (the JSON text of a value that
is not a string, which is then also kept as it came in ``extra_fields``). Everything else a row
carries (value, count, type code: names and types not published) is kept whole in
``extra_fields``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import typing as t
from dataclasses import dataclass

from tap_chatbot_reports.checks import describe_payload, unwrap_rows
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.schema_types import to_json_text
from tap_chatbot_reports.timeparse import format_timestamp

#: Documented type codes (0-17 on the account page, 18 only on the bot page).
TYPE_NAMES: dict[int, str] = {
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
ACCOUNT_TYPES = tuple(range(18))
BOT_TYPES = tuple(range(19))
GROUP_MODES = ("hour", "day", "month", "year")
#: Delivery-receipt statistics also group by 10-minute slots.
DELIVERY_GROUP_MODES = ("minute", *GROUP_MODES)
IDENTIFYING_FIELDS = ("GroupLabel", "BotName", "ChannelName", "EventLabel")
#: Used when the token response carries no usable lifetime ("about 60 minutes", documented).
DEFAULT_TOKEN_MINUTES = 60.0
_TYPE_CODE_KEYS = ("type", "typecode", "type_code", "typeid", "eventtype", "statisticstype")
_TYPE_NAME_KEYS = ("typename", "type_name", "eventlabel")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


_NAME_TO_CODE = {_squash(name): code for code, name in TYPE_NAMES.items()}


# ---------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    value: str
    #: When the token stops being valid (UTC).
    expires_at: dt.datetime
    lifetime: dt.timedelta

    def needs_refresh(self, now: dt.datetime) -> bool:
        """True once less than a quarter of the lifetime (at most 2 minutes) is left."""
        margin = min(self.lifetime / 4, dt.timedelta(minutes=2))
        return now >= self.expires_at - margin


def parse_token_response(payload: t.Any, now: dt.datetime) -> Token:
    """Read ``{"Token": ..., "Expires": 60}`` (older docs) or ``{"token": ..., "expire...": ...}``.

    The expiry is minutes (documented for ``Expires``); an ISO date-time is read as the moment
    the token expires. Without a usable expiry the documented "about 60 minutes" is assumed.
    """
    if not isinstance(payload, dict):
        raise TapError(
            f"Xenioo token exchange returned {type(payload).__name__} where an object with a "
            "token was expected; check xenioo.service_endpoint"
        )
    lowered = {str(key).lower(): value for key, value in payload.items()}
    token = next(
        (lowered[k] for k in ("token", "access_token", "accesstoken") if k in lowered), None
    )
    if not isinstance(token, str) or not token.strip():
        keys = ", ".join(sorted(str(k) for k in payload)[:10]) or "none"
        raise TapError(
            f"Xenioo token exchange answered without a token (keys: {keys}); "
            "check xenioo.service_endpoint"
        )
    lifetime = dt.timedelta(minutes=DEFAULT_TOKEN_MINUTES)
    expires_at = now + lifetime
    for key, value in lowered.items():
        if not key.startswith("expire"):
            continue
        parsed = _expiry(value, now)
        if parsed is not None:
            expires_at = parsed
            lifetime = max(parsed - now, dt.timedelta(0))
            break
    return Token(token.strip(), expires_at, lifetime)


def _expiry(value: t.Any, now: dt.datetime) -> dt.datetime | None:
    minutes: float | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        minutes = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            minutes = float(text)
        except ValueError:
            try:
                when = dt.datetime.fromisoformat(text)
            except ValueError:
                return None
            when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when
            return when.astimezone(dt.UTC)
    if minutes is None or not math.isfinite(minutes) or minutes <= 0 or minutes > 60 * 24 * 366:
        return None
    return now + dt.timedelta(minutes=minutes)


# ---------------------------------------------------------------------------- rows

_LABEL_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m",
    "%Y/%m",
    "%Y",
)
_TRUNCATE = {
    "minute": lambda d: d.replace(minute=d.minute - d.minute % 10, second=0, microsecond=0),
    "hour": lambda d: d.replace(minute=0, second=0, microsecond=0),
    "day": lambda d: d.replace(hour=0, minute=0, second=0, microsecond=0),
    "month": lambda d: d.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
    "year": lambda d: d.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
}


def parse_group_label(label: t.Any, group_mode: str) -> str | None:
    """The start of the bucket a ``GroupLabel`` names, as fixed-width ISO UTC, or None.

    The label format is not documented: year-first forms (``2024``, ``2024-05``, ``2024-05-01``,
    ``2024-05-01 13:00``, ISO date-times with an offset) are read; anything ambiguous such as
    ``05/01/2024`` or a bare hour is left unparsed (the raw label is always kept).
    """
    if not isinstance(label, str):
        return None
    text = label.strip()
    if not text or len(text) > 40:
        return None
    parsed: dt.datetime | None = None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)", text):
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        for pattern in _LABEL_FORMATS:
            try:
                parsed = dt.datetime.strptime(text, pattern)  # naive: UTC assumed
            except ValueError:
                continue
            break
    if parsed is None or parsed.year < 1970:
        return None
    parsed = parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    truncate = _TRUNCATE.get(group_mode)
    if truncate is not None:
        parsed = truncate(parsed)
    return format_timestamp(parsed)


def derive_type(row: dict[str, t.Any], requested: t.Sequence[int]) -> int | None:
    """A row's type code: from a type-code field, a type-name field, or the only type asked."""
    lowered = {str(key).lower(): value for key, value in row.items()}
    for key in _TYPE_CODE_KEYS:
        value = lowered.get(key)
        code = _as_code(value)
        if code is not None:
            return code
        if isinstance(value, str) and _squash(value) in _NAME_TO_CODE:
            return _NAME_TO_CODE[_squash(value)]
    for key in _TYPE_NAME_KEYS:
        value = lowered.get(key)
        if isinstance(value, str) and _squash(value) in _NAME_TO_CODE:
            return _NAME_TO_CODE[_squash(value)]
    if len(requested) == 1:
        return int(requested[0])
    return None


def _as_code(value: t.Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in TYPE_NAMES else None
    if isinstance(value, float) and value.is_integer():
        return _as_code(int(value))
    if isinstance(value, str) and value.strip().isdigit():
        return _as_code(int(value.strip()))
    return None


def _as_label(value: t.Any) -> str:
    """Identifying fields are primary-key columns: always a string ("" when absent). Their JSON
    type is not documented: a string is kept as it is, anything else becomes its JSON text
    (``2024``, ``true``, ``{"id":1}``) and the value itself is also kept in ``extra_fields``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(to_json_text(value))


def normalise_row(
    raw: t.Any,
    *,
    level: str,
    api_key: str,
    group_mode: str,
    days: int,
    types: t.Sequence[int] | None,
    retrieved_at: str,
) -> dict[str, t.Any]:
    """One API row as a record (pure). ``types`` is None for delivery statistics."""
    if not isinstance(raw, dict):
        raise TapError(
            f"Xenioo returned a statistics row that is not an object ({type(raw).__name__}) "
            f"for api key {api_key}"
        )
    record: dict[str, t.Any] = {key: _as_label(raw.get(key)) for key in IDENTIFYING_FIELDS}
    # Every other field whole (names and types not documented), and an identifying field that
    # is not a string as it came (its column holds the JSON text).
    extra = {
        str(key): value
        for key, value in raw.items()
        if key not in IDENTIFYING_FIELDS or not (value is None or isinstance(value, str))
    }
    record["extra_fields"] = extra
    record["level"] = level
    record["api_key"] = api_key
    record["group_mode"] = group_mode
    record["days"] = days
    label = raw.get("GroupLabel")
    if isinstance(label, int) and not isinstance(label, bool):
        label = str(label)  # a year written as a number (group mode year)
    record["period_start"] = parse_group_label(label, group_mode)
    record["retrieved_at"] = retrieved_at
    if types is not None:
        code = derive_type(raw, types)
        record["type_code"] = code
        record["type_name"] = TYPE_NAMES.get(code) if code is not None else None
    return record


def extract_rows(payload: t.Any, what: str) -> list[t.Any]:
    """The array of statistics in a body (tolerates one wrapping object holding one list)."""
    rows = unwrap_rows(payload)
    if rows is None:
        raise TapError(f"Xenioo returned {describe_payload(payload)} where {what} was expected")
    return rows


# ---------------------------------------------------------------------------- throttle budget


@dataclass(frozen=True)
class Budget:
    """What state says about one throttled call."""

    last_call_at: dt.datetime | None
    throttled_at: dt.datetime | None

    def next_allowed(self, window: dt.timedelta) -> dt.datetime | None:
        moments = [m for m in (self.last_call_at, self.throttled_at) if m is not None]
        return max(moments) + window if moments else None

    def allows(self, now: dt.datetime, window: dt.timedelta, grace: dt.timedelta) -> bool:
        """A call may be made unless the window since the last call (or throttle answer) is
        still open by more than ``grace`` (runs scheduled exactly one window apart still call)."""
        allowed = self.next_allowed(window)
        return allowed is None or now + grace >= allowed


def read_moment(value: t.Any) -> dt.datetime | None:
    """A moment stored in state; anything unreadable counts as absent (never blocks a run)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def budget_from_state(state: t.Mapping[str, t.Any], key: str) -> Budget:
    entry = state.get(key)
    if not isinstance(entry, dict):
        return Budget(None, None)
    return Budget(read_moment(entry.get("last_call_at")), read_moment(entry.get("throttled_at")))


def pick_api_key(api_keys: t.Sequence[str], calls: t.Mapping[str, t.Any]) -> str:
    """The api key whose last call is oldest (never-called keys first, in configured order)."""
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return min(api_keys, key=lambda key: read_moment(calls.get(key)) or epoch)
