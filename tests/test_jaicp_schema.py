"""JAICP schema review (issue 14 point 2): the OpenAPI spec types every DTO property, so those
types are enforced (a row of another shape stops JAICP with one line naming the field); what the
spec does not type is kept whole in any JSON form: ``utterancesJson`` (``JsonNode``, a stub) as
JSON text, undeclared top-level keys in ``extra_fields``, undeclared keys of nested DTOs in
place. The fast path and the plain SDK path emit the same records."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import jsonschema
import pytest

from sandbox import jaicp as fake
from sandbox.server import Sandbox
from tap_chatbot_reports.fastpath import PLAIN_SDK_ENV
from tests.tapio import TapRun, run_tap

START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
PROJECT = "acme-sales"
#: One value of every JSON form.
FORMS: list[t.Any] = [
    None,
    "hello",
    7,
    2.5,
    True,
    {"text": "hello", "alts": [{"w": 1}]},
    [{"text": "hello"}, "hi", 3],
]


def make_app() -> fake.JAICPApp:
    app = fake.default_app(START.date(), END.date())
    app.projects = {PROJECT: app.projects[PROJECT]}
    return app


def run_both(sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp) -> dict[str, TapRun]:
    sandbox = sandbox_factory(app)
    config = {
        "jaicp": fake.demo_config(app, sandbox.url),
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "backoff_factor": 0,
    }
    return {
        path: run_tap(config, env={PLAIN_SDK_ENV: "1"} if path == "plain" else {})
        for path in ("fast", "plain")
    }


def records(run: TapRun, stream: str) -> dict[str, dict[str, t.Any]]:
    assert run.returncode == 0, run.stderr[-3000:]
    schema = next(m["schema"] for m in run.messages if m.get("stream") == stream)
    validator = jsonschema.Draft7Validator(schema)
    key = {"jaicp_sessions": "sessionId", "jaicp_messages": "questionId"}[stream]
    out = {}
    for record in run.records(stream):
        validator.validate(record)
        out[record[key]] = record
    return out


def test_undocumented_values_are_kept_whole_in_any_form_on_both_paths(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    app = make_app()
    project = app.projects[PROJECT]
    messages = [m for m in project.messages if START <= m["_time"] < END][: len(FORMS)]
    sessions = [s for s in project.sessions if START <= s["_time"] < END][: len(FORMS)]
    assert len(messages) == len(sessions) == len(FORMS)
    for form, message, session in zip(FORMS, messages, sessions, strict=True):
        message["utterancesJson"] = form  # JsonNode: any JSON
        message["brandNewField"] = form  # not in the spec: extra_fields
        message["client"] = {**message["client"], "phone": form}  # nested, not in the spec
        message["nlpInfo"] = {**message["nlpInfo"], "hint": form}
        message["labels"] = [{**fake.MESSAGE_LABELS[0], "colour": form}]
        session["sessionLabels"] = form
        session["labels"] = [{**fake.SESSION_LABELS[0], "hidden": form}]
    runs = run_both(sandbox_factory, app)
    assert "not found in catalog schema" not in runs["fast"].stderr + runs["plain"].stderr
    for path, run in runs.items():
        got = records(run, "jaicp_messages")
        for form, message in zip(FORMS, messages, strict=True):
            record = got[message["questionId"]]
            # JSON text (a string stays as it came).
            text = record["utterancesJson"]
            assert (
                text == form if form is None or isinstance(form, str) else json.loads(text) == form
            )
            assert record["extra_fields"]["brandNewField"] == form, path
            assert record["client"]["phone"] == form, path
            assert record["nlpInfo"]["hint"] == form, path
            assert record["labels"][0]["colour"] == form, path
            assert record["labels"][0]["group"] == fake.MESSAGE_LABELS[0]["group"]
        sessions_got = records(run, "jaicp_sessions")
        for form, session in zip(FORMS, sessions, strict=True):
            record = sessions_got[session["sessionId"]]
            assert record["extra_fields"]["sessionLabels"] == form, path
            assert record["labels"][0]["hidden"] == form, path
    for stream in ("jaicp_messages", "jaicp_sessions"):
        assert runs["fast"].records(stream) == runs["plain"].records(stream), stream


def test_nested_label_groups_keep_undocumented_keys(
    sandbox_factory: t.Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = [
        {**label, "group": {**label["group"], "colour": "red"}} for label in fake.MESSAGE_LABELS
    ]
    labels[0]["archived"] = [1, 2]
    monkeypatch.setattr(fake, "MESSAGE_LABELS", labels)
    runs = run_both(sandbox_factory, make_app())
    for path, run in runs.items():
        assert run.returncode == 0, run.stderr[-2000:]
        got = {r["id"]: r for r in run.records("jaicp_message_labels")}
        assert {r["group"]["colour"] for r in got.values()} == {"red"}, path
        assert got[labels[0]["id"]]["extra_fields"] == {"archived": [1, 2]}, path
    assert runs["fast"].records("jaicp_message_labels") == runs["plain"].records(
        "jaicp_message_labels"
    )


@pytest.mark.parametrize(
    ("field", "value", "shape"),
    [
        ("questionCount", "7", "questionCount as str, not integer"),
        ("isLivechat", 1, "isLivechat as int, not boolean"),
        ("client", "client-7", "client as str, not an object"),
        ("labels", {"id": 11}, "labels as dict, not a list"),
        ("responseData", [1, 2], "responseData as list, not an object"),
        ("duration", 12.5, "duration as float, not integer"),
    ],
)
def test_a_documented_type_of_another_shape_is_one_line_naming_the_field(
    sandbox_factory: t.Callable[..., Sandbox], field: str, value: t.Any, shape: str
) -> None:
    app = make_app()
    session = next(s for s in app.projects[PROJECT].sessions if START <= s["_time"] < END)
    session[field] = value
    sandbox = sandbox_factory(app)
    config = {
        "jaicp": fake.demo_config(app, sandbox.url),
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "backoff_factor": 0,
    }
    for env in ({}, {PLAIN_SDK_ENV: "1"}):
        run = run_tap(config, env=env)
        assert run.returncode == 1
        lines = run.error_lines()
        assert len(lines) == 1, lines
        assert "jaicp_sessions" in lines[0] and shape in lines[0], lines[0]
        assert session["sessionId"] in lines[0]
        assert "Traceback" not in run.stderr
