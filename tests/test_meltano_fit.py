"""Meltano fit as a new user meets it (issue 16): real Meltano 4.4.1 against the session sandbox.

- a WARNING of the tap reaches Meltano's output as a warning (meltano.yml declares the tap's
  `structured-logging` capability), also under `meltano --log-level=warning`;
- every Meltano command README.md prints runs (extracted from its code blocks and inline code, so
  a new command is tested without touching this file);
- the sandbox port is a setting (SANDBOX_PORT) that scripts/demo.sh and meltano.yml's sandbox
  environment share.

The session fixtures come from tests/e2e_support.py (one sandbox, one installed project).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sandbox.server import Sandbox

pytest.register_assert_rewrite("tests.e2e_support")  # before the import: it is also a plugin
from tests.e2e_support import BIN, END, ROOT, meltano  # noqa: E402

pytest_plugins = ["tests.e2e_support"]
pytestmark = pytest.mark.e2e

#: One line of Meltano's console output: time, [level], logger, message.
LINE = re.compile(r"^\S+ \[(?P<level>[a-z]+)\s*\] (?P<logger>\S+)\s+(?P<message>.*)$")
FEEDBOT_404 = "Feedbot bot legacy-bot has no"
PROGRESS = "progress Feedbot"
SHORT_START = END - dt.timedelta(days=2)


def short_window(prefix: str = "TAP_CHATBOT_REPORTS") -> dict[str, str]:
    return {
        f"{prefix}_START_DATE": f"{SHORT_START.isoformat()}T00:00:00+00:00",
        f"{prefix}_END_DATE": f"{END.isoformat()}T23:59:59+00:00",
    }


def lines(output: str) -> list[tuple[str, str, str]]:
    """(level, logger, message) of each console line Meltano wrote."""
    found = []
    for line in output.splitlines():
        match = LINE.match(line)
        if match:
            found.append((match["level"], match["logger"], match["message"]))
    return found


def run(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "meltano"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **env},
        timeout=900,
        check=False,
    )


def feedbot_run(project: Path, tmp_path: Path, *meltano_args: str, **extra: str) -> str:
    """`meltano [args] --environment=sandbox run tap-chatbot-reports target-duckdb`, Feedbot
    only (its sandbox serves a legacy bot whose newer exports answer 404)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return meltano(
        project,
        *meltano_args,
        "--environment=sandbox",
        "run",
        "tap-chatbot-reports",
        "target-duckdb",
        env={
            **short_window(),
            "TAP_CHATBOT_REPORTS__SELECT": json.dumps(["feedbot_*.*"]),
            "TARGET_DUCKDB_FILEPATH": str(tmp_path / "w.duckdb"),
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'state.db'}",
            **extra,
        },
    )


# ---------------------------------------------------------------------------- log levels


def test_meltano_yml_declares_structured_logging() -> None:
    config = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (base,) = [p for p in config["plugins"]["extractors"] if p["name"] == "tap-chatbot-reports"]
    assert "structured-logging" in base["capabilities"]


def test_a_tap_warning_reaches_meltano_as_a_warning_also_at_log_level_warning(
    project: Path, tmp_path: Path
) -> None:
    # Meltano's default level: tap lines keep their own level (before, every one was INFO).
    output = feedbot_run(project, tmp_path / "info")
    tap = [(lvl, msg) for lvl, logger, msg in lines(output) if logger == "tap-chatbot-reports"]
    skips = [lvl for lvl, msg in tap if msg.startswith(FEEDBOT_404)]
    print("tap lines by level:", {lvl: sum(1 for x, _ in tap if x == lvl) for lvl, _ in tap})
    assert skips and set(skips) == {"warning"}, tap[:20]
    assert {lvl for lvl, msg in tap if msg.startswith(PROGRESS)} == {"info"}

    # --log-level=warning hides the tap's INFO progress and keeps its warnings.
    output = feedbot_run(project, tmp_path / "warning", "--log-level=warning")
    parsed = lines(output)
    shown = [msg for lvl, logger, msg in parsed if logger == "tap-chatbot-reports"]
    for line in shown:
        print("meltano --log-level=warning:", line[:160])
    assert any(msg.startswith(FEEDBOT_404) for msg in shown), output[-3000:]
    assert not [p for p in parsed if p[0] in ("info", "debug")], output[-3000:]
    assert PROGRESS not in output


def test_a_xenioo_throttle_skip_shows_at_log_level_warning(
    project: Path, sandbox: tuple[Sandbox, dict[str, t.Any]], tmp_path: Path
) -> None:
    """A second project state calling Xenioo inside the hour gets the API's throttle error: the
    tap skips with a WARNING, which Meltano shows at --log-level=warning."""
    env = {
        **short_window(),
        "TAP_CHATBOT_REPORTS__SELECT": json.dumps(["xenioo_account_statistics.*"]),
        "TARGET_DUCKDB_FILEPATH": str(tmp_path / "w.duckdb"),
    }
    args = ("--log-level=warning", "--environment=sandbox", "run")
    blocks = ("tap-chatbot-reports", "target-duckdb")
    first = {**env, "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'one.db'}"}
    meltano(project, *args, *blocks, env=first)
    second = {**env, "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'two.db'}"}
    output = meltano(project, *args, *blocks, env=second)
    warned = [
        msg
        for lvl, logger, msg in lines(output)
        if lvl == "warning" and logger == "tap-chatbot-reports" and "throttle error" in msg
    ]
    print("meltano --log-level=warning:", warned)
    assert warned, output[-3000:]


def test_loglevel_warning_hides_progress_under_meltano(project: Path, tmp_path: Path) -> None:
    output = feedbot_run(project, tmp_path, LOGLEVEL="WARNING")
    assert any(msg.startswith(FEEDBOT_404) for _, _, msg in lines(output))
    assert PROGRESS not in output


def test_the_tap_error_line_shows_at_log_level_warning(project: Path, tmp_path: Path) -> None:
    done = run(
        project,
        "--log-level=warning",
        "--environment=sandbox",
        "run",
        "tap-chatbot-reports",
        "target-duckdb",
        env={
            "TAP_CHATBOT_REPORTS_START_DATE": "not-a-date",
            "TARGET_DUCKDB_FILEPATH": str(tmp_path / "w.duckdb"),
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'state.db'}",
        },
    )
    assert done.returncode != 0
    assert "start_date" in done.stdout + done.stderr


# ---------------------------------------------------------------------------- README commands

#: Meltano commands README.md prints that are not run, with the reason.
EXEMPT = {
    "meltano run": "prose naming the command; no blocks to run (the full commands are tested)",
}
#: README placeholders and what the test types instead.
PLACEHOLDERS = {"...": "readme-placeholder-value"}
ASSIGNMENTS = r"(?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|\"[^\"]*\"|\S+)\s+)*"
MELTANO_COMMAND = re.compile(rf"^{ASSIGNMENTS}meltano(?:\s|$)")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```", re.M | re.S)
SHELLS = {"bash", "sh", "shell", "console", ""}


@dataclass(frozen=True)
class Case:
    """One runnable unit: an inline command, or the Meltano lines of one code block (with the
    block's `&` and `wait`, which only make sense together)."""

    where: str
    lines: tuple[str, ...]


def strip_comment(line: str) -> str:
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_cases(text: str) -> list[Case]:
    cases: list[Case] = []
    outside = text
    for block in FENCE.finditer(text):
        outside = outside.replace(block.group(0), "\n" * block.group(0).count("\n"))
        if block["lang"] not in SHELLS:
            continue
        first = text[: block.start()].count("\n") + 2
        body = [strip_comment(line) for line in block["body"].splitlines()]
        picked = tuple(line for line in body if MELTANO_COMMAND.match(line) or line == "wait")
        if any(MELTANO_COMMAND.match(line) for line in picked):
            cases.append(Case(f"README.md:{first}", picked))
    seen = {line for case in cases for line in case.lines}
    for number, line in enumerate(outside.splitlines(), 1):
        for span in re.findall(r"`([^`\n]+)`", line):
            if MELTANO_COMMAND.match(span) and span not in seen:
                seen.add(span)
                cases.append(Case(f"README.md:{number}", (span,)))
    return cases


CASES = readme_cases((ROOT / "README.md").read_text())


def test_the_readme_commands_are_found() -> None:
    """The extraction itself: the commands issue 16 names are among the cases, and every
    exemption still names a command the README prints."""
    commands = {line for case in CASES for line in case.lines}
    print("README Meltano commands:", *sorted(commands), sep="\n  ")
    assert "meltano install" in commands
    assert "meltano config set tap-chatbot-reports certainly.api_token ..." in commands
    assert "meltano --log-level=warning run tap-chatbot-reports target-duckdb" in commands
    assert not [c for c in commands if re.match(r"meltano config [\w-]+ set\b", c)]
    assert set(EXEMPT) <= commands, f"stale exemptions: {set(EXEMPT) - commands}"


def needs_postgres(case: Case) -> None:
    if any("target-postgres" in line for line in case.lines) and not os.environ.get("PG_HOST"):
        reason = "no PostgreSQL: set PG_HOST, PG_PORT, PG_USER, PG_PASSWORD (see .ci/run)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def scratch_project(project: Path, folder: Path) -> Path:
    """A fresh project with the session project's meltano.yml (sandbox URLs, this checkout),
    installed: each README case may change its configuration."""
    folder.mkdir()
    shutil.copy(project / "meltano.yml", folder / "meltano.yml")
    meltano(folder, "install")
    return folder


#: The cases with something to run (a case of exempt lines only is not collected at all).
RUNNABLE = [
    c for c in CASES if [line for line in c.lines if line not in EXEMPT] not in ([], ["wait"])
]


@pytest.mark.parametrize("case", RUNNABLE, ids=[f"{c.where} {c.lines[0]}" for c in RUNNABLE])
def test_every_meltano_command_of_the_readme_runs(
    case: Case, project: Path, sandbox: tuple[Sandbox, dict[str, t.Any]], tmp_path: Path
) -> None:
    """Each command as printed (placeholders filled in), in a scratch project against the
    sandbox: the environment is `sandbox` (no real vendor), the range two days."""
    runnable = [line for line in case.lines if line not in EXEMPT]
    needs_postgres(case)
    folder = scratch_project(project, tmp_path / "project")
    server, _ = sandbox
    extractors = [
        p["name"]
        for p in yaml.safe_load((folder / "meltano.yml").read_text())["plugins"]["extractors"]
    ]
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_ENVIRONMENT": "sandbox",
        "SANDBOX_PORT": server.url.rsplit(":", 1)[1],
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'state.db'}",
        "TARGET_DUCKDB_FILEPATH": str(tmp_path / "w.duckdb"),
    }
    for name in extractors:
        env.update(short_window(name.upper().replace("-", "_")))
    background: list[tuple[str, subprocess.Popen[str]]] = []

    def join() -> None:
        while background:
            line, job = background.pop(0)
            out, err = job.communicate(timeout=900)
            assert job.returncode == 0, f"{line}\n{(out + err)[-3000:]}"

    for line in runnable:
        if line == "wait":
            join()
            continue
        command = line
        for placeholder, value in PLACEHOLDERS.items():
            command = command.replace(placeholder, value)
        print(f"{case.where}: {command}")
        if command.endswith("&"):
            job = subprocess.Popen(
                ["bash", "-c", command[:-1].rstrip()],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            background.append((line, job))
            continue
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, f"{command}\n{(done.stdout + done.stderr)[-3000:]}"
        if " config set " in f" {command} ":
            # The value is stored where Meltano reads it back.
            *_, plugin, setting, value = command.split()
            listed = subprocess.run(
                ["bash", "-c", f"meltano config --unsafe print {plugin}"],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            config = json.loads(listed[listed.index("{") :])
            for part in setting.split("."):
                config = config[part]
            assert config == value
    join()


# ---------------------------------------------------------------------------- sandbox port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_sandbox_environment_follows_sandbox_port(tmp_path: Path) -> None:
    """Meltano expands $SANDBOX_PORT in the nested values of the sandbox environment."""
    config = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    printed = meltano(
        tmp_path,
        "--environment=sandbox",
        "config",
        "print",
        "tap-chatbot-reports",
        env={"SANDBOX_PORT": str(port)},
    )
    resolved = json.loads(printed[printed.index("{") : printed.rindex("}") + 1])
    urls: list[str] = []

    def walk(value: t.Any) -> None:
        if isinstance(value, dict):
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)
        elif isinstance(value, str) and "127.0.0.1" in value:
            urls.append(value)

    walk(resolved)
    print("sandbox URLs:", urls)
    assert len(urls) >= 5  # one per vendor at least
    assert all(u.startswith(f"http://127.0.0.1:{port}/") for u in urls), urls


@contextlib.contextmanager
def occupied(port: int) -> t.Iterator[None]:
    """Hold ``port`` so a sandbox or tap that ignores SANDBOX_PORT fails instead of passing."""
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", port))
        holder.listen()
    except OSError:
        pass  # taken already: just as good
    try:
        yield
    finally:
        holder.close()


def test_demo_sh_runs_on_another_port(tmp_path: Path) -> None:
    """scripts/demo.sh in a copy of the repository layout with SANDBOX_PORT set and 8765 taken:
    its pip steps are stubbed (the checkout's venv already has the tap and Meltano), the rest
    (sandbox, meltano install, meltano run, table counts) runs as it is."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("demo.sh", "show_tables.py"):
        shutil.copy(ROOT / "scripts" / name, repo / "scripts" / name)
    config = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for plugin in config["plugins"]["extractors"]:
        if plugin["name"] == "tap-chatbot-reports":
            plugin["pip_url"] = f"-e {ROOT}"
    (repo / "meltano.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    venv = repo / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(
        "#!/usr/bin/env bash\n"
        'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    (venv / "python").chmod(0o755)
    (venv / "meltano").symlink_to(BIN / "meltano")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_CHATBOT"))}
    env.update(
        {
            "SANDBOX_PORT": str(port),
            "PYTHONPATH": str(ROOT),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            **short_window(),
        }
    )
    with occupied(8765):
        done = subprocess.run(
            ["bash", "scripts/demo.sh"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    log = (repo / ".meltano-sandbox.log").read_text()
    assert done.returncode == 0, f"{log}\n{done.stderr[-3000:]}"
    assert f"listening on http://127.0.0.1:{port}" in log
    counts = dict(re.findall(r"^chatbot_reports\.(\w+)\s+(\d+)$", done.stdout, re.M))
    print(done.stdout)
    landed = {table.split("_")[0] for table, rows in counts.items() if int(rows) > 0}
    assert landed == {"certainly", "clevertap", "jaicp", "feedbot", "xenioo"}, done.stdout
