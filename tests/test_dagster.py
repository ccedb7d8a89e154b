"""orchestrate/'s Dagster definitions run for real: every asset materialized in-process against
the session sandbox into DuckDB through real Meltano (the e2e session project of
tests/e2e_support.py), compared with a plain `meltano run` of the same extractors and with the
sandbox's ground truth; a second materialization resumes from Meltano's state; the two Certainly
accounts run in parallel in one run (multiprocess executor, the example dagster.yaml's pools)
with separate states."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestrate.meltano_project import MeltanoProjectError, extractions
from sandbox.server import Sandbox

pytest.register_assert_rewrite("tests.e2e_support")  # before the import: it is also a plugin
from tests.dagster_support import (  # noqa: E402
    ENVIRONMENT,
    FAKE_MELTANO,
    LOADER,
    certainly_job,
    counts,
    definitions,
    run_config,
    state_ids,
    step_windows,
)
from tests.e2e_support import (  # noqa: E402
    END,
    ROOT,
    compare,
    duckdb_tables,
    extract_env,
    meltano,
    truth,
    xenioo_served,
)

pytest_plugins = ["tests.e2e_support"]
pytestmark = pytest.mark.e2e

VENDORS = ("certainly", "clevertap", "jaicp", "feedbot", "xenioo")
EXTRACTORS = [
    "tap-chatbot-reports--eu",
    "tap-chatbot-reports--us",
    "tap-chatbot-reports--clevertap",
    "tap-chatbot-reports--jaicp",
    "tap-chatbot-reports--feedbot",
    "tap-chatbot-reports--xenioo",
]


def _env(state_db: Path, warehouse: Path, end: dt.date) -> dict[str, str]:
    return {
        **extract_env(end),  # TAP_CHATBOT_REPORTS_*: every inherited extractor reads them
        "MELTANO_DATABASE_URI": f"sqlite:///{state_db}",
        "TARGET_DUCKDB_FILEPATH": str(warehouse),
    }


def _materialize_all(project: Path, env: dict[str, str]) -> dg.ExecuteInProcessResult:
    defs = definitions(project)
    started = time.monotonic()
    result = dg.materialize(
        [a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition)],
        resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
        run_config=run_config(defs, env),
    )
    print(f"dagster materialize of every asset: {time.monotonic() - started:.0f} s")
    assert result.success
    return result


# ---------------------------------------------------------------------------- definitions


def test_definitions_are_built_from_meltano_yml() -> None:
    """One asset per inherited extractor of the repository's meltano.yml, in its vendor's group
    and in the pool of its account; one job and one hourly schedule per vendor."""
    defs = definitions(ROOT)
    assets = {a.key: a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition)}
    by_extractor = {
        str(a.metadata_by_key[k]["meltano_extractor"]): (k, a) for k, a in assets.items()
    }
    assert sorted(by_extractor) == sorted(EXTRACTORS)
    key, eu = by_extractor["tap-chatbot-reports--eu"]
    assert key == dg.AssetKey(["certainly", "eu"]) and eu.group_names_by_key[key] == "certainly"
    pools = {name: a.op.pool for name, (_, a) in by_extractor.items()}
    assert pools["tap-chatbot-reports--eu"] == "certainly-eu"
    assert pools["tap-chatbot-reports--us"] == "certainly-us"
    assert pools["tap-chatbot-reports--clevertap"] == "clevertap-default"
    assert len(set(pools.values())) == len(pools)  # one pool per account: one state id each
    for vendor in VENDORS:
        job = defs.resolve_job_def(f"{vendor}_job")
        assert {k.path[0] for k in job.asset_layer.executable_asset_keys} == {vendor}
        schedule = defs.resolve_schedule_def(f"{vendor}_schedule")
        assert schedule.cron_schedule == "0 * * * *" and schedule.job_name == job.name
    # target-duckdb holds its file for the whole run: a job's steps run one at a time, and its
    # runs carry the loader's tag (dagster.yaml queues them one at a time).
    job = defs.resolve_job_def("certainly_job")
    assert job.run_config == {"execution": {"config": {"in_process": {}}}}
    assert job.tags["chatbot_reports/loader"] == LOADER


def test_an_inherited_extractor_of_several_vendors_is_one_clear_error() -> None:
    plugins: list[dict[str, t.Any]] = [
        {"name": "tap-chatbot-reports"},
        {"name": "tap-chatbot-reports--mixed", "inherit_from": "tap-chatbot-reports"},
        {
            "name": "tap-chatbot-reports--two",
            "inherit_from": "tap-chatbot-reports",
            "select": ["clevertap_*.*", "xenioo_*.*"],
        },
    ]
    for bad in plugins[1:]:
        with pytest.raises(MeltanoProjectError) as error:
            extractions([plugins[0], bad], VENDORS)
        message = str(error.value)
        assert bad["name"] in message and "exactly one vendor" in message
        assert "\n" not in message
    # Inherited twice, select from the parent; exclusions do not name a vendor.
    ok: list[dict[str, t.Any]] = [
        plugins[0],
        {
            "name": "tap-chatbot-reports--clevertap-eu",
            "inherit_from": "tap-chatbot-reports",
            "select": ["clevertap_*.*", "!clevertap_message_reports.labels"],
        },
        {"name": "ct-eu-daily", "inherit_from": "tap-chatbot-reports--clevertap-eu"},
    ]
    found = {(e.extractor, e.vendor, e.account) for e in extractions(ok, VENDORS)}
    assert found == {
        ("tap-chatbot-reports--clevertap-eu", "clevertap", "eu"),
        ("ct-eu-daily", "clevertap", "ct-eu-daily"),
    }


def test_example_dagster_yaml_gives_every_pool_one_slot() -> None:
    settings = yaml.safe_load((ROOT / "orchestrate/dagster.yaml").read_text())
    instance = dg.DagsterInstance.local_temp(overrides=settings)
    pools = instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1
    assert pools.pool_granularity is not None and pools.pool_granularity.value == "op"


# ---------------------------------------------------------------------------- end to end


def test_materializing_every_asset_lands_what_meltano_run_lands_and_resumes_from_state(
    project: Path, sandbox: tuple[Sandbox, dict[str, t.Any]], tmp_path: Path
) -> None:
    _, apps = sandbox
    first_end = END - dt.timedelta(days=3)

    # The same extractors with a plain `meltano run`.
    pairs = [arg for extractor in EXTRACTORS for arg in (extractor, LOADER)]
    started = time.monotonic()
    plain_env = _env(tmp_path / "plain.db", tmp_path / "plain.duckdb", first_end)
    meltano(project, f"--environment={ENVIRONMENT}", "run", *pairs, env=plain_env)
    print(f"plain meltano run of {len(EXTRACTORS)} extractors: {time.monotonic() - started:.0f} s")
    plain = counts(duckdb_tables(project, tmp_path / "plain.duckdb"))

    apps["xenioo"]._last_call.clear()  # a new project: Xenioo's hourly budget is fresh
    calls = len(apps["xenioo"].calls)
    env = _env(tmp_path / "state.db", tmp_path / "w.duckdb", first_end)
    result = _materialize_all(project, env)
    xenioo = xenioo_served(apps["xenioo"], calls)
    state_of = {
        str(e.asset_key and e.asset_key.to_user_string()): e.materialization.metadata[
            "meltano_state_id"
        ].value
        for e in result.get_asset_materialization_events()
    }
    assert state_of["certainly/eu"] == f"{ENVIRONMENT}:tap-chatbot-reports--eu-to-{LOADER}"
    assert len(set(state_of.values())) == len(EXTRACTORS)
    tables = duckdb_tables(project, tmp_path / "w.duckdb")
    print("plain meltano run:", plain)
    print("dagster          :", counts(tables))
    assert counts(tables) == plain
    problems = compare(tables, truth(apps, first_end), xenioo, "dagster run 1")
    assert not problems, problems

    listed = state_ids(meltano(project, "state", "list", env=env))
    print("meltano state list:", listed)
    assert listed == sorted(f"{ENVIRONMENT}:{e}-to-{LOADER}" for e in EXTRACTORS)

    # Three days later, the vendor jobs (what the schedules launch) of Certainly (two accounts,
    # day-granular bookmarks), CleverTap (lookback days re-read) and Xenioo (hourly throttle):
    # only the new days are added, re-read days are merged, not doubled. (JAICP and Feedbot are
    # left out of this second pass to keep the test short; tests/test_e2e_meltano.py reruns them.)
    again = ("certainly", "clevertap", "xenioo")
    calls = len(apps["xenioo"].calls)
    defs = definitions(project)
    for vendor in again:
        job = defs.resolve_job_def(f"{vendor}_job")
        config = run_config(defs, {**env, **extract_env(END)})
        config["ops"] = {k: v for k, v in config["ops"].items() if k.startswith(f"{vendor}__")}
        done = job.execute_in_process(run_config=config, instance=dg.DagsterInstance.ephemeral())
        assert done.success
    assert len(apps["xenioo"].calls) == calls  # Xenioo's hourly throttle, kept in state
    tables = duckdb_tables(project, tmp_path / "w.duckdb")
    expected = {k: v for k, v in truth(apps, END).items() if k.startswith(again)}
    problems = compare(tables, expected, xenioo, "dagster run 2")
    assert not problems, problems
    after = counts(tables)
    assert after["certainly_messages"] > plain["certainly_messages"]
    assert after["clevertap_message_reports"] > plain["clevertap_message_reports"]
    assert {k: n for k, n in after.items() if not k.startswith(again)} == {
        k: n for k, n in plain.items() if not k.startswith(again)
    }


def test_two_accounts_of_one_vendor_run_in_parallel_with_separate_states(
    project: Path,
    sandbox: tuple[Sandbox, dict[str, t.Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Certainly job with the multiprocess executor on an instance with the example
    dagster.yaml: the eu and us accounts (two pools of one slot) run at the same time, each
    with its own state id and only its own bot."""
    _, apps = sandbox
    state_db = tmp_path / "state.db"
    env = _env(state_db, tmp_path / "unused.duckdb", END)
    # The system database exists before two runs migrate it at the same moment.
    meltano(project, f"--environment={ENVIRONMENT}", "state", "list", env=env)
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(project))  # read by the rebuilt job
    defs = definitions(project)
    config = run_config(
        defs,
        env,
        # DuckDB has one writer per file: each account loads its own file in this test.
        certainly__eu={"TARGET_DUCKDB_FILEPATH": str(tmp_path / "eu.duckdb")},
        certainly__us={"TARGET_DUCKDB_FILEPATH": str(tmp_path / "us.duckdb")},
    )
    config["ops"] = {k: v for k, v in config["ops"].items() if k.startswith("certainly__")}
    config["execution"] = {"config": {"multiprocess": {"max_concurrent": 2}}}
    settings = yaml.safe_load((ROOT / "orchestrate/dagster.yaml").read_text())
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(
        tempdir=str(tmp_path / "dagster"), overrides=settings
    ) as instance:
        started = time.monotonic()
        result = dg.execute_job(dg.reconstructable(certainly_job), instance, run_config=config)
        print(f"certainly_job, multiprocess: {time.monotonic() - started:.0f} s")
        assert result.success
        windows = step_windows(instance, result.run_id)
    (eu_start, eu_end), (us_start, us_end) = windows["certainly__eu"], windows["certainly__us"]
    print(f"eu step {eu_start:.1f}..{eu_end:.1f}, us step {us_start:.1f}..{us_end:.1f}")
    assert eu_start < us_end and us_start < eu_end  # the two accounts overlapped

    listed = state_ids(meltano(project, "state", "list", env=env))
    print("meltano state list:", listed)
    assert listed == [
        f"{ENVIRONMENT}:tap-chatbot-reports--eu-to-{LOADER}",
        f"{ENVIRONMENT}:tap-chatbot-reports--us-to-{LOADER}",
    ]
    for region, bot in {"eu": "bot-alpha", "us": "bot-beta"}.items():
        state_id = f"{ENVIRONMENT}:tap-chatbot-reports--{region}-to-{LOADER}"
        output = meltano(project, "state", "get", state_id, env=env)
        state = json.loads(next(x for x in output.splitlines() if x.startswith("{")))
        partitions = state["singer_state"]["bookmarks"]["certainly_messages"]["partitions"]
        assert [p["context"] for p in partitions] == [{"bot_id": bot}]
        rows = duckdb_tables(project, tmp_path / f"{region}.duckdb")["certainly_messages"]
        want = {
            str(m["id"])
            for m in apps["certainly"].bots[bot]
            if m["timestamp"][:10] <= END.isoformat()
        }
        assert {r["id"] for r in rows} == want and {r["bot_id"] for r in rows} == {bot}
    assert os.environ["MELTANO_PROJECT_ROOT"] == str(project)


def _two_runs_at_once(tmp_path: Path, first: str, second: str) -> list[dict[str, t.Any]]:
    """Two runs launched at the same moment on one instance with the example dagster.yaml, each
    materializing one asset with a stand-in for meltano that takes 3 s; what the stand-in saw."""
    home = tmp_path / f"home-{first.replace('/', '_')}-{second.replace('/', '_')}"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "orchestrate/dagster.yaml").read_text())
    fake = tmp_path / "fake_meltano"
    fake.write_text(f"#!{sys.executable}\n{FAKE_MELTANO}")
    fake.chmod(0o755)
    log = home / "calls.jsonl"
    env = {**os.environ, "MELTANO_PROJECT_ROOT": str(ROOT), "DAGSTER_HOME": str(home)}
    # The instance's storage exists before two runs open it.
    dg.DagsterInstance.from_config(str(home)).dispose()
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.dagster_support", str(home), asset, str(fake), str(log)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for asset in (first, second)
    ]
    for run in runs:
        out, _ = run.communicate(timeout=180)
        assert run.returncode == 0, out[-3000:]
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_pool_keeps_two_runs_of_one_account_apart_and_lets_two_accounts_overlap(
    tmp_path: Path,
) -> None:
    """The example dagster.yaml (one slot per pool): two runs of certainly/eu (one state id)
    go one after the other; certainly/eu and certainly/us (two pools) run side by side."""
    same = _two_runs_at_once(tmp_path, "certainly/eu", "certainly/eu")
    assert [c["args"][-2:] for c in same] == [["tap-chatbot-reports--eu", LOADER]] * 2
    a, b = sorted(same, key=lambda c: c["start"])
    print(f"one account: {a['start']:.1f}..{a['end']:.1f} then {b['start']:.1f}..{b['end']:.1f}")
    assert b["start"] >= a["end"]

    both = _two_runs_at_once(tmp_path, "certainly/eu", "certainly/us")
    assert sorted(c["args"][-2] for c in both) == [
        "tap-chatbot-reports--eu",
        "tap-chatbot-reports--us",
    ]
    a, b = sorted(both, key=lambda c: c["start"])
    print(f"two accounts: {a['start']:.1f}..{a['end']:.1f} and {b['start']:.1f}..{b['end']:.1f}")
    assert b["start"] < a["end"]
