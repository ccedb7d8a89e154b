"""CleverTap sandbox variants (issue 14 point 6): the sandbox really serves each reading of the
undocumented points in ``sandbox.clevertap.VARIANTS``, and the tap emits every row under each."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import pytest

from sandbox.clevertap import UNREADABLE, VARIANTS, CleverTapApp
from tests.tapio import run_tap
from tests.test_clevertap import ACCOUNT, LAST, START, STREAM, config_for, counts, make_app
from tests.test_clevertap_sandbox import _request

DAILY_SHAPES = VARIANTS["daily_shape"]


def daily_answer(app: CleverTapApp, first: str, to: str) -> list[dict[str, t.Any]]:
    response = app.handle(_request({"from": first, "to": to, "daily": True}))
    assert response.status == 200 and response.body["status"] == "success"
    return t.cast("list[dict[str, t.Any]]", response.body["messages"])


def variant_app(**variant: str) -> CleverTapApp:
    app = make_app()
    app.variant = dict(variant)
    return app


def test_the_variant_switch_follows_the_contract() -> None:
    for point, options in VARIANTS.items():
        assert len(options) == len(set(options)) >= 2, point
    assert make_app().variant == {}
    assert set(UNREADABLE) <= set(VARIANTS)
    assert not set(UNREADABLE["daily_shape"]) & set(DAILY_SHAPES)


def test_every_daily_shape_is_served_and_each_is_a_different_shape() -> None:
    forms: dict[str, str] = {}
    for shape in DAILY_SHAPES:
        messages = daily_answer(variant_app(daily_shape=shape), "20260105", "20260112")
        assert messages
        data = next(m["data"] for m in messages if len(m["data"]) >= 2)
        forms[shape] = json.dumps(data, sort_keys=True)
        if shape.startswith("keyed"):
            assert isinstance(data, dict)
            keys = list(data)
            assert all(len(k) == (8 if shape == "keyed" else 10) for k in keys), keys
        elif shape == "flat":
            assert isinstance(data, list) and all(isinstance(e, dict) for e in data)
            assert all(isinstance(e["date"], int) for e in data)
        else:
            entry = data[0][0]
            key, expected = {
                "dated": ("date", 20260105),
                "dated_day_iso": ("day", "2026-01-05"),
                "dated_report_date": ("report_date", "20260105"),
                "dated_dt": ("dt", "2026-01-05"),
            }[shape]
            assert key in entry and type(entry[key]) is type(expected)
            assert len(str(entry[key])) == len(str(expected))
    assert len(set(forms.values())) == len(DAILY_SHAPES)  # no option is a no-op


@pytest.mark.parametrize("shape", DAILY_SHAPES)
def test_the_tap_emits_every_message_day_under_each_daily_shape(sandbox_factory, shape) -> None:
    app = variant_app(daily_shape=shape)
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    assert counts(run.records(STREAM)) == app.message_days(ACCOUNT, START, LAST)


def test_to_is_served_inclusive_and_exclusive() -> None:
    def days(app: CleverTapApp) -> set[int]:
        messages = daily_answer(app, "20260105", "20260107")
        return {e["date"] for m in messages for v in m["data"] for e in v}

    assert days(variant_app(to_bound="inclusive")) == {20260105, 20260106, 20260107}
    assert days(variant_app(to_bound="exclusive")) == {20260105, 20260106}


@pytest.mark.parametrize("bound", VARIANTS["to_bound"])
def test_the_tap_loses_no_day_under_either_reading_of_to(sandbox_factory, bound) -> None:
    app = variant_app(to_bound=bound)
    sandbox = sandbox_factory(app)
    truth = app.message_days(ACCOUNT, START, LAST)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    assert counts(run.records(STREAM)) == truth
    assert "outside the requested days" not in run.stderr
    # Cut in two runs mid-day (an instant with an offset), the second resuming from the state.
    config = config_for(sandbox)
    config["end_date"] = "2026-01-20T13:37:00+09:00"
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    second = run_tap(config_for(sandbox), state=first.last_state)
    assert second.returncode == 0, second.stderr
    got: dict[tuple[str, str], dict[str, int]] = {}
    for part in (first, second):
        got.update(counts(part.records(STREAM)))  # the second run's lookback re-reads days
    assert got == truth
    assert max(r["report_date"] for r in first.records(STREAM)) == "2026-01-20"


def test_the_unreadable_daily_shape_is_one_line_naming_the_setting(sandbox_factory) -> None:
    app = variant_app(daily_shape=UNREADABLE["daily_shape"][0])
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "data without days" in line and "clevertap.daily" in line
    assert run.records(STREAM) == []


def test_default_app_of_the_matrix_serves_the_variants(sandbox_factory) -> None:
    """``default_app(START, END)`` (what the matrix runs) switches with ``app.variant``."""
    from sandbox.clevertap import default_app

    app = default_app(dt.date(2026, 2, 1), dt.date(2026, 2, 21))
    app.variant = {"daily_shape": "keyed_iso"}
    account = next(iter(app.accounts))
    request = _request({"from": "20260201", "to": "20260205", "daily": True})
    request.headers["x-clevertap-account-id"] = account
    request.headers["x-clevertap-passcode"] = app.accounts[account].passcode
    messages = app.handle(request).body["messages"]
    assert messages and all(isinstance(m["data"], dict) for m in messages)
    assert all("-" in key for m in messages for key in m["data"])
