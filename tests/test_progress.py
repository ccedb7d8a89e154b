"""Progress lines: one per drained window with the figures a user watching a long run wants;
INFO shows them, WARNING hides them, structured logging carries them as fields."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import typing as t
from pathlib import Path

import pytest

from sandbox import certainly
from tap_chatbot_reports.progress import StreamProgress
from tests.tapio import run_tap

START = dt.date(2026, 1, 1)
DAYS = 40  # three 15-day windows per bot
LINE = re.compile(
    r"progress Certainly certainly_messages \[bot_id=(?P<bot>[\w-]+)\] (?P<window>\S+): "
    r"(?P<count>\d+) records \(partition (?P<partition>\d+), stream (?P<stream>\d+)\), "
    r"(?P<requests>\d+) requests, (?P<rate>\d+) records/s, "
    r"window (?P<done>\d+)/(?P<planned>\d+), (?P<left>\d+) left"
)


def _config(sandbox: t.Any, app: certainly.CertainlyApp) -> dict[str, t.Any]:
    section = certainly.demo_config(app, sandbox.url)
    last = START + dt.timedelta(days=DAYS - 1)
    return {
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{last.isoformat()}T23:59:59Z",
        "backoff_factor": 0,
        "certainly": section,
    }


@pytest.fixture
def app() -> certainly.CertainlyApp:
    return certainly.default_app(START, START + dt.timedelta(days=DAYS), 3)


def test_info_run_prints_one_progress_line_per_window_with_counts_and_estimate(
    sandbox_factory: t.Callable[..., t.Any], app: certainly.CertainlyApp
) -> None:
    sandbox = sandbox_factory(app)
    run = run_tap(_config(sandbox, app), env={"LOGLEVEL": "INFO"})
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [m.groupdict() for m in map(LINE.search, run.stderr.splitlines()) if m]
    print("\n".join(line for line in run.stderr.splitlines() if "progress " in line))
    bots = sorted(app.bots)
    assert [line["bot"] for line in lines] == [bots[0]] * 3 + [bots[1]] * 3  # not per record
    records = run.records("certainly_messages")
    for bot in bots:
        mine = [line for line in lines if line["bot"] == bot]
        assert [(x["done"], x["planned"], x["left"]) for x in mine] == [
            ("1", "3", "2"),
            ("2", "3", "1"),
            ("3", "3", "0"),
        ]
        # Running totals add up to what was emitted for the bot.
        assert int(mine[-1]["partition"]) == sum(1 for r in records if r["bot_id"] == bot)
        assert [int(x["partition"]) for x in mine] == list(
            itertools.accumulate(int(x["count"]) for x in mine)
        )
    assert int(lines[-1]["stream"]) == len(records)
    requests = [int(x["requests"]) for x in lines]
    assert requests == sorted(requests) and requests[-1] == len(sandbox.requests_for("certainly"))
    assert all(int(x["rate"]) > 0 for x in lines)
    # 14 days of records per request: each asks for the following day too (toDate inclusive or not)
    assert lines[0]["window"] == "2026-01-01..2026-01-14"


def test_warning_level_prints_no_progress(
    sandbox_factory: t.Callable[..., t.Any], app: certainly.CertainlyApp
) -> None:
    sandbox = sandbox_factory(app)
    run = run_tap(_config(sandbox, app), env={"LOGLEVEL": "WARNING"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records("certainly_messages")
    assert "progress " not in run.stderr
    assert "INFO" not in run.stderr


def test_structured_logging_carries_the_progress_figures_as_fields(
    sandbox_factory: t.Callable[..., t.Any], app: certainly.CertainlyApp, tmp_path: Path
) -> None:
    log_config = tmp_path / "logging.yml"
    log_config.write_text(
        "version: 1\n"
        "disable_existing_loggers: false\n"
        "formatters:\n"
        "  structured:\n"
        "    (): singer_sdk.logging.StructuredFormatter\n"
        "handlers:\n"
        "  stderr:\n"
        "    class: logging.StreamHandler\n"
        "    formatter: structured\n"
        "    stream: ext://sys.stderr\n"
        "root:\n"
        "  level: INFO\n"
        "  handlers: [stderr]\n"
    )
    sandbox = sandbox_factory(app)
    run = run_tap(_config(sandbox, app), env={"SINGER_SDK_LOG_CONFIG": str(log_config)})
    assert run.returncode == 0, run.stderr[-2000:]
    events = []
    for line in run.stderr.splitlines():
        if line.startswith("{") and '"progress"' in line:
            events.append(json.loads(line))
    assert len(events) == 6
    fields = events[-1]["extra"]["progress"]
    assert fields["vendor"] == "Certainly" and fields["stream"] == "certainly_messages"
    assert fields["windows_planned"] == 3 and fields["windows_left"] == 0
    assert fields["stream_records"] == len(run.records("certainly_messages"))
    assert {"partition", "window", "requests", "records_per_second"} <= set(fields)
    assert events[-1]["message"].startswith("progress Certainly certainly_messages")


def test_estimate_uses_the_partition_pace_and_the_plan() -> None:
    now = [100.0]
    progress = StreamProgress("Vendor", "stream", clock=lambda: now[0])
    progress.planned("bot_id=a", 4)
    now[0] = 102.0
    first = progress.drained("bot_id=a", "w1", 50, 1)
    assert (first.windows_done, first.windows_left, first.seconds_left) == (1, 3, 6.0)
    assert first.records_per_second == 25.0
    assert "window 1/4, 3 left (~6s)" in first.message()
    # A partition whose plan was never announced still reports, without an estimate.
    unplanned = progress.drained("bot_id=b", "w1", 10, 2)
    assert unplanned.windows_left is None and "1 windows done" in unplanned.message()
    assert unplanned.stream_records == 60
