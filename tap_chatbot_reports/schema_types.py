"""Schema pieces shared by vendor modules."""

from __future__ import annotations

import json
import typing as t

import msgspec
from singer_sdk import typing as th

#: A value whose JSON type is not documented (or varies). It is emitted as compact JSON text
#: (a string stays as it is), so every target can load it as a text column and nothing is lost;
#: `VendorStream.post_process` does the conversion for every property marked this way.
JSON_ANY = th.CustomType({"type": ["string", "null"], "contentMediaType": "application/json"})

#: An object whose keys are not known in advance; every key is kept.
JSON_OBJECT = th.ObjectType()

Path = tuple[str, ...]


def json_text_paths(schema: dict[str, t.Any], prefix: Path = ()) -> list[Path]:
    """Paths of the properties marked JSON_ANY; ``"[]"`` in a path steps into array items."""
    paths: list[Path] = []
    for name, prop in (schema.get("properties") or {}).items():
        path = (*prefix, name)
        if prop.get("contentMediaType") == "application/json":
            paths.append(path)
        elif "properties" in prop:
            paths.extend(json_text_paths(prop, path))
        elif isinstance(prop.get("items"), dict) and "properties" in prop["items"]:
            paths.extend(json_text_paths(prop["items"], (*path, "[]")))
    return paths


#: Compact JSON with sorted keys, UTF-8 kept as it is (msgspec: a tenth of ``json.dumps``).
_TEXT_ENCODER = msgspec.json.Encoder(enc_hook=str, order="sorted")


def to_json_text(value: t.Any) -> t.Any:
    """``value`` as compact JSON text with sorted keys (a string stays as it is)."""
    if value is None or isinstance(value, str):
        return value
    try:
        return _TEXT_ENCODER.encode(value).decode()
    except (TypeError, ValueError, OverflowError):  # e.g. an integer beyond 64 bits
        return json.dumps(
            value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str
        )


def apply_json_text(record: t.Any, path: Path) -> None:
    """Convert the value at ``path`` (in place) to JSON text."""
    if not path:
        return
    head, rest = path[0], path[1:]
    if head == "[]":
        if isinstance(record, list):
            for item in record:
                apply_json_text(item, rest)
        return
    if not isinstance(record, dict) or head not in record:
        return
    if rest:
        apply_json_text(record[head], rest)
    else:
        record[head] = to_json_text(record[head])
