"""Run the tap as users do (a subprocess speaking Singer on stdout) and read what it wrote."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TapRun:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, t.Any]] = field(default_factory=list)

    def records(self, stream: str | None = None) -> list[dict[str, t.Any]]:
        return [
            m["record"]
            for m in self.messages
            if m.get("type") == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m.get("type") == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any] | None:
        states = self.states()
        return states[-1] if states else None

    def error_lines(self) -> list[str]:
        return [
            line for line in self.stderr.splitlines() if line.startswith("tap-chatbot-reports:")
        ]


def parse_messages(stdout: str) -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def run_tap(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    args: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> TapRun:
    """Run ``python -m tap_chatbot_reports`` with files for config/state/catalog."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        command = [sys.executable, "-m", "tap_chatbot_reports", "--config", str(folder / "c.json")]
        (folder / "c.json").write_text(json.dumps(config))
        if state is not None:
            (folder / "s.json").write_text(json.dumps(state))
            command += ["--state", str(folder / "s.json")]
        if catalog is not None:
            (folder / "k.json").write_text(json.dumps(catalog))
            command += ["--catalog", str(folder / "k.json")]
        command += list(args)
        full_env = {**os.environ, **(env or {})}
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=full_env, check=False
        )
    messages = parse_messages(done.stdout) if not args else []
    return TapRun(done.returncode, done.stdout, done.stderr, messages)


def aged_state(state: dict[str, t.Any] | None, minutes: float) -> dict[str, t.Any]:
    """The state as if every throttled call (Xenioo's ``last_call_at`` / ``throttled_at``) had
    been made ``minutes`` earlier: what the next run an hour later would read."""
    result = copy.deepcopy(state or {})

    def shift(node: t.Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("last_call_at", "throttled_at") and isinstance(value, str):
                    moment = dt.datetime.fromisoformat(value) - dt.timedelta(minutes=minutes)
                    node[key] = moment.isoformat()
                else:
                    shift(value)
        elif isinstance(node, list):
            for item in node:
                shift(item)

    shift(result)
    return result
