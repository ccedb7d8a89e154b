"""Core behaviour shared by every vendor: CLI without config, config errors, retries, redaction."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from email.utils import formatdate

import pytest

from tap_chatbot_reports.client import parse_retry_after
from tap_chatbot_reports.redact import REDACTOR, RedactingFilter
from tests.tapio import run_tap

CLI = [sys.executable, "-m", "tap_chatbot_reports"]


def test_about_markdown_works_without_config():
    done = subprocess.run([*CLI, "--about", "--format=markdown"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "| certainly.api_token |" in done.stdout
    for capability in (
        "catalog",
        "discover",
        "state",
        "about",
        "stream-maps",
        "schema-flattening",
        "batch",
    ):
        assert f"- `{capability}`" in done.stdout


def test_discover_lists_every_stream_without_config():
    done = subprocess.run([*CLI, "--discover"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    streams = {s["tap_stream_id"]: s for s in json.loads(done.stdout)["streams"]}
    assert "certainly_messages" in streams
    assert streams["certainly_messages"]["key_properties"] == ["bot_id", "id"]
    assert {name.split("_")[0] for name in streams} >= {"certainly"}


BASE = {"certainly": {"api_token": "tok-abcdef", "bot_ids": ["b1"]}}


def _with(**changes):
    config = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        target = config
        *parents, leaf = dotted.split("__")
        for key in parents:
            target = target.setdefault(key, {})
        if value is _DELETE:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return config


_DELETE = object()

BAD_CONFIGS = [
    ("certainly.api_token", _with(certainly__api_token=_DELETE)),
    ("certainly.bot_ids", _with(certainly__bot_ids=_DELETE)),
    ("certainly.bot_ids", _with(certainly__bot_ids=[])),
    ("certainly.bot_ids", _with(certainly__bot_ids=["a", "a"])),
    ("certainly.bot_ids", _with(certainly__bot_ids="b1")),
    ("certainly.window_days", _with(certainly__window_days=16)),
    ("certainly.window_days", _with(certainly__window_days=0)),
    ("certainly.report_type", _with(certainly__report_type=5)),
    ("certainly.report_type", _with(certainly__report_type="one")),
    ("certainly.api_url", _with(certainly__api_url="not a url")),
    ("start_date", _with(start_date="yesterday")),
    ("end_date", _with(end_date="2026-02-30T00:00:00Z")),
    ("start_date", _with(start_date="2026-03-01T00:00:00Z", end_date="2026-02-01T00:00:00Z")),
    ("request_timeout", _with(request_timeout=0)),
    ("max_retries", _with(max_retries=-1)),
    ("no vendor configured", {"start_date": "2026-01-01T00:00:00Z"}),
]


@pytest.mark.parametrize(("setting", "config"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_one_line_naming_the_setting_before_any_request(setting, config):
    config.setdefault("certainly", {}).setdefault("api_url", "http://127.0.0.1:9/api/")
    if setting == "no vendor configured":
        config.pop("certainly")
    run = run_tap(config)
    assert run.returncode != 0
    errors = run.error_lines()
    assert len(errors) == 1, run.stderr
    assert setting in errors[0]
    assert "Traceback" not in run.stderr
    assert "tok-abcdef" not in run.stderr


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("7", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("99999", 300.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds(header, expected):
    assert parse_retry_after(header) == expected


def test_retry_after_http_date():
    now = time.time()
    header = formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30, abs=1.5)
    assert parse_retry_after(formatdate(now - 60, usegmt=True), now=now) == 0.0


def test_log_filter_masks_secrets_in_message_args_and_traceback():
    REDACTOR.add("sekret-Value/1")
    try:
        try:
            raise RuntimeError("failed with sekret-Value/1 in it")
        except RuntimeError:
            record = logging.LogRecord(
                "x",
                logging.ERROR,
                __file__,
                1,
                "token %s and %s",
                ("sekret-Value/1", "sekret-Value%2F1"),
                sys.exc_info(),
            )
        RedactingFilter().filter(record)
        formatted = logging.Formatter().format(record)
        assert "sekret-Value" not in formatted
        assert "***" in formatted
    finally:
        REDACTOR.clear()
