"""BATCH messages (jsonl + gzip) end to end through an SDK-based target."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

from sandbox.certainly import CertainlyApp, DailyMessages
from sandbox.jaicp import default_app as jaicp_app
from sandbox.jaicp import demo_config as jaicp_config

START = dt.date(2026, 3, 1)
END = dt.date(2026, 3, 11)


def pipeline(config: dict[str, t.Any], folder: Path) -> tuple[list[dict[str, t.Any]], Path]:
    """Run tap | target; returns the tap's Singer messages and the target's output folder."""
    folder.mkdir(parents=True)
    (folder / "tap.json").write_text(json.dumps(config))
    out = folder / "loaded"
    out.mkdir()
    (folder / "target.json").write_text(json.dumps({"path": str(out)}))
    tap = subprocess.run(
        [sys.executable, "-m", "tap_chatbot_reports", "--config", str(folder / "tap.json")],
        capture_output=True,
        check=True,
        timeout=300,
    )
    target = subprocess.run(
        [sys.executable, "-m", "tests.collect_target", "--config", str(folder / "target.json")],
        input=tap.stdout,
        capture_output=True,
        check=False,
        timeout=300,
        env={**os.environ},
    )
    assert target.returncode == 0, target.stderr.decode()[-3000:]
    messages = [json.loads(line) for line in tap.stdout.decode().splitlines() if line.strip()]
    return messages, out


def loaded(out: Path) -> dict[str, list[str]]:
    return {
        path.stem: sorted(path.read_text().splitlines()) for path in sorted(out.glob("*.jsonl"))
    }


def test_batch_files_carry_the_same_records_as_record_messages(sandbox_factory, tmp_path: Path):
    certainly = CertainlyApp(bots={b: DailyMessages(b, START, END, 30) for b in ("bot-a", "bot-b")})
    jaicp = jaicp_app(START, END)
    sandbox = sandbox_factory(certainly, jaicp)
    config: dict[str, t.Any] = {
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{(END - dt.timedelta(days=1)).isoformat()}T23:59:59Z",
        "certainly": {
            "api_token": certainly.token,
            "bot_ids": ["bot-a", "bot-b"],
            "api_url": f"{sandbox.url}/certainly/api/",
        },
        "jaicp": jaicp_config(jaicp, sandbox.url),
    }
    plain_messages, plain_out = pipeline(config, tmp_path / "records")
    batch_root = tmp_path / "batches"
    config["batch_config"] = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": batch_root.as_uri(), "prefix": "tcr-"},
    }
    batch_messages, batch_out = pipeline(config, tmp_path / "batch")

    assert not [m for m in batch_messages if m["type"] == "RECORD"]
    batches = [m for m in batch_messages if m["type"] == "BATCH"]
    assert {m["stream"] for m in batches} >= {"certainly_messages", "jaicp_messages"}
    files = [url for m in batches for url in m["manifest"]]
    assert files and all(url.endswith(".json.gz") for url in files)
    # The files are real gzip JSONL on disk, with the records the RECORD path emits.
    from_files = 0
    for url in files:
        path = Path(url.removeprefix("file://"))
        with gzip.open(path, "rt") as handle:
            from_files += sum(1 for _ in handle)
    records = [m for m in plain_messages if m["type"] == "RECORD"]
    assert from_files == len(records) > 600
    assert loaded(batch_out) == loaded(plain_out)
    # State follows the data: the BATCH path ends with the same bookmarks.
    states = [m["value"] for m in batch_messages if m["type"] == "STATE"]
    plain_states = [m["value"] for m in plain_messages if m["type"] == "STATE"]
    assert (
        states[-1]["bookmarks"]["certainly_messages"]
        == plain_states[-1]["bookmarks"]["certainly_messages"]
    )
    first_batch = next(i for i, m in enumerate(batch_messages) if m["type"] == "BATCH")
    assert not any(
        m["type"] == "STATE" and "replication_key_value" in json.dumps(m["value"])
        for m in batch_messages[:first_batch]
    )
