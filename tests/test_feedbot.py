"""Feedbot Export API end to end: the real CLI against the sandbox's fake API.

Every record of every export of every bot is emitted once; the key travels only in the
``x-functions-key`` header; every request is a time-filtered window; the old bot's missing exports
are one warning each; errors are one line without a secret.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import typing as t
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.feedbot import (
    ALL_EXPORTS,
    NEWER_EXPORTS,
    FeedbotApp,
    default_app,
    demo_config,
    generate_bot,
    row_time,
)
from sandbox.server import Sandbox
from tap_chatbot_reports.vendors.feedbot_schemas import EXPORTS, row_key
from tests.tapio import TapRun, run_tap

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 3, 5, tzinfo=dt.UTC)  # end_date: four whole days
KEYS = {
    "acme-shop": "fk/Acme+S3cr3t==",
    "city-help": "fk-City-S3cr3t-7Qx",
    "legacy-bot": "fk-Legacy-S3cr3t-9Zz",
}
STREAM_OF = {e.path: e.stream for e in EXPORTS}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def make_app(**kwargs: t.Any) -> FeedbotApp:
    """Three bots over 2026-03-01..03-06 (data past end_date too); legacy-bot is pre-v1.7.474."""
    first, last = START.date(), (END + dt.timedelta(days=2)).date()
    return FeedbotApp(
        bots={
            "acme-shop": generate_bot("acme-shop", KEYS["acme-shop"], first, last, storages="shop"),
            "city-help": generate_bot("city-help", KEYS["city-help"], first, last, storages="city"),
            "legacy-bot": generate_bot(
                "legacy-bot",
                KEYS["legacy-bot"],
                first,
                last,
                storages="legacy",
                version=(1, 7, 301),
            ),
        },
        **kwargs,
    )


def config_for(
    url: str, app: FeedbotApp, end: dt.datetime = END, **section: t.Any
) -> dict[str, t.Any]:
    return {
        "start_date": START.isoformat(),
        "end_date": end.isoformat(),
        "backoff_factor": 0,
        "max_retries": 3,
        "feedbot": {
            "bots": [{"bot_id": b, "function_key": app.bots[b].key} for b in sorted(app.bots)],
            "api_url_template": f"{url}/feedbot/{{bot_id}}",
            **section,
        },
    }


def identity(export: str, bot_id: str, row: dict[str, t.Any]) -> tuple[str, ...]:
    """How a row is identified: its primary key in the tap."""
    if export == "userData":
        return (bot_id, row["userId"])
    if export == "userDataSnapshot":
        return (bot_id, row["userId"], row_time(row).isoformat(timespec="microseconds"))
    return (bot_id, row_key(row))


def emitted(run: TapRun, export: str) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for record in run.records(STREAM_OF[export]):
        if export == "userData":
            out.append((record["bot_id"], record["userId"]))
        elif export == "userDataSnapshot":
            out.append((record["bot_id"], record["userId"], record["timestamp"]))
        else:
            out.append((record["bot_id"], record["row_key"]))
    return out


def truth(app: FeedbotApp, export: str, start: dt.datetime, end: dt.datetime) -> list[tuple]:
    expected = app.expected(start, end)
    return sorted(
        identity(export, bot_id, row)
        for (bot_id, path), rows in expected.items()
        if path == export
        for row in rows
    )


def warnings(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| WARNING " in line]


def query_of(target: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(target).query, keep_blank_values=True)


def assert_no_key(*texts: str) -> None:
    for key in KEYS.values():
        for form in (key, key.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")):
            for text in texts:
                assert form not in text


@pytest.fixture(scope="module")
def full_run() -> t.Iterator[tuple[FeedbotApp, Sandbox, TapRun]]:
    """One run over three bots (one old), declared storage columns; shared by several tests."""
    app = make_app()
    with Sandbox([app]) as sandbox:
        run = run_tap(
            config_for(
                sandbox.url,
                app,
                user_data_columns={"email": "string", "age": "integer", "newsletter": "boolean"},
            )
        )
        yield app, sandbox, run


# ---------------------------------------------------------------------- acceptance 1 and 2


def test_every_record_of_every_export_is_emitted_exactly_once(full_run):
    app, _sandbox, run = full_run
    assert run.returncode == 0, run.stderr
    assert not run.error_lines()
    for export in ALL_EXPORTS:
        got = emitted(run, export)
        assert len(got) == len(set(got)), f"{export}: a record was emitted twice"
        want = truth(app, export, START, END)
        assert sorted(got) == want, export
        assert want, f"{export}: the sandbox generated nothing to check"
    # Rows sitting exactly on a window edge (midnight) were served twice (inclusive bounds).
    edges = [
        r
        for bot in app.bots.values()
        for rows in bot.exports.values()
        for r in rows
        if row_time(r).time() == dt.time(0) and START < row_time(r) < END
    ]
    assert edges


def test_old_bot_missing_exports_are_one_warning_each_and_exit_zero(full_run):
    _app, _sandbox, run = full_run
    assert run.returncode == 0
    legacy = [line for line in warnings(run) if "legacy-bot" in line]
    assert len(legacy) == len(NEWER_EXPORTS)
    for export in NEWER_EXPORTS:
        lines = [line for line in legacy if f" {export} export" in line]
        assert len(lines) == 1, export
        assert "v1.7.474" in lines[0] and STREAM_OF[export] in lines[0]
    # The old bot's user data and the other bots' newer exports were still extracted.
    assert {r["bot_id"] for r in run.records("feedbot_user_data")} == set(KEYS)
    assert {r["bot_id"] for r in run.records("feedbot_url_tracker")} == {"acme-shop", "city-help"}


def test_no_function_key_in_any_url_output_or_state(full_run):
    _app, sandbox, run = full_run
    calls = sandbox.requests_for("feedbot")
    assert calls
    for request in calls:
        assert "code=" not in request.target
        assert_no_key(request.target)
        bot_id = request.target.split("/")[2]
        assert request.headers["x-functions-key"] == KEYS[bot_id]
    assert_no_key(run.stdout, run.stderr)


def test_each_request_is_a_get_of_one_export_for_one_day(full_run):
    _app, sandbox, _run = full_run
    calls = sandbox.requests_for("feedbot")
    assert {r.method for r in calls} == {"GET"}
    seen: dict[tuple[str, str], list[tuple[int, int]]] = collections.defaultdict(list)
    for request in calls:
        path = urlsplit(request.target).path
        match = re.fullmatch(r"/feedbot/([^/]+)/api/management/export/(\w+)", path)
        assert match, path
        query = query_of(request.target)
        assert set(query) == {"fromTimestamp", "toTimestamp"}  # no filters configured
        low, high = int(query["fromTimestamp"][0]), int(query["toTimestamp"][0])
        assert 0 < high - low <= 86_400 + 1  # daily windows, seconds not milliseconds
        seen[(match.group(1), match.group(2))].append((low, high))
    starts = [int(START.timestamp()) + day * 86_400 for day in range(4)]
    for (bot_id, export), windows in seen.items():
        # Four days, each asked once, one second of overlap at the start for unknown bounds;
        # the old bot's newer exports are asked once (404), then skipped.
        days = starts[:1] if bot_id == "legacy-bot" and export in NEWER_EXPORTS else starts
        # (Windows are fetched concurrently: the order of arrival is not fixed.)
        assert sorted(windows) == [(s - 1, s + 86_400) for s in days], (bot_id, export)
    assert len(seen) == 2 * len(ALL_EXPORTS) + len(ALL_EXPORTS)  # the old bot: 404 on day one
    assert len(calls) == 2 * len(ALL_EXPORTS) * 4 + 1 * 4 + len(NEWER_EXPORTS)


def test_records_carry_bot_id_and_normalised_timestamps(full_run):
    app, _sandbox, run = full_run
    records = run.records()
    assert records
    for record in records:
        assert record["bot_id"] in KEYS
        assert ISO_UTC.match(record["timestamp"]), record["timestamp"]
        assert START.isoformat() <= record["timestamp"] < END.isoformat()
    # The sandbox served seconds, milliseconds and ISO forms: all came out in one form.
    forms = {
        type(row["timestamp"]).__name__
        for bot in app.bots.values()
        for rows in bot.exports.values()
        for row in rows
    }
    assert forms == {"int", "str"}


def test_state_holds_one_bookmark_per_bot_and_no_secret(full_run):
    app, _sandbox, run = full_run
    state = run.last_state
    assert state is not None
    assert_no_key(str(state))
    partitions = state["bookmarks"]["feedbot_nlp_log"]["partitions"]
    by_bot = {p["context"]["bot_id"]: p for p in partitions}
    assert "replication_key_value" not in by_bot.pop("legacy-bot")  # 404: nothing read
    assert set(by_bot) == {"acme-shop", "city-help"}
    for bot_id, partition in by_bot.items():
        times = [row_time(r) for r in app.bots[bot_id].exports["nlpLog"]]
        latest = max(w for w in times if w < END)
        assert partition["replication_key_value"] == latest.isoformat(timespec="microseconds")
        assert set(partition["context"]) == {"bot_id"}


def test_declared_storages_are_typed_columns_and_nothing_is_dropped(full_run):
    app, _sandbox, run = full_run
    rows = {
        (bot_id, row["userId"]): row
        for bot_id, bot in app.bots.items()
        for row in bot.exports["userData"]
    }
    misfits = converted = 0
    for record in run.records("feedbot_user_data"):
        raw = rows[(record["bot_id"], record["userId"])]
        storages = record["storages"]
        for name, value in raw.items():
            if name in ("userId", "timestamp"):
                continue
            if name in ("email", "age", "newsletter"):
                if record[name] is None and value is not None:
                    assert storages[name] == value  # did not fit: kept whole
                    misfits += 1
                elif name == "age" and isinstance(value, str):
                    assert record["age"] == int(value)  # converted ...
                    assert storages["age"] == value  # ... and kept as it came
                    converted += 1
                else:
                    assert record[name] == value
                    assert name not in storages
            else:
                assert storages[name] == value
    assert misfits  # the shop bot's free-text "unknown" ages
    assert converted  # and its ages written as text
    age_warnings = [w for w in warnings(run) if "field age" in w]
    assert len(age_warnings) == 2  # once per stream for the shop bot, not once per row
    schema = next(
        m["schema"]
        for m in run.messages
        if m["type"] == "SCHEMA" and m["stream"] == "feedbot_user_data"
    )
    assert schema["properties"]["age"]["type"] == ["integer", "null"]
    assert "storages" in schema["properties"]


def test_undocumented_log_fields_are_kept(full_run):
    app, _sandbox, run = full_run
    records = run.records("feedbot_integration_log")
    assert records
    raw = {
        row_key(row): row
        for bot in app.bots.values()
        for row in bot.exports.get("integrationLog", [])
    }
    for record in records:
        served = raw[record["row_key"]]
        assert record["extra_fields"] == {"correlationId": served["correlationId"]}
        # Fields of undocumented type come out as JSON text holding exactly what was served.
        assert json.loads(record["requestBody"]) == served["requestBody"]
        assert json.loads(record["requestHeaders"]) == served["requestHeaders"]
        assert record["responseBody"] == served["responseBody"]  # a string stays as it is
        assert record["responseStatus"] == served["responseStatus"]
    fuzzy = run.records("feedbot_fuzzy_qa_log")
    assert fuzzy and all(isinstance(r["stepId"], str) for r in fuzzy)  # numbers as ids


# ---------------------------------------------------------------------- incremental


def test_second_run_resumes_from_each_bots_bookmark(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    middle = START + dt.timedelta(days=2, hours=7)
    first = run_tap(config_for(sandbox.url, app, end=middle))
    assert first.returncode == 0, first.stderr
    sandbox.requests.clear()
    second = run_tap(config_for(sandbox.url, app), state=first.last_state)
    assert second.returncode == 0, second.stderr
    for export in ALL_EXPORTS:
        one, two = emitted(first, export), emitted(second, export)
        assert sorted(set(one) | set(two)) == truth(app, export, START, END), export
        again = set(one) & set(two)
        # Only the rows at a bookmark are read again (at-least-once at the bookmark instant).
        assert len(again) <= len(KEYS), export
    # Each bot and export resumed one second before its own bookmark (the old bot's newer
    # exports have none: they are asked from start_date and answer 404 again).
    resumed_at_bookmark = 0
    bookmarks = first.last_state["bookmarks"]  # type: ignore[index]
    for request in sandbox.requests_for("feedbot"):
        bot_id, export = request.target.split("?")[0].split("/")[2::4]
        if bot_id == "legacy-bot" and export in NEWER_EXPORTS:
            continue
        partitions = bookmarks[STREAM_OF[export]]["partitions"]
        mark = next(p for p in partitions if p["context"]["bot_id"] == bot_id)
        value = mark.get("replication_key_value")  # none when the first run read no row
        resumed = dt.datetime.fromisoformat(value) if value else START
        lows = [
            int(query_of(r.target)["fromTimestamp"][0])
            for r in sandbox.requests_for("feedbot")
            if r.target.startswith(f"/feedbot/{bot_id}/api/management/export/{export}?")
        ]
        assert min(lows) == int(resumed.timestamp()) - 1, (bot_id, export)
        resumed_at_bookmark += resumed > START
    assert resumed_at_bookmark


def test_exclusive_bounds_lose_nothing(sandbox_factory):
    app = make_app()
    app.variant = {"range_bounds": "exclusive"}
    app.bots.pop("legacy-bot")
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox.url, app))
    assert run.returncode == 0, run.stderr
    for export in ALL_EXPORTS:
        assert sorted(emitted(run, export)) == truth(app, export, START, END), export


# ---------------------------------------------------------------------- user-data filters


def test_user_data_filters_are_sent_on_user_data_exports_only(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(
        config_for(
            sandbox.url,
            app,
            user_data_not_empty=["phone"],
            user_data_where={"gender": "male"},
        )
    )
    assert run.returncode == 0, run.stderr
    for request in sandbox.requests_for("feedbot"):
        query = query_of(request.target)
        if request.target.split("?")[0].endswith(("/userData", "/userDataSnapshot")):
            assert query["notEmpty"] == ["phone"] and query["whereGender"] == ["male"]
        else:
            assert set(query) == {"fromTimestamp", "toTimestamp"}
    want = sorted(
        (bot_id, row["userId"])
        for bot_id, bot in app.bots.items()
        for row in bot.exports["userData"]
        if START <= row_time(row) < END and row.get("phone") and row.get("gender") == "male"
    )
    assert want
    assert sorted(emitted(run, "userData")) == want
    # Without user_data_columns every storage stays in the storages object.
    record = run.records("feedbot_user_data")[0]
    assert set(record) == {"bot_id", "userId", "timestamp", "storages"}


# ---------------------------------------------------------------------- faults and errors


def test_transient_errors_are_retried_without_losing_rows(sandbox_factory):
    app = make_app()
    app.bots.pop("legacy-bot")
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match=r"acme-shop/.*/nlpLog", kind="status", status=503, times=2)
    sandbox.add_fault(match=r"city-help/.*/urlTracker", kind="truncate", times=1)
    sandbox.add_fault(match=r"city-help/.*/userData\?", kind="status", status=429, retry_after="0")
    run = run_tap(config_for(sandbox.url, app))
    assert run.returncode == 0, run.stderr
    for export in ("nlpLog", "urlTracker", "userData"):
        assert sorted(emitted(run, export)) == truth(app, export, START, END), export
    assert len([w for w in warnings(run) if "retry" in w]) == 4


def test_rejected_key_is_one_error_line_naming_the_setting(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(sandbox.url, app)
    config["feedbot"]["bots"][1]["function_key"] = "fk-Wrong-S3cr3t-0000"
    run = run_tap(config)
    assert run.returncode == 1
    lines = run.error_lines()
    assert len(lines) == 1
    assert "HTTP 401" in lines[0] and "bot_id=city-help" in lines[0]
    assert "feedbot.bots[].function_key" in lines[0]
    assert "Traceback" not in run.stderr
    assert "fk-Wrong-S3cr3t-0000" not in run.stderr + run.stdout
    assert_no_key(run.stderr, run.stdout)


def test_user_data_404_is_fatal_and_names_the_url_template(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(sandbox.url, app)
    config["feedbot"]["api_url_template"] = f"{sandbox.url}/feedbot/nope-{{bot_id}}"
    config["feedbot"]["bots"] = config["feedbot"]["bots"][:1]
    run = run_tap(config)
    assert run.returncode == 1
    lines = run.error_lines()
    assert len(lines) == 1 and "HTTP 404" in lines[0]
    assert "feedbot.api_url_template" in lines[0] and "feedbot_user_data" in lines[0]


def test_a_body_that_is_not_a_list_is_one_clear_error(sandbox_factory):
    app = make_app()
    app.bots.pop("legacy-bot")
    sandbox = sandbox_factory(app)
    sandbox.add_fault(
        match=r"/userData\?", kind="status", status=200, body={"message": "maintenance"}
    )
    run = run_tap(config_for(sandbox.url, app))
    assert run.returncode == 1
    lines = run.error_lines()
    assert len(lines) == 1
    assert "userData returned an object (keys: 'message')" in lines[0]
    assert "feedbot.api_url_template" in lines[0]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"api_url_template": "https://feedbot-{bot_id}.azurewebsites.net?code=abcd"},
            "feedbot.api_url_template: must not carry the function key",
        ),
        ({"user_data_columns": {"age": "int"}}, "feedbot.user_data_columns.age"),
    ],
)
def test_bad_config_is_one_line_before_any_request(sandbox_factory, section, message):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(sandbox.url, app)
    config["feedbot"].update(section)
    run = run_tap(config)
    assert run.returncode == 1
    lines = run.error_lines()
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert not sandbox.requests


# ---------------------------------------------------------------------- discovery and demo


def test_discovery_lists_the_eight_exports_with_their_keys():
    run = run_tap({"feedbot": {"bots": []}}, args=["--discover"])
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run.stdout)
    streams = {
        s["tap_stream_id"]: s
        for s in catalog["streams"]
        if s["tap_stream_id"] in STREAM_OF.values()
    }
    assert set(streams) == set(STREAM_OF.values())
    assert streams["feedbot_user_data"]["key_properties"] == ["bot_id", "userId"]
    assert streams["feedbot_nlp_log"]["key_properties"] == ["bot_id", "row_key"]
    for stream in streams.values():
        assert stream["replication_key"] == "timestamp"
        assert "bot_id" in stream["schema"]["properties"]


def test_demo_config_extracts_the_default_sandbox_and_nothing_from_the_future(sandbox_factory):
    today = dt.datetime.now(dt.UTC).date()
    app = default_app(today - dt.timedelta(days=2), today + dt.timedelta(days=1))
    sandbox = sandbox_factory(app)
    config = {
        "start_date": f"{today - dt.timedelta(days=2)}T00:00:00Z",
        "backoff_factor": 0,
        "feedbot": demo_config(app, sandbox.url),
    }
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    now = dt.datetime.now(dt.UTC).isoformat()
    records = run.records()
    assert {r["bot_id"] for r in records} == set(app.bots) and len(app.bots) == 3
    assert all(r["timestamp"] <= now for r in records)
    assert len([w for w in warnings(run) if "skipped for this bot" in w]) == len(NEWER_EXPORTS)
