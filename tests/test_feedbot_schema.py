"""Feedbot schema review (issue 14 point 2): Feedbot documents field names but no JSON type, so
no type is enforced: every documented field, every storage (declared as a column or not) and
every undocumented field is accepted in any JSON form and kept whole, on the fast path and on
the plain SDK path alike (same records)."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import jsonschema
import pytest

from sandbox.feedbot import FeedbotApp, generate_bot
from sandbox.server import Sandbox
from tap_chatbot_reports.fastpath import PLAIN_SDK_ENV
from tap_chatbot_reports.vendors.feedbot_schemas import EXPORTS, row_key
from tests.tapio import TapRun, run_tap

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
BOT = "acme-shop"
KEY = "fk-schema-S3cr3t"
#: One value of every JSON form (and text that looks like a number, a boolean, a date).
FORMS: list[t.Any] = [
    None,
    "text",
    "12",
    "012",
    "true",
    "2026-03-01",
    7,
    2.5,
    12.0,
    True,
    {"a": {"b": [1, 2]}},
    [{"a": 1}, "b", 3],
]
COLUMNS = {"age": "integer", "newsletter": "boolean", "email": "string", "birthday": "date-time"}


def app_with_forms() -> FeedbotApp:
    """One bot whose rows give every documented field and storage every JSON form."""
    bot = generate_bot(BOT, KEY, START.date(), END.date(), per_day=0)
    base = int(START.timestamp()) + 3600
    for export in EXPORTS:
        names = [n for n, _ in export.fields if n not in ("userId", "timestamp")]
        if export.user_data:
            names += [*COLUMNS, "undeclaredStorage"]
        else:
            names.append("undocumentedField")
        rows = []
        for index, form in enumerate(FORMS):
            row: dict[str, t.Any] = {"userId": f"u{index}", "timestamp": base + 60 * index}
            row.update(dict.fromkeys(names, form))
            rows.append(row)
        bot.exports[export.path] = rows
    return FeedbotApp(bots={BOT: bot})


def run_both(sandbox_factory: t.Callable[..., Sandbox], app: FeedbotApp) -> dict[str, TapRun]:
    sandbox = sandbox_factory(app)
    config = {
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "backoff_factor": 0,
        "feedbot": {
            "bots": [{"bot_id": BOT, "function_key": KEY}],
            "api_url_template": f"{sandbox.url}/feedbot/{{bot_id}}",
            "user_data_columns": COLUMNS,
        },
    }
    runs = {}
    for path, env in (("fast", {}), ("plain", {PLAIN_SDK_ENV: "1"})):
        run = run_tap(config, env=env)
        assert run.returncode == 0, (path, run.stderr[-3000:])
        runs[path] = run
    return runs


def kept_whole(
    record: dict[str, t.Any], catch_all: str, name: str, value: t.Any, kind: str
) -> bool:
    """The value is in the record as it came: in its column (JSON text for ``json``), or in
    the catch-all object column."""
    if name in (record.get(catch_all) or {}):
        return record[catch_all][name] == value and (
            record[catch_all][name].__class__ is value.__class__
        )
    column = record.get(name)
    if kind == "json" and value is not None and not isinstance(value, str):
        return json.loads(column) == value
    return column == value and column.__class__ is value.__class__


@pytest.fixture(scope="module")
def runs() -> t.Iterator[tuple[FeedbotApp, dict[str, TapRun]]]:
    app = app_with_forms()
    started: list[Sandbox] = []

    def factory(*apps: t.Any) -> Sandbox:
        sandbox = Sandbox(list(apps)).start()
        started.append(sandbox)
        return sandbox

    yield app, run_both(factory, app)
    for sandbox in started:
        sandbox.stop()


@pytest.mark.parametrize("export", EXPORTS, ids=[e.path for e in EXPORTS])
def test_every_field_in_every_json_form_is_kept_whole_on_both_paths(
    runs: tuple[FeedbotApp, dict[str, TapRun]], export: t.Any
) -> None:
    app, by_path = runs
    served = app.bots[BOT].exports[export.path]
    kinds = dict(export.fields) | (COLUMNS if export.user_data else {})
    catch_all = "storages" if export.user_data else "extra_fields"
    for path, run in by_path.items():
        schema = next(m["schema"] for m in run.messages if m.get("stream") == export.stream)
        validator = jsonschema.Draft7Validator(schema)
        records = run.records(export.stream)
        assert len(records) == len(served), path
        by_key = {(r["userId"] if export.user_data else r["row_key"]): r for r in records}
        for row in served:
            record = by_key[row["userId"] if export.user_data else row_key(row)]
            validator.validate(record)
            for name, value in row.items():
                if name == "timestamp":
                    assert record["timestamp"] == dt.datetime.fromtimestamp(
                        value, dt.UTC
                    ).isoformat(timespec="microseconds")
                    continue
                kind = kinds.get(name, "")
                assert kept_whole(record, catch_all, name, value, kind), (path, name, value)
    assert by_path["fast"].records(export.stream) == by_path["plain"].records(export.stream)


def test_a_converted_value_is_in_its_column_and_kept_as_it_came(
    runs: tuple[FeedbotApp, dict[str, TapRun]],
) -> None:
    _app, by_path = runs
    for run in by_path.values():
        users = {r["userId"]: r for r in run.records("feedbot_user_data")}
        as_text = users[f"u{FORMS.index('12')}"]
        assert as_text["age"] == 12 and as_text["storages"]["age"] == "12"
        padded = users[f"u{FORMS.index('012')}"]
        assert padded["storages"]["age"] == "012"  # the text is not lost
        day = users[f"u{FORMS.index('2026-03-01')}"]
        assert day["birthday"] == "2026-03-01T00:00:00.000000+00:00"
        assert day["storages"]["birthday"] == "2026-03-01"
        exact = users[f"u{FORMS.index(7)}"]
        assert exact["age"] == 7 and "age" not in exact["storages"]
        fuzzy = {r["row_key"]: r for r in run.records("feedbot_fuzzy_qa_log")}
        scores = {r["score"] for r in fuzzy.values()} - {None}
        assert {7, 2.5, 12.0} <= scores
