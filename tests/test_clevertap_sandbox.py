"""The CleverTap sandbox itself keeps to the documented contract (so it catches tap bugs)."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import pytest

from sandbox.server import Headers, Request
from tests.test_clevertap import ACCOUNT, SECRET, make_app


def _request(body: t.Any, **headers: str) -> Request:
    base = {
        "x-clevertap-account-id": ACCOUNT,
        "x-clevertap-passcode": SECRET,
        "content-type": "application/json",
    }
    base.update({k.lower().replace("_", "-"): v for k, v in headers.items()})
    return Request(
        method="POST",
        path="/1/message/report.json",
        raw_target="/clevertap/1/message/report.json",
        query={},
        headers=Headers(base),
        body=json.dumps(body).encode(),
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"from": 20260101, "to": "20260102"}, "from must be a date string"),
        ({"from": "2026-01-01", "to": "20260102"}, "from must be a date string"),
        ({"to": "20260102"}, "from & to are required"),
        ({"from": "20260105", "to": "20260102"}, "to must not be before from"),
        ({"from": "20260101", "to": "20260102", "channels": ["push"]}, "Unknown parameter"),
        ({"from": "20260101", "to": "20260102", "channel": "push"}, "array of strings"),
    ],
)
def test_sandbox_rejects_what_the_contract_does_not_allow(body, error):
    response = make_app().handle(_request(body))
    assert response.status == 400
    assert response.body["status"] == "fail" and error in response.body["error"]


def test_sandbox_checks_credentials_and_the_concurrency_cap():
    app = make_app()
    bad = app.handle(_request({"from": "20260101", "to": "20260101"}, x_clevertap_passcode="x"))
    assert (bad.status, bad.body["code"]) == (200, 401)
    app._in_flight[ACCOUNT] = 3
    busy = app.handle(_request({"from": "20260101", "to": "20260101"}))
    assert (busy.status, busy.body["error"]) == (429, "Too many concurrent requests")
    assert app.peak_in_flight == 4


def test_sandbox_never_returns_the_future():
    app = make_app()
    app.now = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
    response = app.handle(_request({"from": "20260101", "to": "20260131", "daily": True}))
    days = {entry["date"] for m in response.body["messages"] for v in m["data"] for entry in v}
    assert max(days) == 20260110


def test_sandbox_only_serves_post_on_the_documented_path():
    app = make_app()
    request = _request({"from": "20260101", "to": "20260101"})
    request.method = "GET"
    assert app.handle(request).status == 405
    request = _request({"from": "20260101", "to": "20260101"})
    request.path = "/1/message/reports.json"
    assert app.handle(request).status == 404
    request = _request({"from": "20260101", "to": "20260101"}, content_type="text/plain")
    assert app.handle(request).status == 400


def test_sandbox_aggregate_over_30_days_is_the_sum_of_the_days():
    # No maximum range is documented: the sandbox answers a 30-day aggregate like any other,
    # each message (selected by start day) carrying its counts summed over the range.
    app = make_app()
    response = app.handle(_request({"from": "20260101", "to": "20260130", "daily": False}))
    assert response.status == 200 and response.body["status"] == "success"
    last = dt.date(2026, 1, 30)
    messages = {m.message_id: m for m in app.accounts[ACCOUNT].messages}
    listed = response.body["messages"]
    assert {m["message id"] for m in listed} == {
        i for i, m in messages.items() if dt.date(2026, 1, 1) <= m.start.date() <= last
    }
    for entry in listed:
        stats = messages[entry["message id"]].stats
        for name in ("sent", "viewed", "clicked"):
            served = sum(variant[name] for variants in entry["data"] for variant in variants)
            assert served == sum(v[name] for d, vs in stats.items() if d <= last for v in vs)
