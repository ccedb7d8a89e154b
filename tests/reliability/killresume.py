"""Kill the tap with SIGKILL after a random number of records, resume from the last STATE it
emitted, and check the union of both runs' records covers the fault-free run.

Used by ``tests/reliability/test_kill_resume.py`` (a few points per vendor) and by
``scripts/kill_resume.py`` (the full run, 20 points per vendor by default).
"""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import typing as t
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.harness import VendorEnv
from tests.reliability.scenarios import leaks


@dataclass
class KillResult:
    kill_after: int  # records read before the kill
    states_seen: int
    lost: int  # fault-free records missing from the union (must be 0)
    duplicates: int  # records emitted twice across both runs
    expected: int
    leaked: list[str]


def killed_run(env: VendorEnv, kill_after: int) -> tuple[list[dict[str, t.Any]], str]:
    """Run the tap and SIGKILL it once ``kill_after`` records were read; its messages."""
    env.scenario.before_run(env.app)
    env.sandbox.wait_idle()  # the previous (killed) tap's last requests are served first
    env.sandbox.clear()
    seen: list[dict[str, t.Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(env.config()))
        command = [sys.executable, "-m", "tap_chatbot_reports", "--config", str(path)]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            records = 0
            for line in proc.stdout:
                message = json.loads(line)
                seen.append(message)
                records += message.get("type") == "RECORD"
                if records >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            proc.wait()
            stderr = proc.stderr.read()
    return seen, stderr


@functools.cache
def primary_keys() -> dict[str, tuple[str, ...]]:
    """Each stream's key properties, from ``--discover`` (no config needed)."""
    done = subprocess.run(
        [sys.executable, "-m", "tap_chatbot_reports", "--discover"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        s["tap_stream_id"]: tuple(s["key_properties"]) for s in json.loads(done.stdout)["streams"]
    }


def key_bag(messages: t.Iterable[dict[str, t.Any]]) -> Counter[tuple[str, str]]:
    """(stream, primary key) multiset: a resumed run may read a row through another window, so
    provenance columns (e.g. CleverTap's ``window_from``) can differ; the row is the same."""
    keys = primary_keys()
    return Counter(
        (m["stream"], json.dumps([m["record"].get(k) for k in keys[m["stream"]]]))
        for m in messages
        if m.get("type") == "RECORD"
    )


def kill_and_resume(env: VendorEnv, kill_after: int) -> KillResult:
    assert env.clean is not None
    seen, stderr = killed_run(env, kill_after)
    states = [m["value"] for m in seen if m.get("type") == "STATE"]
    resumed = env.run(state=states[-1] if states else None)
    assert resumed.run.returncode == 0, resumed.run.stderr[-2000:]
    first = key_bag(seen)
    second = key_bag(resumed.run.messages)
    clean = key_bag(env.clean.run.messages)
    union_keys = set(first) | set(second)
    lost = sum(n for key, n in clean.items() if key not in union_keys)
    emitted = sum(first.values()) + sum(second.values())
    secrets_found = leaks(
        {"stdout": "".join(json.dumps(m) for m in seen), "stderr": stderr}, env.scenario.secrets
    )
    return KillResult(
        kill_after=kill_after,
        states_seen=len(states),
        lost=lost,
        duplicates=emitted - sum(Counter(dict.fromkeys(union_keys, 1)).values()),
        expected=sum(clean.values()),
        leaked=secrets_found,
    )


def kill_points(env: VendorEnv, count: int, seed: int) -> list[int]:
    """``count`` record counts spread over the run (random inside equal slices)."""
    assert env.clean is not None
    total = sum(env.clean.bag.values())
    rng = random.Random(f"{seed}-{env.scenario.key}")
    width = max(1, (total - 1) // count)
    return [min(total - 1, 1 + i * width + rng.randrange(width)) for i in range(count)]
