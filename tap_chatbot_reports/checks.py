"""Small pure helpers shared by vendor modules: config list checks and response unwrapping."""

from __future__ import annotations

import typing as t


def list_problems(values: t.Sequence[t.Any], setting: str, noun: str) -> list[str]:
    """Problems of a list of ids/names: empty, duplicated or blank entries (one message each)."""
    if not values:
        return [f"{setting}: list at least one {noun}"]
    names = [str(v) for v in values]
    problems: list[str] = []
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"{setting}: duplicated {noun}(s): {', '.join(duplicates)}")
    if any(not n.strip() for n in names):
        problems.append(f"{setting}: a {noun} is empty")
    return problems


def unwrap_rows(payload: t.Any) -> list[t.Any] | None:
    """A JSON array as is, or the one list inside a wrapping object; None for anything else."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        lists = [value for value in payload.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
    return None


def describe_payload(payload: t.Any) -> str:
    """``an object (keys: a, b)`` or the JSON type's name, for error messages (one line)."""
    if isinstance(payload, dict):
        keys = ", ".join(sorted(repr(str(k)[:40]) for k in payload)[:10])
        return f"an object (keys: {keys})"
    return type(payload).__name__
