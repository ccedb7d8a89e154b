"""Zero loss and exactly-once across the sandbox's variant matrix (issue 14 point 6).

Each sandbox vendor module lists, in ``VARIANTS``, every reading of an undocumented point that
the tap must read (response shapes, row orders, bound inclusivity, timestamp spellings, field
spellings); the first option is the default. For every vendor and every other option, the tap runs
against a fresh sandbox serving that option and must emit:

- exit 0, and per stream the same primary keys as under the default reading, each as many times
  (nothing lost, nothing doubled);
- the same keys again when the range is cut in two runs, the second resuming from the first's
  STATE (at an instant spelled with a +09:00 offset, mid-day): no row lost at the cut.

The default reading itself is held to the sandbox's ground truth by the vendor test modules and
the warehouse end-to-end tests. The matrix's size and figures are printed in the terminal summary.
"""

from __future__ import annotations

import collections
import datetime as dt
import importlib
import json
import typing as t

import pytest

from sandbox.apps import SANDBOX_VENDORS, SandboxVendor
from sandbox.server import Sandbox
from tests.tapio import run_tap

START = dt.date(2026, 2, 1)
END = dt.date(2026, 2, 21)
SEED = 5
#: The cut of the two-run case: mid-day, spelled with an offset (2026-02-10T04:37:00Z).
CUT = "2026-02-10T13:37:00+09:00"
#: Vendors whose statistics are a rolling window with hourly budgets, not a time range.
NO_RANGE = {"xenioo"}

#: Lines for the terminal summary (see tests/conftest.py).
REPORT: list[str] = []


def variants_of(vendor: SandboxVendor) -> dict[str, tuple[str, ...]]:
    module = importlib.import_module(vendor.make_app.__module__)
    return dict(getattr(module, "VARIANTS", {}))


def matrix() -> list[t.Any]:
    cases = []
    for vendor in SANDBOX_VENDORS:
        for point, options in variants_of(vendor).items():
            for option in options[1:]:
                cases.append(
                    pytest.param(vendor, point, option, id=f"{vendor.key}-{point}-{option}")
                )
    return cases


Keys = collections.Counter[tuple[str, str]]


def keys_of(messages: list[dict[str, t.Any]]) -> Keys:
    """(stream, primary key) of every RECORD, counted (keys from the run's SCHEMA messages)."""
    key_properties: dict[str, list[str]] = {}
    counts: Keys = collections.Counter()
    for message in messages:
        if message.get("type") == "SCHEMA":
            key_properties[message["stream"]] = message.get("key_properties") or []
        elif message.get("type") == "RECORD":
            record = message["record"]
            names = key_properties[message["stream"]] or sorted(record)
            counts[message["stream"], json.dumps([record.get(n) for n in names])] += 1
    return counts


def run_variant(
    vendor: SandboxVendor, variant: dict[str, str], start: str, end: str, state: t.Any = None
) -> tuple[Keys, t.Any]:
    if vendor.key in NO_RANGE:  # a rolling window of days before now: data around today
        today = dt.datetime.now(dt.UTC).date()
        app = vendor.make_app(today - dt.timedelta(days=20), today + dt.timedelta(days=1), SEED)
    else:
        app = vendor.make_app(START, END, SEED)
    app.variant = dict(variant)
    with Sandbox([app]) as sandbox:
        section = vendor.demo_config(app, sandbox.url)
        assert section is not None
        config = {"start_date": start, "end_date": end, "backoff_factor": 0, vendor.key: section}
        run = run_tap(config, state=state)
    assert run.returncode == 0, (variant, run.stderr[-3000:])
    return keys_of(run.messages), run.last_state


RANGE = (f"{START.isoformat()}T00:00:00Z", f"{END.isoformat()}T00:00:00Z")
_BASELINES: dict[str, Keys] = {}


def baseline(vendor: SandboxVendor) -> Keys:
    if vendor.key not in _BASELINES:
        keys, _ = run_variant(vendor, {}, *RANGE)
        assert keys, f"{vendor.key}: the default reading emitted nothing"
        _BASELINES[vendor.key] = keys
    return _BASELINES[vendor.key]


def test_every_vendor_serves_at_least_one_variant() -> None:
    """A vendor without variants would escape the matrix silently."""
    missing = [v.key for v in SANDBOX_VENDORS if not variants_of(v)]
    assert not missing, f"sandbox vendors without VARIANTS: {missing}"
    for vendor in SANDBOX_VENDORS:
        app = vendor.make_app(START, END, SEED)
        assert hasattr(app, "variant"), f"{vendor.key}: the app has no variant switch"


@pytest.mark.parametrize(("vendor", "point", "option"), matrix())
def test_variant_loses_nothing_and_doubles_nothing(
    vendor: SandboxVendor, point: str, option: str
) -> None:
    expected = baseline(vendor)
    variant = {point: option}

    got, _ = run_variant(vendor, variant, *RANGE)
    lost = expected - got
    doubled = got - expected
    assert not lost, f"{sum(lost.values())} rows lost under {variant}: {list(lost)[:5]}"
    assert not doubled, f"{sum(doubled.values())} rows doubled under {variant}: {list(doubled)[:5]}"

    split_lost = 0
    if vendor.key not in NO_RANGE:
        first, state = run_variant(vendor, variant, RANGE[0], CUT)
        second, _ = run_variant(vendor, variant, RANGE[0], RANGE[1], state=state)
        missing = set(expected) - set(first) - set(second)
        split_lost = len(missing)
        assert not missing, f"{split_lost} rows lost at the cut {CUT} under {variant}"
        assert set(first) | set(second) <= set(expected)
    REPORT.append(
        f"{vendor.key:10} {point}={option}: {sum(got.values())} rows over "
        f"{len({s for s, _ in got})} streams, lost 0, doubled 0"
        + ("" if vendor.key in NO_RANGE else f", cut in two runs: lost {split_lost}")
    )
