"""Date-window planning: pure functions, no I/O.

A window is half-open: ``[start, end)``. Windows returned by the planners are contiguous,
non-overlapping, ordered, cover the requested range exactly and are never longer than the
vendor's maximum.
"""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t
from dataclasses import dataclass

T = t.TypeVar("T")
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class DayWindow:
    """Whole days ``[start, end)``; ``last_day`` is the inclusive end a vendor may want."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> dt.date:
        return self.end - ONE_DAY

    def __str__(self) -> str:
        if self.days == 1:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.last_day.isoformat()}"


@dataclass(frozen=True, order=True)
class TimeWindow:
    """A date-time range ``[start, end)`` (timezone-aware)."""

    start: dt.datetime
    end: dt.datetime

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def plan_day_windows(start: dt.date, end: dt.date, max_days: int) -> list[DayWindow]:
    """Split the days ``[start, end)`` into windows of at most ``max_days`` days."""
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    windows: list[DayWindow] = []
    cursor = start
    step = dt.timedelta(days=max_days)
    while cursor < end:
        stop = min(cursor + step, end)
        windows.append(DayWindow(cursor, stop))
        cursor = stop
    return windows


def plan_time_windows(start: dt.datetime, end: dt.datetime, size: dt.timedelta) -> list[TimeWindow]:
    """Split ``[start, end)`` into windows of at most ``size``."""
    if size <= dt.timedelta(0):
        raise ValueError("size must be positive")
    windows: list[TimeWindow] = []
    cursor = start
    while cursor < end:
        stop = min(cursor + size, end)
        windows.append(TimeWindow(cursor, stop))
        cursor = stop
    return windows


def split_day_window(window: DayWindow) -> tuple[DayWindow, DayWindow] | None:
    """Split a window in two halves (the first gets the extra day); None for one day."""
    if window.days <= 1:
        return None
    middle = window.start + dt.timedelta(days=(window.days + 1) // 2)
    return DayWindow(window.start, middle), DayWindow(middle, window.end)


@dataclass
class WindowResult(t.Generic[T]):
    """Rows read for one leaf window; ``truncated`` when a one-day window still hit the cap."""

    window: DayWindow
    rows: list[T]
    truncated: bool = False


def read_with_cap(
    window: DayWindow,
    fetch: t.Callable[[DayWindow], list[T]],
    cap: int,
) -> t.Iterator[WindowResult[T]]:
    """Read ``window`` through ``fetch``; any response of ``cap`` rows or more may be cut.

    Such a window is split in halves and each half is re-read, down to one day. A one-day window
    that still returns ``cap`` rows cannot be read more completely: it is yielded with
    ``truncated=True`` so the caller can warn. Results come in window order.
    """
    stack = [window]
    while stack:
        current = stack.pop()
        rows = fetch(current)
        if len(rows) < cap:
            yield WindowResult(current, rows)
            continue
        halves = split_day_window(current)
        if halves is None:
            yield WindowResult(current, rows, truncated=True)
            continue
        stack.extend(reversed(halves))


def read_sorted_with_cap(
    window: DayWindow,
    fetch: t.Callable[[DayWindow], list[T]],
    cap: int,
    day_of: t.Callable[[T], dt.date | None],
) -> t.Iterator[WindowResult[T]]:
    """Like ``read_with_cap``, but uses what a capped answer says when rows come sorted by time.

    A capped answer whose rows are in time order holds every row of the days before its last
    row's day: those days are kept and the next call starts at that day (the greedy plan an
    oracle knowing per-day counts would choose). When the first day alone fills the cap it is
    yielded ``truncated``. Rows out of time order, or dated outside the window, fall back to
    halving (``read_with_cap``) for the rest of the window.
    """
    cursor = window.start
    while cursor < window.end:
        current = DayWindow(cursor, window.end)
        rows = fetch(current)
        if len(rows) < cap:
            yield WindowResult(current, rows)
            return
        days = [day_of(row) for row in rows]
        if any(d is None or not cursor <= d < window.end for d in days) or any(
            a > b  # type: ignore[operator]
            for a, b in itertools.pairwise(days)
        ):
            yield from read_with_cap(current, fetch, cap)
            return
        last = t.cast("dt.date", days[-1])
        if last == cursor:
            yield WindowResult(DayWindow(cursor, cursor + ONE_DAY), rows, truncated=True)
            cursor += ONE_DAY
            continue
        kept = [row for row, day in zip(rows, days, strict=True) if day != last]
        yield WindowResult(DayWindow(cursor, last), kept)
        cursor = last


def minimal_calls(
    counts: t.Mapping[dt.date, int], start: dt.date, end: dt.date, cap: int, max_days: int
) -> int:
    """Fewest calls that read ``[start, end)`` completely, knowing every day's row count.

    A call covers at most ``max_days`` contiguous days and must return fewer than ``cap`` rows
    (a one-day call is accepted whatever its count). Greedy (longest window first) is optimal
    for contiguous windows with a monotone constraint.
    """
    calls = 0
    cursor = start
    while cursor < end:
        stop = cursor + ONE_DAY
        rows = counts.get(cursor, 0)
        while stop < end and (stop - cursor).days < max_days and rows + counts.get(stop, 0) < cap:
            rows += counts.get(stop, 0)
            stop += ONE_DAY
        calls += 1
        cursor = stop
    return calls


def to_date(value: dt.datetime) -> dt.date:
    """The UTC calendar day of an aware date-time."""
    return value.astimezone(dt.UTC).date()


def ceil_day(value: dt.datetime) -> dt.date:
    """The first UTC day boundary at or after ``value`` (as a date)."""
    utc = value.astimezone(dt.UTC)
    day = utc.date()
    if utc.time() == dt.time(0, 0):
        return day
    return day + ONE_DAY


def split_time_window(
    window: TimeWindow, parts: int, min_span: dt.timedelta = dt.timedelta(seconds=1)
) -> list[TimeWindow]:
    """Split ``window`` into at most ``parts`` contiguous windows of near-equal length.

    Inner bounds fall on whole seconds (APIs that take millisecond times then see exactly the
    same bounds) and no part is shorter than ``min_span`` (at least one second) except when the
    window itself is: fewer parts are returned rather than shorter ones. The parts cover the
    window exactly, in order.
    """
    step = max(min_span, dt.timedelta(seconds=1))
    span = window.end - window.start
    parts = min(parts, span // step)
    bounds = [window.start]
    for index in range(1, max(parts, 1)):
        cut = window.start + span * index / parts
        cut = cut.replace(microsecond=0)
        if cut - bounds[-1] >= step and window.end - cut >= step:
            bounds.append(cut)
    bounds.append(window.end)
    return [TimeWindow(a, b) for a, b in itertools.pairwise(bounds)]
