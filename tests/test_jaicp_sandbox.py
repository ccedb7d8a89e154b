"""JAICP end to end: the real CLI against the sandbox (v1 Bearer and legacy token-in-path)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import typing as t
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest

from sandbox import jaicp as fake
from sandbox.jaicp_data import api_time
from sandbox.server import Sandbox
from tests.tapio import TapRun, run_tap

START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 3, 4, 6, tzinfo=dt.UTC)  # the last window is a partial day
DATA = (dt.date(2024, 2, 28), dt.date(2024, 3, 6))  # data on both sides of the range
LEGACY_PROJECT = "acme-support"
WINDOWED = {
    "jaicp_sessions": ("sessions", "sessionId", "_time"),
    "jaicp_messages": ("messages", "questionId", "_time"),
    "jaicp_clients": ("clients", "id", "_last"),
}


def config(
    sandbox: Sandbox, app: fake.JAICPApp, version: str, **section: t.Any
) -> dict[str, t.Any]:
    base = fake.demo_config(app, sandbox.url)
    if version == "legacy":
        base.pop("project_short_names")
        base.update(api_version="legacy", api_token=app.projects[LEGACY_PROJECT].legacy_token)
    base.update(section)
    return {
        "jaicp": base,
        "start_date": START.isoformat(),
        "end_date": END.isoformat(),
        "backoff_factor": 0,
        "max_retries": 2,
    }


def truth(app: fake.JAICPApp, version: str, stream: str) -> Counter[tuple[str, ...]]:
    resource, key, when = WINDOWED[stream]
    projects = [app.projects[LEGACY_PROJECT]] if version == "legacy" else app.projects.values()
    rows = [r for p in projects for r in getattr(p, resource) if START <= r[when] < END]
    if stream == "jaicp_clients":
        return Counter((r["id"], r["botId"]) for r in rows)
    return Counter((r[key],) for r in rows)


def emitted(run: TapRun, stream: str) -> Counter[tuple[str, ...]]:
    if stream == "jaicp_clients":
        return Counter((r["id"], r["botId"]) for r in run.records(stream))
    key = WINDOWED[stream][1]
    return Counter((r[key],) for r in run.records(stream))


@pytest.fixture
def app() -> fake.JAICPApp:
    return fake.default_app(*DATA)


@pytest.mark.parametrize("version", ["v1", "legacy"])
def test_every_row_in_range_once_and_page_sizes_agree(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp, version: str
) -> None:
    sandbox = sandbox_factory(app)
    runs = {size: run_tap(config(sandbox, app, version, page_size=size)) for size in (7, 100)}
    for size, run in runs.items():
        assert run.returncode == 0, run.stderr[-2000:]
        for stream in WINDOWED:
            expected = truth(app, version, stream)
            assert expected and emitted(run, stream) == expected, (size, stream)
            assert max(emitted(run, stream).values()) == 1

    def as_set(run: TapRun, stream: str) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True) for r in run.records(stream))

    for stream in (*WINDOWED, "jaicp_message_stats", "jaicp_message_labels"):
        assert as_set(runs[7], stream) == as_set(runs[100], stream), stream
    assert app.forbidden_calls == []
    sizes = {call["size"] for call in app.filter_calls}
    assert sizes == {7, 100}


def test_v1_requests_carry_bearer_filters_and_session_options(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app, "v1"))
    assert run.returncode == 0, run.stderr[-2000:]
    sessions = [r for r in sandbox.requests if "/sessions/filter" in r.target]
    assert sessions
    for request in sessions:
        split = urlsplit(request.target)
        query = parse_qs(split.query)
        assert request.method == "POST"
        assert split.path == "/jaicp/api/v1/reporter/sessions/filter"
        assert request.headers["authorization"] == f"Bearer {app.token}"
        assert query["needToReturnSessionLabels"] == ["true"]
        assert query["needToReturnSessionData"] == ["true"]
        assert query["projectShortName"][0] in app.projects
    bodies = [json.loads(r.body) for r in sessions if "page=0" in r.target]
    windows = sorted(
        {(b["filters"][0]["from"], b["filters"][0]["to"]) for b in bodies if b["filters"]}
    )
    # Daily windows, each asked from one millisecond before its start (the bounds'
    # inclusivity is not documented: an exclusive ``from`` must still return a row at midnight).
    assert windows == [
        ("2024-02-29T23:59:59.999Z", "2024-03-02T00:00:00.000Z"),
        ("2024-03-01T23:59:59.999Z", "2024-03-03T00:00:00.000Z"),
        ("2024-03-02T23:59:59.999Z", "2024-03-04T00:00:00.000Z"),
        ("2024-03-03T23:59:59.999Z", "2024-03-04T06:00:00.000Z"),
    ]
    assert all(b["filters"][0]["key"] == "SESSION_START_TIME" for b in bodies)
    # Messages: one flat query per window and page, never one request per session.
    messages = [r for r in sandbox.requests if "/reporter/messages/" in r.target]
    assert all(urlsplit(r.target).path.endswith("/messages/filter") for r in messages)
    assert len(messages) < len(truth(app, "v1", "jaicp_sessions"))
    stats = [r for r in sandbox.requests if "/stats/" in r.target]
    assert stats and all(r.headers["timezone"] == "0" for r in stats)
    assert all(parse_qs(urlsplit(r.target).query)["intervalType"] == ["DAY"] for r in stats)


def test_records_match_the_stream_schemas_and_keep_undocumented_fields(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app, "v1"))
    assert run.returncode == 0, run.stderr[-2000:]
    schemas = {m["stream"]: m["schema"] for m in run.messages if m["type"] == "SCHEMA"}
    counts = Counter(m["stream"] for m in run.messages if m["type"] == "RECORD")
    expected = {*WINDOWED, "jaicp_message_labels", "jaicp_experiments"}
    expected |= {"jaicp_message_stats", "jaicp_session_stats"}
    assert expected <= set(counts)
    assert "not found in catalog schema" not in run.stderr  # nothing silently dropped
    validators = {name: jsonschema.Draft7Validator(schema) for name, schema in schemas.items()}
    for message in run.messages:
        if message["type"] == "RECORD":
            validators[message["stream"]].validate(message["record"])
    message = run.records("jaicp_messages")[0]
    assert "undocumentedScore" in message["extra_fields"]
    assert message["nlpInfo"]["nlpClass"] == "/hello"
    session = run.records("jaicp_sessions")[0]
    assert "source" in session["sessionData"]
    label = run.records("jaicp_message_labels")[0]
    assert set(label["group"]) == {"id", "name", "priority"}
    experiments = run.records("jaicp_experiments")
    assert {(e["projectShortName"], e["key"]) for e in experiments} == {
        (p, e["key"]) for p, proj in app.projects.items() for e in proj.experiments
    }


def test_daily_stats_equal_the_counts_per_day(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app, "v1"))
    assert run.returncode == 0, run.stderr[-2000:]
    for stream, resource in (
        ("jaicp_message_stats", "messages"),
        ("jaicp_session_stats", "sessions"),
    ):
        expected: Counter[tuple[str, str]] = Counter()
        for name, project in app.projects.items():
            for row in getattr(project, resource):
                if START <= row["_time"] < END:
                    day = dt.datetime.combine(row["_time"].date(), dt.time(), dt.UTC)
                    expected[(name, day.isoformat(timespec="microseconds"))] += 1
        got = {(r["projectShortName"], r["ts"]): r["value"] for r in run.records(stream)}
        assert got == dict(expected)


def test_legacy_uses_the_token_path_and_reads_legacy_lists(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    sandbox = sandbox_factory(app)
    token = app.projects[LEGACY_PROJECT].legacy_token
    run = run_tap(config(sandbox, app, "legacy"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sandbox.requests
    for request in sandbox.requests:
        assert urlsplit(request.target).path.startswith(f"/jaicp/api/reporter/p/{token}/")
        assert "authorization" not in request.headers
        assert "projectShortName" not in request.target
    assert {r["id"] for r in run.records("jaicp_session_labels")} == {11, 12, 13}
    assert token not in run.stdout + run.stderr


def test_legacy_token_never_printed_on_500_and_404(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    token = "Zq9-LEGACY-d1st1nct1ve-T0KEN-7731"
    app.projects[LEGACY_PROJECT].legacy_token = token
    sandbox = sandbox_factory(app)
    # Streams run in name order: jaicp_clients first. A 500 (retried), then a 404 (fatal).
    sandbox.add_fault(match="/clients/filter", kind="status", status=500, times=1)
    sandbox.add_fault(match="/clients/filter", kind="status", status=404, times=1)
    cfg = config(sandbox, app, "legacy")
    # One request at a time: the 500 must meet the first request (with windows fetched
    # concurrently the 404 could reach an earlier window and end the run before the retry).
    cfg["jaicp"]["max_concurrency"] = 1
    run = run_tap(cfg, catalog=None)
    statuses = [r.status for r in sandbox.requests]
    assert 500 in statuses and 404 in statuses
    assert run.returncode == 1
    assert run.error_lines() and "jaicp.api_url" in run.error_lines()[-1]
    assert "HTTP 404" in run.error_lines()[-1]
    assert "retry 1/2" in run.stderr
    assert "METRIC" in run.stderr
    for text in (run.stdout, run.stderr, json.dumps(run.states())):
        assert token not in text
        assert token.lower() not in text.lower()


def test_bad_v1_token_is_one_line_naming_the_setting(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app, "v1", api_token="wrong-token-0042"))
    assert run.returncode == 1
    assert len(run.error_lines()) == 1
    line = run.error_lines()[0]
    assert "HTTP 401" in line and "jaicp.api_token" in line
    assert "wrong-token-0042" not in run.stderr + run.stdout
    assert "Traceback" not in run.stderr


def test_legacy_with_projects_is_a_config_error_before_any_request(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app, "legacy", project_short_names=["acme-sales"]))
    assert run.returncode == 1
    assert "jaicp.project_short_names: only used with api_version v1" in run.error_lines()[0]
    assert sandbox.requests == []


def test_second_run_resumes_from_the_bookmark_without_losing_rows(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    sandbox = sandbox_factory(app)
    first_cfg = config(sandbox, app, "v1")
    first_cfg["end_date"] = "2024-03-02T12:00:00+00:00"
    first = run_tap(first_cfg)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_tap(config(sandbox, app, "v1"), state=first.last_state)
    assert second.returncode == 0, second.stderr[-2000:]
    for stream in ("jaicp_sessions", "jaicp_messages"):
        both = emitted(first, stream) + emitted(second, stream)
        assert set(both) == set(truth(app, "v1", stream))
        # Only the bookmark's own rows may be emitted twice (the bookmark is re-read).
        assert sum(both.values()) - len(both) <= len(app.projects)
        bookmarks = first.last_state["bookmarks"][stream]["partitions"]  # type: ignore[index]
        assert {b["context"]["projectShortName"] for b in bookmarks} == set(app.projects)


def test_a_window_that_changes_while_paged_is_read_again(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    project = app.projects["acme-sales"]
    late = dict(project.sessions[-1])
    when = dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC)  # the first window
    late.update(sessionId="acme-sales-late", startTime=api_time(when), _time=when)

    def insert(app: fake.JAICPApp, resource: str, page: int) -> None:
        if resource == "sessions" and page == 1 and late not in project.sessions:
            project.sessions.append(late)

    app.before_page = insert
    sandbox = sandbox_factory(app)
    # One window at a time: the insertion is triggered by the first page 1 of any window, which
    # must be the first window's (with concurrent windows a later one could ask first).
    cfg = config(sandbox, app, "v1", page_size=5, project_short_names=["acme-sales"])
    cfg["jaicp"]["max_concurrency"] = 1
    run = run_tap(cfg)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "totalCount changed" in run.stderr
    got = emitted(run, "jaicp_sessions")
    expected = Counter(k for k in truth(app, "v1", "jaicp_sessions") if k[0].startswith("acme-s"))
    expected = Counter({k: 1 for k in expected if k[0].startswith("acme-sales")})
    assert got == expected and ("acme-sales-late",) in got


def test_a_server_capping_the_page_size_loses_nothing(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    app.max_page_size = 15
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app, "v1", page_size=40))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "caps the page size at 15" in run.stderr
    assert emitted(run, "jaicp_messages") == truth(app, "v1", "jaicp_messages")


def test_a_server_ignoring_page_stops_with_a_warning(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    app.ignore_page = True
    sandbox = sandbox_factory(app)
    run = run_tap(config(sandbox, app, "v1", page_size=10), timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "stopped on a repeated page" in run.stderr
    bounds = [START + dt.timedelta(days=n) for n in range(4)] + [END]
    expected_pages = 0
    for project in app.projects.values():
        for low, high in itertools.pairwise(bounds):
            count = sum(1 for s in project.sessions if low <= s["_time"] <= high)
            expected_pages += 1 if count <= 10 else 2  # page 1 repeats page 0: stop
    pages = [c for c in app.filter_calls if c["resource"] == "sessions"]
    assert len(pages) == expected_pages


def test_windows_end_at_the_run_start_not_in_the_future(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    app = fake.default_app(today - dt.timedelta(days=1), today + dt.timedelta(days=2))
    sandbox = sandbox_factory(app)
    cfg = config(sandbox, app, "v1")
    del cfg["end_date"]
    cfg["start_date"] = (today - dt.timedelta(days=1)).isoformat() + "T00:00:00+00:00"
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run = run_tap(cfg)
    after = dt.datetime.now(dt.UTC)
    assert run.returncode == 0, run.stderr[-2000:]
    ends = [
        dt.datetime.fromisoformat(json.loads(r.body)["filters"][0]["to"])
        for r in sandbox.requests
        if "/sessions/filter" in r.target
    ]
    assert before <= max(ends) <= after
    assert all(r["startTime"] < after.isoformat() for r in run.records("jaicp_sessions"))


def test_v1_without_projects_reads_the_token_scope_and_says_what_it_skips(
    sandbox_factory: t.Callable[..., Sandbox], app: fake.JAICPApp
) -> None:
    sandbox = sandbox_factory(app)
    cfg = config(sandbox, app, "v1")
    del cfg["jaicp"]["project_short_names"]
    run = run_tap(cfg)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emitted(run, "jaicp_sessions") == truth(app, "v1", "jaicp_sessions")
    assert all("projectShortName" not in r.target for r in sandbox.requests)
    assert run.records("jaicp_experiments") == []
    assert "needs a project for this stream; set jaicp.project_short_names" in run.stderr
    assert run.records("jaicp_session_labels") == []
    assert "the v1 API has no list endpoint for this stream" in run.stderr
    state = run.last_state or {}
    assert "partitions" not in state["bookmarks"]["jaicp_sessions"]
    assert app.forbidden_calls == []
