"""Dagster definitions for the tap's Meltano project.

Optional extra: ``pip install -e '.[dagster]'``.

``dagster dev -m orchestrate`` loads ``defs``: one asset per vendor account of meltano.yml.
"""

from orchestrate.definitions import build_definitions, defs

__all__ = ["build_definitions", "defs"]
