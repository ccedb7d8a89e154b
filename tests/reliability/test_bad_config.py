"""Invalid configs across every vendor: each one exits non-zero before any request, with one
line naming the setting, no traceback and no secret."""

from __future__ import annotations

import copy
import typing as t

import pytest

from sandbox.server import Sandbox
from tests.reliability.harness import FIGURES, assert_no_leak
from tests.reliability.scenarios import SCENARIOS
from tests.tapio import run_tap

Mutation = t.Callable[[dict[str, t.Any]], None]


def drop(section: str, key: str) -> Mutation:
    return lambda config: config[section].pop(key)


def put(path: str, value: t.Any) -> Mutation:
    *parents, leaf = path.split(".")

    def apply(config: dict[str, t.Any]) -> None:
        node = config
        for part in parents:
            node = node[part]
        node[leaf] = copy.deepcopy(value)

    return apply


def twice(section: str, key: str) -> Mutation:
    def apply(config: dict[str, t.Any]) -> None:
        config[section][key] = [*config[section][key], config[section][key][0]]

    return apply


def feedbot_duplicate_bot(config: dict[str, t.Any]) -> None:
    bots = config["feedbot"]["bots"]
    bots.append({"bot_id": bots[0]["bot_id"], "function_key": "fk-another/Key+="})


def feedbot_bot_without_key(config: dict[str, t.Any]) -> None:
    config["feedbot"]["bots"][0].pop("function_key")


def xenioo_duplicate_bot(config: dict[str, t.Any]) -> None:
    bots = config["xenioo"]["bots"]
    bots.append({"api_key": bots[0]["api_key"], "api_secret": "xe-other/Secret+="})


def no_vendor(config: dict[str, t.Any]) -> None:
    for key in SCENARIOS:
        config.pop(key, None)


#: (vendor, mutation, text the one error line must contain)
BAD_CONFIGS: list[tuple[str, Mutation, str]] = [
    ("certainly", drop("certainly", "api_token"), "certainly.api_token"),
    ("certainly", put("certainly.bot_ids", []), "certainly.bot_ids"),
    ("certainly", twice("certainly", "bot_ids"), "certainly.bot_ids"),
    ("certainly", put("certainly.window_days", 16), "certainly.window_days"),
    ("certainly", put("certainly.report_type", 9), "certainly.report_type"),
    ("certainly", put("certainly.api_url", "ftp://example.com/api/"), "certainly.api_url"),
    ("clevertap", drop("clevertap", "passcode"), "clevertap.passcode"),
    ("clevertap", put("clevertap.region", "mars1"), "clevertap.region"),
    ("clevertap", put("clevertap.window_days", 0), "clevertap.window_days"),
    ("clevertap", put("clevertap.channels", ["push", "pigeon"]), "clevertap.channels"),
    ("clevertap", put("clevertap.account_id", 12345), "clevertap.account_id"),
    ("clevertap", put("clevertap.api_url", "http//missing-colon"), "clevertap.api_url"),
    ("jaicp", drop("jaicp", "api_token"), "jaicp.api_token"),
    ("jaicp", put("jaicp.api_version", "v9"), "jaicp.api_version"),
    ("jaicp", twice("jaicp", "project_short_names"), "jaicp.project_short_names"),
    ("jaicp", put("jaicp.api_version", "legacy"), "jaicp.project_short_names"),
    ("jaicp", put("jaicp.page_size", "forty"), "jaicp.page_size"),
    ("jaicp", put("jaicp.api_url", "not a url"), "jaicp.api_url"),
    ("feedbot", put("feedbot.bots", []), "feedbot.bots"),
    ("feedbot", feedbot_duplicate_bot, "feedbot.bots"),
    ("feedbot", feedbot_bot_without_key, "function_key"),
    ("feedbot", put("feedbot.api_url_template", "https://example.com/x"), "api_url_template"),
    ("xenioo", drop("xenioo", "account_api_key"), "xenioo.account_api_key"),
    ("xenioo", put("xenioo.group_mode", "week"), "xenioo.group_mode"),
    ("xenioo", put("xenioo.days", 31), "xenioo.days"),
    ("xenioo", put("xenioo.types", [3, 3]), "xenioo.types"),
    ("xenioo", put("xenioo.delivery_group_mode", "fortnight"), "xenioo.delivery_group_mode"),
    ("xenioo", xenioo_duplicate_bot, "xenioo.bots"),
    ("certainly", put("start_date", "2026-13-01T00:00:00Z"), "start_date"),
    ("certainly", put("end_date", "2025-12-01T00:00:00Z"), "start_date: must be before end_date"),
    ("clevertap", put("start_date", 20260101), "start_date"),
    ("jaicp", put("request_timeout", 0), "request_timeout"),
    ("feedbot", put("max_retries", 99), "max_retries"),
    ("xenioo", put("backoff_factor", -1), "backoff_factor"),
    ("certainly", no_vendor, "no vendor configured"),
]


@pytest.fixture(scope="module")
def everything() -> t.Iterator[tuple[Sandbox, dict[str, t.Any]]]:
    """Every vendor's app behind one sandbox, and a valid base config per vendor."""
    apps = {key: scenario.make_app() for key, scenario in SCENARIOS.items()}
    with Sandbox(list(apps.values())) as sandbox:
        configs = {
            key: scenario.config(apps[key], sandbox.url) for key, scenario in SCENARIOS.items()
        }
        yield sandbox, configs


@pytest.mark.parametrize(
    ("vendor_key", "mutate", "setting"),
    BAD_CONFIGS,
    ids=[f"{i:02d}-{c[2].split(':')[0]}" for i, c in enumerate(BAD_CONFIGS)],
)
def test_bad_config_is_one_line_naming_the_setting_before_any_request(
    everything: tuple[Sandbox, dict[str, t.Any]], vendor_key: str, mutate: Mutation, setting: str
) -> None:
    sandbox, configs = everything
    config = copy.deepcopy(configs[vendor_key])
    mutate(config)
    sandbox.clear()
    run = run_tap(config, env={"LOGLEVEL": "DEBUG"})
    FIGURES["bad configs tried"] += 1
    assert run.returncode == 1, run.stderr[-2000:]
    assert sandbox.requests == []  # refused before any request
    lines = run.error_lines()
    assert len(lines) == 1, run.stderr[-2000:]
    assert "invalid config" in lines[0] and setting in lines[0], lines[0]
    assert "Traceback" not in run.stderr
    assert run.records() == []
    assert_no_leak(run, [s for scenario in SCENARIOS.values() for s in scenario.secrets])
    FIGURES["bad configs with one clean line"] += 1


def test_the_table_covers_every_vendor_and_at_least_25_configs() -> None:
    assert len(BAD_CONFIGS) >= 25
    assert {vendor for vendor, _, setting in BAD_CONFIGS if setting.startswith(vendor)} == set(
        SCENARIOS
    )
