"""Schema pieces shared by vendor modules."""

from __future__ import annotations

import json
import logging
import typing as t

import msgspec
from singer_sdk import typing as th
from singer_sdk.helpers._flattening import flatten_key
from singer_sdk.mapper import PluginMapper, RemoveRecordTransform
from singer_sdk.singerlib import Catalog

if t.TYPE_CHECKING:
    from singer_sdk.mapper import StreamMap

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


# ---------------------------------------------------------------------- flattening


def describe_flattened_records(
    stream_name: str,
    maps: t.Sequence[StreamMap],
    config: t.Mapping[str, t.Any],
    catalog: Catalog,
) -> None:
    """Make each flattening map's SCHEMA describe the records it writes (in place).

    The SDK's schema flattening (0.54) differs from its record flattening in two ways:

    * it keeps the stream's top-level ``required`` list, so an object property that was
      flattened away (``group``, now ``group__id``...) is still required and every record
      fails a target's validation;
    * an object whose keys are not declared (``"properties": {}``, e.g. ``extra_fields``)
      vanishes from the schema, while its record value is split into ``extra_fields__<key>``
      columns no schema declares (targets drop them: silent loss).

    Here each map's flattened schema is rebuilt from its unflattened one (the same maps made
    by the SDK with flattening off): free-keyed objects become JSON text columns (the record
    flattening then keeps them whole, as text) and ``required`` keeps only names the flattened
    schema has. The maps read ``transformed_schema`` for every record, so records follow.
    """
    flattening = [
        m for m in maps if m.flattening_enabled and not isinstance(m, RemoveRecordTransform)
    ]
    if not flattening:
        return
    entries = [e for e in catalog.streams if (e.stream or e.tap_stream_id) == stream_name]
    if not entries:
        return
    settings: dict[str, t.Any] = {**config, "flattening_enabled": False}
    unflattening = PluginMapper(plugin_config=settings, logger=logging.getLogger(__name__))
    unflattening.register_raw_streams_from_catalog(Catalog({entries[0].tap_stream_id: entries[0]}))
    for mapped, plain in zip(maps, unflattening.stream_maps[stream_name], strict=True):
        if mapped in flattening:
            mapped.transformed_schema = flattened_schema(mapped, plain.transformed_schema)


def flattened_schema(stream_map: StreamMap, schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """``schema`` flattened by ``stream_map``'s options, describing the records it flattens:
    objects without declared properties are JSON text columns, ``required`` names only
    properties the flattened schema has."""
    flat = stream_map.flatten_schema(_free_objects_as_leaves(schema))
    options = stream_map.flattening_options
    if options is not None and isinstance(flat.get("properties"), dict):
        # The SDK makes a property without a JSON type a string column (or drops it when its
        # anyOf comes first), while its record values stay numbers, booleans...: keep it
        # without a type, as in the unflattened schema.
        flat["properties"].update(_untyped_leaves(schema, options))
    if "required" in flat:
        names = flat.get("properties") or {}
        flat["required"] = [name for name in flat["required"] if name in names]
    return flat


def _untyped_leaves(
    schema: dict[str, t.Any],
    options: t.Any,
    parents: tuple[str, ...] = (),
    level: int = 0,
) -> dict[str, dict[str, t.Any]]:
    """Flattened name -> schema of every property without a ``type`` (any JSON value) that the
    SDK's flattening with ``options`` (separator, depth, key length) makes a column."""
    found: dict[str, dict[str, t.Any]] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if "type" not in prop:
            key = flatten_key(
                name, list(parents), options.separator, max_key_length=options.max_key_length
            )
            found[key] = dict(prop)
        elif "object" in prop["type"] and prop.get("properties") and level < options.max_level:
            found.update(_untyped_leaves(prop, options, (*parents, name), level + 1))
    return found


def _free_objects_as_leaves(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """A copy of ``schema`` whose objects with no declared property have no ``properties``
    key: the SDK's flattening then makes each a string column (its value JSON text) instead
    of dropping it."""
    result = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        result["properties"] = {
            name: _free_object_leaf(prop) if isinstance(prop, dict) else prop
            for name, prop in properties.items()
        }
    return result


def _free_object_leaf(prop: dict[str, t.Any]) -> dict[str, t.Any]:
    if "properties" in prop and not prop["properties"]:
        return {key: value for key, value in prop.items() if key != "properties"}
    if "properties" in prop:
        return _free_objects_as_leaves(prop)
    return prop
