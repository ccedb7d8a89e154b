"""Run a vendor scenario against its sandbox with faults, and keep the suite's figures."""

from __future__ import annotations

import json
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from sandbox.server import Fault, LoggedRequest, Sandbox
from tests.reliability.scenarios import Scenario, leaks, record_bag
from tests.tapio import TapRun, run_tap

#: Figures printed at the end of the session (tests/reliability/conftest.py).
FIGURES: Counter[str] = Counter()


@dataclass
class Outcome:
    run: TapRun
    requests: list[LoggedRequest]
    faults_applied: int
    bag: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def retry_lines(self) -> list[str]:
        return [line for line in self.run.stderr.splitlines() if ": retry " in line]


@dataclass
class VendorEnv:
    """A vendor's app behind a running sandbox, with its fault-free run."""

    scenario: Scenario
    app: t.Any
    sandbox: Sandbox
    clean: Outcome | None = None

    def config(self, **common: t.Any) -> dict[str, t.Any]:
        return self.scenario.config(self.app, self.sandbox.url, **common)

    def run(
        self,
        faults: t.Sequence[Fault] = (),
        config: dict[str, t.Any] | None = None,
        state: dict[str, t.Any] | None = None,
        **common: t.Any,
    ) -> Outcome:
        """One tap run at DEBUG level; every run is checked for leaked secrets."""
        self.scenario.before_run(self.app)
        self.sandbox.clear()
        planned = [f.times for f in faults]
        for fault in faults:
            self.sandbox.add_fault(fault)
        run = run_tap(
            config if config is not None else self.config(**common),
            state=state,
            env={"LOGLEVEL": "DEBUG"},
        )
        applied = sum(p - f.times for p, f in zip(planned, faults, strict=True))
        # A slow answer is still being served after the tap gave up on it: let it finish, so
        # it cannot land in (or spend a Xenioo throttle budget of) the next run.
        slow = [
            f.delay
            for p, f in zip(planned, faults, strict=True)
            if f.kind == "slow" and p > f.times
        ]
        if slow:
            time.sleep(max(slow) + 0.2)
        # Requests the tap sent before it exited are handled (and logged) in this run, never
        # after the next run cleared the log (where they would count as that run's retries).
        assert self.sandbox.wait_idle(), "sandbox still serving a tap that has exited"
        requests = [r for r in self.sandbox.requests if r.vendor != "_sandbox"]
        outcome = Outcome(run, requests, applied, record_bag(run.messages))
        FIGURES["runs"] += 1
        FIGURES["faults injected"] += applied
        assert_no_leak(run, self.scenario.secrets)
        return outcome


def assert_no_leak(run: TapRun, secrets: t.Iterable[str]) -> None:
    found = leaks(
        {"stdout": run.stdout, "stderr": run.stderr, "state": json.dumps(run.states())},
        secrets,
    )
    FIGURES["secrets leaked"] += len(found)
    FIGURES["outputs checked for secrets"] += 3
    assert not found, f"secret leaked: {found}"


def compare(expected: Counter[tuple[str, str]], got: Counter[tuple[str, str]]) -> None:
    """Assert ``got`` equals ``expected`` exactly, counting compared and lost records."""
    lost = expected - got
    FIGURES["records compared"] += sum(expected.values())
    FIGURES["records lost"] += sum(lost.values())
    assert not lost, f"{sum(lost.values())} records lost, e.g. {next(iter(lost))}"
    extra = got - expected
    assert not extra, (
        f"{sum(extra.values())} records not in the fault-free run: {next(iter(extra))}"
    )
