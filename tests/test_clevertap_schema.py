"""CleverTap schema review (issue 14 point 2): documented types are enforced, everything else is
accepted in any JSON form and kept whole, on the fast path and on the plain SDK path."""

from __future__ import annotations

import json
import typing as t

import jsonschema
import pytest

from tap_chatbot_reports.fastpath import PLAIN_SDK_ENV
from tests.tapio import run_tap
from tests.test_clevertap import ACCOUNT, STREAM, config_for, make_app

#: One value of every JSON form.
FORMS: list[t.Any] = [
    None,
    "Charged",
    7,
    2.5,
    True,
    {"event": "Charged", "props": {"amount": [1, 2]}},
    [{"event": "Charged"}, "App Launched", 3],
]


def message(ident: int, **fields: t.Any) -> dict[str, t.Any]:
    base: dict[str, t.Any] = {
        "message id": ident,
        "data": [[{"sent": 10, "viewed": 4, "clicked": 1}], [{"sent": 5, "viewed": 2}]],
        "start_date": "Jan 3, 4:08 PM",
        "device": ["Android", "iOS"],
        "conversion_event": None,
        "labels": [],
        "status": "completed",
        "channel": "InApp",
        "message_name": "m",
        "delivery": "Action",
    }
    return {**base, **fields}


@pytest.fixture(params=["fast", "plain"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    return {PLAIN_SDK_ENV: "1"} if request.param == "plain" else {}


def run_with(sandbox_factory: t.Any, messages: list[dict[str, t.Any]], env: dict[str, str]):
    app = make_app()
    sandbox = sandbox_factory(app)
    body = {"status": "success", "total_results": len(messages), "messages": messages}
    sandbox.add_fault(match="report", status=200, body=body, times=1)
    run = run_tap(config_for(sandbox, daily=False), env=env)
    assert run.returncode == 0, run.stderr
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == STREAM)
    validator = jsonschema.Draft7Validator(schema["schema"])
    records = {r["message_id"]: r for r in run.records(STREAM)}
    for record in records.values():
        validator.validate(record)
    return records


def test_fields_without_a_documented_type_are_kept_whole_in_any_form(sandbox_factory, env):
    messages = [
        message(
            100 + n,
            conversion_event=form,
            labels=["Promo", form],
            **{"created by": form, "A/B split": {"a": form}},
        )
        for n, form in enumerate(FORMS)
    ]
    records = run_with(sandbox_factory, messages, env)
    assert len(records) == len(FORMS)
    for n, form in enumerate(FORMS):
        record = records[str(100 + n)]
        # conversion_event (null in the example, type not documented): JSON text of the value
        kept = record["conversion_event"]
        assert (kept if isinstance(form, str) or form is None else json.loads(kept)) == form
        # labels (an array; item type not documented): strings as they are, others as JSON
        first, second = record["labels"]
        assert first == "Promo"
        assert (second if isinstance(form, str) else json.loads(second)) == form
        # undocumented fields: whole, whatever their type, under their normalised names
        assert record["extra_fields"] == {"created_by": form, "a_b_split": {"a": form}}
        # data (the nesting of the two array levels is not explained): as it came
        assert json.loads(record["data"]) == messages[n]["data"]
        assert (record["sent"], record["viewed"], record["clicked"]) == (15, 6, 1)
        assert record["account_id"] == ACCOUNT


def test_documented_types_are_enforced_with_one_line(sandbox_factory, env):
    app = make_app()
    sandbox = sandbox_factory(app)
    body = {"status": "success", "messages": [message(5, channel={"name": "InApp"})]}
    sandbox.add_fault(match="report", status=200, body=body, times=1)
    run = run_tap(config_for(sandbox, daily=False), env=env)
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "message 5: 'channel' is dict, not a string" in line
    assert run.records(STREAM) == []


def test_schema_types_only_what_the_documents_state():
    from tap_chatbot_reports.vendors.clevertap_schemas import SCHEMA

    props = SCHEMA["properties"]
    json_text = {k for k, v in props.items() if v.get("contentMediaType") == "application/json"}
    assert json_text == {"conversion_event", "data"}
    open_objects = {k for k, v in props.items() if v.get("additionalProperties") is True}
    assert open_objects == {"extra_fields", "metrics"}
    for name in ("sent", "viewed", "clicked"):  # integers in the documented example
        assert props[name]["type"] == ["integer", "null"]
    for name in ("message_name", "channel", "delivery", "status", "start_date"):
        assert props[name]["type"] == ["string", "null"]
