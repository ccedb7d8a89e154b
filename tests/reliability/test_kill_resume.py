"""SIGKILL at a few random points per vendor, resume from the last STATE: nothing is lost.

The full run (20 points per vendor, with the duplicate rate) is ``python scripts/kill_resume.py``.
Xenioo: the sandbox forgets its throttle memory before each attempt, as a fresh hour would; the
tap's own state still skips the calls it already made.
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import FIGURES, VendorEnv
from tests.reliability.killresume import kill_and_resume, kill_points

POINTS_IN_CI = 3


@pytest.mark.parametrize("point", range(POINTS_IN_CI))
def test_kill_and_resume_loses_nothing(vendor: VendorEnv, point: int) -> None:
    kill_after = kill_points(vendor, POINTS_IN_CI, seed=7)[point]
    result = kill_and_resume(vendor, kill_after)
    FIGURES["kill points"] += 1
    FIGURES["records lost"] += result.lost
    FIGURES["secrets leaked"] += len(result.leaked)
    assert result.lost == 0, result
    assert not result.leaked
    assert result.duplicates <= result.expected  # at most one re-read of the run
