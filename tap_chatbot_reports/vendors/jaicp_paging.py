"""JAICP paging and row shaping: pure functions (no I/O), used by ``vendors/jaicp.py``.

Pages are ``{paging: {pageNum, pageSize, totalCount}, <list>: [...]}``. ``read_pages`` stops on
``totalCount``, on an empty page or on a page that repeats, and asks for a re-read when the total
changes while a window is paged.
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from dataclasses import dataclass

import jsonschema

from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.timeparse import normalise_timestamp

# ---------------------------------------------------------------------------- pure helpers


def format_api_time(value: dt.datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ss.SSSZ`` in UTC (the spec's date-time format)."""
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


_MILLISECOND = dt.timedelta(milliseconds=1)


def request_range(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The ``from``/``to`` to send for the rows of ``[start, end)``, whatever the bounds'
    inclusivity (not documented): ``from`` one millisecond (the format's unit) before
    ``start``'s millisecond, ``to`` ``end`` rounded up to a whole millisecond. An exclusive
    ``from`` then still returns a row at ``start``, an exclusive ``to`` a row just before ``end``;
    the rows an inclusive reading adds (at ``from``, at ``to``) lie outside ``[start, end)`` and
    the caller drops them (they belong to the neighbouring windows, which ask for them too)."""
    low = start.astimezone(dt.UTC)
    low = low.replace(microsecond=low.microsecond // 1000 * 1000) - _MILLISECOND
    high = end.astimezone(dt.UTC)
    rest = high.microsecond % 1000
    if rest:
        high += dt.timedelta(microseconds=1000 - rest)
    return low, high


def range_filter(key: str, start: dt.datetime, end: dt.datetime) -> dict[str, t.Any]:
    """A ``FiltersDto`` with one ``DATE_TIME_RANGE`` filter."""
    return {
        "filters": [
            {
                "key": key,
                "type": "DATE_TIME_RANGE",
                "from": format_api_time(start),
                "to": format_api_time(end),
            }
        ]
    }


@dataclass(frozen=True)
class Page:
    items: list[dict[str, t.Any]]
    total: int
    page_size: int | None


class WindowChangedError(Exception):
    """``paging.totalCount`` changed while a window was paged."""


class PageSizeCappedError(Exception):
    """The API answered with a smaller ``paging.pageSize`` than requested."""

    def __init__(self, size: int) -> None:
        super().__init__(f"page size capped at {size}")
        self.size = size


def _int(value: t.Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def parse_page(payload: t.Any, list_key: str, where: str) -> Page:
    """``{paging: {pageNum, pageSize, totalCount}, <list_key>: [...]}``; TapError if not that."""
    if not isinstance(payload, dict):
        raise TapError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    items = payload.get(list_key)
    paging = payload.get("paging")
    if not isinstance(items, list) or not isinstance(paging, dict):
        keys = ", ".join(sorted(repr(str(k)[:40]) for k in payload)[:10])
        raise TapError(f"{where}: expected '{list_key}' and 'paging' in the response (got {keys})")
    total = _int(paging.get("totalCount"))
    if total is None or total < 0:
        raise TapError(f"{where}: paging.totalCount is not a count: {paging.get('totalCount')!r}")
    if not all(isinstance(item, dict) for item in items):
        raise TapError(f"{where}: '{list_key}' holds a value that is not an object")
    return Page(items, total, _int(paging.get("pageSize")))


@dataclass
class PagedRead:
    rows: list[dict[str, t.Any]]
    total: int
    pages: int
    stopped: str  # "total", "empty" or "repeat"


def read_pages(
    fetch: t.Callable[[int, int], Page], size: int, key: t.Callable[[dict[str, t.Any]], t.Any]
) -> PagedRead:
    """Read pages 0, 1, ... of one window (pure; ``fetch(page, size)`` does the I/O).

    Stops when ``(page + 1) * size >= totalCount``, on an empty page, or on a page that adds no
    new row (a repeated page). Rows are de-duplicated by ``key``. Raises WindowChangedError when
    ``totalCount`` changes between pages and PageSizeCappedError when the API answers with a
    smaller ``pageSize`` than requested (pages would then skip rows).
    """
    seen: set[t.Any] = set()
    rows: list[dict[str, t.Any]] = []
    total: int | None = None
    page = 0
    while True:
        result = fetch(page, size)
        if result.page_size is not None and 0 < result.page_size < size:
            raise PageSizeCappedError(result.page_size)
        if total is None:
            total = result.total
        elif result.total != total:
            raise WindowChangedError(f"totalCount changed from {total} to {result.total}")
        if not result.items:
            return PagedRead(rows, total, page + 1, "empty")
        new = 0
        for item in result.items:
            ident = key(item)
            if ident not in seen:
                seen.add(ident)
                rows.append(item)
                new += 1
        if new == 0:
            return PagedRead(rows, total, page + 1, "repeat")
        if (page + 1) * size >= total:
            return PagedRead(rows, total, page + 1, "total")
        page += 1


_VALIDATORS: dict[int, jsonschema.protocols.Validator] = {}


def _validator(schema: dict[str, t.Any]) -> jsonschema.protocols.Validator:
    key = id(schema)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = jsonschema.Draft7Validator(schema)
    return _VALIDATORS[key]


def _str_id(value: t.Any) -> t.Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


def normalise_row(
    raw: dict[str, t.Any],
    schema: dict[str, t.Any],
    time_fields: t.Sequence[str],
    id_fields: t.Sequence[str],
    where: str,
) -> dict[str, t.Any]:
    """Keep the schema's keys, move other top-level keys to ``extra_fields``, normalise
    date-times (TapError on one that cannot be read) and string ids."""
    known = schema["properties"]
    record = {k: v for k, v in raw.items() if k in known and k != "extra_fields"}
    extra = {k: v for k, v in raw.items() if k not in known or k == "extra_fields"}
    if extra:
        record["extra_fields"] = extra
    for name in id_fields:
        if name in record:
            record[name] = _str_id(record[name])
    client = record.get("client")
    if isinstance(client, dict) and "id" in client:
        record["client"] = {**client, "id": _str_id(client["id"])}
    for name in time_fields:
        if name not in record:
            continue
        try:
            record[name] = normalise_timestamp(record[name])
        except ValueError:
            raise TapError(
                f"{where}: {name} cannot be read as a date-time: {str(record[name])[:40]!r}"
            ) from None
    return record


Normaliser = t.Callable[[dict[str, t.Any], str], dict[str, t.Any]]
#: The API's date-time form (ASCII digits only; anything else takes normalise_timestamp).
_API_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
).fullmatch
_from_iso = dt.datetime.fromisoformat


def compile_normaliser(
    schema: dict[str, t.Any], time_fields: t.Sequence[str], id_fields: t.Sequence[str]
) -> Normaliser:
    """``normalise_row`` for one schema and field lists, with the per-schema work done once.

    Returns ``normalise(raw, where)`` giving exactly what ``normalise_row(raw, schema,
    time_fields, id_fields, where)`` gives (``raw`` is not modified): the known keys become a
    frozen set, undeclared keys are found with one set difference instead of a scan of every
    key, and each time field remembers its last input (messages of one session share their
    ``sessionStartTime``), so a repeated value is not parsed again; a value in the spec's
    ``yyyy-MM-ddTHH:mm:ss.SSSZ`` form is rewritten by slicing.
    """
    known = frozenset(k for k in schema["properties"] if k != "extra_fields")
    ids = tuple(id_fields)
    times = tuple(time_fields)
    last: list[tuple[t.Any, t.Any]] = [(None, None)] * len(times)

    def normalise(raw: dict[str, t.Any], where: str) -> dict[str, t.Any]:
        record = raw.copy()
        undeclared = raw.keys() - known
        if undeclared:
            if len(undeclared) == 1:
                (name,) = undeclared
                record["extra_fields"] = {name: record.pop(name)}
            else:
                record["extra_fields"] = {k: record.pop(k) for k in raw if k in undeclared}
        for name in ids:
            if name in record:
                value = record[name]
                if value.__class__ is not str:
                    record[name] = _str_id(value)
        client = record.get("client")
        if isinstance(client, dict) and "id" in client:
            value = client["id"]
            if value.__class__ is not str:
                record["client"] = {**client, "id": _str_id(value)}
        for index, name in enumerate(times):
            if name not in record:
                continue
            value = record[name]
            seen, result = last[index]
            if value.__class__ is str and value == seen:
                record[name] = result
                continue
            try:
                if value.__class__ is str and _API_TIME(value):
                    # The spec's own form: what normalise_timestamp returns, without its
                    # general pattern (same validation of the date and time).
                    _from_iso(value[:19])
                    result = value[:23] + "000+00:00"
                else:
                    result = normalise_timestamp(value)
            except ValueError:
                raise TapError(
                    f"{where}: {name} cannot be read as a date-time: {str(value)[:40]!r}"
                ) from None
            if value.__class__ is str:
                last[index] = (value, result)
            record[name] = result
        return record

    return normalise
