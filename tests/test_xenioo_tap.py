"""Xenioo end to end: the real CLI against the sandbox (token exchange, throttles, rows)."""

from __future__ import annotations

import datetime as dt
import json
import typing as t

import jsonschema
import pytest

from sandbox import xenioo
from sandbox.server import Sandbox
from tests.tapio import TapRun, aged_state, run_tap

STREAMS = ("xenioo_account_statistics", "xenioo_bot_statistics", "xenioo_delivery_statistics")
TODAY = dt.datetime.now(dt.UTC).date()
STATS_PATH = r"/xenioo/analytics/statistics/"
SKIP_LINE = "no request made"


def make_app(**kwargs: t.Any) -> xenioo.XeniooApp:
    app = xenioo.default_app(TODAY - dt.timedelta(days=35), TODAY + dt.timedelta(days=1), seed=3)
    for key, value in kwargs.items():
        setattr(app, key, value)
    return app


def config_for(app: xenioo.XeniooApp, sandbox: Sandbox, **section: t.Any) -> dict[str, t.Any]:
    base = xenioo.demo_config(app, sandbox.url)
    assert base is not None
    return {"xenioo": {**base, **section}, "backoff_factor": 0, "max_retries": 2}


def stats_requests(sandbox: Sandbox) -> list[t.Any]:
    return [r for r in sandbox.requests if r.target.startswith(STATS_PATH)]


def token_requests(sandbox: Sandbox) -> list[t.Any]:
    return [r for r in sandbox.requests if r.target == "/xenioo/authorization/integration"]


def served(app: xenioo.XeniooApp, *endpoints: str) -> list[dict[str, t.Any]]:
    return [row for call in app.calls if call.endpoint in endpoints for row in call.rows]


def key_of(record: dict[str, t.Any], stream: str) -> tuple[t.Any, ...]:
    fields: tuple[str, ...] = ("api_key", "GroupLabel", "BotName", "ChannelName", "EventLabel")
    if stream == "xenioo_delivery_statistics":
        fields = ("level", *fields)
    return tuple(record[f] for f in fields)


def assert_no_secret(run: TapRun, app: xenioo.XeniooApp) -> None:
    secrets = [app.account_key, *(b.api_secret for b in app.bots), *app._tokens]
    state = json.dumps(run.states())
    for secret in secrets:
        assert secret not in run.stdout
        assert secret not in run.stderr
        assert secret not in state


@pytest.fixture(scope="module")
def first_run() -> t.Iterator[tuple[xenioo.XeniooApp, Sandbox, TapRun]]:
    """One full first run shared by the read-only tests below (its request log is kept in
    ``first_requests``; tests that run the tap again clear the live log first)."""
    app = make_app()
    with Sandbox([app]) as sandbox:
        run = run_tap(config_for(app, sandbox))
        assert run.returncode == 0, run.stderr[-2000:]
        FIRST_REQUESTS[:] = list(sandbox.requests)
        yield app, sandbox, run


FIRST_REQUESTS: list[t.Any] = []


def test_first_run_loads_every_served_row_exactly_once(
    first_run: tuple[xenioo.XeniooApp, Sandbox, TapRun],
) -> None:
    app, _sandbox, run = first_run
    expected = {
        "xenioo_account_statistics": served(app, "account_stats"),
        "xenioo_bot_statistics": served(app, "bot_stats"),
        "xenioo_delivery_statistics": served(app, "account_dlr", "bot_dlr"),
    }
    for stream in STREAMS:
        records = run.records(stream)
        assert len(records) == len(expected[stream]) > 0
        keys = [key_of(r, stream) for r in records]
        assert len(set(keys)) == len(keys), f"{stream}: primary key not unique"
    # Every returned field is kept: the undocumented ones land in extra_fields.
    account = run.records("xenioo_account_statistics")
    assert [{**{k: r[k] for k in ("GroupLabel", "BotName")}, **r["extra_fields"]} for r in account]
    assert all(set(r["extra_fields"]) == {"Type", "Value", "Count"} for r in account)
    # Every type code comes back with its documented name; 18 (Tag Hit) only at bot level.
    assert {r["type_code"] for r in account} == set(range(18))
    bot = run.records("xenioo_bot_statistics")
    assert {r["type_code"] for r in bot} == set(range(19))
    assert {(r["type_code"], r["type_name"]) for r in bot} == set(xenioo.TYPE_NAMES.items())
    assert all(r["period_start"] == r["GroupLabel"] + "T00:00:00.000000+00:00" for r in bot)
    levels = {r["level"] for r in run.records("xenioo_delivery_statistics")}
    assert levels == {"account", "bot"}
    assert_no_secret(run, app)


def test_records_conform_to_the_declared_schema(
    first_run: tuple[xenioo.XeniooApp, Sandbox, TapRun],
) -> None:
    _app, _sandbox, run = first_run
    schemas = {m["stream"]: m for m in run.messages if m["type"] == "SCHEMA"}
    for stream in STREAMS:
        message = schemas[stream]
        assert message["key_properties"][0] in ("api_key", "level")
        validator = jsonschema.Draft7Validator(message["schema"])
        for record in run.records(stream):
            validator.validate(record)
            assert set(record) <= set(message["schema"]["properties"])


def test_one_call_per_api_key_with_all_types_and_bearer_tokens(
    first_run: tuple[xenioo.XeniooApp, Sandbox, TapRun],
) -> None:
    app, _sandbox, _run = first_run
    stats = [r for r in FIRST_REQUESTS if r.target.startswith(STATS_PATH)]
    targets = sorted(r.target for r in stats)
    all_types = ",".join(str(c) for c in range(18))
    bot_types = ",".join(str(c) for c in range(19))
    assert targets == sorted(
        [
            f"/xenioo/analytics/statistics/account/*/{all_types}/day/30",
            "/xenioo/analytics/statistics/dlr/account/*/day/30",
            *[f"/xenioo/analytics/statistics/{bot_types}/day/30"] * 3,
            *["/xenioo/analytics/statistics/dlr/day/30"] * 3,
        ]
    )
    assert all(r.status == 200 and r.method == "GET" for r in stats)
    assert all(r.headers["authorization"].startswith("Bearer ") for r in stats)
    # One account token shared by both account streams, one token per bot.
    tokens = [r for r in FIRST_REQUESTS if r.target == "/xenioo/authorization/integration"]
    assert all(r.method == "POST" and r.status == 200 for r in tokens)
    bodies = [json.loads(r.body) for r in tokens]
    assert bodies == [
        {"AccountAPIKey": app.account_key},
        *[
            {"AccountAPIKey": app.account_key, "BotAPIKey": b.api_key, "BotAPISecret": b.api_secret}
            for b in app.bots
        ],
    ]


def test_second_run_inside_the_window_makes_no_call_and_says_when(
    first_run: tuple[xenioo.XeniooApp, Sandbox, TapRun],
) -> None:
    app, sandbox, first = first_run
    sandbox.clear()
    second = run_tap(config_for(app, sandbox), state=first.last_state)
    assert second.returncode == 0, second.stderr[-2000:]
    assert sandbox.requests == []  # no statistics call, not even a token exchange
    assert second.records() == []
    skip_lines = [line for line in second.stderr.splitlines() if SKIP_LINE in line]
    # One line per throttled call: 2 account calls + 2 calls for each of the 3 bots.
    assert len(skip_lines) == 8
    assert all("INFO" in line and "next call allowed at" in line for line in skip_lines)
    account_line = next(line for line in skip_lines if "xenioo_account_statistics" in line)
    assert first.last_state is not None
    last_call = first.last_state["bookmarks"]["xenioo_account_statistics"]["throttle"]
    assert f"next call allowed at {last_call['next_call_allowed_at']}" in account_line
    # State is kept as it was, so a third run is skipped as well.
    assert second.last_state == first.last_state


def test_bot_budget_reopens_after_30_minutes_and_account_after_60(
    first_run: tuple[xenioo.XeniooApp, Sandbox, TapRun],
) -> None:
    app, sandbox, first = first_run
    app.forget_throttles()
    sandbox.clear()
    # 59 minutes later (grace 60 s not reached): bot calls only.
    run = run_tap(config_for(app, sandbox), state=aged_state(first.last_state, 45))
    assert run.returncode == 0, run.stderr[-2000:]
    targets = [r.target for r in stats_requests(sandbox)]
    assert len(targets) == 6 and not any("/account/" in target for target in targets)
    assert run.records("xenioo_account_statistics") == []
    assert len(run.records("xenioo_bot_statistics")) > 0
    # Exactly one window later (inside the grace period): the account calls are made too.
    app.forget_throttles()
    sandbox.requests.clear()
    run = run_tap(config_for(app, sandbox), state=aged_state(first.last_state, 59.5))
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(stats_requests(sandbox)) == 8
    assert len(run.records("xenioo_account_statistics")) > 0


@pytest.mark.parametrize("status", [400, 429])
def test_throttle_answer_skips_with_a_warning_and_no_retry(
    sandbox_factory: t.Callable[..., Sandbox], status: int
) -> None:
    app = make_app(throttle_status=status)
    sandbox = sandbox_factory(app)
    config = config_for(app, sandbox, bots=[])
    assert run_tap(config).returncode == 0
    sandbox.requests.clear()
    # State lost (e.g. a fresh Meltano environment): the API answers with its throttle error.
    run = run_tap({**config, "max_retries": 5})
    assert run.returncode == 0, run.stderr[-2000:]
    calls = stats_requests(sandbox)
    assert [r.status for r in calls] == [status, status]  # one call each, never retried
    warnings = [line for line in run.stderr.splitlines() if "throttle error" in line]
    assert len(warnings) == 2 and all("WARNING" in line for line in warnings)
    assert "throttled at 1 call per account per hour" in warnings[0]
    assert run.records() == []
    assert run.last_state is not None
    throttle = run.last_state["bookmarks"]["xenioo_account_statistics"]["throttle"]
    assert set(throttle) >= {"throttled_at", "next_call_allowed_at"}
    # The next run does not try again inside the window.
    sandbox.requests.clear()
    again = run_tap(config, state=run.last_state)
    assert again.returncode == 0 and sandbox.requests == []


def test_token_expiring_mid_run_is_refreshed_before_use(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    # Tokens live 2 s (and say so); each request takes 0.35 s, the run about 6 s.
    app = make_app(token_lifetime=2.0, variant={"token_fields": "current"})
    sandbox = sandbox_factory(app)
    sandbox.latency = 0.35
    config = config_for(app, sandbox, days=2)
    config["xenioo"]["bots"] = config["xenioo"]["bots"][:2]
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [r.status for r in sandbox.requests] == [200] * len(sandbox.requests)  # none failed
    issued = [subject for subject, _ in app.tokens_issued]
    # The account token was renewed before the delivery call (>= 2.1 s after it was issued).
    assert issued.count("account") == 2
    for stream, endpoints in (
        ("xenioo_account_statistics", ("account_stats",)),
        ("xenioo_bot_statistics", ("bot_stats",)),
        ("xenioo_delivery_statistics", ("account_dlr", "bot_dlr")),
    ):
        assert len(run.records(stream)) == len(served(app, *endpoints)) > 0
    assert_no_secret(run, app)


def test_token_rejected_with_401_is_refreshed_once(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    # The exchange says 60 minutes but the token dies after 1 s: data calls answer 401.
    app = make_app(token_lifetime=1.0, advertised_minutes=60)
    sandbox = sandbox_factory(app)
    sandbox.latency = 0.3
    config = config_for(app, sandbox, days=2)
    config["xenioo"]["bots"] = config["xenioo"]["bots"][:2]
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    log = list(sandbox.requests)
    rejected = [i for i, r in enumerate(log) if r.status == 401]
    assert rejected  # at least the account delivery call came after the account token died
    for index in rejected:
        # Each rejected call is followed by one token exchange and the same call, answered.
        assert log[index + 1].target == "/xenioo/authorization/integration"
        assert (log[index + 2].target, log[index + 2].status) == (log[index].target, 200)
    assert len(run.records("xenioo_delivery_statistics")) == len(
        served(app, "account_dlr", "bot_dlr")
    )
    assert len(run.records("xenioo_bot_statistics")) == len(served(app, "bot_stats")) > 0
    assert "rejected (HTTP 401): refreshing it once" in run.stderr
    assert_no_secret(run, app)


def test_token_rejected_twice_is_one_error_naming_the_setting(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    app = make_app(token_lifetime=0.0, advertised_minutes=60)
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(app, sandbox, bots=[]))
    assert run.returncode == 1
    assert len(stats_requests(sandbox)) == 2
    (line,) = run.error_lines()
    assert "HTTP 401" in line and "xenioo.account_api_key" in line
    assert_no_secret(run, app)


def test_unknown_account_key_is_one_error_without_the_key(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    app = make_app()
    sandbox = sandbox_factory(app)
    run = run_tap(config_for(app, sandbox, account_api_key="wrong-account-key-123", bots=[]))
    assert run.returncode == 1
    (line,) = run.error_lines()
    assert "HTTP 404" in line and "xenioo.account_api_key" in line
    assert "wrong-account-key-123" not in run.stderr + run.stdout
    assert stats_requests(sandbox) == []


def test_several_api_keys_share_the_account_budget_in_turn(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    app = make_app()
    sandbox = sandbox_factory(app)
    keys = [b.api_key for b in app.bots[:2]]
    config = config_for(app, sandbox, bots=[], bot_api_keys=keys)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    assert {r["api_key"] for r in first.records("xenioo_account_statistics")} == {keys[0]}
    app.forget_throttles()
    second = run_tap(config, state=aged_state(first.last_state, 61))
    assert second.returncode == 0, second.stderr[-2000:]
    assert {r["api_key"] for r in second.records("xenioo_account_statistics")} == {keys[1]}
    account_calls = [r for r in stats_requests(sandbox) if "/statistics/account/" in r.target]
    assert [r.target.split("/")[5] for r in account_calls] == keys


@pytest.mark.parametrize(("mode", "dlr_mode"), [("hour", "minute"), ("month", "hour")])
def test_group_modes_give_parsed_period_starts(
    sandbox_factory: t.Callable[..., Sandbox], mode: str, dlr_mode: str
) -> None:
    app = make_app()
    sandbox = sandbox_factory(app)
    config = config_for(app, sandbox, group_mode=mode, delivery_group_mode=dlr_mode, days=3)
    config["xenioo"]["bots"] = config["xenioo"]["bots"][:1]
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    for stream, expected_mode in (
        ("xenioo_account_statistics", mode),
        ("xenioo_delivery_statistics", dlr_mode),
    ):
        records = run.records(stream)
        assert records and {r["group_mode"] for r in records} == {expected_mode}
        for record in records:
            start = dt.datetime.fromisoformat(record["period_start"])
            assert xenioo.bucket(start, expected_mode) == record["GroupLabel"]
    assert "/3" in stats_requests(sandbox)[0].target


def test_server_error_is_retried_then_loads(sandbox_factory: t.Callable[..., Sandbox]) -> None:
    app = make_app()
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match=r"/statistics/account/", kind="status", status=503, times=1)
    run = run_tap(config_for(app, sandbox, bots=[]))
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.records("xenioo_account_statistics")) == len(served(app, "account_stats"))


def test_invalid_config_fails_before_any_request(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    app = make_app()
    sandbox = sandbox_factory(app)
    bots = [{"api_key": "same", "api_secret": "s-one"}, {"api_key": "same", "api_secret": "s-two"}]
    run = run_tap(config_for(app, sandbox, bots=bots, types=[3, 3]))
    assert run.returncode == 1
    (line,) = run.error_lines()
    assert "xenioo.bots: duplicated api_key(s): same" in line
    assert "xenioo.types: duplicated value(s): 3" in line
    assert "s-one" not in run.stderr and "s-two" not in run.stderr
    run = run_tap(config_for(app, sandbox, days=31, group_mode="week"))
    assert run.returncode == 1
    (line,) = run.error_lines()
    assert "xenioo.days: 31 is greater than the maximum of 30" in line
    assert sandbox.requests == []


def data_calls_with_dead_tokens(app: xenioo.XeniooApp, log: list[t.Any]) -> list[str]:
    """Statistics requests (answered by the app or by an injected fault) whose bearer token had
    expired, by the sandbox's clock, when the request arrived."""
    dead = []
    for request in log:
        if not request.target.startswith(STATS_PATH):
            continue
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        issued = app._tokens.get(token)
        if issued is None or issued[1] <= request.at:
            dead.append(f"{request.target} -> {request.status}")
    return dead


def test_retry_after_a_wait_longer_than_the_token_life_gets_a_fresh_token_first(
    sandbox_factory: t.Callable[..., Sandbox],
) -> None:
    # Tokens live 1 s (and say so); the account statistics call answers 503 with
    # Retry-After: 2 once. The retry must not go out with the token that died meanwhile.
    app = make_app(token_lifetime=1.0, variant={"token_fields": "current"})
    sandbox = sandbox_factory(app)
    sandbox.add_fault(match=r"/statistics/account/", status=503, retry_after="2", times=1)
    run = run_tap(config_for(app, sandbox, bots=[], days=2))
    assert run.returncode == 0, run.stderr[-2000:]
    log = list(sandbox.requests)
    assert [r.status for r in log if r.status == 401] == []  # no 401 reached the API
    assert data_calls_with_dead_tokens(app, log) == []
    account = [i for i, r in enumerate(log) if "/statistics/account/" in r.target]
    assert [log[i].status for i in account] == [503, 200]
    # The retried call came right after a new token exchange, and its token was that one.
    retried = log[account[1]]
    exchange = log[account[1] - 1]
    assert exchange.target == "/xenioo/authorization/integration" and exchange.status == 200
    assert retried.headers["authorization"] != log[account[0]].headers["authorization"]
    assert retried.at - log[account[0]].at >= 2.0
    assert "retry 1/2 in 2.0s" in run.stderr
    assert len(run.records("xenioo_account_statistics")) == len(served(app, "account_stats")) > 0
    assert_no_secret(run, app)
