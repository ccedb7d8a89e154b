"""JAICP paging and row shaping: pure functions (no I/O), used by ``vendors/jaicp.py``.

Pages are ``{paging: {pageNum, pageSize, totalCount}, <list>: [...]}``. ``read_pages`` stops on
``totalCount``, on an empty page or on a page that repeats, and asks for a re-read when the total
changes while a window is paged.
"""

from __future__ import annotations

import datetime as dt
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
