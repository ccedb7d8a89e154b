"""The benchmark harness runs (smoke: small sizes; figures are printed, never timed here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_harness_prints_the_table_and_the_call_budget():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "bursty"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["scenario", "records", "requests"]
    assert any(line.startswith("bursty certainly") for line in lines[1:])
    match = re.search(
        r": (\d+) calls; minimal \(oracle knowing per-day counts\) (\d+)", done.stdout
    )
    assert match, done.stdout
    calls, minimal = int(match.group(1)), int(match.group(2))
    # Request counts are deterministic: the adaptive split stays within 1.5x of the oracle.
    assert minimal <= calls <= 1.5 * minimal
