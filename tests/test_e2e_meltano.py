"""End to end as users run it: real Meltano, the repository's meltano.yml, the real DuckDB target.

A session fixture copies meltano.yml into a scratch project (pointing the sandbox environment at
this test's sandbox port and the extractor's pip_url at this checkout) and runs `meltano install`
once; each test then runs `meltano run` and reads the warehouse back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

from sandbox.apps import SANDBOX_VENDORS
from sandbox.server import Sandbox

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(days=20)
END = TODAY - dt.timedelta(days=1)  # the last complete day: ground truth does not move


def _meltano(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "meltano"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})},
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, f"meltano {' '.join(args)} failed:\n{done.stderr[-4000:]}"
    return done.stderr


@pytest.fixture(scope="session")
def sandbox() -> t.Iterator[tuple[Sandbox, dict[str, t.Any]]]:
    apps = {v.key: v.make_app(START, TODAY + dt.timedelta(days=1), 7) for v in SANDBOX_VENDORS}
    server = Sandbox(list(apps.values())).start()
    yield server, apps
    server.stop()


@pytest.fixture(scope="session")
def project(
    tmp_path_factory: pytest.TempPathFactory, sandbox: tuple[Sandbox, dict[str, t.Any]]
) -> Path:
    server, _ = sandbox
    folder = tmp_path_factory.mktemp("meltano-project")
    text = (ROOT / "meltano.yml").read_text().replace("http://127.0.0.1:8765", server.url)
    config = yaml.safe_load(text)
    for plugin in config["plugins"]["extractors"]:
        if plugin["name"] == "tap-chatbot-reports":
            plugin["pip_url"] = f"-e {ROOT}"
    (folder / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    _meltano(folder, "install")
    return folder


@pytest.fixture(autouse=True)
def _fresh_throttles(sandbox: tuple[Sandbox, dict[str, t.Any]]) -> None:
    """Each test is a new Meltano project state: forget Xenioo's hourly call budget."""
    sandbox[1]["xenioo"]._last_call.clear()


def _run(project: Path, warehouse: Path, state_db: Path) -> str:
    return _meltano(
        project,
        "--environment=sandbox",
        "run",
        "tap-chatbot-reports",
        "target-duckdb",
        env={
            "TAP_CHATBOT_REPORTS_START_DATE": f"{START.isoformat()}T00:00:00+00:00",
            "TAP_CHATBOT_REPORTS_END_DATE": f"{END.isoformat()}T23:59:59+00:00",
            "TARGET_DUCKDB_FILEPATH": str(warehouse),
            "MELTANO_DATABASE_URI": f"sqlite:///{state_db}",
        },
    )


def _tables(project: Path, warehouse: Path) -> dict[str, list[dict[str, t.Any]]]:
    python = project / ".meltano/loaders/target-duckdb/venv/bin/python"
    script = (
        "import duckdb, json, sys\n"
        "c = duckdb.connect(sys.argv[1], read_only=True)\n"
        "out = {}\n"
        "for s, t in c.execute('select table_schema, table_name from information_schema.tables')"
        ".fetchall():\n"
        '    cur = c.execute(f\'select * from "{s}"."{t}"\')\n'
        "    cols = [d[0] for d in cur.description]\n"
        "    out[t] = [dict(zip(cols, map(str, row))) for row in cur.fetchall()]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(python), "-c", script, str(warehouse)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_meltano_run_lands_every_certainly_message_in_duckdb(
    project: Path, sandbox: tuple[Sandbox, dict[str, t.Any]], tmp_path: Path
) -> None:
    _, apps = sandbox
    warehouse, state_db = tmp_path / "w.duckdb", tmp_path / "state.db"
    _run(project, warehouse, state_db)
    tables = _tables(project, warehouse)
    expected = {
        (bot, str(m["id"]))
        for bot, rows in apps["certainly"].bots.items()
        for m in rows
        if m["timestamp"][:10] <= END.isoformat()
    }
    landed = {(row["bot_id"], row["id"]) for row in tables["certainly_messages"]}
    assert len(tables["certainly_messages"]) == len(expected)
    assert landed == expected

    # A second, incremental run re-reads only each bot's last day: no duplicate rows land.
    _run(project, warehouse, state_db)
    again = _tables(project, warehouse)["certainly_messages"]
    assert {(row["bot_id"], row["id"]) for row in again} == expected
    assert len(again) == len(expected)


def test_meltano_run_lands_rows_for_every_configured_vendor(project: Path, tmp_path: Path) -> None:
    warehouse, state_db = tmp_path / "w.duckdb", tmp_path / "state.db"
    _run(project, warehouse, state_db)
    tables = _tables(project, warehouse)
    sandbox_config = yaml.safe_load((project / "meltano.yml").read_text())["environments"][1]
    vendors = set(sandbox_config["config"]["plugins"]["extractors"][0]["config"]) - {
        "backoff_factor"
    }
    for vendor in vendors:
        landed = {name: len(rows) for name, rows in tables.items() if name.startswith(vendor)}
        assert landed, f"no table landed for {vendor}"
        assert sum(landed.values()) > 0, f"{vendor}: {landed}"
