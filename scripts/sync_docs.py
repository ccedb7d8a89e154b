"""Regenerate the parts of README.md and meltano.yml that mirror the tap's config schema.

    python scripts/sync_docs.py          # rewrite README settings table + meltano.yml settings
    python scripts/sync_docs.py --check  # exit 1 if either is out of date (used by the tests)

The README's settings table is the output of `tap-chatbot-reports --about --format=markdown`
(its Settings section). meltano.yml's extractor settings (name, kind, label, description,
sensitive) and its `sandbox` environment are derived from the same schema and the sandbox.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from singer_sdk.helpers.capabilities import FLATTENING_CONFIG, STREAM_MAPS_CONFIG  # noqa: E402

from sandbox.apps import SANDBOX_VENDORS  # noqa: E402
from tap_chatbot_reports.tap import TapChatbotReports  # noqa: E402

#: The port is a setting of scripts/demo.sh (SANDBOX_PORT); Meltano expands it in config values.
SANDBOX_URL = "http://127.0.0.1:${SANDBOX_PORT}"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_table() -> str:
    about = subprocess.run(
        [sys.executable, "-m", "tap_chatbot_reports", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    match = re.search(r"## Settings\n\n(.*?)(?:\n## |\Z)", about, re.S)
    assert match, "no Settings section in --about output"
    rows = [
        line
        for line in match.group(1).strip().splitlines()
        # SDK built-ins (stream maps, flattening, batch) are documented by the SDK.
        if not re.match(r"\| (stream_map|faker_config|flattening_|batch_config)", line)
    ]
    return "\n".join(rows)


def _kind(schema: dict[str, t.Any]) -> str:
    types = schema.get("type", "string")
    types = [types] if isinstance(types, str) else [x for x in types if x != "null"]
    kind = types[0] if types else "string"
    if kind == "string" and schema.get("format") == "date-time":
        return "date_iso8601"
    if "enum" in schema and kind == "string":
        return "options"
    return {"number": "decimal"}.get(kind, kind)


def _has_secret(schema: dict[str, t.Any]) -> bool:
    if schema.get("secret") or schema.get("writeOnly"):
        return True
    children = list((schema.get("properties") or {}).values())
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    return any(_has_secret(child) for child in children)


def meltano_settings() -> list[dict[str, t.Any]]:
    schema = TapChatbotReports.config_jsonschema
    settings: list[dict[str, t.Any]] = []

    def add(name: str, prop: dict[str, t.Any]) -> None:
        entry: dict[str, t.Any] = {
            "name": name,
            "kind": _kind(prop),
            "label": name.split(".")[-1].replace("_", " ").capitalize(),
            "description": " ".join(str(prop.get("description") or name).split()),
        }
        if entry["kind"] == "options":
            entry["options"] = [{"label": str(v), "value": v} for v in prop["enum"]]
        if _has_secret(prop):
            entry["sensitive"] = True
        settings.append(entry)

    for name, prop in schema["properties"].items():
        if prop.get("type") in ("object", ["object", "null"]) and "properties" in prop:
            for child, child_prop in prop["properties"].items():
                add(f"{name}.{child}", child_prop)
        else:
            add(name, prop)
    # The SDK's built-in settings of the declared capabilities (stream-maps, schema-flattening):
    # Meltano passes a setting to the tap only when the plugin declares it.
    for builtin in (STREAM_MAPS_CONFIG, FLATTENING_CONFIG):
        for name, prop in builtin["properties"].items():
            add(name, prop)
    return settings


def sandbox_environment() -> dict[str, t.Any]:
    today = dt.date.today()
    config: dict[str, t.Any] = {"backoff_factor": 0.5}
    for vendor in SANDBOX_VENDORS:
        app = vendor.make_app(today - dt.timedelta(days=1), today, 1)
        section = vendor.demo_config(app, SANDBOX_URL)
        if section is not None:
            config[vendor.key] = section
    return config


def render_meltano(current: dict[str, t.Any]) -> dict[str, t.Any]:
    updated = dict(current)
    for plugin in updated["plugins"]["extractors"]:
        if plugin["name"] == "tap-chatbot-reports":
            plugin["settings"] = meltano_settings()
    for environment in updated.get("environments", []):
        if environment["name"] == "sandbox":
            extractor = environment["config"]["plugins"]["extractors"][0]
            extractor["config"] = sandbox_environment()
    return updated


def render_readme(text: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START} / {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{settings_table()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme_path, meltano_path = ROOT / "README.md", ROOT / "meltano.yml"
    readme = readme_path.read_text()
    meltano = yaml.safe_load(meltano_path.read_text())
    new_readme = render_readme(readme)
    new_meltano = render_meltano(meltano)
    stale = []
    if new_readme != readme:
        stale.append("README.md settings table")
    if new_meltano != meltano:
        stale.append("meltano.yml settings / sandbox environment")
    if args.check:
        if stale:
            print("out of date: " + ", ".join(stale) + " (run: python scripts/sync_docs.py)")
            return 1
        return 0
    readme_path.write_text(new_readme)
    meltano_path.write_text(yaml.safe_dump(new_meltano, sort_keys=False, width=100))
    print("updated: " + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
