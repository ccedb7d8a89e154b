"""Dagster definitions built from meltano.yml: one asset per vendor account, one job and one
schedule per vendor.

Each asset runs ``meltano --environment=<env> run <extractor> <loader>`` in a subprocess through
Dagster Pipes (``PipesSubprocessClient``); Meltano keeps the state
(``<env>:<extractor>-to-<loader>``) in its own system database or ``state_backend``. Every
asset sits in the concurrency pool of its vendor account (``<vendor>-<account>``), and the
example ``dagster.yaml`` gives every pool one slot, so no two runs of one state id, or of one
CleverTap/Xenioo account, overlap.

Settings (environment variables, read when the code location loads):

- ``MELTANO_PROJECT_ROOT``: the Meltano project (default: this repository).
- ``MELTANO_ENVIRONMENT``: the Meltano environment (default: ``sandbox``, the demo's).
- ``CHATBOT_REPORTS_LOADER``: the loader (default: ``target-duckdb``).
- ``CHATBOT_REPORTS_CRON`` / ``CHATBOT_REPORTS_CRON_<VENDOR>``: schedules (default: hourly).

The environment and the project can also be changed per run in the ``meltano`` resource's config;
each asset takes an ``env`` config (extra environment variables for that one ``meltano run``).
"""

# No ``from __future__ import annotations``: Dagster reads the asset's parameter annotations
# (config and resources) as real types.
import os
import shutil
import sys
import typing as t
from pathlib import Path

import dagster as dg
from pydantic import Field

from orchestrate.meltano_project import Extraction, load_extractions

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ENVIRONMENT = "sandbox"
DEFAULT_LOADER = "target-duckdb"
DEFAULT_CRON = "0 * * * *"
#: Loaders that hold one file for the whole run (target-duckdb keeps its DuckDB file open): their
#: jobs run steps one at a time, and every run is tagged so that dagster.yaml can queue them.
SINGLE_WRITER_LOADERS = frozenset({"target-duckdb"})
TAG_VENDOR = "chatbot_reports/vendor"
TAG_LOADER = "chatbot_reports/loader"


def vendor_keys() -> tuple[str, ...]:
    """The tap's vendors (config sections and stream-name prefixes), from its registry."""
    from tap_chatbot_reports.vendors import VENDORS

    return tuple(v.key for v in VENDORS)


def _meltano_executable() -> str:
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else (shutil.which("meltano") or "meltano")


class MeltanoProject(dg.ConfigurableResource):  # type: ignore[misc]
    """Where and how ``meltano run`` is called."""

    project_dir: str = Field(description="Meltano project directory (holds meltano.yml).")
    environment: str = Field(description="Meltano environment (--environment).")
    loader: str = Field(description="Loader plugin of every run.")
    executable: str = Field(description="The meltano command.")


class MeltanoRunConfig(dg.Config):  # type: ignore[misc]
    """Run config of one asset."""

    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment variables for this meltano run, e.g. "
        "TAP_CHATBOT_REPORTS_END_DATE or TARGET_DUCKDB_FILEPATH.",
    )


def extraction_asset(extraction: Extraction) -> dg.AssetsDefinition:
    """The asset of one vendor account: ``meltano run <extractor> <loader>``."""

    @dg.asset(
        name=extraction.asset_name,
        key_prefix=[extraction.vendor],
        group_name=extraction.vendor,
        pool=extraction.pool,
        kinds={"meltano"},
        description=(
            f"`meltano run {extraction.extractor} <loader>`: {extraction.vendor} streams "
            f"{', '.join(extraction.select)} of account {extraction.account}."
        ),
        metadata={
            "meltano_extractor": extraction.extractor,
            "select": list(extraction.select),
            "pool": extraction.pool,
        },
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: MeltanoRunConfig,
        meltano: MeltanoProject,
        pipes_subprocess_client: dg.PipesSubprocessClient,
    ) -> dg.MaterializeResult:
        command = [
            meltano.executable,
            f"--environment={meltano.environment}",
            "run",
            extraction.extractor,
            meltano.loader,
        ]
        state_id = extraction.state_id(meltano.environment, meltano.loader)
        context.log.info(f"{' '.join(command[1:])} (state id {state_id})")
        result = pipes_subprocess_client.run(
            context=context,
            command=command,
            cwd=meltano.project_dir,
            env={"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **config.env},
        ).get_materialize_result()
        return dg.MaterializeResult(
            metadata={
                **(result.metadata or {}),
                "meltano_state_id": state_id,
                "meltano_environment": meltano.environment,
                "loader": meltano.loader,
            }
        )

    return _asset


def build_definitions(
    project_dir: Path | str | None = None,
    *,
    environment: str | None = None,
    loader: str | None = None,
    env: t.Mapping[str, str] = os.environ,
    executor: dg.ExecutorDefinition | None = None,
) -> dg.Definitions:
    """Definitions for the Meltano project at ``project_dir`` (settings from ``env``).

    ``executor`` replaces Dagster's default executor for every job, e.g. ``dagster_k8s``'s
    ``k8s_job_executor`` to run each asset's ``meltano run`` in its own Kubernetes job.
    """
    project = Path(project_dir or env.get("MELTANO_PROJECT_ROOT") or REPO_ROOT).resolve()
    environment = environment or env.get("MELTANO_ENVIRONMENT") or DEFAULT_ENVIRONMENT
    loader = loader or env.get("CHATBOT_REPORTS_LOADER") or DEFAULT_LOADER
    extractions = load_extractions(project, vendor_keys())
    assets = [extraction_asset(e) for e in extractions]

    vendors = list(dict.fromkeys(e.vendor for e in extractions))
    one_at_a_time: dict[str, t.Any] = {"execution": {"config": {"in_process": {}}}}
    jobs = [
        dg.define_asset_job(
            name=f"{vendor}_job",
            selection=dg.AssetSelection.groups(vendor),
            description=f"Every {vendor} account of meltano.yml, one `meltano run` each.",
            tags={TAG_VENDOR: vendor, TAG_LOADER: loader},
            config=one_at_a_time if loader in SINGLE_WRITER_LOADERS and not executor else None,
        )
        for vendor in vendors
    ]
    schedules = [
        dg.ScheduleDefinition(
            name=f"{job.name.removesuffix('_job')}_schedule",
            job=job,
            cron_schedule=env.get(f"CHATBOT_REPORTS_CRON_{job.name.removesuffix('_job').upper()}")
            or env.get("CHATBOT_REPORTS_CRON")
            or DEFAULT_CRON,
            execution_timezone="UTC",
            tags={TAG_VENDOR: job.name.removesuffix("_job"), TAG_LOADER: loader},
        )
        for job in jobs
    ]
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        executor=executor,
        resources={
            "meltano": MeltanoProject(
                project_dir=str(project),
                environment=environment,
                loader=loader,
                executable=_meltano_executable(),
            ),
            "pipes_subprocess_client": dg.PipesSubprocessClient(),
        },
    )


defs = build_definitions()
