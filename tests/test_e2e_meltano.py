"""End to end as users run it: real Meltano, the repository's meltano.yml, the real DuckDB target.

The session fixtures (tests/e2e_support.py) copy meltano.yml into a scratch project (pointing the
sandbox environment at this session's sandbox and the extractor's pip_url at this checkout) and
run `meltano install` once; each test then runs `meltano run` and reads the warehouse back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import typing as t
from pathlib import Path

import pytest

from sandbox.server import Sandbox

pytest.register_assert_rewrite("tests.e2e_support")  # before the import: it is also a plugin
from tests.e2e_support import (  # noqa: E402
    BIN,
    END,
    compare,
    duckdb_tables,
    extract_env,
    meltano,
    truth,
    xenioo_served,
)

pytest_plugins = ["tests.e2e_support"]
pytestmark = pytest.mark.e2e


def _run(project: Path, warehouse: Path, state_db: Path, end: dt.date = END) -> str:
    return meltano(
        project,
        "--environment=sandbox",
        "run",
        "tap-chatbot-reports",
        "target-duckdb",
        env={
            **extract_env(end),
            "TARGET_DUCKDB_FILEPATH": str(warehouse),
            "MELTANO_DATABASE_URI": f"sqlite:///{state_db}",
        },
    )


def test_every_table_of_every_vendor_matches_the_sandbox_and_reruns_add_only_new_rows(
    project: Path, sandbox: tuple[Sandbox, dict[str, t.Any]], tmp_path: Path
) -> None:
    _, apps = sandbox
    warehouse, state_db = tmp_path / "w.duckdb", tmp_path / "state.db"
    first_end = END - dt.timedelta(days=3)
    calls = len(apps["xenioo"].calls)
    _run(project, warehouse, state_db, first_end)
    xenioo = xenioo_served(apps["xenioo"], calls)
    problems = compare(
        duckdb_tables(project, warehouse), truth(apps, first_end), xenioo, "duckdb run 1"
    )
    assert not problems, problems

    # A second, incremental run: the three new days land, re-read days are merged, not doubled.
    calls = len(apps["xenioo"].calls)
    _run(project, warehouse, state_db)
    assert len(apps["xenioo"].calls) == calls  # Xenioo's hourly budget: no call, rows kept
    problems = compare(duckdb_tables(project, warehouse), truth(apps, END), xenioo, "duckdb run 2")
    assert not problems, problems


def test_two_inherited_accounts_run_in_parallel_with_separate_state(
    project: Path, sandbox: tuple[Sandbox, dict[str, t.Any]], tmp_path: Path
) -> None:
    """meltano.yml's tap-chatbot-reports--eu and --us (one Certainly bot each) as two parallel
    jobs: each lands only its own bot and keeps its own state."""
    _, apps = sandbox
    state_db = tmp_path / "state.db"
    base = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{state_db}",
    }
    env = {"MELTANO_DATABASE_URI": f"sqlite:///{state_db}"}
    # A project's system database exists before jobs run in parallel (two jobs migrating a new
    # one at the same moment collide): any meltano command creates it.
    meltano(project, "--environment=sandbox", "state", "list", env=env)
    jobs = {}
    for region in ("eu", "us"):
        prefix = f"TAP_CHATBOT_REPORTS__{region.upper()}"
        env = {
            **base,
            **extract_env(END, prefix),
            # This account's job reads Certainly only.
            f"{prefix}__SELECT": json.dumps(["certainly_messages.*"]),
            "TARGET_DUCKDB_FILEPATH": str(tmp_path / f"{region}.duckdb"),
        }
        jobs[region] = subprocess.Popen(
            [
                str(BIN / "meltano"),
                "--environment=sandbox",
                "run",
                f"tap-chatbot-reports--{region}",
                "target-duckdb",
            ],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for region, job in jobs.items():
        _, err = job.communicate(timeout=900)
        assert job.returncode == 0, f"{region}: {err[-3000:]}"

    listed = meltano(project, "--environment=sandbox", "state", "list", env=env)
    ids = sorted(line.split()[0] for line in listed.splitlines() if "tap-chatbot-reports--" in line)
    print("meltano state list:", ids)
    assert len(ids) == 2 and any("--eu" in i for i in ids) and any("--us" in i for i in ids)

    expected_bots = {"eu": "bot-alpha", "us": "bot-beta"}
    for region, bot in expected_bots.items():
        (state_id,) = [i for i in ids if f"--{region}" in i]
        output = meltano(project, "state", "get", state_id, env=env)
        state = json.loads(next(x for x in output.splitlines() if x.startswith("{")))
        partitions = state["singer_state"]["bookmarks"]["certainly_messages"]["partitions"]
        print(f"{state_id}: {[p['context'] for p in partitions]}")
        assert [p["context"] for p in partitions] == [{"bot_id": bot}]
        rows = duckdb_tables(project, tmp_path / f"{region}.duckdb")["certainly_messages"]
        want = {
            str(m["id"])
            for m in apps["certainly"].bots[bot]
            if m["timestamp"][:10] <= END.isoformat()
        }
        assert {r["id"] for r in rows} == want and {r["bot_id"] for r in rows} == {bot}
