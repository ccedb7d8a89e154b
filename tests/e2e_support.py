"""Shared end-to-end fixtures (a pytest plugin): one sandbox and one installed Meltano project
per session, Meltano runners, and the sandbox's ground truth per warehouse table.

Loaded by the e2e modules with ``pytest_plugins``, so `meltano install` runs once per session
whichever loaders are tested.

Ground truth follows each vendor's semantics as its own tests do (tests/test_<vendor>*.py):
rows whose time is inside ``[start_date, end_date)``, keyed by the stream's primary key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import typing as t
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

from sandbox import jaicp_data
from sandbox.apps import SANDBOX_VENDORS
from sandbox.feedbot import row_time
from sandbox.server import Sandbox
from tap_chatbot_reports.vendors.feedbot_schemas import EXPORTS, row_key

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(days=20)
END = TODAY - dt.timedelta(days=1)  # the last complete day: ground truth does not move
Keys = set[tuple[str, ...]]

#: Primary key of every table (the tap's catalog; a test checks the loaders keep them).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "certainly_messages": ("bot_id", "id"),
    "clevertap_message_reports": ("message_id", "report_date"),
    **{e.stream: ("bot_id", "row_key") for e in EXPORTS},
    "feedbot_user_data": ("bot_id", "userId"),
    "feedbot_user_data_snapshots": ("bot_id", "userId", "timestamp"),
    "jaicp_clients": ("id", "botId"),
    "jaicp_experiments": ("projectShortName", "key"),
    "jaicp_message_labels": ("id",),
    "jaicp_message_stats": ("projectShortName", "ts"),
    "jaicp_messages": ("questionId",),
    "jaicp_session_stats": ("projectShortName", "ts"),
    "jaicp_sessions": ("sessionId",),
}
XENIOO = {
    "xenioo_account_statistics": ("account_stats",),
    "xenioo_bot_statistics": ("bot_stats",),
    "xenioo_delivery_statistics": ("account_dlr", "bot_dlr"),
}
XENIOO_KEY = (
    "level",
    "api_key",
    "group_mode",
    "grouplabel",
    "botname",
    "channelname",
    "eventlabel",
)


#: Count lines of every comparison, shown in pytest's terminal summary (CI logs show them).
REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: t.Any) -> None:
    if REPORT:
        terminalreporter.section("warehouse row counts (loaded vs sandbox ground truth)")
        for line in REPORT:
            terminalreporter.write_line(line)


# ---------------------------------------------------------------------------- fixtures


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
    """A scratch copy of meltano.yml pointing at the sandbox and this checkout, installed once."""
    server, _ = sandbox
    folder = tmp_path_factory.mktemp("meltano-project")
    # The sandbox environment's URLs carry the port scripts/demo.sh exports (SANDBOX_PORT).
    text = (ROOT / "meltano.yml").read_text()
    for local in ("http://127.0.0.1:${SANDBOX_PORT}", "http://127.0.0.1:8765"):
        text = text.replace(local, server.url)
    config = yaml.safe_load(text)
    for plugin in config["plugins"]["extractors"]:
        if plugin["name"] == "tap-chatbot-reports":
            plugin["pip_url"] = f"-e {ROOT}"
    (folder / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    meltano(folder, "install")
    return folder


@pytest.fixture(autouse=True)
def _fresh_throttles(sandbox: tuple[Sandbox, dict[str, t.Any]]) -> None:
    """Each test is a new Meltano project state: forget Xenioo's hourly call budget."""
    sandbox[1]["xenioo"]._last_call.clear()


# ---------------------------------------------------------------------------- meltano


def meltano(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
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
    return done.stdout + done.stderr


def extract_env(end: dt.date, prefix: str = "TAP_CHATBOT_REPORTS") -> dict[str, str]:
    return {
        f"{prefix}_START_DATE": f"{START.isoformat()}T00:00:00+00:00",
        f"{prefix}_END_DATE": f"{end.isoformat()}T23:59:59+00:00",
    }


def end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), dt.UTC)


# ---------------------------------------------------------------------------- ground truth


def norm(value: t.Any) -> str:
    """One text form for a key value as the tap emits it and as a warehouse returns it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), dt.UTC).isoformat()
    text = str(value)
    if re.fullmatch(r"\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d(:?\d\d)?|Z)?)?", text):
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return norm(parsed)
    return text


def keyset(rows: Iterable[t.Sequence[t.Any]]) -> Keys:
    return {tuple(norm(v) for v in row) for row in rows}


def truth(apps: dict[str, t.Any], end: dt.date) -> dict[str, Keys]:
    """Primary keys per table of every row the sandbox holds for ``[START, end 23:59:59)``."""
    start_at, end_at = dt.datetime.combine(START, dt.time(), dt.UTC), end_of(end)
    out: dict[str, Keys] = {}

    certainly = apps["certainly"]
    out["certainly_messages"] = keyset(
        (bot, m["id"])
        for bot, rows in certainly.bots.items()
        for m in rows
        if START.isoformat() <= m["timestamp"][:10] <= end.isoformat()
    )

    clevertap = apps["clevertap"]
    account = next(iter(clevertap.accounts))  # the account demo_config configures
    out["clevertap_message_reports"] = keyset(clevertap.message_days(account, START, end))

    feedbot = apps["feedbot"]
    expected = feedbot.expected(start_at, end_at)
    for export in EXPORTS:
        rows = [(b, r) for (b, path), rs in expected.items() if path == export.path for r in rs]
        if export.path == "userData":
            out[export.stream] = keyset((b, r["userId"]) for b, r in rows)
        elif export.path == "userDataSnapshot":
            out[export.stream] = keyset((b, r["userId"], row_time(r)) for b, r in rows)
        else:
            out[export.stream] = keyset((b, row_key(r)) for b, r in rows)

    projects = apps["jaicp"].projects
    windowed = {
        "jaicp_sessions": ("sessions", ("sessionId",), "_time"),
        "jaicp_messages": ("messages", ("questionId",), "_time"),
        "jaicp_clients": ("clients", ("id", "botId"), "_last"),
    }
    for table, (resource, key, when) in windowed.items():
        out[table] = keyset(
            tuple(r[k] for k in key)
            for p in projects.values()
            for r in getattr(p, resource)
            if start_at <= r[when] < end_at
        )
    for table, resource in (
        ("jaicp_message_stats", "messages"),
        ("jaicp_session_stats", "sessions"),
    ):
        out[table] = keyset(
            (name, r["_time"].date())
            for name, p in projects.items()
            for r in getattr(p, resource)
            if start_at <= r["_time"] < end_at
        )
    out["jaicp_message_labels"] = keyset((label["id"],) for label in jaicp_data.MESSAGE_LABELS)
    out["jaicp_experiments"] = keyset(
        (name, e["key"]) for name, p in projects.items() for e in p.experiments
    )
    return {table: keys for table, keys in out.items() if keys}


def xenioo_served(app: t.Any, since_call: int) -> dict[str, int]:
    """Rows the Xenioo sandbox served per table since its ``since_call``-th call."""
    calls = app.calls[since_call:]
    return {
        table: sum(len(c.rows) for c in calls if c.endpoint in endpoints)
        for table, endpoints in XENIOO.items()
    }


def compare(
    tables: dict[str, list[dict[str, t.Any]]],
    expected: dict[str, Keys],
    xenioo: dict[str, int],
    label: str,
) -> list[str]:
    """Problems found (empty when every table matches); prints one count line per table."""
    problems = []
    for table in sorted(set(expected) | set(xenioo)):
        # Loaders may fold column names to lower case (target-duckdb does).
        rows = [{k.lower(): v for k, v in r.items()} for r in tables.get(table, [])]
        if table in XENIOO:
            want = xenioo[table]
            got_keys = {tuple(r[c] for c in XENIOO_KEY) for r in rows}
            ok = len(rows) == want == len(got_keys)
        else:
            pk = PRIMARY_KEYS[table]
            got = [tuple(norm(r[c.lower()]) for c in pk) for r in rows]
            want = len(expected[table])
            ok = len(got) == want and set(got) == expected[table]
        verdict = "ok" if ok else "MISMATCH"
        line = f"{label}: {table}: {len(rows)} rows landed, {want} expected: {verdict}"
        print(line)
        REPORT.append(line)
        if not ok:
            problems.append(f"{table}: {len(rows)} rows landed, {want} expected")
    return problems


def load_json(text: str) -> t.Any:
    return json.loads(text)


def duckdb_tables(project: Path, warehouse: Path) -> dict[str, list[dict[str, t.Any]]]:
    """Every table of a DuckDB file, read with the loader's own duckdb."""
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
