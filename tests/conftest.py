"""Shared fixtures: a sandbox server in a thread."""

from __future__ import annotations

import typing as t

import pytest
from hypothesis import settings

from sandbox.server import Sandbox, VendorApp

# Property tests: no per-example deadline (CI machines are shared), a bounded example count.
settings.register_profile("default", deadline=None, max_examples=60)
settings.load_profile("default")


@pytest.fixture
def sandbox_factory() -> t.Iterator[t.Callable[..., Sandbox]]:
    """Start a sandbox with the given vendor apps; stopped after the test."""
    started: list[Sandbox] = []

    def start(*apps: VendorApp) -> Sandbox:
        sandbox = Sandbox(list(apps)).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


def pytest_terminal_summary(terminalreporter: t.Any) -> None:
    """The variant matrix's figures (tests/test_variants.py) in the CI log."""
    import sys

    module = sys.modules.get("tests.test_variants")
    report = getattr(module, "REPORT", None)
    if report:
        terminalreporter.section(f"sandbox variant matrix: {len(report)} variants")
        for line in report:
            terminalreporter.write_line(line)
