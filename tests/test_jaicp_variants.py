"""JAICP sandbox variants (issue 14 point 6): the sandbox really serves each reading of the
undocumented points in ``sandbox.jaicp.VARIANTS``, and under each the tap emits every row of
``[start_date, end_date)`` exactly once, also when the range is cut in two runs at a row's instant.

The data has rows exactly at 00:00:00.000 and 12:00:00.000 UTC of every day
(``jaicp_data.EDGE_TIMES``): ``start_date`` and the cut sit on such rows, so a tap asking the
wrong range under an exclusive reading of ``from``/``to`` loses them (the tap asked exactly
``[start, end]`` before, and lost the midnight rows under ``exclusive_start``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import typing as t
from collections import Counter

import pytest

from sandbox import jaicp as fake
from sandbox.jaicp_data import EDGE_TIMES, api_time, parse_api_time
from sandbox.server import Headers, Request, Sandbox
from tests.tapio import TapRun, run_tap

START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 3, 12, tzinfo=dt.UTC)  # on a noon row: it is not emitted
CUT = "2024-03-02T15:00:00+03:00"  # 12:00Z on the 2nd, spelled in Moscow time: a noon row
DATA = (dt.date(2024, 2, 28), dt.date(2024, 3, 5))
PROJECT = "acme-sales"
WINDOWED = {
    "jaicp_sessions": ("sessions", ("sessionId",), "_time"),
    "jaicp_messages": ("messages", ("questionId",), "_time"),
    "jaicp_clients": ("clients", ("id", "botId"), "_last"),
}
STATS = {"jaicp_message_stats": "messages", "jaicp_session_stats": "sessions"}
CASES = [(point, option) for point, options in fake.VARIANTS.items() for option in options]


def make_app(**variant: str) -> fake.JAICPApp:
    app = fake.default_app(*DATA)
    app.variant = dict(variant)
    return app


def config(sandbox: Sandbox, app: fake.JAICPApp, end: str = END.isoformat()) -> dict[str, t.Any]:
    return {
        "jaicp": fake.demo_config(app, sandbox.url),
        "start_date": "2024-03-01T03:00:00+03:00",  # START, on a midnight row
        "end_date": end,
        "backoff_factor": 0,
    }


def keys(run: TapRun, stream: str) -> Counter[tuple[str, ...]]:
    names = WINDOWED[stream][1]
    return Counter(tuple(str(r[n]) for n in names) for r in run.records(stream))


def truth(app: fake.JAICPApp, stream: str) -> Counter[tuple[str, ...]]:
    resource, names, when = WINDOWED[stream]
    rows = [r for p in app.projects.values() for r in getattr(p, resource)]
    return Counter(tuple(r[n] for n in names) for r in rows if START <= r[when] < END)


def day_counts(app: fake.JAICPApp, resource: str) -> dict[tuple[str, str], float]:
    counts: Counter[tuple[str, str]] = Counter()
    for name, project in app.projects.items():
        for row in getattr(project, resource):
            if START <= row["_time"] < END:
                day = dt.datetime.combine(row["_time"].date(), dt.time(), dt.UTC)
                counts[(name, day.isoformat(timespec="microseconds"))] += 1
    return {key: float(n) for key, n in counts.items()}


# ---------------------------------------------------------------------- the sandbox serves them


def call(app: fake.JAICPApp, resource: str, body: t.Any, **query: str) -> t.Any:
    """One v1 request straight to the app (no socket): the JSON it answers."""
    path = f"/api/v1/reporter/{resource}"
    args = {"projectShortName": [PROJECT], **{k: [v] for k, v in query.items()}}
    request = Request(
        method="POST",
        path=path,
        raw_target=path,
        query=args,
        headers=Headers({"authorization": f"Bearer {app.token}", "timezone": "0"}),
        body=json.dumps(body).encode(),
    )
    response = app.handle(request)
    assert response.status == 200, response.body
    return response.body


def sessions_between(app: fake.JAICPApp, low: dt.datetime, high: dt.datetime) -> list[dict]:
    body = {"filters": [range_of("SESSION_START_TIME", low, high)]}
    return t.cast("list[dict]", call(app, "sessions/filter", body, size="1000")["sessions"])


def range_of(key: str, low: dt.datetime, high: dt.datetime) -> dict[str, str]:
    return {"key": key, "type": "DATE_TIME_RANGE", "from": api_time(low), "to": api_time(high)}


def test_the_variant_points_and_their_defaults() -> None:
    assert set(fake.VARIANTS) == {"range_bounds", "row_order", "time_format", "stats_ts"}
    assert fake.VARIANTS["range_bounds"][0] == "inclusive"
    assert fake.VARIANTS["time_format"][0] == "millis_z"
    assert make_app().variant == {}
    with pytest.raises(ValueError, match="unknown option"):
        make_app(row_order="sideways").reading("row_order")


def test_every_day_has_rows_exactly_on_midnight_and_noon() -> None:
    app = make_app()
    for resource, attribute in (("sessions", "_time"), ("messages", "_time"), ("clients", "_last")):
        on_edges = {
            r[attribute]
            for p in app.projects.values()
            for r in getattr(p, resource)
            if r[attribute].time() in EDGE_TIMES
        }
        day, wanted = DATA[0], set()
        while day < DATA[1]:
            wanted |= {dt.datetime.combine(day, moment, dt.UTC) for moment in EDGE_TIMES}
            day += dt.timedelta(days=1)
        assert on_edges == wanted, resource


@pytest.mark.parametrize(
    ("option", "at_from", "at_to"),
    [
        ("inclusive", True, True),
        ("exclusive_end", True, False),
        ("exclusive_start", False, True),
        ("exclusive", False, False),
    ],
)
def test_range_bounds_apply_as_the_option_says(option: str, at_from: bool, at_to: bool) -> None:
    app = make_app(range_bounds=option)
    low = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)  # a session starts exactly here ...
    high = low + dt.timedelta(hours=12)  # ... and exactly here
    starts = {parse_api_time(s["startTime"]) for s in sessions_between(app, low, high)}
    assert (low in starts) is at_from
    assert (high in starts) is at_to
    assert any(low < s < high for s in starts)
    # The stats count with the same bounds.
    body = {"filters": [range_of("SESSION_START_TIME", low, high)]}
    stats = call(app, "stats/sessions/with-advanced-filters", body, intervalType="DAY")
    assert sum(s["value"] for s in stats["stats"]) == len(starts)


@pytest.mark.parametrize("option", fake.VARIANTS["row_order"])
def test_row_order_is_served_as_the_option_says(option: str) -> None:
    app = make_app(row_order=option)
    rows = sessions_between(app, START, START + dt.timedelta(days=2))
    times = [parse_api_time(s["startTime"]) for s in rows]
    assert len(times) > 20
    if option == "ascending":
        assert times == sorted(times)
    elif option == "descending":
        assert times == sorted(times, reverse=True)
    else:
        assert times not in (sorted(times), sorted(times, reverse=True))


SPELLINGS = {
    "millis_z": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
    "millis_utc_offset": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00",
    "millis_moscow": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+03:00",
    "java_offset": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0300",
    "java_instant": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z",
}


@pytest.mark.parametrize("option", fake.VARIANTS["time_format"])
def test_time_format_spells_every_served_date_time_as_the_option_says(option: str) -> None:
    assert set(SPELLINGS) == set(fake.VARIANTS["time_format"])
    default, app = make_app(), make_app(time_format=option)
    for resource, key in (("sessions", "sessionId"), ("messages", "questionId"), ("clients", "id")):
        body: dict[str, t.Any] = {"filters": []}
        plain = call(default, f"{resource}/filter", body, size="5000")[resource]
        served = call(app, f"{resource}/filter", body, size="5000")[resource]
        assert [r[key] for r in served] == [r[key] for r in plain]
        seen = 0
        for before, after in zip(plain, served, strict=True):
            for name in fake.TIME_FIELDS[resource]:
                if name not in before:
                    continue
                seen += 1
                assert re.fullmatch(SPELLINGS[option], after[name]), (name, after[name])
                instant = dt.datetime.fromisoformat(after[name])
                assert instant == parse_api_time(before[name])  # the same instant
                if option != "millis_z":
                    assert after[name] != before[name] or option == "java_instant"
        assert seen, resource
    if option == "java_instant":  # no fraction exactly when it is zero
        served = call(app, "sessions/filter", {"filters": []}, size="5000")["sessions"]
        forms = {len(s["startTime"]) for s in served}
        assert forms == {20, 24}


@pytest.mark.parametrize("option", fake.VARIANTS["stats_ts"])
def test_stats_ts_unit_is_served_as_the_option_says(option: str) -> None:
    app = make_app(stats_ts=option)
    body = {"filters": [range_of("MESSAGE_TIME", START, START + dt.timedelta(days=2))]}
    stats = call(app, "stats/messages/with-advanced-filters", body, intervalType="DAY")["stats"]
    first = int(START.timestamp())
    expected = [first, first + 86_400, first + 2 * 86_400]
    if option == "milliseconds":
        expected = [v * 1000 for v in expected]
    assert [s["ts"] for s in stats] == expected


# ---------------------------------------------------------------------- the tap reads them all


@pytest.mark.parametrize(("point", "option"), CASES, ids=[f"{p}-{o}" for p, o in CASES])
def test_every_row_of_the_range_is_emitted_once_under_each_reading(
    sandbox_factory: t.Callable[..., Sandbox], point: str, option: str
) -> None:
    app = make_app(**{point: option})
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "outside the requested range" not in run.stderr  # no row the tap cannot place
    for stream in WINDOWED:
        expected = truth(app, stream)
        assert keys(run, stream) == expected, stream
    # The rows on start_date (midnight) are emitted; the rows on end_date (noon) are not.
    starts = {r["startTime"] for r in run.records("jaicp_sessions")}
    assert "2024-03-01T00:00:00.000000+00:00" in starts
    assert "2024-03-03T12:00:00.000000+00:00" not in starts
    for stream, resource in STATS.items():
        got = {(r["projectShortName"], r["ts"]): r["value"] for r in run.records(stream)}
        want = day_counts(app, resource)
        assert set(got) == set(want), stream
        last_day = "2024-03-03T00:00:00.000000+00:00"
        # Whole days count every row; the partial last day may count the row exactly at
        # end_date when the reading of ``to`` is inclusive (the bucket is re-read next run).
        assert {k: v for k, v in got.items() if k[1] != last_day} == {
            k: v for k, v in want.items() if k[1] != last_day
        }, stream


@pytest.mark.parametrize(
    ("point", "option"),
    [c for c in CASES if c[0] in ("range_bounds", "time_format")],
    ids=[f"{p}-{o}" for p, o in CASES if p in ("range_bounds", "time_format")],
)
def test_a_range_cut_on_a_row_in_two_runs_loses_nothing(
    sandbox_factory: t.Callable[..., Sandbox], point: str, option: str
) -> None:
    app = make_app(**{point: option})
    sandbox = sandbox_factory(app)
    first = run_tap(config(sandbox, app, end=CUT))
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_tap(config(sandbox, app), state=first.last_state)
    assert second.returncode == 0, second.stderr[-3000:]
    cut = dt.datetime.fromisoformat(CUT)
    for stream in WINDOWED:
        expected = truth(app, stream)
        one, two = keys(first, stream), keys(second, stream)
        assert set(one) | set(two) == set(expected), stream
        assert max(one.values()) == max(two.values()) == 1
        # The first run stops before the cut's own rows; only the bookmark's rows come twice.
        assert sum((one & two).values()) <= len(app.projects), stream
    when = {r["sessionId"]: r["_time"] for p in app.projects.values() for r in p.sessions}
    first_ids = {k[0] for k in keys(first, "jaicp_sessions")}
    second_ids = {k[0] for k in keys(second, "jaicp_sessions")}
    at_cut = {s for s, w in when.items() if w == cut}
    assert at_cut and at_cut <= second_ids and not at_cut & first_ids


# ---------------------------------------------------------------------- a reading it cannot place


def test_a_row_outside_the_range_asked_for_is_one_clear_line_not_a_silent_drop(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    """A client served with a lastVisitDate the CLIENT_LAST_ACTIVITY_TIME filter did not select
    on (the pairing is an assumption): no window would ever ask for it, so the run says so."""
    app = make_app()
    project = app.projects[PROJECT]
    client = next(c for c in project.clients if START <= c["_last"] < END)
    client["lastVisitDate"] = api_time(client["_last"] + dt.timedelta(days=3))
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app))
    assert run.returncode == 1
    lines = run.error_lines()
    assert len(lines) == 1, lines
    assert "jaicp_clients" in lines[0] and "CLIENT_LAST_ACTIVITY_TIME" in lines[0], lines[0]
    assert "outside" in lines[0] and "lastVisitDate" in lines[0]
    assert "Traceback" not in run.stderr
