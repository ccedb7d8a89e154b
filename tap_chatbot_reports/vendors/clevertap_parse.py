"""CleverTap Get Message Reports: pure parsing of response bodies (no I/O).

Documented (shared/vendor-apis.md 2.5): an envelope ``{"status": "success", "total_results": n,
"messages": [...]}``; each message has a ``"message id"`` key (with a space) and a ``data`` value
shaped as an array of arrays of ``{sent, viewed, clicked}`` objects. Not documented: where the day
is when ``daily`` is true. This module accepts the shapes below and raises ``ShapeError`` (one
line) for anything else, so the tap never emits rows it had to guess:

* aggregate: count objects without a date, at any nesting of arrays (``[[{...}]]``, ``[{...}]``,
  ``{...}``); several objects (A/B variants, assumption) are summed;
* per day, dated entries: count objects carrying a day under ``date``, ``day``, ``report_date``
  or ``dt`` (``YYYYMMDD`` number or string, or ``YYYY-MM-DD``);
* per day, keyed: an object whose keys are all days, each holding count objects.

With ``daily`` requested, an answer without days is an error naming ``clevertap.daily``: the
request's ``to`` is one day past the window (its inclusivity is not documented), so an
undated answer cannot be pinned to a day.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from dataclasses import dataclass, field

from tap_chatbot_reports.schema_types import to_json_text

DATE_KEYS = ("date", "day", "report_date", "dt")
COUNTERS = ("sent", "viewed", "clicked")
MAX_DEPTH = 6
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_COMPACT_DAY = re.compile(r"^\d{8}$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Documented message fields (normalised names) and their kind (vendor-apis.md 2.5); everything
#: else is kept whole in ``extra_fields``. ``data`` and ``message_id`` are handled separately.
#: Strings (documented): a number is written as text, an object or array is an error.
STRING_FIELDS = ("message_name", "channel", "delivery", "status", "start_date")
#: Arrays of strings (documented, ``device``): an item that is an object or array is an error.
STRING_LIST_FIELDS = ("device",)
#: Arrays whose item type is not documented (``labels``: the example is ``[]``): a string item
#: is kept as it is, any other item as its JSON text, so nothing is lost or guessed.
ANY_ITEM_LIST_FIELDS = ("labels",)
#: Type not documented (``conversion_event``: ``null`` in the example): kept whole, any form.
ANY_FIELDS = ("conversion_event",)
_HANDLED = {
    "message_id",
    "data",
    *STRING_FIELDS,
    *STRING_LIST_FIELDS,
    *ANY_ITEM_LIST_FIELDS,
    *ANY_FIELDS,
}


class ShapeError(ValueError):
    """A response (or part of one) that cannot be interpreted; the message is one line."""


def normalise_key(key: str) -> str:
    """``"message id"`` -> ``message_id``; ``messageName`` -> ``message_name``.

    Lower-case letters, digits and single underscores only; never empty (``_`` for a key with no
    letters or digits).
    """
    text = _CAMEL.sub("_", str(key)).lower()
    text = _NOT_WORD.sub("_", text).strip("_")
    return text or "_"


def parse_day(value: object) -> dt.date:
    """A day as the API may write it: ``20240105``, ``"20240105"`` or ``"2024-01-05"``."""
    if isinstance(value, bool):
        raise ShapeError(f"not a day: {value!r}")
    text = str(value).strip() if isinstance(value, (int, str)) else None
    try:
        if text and _COMPACT_DAY.match(text):
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if text and _ISO_DAY.match(text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    raise ShapeError(f"not a day: {_short(value)}")


def compact_day(day: dt.date) -> str:
    """The ``YYYYMMDD`` form the API expects in ``from``/``to``."""
    return day.strftime("%Y%m%d")


def fail_info(payload: object) -> tuple[int | None, str] | None:
    """``(code, error text)`` when the body is CleverTap's ``status: fail`` form, else None."""
    if not isinstance(payload, dict) or str(payload.get("status", "")).lower() != "fail":
        return None
    raw_code = payload.get("code")
    code: int | None = None
    if isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code = raw_code
    elif isinstance(raw_code, str) and raw_code.strip().isdigit():
        code = int(raw_code.strip())
    error = payload.get("error")
    if error is None:
        error = payload.get("message")
    text = " ".join(str(error).split()) if error is not None else "no error text"
    return code, text[:300]


def is_retriable_code(code: int | None) -> bool:
    """429 (too many concurrent requests) and 5xx are transient; everything else is not."""
    return code is not None and (code == 429 or 500 <= code <= 599)


def extract_messages(payload: object) -> tuple[list[t.Any], int | None]:
    """The ``messages`` list and ``total_results`` of a success envelope."""
    if not isinstance(payload, dict):
        raise ShapeError(f"expected a JSON object, got {_type(payload)}")
    status = payload.get("status")
    if status is not None and str(status).lower() != "success":
        raise ShapeError(f"unexpected status {_short(status)}")
    total = payload.get("total_results")
    total_results = total if isinstance(total, int) and not isinstance(total, bool) else None
    messages = payload.get("messages")
    if messages is None:
        if total_results == 0:
            return [], 0
        keys = ", ".join(sorted(str(k) for k in payload)[:10])
        raise ShapeError(f"no 'messages' list in the response (keys: {keys})")
    if not isinstance(messages, list):
        raise ShapeError(f"'messages' is {_type(messages)}, not a list")
    return messages, total_results


@dataclass
class DataShape:
    """The ``data`` of one message: undated entries, or entries per day."""

    undated: list[dict[str, t.Any]] = field(default_factory=list)
    by_day: dict[dt.date, list[dict[str, t.Any]]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.by_day:
            return "daily"
        return "aggregate" if self.undated else "empty"


def classify_data(data: object) -> DataShape:
    """Sort the count objects of a message's ``data`` into undated ones and ones per day."""
    shape = DataShape()
    if data is None:
        return shape
    if isinstance(data, dict) and data and not _looks_like_counts(data):
        days: dict[dt.date, object] = {}
        for key, value in data.items():
            try:
                days[parse_day(key)] = value
            except ShapeError:
                raise ShapeError(
                    f"'data' is an object with key {_short(key)} that is neither a day nor a count"
                ) from None
        for day, value in days.items():
            for entry in _leaves(value, 0):
                entry_day = _entry_day(entry)
                if entry_day is not None and entry_day != day:
                    raise ShapeError(f"'data' entry for day {day} carries another day {entry_day}")
                shape.by_day.setdefault(day, []).append(entry)
        return shape
    for entry in _leaves(data, 0):
        entry_day = _entry_day(entry)
        if entry_day is None:
            shape.undated.append(entry)
        else:
            shape.by_day.setdefault(entry_day, []).append(entry)
    if shape.undated and shape.by_day:
        raise ShapeError("'data' mixes entries with and without a day")
    return shape


def sum_metrics(entries: t.Iterable[dict[str, t.Any]]) -> dict[str, int | float]:
    """Every numeric field summed over the entries (day keys excluded)."""
    totals: dict[str, int | float] = {}
    for entry in entries:
        for key, value in entry.items():
            if key in DATE_KEYS or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                name = normalise_key(key)
                totals[name] = totals.get(name, 0) + value
    return totals


def message_rows(
    raw: object,
    *,
    account_id: str,
    window_start: dt.date,
    window_last_day: dt.date,
    daily: bool,
) -> list[dict[str, t.Any]]:
    """Records for one message of one response: one per day (``daily``) or one aggregate."""
    if not isinstance(raw, dict):
        raise ShapeError(f"a message is {_type(raw)}, not an object")
    fields, extra = _split_fields(raw)
    message_id = _as_id(fields.get("message_id"))
    if message_id is None:
        raise ShapeError("a message has no 'message id'")
    try:
        base = _typed_fields(fields)
        shape = classify_data(fields.get("data"))
    except ShapeError as exc:
        raise ShapeError(f"message {message_id}: {exc}") from None
    base.update(
        account_id=account_id,
        message_id=message_id,
        window_from=window_start.isoformat(),
        window_to=window_last_day.isoformat(),
    )
    if extra:
        base["extra_fields"] = extra
    days: dict[dt.date, list[dict[str, t.Any]]]
    if not daily:
        if shape.kind == "daily":
            raise ShapeError(
                f"message {message_id}: per-day data in a response to daily=false; "
                "set clevertap.daily to true"
            )
        return [_row(base, None, shape.undated, message_id, raw_data=fields.get("data"))]
    if shape.kind == "aggregate":
        raise ShapeError(
            f"message {message_id}: data without days (count objects carrying no date, day, "
            "report_date or dt, and not keyed by day) although daily=true was sent; set "
            "clevertap.daily to false for one aggregate row per message"
        )
    days = shape.by_day
    return [_row(base, day, days[day], message_id) for day in sorted(days)]


# ---------------------------------------------------------------------- helpers


def _row(
    base: dict[str, t.Any],
    day: dt.date | None,
    entries: list[dict[str, t.Any]],
    message_id: str,
    *,
    raw_data: t.Any = None,
) -> dict[str, t.Any]:
    """One record; ``data`` is the message's ``data`` as it came when the row covers all of it
    (``raw_data``), else the count objects of the row's day."""
    record = dict(base)
    record["report_date"] = day.isoformat() if day else None
    metrics = sum_metrics(entries)
    for name in COUNTERS:
        value = metrics.get(name)
        if isinstance(value, float):
            if not value.is_integer():
                raise ShapeError(f"message {message_id}: {name} is not a whole number: {value}")
            value = int(value)
        record[name] = value
    record["metrics"] = metrics
    record["data"] = raw_data if raw_data is not None else entries
    return record


def _looks_like_counts(data: dict[t.Any, t.Any]) -> bool:
    return any(k in COUNTERS or k in DATE_KEYS for k in data) or any(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values()
    )


def _leaves(value: object, depth: int) -> t.Iterator[dict[str, t.Any]]:
    if depth > MAX_DEPTH:
        raise ShapeError("'data' is nested too deeply")
    if isinstance(value, dict):
        yield {str(k): v for k, v in value.items()}
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, depth + 1)
    elif value is not None:
        raise ShapeError(f"'data' holds {_type(value)} where count objects were expected")


def _entry_day(entry: dict[str, t.Any]) -> dt.date | None:
    for key in DATE_KEYS:
        if key in entry and entry[key] is not None:
            return parse_day(entry[key])
    return None


def _split_fields(raw: dict[t.Any, t.Any]) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """Documented fields by normalised name; the rest (normalised) for ``extra_fields``.

    When two keys normalise to the same name, the one already in normal form wins and the
    other is kept under its raw key in ``extra_fields``.
    """
    fields: dict[str, t.Any] = {}
    extra: dict[str, t.Any] = {}
    ordered = sorted(raw.items(), key=lambda kv: normalise_key(kv[0]) != str(kv[0]))
    for key, value in ordered:
        name = normalise_key(key)
        target = fields if name in _HANDLED else extra
        if name in target:
            extra[str(key)] = value
        else:
            target[name] = value
    return fields, extra


def _typed_fields(fields: dict[str, t.Any]) -> dict[str, t.Any]:
    typed: dict[str, t.Any] = {}
    for name in STRING_FIELDS:
        value = fields.get(name)
        if isinstance(value, (dict, list)):
            raise ShapeError(f"'{name}' is {_type(value)}, not a string")
        typed[name] = None if value is None else str(value)
    for name in (*STRING_LIST_FIELDS, *ANY_ITEM_LIST_FIELDS):
        value = fields.get(name)
        if isinstance(value, dict):
            raise ShapeError(f"'{name}' is an object, not an array")
        if value is not None and not isinstance(value, list):
            value = [value]
        if value is None:
            typed[name] = None
        elif name in ANY_ITEM_LIST_FIELDS:
            typed[name] = [to_json_text(item) if item is not None else "null" for item in value]
        elif any(isinstance(item, (dict, list)) for item in value):
            raise ShapeError(f"'{name}' holds values that are not strings")
        else:
            typed[name] = [str(item) for item in value]
    for name in ANY_FIELDS:
        typed[name] = fields.get(name)
    return typed


def _as_id(value: object) -> str | None:
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    return text or None


def _type(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
