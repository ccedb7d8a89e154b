"""Timestamp normalisation: whatever a vendor sends becomes one sortable ISO-8601 UTC string."""

from __future__ import annotations

import datetime as dt
import math
import re
import typing as t

UTC = dt.UTC
_NUMERIC = re.compile(r"^-?\d+(\.\d+)?$")
# Epoch values above these are milliseconds / microseconds rather than seconds.
_MS_THRESHOLD = 100_000_000_000  # year 5138 in seconds
_US_THRESHOLD = 100_000_000_000_000


def parse_timestamp(value: object) -> dt.datetime | None:
    """Parse epoch seconds/milliseconds/microseconds or an ISO-8601 string into aware UTC.

    Naive date-times are taken as UTC. Returns None for None/empty; raises ValueError for
    anything it cannot interpret (never guesses).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, (int, float)):
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if _NUMERIC.match(text):
            return _from_epoch(float(text))
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a timestamp: {value!r}") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError(f"not a timestamp: {value!r}")


def _from_epoch(number: float) -> dt.datetime:
    if not math.isfinite(number):
        raise ValueError(f"not a timestamp: {number!r}")
    magnitude = abs(number)
    if magnitude >= _US_THRESHOLD:
        number /= 1_000_000
    elif magnitude >= _MS_THRESHOLD:
        number /= 1_000
    try:
        return dt.datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp out of range: {number!r}") from None


def format_timestamp(value: dt.datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so string order equals time order (state compares strings)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


#: Already-UTC ISO forms (``...SSZ``, ``...SS.fffZ``, ``...SS.ffffff+00:00``): rewritten without
#: building a datetime (this runs once or twice per record).
_UTC_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{3}|\d{6}))?(?:Z|\+00:00)")


def normalise_timestamp(value: object) -> str | None:
    """``parse_timestamp`` then ``format_timestamp``."""
    if value.__class__ is str:
        text = t.cast("str", value)
        if (  # the commonest form, ...SS.ffffffZ: rewritten by slicing (a regex costs more)
            len(text) == 27
            and text[26] == "Z"
            and text[19] == "."
            and text[10] == "T"
            and text[4] == text[7] == "-"
            and text[13] == text[16] == ":"
        ):
            head = text[:26]
            # validates digits and ranges (ValueError, as the slow path would); a time zone
            # inside the head (a short fraction followed by an offset) is not this form
            if dt.datetime.fromisoformat(head).tzinfo is None:
                return head + "+00:00"
        match = _UTC_ISO.fullmatch(text)
        if match:
            whole, fraction = match.groups()
            dt.datetime.fromisoformat(whole)  # validates (ValueError), as the slow path would
            return f"{whole}.{(fraction or '').ljust(6, '0')}+00:00"
    parsed = parse_timestamp(value)
    return None if parsed is None else format_timestamp(parsed)


def canonical_instant(value: object) -> str | None:
    """Any spelling of an instant (ISO-8601 with ``Z`` or any offset, date-only, naive as UTC,
    a datetime) in the records' one form: fixed-width UTC, ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``.

    Two values in this form compare as strings exactly as the instants they name compare, which
    is why every bound, bookmark and record key is brought to it before any comparison (an ISO
    string with ``Z`` or ``+09:00`` does not sort as its instant). Epoch numbers are not accepted
    here: a config date or a bookmark is never one. None for None/empty; ValueError otherwise.
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and _NUMERIC.match(value.strip())
    ):
        raise ValueError(f"not an ISO-8601 date-time: {value!r}")
    return normalise_timestamp(value)


def canonical_day(value: object) -> str | None:
    """A day-granular bookmark (``YYYY-MM-DD``) from any ISO-8601 spelling: the calendar day
    as written (``2024-02-01T00:00:00+09:00`` is the 1st)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise ValueError(f"not an ISO-8601 date: {value!r}") from None
