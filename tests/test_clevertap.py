"""CleverTap Message Reports end to end against the sandbox: requests, completeness, lookback
state, both modes and shapes, status-fail handling, hostile bodies, config errors, secrets,
concurrent window fetching under the per-account cap."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import pytest

from sandbox.clevertap import Account, CleverTapApp, generate_messages
from tests.tapio import run_tap

ACCOUNT = "TEST-4R8-ZZ1-5Z7Z"
SECRET = "ct-Pass/c0de+=S3cret"
STREAM = "clevertap_message_reports"
START = dt.date(2026, 1, 1)
DAYS = 31
LAST = START + dt.timedelta(days=DAYS - 1)  # 2026-01-31
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def make_app(**kwargs: t.Any) -> CleverTapApp:
    end = START + dt.timedelta(days=DAYS)
    return CleverTapApp(
        accounts={
            ACCOUNT: Account(SECRET, generate_messages(START, end, 4, seed=7)),
            "TEST-OTHER": Account("other-passcode", generate_messages(START, end, 2, seed=8)),
        },
        now=NOW,
        **kwargs,
    )


def config_for(sandbox: t.Any, **section: t.Any) -> dict[str, t.Any]:
    return {
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{LAST.isoformat()}T23:59:59Z",
        "backoff_factor": 0,
        "max_retries": 3,
        "clevertap": {
            "account_id": ACCOUNT,
            "passcode": SECRET,
            "api_url": f"{sandbox.url}/clevertap",
            **section,
        },
    }


def bodies(sandbox: t.Any) -> list[dict[str, t.Any]]:
    """Request bodies in window order (windows are fetched concurrently: arrival order varies)."""
    found = [json.loads(r.body) for r in sandbox.requests_for("clevertap")]
    return sorted(found, key=lambda body: (body.get("from", ""), body.get("to", "")))


def day(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


def counts(records: list[dict[str, t.Any]]) -> dict[tuple[str, str], dict[str, int]]:
    keyed: dict[tuple[str, str], dict[str, int]] = {}
    for r in records:
        key = (r["message_id"], r["report_date"])
        assert key not in keyed, f"{key} emitted twice"
        keyed[key] = {"sent": r["sent"], "viewed": r["viewed"], "clicked": r["clicked"]}
    return keyed


def assert_no_secret(run: t.Any) -> None:
    for form in (SECRET, "ct-Pass%2Fc0de%2B%3DS3cret"):
        assert form not in run.stdout
        assert form not in run.stderr


def test_every_message_day_emitted_once_with_the_sandbox_counts(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    records = run.records(STREAM)
    assert counts(records) == app.message_days(ACCOUNT, START, LAST)
    assert len(records) > 300
    assert {r["account_id"] for r in records} == {ACCOUNT}
    assert [r["report_date"] for r in records] == sorted(r["report_date"] for r in records)
    assert all(r["extra_fields"] == {"created_by": "ops@example.com"} for r in records)
    # 14-day windows (the default), contiguous, covering start_date..end_date exactly; each
    # sends the day after the window as `to` (its inclusivity is not documented), so the
    # windows' day sets [from, to) tile the range under either reading
    sent = [(day(b["from"]), day(b["to"])) for b in bodies(sandbox)]
    assert sent == [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 15)),
        (dt.date(2026, 1, 15), dt.date(2026, 1, 29)),
        (dt.date(2026, 1, 29), dt.date(2026, 2, 1)),
    ]
    assert "outside the requested days" not in run.stderr  # the extra day is expected
    assert app.peak_in_flight <= 3  # CleverTap allows 3 requests in flight per account
    assert {r.status for r in sandbox.requests_for("clevertap")} == {200}
    assert run.last_state == {
        "bookmarks": {
            STREAM: {
                "partitions": [
                    {
                        "context": {"account_id": ACCOUNT},
                        "replication_key": "report_date",
                        "replication_key_value": "2026-01-31",
                    }
                ]
            }
        }
    }
    assert_no_secret(run)


def test_request_contract_headers_path_and_body(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(
        sandbox,
        window_days=10,
        channels=["push", "InApp"],
        deliveries=["action", "one_time"],
        statuses=["completed"],
        message_types=["single"],
        labels=["Promo"],
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    first = next(r for r in sandbox.requests_for("clevertap") if '"20260101"' in r.body)
    assert first.method == "POST"
    assert first.target == "/clevertap/1/message/report.json"  # nothing in the query string
    assert first.headers["x-clevertap-account-id"] == ACCOUNT
    assert first.headers["x-clevertap-passcode"] == SECRET
    assert first.headers["content-type"] == "application/json"
    assert json.loads(first.body) == {
        "from": "20260101",
        "to": "20260111",
        "daily": True,
        "channel": ["push", "InApp"],
        "delivery": ["action", "one_time"],
        "status": ["completed"],
        "message_type": ["single"],
        "label": ["Promo"],
    }
    records = run.records(STREAM)
    assert records, "the filters should still match some messages"
    assert {r["channel"] for r in records} <= {"Push", "InApp"}
    assert all("Promo" in r["labels"] and r["status"] == "completed" for r in records)
    assert max((day(b["to"]) - day(b["from"])).days for b in bodies(sandbox)) == 10


def test_second_run_rereads_exactly_the_lookback_days(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(sandbox, lookback_days=7)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    state = first.last_state
    bookmark = state["bookmarks"][STREAM]["partitions"][0]["replication_key_value"]
    assert bookmark == "2026-01-31"
    # counts keep rising after a message is sent: bump every count inside the lookback
    for message in app.accounts[ACCOUNT].messages:
        for stat_day, variants in message.stats.items():
            if stat_day >= dt.date(2026, 1, 24):
                for variant in variants:
                    variant["sent"] += 1000
    sandbox.requests.clear()

    second = run_tap(config, state=state)
    assert second.returncode == 0, second.stderr
    assert bodies(sandbox) == [{"from": "20260124", "to": "20260201", "daily": True}]
    expected = app.message_days(ACCOUNT, dt.date(2026, 1, 24), LAST)
    assert counts(second.records(STREAM)) == expected  # the new counts, nothing older
    assert min(r["report_date"] for r in second.records(STREAM)) == "2026-01-24"
    assert second.last_state == state


def test_lookback_zero_rereads_only_the_bookmark_day_and_never_before_start_date(
    sandbox_factory,
):
    app = make_app()
    sandbox = sandbox_factory(app)
    state = {
        "bookmarks": {
            STREAM: {
                "partitions": [
                    {
                        "context": {"account_id": ACCOUNT},
                        "replication_key": "report_date",
                        "replication_key_value": "2026-01-20",
                    }
                ]
            }
        }
    }
    run = run_tap(config_for(sandbox, lookback_days=0), state=state)
    assert run.returncode == 0, run.stderr
    assert bodies(sandbox) == [{"from": "20260120", "to": "20260201", "daily": True}]
    assert counts(run.records(STREAM)) == app.message_days(ACCOUNT, dt.date(2026, 1, 20), LAST)
    sandbox.requests.clear()
    run = run_tap(config_for(sandbox, lookback_days=30), state=state)
    assert run.returncode == 0, run.stderr
    assert bodies(sandbox)[0]["from"] == "20260101"  # the lookback stops at start_date


def test_keyed_daily_shape_gives_the_same_records(sandbox_factory):
    app = make_app(variant={"daily_shape": "keyed"})
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    assert counts(run.records(STREAM)) == app.message_days(ACCOUNT, START, LAST)


@pytest.mark.parametrize("window_days", [14, 1])
def test_aggregate_answer_to_a_daily_request_is_one_line_naming_the_setting(
    sandbox_factory, window_days
):
    # An API that ignored `daily` would answer without days: the day of the counts cannot be
    # known (the inclusivity of `to` is not documented), so the run stops with one line.
    app = make_app(variant={"daily_shape": "aggregate"})
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, window_days=window_days))
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "cannot be interpreted" in line and "data without days" in line
    assert "although daily=true was sent; set clevertap.daily to false" in line
    assert run.records(STREAM) == []
    assert "Traceback" not in run.stderr


def test_daily_false_is_a_full_table_snapshot_keyed_by_message_id(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(sandbox, daily=False, window_days=31))
    assert run.returncode == 0, run.stderr
    assert bodies(sandbox) == [{"from": "20260101", "to": "20260131", "daily": False}]
    records = run.records(STREAM)
    got = {r["message_id"]: {k: r[k] for k in ("sent", "viewed", "clicked")} for r in records}
    assert len(got) == len(records)
    assert got == app.aggregates(ACCOUNT, START, LAST)
    assert {r["report_date"] for r in records} == {None}
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == STREAM)
    assert schema["key_properties"] == ["message_id"]
    assert not schema.get("bookmark_properties")
    assert "replication_key_value" not in json.dumps(run.states())


def test_daily_false_over_30_days_with_defaults_is_one_request_with_the_totals(
    sandbox_factory,
):
    # window_days keeps its default (14): the aggregate mode still asks for the whole range
    # in one call, so each message's counts are its total over the range.
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(sandbox, daily=False)
    config["end_date"] = "2026-01-31T00:00:00Z"  # exclusive: 30 days, Jan 1..30
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    assert bodies(sandbox) == [{"from": "20260101", "to": "20260130", "daily": False}]
    records = run.records(STREAM)
    got = {r["message_id"]: {k: r[k] for k in ("sent", "viewed", "clicked")} for r in records}
    assert len(got) == len(records)
    last = dt.date(2026, 1, 30)
    # The sandbox's truth, summed here from each message's daily counts over the range.
    truth = {
        str(m.message_id): {
            name: sum(v[name] for d, variants in m.stats.items() if d <= last for v in variants)
            for name in ("sent", "viewed", "clicked")
        }
        for m in app.accounts[ACCOUNT].messages
        if START <= m.start.date() <= last
    }
    assert got == truth == app.aggregates(ACCOUNT, START, last)
    # Messages whose counts run past a 14-day boundary carry the counts of every day.
    assert any(
        min(m.stats) <= dt.date(2026, 1, 14) < max(m.stats) for m in app.accounts[ACCOUNT].messages
    )
    assert {(r["window_from"], r["window_to"]) for r in records} == {("2026-01-01", "2026-01-30")}


def test_status_fail_401_on_http_200_is_one_line_without_the_passcode(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(sandbox)
    config["clevertap"]["passcode"] = SECRET + "-wrong"
    run = run_tap(config)
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "status fail (code 401): Invalid Credentials" in line
    assert "clevertap.passcode" in line
    assert f"account_id={ACCOUNT}" in line
    # not retried: each window asked once at most (the next windows may already be in flight)
    sent = bodies(sandbox)
    assert sent[0]["from"] == "20260101"
    assert len(sent) == len({json.dumps(b, sort_keys=True) for b in sent}) <= 3
    assert {r.status for r in sandbox.requests_for("clevertap")} == {200}
    assert_no_secret(run)
    assert "-wrong" not in run.stderr


def test_vendor_error_text_echoing_the_passcode_is_redacted(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    sandbox.add_fault(
        match="report", status=200, body={"status": "fail", "code": 403, "error": f"{SECRET} no"}
    )
    run = run_tap(config_for(sandbox))
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "status fail (code 403): *** no" in line
    assert_no_secret(run)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"status": "fail", "code": 429, "error": "Too many concurrent requests"}),
        (200, {"status": "fail", "code": 500, "error": "Unknown error"}),
        (429, {"status": "fail", "code": 429, "error": "Too many concurrent requests"}),
        (503, {"error": "unavailable"}),
    ],
)
def test_transient_failures_are_retried_and_nothing_is_lost(sandbox_factory, status, body):
    app = make_app()
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match="report", status=status, body=body, times=2)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    assert counts(run.records(STREAM)) == app.message_days(ACCOUNT, START, LAST)
    assert run.stderr.count("retry ") == 2
    assert len(sandbox.requests) == 3 + 2


def test_persistent_retriable_fail_gives_up_with_the_vendor_text(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    body = {"status": "fail", "code": 503, "error": "Service busy"}
    sandbox.add_fault(match="report", status=200, body=body, times=10)
    run = run_tap(config_for(sandbox, window_days=31))
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "status fail (code 503): Service busy" in line
    assert "gave up after 4 attempts" in line
    assert len(sandbox.requests) == 4


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": "success", "messages": "none"}, "'messages' is str, not a list"),
        ({"status": "success", "messages": [{"data": []}]}, "no 'message id'"),
        ({"status": "success", "messages": [{"message id": 5, "data": [[7]]}]}, "message 5"),
        ([1, 2], "expected a JSON object, got list"),
    ],
)
def test_hostile_bodies_are_one_clear_line(sandbox_factory, body, expected):
    app = make_app()
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match="report", status=200, body=body, times=1)
    run = run_tap(config_for(sandbox, window_days=31))  # one window: the fault hits it
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "cannot be interpreted" in line and expected in line
    assert "2026-01-01..2026-01-31" in line
    assert "Traceback" not in run.stderr


def test_duplicate_message_day_in_one_response_is_an_error_not_a_silent_overwrite(
    sandbox_factory,
):
    app = make_app()
    sandbox = sandbox_factory(app)
    entry = {"message id": 9, "data": [[{"date": 20260102, "sent": 1}]]}
    sandbox.add_fault(match="report", status=200, body={"messages": [entry, entry]})
    run = run_tap(config_for(sandbox, window_days=31))  # one window: the fault hits it
    assert run.returncode == 1
    assert "lists message 9 on 2026-01-02 twice" in run.error_lines()[0]


def test_http_401_names_the_credential_settings(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match="report", status=401, body={"status": "fail", "code": 401})
    run = run_tap(config_for(sandbox))
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "HTTP 401" in line and "clevertap.passcode" in line
    assert_no_secret(run)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"channels": ["push", "carrier_pigeon"]}, "clevertap.channels: unknown value(s) carrier"),
        ({"region": "mars1"}, "clevertap.region"),
        ({"window_days": 0}, "clevertap.window_days"),
        ({"max_concurrency": 4}, "clevertap.max_concurrency"),
        ({"max_concurrency": 0}, "clevertap.max_concurrency"),
        ({"passcode": None}, "clevertap.passcode: this required setting is missing"),
    ],
)
def test_bad_config_is_one_line_before_any_request(sandbox_factory, section, expected):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(sandbox, **section)
    if section.get("passcode", "") is None:
        del config["clevertap"]["passcode"]
    run = run_tap(config)
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "invalid config" in line and expected in line
    assert sandbox.requests == []
    assert_no_secret(run)


def test_extended_filter_values_are_sent(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(
        sandbox, channels=["whatsapp"], extra_filter_values={"channels": ["whatsapp"]}
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    assert {tuple(b["channel"]) for b in bodies(sandbox)} == {("whatsapp",)}
    assert run.records(STREAM) == []


def test_catalog_from_another_mode_is_refused(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    discovered = run_tap(config_for(sandbox), args=["--discover"])
    catalog = json.loads(discovered.stdout)
    run = run_tap(config_for(sandbox, daily=False), catalog=catalog)
    assert run.returncode == 1
    assert "run discovery again" in run.error_lines()[0]
    assert sandbox.requests == []


def test_total_results_above_the_listed_messages_is_warned(sandbox_factory):
    app = make_app()
    sandbox = sandbox_factory(app)
    body = {"status": "success", "total_results": 250, "messages": []}
    sandbox.add_fault(match="report", status=200, body=body, times=1)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    assert "total_results is 250 but 0 messages came back" in run.stderr
    assert "clevertap.window_days" in run.stderr


# ---------------------------------------------------------------------- concurrency


def stream_messages(run: t.Any) -> list[dict[str, t.Any]]:
    """RECORD and STATE messages in emission order, without the extraction time."""
    kept = [dict(m) for m in run.messages if m["type"] in ("RECORD", "STATE")]
    for message in kept:
        message.pop("time_extracted", None)
    return kept


@pytest.mark.parametrize(("setting", "expected"), [(1, 1), (2, 2), (3, 3), (None, 3)])
def test_windows_are_fetched_concurrently_up_to_max_concurrency(sandbox_factory, setting, expected):
    # Each report takes 0.2 s inside the sandbox's in-flight count, which answers 429 beyond
    # ``expected`` concurrent requests for the account.
    app = make_app(report_delay=0.2, max_in_flight=expected)
    sandbox = sandbox_factory(app)
    section: dict[str, t.Any] = {"window_days": 3}
    if setting is not None:
        section["max_concurrency"] = setting
    run = run_tap(config_for(sandbox, **section))
    assert run.returncode == 0, run.stderr
    assert len(bodies(sandbox)) == 11  # 31 days in 3-day windows, each asked once
    assert {r.status for r in sandbox.requests_for("clevertap")} == {200}  # no 429
    assert app.peak_in_flight == expected  # reached, never above
    assert counts(run.records(STREAM)) == app.message_days(ACCOUNT, START, LAST)


@pytest.mark.parametrize("daily", [True, False])
def test_concurrent_fetching_emits_the_same_records_and_states_in_the_same_order(
    sandbox_factory, daily
):
    app = make_app(report_delay=0.05)
    sandbox = sandbox_factory(app)
    runs = {
        n: run_tap(config_for(sandbox, window_days=3, max_concurrency=n, daily=daily))
        for n in (1, 3)
    }
    for run in runs.values():
        assert run.returncode == 0, run.stderr
    sequential, concurrent = stream_messages(runs[1]), stream_messages(runs[3])
    assert concurrent == sequential  # records, their order and every STATE in between
    records = runs[3].records(STREAM)
    assert len(records) > 100
    if daily:
        dates = [r["report_date"] for r in records]
        assert dates == sorted(dates)
        # a STATE after every drained window, its bookmark never moving back
        marks = [
            state["bookmarks"][STREAM]["partitions"][0].get("replication_key_value")
            for state in runs[3].states()
            if state.get("bookmarks", {}).get(STREAM, {}).get("partitions")
        ]
        assert len(marks) >= 11
        assert [m for m in marks if m] == sorted(m for m in marks if m)
        assert marks[-1] == "2026-01-31"
