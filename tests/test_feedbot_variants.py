"""Feedbot sandbox variants (issue 14 point 6): the sandbox really serves each reading of the
undocumented points in ``sandbox.feedbot.VARIANTS``, and under each the tap emits every row of
``[start_date, end_date)`` of every export exactly once, with the same primary keys whatever the
spelling of the rows' ``timestamp`` (a log row's ``row_key`` hashes its timestamp as an instant),
also when the range is cut in two runs on a row's instant.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from collections import Counter

import pytest

from sandbox.feedbot import ALL_EXPORTS, VARIANTS, FeedbotApp, row_time
from sandbox.server import Headers, Request, Sandbox
from tap_chatbot_reports.timeparse import normalise_timestamp
from tap_chatbot_reports.vendors.feedbot_schemas import row_key
from tests.tapio import run_tap
from tests.test_feedbot import END, START, STREAM_OF, config_for, emitted, make_app, truth

CASES = [(point, option) for point, options in VARIANTS.items() for option in options]
BOT = "acme-shop"


def app_with(**variant: str) -> FeedbotApp:
    app = make_app()
    app.variant = dict(variant)
    return app


def served(app: FeedbotApp, export: str, **query: int) -> t.Any:
    """One GET straight to the app (no socket): the JSON it answers."""
    path = f"/{BOT}/api/management/export/{export}"
    request = Request(
        method="GET",
        path=path,
        raw_target=path,
        query={k: [str(v)] for k, v in query.items()},
        headers=Headers({"x-functions-key": app.bots[BOT].key}),
        body=b"",
    )
    response = app.handle(request)
    assert response.status == 200
    return response.body


def rows_of(body: t.Any) -> list[dict[str, t.Any]]:
    return t.cast("list[dict[str, t.Any]]", body if isinstance(body, list) else body["value"])


def edge_rows(app: FeedbotApp) -> list[tuple[str, dict[str, t.Any]]]:
    """(export, row) of the rows exactly on a midnight inside the extracted range."""
    return [
        (export, row)
        for export, rows in app.bots[BOT].exports.items()
        for row in rows
        if row_time(row).time() == dt.time(0) and START < row_time(row) < END
    ]


def test_the_variant_points_and_their_defaults() -> None:
    assert set(VARIANTS) == {"range_bounds", "timestamp_form", "body"}
    assert VARIANTS["range_bounds"][0] == "inclusive"
    assert VARIANTS["timestamp_form"][0] == "mixed"
    assert VARIANTS["body"][0] == "array"
    assert make_app().variant == {}
    with pytest.raises(ValueError, match="unknown option"):
        app_with(body="xml").reading("body")


@pytest.mark.parametrize(
    ("option", "at_from", "at_to"),
    [
        ("inclusive", True, True),
        ("exclusive", False, False),
        ("exclusive_start", False, True),
        ("exclusive_end", True, False),
    ],
)
def test_range_bounds_apply_as_the_option_says(option: str, at_from: bool, at_to: bool) -> None:
    app = app_with(range_bounds=option)
    export, edge = edge_rows(app)[0]
    low = int(row_time(edge).timestamp())
    later = [r for r in app.bots[BOT].exports[export] if row_time(r).timestamp() > low + 60]
    high_row = min(later, key=row_time)
    high = int(row_time(high_row).timestamp())
    got = {row_key(r) for r in rows_of(served(app, export, fromTimestamp=low, toTimestamp=high))}
    assert (row_key(edge) in got) is at_from
    assert (row_key(high_row) in got) is at_to


@pytest.mark.parametrize("option", VARIANTS["timestamp_form"])
def test_timestamp_form_is_served_as_the_option_says(option: str) -> None:
    default, app = make_app(), app_with(timestamp_form=option)
    for export in ("userData", "nlpLog"):
        plain = rows_of(served(default, export))
        rows = rows_of(served(app, export))
        assert len(rows) == len(plain) > 5
        kinds: Counter[str] = Counter()
        for before, after in zip(plain, rows, strict=True):
            assert row_time(after) == row_time(before)  # the same instant
            assert row_key(after) == row_key(before)  # so the same key
            value = after["timestamp"]
            if isinstance(value, int):
                kinds["milliseconds" if value > 10**11 else "seconds"] += 1
            elif value.isdigit():
                kinds["seconds_text"] += 1
            else:
                kinds["iso_z" if value.endswith("Z") else "iso_offset"] += 1
        if option == "mixed":
            assert len(kinds) >= 3, kinds
        else:
            assert set(kinds) == {option}, kinds


@pytest.mark.parametrize("option", VARIANTS["body"])
def test_body_is_served_as_the_option_says(option: str) -> None:
    body = served(app_with(body=option), "urlTracker")
    if option == "array":
        assert isinstance(body, list) and body
    else:
        assert set(body) == {"value", "count"} and body["count"] == len(body["value"]) > 0


def test_every_extracted_day_range_has_rows_exactly_on_midnight() -> None:
    app = make_app()
    assert len({export for export, _ in edge_rows(app)}) >= 3


def test_row_key_is_the_same_for_every_spelling_of_one_instant() -> None:
    row = {"userId": "u1", "domain": "example.com", "url": "https://example.com/a"}
    when = dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)
    spellings = [
        int(when.timestamp()),
        int(when.timestamp()) * 1000,
        str(int(when.timestamp())),
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:00:00.000Z",
        "2026-03-01T02:00:00+02:00",
        "2026-03-01T09:00:00.000000+09:00",
    ]
    assert len({row_key({**row, "timestamp": s}) for s in spellings}) == 1
    assert row_key({**row, "timestamp": "2026-03-01T00:00:01Z"}) != row_key(
        {**row, "timestamp": "2026-03-01T00:00:00Z"}
    )
    # An unreadable timestamp is hashed as it came (still a stable key).
    odd = {**row, "timestamp": {"when": "yesterday"}}
    assert row_key(odd) == row_key(dict(reversed(list(odd.items()))))


# ---------------------------------------------------------------------- the tap reads them all


@pytest.fixture(scope="module")
def default_keys() -> dict[str, Counter[tuple[str, ...]]]:
    """Primary keys per export of a run against the default readings."""
    app = make_app()
    with Sandbox([app]) as sandbox:
        run = run_tap(config_for(sandbox.url, app))
    assert run.returncode == 0, run.stderr[-3000:]
    return {export: Counter(emitted(run, export)) for export in ALL_EXPORTS}


@pytest.mark.parametrize(("point", "option"), CASES, ids=[f"{p}-{o}" for p, o in CASES])
def test_every_row_is_emitted_once_with_the_default_keys_under_each_reading(
    sandbox_factory: t.Callable[..., Sandbox],
    default_keys: dict[str, Counter[tuple[str, ...]]],
    point: str,
    option: str,
) -> None:
    app = app_with(**{point: option})
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox.url, app))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "outside the requested range" not in run.stderr
    for export in ALL_EXPORTS:
        got = Counter(emitted(run, export))
        assert got == Counter(truth(app, export, START, END)), export
        assert got == default_keys[export], export
    # The rows exactly on a window's edge (midnight) are among them.
    edges = edge_rows(app)
    assert edges
    for export, row in edges:
        stamps = {r["timestamp"] for r in run.records(STREAM_OF[export]) if r["bot_id"] == BOT}
        assert normalise_timestamp(row["timestamp"]) in stamps, export


@pytest.mark.parametrize(
    "option", VARIANTS["range_bounds"] + VARIANTS["timestamp_form"][1:], ids=lambda o: o
)
def test_a_range_cut_on_a_row_in_two_runs_loses_nothing(
    sandbox_factory: t.Callable[..., Sandbox], option: str
) -> None:
    point = "range_bounds" if option in VARIANTS["range_bounds"] else "timestamp_form"
    app = app_with(**{point: option})
    # Cut on the instant of a mid-day row, spelled with +09:00.
    rows = app.bots[BOT].exports["nlpLog"]
    middle = START + (END - START) / 2
    row = min(rows, key=lambda r: abs(row_time(r) - middle))
    cut = row_time(row)
    assert cut.time() != dt.time(0)
    sandbox = sandbox_factory(app)
    first = run_tap(
        config_for(sandbox.url, app, end=cut.astimezone(dt.timezone(dt.timedelta(hours=9))))
    )
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_tap(config_for(sandbox.url, app), state=first.last_state)
    assert second.returncode == 0, second.stderr[-3000:]
    for export in ALL_EXPORTS:
        one, two = Counter(emitted(first, export)), Counter(emitted(second, export))
        assert set(one) | set(two) == set(truth(app, export, START, END)), export
        assert set(one) <= set(truth(app, export, START, cut)), export
    assert ("acme-shop", row_key(row)) in set(emitted(second, "nlpLog"))


# ---------------------------------------------------------------------- a reading it cannot place


class LocalClockApp(FeedbotApp):
    """Serves every timestamp as naive ISO text on Moscow's wall clock (UTC+3): a reading the
    tap cannot tell from UTC (a naive time is taken as UTC), so rows land hours off."""

    def handle(self, request: Request) -> t.Any:
        response = super().handle(request)
        if response.status == 200 and isinstance(response.body, list):
            moscow = dt.timezone(dt.timedelta(hours=3))
            response.body = [
                {**r, "timestamp": row_time(r).astimezone(moscow).replace(tzinfo=None).isoformat()}
                for r in response.body
            ]
        return response


def test_rows_outside_the_range_asked_for_are_one_clear_line_not_a_silent_drop(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    base = make_app()
    app = LocalClockApp(bots={BOT: base.bots[BOT]})
    sandbox = sandbox_factory(app)
    config = config_for(sandbox.url, app)
    run = run_tap(config)
    assert run.returncode == 1
    lines = run.error_lines()
    assert len(lines) == 1, lines
    assert f"Feedbot bot {BOT}" in lines[0] and "outside that range" in lines[0], lines[0]
    assert "the time filter does not apply to timestamp" in lines[0]
    assert "Traceback" not in run.stderr
    assert app.bots[BOT].key not in run.stdout + run.stderr
