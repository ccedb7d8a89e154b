"""Read the orchestrated extractors out of meltano.yml (pure functions, no Dagster, no I/O but
the one file read).

An orchestrated extractor is a plugin that inherits (directly or through another inherited
plugin) from ``tap-chatbot-reports`` and whose ``select`` names the streams of exactly one
vendor: one vendor account, one Meltano state id per loader. The vendor is the stream-name prefix
(``clevertap_*.*`` -> ``clevertap``), the account the rest of the plugin name
(``tap-chatbot-reports--eu`` -> ``eu``; ``tap-chatbot-reports--clevertap`` -> ``default``).
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass
from pathlib import Path

import yaml

BASE_EXTRACTOR = "tap-chatbot-reports"


@dataclass(frozen=True)
class Extraction:
    """One inherited extractor of meltano.yml: one vendor account."""

    extractor: str
    vendor: str
    account: str
    select: tuple[str, ...]

    @property
    def asset_name(self) -> str:
        """A Dagster asset name (letters, digits and underscores)."""
        return re.sub(r"\W", "_", self.account)

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool of the vendor account: ``<vendor>-<account>``."""
        return f"{self.vendor}-{self.account}"

    def state_id(self, environment: str, loader: str) -> str:
        """Meltano's state id of ``meltano run <extractor> <loader>``."""
        return f"{environment}:{self.extractor}-to-{loader}"


class MeltanoProjectError(ValueError):
    """meltano.yml does not describe orchestrated extractors the way this module needs."""


def load_extractions(project_dir: Path, vendors: t.Iterable[str]) -> list[Extraction]:
    """Every orchestrated extractor of ``project_dir/meltano.yml``, in file order."""
    path = project_dir / "meltano.yml"
    try:
        project = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MeltanoProjectError(f"{path}: cannot be read ({exc})") from exc
    extractors = ((project or {}).get("plugins") or {}).get("extractors") or []
    return extractions(extractors, tuple(vendors), str(path))


def extractions(
    extractors: list[dict[str, t.Any]], vendors: tuple[str, ...], where: str = "meltano.yml"
) -> list[Extraction]:
    """The orchestrated extractors among meltano.yml's ``plugins.extractors`` entries."""
    by_name = {p.get("name"): p for p in extractors if isinstance(p, dict)}
    out = []
    for plugin in by_name.values():
        name = str(plugin["name"])
        chain = _ancestry(name, by_name)
        if chain[-1] != BASE_EXTRACTOR or name == BASE_EXTRACTOR:
            continue
        select = next((tuple(by_name[n]["select"]) for n in chain if by_name[n].get("select")), ())
        vendor = _vendor_of(name, select, vendors, where)
        out.append(Extraction(name, vendor, _account_of(name, vendor), select))
    return out


def _ancestry(name: str, by_name: dict[t.Any, dict[str, t.Any]]) -> list[str]:
    """``name``, its parent, the parent's parent... (the last one inherits from nothing here)."""
    chain = [name]
    while (parent := by_name.get(chain[-1], {}).get("inherit_from")) and parent not in chain:
        chain.append(str(parent))
    return chain


def _vendor_of(name: str, select: tuple[str, ...], vendors: tuple[str, ...], where: str) -> str:
    found = set()
    for pattern in select:
        stream = str(pattern).lstrip("!").split(".", 1)[0]
        if str(pattern).startswith("!"):
            continue
        found |= {v for v in vendors if stream.startswith(f"{v}_")} or {f"unknown:{stream}"}
    if len(found) != 1 or next(iter(found)).startswith("unknown:"):
        example = f'select: ["{vendors[0]}_*.*"]' if vendors else "select"
        raise MeltanoProjectError(
            f"{where}: extractor {name} inherits from {BASE_EXTRACTOR} but its select "
            f"({list(select) or 'none'}) does not name the streams of exactly one vendor "
            f"({', '.join(vendors)}): an orchestrated extractor is one vendor account, "
            f"e.g. {example}"
        )
    return found.pop()


def _account_of(name: str, vendor: str) -> str:
    suffix = name.removeprefix(f"{BASE_EXTRACTOR}--").removeprefix(BASE_EXTRACTOR).strip("-")
    if suffix in ("", vendor):
        return "default"
    return suffix.removeprefix(f"{vendor}-") or "default"
