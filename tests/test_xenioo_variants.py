"""Xenioo sandbox variants (issue 14 point 6): the sandbox really serves each reading of the
undocumented points in ``sandbox.xenioo.VARIANTS`` and the tap emits every row under each. The
budgets are hourly: every tap run below gets a fresh app."""

from __future__ import annotations

import json
import typing as t

import jsonschema
import pytest

from sandbox import xenioo
from sandbox.server import Headers, Request, Sandbox
from tap_chatbot_reports.fastpath import PLAIN_SDK_ENV
from tests.tapio import run_tap
from tests.test_xenioo_tap import (
    assert_no_secret,
    config_for,
    data_calls_with_dead_tokens,
    make_app,
    served,
)

IDENTIFYING = ("GroupLabel", "BotName", "ChannelName", "EventLabel")
TOKEN_KEYS = {
    "legacy": {"Token", "Expires"},
    "current": {"token", "expires"},
    "current_expire": {"token", "expire"},
    "current_expires_at": {"token", "expiresAt"},
}
VALUE_KEYS = {
    "Value": {"Type", "Value", "Count"},
    "Total": {"Type", "Total", "Count"},
    "value": {"Type", "value", "count"},
    "Count": {"Type", "Count"},
}


def post_token(app: xenioo.XeniooApp) -> dict[str, t.Any]:
    request = Request(
        method="POST",
        path="/authorization/integration",
        raw_target="/xenioo/authorization/integration",
        query={},
        headers=Headers({"content-type": "application/json"}),
        body=json.dumps({"AccountAPIKey": app.account_key}).encode(),
    )
    response = app.handle(request)
    assert response.status == 200
    return t.cast("dict[str, t.Any]", response.body)


def test_the_variant_points_cover_the_documented_unknowns() -> None:
    assert set(xenioo.VARIANTS) == {"token_fields", "value_field"}
    assert set(xenioo.VARIANTS["token_fields"]) == set(TOKEN_KEYS)
    assert set(xenioo.VARIANTS["value_field"]) == set(VALUE_KEYS)
    assert make_app().variant == {}


@pytest.mark.parametrize("spelling", xenioo.VARIANTS["token_fields"])
def test_each_token_spelling_is_served(spelling: str) -> None:
    app = make_app(variant={"token_fields": spelling})
    body = post_token(app)
    assert set(body) == TOKEN_KEYS[spelling]


@pytest.mark.parametrize("spelling", xenioo.VARIANTS["token_fields"])
def test_the_tap_reads_the_expiry_of_each_token_spelling(
    sandbox_factory: t.Callable[..., Sandbox], spelling: str
) -> None:
    # 1-second tokens and a 2-second Retry-After: only a tap that read the expiry from this
    # spelling exchanges a new token before the retry (a 60-minute guess would meet a 401).
    app = make_app(token_lifetime=1.0, variant={"token_fields": spelling})
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match=r"/statistics/account/", status=503, retry_after="2", times=1)
    run = run_tap(config_for(app, sandbox, bots=[], days=2))
    assert run.returncode == 0, run.stderr[-2000:]
    log = list(sandbox.requests)
    assert 401 not in [r.status for r in log]
    assert data_calls_with_dead_tokens(app, log) == []
    assert [s for s, _ in app.tokens_issued] == ["account", "account"]
    assert len(run.records("xenioo_account_statistics")) == len(served(app, "account_stats")) > 0
    assert len(run.records("xenioo_delivery_statistics")) == len(served(app, "account_dlr")) > 0
    assert_no_secret(run, app)


@pytest.mark.parametrize("name", xenioo.VARIANTS["value_field"])
def test_each_value_field_name_is_served(name: str) -> None:
    app = make_app(variant={"value_field": name})
    rows = app.aggregate(app.events, {b.api_key for b in app.bots}, {3, 8}, "day", 3)
    assert rows
    assert {frozenset(set(r) - set(IDENTIFYING)) for r in rows} == {frozenset(VALUE_KEYS[name])}


@pytest.mark.parametrize("name", xenioo.VARIANTS["value_field"])
def test_the_tap_keeps_each_value_field_whole_in_extra_fields(
    sandbox_factory: t.Callable[..., Sandbox], name: str
) -> None:
    app = make_app(variant={"value_field": name})
    sandbox = sandbox_factory(app)
    config = config_for(app, sandbox, days=3)
    config["xenioo"]["bots"] = config["xenioo"]["bots"][:1]
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    for stream, endpoints in (
        ("xenioo_account_statistics", ("account_stats",)),
        ("xenioo_bot_statistics", ("bot_stats",)),
        ("xenioo_delivery_statistics", ("account_dlr", "bot_dlr")),
    ):
        rows = served(app, *endpoints)
        records = run.records(stream)
        assert len(records) == len(rows) > 0, stream
        # every served row, its undocumented fields kept whole under their own names
        got = sorted(
            json.dumps({**{k: r[k] for k in IDENTIFYING}, **r["extra_fields"]}, sort_keys=True)
            for r in records
        )
        assert got == sorted(json.dumps(row, sort_keys=True) for row in rows), stream
    assert {r["type_code"] for r in run.records("xenioo_bot_statistics")} == set(range(19))


#: One value of every JSON form, for fields whose type is not documented.
FORMS: list[t.Any] = [None, "x", 7, 2.5, True, {"a": [1, {"b": None}]}, [1, "two", {"c": 3}]]


@pytest.mark.parametrize("path", ["fast", "plain"])
def test_fields_without_a_documented_type_are_kept_in_any_json_form(
    sandbox_factory: t.Callable[..., Sandbox], path: str
) -> None:
    rows = [
        {
            "GroupLabel": "2026-11-30" if n % 2 else 2026,
            "BotName": form if n != 1 else "Support Bot",
            "ChannelName": "Web Chat",
            "EventLabel": f"Messages {n}",
            "Type": 3,
            "Value": form,
            "Breakdown": {"by": form},
        }
        for n, form in enumerate(FORMS)
    ]
    app = make_app()
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match=r"/statistics/account/\*/", status=200, body=rows, times=1)
    env = {PLAIN_SDK_ENV: "1"} if path == "plain" else {}
    run = run_tap(config_for(app, sandbox, bots=[], group_mode="year"), env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    schema = next(
        m["schema"]
        for m in run.messages
        if m["type"] == "SCHEMA" and m["stream"] == "xenioo_account_statistics"
    )
    records = sorted(run.records("xenioo_account_statistics"), key=lambda r: r["EventLabel"])
    assert len(records) == len(rows)
    for row, record in zip(rows, records, strict=True):
        jsonschema.Draft7Validator(schema).validate(record)
        extra = record["extra_fields"]
        assert extra["Value"] == row["Value"] and extra["Breakdown"] == row["Breakdown"]
        for key in IDENTIFYING:
            value = row[key]
            if value is None or isinstance(value, str):
                assert record[key] == (value or "") and key not in extra
            else:  # keyed by its JSON text, and kept as it came
                assert json.loads(record[key]) == value and extra[key] == value
    years = {r["period_start"] for r in records if r["GroupLabel"] == "2026"}
    assert years == {"2026-01-01T00:00:00.000000+00:00"}
