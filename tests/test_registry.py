"""Every registered vendor is covered by the suites that iterate their own vendor lists.

The vendor registry (``tap_chatbot_reports.vendors.VENDORS``) is the one list of vendors. The
sandbox (``sandbox/apps.py`` SANDBOX_VENDORS), the reliability suite
(``tests/reliability/scenarios.py`` SCENARIOS), the variant matrix (each sandbox module's
``VARIANTS``) and the fast-path equivalence test (``tests/test_fastpath.py`` all_vendor_config)
each keep a list of their own: a vendor left out of one of them silently escapes that suite.
The checks here are parametrised from the registry, so a vendor added to ``VENDORS`` alone fails
with one message per place it is missing from.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing as t

import pytest
from singer_sdk import typing as th

import sandbox.apps
import tap_chatbot_reports.vendors
import tests.reliability.scenarios
import tests.test_fastpath
from tap_chatbot_reports.tap import TapChatbotReports
from tap_chatbot_reports.vendors import Vendor

SANDBOX_LIST = "sandbox/apps.py SANDBOX_VENDORS"
SCENARIO_LIST = "tests/reliability/scenarios.py SCENARIOS"
FASTPATH_CONFIG = "tests/test_fastpath.py all_vendor_config"


def registered() -> list[Vendor]:
    """The registry as it is now (read at call time, so a patched registry is seen)."""
    return list(tap_chatbot_reports.vendors.VENDORS)


def fastpath_config() -> dict[str, t.Any]:
    """The equivalence test's config, built with a sandbox that is never started (no request
    is made: only the config is looked at)."""

    def stub_sandbox(*_apps: t.Any) -> t.Any:
        return types.SimpleNamespace(url="http://127.0.0.1:9")

    return tests.test_fastpath.all_vendor_config(stub_sandbox)


def coverage_problems(vendor: Vendor, config: dict[str, t.Any]) -> list[str]:
    """One line per suite ``vendor`` is missing from (empty when fully covered); ``config`` is
    the fast-path equivalence test's config (``fastpath_config()``)."""
    key = vendor.key
    problems: list[str] = []
    if not vendor.streams:
        problems.append(f"{key}: registers no streams (tap_chatbot_reports/vendors)")

    sandboxes = [s for s in sandbox.apps.SANDBOX_VENDORS if s.key == key]
    if not sandboxes:
        problems.append(f"{key}: no sandbox app in {SANDBOX_LIST}")
    else:
        # Where tests/test_variants.py looks: the module of the sandbox's app factory.
        module = importlib.import_module(sandboxes[0].make_app.__module__)
        variants = getattr(module, "VARIANTS", None)
        where = f"{module.__name__.replace('.', '/')}.py VARIANTS"
        if not isinstance(variants, dict) or not variants:
            problems.append(f"{key}: no {where} mapping (the variant matrix has no case for it)")
        else:
            for point, options in variants.items():
                if not isinstance(options, tuple) or len(options) < 2:
                    problems.append(
                        f"{key}: {where}[{point!r}] = {options!r}: needs the default and at "
                        "least one other reading (the matrix runs every option but the first)"
                    )

    scenario = tests.reliability.scenarios.SCENARIOS.get(key)
    if scenario is None:
        problems.append(f"{key}: no reliability scenario in {SCENARIO_LIST}")
    else:
        if scenario.key != key:
            problems.append(f"{key}: {SCENARIO_LIST}[{key!r}].key is {scenario.key!r}")
        if not scenario.families:
            problems.append(f"{key}: {SCENARIO_LIST}[{key!r}] has no stream families")
        unlabelled = sorted(set(scenario.families) - set(scenario.partition_label))
        if unlabelled:
            problems.append(
                f"{key}: {SCENARIO_LIST}[{key!r}] families without a partition_label: "
                + ", ".join(unlabelled)
            )

    if not isinstance(config.get(key), dict):
        problems.append(f"{key}: no {key!r} section in the config of {FASTPATH_CONFIG}")
    else:
        tap = TapChatbotReports(config=config, parse_env_config=False, validate_config=True)
        for stream_class in vendor.streams:
            stream = stream_class(tap=tap)
            if not stream.selected:
                problems.append(
                    f"{key}: stream {stream.name} is not synced by the config of "
                    f"{FASTPATH_CONFIG} (it reads the {stream.vendor!r} section)"
                )
    return problems


@pytest.fixture(scope="module")
def equivalence_config() -> dict[str, t.Any]:
    return fastpath_config()


@pytest.mark.parametrize("vendor", registered(), ids=lambda v: v.key)
def test_every_registered_vendor_has_sandbox_scenario_variants_and_fastpath_coverage(
    vendor: Vendor, equivalence_config: dict[str, t.Any]
) -> None:
    problems = coverage_problems(vendor, equivalence_config)
    assert not problems, "\n".join(problems)


def test_the_suites_name_no_vendor_the_registry_does_not_know() -> None:
    known = {v.key for v in registered()}
    stale = [f"{SANDBOX_LIST}: {s.key}" for s in sandbox.apps.SANDBOX_VENDORS if s.key not in known]
    stale += [
        f"{SCENARIO_LIST}: {k}" for k in tests.reliability.scenarios.SCENARIOS if k not in known
    ]
    assert not stale, stale


# ------------------------------------------------------------------ the check can fail


def test_a_vendor_added_to_the_registry_alone_is_reported_everywhere_it_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acme = Vendor(
        key="acme",
        title="Acme",
        settings=th.ObjectType(th.Property("api_token", th.StringType)),
        streams=registered()[0].streams,
        secret_keys=frozenset({"api_token"}),
    )
    monkeypatch.setattr(tap_chatbot_reports.vendors, "VENDORS", [*registered(), acme])
    assert "acme" in [v.key for v in registered()]  # the parametrisation's source sees it
    problems = coverage_problems(acme, fastpath_config())
    assert problems == [
        f"acme: no sandbox app in {SANDBOX_LIST}",
        f"acme: no reliability scenario in {SCENARIO_LIST}",
        f"acme: no 'acme' section in the config of {FASTPATH_CONFIG}",
    ]


def _drop_sandbox(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    kept = [s for s in sandbox.apps.SANDBOX_VENDORS if s.key != key]
    monkeypatch.setattr(sandbox.apps, "SANDBOX_VENDORS", kept)
    monkeypatch.setattr(tests.test_fastpath, "SANDBOX_VENDORS", kept)  # imported by name there


def _drop_scenario(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.delitem(tests.reliability.scenarios.SCENARIOS, key)


def _drop_variants(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.delattr(importlib.import_module(f"sandbox.{key}"), "VARIANTS")


def _one_option_variant(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    module = importlib.import_module(f"sandbox.{key}")
    monkeypatch.setattr(module, "VARIANTS", {**module.VARIANTS, "new_point": ("only",)})


def _no_demo_config(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    patched = [
        dataclasses.replace(s, demo_config=lambda _app, _url: None) if s.key == key else s
        for s in sandbox.apps.SANDBOX_VENDORS
    ]
    monkeypatch.setattr(sandbox.apps, "SANDBOX_VENDORS", patched)
    monkeypatch.setattr(tests.test_fastpath, "SANDBOX_VENDORS", patched)


def _scenario_family_unlabelled(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    scenario = tests.reliability.scenarios.SCENARIOS[key]
    families = {**scenario.families, "extra": r"/extra"}
    monkeypatch.setitem(
        tests.reliability.scenarios.SCENARIOS, key, dataclasses.replace(scenario, families=families)
    )


#: (how one place loses the vendor, the problems the check must report)
GAPS: dict[str, tuple[t.Callable[[pytest.MonkeyPatch, str], None], list[str]]] = {
    "sandbox-app": (
        _drop_sandbox,
        [
            f"{{key}}: no sandbox app in {SANDBOX_LIST}",
            # all_vendor_config builds its sections from the sandbox list
            f"{{key}}: no '{{key}}' section in the config of {FASTPATH_CONFIG}",
        ],
    ),
    "scenario": (_drop_scenario, [f"{{key}}: no reliability scenario in {SCENARIO_LIST}"]),
    "variants": (
        _drop_variants,
        ["{key}: no sandbox/{key}.py VARIANTS mapping (the variant matrix has no case for it)"],
    ),
    "one-option-variant": (
        _one_option_variant,
        [
            "{key}: sandbox/{key}.py VARIANTS['new_point'] = ('only',): needs the default and at "
            "least one other reading (the matrix runs every option but the first)"
        ],
    ),
    "fastpath-section": (
        _no_demo_config,
        [f"{{key}}: no '{{key}}' section in the config of {FASTPATH_CONFIG}"],
    ),
    "scenario-family-label": (
        _scenario_family_unlabelled,
        [f"{{key}}: {SCENARIO_LIST}['{{key}}'] families without a partition_label: extra"],
    ),
}


@pytest.mark.parametrize("gap", list(GAPS))
def test_a_vendor_missing_from_one_place_is_reported_naming_that_place(
    monkeypatch: pytest.MonkeyPatch, gap: str
) -> None:
    vendor = registered()[-1]
    assert coverage_problems(vendor, fastpath_config()) == []
    make_gap, expected = GAPS[gap]
    make_gap(monkeypatch, vendor.key)
    problems = coverage_problems(vendor, fastpath_config())
    assert problems == [line.format(key=vendor.key) for line in expected]


def test_a_stream_the_fastpath_config_does_not_sync_is_reported() -> None:
    vendor = registered()[0]
    base = vendor.streams[0]
    # A stream copied from another vendor's module that still reads that vendor's section.
    orphan = type("OrphanStream", (base,), {"name": f"{vendor.key}_orphan", "vendor": "nobody"})
    patched = dataclasses.replace(vendor, streams=(*vendor.streams, orphan))
    problems = coverage_problems(patched, fastpath_config())
    assert problems == [
        f"{vendor.key}: stream {vendor.key}_orphan is not synced by the config of "
        f"{FASTPATH_CONFIG} (it reads the 'nobody' section)"
    ]
