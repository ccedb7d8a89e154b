"""End to end into a real PostgreSQL: `meltano run tap-chatbot-reports target-postgres`.

Needs a PostgreSQL server: set PG_HOST (and PG_PORT, PG_USER, PG_PASSWORD, PG_DATABASE; `.ci/run`
installs and starts one and exports them). Without PG_HOST the tests skip, except under CI=true
where they fail: CI must prove the warehouse path.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import typing as t
import uuid
from pathlib import Path

import pytest

from sandbox.server import Sandbox

pytest.register_assert_rewrite("tests.e2e_support")  # before the import: it is also a plugin
from tests.e2e_support import (  # noqa: E402
    END,
    compare,
    extract_env,
    meltano,
    norm,
    truth,
    xenioo_served,
)

pytest_plugins = ["tests.e2e_support"]
pytestmark = pytest.mark.e2e

QUERY = """
import json, sys, psycopg
settings, schema = json.loads(sys.argv[1]), sys.argv[2]
with psycopg.connect(**settings) as conn:
    out = {"tables": {}, "types": {}}
    for table, column, kind in conn.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = %s", (schema,)
    ).fetchall():
        out["types"].setdefault(table, {})[column] = kind
    for table in out["types"]:
        cur = conn.execute(f'select * from "{schema}"."{table}"')
        cols = [d.name for d in cur.description]
        out["tables"][table] = [
            {c: None if v is None else str(v) for c, v in zip(cols, row)}
            for row in cur.fetchall()
        ]
print(json.dumps(out))
"""


def pg_settings() -> dict[str, t.Any]:
    if not os.environ.get("PG_HOST"):
        reason = "no PostgreSQL: set PG_HOST, PG_PORT, PG_USER, PG_PASSWORD (see .ci/run)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return {
        "host": os.environ["PG_HOST"],
        "port": int(os.environ.get("PG_PORT") or 5432),
        "user": os.environ.get("PG_USER") or "postgres",
        "password": os.environ.get("PG_PASSWORD") or "",
        "dbname": os.environ.get("PG_DATABASE") or "postgres",
    }


def read_schema(project: Path, schema: str) -> dict[str, t.Any]:
    python = project / ".meltano/loaders/target-postgres/venv/bin/python"
    done = subprocess.run(
        [str(python), "-c", QUERY, json.dumps(pg_settings()), schema],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def run_to_postgres(project: Path, schema: str, end: dt.date, state_db: Path) -> str:
    settings = pg_settings()
    return meltano(
        project,
        "--environment=sandbox",
        "run",
        "tap-chatbot-reports",
        "target-postgres",
        env={
            **extract_env(end),
            "PG_HOST": settings["host"],
            "PG_PORT": str(settings["port"]),
            "PG_USER": settings["user"],
            "PG_PASSWORD": settings["password"],
            "PG_DATABASE": settings["dbname"],
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
            "MELTANO_DATABASE_URI": f"sqlite:///{state_db}",
        },
    )


@pytest.fixture(scope="module")
def loaded(
    project: Path,
    sandbox: tuple[Sandbox, dict[str, t.Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, t.Any]:
    """Two runs into one fresh schema: up to END - 3 days, then (incrementally) up to END."""
    pg_settings()
    _, apps = sandbox
    apps["xenioo"]._last_call.clear()
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    state_db = tmp_path_factory.mktemp("pg-state") / "state.db"
    first_end = END - dt.timedelta(days=3)
    calls_before = len(apps["xenioo"].calls)
    log_one = run_to_postgres(project, schema, first_end, state_db)
    first = read_schema(project, schema)
    xenioo = xenioo_served(apps["xenioo"], calls_before)
    calls_between = len(apps["xenioo"].calls)
    log_two = run_to_postgres(project, schema, END, state_db)
    second = read_schema(project, schema)
    return {
        "apps": apps,
        "first": first,
        "second": second,
        "first_end": first_end,
        "xenioo": xenioo,
        "xenioo_second_calls": len(apps["xenioo"].calls) - calls_between,
        "logs": (log_one, log_two),
    }


def test_first_run_lands_every_sandbox_row_of_every_vendor(loaded: dict[str, t.Any]) -> None:
    expected = truth(loaded["apps"], loaded["first_end"])
    problems = compare(loaded["first"]["tables"], expected, loaded["xenioo"], "postgres run 1")
    assert not problems, problems
    vendors = {table.split("_")[0] for table in loaded["first"]["tables"]}
    assert vendors == {"certainly", "clevertap", "feedbot", "jaicp", "xenioo"}


def test_second_incremental_run_adds_only_the_new_rows(loaded: dict[str, t.Any]) -> None:
    expected = truth(loaded["apps"], END)
    before = truth(loaded["apps"], loaded["first_end"])
    grown = [table for table in before if len(expected[table]) > len(before[table])]
    assert len(grown) >= 10, "the second run's extra days must add rows to most tables"
    # Xenioo allows one call per hour: the second run makes none and its rows stay.
    assert loaded["xenioo_second_calls"] == 0
    problems = compare(loaded["second"]["tables"], expected, loaded["xenioo"], "postgres run 2")
    assert not problems, problems


def test_column_types_are_what_a_warehouse_user_expects(loaded: dict[str, t.Any]) -> None:
    """Timestamps are timestamp columns holding the UTC instant, counts are integers and
    nested objects are jsonb. target-postgres 0.8.1 maps JSON Schema date-time to
    `timestamp without time zone`; the tap emits every timestamp in UTC, so the stored
    values are UTC (checked against the sandbox below)."""
    types = loaded["second"]["types"]
    timestamps = {
        ("certainly_messages", "timestamp"),
        ("feedbot_nlp_log", "timestamp"),
        ("feedbot_user_data_snapshots", "timestamp"),
        ("jaicp_sessions", "startTime"),
        ("jaicp_message_stats", "ts"),
        ("xenioo_bot_statistics", "period_start"),
        ("certainly_messages", "_sdc_extracted_at"),
    }
    integers = {
        ("clevertap_message_reports", "sent"),
        ("clevertap_message_reports", "clicked"),
        ("xenioo_bot_statistics", "type_code"),
    }
    objects = {
        ("feedbot_user_data", "storages"),
        ("xenioo_account_statistics", "extra_fields"),
    }
    wrong = []
    for names, kinds in (
        (timestamps, ("timestamp with time zone", "timestamp without time zone")),
        (integers, ("bigint", "integer")),
        (objects, ("jsonb",)),
    ):
        for table, column in sorted(names):
            got = types.get(table, {}).get(column)
            print(f"postgres type: {table}.{column}: {got}")
            if got not in kinds:
                wrong.append(f"{table}.{column} is {got}, expected one of {kinds}")
    assert not wrong, wrong

    # The stored instant is the sandbox's UTC instant (no shift by a server or session zone).
    stored = {
        (r["bot_id"], r["id"]): norm(r["timestamp"])
        for r in loaded["second"]["tables"]["certainly_messages"]
    }
    served = {
        (bot, str(m["id"])): norm(m["timestamp"])
        for bot, rows in loaded["apps"]["certainly"].bots.items()
        for m in rows
        if (bot, str(m["id"])) in stored
    }
    assert len(served) == len(stored) > 0
    assert stored == served


def test_flattened_streams_load_into_postgres(
    project: Path, sandbox: tuple[Sandbox, dict[str, t.Any]], tmp_path: Path
) -> None:
    """`flattening_enabled` at depth 1 on every stream: target-postgres validates each record
    against its flattened SCHEMA (a nested property left in `required` fails the load) and
    lands the flattened columns."""
    settings = pg_settings()
    schema = f"e2e_flat_{uuid.uuid4().hex[:10]}"
    log = meltano(
        project,
        "--environment=sandbox",
        "run",
        "tap-chatbot-reports",
        "target-postgres",
        env={
            **extract_env(END),
            "TAP_CHATBOT_REPORTS_FLATTENING_ENABLED": "true",
            "TAP_CHATBOT_REPORTS_FLATTENING_MAX_DEPTH": "1",
            "PG_HOST": settings["host"],
            "PG_PORT": str(settings["port"]),
            "PG_USER": settings["user"],
            "PG_PASSWORD": settings["password"],
            "PG_DATABASE": settings["dbname"],
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'state.db'}",
        },
    )
    loaded = read_schema(project, schema)
    expected = truth(sandbox[1], END)
    counts = {table: len(rows) for table, rows in loaded["tables"].items()}
    print("flattened postgres tables:", json.dumps(counts, sort_keys=True))
    empty = [table for table, keys in expected.items() if keys and not counts.get(table)]
    assert not empty, (empty, log[-3000:])
    columns = loaded["types"]
    assert "group__id" in columns["jaicp_message_labels"], sorted(columns["jaicp_message_labels"])
    assert "group" not in columns["jaicp_message_labels"]
    assert any(c.startswith("bot_module__") for c in columns["certainly_messages"])
