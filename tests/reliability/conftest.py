"""Fixtures of the reliability suite, and its figures at the end of the session."""

from __future__ import annotations

import typing as t

import pytest

from sandbox.server import Sandbox
from tests.reliability.harness import FIGURES, VendorEnv
from tests.reliability.scenarios import SCENARIOS


@pytest.fixture(scope="module", params=list(SCENARIOS))
def vendor(request: pytest.FixtureRequest) -> t.Iterator[VendorEnv]:
    """Each vendor's app behind its own sandbox, with a fault-free run to compare against."""
    scenario = SCENARIOS[request.param]
    app = scenario.make_app()
    with Sandbox([app]) as sandbox:
        env = VendorEnv(scenario, app, sandbox)
        clean = env.run()
        assert clean.run.returncode == 0, clean.run.stderr[-2000:]
        streams = {stream for stream, _ in clean.bag}
        assert len(clean.bag) > 50 and streams, "the fault-free run must read real data"
        env.clean = clean
        yield env


def pytest_terminal_summary(terminalreporter: t.Any) -> None:
    if FIGURES:
        line = ", ".join(f"{name} {value}" for name, value in sorted(FIGURES.items()))
        terminalreporter.write_line(f"reliability figures: {line}")
