"""Window planning: coverage, no overlap, size limits, and the adaptive split on row caps."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given
from hypothesis import strategies as st

from tap_chatbot_reports.windows import (
    DayWindow,
    ceil_day,
    minimal_calls,
    plan_day_windows,
    plan_time_windows,
    read_sorted_with_cap,
    read_with_cap,
    split_day_window,
)

dates = st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2035, 1, 1))


@given(dates, st.integers(min_value=0, max_value=800), st.integers(min_value=1, max_value=15))
def test_day_windows_cover_range_exactly_without_overlap(start, length, max_days):
    end = start + dt.timedelta(days=length)
    windows = plan_day_windows(start, end, max_days)
    covered = [w.start + dt.timedelta(days=i) for w in windows for i in range(w.days)]
    expected = [start + dt.timedelta(days=i) for i in range(length)]
    assert covered == expected  # every day once, in order
    assert all(1 <= w.days <= max_days for w in windows)
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


@given(
    st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=1, max_value=10**6),
)
def test_time_windows_are_contiguous_and_bounded(start, length_s, size_s):
    size_s = max(size_s, length_s // 2000 + 1)  # keep the window count small
    start = start.replace(tzinfo=dt.UTC)
    end = start + dt.timedelta(seconds=length_s)
    size = dt.timedelta(seconds=size_s)
    windows = plan_time_windows(start, end, size)
    if length_s == 0:
        assert windows == []
        return
    assert windows[0].start == start and windows[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert all(dt.timedelta(0) < w.end - w.start <= size for w in windows)


@given(dates, st.integers(min_value=2, max_value=40))
def test_split_halves_partition_the_window(start, days):
    window = DayWindow(start, start + dt.timedelta(days=days))
    halves = split_day_window(window)
    assert halves is not None
    first, second = halves
    assert first.start == window.start and first.end == second.start
    assert second.end == window.end and first.days >= second.days >= 1


def test_one_day_window_cannot_split():
    assert split_day_window(DayWindow(dt.date(2026, 1, 1), dt.date(2026, 1, 2))) is None


@given(
    st.lists(st.integers(min_value=0, max_value=1200), min_size=1, max_size=30),
    st.integers(min_value=5, max_value=600),
)
def test_read_with_cap_returns_every_row_of_uncapped_days(per_day, cap):
    """Against a fake API that cuts at `cap`: each day under the cap is read completely and
    exactly once; only days that alone exceed the cap are flagged truncated."""
    start = dt.date(2026, 3, 1)
    rows = {
        start + dt.timedelta(days=i): [f"{i}-{n}" for n in range(count)]
        for i, count in enumerate(per_day)
    }
    calls: list[DayWindow] = []

    def fetch(window: DayWindow) -> list[str]:
        calls.append(window)
        out = [
            r
            for day, day_rows in sorted(rows.items())
            if window.start <= day < window.end
            for r in day_rows
        ]
        return out[:cap]

    window = DayWindow(start, start + dt.timedelta(days=len(per_day)))
    results = list(read_with_cap(window, fetch, cap))
    got = [r for res in results for r in res.rows]
    assert len(got) == len(set(got))  # nothing twice
    for _day, day_rows in rows.items():
        if len(day_rows) < cap:
            assert set(day_rows) <= set(got)
    truncated_days = {res.window.start for res in results if res.truncated}
    assert truncated_days == {day for day, day_rows in rows.items() if len(day_rows) >= cap}
    assert [r.window for r in results] == sorted(r.window for r in results)


def test_ceil_day():
    assert ceil_day(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) == dt.date(2026, 1, 1)
    assert ceil_day(dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=dt.UTC)) == dt.date(2026, 1, 2)


# ---------------------------------------------------------------------------- sorted, capped reads

_DAY0 = dt.date(2026, 1, 1)


def _fake_api(counts: dict[dt.date, int], cap: int, calls: list[DayWindow]):
    def fetch(window: DayWindow) -> list[tuple[dt.date, int]]:
        calls.append(window)
        rows = [
            (window.start + dt.timedelta(days=d), n)
            for d in range(window.days)
            for n in range(counts.get(window.start + dt.timedelta(days=d), 0))
        ]
        return rows[:cap]

    return fetch


@given(
    st.lists(st.integers(0, 900), min_size=1, max_size=45),
    st.integers(1, 15),
)
def test_sorted_capped_reads_return_every_row_once_within_the_oracle_budget(day_counts, max_days):
    cap = 500
    counts = {_DAY0 + dt.timedelta(days=i): c for i, c in enumerate(day_counts)}
    end = _DAY0 + dt.timedelta(days=len(day_counts))
    calls: list[DayWindow] = []
    fetch = _fake_api(counts, cap, calls)
    got: list[tuple[dt.date, int]] = []
    covered: list[DayWindow] = []
    for window in plan_day_windows(_DAY0, end, max_days):
        for result in read_sorted_with_cap(window, fetch, cap, lambda row: row[0]):
            covered.append(result.window)
            got.extend(result.rows)
            if result.truncated:
                assert result.window.days == 1 and counts[result.window.start] >= cap
    # Every row of every day that fits in one call, exactly once; capped days give `cap` rows.
    expected = [
        (day, n) for day, count in counts.items() for n in range(count if count < cap else cap)
    ]
    assert sorted(got) == sorted(expected)
    assert len(got) == len(set(got))
    # Leaf windows tile the range in order.
    assert covered[0].start == _DAY0 and covered[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(covered))
    # Calls: within the oracle's minimum plus one per planned window (planned boundaries).
    planned = len(plan_day_windows(_DAY0, end, max_days))
    assert len(calls) <= minimal_calls(counts, _DAY0, end, cap, max_days) + planned


def test_minimal_calls_is_the_greedy_plan():
    counts = {_DAY0 + dt.timedelta(days=i): c for i, c in enumerate([100, 300, 200, 600, 10, 10])}
    # [d0,d1] 400 | [d2] 200 (+600 would exceed) | [d3] 600 alone | [d4,d5] 20
    assert minimal_calls(counts, _DAY0, _DAY0 + dt.timedelta(days=6), 500, 15) == 4


def test_unsorted_capped_answers_fall_back_to_halving():
    counts = {_DAY0 + dt.timedelta(days=i): 200 for i in range(6)}
    calls: list[DayWindow] = []
    sorted_fetch = _fake_api(counts, 500, calls)

    def fetch(window: DayWindow) -> list[tuple[dt.date, int]]:
        return list(reversed(sorted_fetch(window)))

    window = DayWindow(_DAY0, _DAY0 + dt.timedelta(days=6))
    results = list(read_sorted_with_cap(window, fetch, 500, lambda row: row[0]))
    assert sum(len(r.rows) for r in results) == 1200
    assert [r.window for r in results] == sorted(r.window for r in results)
