"""Certainly Message Report: requests, windows and caps, incremental state, faults, secrets."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import typing as t
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from sandbox.certainly import CertainlyApp, generate_messages
from tests.tapio import run_tap

SECRET = "tok-Certainly-S3cr3t/+=value"
START = dt.date(2026, 1, 1)
DAYS = 60


def make_app(**kwargs: t.Any) -> CertainlyApp:
    """Two bots over 60 days; bot-burst has 1,700 messages inside one 15-day window."""
    end = START + dt.timedelta(days=DAYS)
    burst = {START + dt.timedelta(days=d): 5 for d in range(DAYS)}
    for offset, count in ((16, 420), (18, 450), (20, 430), (22, 400)):
        burst[START + dt.timedelta(days=offset)] = count
    return CertainlyApp(
        bots={
            "bot-steady": generate_messages("bot-steady", START, end, 30),
            "bot-burst": generate_messages("bot-burst", START, end, burst),
        },
        token=SECRET,
        **kwargs,
    )


def config_for(sandbox: t.Any, app: CertainlyApp, **extra: t.Any) -> dict[str, t.Any]:
    return {
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{(START + dt.timedelta(days=DAYS - 1)).isoformat()}T23:59:59Z",
        "backoff_factor": 0,
        "max_retries": 3,
        "certainly": {
            "api_token": app.token,
            "bot_ids": sorted(app.bots),
            "api_url": f"{sandbox.url}/certainly/api/",
            "message_report_path": "reports/messages/",
            **extra,
        },
    }


def truth(app: CertainlyApp) -> set[tuple[str, str]]:
    return {(bot, str(m["id"])) for bot, rows in app.bots.items() for m in rows}


def keys(records: list[dict[str, t.Any]]) -> set[tuple[str, str]]:
    return {(r["bot_id"], r["id"]) for r in records}


def query_of(target: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}


def assert_no_secret(run: t.Any) -> None:
    for form in (SECRET, "tok-Certainly-S3cr3t%2F%2B%3Dvalue"):
        assert form not in run.stdout
        assert form not in run.stderr


def test_every_message_emitted_and_no_request_spans_more_than_15_days(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app))
    assert run.returncode == 0, run.stderr
    records = run.records("certainly_messages")
    assert keys(records) == truth(app)  # every sandbox message, nothing else
    burst_window = [
        r
        for r in records
        if r["bot_id"] == "bot-burst" and "2026-01-16" <= r["timestamp"][:10] <= "2026-01-30"
    ]
    assert len({r["id"] for r in burst_window}) >= 1700
    for request in sandbox.requests_for("certainly"):
        query = query_of(request.target)
        span = dt.date.fromisoformat(query["toDate"]) - dt.date.fromisoformat(query["fromDate"])
        assert span.days + 1 <= 15
    assert "toDate is before" not in run.stderr


def test_request_contract(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app, report_type=3, window_days=10))
    assert run.returncode == 0, run.stderr
    # Windows are fetched concurrently: pick the first window's request by its query.
    first = next(
        r
        for r in sandbox.requests_for("certainly")
        if query_of(r.target).get("fromDate") == "2026-01-01"
        and query_of(r.target).get("botId") == "bot-burst"
    )
    assert first.method == "GET"
    assert urlsplit(first.target).path == "/certainly/api/reports/messages/"
    assert first.headers["authorization"] == f"JWT {SECRET}"
    assert first.headers["content-type"] == "application/json"
    # Ten days of records, and the day after (whether toDate is inclusive is not documented).
    assert query_of(first.target) == {
        "fromDate": "2026-01-01",
        "toDate": "2026-01-11",
        "reportId": "3",
        "botId": "bot-burst",
    }
    assert {r["report_type"] for r in run.records()} == {3}


def test_windows_are_split_on_the_row_cap_and_truncated_days_warned(sandbox_factory):
    end = START + dt.timedelta(days=10)
    counts = {START + dt.timedelta(days=d): 40 for d in range(10)}
    counts[START + dt.timedelta(days=4)] = 650  # more than one call can return
    app = CertainlyApp(bots={"bot-x": generate_messages("bot-x", START, end, counts)}, token=SECRET)
    sandbox = sandbox_factory(app)
    config = config_for(sandbox, app)
    config["end_date"] = "2026-01-10T23:59:59Z"
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    got = keys(run.records())
    capped_day = "2026-01-05"
    for message in app.bots["bot-x"]:
        if not message["timestamp"].startswith(capped_day):
            assert ("bot-x", str(message["id"])) in got
    assert sum(1 for r in run.records() if r["timestamp"].startswith(capped_day)) == 500
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line and "cap" in line]
    assert len(warnings) == 1 and "bot-x" in warnings[0] and capped_day in warnings[0]


def test_incremental_run_rereads_only_the_bookmark_day(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    first = run_tap(config_for(sandbox, app))
    assert first.returncode == 0, first.stderr
    state = first.last_state
    assert state is not None
    bookmarks = {
        p["context"]["bot_id"]: p["replication_key_value"]
        for p in state["bookmarks"]["certainly_messages"]["partitions"]
    }
    assert bookmarks == {
        bot: max(r["timestamp"] for r in first.records() if r["bot_id"] == bot) for bot in app.bots
    }
    sandbox.clear()
    second = run_tap(config_for(sandbox, app), state=state)
    assert second.returncode == 0, second.stderr
    for request in sandbox.requests_for("certainly"):
        query = query_of(request.target)
        assert query["fromDate"] == bookmarks[query["botId"]][:10]
    # Only rows at or after each bot's bookmark come again (targets dedupe on the key).
    for record in second.records():
        assert record["timestamp"] >= bookmarks[record["bot_id"]]


def test_kill_and_resume_loses_nothing(sandbox_factory, tmp_path: Path):
    app = make_app()
    sandbox = sandbox_factory(app)
    sandbox.latency = 0.02
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config_for(sandbox, app)))
    command = [sys.executable, "-m", "tap_chatbot_reports", "--config", str(config_path)]
    seen: list[dict[str, t.Any]] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(json.loads(line))
            if sum(1 for m in seen if m["type"] == "RECORD") >= 1200:
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    states = [m["value"] for m in seen if m["type"] == "STATE"]
    assert states, "a STATE must be emitted before the kill point (one per drained window)"
    resumed = run_tap(config_for(sandbox, app), state=states[-1])
    assert resumed.returncode == 0, resumed.stderr
    first_records = [m["record"] for m in seen if m["type"] == "RECORD"]
    assert keys(first_records) | keys(resumed.records()) == truth(app)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 429, "retry_after": "0"},
        {"kind": "status", "status": 429, "retry_after": "Wed, 21 Oct 2015 07:28:00 GMT"},
        {"kind": "status", "status": 503},
        {"kind": "reset"},
        {"kind": "truncate"},
    ],
    ids=["429-seconds", "429-http-date", "503", "reset", "truncated-json"],
)
def test_transient_faults_are_retried_and_output_equals_fault_free(sandbox_factory, fault):
    app = make_app()
    sandbox = sandbox_factory(app)
    clean = run_tap(config_for(sandbox, app))
    sandbox.add_fault(match="botId=bot-burst", times=2, **fault)
    sandbox.add_fault(match="botId=bot-steady", times=1, **fault)
    faulty = run_tap(config_for(sandbox, app))
    assert faulty.returncode == 0, faulty.stderr
    assert faulty.records() == clean.records()
    assert "retry 1/3" in faulty.stderr
    assert_no_secret(faulty)
    assert SECRET not in json.dumps(faulty.states())


def test_401_exits_with_one_line_naming_the_token_setting(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(sandbox, app)
    config["certainly"]["api_token"] = SECRET + "-wrong"
    run = run_tap(config)
    assert run.returncode != 0
    errors = run.error_lines()
    assert len(errors) == 1, run.stderr
    assert "Certainly" in errors[0] and "certainly_messages" in errors[0]
    assert "bot_id=bot-burst" in errors[0] and "certainly.api_token" in errors[0]
    assert "Traceback" not in run.stderr
    assert_no_secret(run)


def test_404_names_the_path_setting(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app, message_report_path="wrong/path/"))
    assert run.returncode != 0
    assert "certainly.message_report_path" in run.error_lines()[0]


def test_persistent_503_gives_up_after_max_retries(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match="reports", kind="status", status=503, times=100)
    run = run_tap(config_for(sandbox, app))
    assert run.returncode != 0
    # 1 try + max_retries=3 per window (windows in flight at once each make their own tries).
    tries: dict[str, int] = {}
    for request in sandbox.requests:
        tries[request.target] = tries.get(request.target, 0) + 1
    first = next(target for target in tries if "fromDate=2026-01-01" in target)
    assert tries[first] == 4
    assert max(tries.values()) == 4
    assert "gave up after 4 attempts" in run.error_lines()[0]


def test_undocumented_fields_are_kept(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app))
    record = run.records()[0]
    assert "undocumented_score" in record["extra_fields"]
    assert record["botuser"]["id"].startswith("user-")


def test_object_response_without_a_list_is_a_clear_error():
    from tap_chatbot_reports.errors import TapError
    from tap_chatbot_reports.vendors.certainly import extract_rows

    assert extract_rows({"results": [{"id": 1}]}) == [{"id": 1}]
    with pytest.raises(TapError, match=r"certainly\.message_report_path"):
        extract_rows({"detail": "something"})
    with pytest.raises(TapError):
        extract_rows("text")


def test_empty_state_starts_from_start_date(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app), state={})
    assert run.returncode == 0
    assert keys(run.records()) == truth(app)


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_requests_in_flight_reach_max_concurrency_and_never_exceed_it(sandbox_factory, limit):
    """Lanes that shape and encode their pages run one more at a time than the setting, so the
    setting's number of requests stays in flight while a lane works: never more than that."""
    import threading
    import time

    app = make_app()
    lock = threading.Lock()
    in_flight = peak = 0
    handle = app.handle

    def slow_handle(request: t.Any) -> t.Any:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            time.sleep(0.05)
            return handle(request)
        finally:
            with lock:
                in_flight -= 1

    app.handle = slow_handle  # type: ignore[method-assign]
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, app, max_concurrency=limit))
    assert run.returncode == 0, run.stderr[-2000:]
    assert keys(run.records("certainly_messages")) == truth(app)
    assert peak == limit
