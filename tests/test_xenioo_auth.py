"""Xenioo bearer tokens are checked before every send, retries included (issue 14 point 4).

In process with a fake clock, so the documented figures (1-minute tokens, a 503 with
``Retry-After: 70``) are used as they are and the test still takes well under a second.
"""

from __future__ import annotations

import datetime as dt
import types
import typing as t

import backoff._sync
import pytest

from sandbox import xenioo
from sandbox.server import Sandbox
from tap_chatbot_reports.tap import TapChatbotReports
from tap_chatbot_reports.vendors import xenioo as tap_xenioo

STATS_PATH = "/xenioo/analytics/statistics/"
TOKEN_TARGET = "/xenioo/authorization/integration"


class FakeClock:
    """One clock for the tap (its token expiry checks), the sandbox (token lifetimes,
    throttles, data window) and the SDK's retry waits (``backoff`` sleeps on it)."""

    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC).timestamp()
        self.slept: list[float] = []

    def time(self) -> float:
        return self.at

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.at, dt.UTC)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(tap_xenioo, "_now", fake.now)
    monkeypatch.setattr(backoff._sync, "time", types.SimpleNamespace(sleep=fake.sleep))
    return fake


def account_stream(app: xenioo.XeniooApp, sandbox: Sandbox, stream: str) -> t.Any:
    section = {**(xenioo.demo_config(app, sandbox.url) or {}), "bots": [], "days": 2}
    config = {"xenioo": section, "backoff_factor": 0, "max_retries": 2}
    tap = TapChatbotReports(config=config, parse_env_config=False, validate_config=True)
    return tap.streams[stream]


def test_a_70_second_retry_after_with_1_minute_tokens_sends_no_expired_token(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    app = xenioo.default_app(
        clock.now().date() - dt.timedelta(days=3), clock.now().date() + dt.timedelta(days=1)
    )
    app.clock = clock.time
    app.token_lifetime = 60.0  # the exchange answers "Expires": 1 (minutes)
    with Sandbox([app]) as sandbox:
        sandbox.add_fault(match=r"/statistics/account/", status=503, retry_after="70", times=1)
        stream = account_stream(app, sandbox, "xenioo_account_statistics")
        records = list(stream.get_records(None))
        log = list(sandbox.requests)
    capsys.readouterr()
    assert clock.slept == [70.0]  # the server's Retry-After, honoured once
    assert [(r.target.split("/")[2], r.status) for r in log] == [
        ("authorization", 200),  # token A, valid 60 s
        ("analytics", 503),  # sent with A
        ("authorization", 200),  # 70 s later: A has expired, token B first
        ("analytics", 200),  # the retry, sent with B
    ]
    first, retry = log[1].headers["authorization"], log[3].headers["authorization"]
    assert first != retry
    # By the sandbox's clock, B was valid when the retry arrived; no request met a 401.
    subject, expires = app._tokens[retry.removeprefix("Bearer ")]
    assert subject == "account" and expires > app.calls[-1].at
    assert len(records) == len(app.calls[-1].rows) > 0


def test_the_token_is_looked_up_for_every_send_not_once_per_call(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The authenticator is the stream's: a token that is still fresh is reused (no extra
    exchange), one that expires between two sends is replaced before the second."""
    app = xenioo.default_app(
        clock.now().date() - dt.timedelta(days=3), clock.now().date() + dt.timedelta(days=1)
    )
    app.clock = clock.time
    app.token_lifetime = 60.0
    with Sandbox([app]) as sandbox:
        sandbox.add_fault(match=r"/statistics/account/", status=503, retry_after="5", times=2)
        stream = account_stream(app, sandbox, "xenioo_account_statistics")
        list(stream.get_records(None))
        log = list(sandbox.requests)
    capsys.readouterr()
    assert clock.slept == [5.0, 5.0]
    # 10 s of waiting inside a 60 s token: one exchange serves all three sends.
    assert [r.target == TOKEN_TARGET for r in log] == [True, False, False, False]
    assert len({r.headers["authorization"] for r in log[1:]}) == 1
    assert isinstance(stream.authenticator, tap_xenioo.XeniooBearerAuth)
