"""Config and state as a new user (or Meltano) gives them: issue 16's "Meltano fit", tap side.

Every case runs the real CLI against the sandbox: unknown settings are one WARNING each with
the closest valid name; a state the tap cannot use is one line naming file, stream and partition
(Meltano's ``{"singer_state": ...}`` is accepted); a run with nothing to do says why in one INFO
line; every setting an error or warning names exists; the backoff library's own lines stay out.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import typing as t
from pathlib import Path

import pytest

import tap_chatbot_reports
from sandbox.apps import SANDBOX_VENDORS
from sandbox.server import Fault
from tap_chatbot_reports.tap import TapChatbotReports
from tap_chatbot_reports.vendors import VENDORS
from tests.tapio import TapRun, run_tap
from tests.test_fastpath import END, START
from tests.test_isolation import sandboxed_config

VENDOR_KEYS = "|".join(v.key for v in VENDORS)
#: ``feedbot.api_url_template``, ``xenioo.bots[0].api_key``...: a setting path in a message.
SETTING = re.compile(rf"(?<![\w./:-])(?:{VENDOR_KEYS})(?:\.[A-Za-z_]\w*|\[[^\]\x00]*\])+")
#: A placeholder of an f-string, for the static scan.
HOLE = "\x00"


def config_schema() -> dict[str, t.Any]:
    schema = json.loads(json.dumps(TapChatbotReports.config_jsonschema))
    TapChatbotReports.append_builtin_config(schema)
    return schema


def resolves(path: str, schema: dict[str, t.Any]) -> bool:
    """True when a dotted setting path (``a.b[0].c``, ``a.b[].c``) names a setting of the schema."""
    node = schema
    for part in re.findall(r"\.?([A-Za-z_]\w*)|\[[^\]]*\]", path):
        if part:  # a name
            node = (node.get("properties") or {}).get(part)
            if node is None:
                return False
        else:  # an index
            node = node.get("items")
            if not isinstance(node, dict):
                return False
    return True


def bad_settings(lines: t.Iterable[str], schema: dict[str, t.Any]) -> list[str]:
    return [
        f"{m} in: {line}"
        for line in lines
        for m in SETTING.findall(line)
        if not resolves(m, schema)
    ]


def single_vendor(
    sandbox_factory: t.Callable[..., t.Any], *keys: str
) -> tuple[dict[str, t.Any], t.Any]:
    """A config of only these vendors' sandbox apps (fresh apps), with the sandbox. Xenioo's
    statistics cover the days before the run (its range is not start_date's)."""
    vendors = [v for v in SANDBOX_VENDORS if v.key in keys]
    today = dt.datetime.now(dt.UTC).date()
    apps = {
        v.key: v.make_app(today - dt.timedelta(days=20), today + dt.timedelta(days=1), 5)
        if v.key == "xenioo"
        else v.make_app(START, END, 5)
        for v in vendors
    }
    sandbox = sandbox_factory(*apps.values())
    config: dict[str, t.Any] = {
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{END.isoformat()}T00:00:00Z",
        "backoff_factor": 0,
    }
    for vendor in vendors:
        config[vendor.key] = vendor.demo_config(apps[vendor.key], sandbox.url)
    return config, sandbox


def log_lines(run: TapRun, level: str) -> list[str]:
    return [line for line in run.stderr.splitlines() if f"| {level} " in line]


# ---------------------------------------------------------------------------- (a) unknown keys


def test_each_unknown_setting_is_one_warning_naming_the_closest_valid_one(sandbox_factory):
    config, _ = single_vendor(sandbox_factory, "certainly", "feedbot")
    good = run_tap(config)
    assert good.returncode == 0, good.stderr[-2000:]
    assert not [line for line in log_lines(good, "WARNING") if "unknown setting" in line]

    config["certainly"]["bot_idz"] = ["bot-gamma"]
    config["startdate"] = "2020-01-01"
    config["feedbot"]["bots"][0]["functon_key"] = "x"
    config["stream_map_config"] = {"my_own_value": 1}  # free-form: the user's own keys
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    warnings = [line for line in log_lines(run, "WARNING") if "unknown setting" in line]
    assert len(warnings) == 3, warnings
    expected = {
        "certainly.bot_idz": "certainly.bot_ids",
        "startdate": "start_date",
        "feedbot.bots[0].functon_key": "feedbot.bots[0].function_key",
    }
    for key, closest in expected.items():
        [line] = [w for w in warnings if f" {key}: " in w]
        assert f"did you mean {closest}?" in line, line
    # The typos are ignored, not used: the same records as without them.
    assert len(run.records()) == len(good.records()) > 0


def test_an_unknown_setting_with_no_close_match_lists_the_valid_ones(sandbox_factory):
    config, _ = single_vendor(sandbox_factory, "certainly")
    config["certainly"]["zzzz"] = 1
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    [line] = [w for w in log_lines(run, "WARNING") if "unknown setting" in w]
    assert "certainly.zzzz" in line and "certainly.api_token" not in line  # names, no values
    assert "valid here: api_token, api_url, bot_ids" in line, line


def test_an_unknown_setting_is_warned_before_the_error_it_causes(sandbox_factory):
    config, sandbox = single_vendor(sandbox_factory, "certainly")
    config["certainly"]["bot_idz"] = config["certainly"].pop("bot_ids")
    run = run_tap(config)
    assert run.returncode == 1
    [error] = run.error_lines()
    assert "certainly.bot_ids" in error
    [warning] = [w for w in log_lines(run, "WARNING") if "unknown setting" in w]
    assert "certainly.bot_idz" in warning and "certainly.bot_ids" in warning
    assert run.stderr.index(warning) < run.stderr.index(error)
    assert sandbox.requests == []


# ---------------------------------------------------------------------------- (b) state


BOT = "bot-alpha"


def _bookmark(value: t.Any) -> dict[str, t.Any]:
    return {
        "bookmarks": {
            "certainly_messages": {
                "partitions": [
                    {
                        "context": {"bot_id": BOT},
                        "replication_key": "timestamp",
                        "replication_key_value": value,
                    }
                ]
            }
        }
    }


#: (case, the state file's text, what the one line must say besides the file name)
BAD_STATES: list[tuple[str, str, tuple[str, ...]]] = [
    ("truncated", json.dumps(_bookmark("2026-02-03T00:00:00Z"))[:60], ("not valid JSON",)),
    ("empty", "", ("is empty",)),
    ("list", json.dumps([_bookmark("2026-02-03T00:00:00Z")]), ("a JSON list", "singer_state")),
    (
        "yesterday",
        json.dumps(_bookmark("yesterday")),
        ("certainly_messages", f"bot_id={BOT}", "'yesterday'", "ISO-8601"),
    ),
    (
        "number",
        json.dumps(_bookmark(1770076800)),
        ("certainly_messages", f"bot_id={BOT}", "1770076800", "ISO-8601"),
    ),
    (
        "bookmarks-list",
        json.dumps({"bookmarks": [_bookmark("2026-02-03T00:00:00Z")["bookmarks"]]}),
        ("bookmarks is a JSON list",),
    ),
    (
        "partition-not-object",
        json.dumps({"bookmarks": {"certainly_messages": {"partitions": ["bot-alpha"]}}}),
        ("certainly_messages", "partition 1"),
    ),
    (
        "wrapped-list",
        json.dumps({"singer_state": []}),
        ("a JSON list",),
    ),
]


@pytest.mark.parametrize(("case", "text", "needles"), BAD_STATES, ids=[c[0] for c in BAD_STATES])
def test_a_state_that_cannot_be_used_is_one_line_naming_file_stream_and_partition(
    sandbox_factory, tmp_path: Path, case: str, text: str, needles: tuple[str, ...]
):
    config, sandbox = single_vendor(sandbox_factory, "certainly")
    state_file = tmp_path / f"{case}-state.json"
    state_file.write_text(text)
    run = run_tap(config, args=["--state", str(state_file)])
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    lines = run.error_lines()
    assert len(lines) == 1, run.stderr[-2000:]
    assert f"state file {state_file}" in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert sandbox.requests == []  # refused before any request
    assert run.stdout == ""


def test_state_in_the_meltano_state_get_shape_is_accepted(sandbox_factory):
    config, _ = single_vendor(sandbox_factory, "certainly")
    first = dict(config, end_date="2026-02-08T00:00:00Z")  # a week of the range
    done = run_tap(first)
    assert done.returncode == 0, done.stderr[-2000:]
    state = done.last_state
    assert state and state["bookmarks"]["certainly_messages"]["partitions"]

    bare = run_tap(config, state=state)
    wrapped = run_tap(config, state={"singer_state": state})
    assert bare.returncode == 0 and wrapped.returncode == 0, wrapped.stderr[-2000:]
    assert wrapped.records() == bare.records()
    assert wrapped.last_state == bare.last_state
    # It resumed: fewer records than a run without state (which starts at start_date).
    fresh = run_tap(config)
    assert 0 < len(wrapped.records()) < len(fresh.records())


# ---------------------------------------------------------------------------- (c) nothing to do


def nothing_lines(run: TapRun) -> list[str]:
    return [line for line in log_lines(run, "INFO") if "Nothing extracted in this run" in line]


def test_a_future_start_date_says_why_nothing_was_extracted(sandbox_factory):
    config, _ = single_vendor(sandbox_factory, "certainly")
    config["start_date"] = "2099-01-01T00:00:00Z"
    config.pop("end_date")
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records() == []
    [line] = nothing_lines(run)
    assert "start_date 2099-01-01T00:00:00Z is not before the end of the range" in line, line


def test_unconfigured_vendors_are_not_reported_as_deselected(sandbox_factory):
    config, _ = single_vendor(sandbox_factory, "certainly")
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "deselected" not in run.stderr
    [line] = [x for x in log_lines(run, "INFO") if "Not configured" in x]
    assert "clevertap, jaicp, feedbot, xenioo" in line
    assert nothing_lines(run) == []  # records were extracted: no "nothing" line


def test_every_stream_throttled_says_so_with_the_next_allowed_call(sandbox_factory):
    config, _ = single_vendor(sandbox_factory, "xenioo")
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.records() and nothing_lines(first) == []
    again = run_tap(config, state=first.last_state)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.records() == []
    [line] = nothing_lines(again)
    assert "xenioo_account_statistics, xenioo_bot_statistics, xenioo_delivery_statistics" in line
    assert "made no request" in line and "the next call is allowed at 20" in line, line


def test_a_catalog_with_nothing_selected_says_so(sandbox_factory):
    config, _ = single_vendor(sandbox_factory, "certainly")
    discovered = run_tap(config, args=["--discover"])
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = False
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr[-2000:]
    [line] = nothing_lines(run)
    assert "no stream of a configured vendor is selected" in line
    # A stream the user deselected is still reported as deselected (the SDK's line).
    assert "Skipping deselected stream 'certainly_messages'" in run.stderr


# ---------------------------------------------------------------------------- (d) setting names


def _strings(tree: ast.AST) -> t.Iterator[tuple[int, str]]:
    """Every string literal (f-strings with ``HOLE`` for each placeholder), docstrings aside."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = ""
            for value in node.values:
                if isinstance(value, ast.Constant):
                    text += str(value.value)
                elif isinstance(value, ast.FormattedValue) and "vendor" in ast.unparse(value.value):
                    text += "{vendor}"
                else:
                    text += HOLE
            yield node.lineno, text
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def test_every_setting_named_in_the_source_exists():
    """Static: every ``<vendor>.<setting>`` token in a string of the package (messages, hints,
    ``auth_setting``...) is a setting of the config schema; a setting written after a vendor
    placeholder (``{self.vendor}.api_url``, generic code) must exist in every vendor."""
    schema = config_schema()
    package = Path(tap_chatbot_reports.__file__).parent
    seen, wrong = 0, []
    for source in sorted(package.rglob("*.py")):
        for line, text in _strings(ast.parse(source.read_text())):
            for vendor in VENDORS:
                text_for = text.replace("{vendor}", vendor.key)
                for token in SETTING.findall(text_for):
                    seen += 1
                    if not resolves(token, schema):
                        wrong.append(f"{source.name}:{line}: {token}")
    assert seen >= 50  # the scan does find the settings the messages name
    assert wrong == [], wrong


class FakeStream:
    """Just enough of a stream for ``unreachable_setting`` (it reads class attributes and the
    tap's config schema)."""

    def __init__(self, cls: type[t.Any]) -> None:
        self.url_setting, self.vendor = cls.url_setting, cls.vendor
        self._tap = TapChatbotReports


def test_every_stream_names_real_settings_for_auth_not_found_and_unreachable():
    schema = config_schema()
    checked, wrong = 0, []
    for vendor in VENDORS:
        for cls in vendor.streams:
            for hint in (
                cls.auth_setting,
                cls.not_found_setting,
                cls.unreachable_setting(t.cast("t.Any", FakeStream(cls))),
            ):
                tokens = SETTING.findall(hint)
                checked += len(tokens)
                assert tokens, (cls.__name__, hint)
                wrong += [f"{cls.__name__}: {x}" for x in tokens if not resolves(x, schema)]
    assert checked >= 3 * sum(len(v.streams) for v in VENDORS)
    assert wrong == [], wrong


#: Faults every vendor gets at once (each vendor fails on its own; the others keep running).
FAILURES = {
    "unreachable": {"kind": "reset"},
    "rejected": {"status": 401, "body": {"error": "bad credentials"}},
    "not-found": {"status": 404, "body": {"error": "not found"}},
    "server-error": {"status": 503, "body": {"error": "down"}},
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failure_lines_of_every_vendor_name_only_real_settings(sandbox_factory, failure: str):
    config, sandbox = sandboxed_config(sandbox_factory)
    config["max_retries"] = 1
    for vendor in VENDORS:
        sandbox.add_fault(Fault(match=f"^/{vendor.key}/", times=10_000, **FAILURES[failure]))
    run = run_tap(config)
    assert run.returncode == 1, run.stderr[-2000:]
    errors = run.error_lines()
    failed = {v.key for v in VENDORS if any(v.title in line for line in errors)}
    assert failed == {v.key for v in VENDORS}, errors
    named = [m for line in errors for m in SETTING.findall(line)]
    if failure != "server-error":  # a permanent failure names the vendor's setting to check
        assert {m.split(".")[0].split("[")[0] for m in named} == failed, errors
    lines = errors + log_lines(run, "WARNING") + log_lines(run, "ERROR")
    assert bad_settings(lines, config_schema()) == []
    if failure == "unreachable":
        [feedbot] = [line for line in errors if "Feedbot" in line]
        assert "feedbot.api_url_template" in feedbot, feedbot


# ---------------------------------------------------------------------------- (e) backoff lines


def test_giving_up_is_the_tap_s_one_line_not_the_backoff_library_s(sandbox_factory):
    config, sandbox = single_vendor(sandbox_factory, "certainly")
    config["max_retries"] = 2
    sandbox.add_fault(Fault(match="^/certainly/", status=503, body={"e": 1}, times=10_000))
    run = run_tap(config)
    assert run.returncode == 1
    assert "Giving up" not in run.stderr and "Backing off" not in run.stderr
    [error] = run.error_lines()
    assert "gave up after 3 attempts" in error, error
    # A WARNING per retry (windows are fetched concurrently: several requests retry), and the
    # only ERROR log line is the tap's own (then the exit line).
    retries = [line for line in log_lines(run, "WARNING") if " retry " in line]
    assert retries and all(re.search(r"retry [12]/2 in", line) for line in retries), retries
    errors_logged = log_lines(run, "ERROR")
    assert len(errors_logged) == 1 and "gave up after 3 attempts" in errors_logged[0]
    debug = run_tap(config, env={"LOGLEVEL": "DEBUG"})
    assert "giving up after 3 tries" in debug.stderr  # still there for whoever asks for it
