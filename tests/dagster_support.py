"""Helpers of tests/test_dagster.py: run orchestrate/'s Dagster definitions against the e2e
session's Meltano project (tests/e2e_support.py) and read what landed."""

from __future__ import annotations

import os
import typing as t
from pathlib import Path

import dagster as dg

from orchestrate import build_definitions

LOADER = "target-duckdb"
ENVIRONMENT = "sandbox"


def definitions(project: Path) -> dg.Definitions:
    return build_definitions(project, environment=ENVIRONMENT, loader=LOADER)


def certainly_job() -> dg.JobDefinition:
    """The Certainly job of the project named by MELTANO_PROJECT_ROOT (a module-level function,
    so that `dagster.reconstructable` can rebuild it in the multiprocess executor's workers)."""
    return definitions(Path(os.environ["MELTANO_PROJECT_ROOT"])).resolve_job_def("certainly_job")


def run_config(defs: dg.Definitions, env: dict[str, str], **per_asset: dict[str, str]) -> dict:
    """Run config giving every asset's `meltano run` the environment ``env`` (plus the entries
    of ``per_asset[<op name>]`` for that asset)."""
    ops = {
        assets.op.name: {"config": {"env": {**env, **per_asset.get(assets.op.name, {})}}}
        for assets in defs.assets or ()
        if isinstance(assets, dg.AssetsDefinition)
    }
    return {"ops": ops}


def counts(tables: dict[str, list[dict[str, t.Any]]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in sorted(tables.items())}


def state_ids(listed: str) -> list[str]:
    """The state ids of `meltano state list`'s output (log lines dropped)."""
    return sorted(
        line.split()[0] for line in listed.splitlines() if line.startswith(f"{ENVIRONMENT}:")
    )


def step_windows(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """When each step of a run started and ended (from the run's event log)."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            ends[event.step_key] = entry.timestamp
    return {step: (starts[step], ends[step]) for step in starts if step in ends}


FAKE_MELTANO = """\
import json, os, sys, time
started = time.time()
time.sleep(float(os.environ.get("FAKE_MELTANO_SECONDS", "3")))
with open(os.environ["FAKE_MELTANO_LOG"], "a") as log:
    log.write(json.dumps({"args": sys.argv[1:], "start": started, "end": time.time()}) + "\\n")
"""


def run_one_asset(dagster_home: str, asset: str, executable: str, log: str) -> None:
    """Materialize one asset of the Certainly job (``certainly/eu``) as its own run on the
    instance of ``dagster_home``, with ``executable`` in place of meltano."""
    key = dg.AssetKey(asset.split("/"))
    op = "__".join(key.path)
    config = {
        "ops": {op: {"config": {"env": {"FAKE_MELTANO_LOG": log}}}},
        "resources": {
            "meltano": {
                "config": {
                    "project_dir": os.environ["MELTANO_PROJECT_ROOT"],
                    "environment": ENVIRONMENT,
                    "loader": LOADER,
                    "executable": executable,
                }
            }
        },
    }
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        result = dg.execute_job(
            dg.reconstructable(certainly_job), instance, run_config=config, asset_selection=[key]
        )
        assert result.success


if __name__ == "__main__":
    import sys

    run_one_asset(*sys.argv[1:5])
