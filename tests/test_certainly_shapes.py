"""Certainly: every plausible reading of what the document leaves open (issue 14, points 2 and 6).

The sandbox serves each reading listed in ``sandbox.certainly.VARIANTS``; for each, a test here
shows that the sandbox really serves it (the raw HTTP answer) and that the tap emits every
message of ``[start_date, end_date)`` exactly once. Fields whose JSON type is not documented
(``response`` and ``data`` above all) are kept as they come, on both record paths; a capped answer
in any order loses nothing (pure reader tests with hypothesis, and through the tap).
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import random
import re
import typing as t

import jsonschema
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.certainly import VARIANTS, CertainlyApp, generate_messages
from tap_chatbot_reports.fastpath import PLAIN_SDK_ENV
from tap_chatbot_reports.schema_types import to_json_text
from tap_chatbot_reports.timeparse import canonical_instant
from tap_chatbot_reports.vendors.certainly import (
    MAX_RECORD_DAYS,
    MESSAGE_SCHEMA,
    Readings,
    read_capped,
    row_instant,
)
from tap_chatbot_reports.windows import DayWindow, minimal_calls, plan_day_windows
from tests.tapio import TapRun, run_tap
from tests.test_fastpath import same_json, state_values

#: The e2e tests at the end use the session's Meltano project and sandbox.
pytest_plugins = ["tests.e2e_support"]

START = dt.date(2026, 3, 1)
DAYS = 20
END = START + dt.timedelta(days=DAYS)
#: Two neighbouring burst days (together above the 500-row cap: windows must be split, each
#: alone below it: nothing may be lost), on a steady background.
BURST = {START + dt.timedelta(days=6): 420, START + dt.timedelta(days=7): 380}


def burst_app(variant: dict[str, str] | None = None, **days: int) -> CertainlyApp:
    counts = {START + dt.timedelta(days=d): 25 for d in range(DAYS)}
    counts.update(BURST)
    counts.update({dt.date.fromisoformat(day): n for day, n in days.items()})
    app = CertainlyApp(
        bots={
            "bot-burst": generate_messages("bot-burst", START, END, counts, seed=3),
            "bot-quiet": generate_messages("bot-quiet", START, END, 4, seed=3),
        }
    )
    app.variant = dict(variant or {})
    return app


def config_for(sandbox: t.Any, app: CertainlyApp, **extra: t.Any) -> dict[str, t.Any]:
    return {
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{END.isoformat()}T00:00:00Z",
        "backoff_factor": 0,
        "certainly": {
            "api_token": app.token,
            "bot_ids": sorted(app.bots),
            "api_url": f"{sandbox.url}/certainly/api/",
            **extra,
        },
    }


def truth(app: CertainlyApp) -> collections.Counter[tuple[str, str]]:
    """Every stored message of [START, END), once."""
    low, high = canonical_instant(START.isoformat()), canonical_instant(END.isoformat())
    return collections.Counter(
        (bot, str(m["id"]))
        for bot, rows in app.bots.items()
        for m in rows
        if low <= canonical_instant(m["timestamp"]) < high  # type: ignore[operator]
    )


def emitted(run: TapRun) -> collections.Counter[tuple[str, str]]:
    return collections.Counter((r["bot_id"], r["id"]) for r in run.records("certainly_messages"))


def served(sandbox: t.Any, app: CertainlyApp, bot: str, first: dt.date, last: dt.date) -> t.Any:
    """The raw JSON body the sandbox answers for one GET."""
    answer = requests.get(
        f"{sandbox.url}/certainly/api/reports/messages/",
        params={
            "fromDate": first.isoformat(),
            "toDate": last.isoformat(),
            "reportId": "1",
            "botId": bot,
        },
        headers={"Authorization": f"JWT {app.token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def stored(app: CertainlyApp) -> dict[str, dict[str, t.Any]]:
    return {str(m["id"]): m for rows in app.bots.values() for m in rows}


CASES = [(point, option) for point, options in VARIANTS.items() for option in options[1:]]


# ---------------------------------------------------------------------------- the sandbox


def _kinds(rows: list[dict[str, t.Any]], field: str) -> set[str]:
    return {type(row[field]).__name__ for row in rows}


#: What each non-default reading must look like on the wire (a no-op variant fails here).
def _check_served(point: str, option: str, sandbox: t.Any, app: CertainlyApp) -> None:
    burst_day = min(BURST)
    two_days = served(sandbox, app, "bot-burst", burst_day, burst_day + dt.timedelta(days=1))
    week = served(sandbox, app, "bot-burst", START, START + dt.timedelta(days=6))
    instants = [canonical_instant(row["timestamp"]) for row in two_days]
    truth_rows = sorted(
        (m for m in app.bots["bot-burst"] if burst_day.isoformat() <= m["timestamp"][:10]),
        key=lambda m: m["timestamp"],
    )
    truth_rows = [m for m in truth_rows if m["timestamp"][:10] <= str(max(BURST))]
    assert len(truth_rows) > 500
    if point != "to_date":
        assert len(two_days) == 500  # a capped answer
    if point in ("response_shape", "data_shape"):
        field = point.removesuffix("_shape")
        kinds = _kinds(week, field)
        assert kinds == ({"list"} if option == "list" else {"list", "dict"}), kinds
        for row in week:
            value = row[field]
            first = value[0] if isinstance(value, list) else value
            assert first == stored(app)[str(row["id"])][field]  # the stored object, kept inside
    elif point == "order" and option == "newest_first":
        assert instants == sorted(instants, reverse=True)  # type: ignore[type-var]
        assert [str(r["id"]) for r in two_days] == [str(m["id"]) for m in truth_rows[::-1][:500]]
    elif point == "order" and option == "unsorted":
        assert instants not in (sorted(instants), sorted(instants, reverse=True))  # type: ignore[type-var]
        oldest = {str(m["id"]) for m in truth_rows[:500]}
        assert {str(r["id"]) for r in two_days} != oldest  # not the oldest rows either
    elif point == "capped_keeps":
        assert instants == sorted(instants)  # type: ignore[type-var]  # in time order ...
        assert [str(r["id"]) for r in two_days] == [str(m["id"]) for m in truth_rows[-500:]]
    elif point == "to_date":
        days = {row["timestamp"][:10] for row in week}
        assert max(days) == (START + dt.timedelta(days=5)).isoformat()  # toDate's day not served
        assert {row["timestamp"][:10] for row in two_days} == {str(burst_day)}
        assert len(two_days) == BURST[burst_day]
        assert served(sandbox, app, "bot-quiet", START, START) == []
    elif point == "timestamp":
        pattern = {
            "utc_offset": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00",
            "offset_0900": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+09:00",
            "no_fraction": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        }[option]
        for row in week:
            assert re.fullmatch(pattern, row["timestamp"]), row["timestamp"]
            assert re.fullmatch(pattern, row["botuser"]["created_date"])
            truth_at = canonical_instant(stored(app)[str(row["id"])]["timestamp"])
            assert truth_at is not None
            want = truth_at[:19] if option == "no_fraction" else truth_at
            assert canonical_instant(row["timestamp"]).startswith(want)  # type: ignore[union-attr]
    else:  # pragma: no cover - a new reading needs its own check
        pytest.fail(f"no check for {point}={option}")


def test_the_default_reading_is_todays(sandbox_factory):
    """Objects, oldest first (the oldest 500 kept), inclusive toDate, `...Z` timestamps."""
    app = burst_app()
    sandbox = sandbox_factory(app)
    burst_day = min(BURST)
    rows = served(sandbox, app, "bot-burst", burst_day, burst_day + dt.timedelta(days=1))
    assert len(rows) == 500
    assert _kinds(rows, "response") == _kinds(rows, "data") == {"dict"}
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    assert {r["timestamp"][:10] for r in rows} == {str(burst_day), str(max(BURST))}
    assert all(re.fullmatch(r".*T\d\d:\d\d:\d\d\.\d{6}Z", r["timestamp"]) for r in rows)
    quiet = served(sandbox, app, "bot-quiet", START, START)
    assert len(quiet) == 4  # toDate inclusive


@pytest.mark.parametrize(("point", "option"), CASES, ids=[f"{p}-{o}" for p, o in CASES])
def test_the_sandbox_serves_the_reading(sandbox_factory, point, option):
    app = burst_app({point: option})
    sandbox = sandbox_factory(app)
    _check_served(point, option, sandbox, app)


def test_an_unknown_reading_is_refused():
    app = burst_app({"order": "alphabetical"})
    with pytest.raises(ValueError, match="order"):
        app.reading("order")


# ---------------------------------------------------------------------------- the tap


@pytest.mark.parametrize(
    ("point", "option"),
    [(p, o) for p, options in VARIANTS.items() for o in options],
    ids=[f"{p}-{o}" for p, options in VARIANTS.items() for o in options],
)
def test_every_message_is_emitted_exactly_once_under_each_reading(sandbox_factory, point, option):
    app = burst_app({point: option})
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app))
    assert run.returncode == 0, run.stderr[-3000:]
    got, want = emitted(run), truth(app)
    assert sum(want.values()) > 1000
    assert got == want, (
        f"lost {sum((want - got).values())}, doubled {sum((got - want).values())} "
        f"under {point}={option}"
    )
    assert not [line for line in run.stderr.splitlines() if "WARNING" in line and "cap" in line]
    # The burst forced capped answers (re-read until nothing was cut).
    assert any(total >= 500 for bot, _, _, total in app.calls if bot == "bot-burst")
    # Undocumented types are kept whole (as JSON text); timestamps are the stored instants, UTC.
    truth_rows = stored(app)
    for record in run.records("certainly_messages"):
        row = app._shaped(truth_rows[record["id"]])
        for field in ("response", "data", "through_bot_modules"):
            assert json.loads(record[field]) == row[field], field
        assert record["timestamp"] == canonical_instant(row["timestamp"])
    # A request never spans more than the 15 days the API allows.
    for request in sandbox.requests_for("certainly"):
        query = dict(re.findall(r"(fromDate|toDate)=([\d-]+)", request.target))
        first, last = (dt.date.fromisoformat(query[k]) for k in ("fromDate", "toDate"))
        assert (last - first).days + 1 <= 15


@pytest.mark.parametrize(
    "variant",
    [{}, {"order": "newest_first"}, {"order": "unsorted"}, {"capped_keeps": "newest"}],
    ids=["oldest_first", "newest_first", "unsorted", "newest_kept_in_time_order"],
)
def test_days_above_the_cap_are_warned_once_in_any_order_and_nothing_else_is_lost(
    sandbox_factory, variant
):
    """Two neighbouring days above the cap, one at the end of a 14-day window and one at the
    end of a 15-day one: a capped answer made only of a window's last day says nothing about
    its other days (newest first, an earlier reader took them as empty)."""
    capped = {START + dt.timedelta(days=13): 640, START + dt.timedelta(days=14): 560}
    app = burst_app(variant, **{day.isoformat(): n for day, n in capped.items()})
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app))
    assert run.returncode == 0, run.stderr[-3000:]
    got = emitted(run)
    on_days = {
        ("bot-burst", str(m["id"])): dt.date.fromisoformat(m["timestamp"][:10])
        for m in app.bots["bot-burst"]
        if dt.date.fromisoformat(m["timestamp"][:10]) in capped
    }
    assert got - truth(app) == collections.Counter()  # nothing outside the range, no repeat
    assert truth(app) - got == collections.Counter({k: 1 for k in set(on_days) - set(got)})
    for day in capped:
        assert sum(1 for key in got if on_days.get(key) == day) == 500  # the cap's worth
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line and "cap" in line]
    assert len(warnings) == 2 and all("bot-burst" in line for line in warnings), warnings
    assert {str(day) for day in capped} == {
        day
        for line in warnings
        for day in re.findall(r"\d{4}-\d\d-\d\d", line.split("Certainly bot", 1)[1])
    }


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"response_shape": "list", "data_shape": "list"},
        {"response_shape": "mixed", "data_shape": "mixed"},
    ],
    ids=["objects", "lists", "mixed"],
)
def test_fast_and_plain_sdk_paths_emit_the_same_messages_for_every_shape(sandbox_factory, variant):
    runs = []
    for env in ({}, {PLAIN_SDK_ENV: "1"}):
        app = burst_app(variant)
        sandbox = sandbox_factory(app)
        runs.append(run_tap(config_for(sandbox, app), env=env))
    fast, plain = runs
    assert fast.returncode == plain.returncode == 0, (fast.stderr[-2000:], plain.stderr[-2000:])
    problems = same_json(fast.records(), plain.records(), "records")
    assert not problems, problems[:5]
    schemas = [[m for m in run.messages if m["type"] == "SCHEMA"] for run in runs]
    assert schemas[0] == schemas[1]
    assert state_values(fast) == state_values(plain)
    # Every record is valid against the SCHEMA sent (what an SDK target checks).
    validator = jsonschema.Draft202012Validator(schemas[0][0]["schema"])
    for record in fast.records():
        assert not list(validator.iter_errors(record)), record["id"]
    kinds = {type(json.loads(r["response"])).__name__ for r in fast.records()}
    want = {"object": {"dict"}, "list": {"list"}, "mixed": {"list", "dict"}}
    assert kinds == want[variant.get("response_shape", "object")]


def _untyped(prop: dict[str, t.Any]) -> bool:
    return prop.get("contentMediaType") == "application/json"


def test_the_schema_types_only_what_the_document_types():
    properties = MESSAGE_SCHEMA["properties"]
    untyped = {name for name, prop in properties.items() if _untyped(prop)}
    assert untyped == {
        "message",
        "response",
        "through_bot_modules",
        "is_global_module_match",
        "data",
    }
    booleans = {name for name, prop in properties.items() if "boolean" in prop.get("type", ())}
    assert booleans == {"is_test", "is_deleted", "user_message_empty", "bot_response_empty"}
    module = properties["bot_module"]["properties"]
    assert {n for n, p in module.items() if "boolean" in p.get("type", ())} == {
        "is_starting",
        "skip_user_input",
        "skip_global_connection_evaluation",
    }
    assert {n for n, p in module.items() if _untyped(p)} == {
        "name",
        "type",
        "instruction",
        "error_instruction",
        "is_global",
        "priority",
        "group",
    }
    kpi = module["kpis"]["items"]["properties"]
    assert {n for n, p in kpi.items() if _untyped(p)} == {"label", "colour"}
    user = properties["botuser"]["properties"]
    web = user["botuser_meta"]["properties"]["web"]["properties"]
    assert _untyped(user["created_date"]) and all(_untyped(p) for p in web.values())
    jsonschema.Draft202012Validator.check_schema(MESSAGE_SCHEMA)


def test_any_json_value_of_an_untyped_field_is_kept_whole(sandbox_factory):
    app = burst_app()
    odd: list[t.Any] = [{"a": [1, {"b": None}]}, [], "text", 7, 2.5, True, None, [[1], {"x": "y"}]]
    rows = app.bots["bot-quiet"]
    for row, value in zip(rows, itertools.cycle(odd), strict=False):
        row["response"], row["data"], row["message"] = value, value, value
        row["bot_module"]["priority"] = value
        row["bot_module"]["canvas_position"] = {"x": 3}  # undocumented, nested
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app))
    assert run.returncode == 0, run.stderr[-2000:]
    by_id = {r["id"]: r for r in run.records() if r["bot_id"] == "bot-quiet"}
    for row in rows:
        record = by_id.get(str(row["id"]))
        if record is None:
            continue
        for field in ("response", "data", "message"):
            value = row[field]
            # Kept whole: a string as it is, anything else as its JSON text.
            assert record[field] == to_json_text(value), (field, record[field], value)
            if value is not None and not isinstance(value, str):
                assert not same_json(json.loads(record[field]), value)
        assert record["bot_module"]["priority"] == to_json_text(row["bot_module"]["priority"])
        assert record["bot_module"]["canvas_position"] == {"x": 3}
    assert len(by_id) == sum(1 for r in rows if str(START) <= r["timestamp"][:10] < str(END))


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("is_test", "yes", "is_test as str, not boolean"),
        ("id", {"n": 1}, "whose id is an object"),
        ("bot_module", [1, 2], "bot_module as list, not an object"),
    ],
)
def test_a_documented_type_served_otherwise_ends_certainly_with_one_line(
    sandbox_factory, field, value, named
):
    app = burst_app()
    app.bots["bot-quiet"][3][field] = value
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app))
    assert run.returncode != 0
    errors = run.error_lines()
    assert len(errors) == 1, run.stderr[-2000:]
    assert named in errors[0] and "bot-quiet" in errors[0], errors[0]
    assert "Traceback" not in run.stderr


# ---------------------------------------------------------------------------- the reader


Model = tuple[str, str, bool]  # (order, kept at the cap, toDate inclusive)
MODELS: list[Model] = [
    (order, keeps, inclusive)
    for order in ("oldest_first", "newest_first", "unsorted")
    for keeps in ("first_served", "newest")
    for inclusive in (True, False)
]


def fake_api(
    counts: t.Mapping[dt.date, int], model: Model, cap: int, calls: list[tuple[dt.date, dt.date]]
) -> t.Callable[[dt.date, dt.date], list[dict[str, t.Any]]]:
    order, keeps, inclusive = model

    def fetch(first: dt.date, last: dt.date) -> list[dict[str, t.Any]]:
        assert first <= last and (last - first).days + 1 <= 15
        calls.append((first, last))
        stop = last if inclusive else last - dt.timedelta(days=1)
        rows = []
        day = first
        while day <= stop:
            rows += [
                {
                    "id": f"{day}/{n}",
                    "timestamp": f"{day}T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
                }
                for n in range(counts.get(day, 0))
            ]
            day += dt.timedelta(days=1)
        if keeps == "newest":
            rows = rows[-cap:]
        if order == "newest_first":
            rows.reverse()
        elif order == "unsorted":
            random.Random(f"{first}{last}").shuffle(rows)
        return rows[:cap]

    return fetch


def read_all(
    counts: t.Mapping[dt.date, int], end: dt.date, model: Model, cap: int = 500
) -> tuple[list[t.Any], list[t.Any], list[tuple[dt.date, dt.date]]]:
    """(rows kept per result window, results, calls) over [DAY0, end), as the lane keeps them."""
    calls: list[tuple[dt.date, dt.date]] = []
    fetch = fake_api(counts, model, cap, calls)
    readings = Readings()
    kept: list[t.Any] = []
    results: list[t.Any] = []
    for window in plan_day_windows(DAY0, end, MAX_RECORD_DAYS):
        for result in read_capped(window, fetch, cap, row_instant, readings):
            results.append(result)
            low, high = str(result.window.start), str(result.window.end)
            kept += [row["id"] for row in result.rows if low <= row["timestamp"][:10] < high]
    return kept, results, calls


DAY0 = dt.date(2026, 1, 1)


@settings(max_examples=60, deadline=None)
@given(
    day_counts=st.lists(st.integers(0, 700), min_size=1, max_size=40),
    model=st.sampled_from(MODELS),
)
def test_capped_answers_in_any_order_lose_nothing(day_counts, model):
    cap = 500
    counts = {DAY0 + dt.timedelta(days=i): c for i, c in enumerate(day_counts)}
    end = DAY0 + dt.timedelta(days=len(day_counts))
    kept, results, _ = read_all(counts, end, model, cap)
    assert len(kept) == len(set(kept)), "a row emitted twice"
    for day, count in counts.items():
        on_day = [k for k in kept if k.startswith(f"{day}/")]
        if count < cap:
            assert len(on_day) == count, (day, count, len(on_day), model)
        else:  # a day alone above the cap: the cap's worth, warned
            assert len(on_day) == cap
            assert any(r.truncated and r.window.start == day for r in results)
    assert all(not r.truncated or counts[r.window.start] >= cap for r in results)
    windows = [r.window for r in results]
    assert windows[0].start == DAY0 and windows[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_oldest_first_answers_stay_within_the_oracle_budget():
    """The benchmark's bursty bot (benchmarks/run.py): at most 1.5x the calls of an oracle that
    knows every day's count and may ask 15 days at once, with toDate inclusive or not."""
    counts = {DAY0 + dt.timedelta(days=d): 15 for d in range(90)}
    for offset, count in ((10, 1_400), (11, 900), (12, 480), (40, 2_600), (41, 300), (70, 700)):
        counts[DAY0 + dt.timedelta(days=offset)] = count
    for offset in range(50, 60):
        counts[DAY0 + dt.timedelta(days=offset)] = 160
    end = DAY0 + dt.timedelta(days=90)
    oracle = minimal_calls(counts, DAY0, end, 500, 15)
    for inclusive in (True, False):
        _, _, calls = read_all(counts, end, ("oldest_first", "first_served", inclusive))
        assert len(calls) <= 1.5 * oracle, (len(calls), oracle, inclusive)


def test_an_api_keeping_the_newest_rows_in_time_order_is_found_out_by_one_re_read():
    """The time-order shortcut would drop the first days' rows of such an API: the first capped
    answer's re-read shows it, and from then on capped windows are halved."""
    counts = {DAY0 + dt.timedelta(days=d): 100 for d in range(14)}
    calls: list[tuple[dt.date, dt.date]] = []
    readings = Readings()
    fetch = fake_api(counts, ("oldest_first", "newest", True), 500, calls)
    window = DayWindow(DAY0, DAY0 + dt.timedelta(days=14))
    results = list(read_capped(window, fetch, 500, row_instant, readings))
    assert readings.oldest_refuted and not readings.oldest_kept
    assert calls[1] == (DAY0, DAY0 + dt.timedelta(days=12))  # the re-read of the first days
    got = [
        row["id"]
        for r in results
        for row in r.rows
        if str(r.window.start) <= row["id"][:10] < str(r.window.end)
    ]
    assert sorted(got) == sorted(f"{d}/{n}" for d in counts for n in range(100))


def test_toDate_is_learnt_inclusive_from_a_row_of_that_day():
    counts = {DAY0 + dt.timedelta(days=d): 3 for d in range(28)}
    for inclusive in (True, False):
        calls: list[tuple[dt.date, dt.date]] = []
        readings = Readings()
        fetch = fake_api(counts, ("oldest_first", "first_served", inclusive), 500, calls)
        for window in plan_day_windows(DAY0, DAY0 + dt.timedelta(days=28), MAX_RECORD_DAYS):
            list(read_capped(window, fetch, 500, row_instant, readings))
        assert readings.to_date_inclusive is inclusive
        # The first request asks for the day after its 14 days; once toDate is known to be
        # inclusive, the next asks for its own days only.
        assert calls[0] == (DAY0, DAY0 + dt.timedelta(days=14))
        second = DAY0 + dt.timedelta(days=14)
        assert calls[1] == (second, second + dt.timedelta(days=13 if inclusive else 14))


# ---------------------------------------------------------------------------- real loaders

#: Reads (bot_id, id, response, data) back from a warehouse with the loader's own Python.
_DUCKDB_QUERY = """
import duckdb, json, sys
c = duckdb.connect(sys.argv[1], read_only=True)
rows = c.execute(
    'select bot_id, id, response, data from chatbot_reports.certainly_messages'
).fetchall()
types = dict(c.execute(
    "select column_name, data_type from information_schema.columns "
    "where table_name = 'certainly_messages'"
).fetchall())
print(json.dumps({"rows": rows, "types": types}))
"""
_POSTGRES_QUERY = """
import json, sys, psycopg
settings, schema = json.loads(sys.argv[1]), sys.argv[2]
with psycopg.connect(**settings) as conn:
    rows = conn.execute(
        f'select bot_id, id, response, data from "{schema}".certainly_messages'
    ).fetchall()
    types = dict(conn.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = 'certainly_messages'", (schema,)
    ).fetchall())
print(json.dumps({"rows": rows, "types": types}))
"""


def _load_both_shapes(
    project: t.Any, sandbox: t.Any, loader: str, env: dict[str, str], query: list[str]
) -> None:
    """One `meltano run` of Certainly alone over three days, `response` and `data` served as
    objects in some rows and lists in others: every message lands once, each value whole."""
    import subprocess

    from tests.e2e_support import START as E2E_START
    from tests.e2e_support import meltano

    _, apps = sandbox
    app: CertainlyApp = apps["certainly"]
    first, end = E2E_START, E2E_START + dt.timedelta(days=3)
    app.variant = {"response_shape": "mixed", "data_shape": "mixed"}
    try:
        meltano(
            project,
            "--environment=sandbox",
            "run",
            "tap-chatbot-reports",
            loader,
            env={
                "TAP_CHATBOT_REPORTS_START_DATE": f"{first.isoformat()}T00:00:00Z",
                "TAP_CHATBOT_REPORTS_END_DATE": f"{end.isoformat()}T00:00:00Z",
                "TAP_CHATBOT_REPORTS__SELECT": json.dumps(["certainly_messages.*"]),
                **env,
            },
        )
        python = project / f".meltano/loaders/{loader}/venv/bin/python"
        done = subprocess.run(
            [str(python), "-c", *query], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        loaded = json.loads(done.stdout)
        want = {
            (bot, str(m["id"])): app._shaped(m)
            for bot, rows in app.bots.items()
            for m in rows
            if str(first) <= m["timestamp"][:10] < str(end)
        }
    finally:
        app.variant = {}
    got = collections.Counter((bot, ident) for bot, ident, _, _ in loaded["rows"])
    print(f"{loader}: {sum(got.values())} certainly rows landed, {len(want)} expected")
    print(f"{loader}: column types { ({k: loaded['types'][k] for k in ('response', 'data')}) }")
    assert got == collections.Counter(set(want)), "rows lost or doubled"
    kinds: set[tuple[str, str]] = set()
    for bot, ident, response, data in loaded["rows"]:
        row = want[bot, ident]
        assert json.loads(response) == row["response"]
        assert json.loads(data) == row["data"]
        kinds.add((type(row["response"]).__name__, type(row["data"]).__name__))
    assert kinds == {("list", "list"), ("dict", "dict")}  # both forms in one table


@pytest.mark.e2e
def test_both_shapes_load_into_duckdb(project, sandbox, tmp_path):
    warehouse = tmp_path / "shapes.duckdb"
    _load_both_shapes(
        project,
        sandbox,
        "target-duckdb",
        {
            "TARGET_DUCKDB_FILEPATH": str(warehouse),
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'state.db'}",
        },
        [_DUCKDB_QUERY, str(warehouse)],
    )


@pytest.mark.e2e
def test_both_shapes_load_into_postgres(project, sandbox, tmp_path):
    import os
    import uuid

    if not os.environ.get("PG_HOST"):  # as tests/test_e2e_postgres.py: CI must prove it
        reason = "no PostgreSQL: set PG_HOST, PG_PORT, PG_USER, PG_PASSWORD (see .ci/run)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    settings_ = {
        "host": os.environ["PG_HOST"],
        "port": int(os.environ.get("PG_PORT") or 5432),
        "user": os.environ.get("PG_USER") or "postgres",
        "password": os.environ.get("PG_PASSWORD") or "",
        "dbname": os.environ.get("PG_DATABASE") or "postgres",
    }
    schema = f"e2e_shapes_{uuid.uuid4().hex[:10]}"
    _load_both_shapes(
        project,
        sandbox,
        "target-postgres",
        {
            "PG_HOST": settings_["host"],
            "PG_PORT": str(settings_["port"]),
            "PG_USER": settings_["user"],
            "PG_PASSWORD": settings_["password"],
            "PG_DATABASE": settings_["dbname"],
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'state.db'}",
        },
        [_POSTGRES_QUERY, json.dumps(settings_), schema],
    )
