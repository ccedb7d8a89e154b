"""One vendor's fatal error skips that vendor only; an interrupted run is not a success.

Issue 14 points 3 and 5: the other vendors' records and STATE are exactly those of a run without
the broken vendor, the exit is non-zero with one line per failed vendor; SIGTERM/SIGINT flush the
last STATE and exit 128 + signal, and a run resumed from that STATE loses nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import pytest

from sandbox.server import Fault
from tests.tapio import TapRun, parse_messages, run_tap
from tests.test_fastpath import all_vendor_config

#: Per vendor, how it breaks: a rejected credential, a wrong path, a body of an unknown shape.
BREAKS: dict[str, Fault] = {
    "certainly": Fault(match="^/certainly/", status=401, body={"detail": "Invalid token."}),
    "jaicp": Fault(match="^/jaicp/", status=404, body={"error": "not found"}),
    "clevertap": Fault(match="^/clevertap/", status=200, body=[{"unexpected": "list"}]),
}
VOLATILE = {
    "last_call_at",
    "throttled_at",
    "next_call_allowed_at",
}  # Xenioo's throttle clock: when the call was made


def _stable(node: t.Any) -> t.Any:
    if isinstance(node, dict):
        return {k: _stable(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list):
        return [_stable(v) for v in node]
    return node


def _records_by_stream(run: TapRun, vendors: set[str]) -> dict[str, list[str]]:
    streams: dict[str, list[str]] = {}
    for message in run.messages:
        if message.get("type") == "RECORD" and message["stream"].split("_")[0] in vendors:
            streams.setdefault(message["stream"], []).append(
                json.dumps(message["record"], sort_keys=True)
            )
    return {name: sorted(rows) for name, rows in streams.items()}


def _bookmarks(run: TapRun, vendors: set[str]) -> dict[str, t.Any]:
    state = run.last_state or {}
    return {
        name: _stable(value)
        for name, value in (state.get("bookmarks") or {}).items()
        if name.split("_")[0] in vendors
    }


@pytest.mark.parametrize(
    "broken", [("certainly",), ("clevertap",), ("jaicp",), ("certainly", "jaicp")], ids="+".join
)
def test_broken_vendors_leave_the_others_exactly_as_a_run_without_them(
    broken: tuple[str, ...], sandbox_factory: t.Callable[..., t.Any]
) -> None:
    # Each run gets its own sandbox: Xenioo's hourly budgets are per app.
    config, _ = sandboxed_config(sandbox_factory)
    others = {key for key in config if isinstance(config[key], dict)} - set(broken)
    baseline = run_tap({k: v for k, v in config.items() if k not in broken})
    assert baseline.returncode == 0, baseline.stderr[-2000:]

    config, sandbox = sandboxed_config(sandbox_factory)
    for vendor in broken:
        fault = BREAKS[vendor]
        sandbox.add_fault(
            Fault(match=fault.match, status=fault.status, body=fault.body, times=10**6)
        )
    run = run_tap(config)

    assert run.returncode == 1
    lines = run.error_lines()
    assert len(lines) == len(broken), lines  # one line per failed vendor, nothing else
    for vendor in broken:
        (line,) = [line for line in lines if f" stream {vendor}_" in line]  # names the stream
        assert "(" in line  # and the partition: (bot_id=...), or (-) for a stream without
        if BREAKS[vendor].status in (401, 404):
            assert f"{vendor}." in line  # and the setting to check
    assert _records_by_stream(run, others) == _records_by_stream(baseline, others)
    assert _bookmarks(run, others) == _bookmarks(baseline, others)
    assert (
        "certainly"
        not in {m["stream"].split("_")[0] for m in run.messages if m.get("type") == "RECORD"}
        or "certainly" not in broken
    )


def sandboxed_config(sandbox_factory: t.Callable[..., t.Any]) -> tuple[dict[str, t.Any], t.Any]:
    """``all_vendor_config`` with its sandbox (the last one the factory started)."""
    started: list[t.Any] = []

    def factory(*apps: t.Any) -> t.Any:
        started.append(sandbox_factory(*apps))
        return started[-1]

    return all_vendor_config(factory), started[-1]


def _keys(messages: list[dict[str, t.Any]]) -> set[tuple[str, str]]:
    """(stream, primary key) of every record (keys from the run's SCHEMA messages): a resumed
    run re-reads some rows (CleverTap's lookback, a bookmark's day), which a target upserts."""
    key_properties: dict[str, list[str]] = {}
    keys: set[tuple[str, str]] = set()
    for message in messages:
        if message.get("type") == "SCHEMA":
            key_properties[message["stream"]] = message.get("key_properties") or []
        elif message.get("type") == "RECORD":
            record = message["record"]
            names = key_properties[message["stream"]] or sorted(record)
            key = json.dumps([record.get(name) for name in names])
            keys.add((message["stream"], key))
    return keys


def _start_tap(config: dict[str, t.Any], folder: Path, state: dict[str, t.Any] | None = None):
    (folder / "c.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_chatbot_reports", "--config", str(folder / "c.json")]
    if state is not None:
        (folder / "s.json").write_text(json.dumps(state))
        command += ["--state", str(folder / "s.json")]
    out = (folder / "out.jsonl").open("wb")
    err = (folder / "err.txt").open("wb")
    return subprocess.Popen(command, stdout=out, stderr=err, env=dict(os.environ)), out, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_exits_non_zero_and_its_resume_loses_nothing(
    signum: int, sandbox_factory: t.Callable[..., t.Any]
) -> None:
    config, sandbox = sandboxed_config(sandbox_factory)
    config.pop("xenioo", None)  # hourly budgets: a resumed run would be throttled, not tested
    full = run_tap(config)
    assert full.returncode == 0, full.stderr[-2000:]
    expected = _keys(full.messages)

    # Every request is slowed down so the signal lands mid-run, after some records.
    sandbox.add_fault(Fault(match=".", kind="slow", delay=0.05, times=10**6))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        process, out, err = _start_tap(config, folder)
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline and b'"RECORD"' not in (folder / "out.jsonl").read_bytes()
        ):
            time.sleep(0.05)
        time.sleep(0.5)
        process.send_signal(signum)
        code = process.wait(timeout=60)
        out.close()
        err.close()
        stdout = (folder / "out.jsonl").read_text()
        stderr = (folder / "err.txt").read_text()
    sandbox.clear()

    assert code == 128 + signum, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.startswith("tap-chatbot-reports:")]
    assert len(lines) == 1, lines
    assert f"interrupted by {signal.Signals(signum).name}" in lines[0]
    assert "Gracefully shutting down" not in stderr
    first = parse_messages(stdout)  # every line whole: none cut by the signal
    assert first[-1]["type"] == "STATE"
    got = _keys(first)
    assert got and got < expected  # interrupted mid-run: some, not all

    resumed = run_tap(config, state=first[-1]["value"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got |= _keys(resumed.messages)
    assert got == expected
