"""JAICP bounded windows: dense ranges are split, rows held stay bounded, records are unchanged;
the compiled row normaliser equals ``normalise_row``; daily stats windows are fetched concurrently.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import logging
import math
import re
import threading
import typing as t
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import jaicp as fake
from sandbox.jaicp_data import generate_project
from sandbox.server import Sandbox
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.tap import TapChatbotReports
from tap_chatbot_reports.vendors.jaicp_paging import compile_normaliser, normalise_row
from tap_chatbot_reports.vendors.jaicp_schemas import MESSAGE_SCHEMA
from tap_chatbot_reports.windows import TimeWindow, split_time_window
from tests.tapio import run_tap

DAY = dt.date(2024, 3, 1)
START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
CONTEXT = {"projectShortName": "dense"}
PAGE_SIZE = 10
LIMIT = 40


@pytest.fixture
def dense() -> tuple[fake.JAICPApp, Sandbox]:
    app = fake.JAICPApp(
        # Without the rows on midnight and noon: the request counts below were measured on
        # this data (rows on a range's end are served twice, costing pages of their own).
        projects={
            "dense": generate_project(
                "dense", "legacy-dense", DAY, END.date(), 60, seed=3, edges=False
            )
        }
    )
    sandbox = Sandbox([app]).start()
    yield app, sandbox
    sandbox.stop()


def messages_stream(app: fake.JAICPApp, sandbox: Sandbox, limit: int | None, **section: t.Any):
    config = {
        "jaicp": {**fake.demo_config(app, sandbox.url), "page_size": PAGE_SIZE, **section},
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "backoff_factor": 0,
    }
    tap = TapChatbotReports(config=config, parse_env_config=False, validate_config=True)
    stream = tap.streams["jaicp_messages"]
    if limit is not None:
        stream.max_window_rows = limit
    return stream


def read(app: fake.JAICPApp, sandbox: Sandbox, limit: int | None, **section: t.Any):
    """(records, filter requests made) of one read of the dense project."""
    stream = messages_stream(app, sandbox, limit, **section)
    before = len(app.filter_calls)
    records = list(stream.get_records(CONTEXT))
    return records, app.filter_calls[before:]


def progress_counts(caplog: pytest.LogCaptureFixture) -> list[int]:
    """Records per drained range, from the progress lines a user sees."""
    found = [
        re.search(r"\.\.[^ ]*: (\d+) records \(", r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith("progress JAICP jaicp_messages")
    ]
    return [int(m.group(1)) for m in found if m]


# ---------------------------------------------------------------------- dense windows


def test_a_dense_window_is_split_with_the_same_records_in_order_once(
    dense: tuple[fake.JAICPApp, Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    app, sandbox = dense
    whole, whole_calls = read(app, sandbox, limit=None)
    per_day = Counter(r["timestamp"][:10] for r in whole)
    assert min(per_day.values()) > 3 * LIMIT  # every day window is dense for the small limit
    caplog.set_level(logging.INFO)
    split, split_calls = read(app, sandbox, limit=LIMIT, max_concurrency=1)

    assert split == whole  # same records, same values, same order
    keys = [r["questionId"] for r in split]
    assert len(keys) == len(set(keys))
    assert [r["timestamp"] for r in split] == sorted(r["timestamp"] for r in split)
    counts = progress_counts(caplog)
    assert sum(counts) == len(whole) and len(counts) > 3 * len(per_day)
    assert max(counts) <= LIMIT  # each drained range held at most the limit
    # Requests stay close to the fewest pages: a range of n rows costs ceil(n / page size)
    # pages; the first day's probe is dropped when it is split, later days are planned from
    # the density found and need no probe (a range denser than planned may still be split:
    # its probe is dropped too; here 4 probes in all).
    pages = sum(max(1, math.ceil(n / PAGE_SIZE)) for n in counts)
    assert pages <= len(split_calls) <= pages + 2 * len(per_day)
    assert len(split_calls) <= 1.3 * len(whole_calls)


def test_pieces_of_a_dense_window_are_contiguous_and_bounded(
    dense: tuple[fake.JAICPApp, Sandbox],
) -> None:
    app, sandbox = dense
    stream = messages_stream(app, sandbox, LIMIT)
    window = TimeWindow(START, START + dt.timedelta(days=1))
    pieces = list(stream.read_pieces(CONTEXT, window))
    assert len(pieces) > 3
    assert pieces[0].window.start == window.start and pieces[-1].window.end == window.end
    assert all(a.window.end == b.window.start for a, b in itertools.pairwise(pieces))
    assert max(len(p.rows) for p in pieces) <= LIMIT


def test_a_window_too_short_to_split_is_read_whole_with_a_warning(
    dense: tuple[fake.JAICPApp, Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    app, sandbox = dense
    whole, _ = read(app, sandbox, limit=None)
    stream = messages_stream(app, sandbox, LIMIT, max_concurrency=1)
    stream.min_window_span = dt.timedelta(days=2)
    assert list(stream.get_records(CONTEXT)) == whole
    assert "too short to split; it is read whole" in caplog.text


@given(
    start=st.datetimes(
        min_value=dt.datetime(2020, 1, 1),
        max_value=dt.datetime(2030, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    seconds=st.floats(min_value=0.001, max_value=40 * 86400),
    parts=st.integers(min_value=1, max_value=5000),
    min_seconds=st.integers(min_value=1, max_value=7200),
)
def test_split_windows_cover_the_window_in_order_on_whole_seconds(
    start: dt.datetime, seconds: float, parts: int, min_seconds: int
) -> None:
    window = TimeWindow(start, start + dt.timedelta(seconds=seconds))
    min_span = dt.timedelta(seconds=min_seconds)
    pieces = split_time_window(window, parts, min_span)
    assert 1 <= len(pieces) <= parts
    assert pieces[0].start == window.start and pieces[-1].end == window.end
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    if len(pieces) > 1:
        assert all(p.end - p.start >= min_span for p in pieces)
        assert all(p.start.microsecond == 0 for p in pieces[1:])


# ---------------------------------------------------------------------- normalisation

_TIME_FIELDS = ("timestamp", "sessionStartTime")
_ID_FIELDS = ("questionId", "sessionId", "botId")
_times = st.one_of(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.UTC),
    ).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"),
    st.sampled_from(
        [
            "2024-03-01T08:00:00Z",
            "2024-03-01T08:00:00.123456+00:00",
            "2024-03-01T08:00:00.123+02:00",
            "2024-W09-1T08:00:00.123Z",
            "2024-02-30T08:00:00.123Z",
            "2024-03-01T08:00:00.abcZ",
            "2024-03-01T08:00:00.\u0661\u0662\u0663Z",
            "1709280000000",
            "",
            "soon",
        ]
    ),
    st.integers(min_value=-(10**12), max_value=10**13),
    st.none(),
    st.booleans(),
)
_ids = st.one_of(st.text(max_size=5), st.integers(), st.floats(allow_nan=False), st.none())
_rows = st.fixed_dictionaries(
    {},
    optional={
        "questionId": _ids,
        "sessionId": _ids,
        "botId": _ids,
        "timestamp": _times,
        "sessionStartTime": _times,
        "client": st.one_of(
            st.fixed_dictionaries({"id": _ids, "firstName": st.text(max_size=3)}), st.text()
        ),
        "question": st.text(max_size=5),
        "extra_fields": st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        "undocumented": st.integers(),
        "another": st.text(max_size=3),
    },
)


@given(st.lists(_rows, max_size=4))
def test_the_compiled_normaliser_equals_normalise_row(rows: list[dict[str, t.Any]]) -> None:
    normalise = compile_normaliser(MESSAGE_SCHEMA, _TIME_FIELDS, _ID_FIELDS)
    for raw in rows + rows:  # again: repeated time values take the remembered result
        original = copy.deepcopy(raw)
        try:
            expected: t.Any = normalise_row(raw, MESSAGE_SCHEMA, _TIME_FIELDS, _ID_FIELDS, "w")
        except TapError as exc:
            expected = str(exc)
        try:
            got: t.Any = normalise(raw, "w")
        except TapError as exc:
            got = str(exc)
        assert got == expected
        if isinstance(got, dict):
            assert list(got) == list(expected)  # same key order: same RECORD bytes
        assert raw == original  # the input row is not modified


# ---------------------------------------------------------------------- daily stats


def test_daily_stats_windows_are_fetched_concurrently_and_emitted_in_order(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    first, last = dt.date(2024, 1, 1), dt.date(2024, 3, 10)  # 70 days: three 31-day windows
    app = fake.JAICPApp(
        projects={
            name: generate_project(name, f"legacy-{name}", first, last, 2, seed=n)
            for n, name in enumerate(("alpha", "beta"))
        }
    )
    # The first two message-stats requests wait for each other: with one window at a time the
    # barrier breaks (after its timeout) instead of being met.
    barrier = threading.Barrier(2, timeout=20)
    met: list[bool] = []
    arrivals = 0
    lock = threading.Lock()

    def meet(app: fake.JAICPApp, resource: str) -> None:
        nonlocal arrivals
        if resource != "messages":
            return
        with lock:  # only the first two arrivals meet (a third, concurrent one must not wait)
            arrivals += 1
            mine = arrivals
        if mine > 2:
            return
        try:
            barrier.wait()
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)

    app.before_stats = meet
    sandbox = sandbox_factory(app)
    config = {
        "jaicp": fake.demo_config(app, sandbox.url),
        "start_date": "2024-01-01T00:00:00+00:00",
        "end_date": "2024-03-10T00:00:00+00:00",
        "backoff_factor": 0,
    }
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert met == [True, True]
    records = run.records("jaicp_message_stats")
    for name, project in app.projects.items():
        days = Counter(m["_time"].date() for m in project.messages if m["_time"].date() < last)
        got = [r for r in records if r["projectShortName"] == name]
        assert [r["ts"] for r in got] == sorted(r["ts"] for r in got)  # in order
        assert {dt.date.fromisoformat(r["ts"][:10]): r["value"] for r in got} == days
    assert [r["projectShortName"] for r in records] == sorted(
        r["projectShortName"] for r in records
    )
