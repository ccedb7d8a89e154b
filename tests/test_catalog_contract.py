"""A supplied catalog's schema is the contract, on the fast path exactly as on the plain SDK
path: a property the catalog lacks is dropped, booleans follow the catalog, other types are
left as the SDK leaves them, and both paths write the same messages."""

from __future__ import annotations

import copy
import json
import logging
import typing as t

from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_chatbot_reports.fastpath import PLAIN_SDK_ENV, compile_stream_conformer
from tap_chatbot_reports.schema_types import apply_json_text, json_text_paths
from tests.tapio import TapRun, run_tap
from tests.test_fastpath import certainly_only, deselect, same_json, state_values
from tests.test_flattening import CLOCK_FIELDS, every_stream_configs, object_schemas, records_of

Edit = tuple[str, str, tuple[str, ...]]  # (stream, kind, path)


def _kinds(prop: dict[str, t.Any]) -> list[str]:
    kind = prop.get("type")
    return [kind] if isinstance(kind, str) else list(kind or [])


def _carried(records: list[dict[str, t.Any]], name: str) -> bool:
    return any(record.get(name) is not None for record in records)


def _nested_carried(records: list[dict[str, t.Any]], name: str, inner: str) -> bool:
    return any(isinstance(r.get(name), dict) and r[name].get(inner) is not None for r in records)


def _plain(kind: str) -> t.Callable[[dict[str, t.Any]], bool]:
    return lambda p: kind in _kinds(p) and "format" not in p and "contentMediaType" not in p


class _EntryEditor:
    """Edits of one catalog entry, on properties its records carry (keys and bookmark kept)."""

    def __init__(self, entry: dict[str, t.Any], records: list[dict[str, t.Any]]) -> None:
        self.entry, self.records = entry, records
        self.stream: str = entry["tap_stream_id"]
        self.properties: dict[str, t.Any] = entry["schema"]["properties"]
        root = next(i["metadata"] for i in entry["metadata"] if i["breadcrumb"] == [])
        root["selected"] = True
        kept = {*(entry.get("key_properties") or []), *(root.get("table-key-properties") or [])}
        kept |= {root.get("replication-key"), entry.get("replication_key")} - {None}
        self.free = [n for n in sorted(self.properties) if n not in kept and _carried(records, n)]
        self.edits: list[Edit] = []

    def take(self, test: t.Callable[[dict[str, t.Any]], bool]) -> str | None:
        for name in self.free:
            if test(self.properties[name]):
                self.free.remove(name)
                return name
        return None

    def remove(self, name: str) -> None:
        del self.properties[name]
        self.entry["metadata"] = [
            i for i in self.entry["metadata"] if i["breadcrumb"] != ["properties", name]
        ]
        if name in self.free:
            self.free.remove(name)
        self.edits.append((self.stream, "removed", (name,)))

    def retype(self, name: str, kind: str, label: str) -> None:
        self.properties[name] = {"type": [kind, "null"]}
        self.edits.append((self.stream, label, (name,)))

    def remove_nested(self, closed: bool) -> None:
        name = self.take(lambda p: bool(p.get("properties")))
        if name is None:
            return
        nested = self.properties[name]
        inner = next(
            (n for n in sorted(nested["properties"]) if _nested_carried(self.records, name, n)),
            None,
        )
        if inner is None:
            return
        del nested["properties"][inner]
        nested["properties"]["catalog_only_inner"] = {"type": ["string", "null"]}
        if closed:
            nested["additionalProperties"] = False
        kind = "closed nested removed" if closed else "open nested"
        self.edits.append((self.stream, kind, (name, inner)))


def edit_catalog(
    catalog: dict[str, t.Any], samples: dict[str, list[dict[str, t.Any]]]
) -> tuple[dict[str, t.Any], list[Edit]]:
    """The discovered catalog as an older or hand-edited one would be, per stream: a property
    removed (Certainly: ``botuser`` and ``extra_fields``, as in an older catalog), string ->
    integer, integer -> string, integer -> number, -> boolean, a nested property removed from
    a closed and from an open object, a JSON-text property retyped, a property added that no
    record carries (top level and nested). Every stream selected."""
    edited = copy.deepcopy(catalog)
    edits: list[Edit] = []
    for entry in edited["streams"]:
        editor = _EntryEditor(entry, samples.get(entry["tap_stream_id"], []))
        if editor.stream == "certainly_messages":
            editor.remove("botuser")
            editor.remove("extra_fields")
        elif (name := editor.take(lambda p: True)) is not None:
            editor.remove(name)
        for kind, new in (("string", "integer"), ("integer", "string"), ("integer", "number")):
            if (name := editor.take(_plain(kind))) is not None:
                editor.retype(name, new, f"{kind}->{new}")
        if (
            name := editor.take(lambda p: bool({"string", "integer"} & set(_kinds(p))))
        ) is not None:
            editor.retype(name, "boolean", "->boolean")
        editor.remove_nested(closed=True)
        editor.remove_nested(closed=False)
        if (name := editor.take(lambda p: "contentMediaType" in p)) is not None:
            editor.properties[name] = {"type": ["object", "array", "string", "null"]}
            editor.edits.append((editor.stream, "json text retyped", (name,)))
        editor.properties["catalog_only"] = {"type": ["string", "null"]}
        editor.edits.append((editor.stream, "added", ("catalog_only",)))
        edits += editor.edits
    return edited, edits


def by_stream(runs: list[TapRun]) -> dict[str, list[dict[str, t.Any]]]:
    streams: dict[str, list[dict[str, t.Any]]] = {}
    for index, run in enumerate(runs):
        for message in run.messages:
            if message["type"] == "RECORD":
                record = {k: v for k, v in message["record"].items() if k not in CLOCK_FIELDS}
                streams.setdefault(f"{index}:{message['stream']}", []).append(record)
    return streams


def run_both(
    sandbox_factory: t.Callable[..., t.Any], catalog: dict[str, t.Any] | None
) -> tuple[list[TapRun], list[TapRun]]:
    """The fast and the plain SDK path over the same data (fresh sandboxes for each)."""
    paths: list[list[TapRun]] = []
    for env in ({}, {PLAIN_SDK_ENV: "1"}):
        runs = [
            run_tap(config, catalog=catalog, env=env)
            for config in every_stream_configs(sandbox_factory)
        ]
        for run in runs:
            assert run.returncode == 0, run.stderr[-3000:]
        paths.append(runs)
    return paths[0], paths[1]


def test_edited_catalogs_are_the_contract_on_both_paths_for_every_stream(sandbox_factory):
    discovered = run_tap({}, args=["--discover"])
    catalog = json.loads(discovered.stdout)
    samples = {
        name.split(":", 1)[1]: records
        for name, records in by_stream(
            [run_tap(config) for config in every_stream_configs(sandbox_factory)]
        ).items()
    }
    assert len(samples) == len(catalog["streams"]) == 21
    edited, edits = edit_catalog(catalog, samples)
    kinds = {kind for _, kind, _ in edits}
    assert kinds >= {
        "removed",
        "string->integer",
        "integer->string",
        "integer->number",
        "->boolean",
        "closed nested removed",
        "open nested",
        "json text retyped",
        "added",
    }
    fast, plain = run_both(sandbox_factory, edited)

    # Both paths: the same SCHEMA messages (the catalog's), records and STATE lines.
    for fast_run, plain_run in zip(fast, plain, strict=True):
        schemas = [m for m in fast_run.messages if m["type"] == "SCHEMA"]
        assert schemas == [m for m in plain_run.messages if m["type"] == "SCHEMA"]
        assert state_values(fast_run) == state_values(plain_run)
    fast_records, plain_records = by_stream(fast), by_stream(plain)
    assert set(fast_records) == set(plain_records)
    for name, records in plain_records.items():
        problems = same_json(fast_records[name], records, name)
        assert not problems, problems[:5]

    # What the contract means for a user, stream by stream.
    for stream, kind, path in edits:
        records = [r for n, rs in fast_records.items() if n.endswith(f":{stream}") for r in rs]
        assert records, stream
        values = [r.get(path[0]) for r in records]
        if kind == "removed" or kind == "added":
            assert all(path[0] not in r for r in records), (stream, kind, path)
        elif kind == "->boolean":
            assert {type(v) for v in values} <= {bool, type(None)}, (stream, path)
            assert any(v is not None for v in values)
        elif kind == "closed nested removed":
            assert all(path[1] not in (v or {}) for v in values), (stream, path)
        elif kind == "open nested":  # an open object keeps what the catalog does not declare
            assert any(path[1] in (v or {}) for v in values), (stream, path)
        elif kind == "json text retyped":  # still the stream's JSON text, as on the SDK path
            assert all(v is None or isinstance(v, str) for v in values), (stream, path)
        else:  # string/integer/number: left as the SDK leaves them
            assert any(v is not None for v in values), (stream, path)
    certainly = [
        r for n, rs in fast_records.items() if n.endswith(":certainly_messages") for r in rs
    ]
    assert certainly and not any("botuser" in r or "extra_fields" in r for r in certainly)


def test_the_discovered_catalog_changes_nothing(sandbox_factory):
    """Discovery's own catalog (what Meltano passes back) gives the records of a run without
    a catalog, on the fast path."""
    with_catalog, without = [], []
    for config in every_stream_configs(sandbox_factory):
        discovered = run_tap(config, args=["--discover"])
        assert discovered.returncode == 0, discovered.stderr
        catalog = json.loads(discovered.stdout)
        for entry in catalog["streams"]:
            _EntryEditor(entry, [])  # selects the stream, edits nothing
        with_catalog.append(run_tap(config, catalog=catalog))
    without = [run_tap(config) for config in every_stream_configs(sandbox_factory)]
    a, b = by_stream(with_catalog), by_stream(without)
    assert set(a) == set(b)
    assert len({name.split(":", 1)[1] for name in a}) == 21
    for name in a:
        assert not same_json(a[name], b[name], name)[:5]


# ---------------------------------------------------------------------- any schema, any edit


_JSON_TEXT = {"type": ["string", "null"], "contentMediaType": "application/json"}


@st.composite
def own_schemas(draw: st.DrawFn) -> dict[str, t.Any]:
    """Object schemas with JSON-text properties here and there (top level and nested)."""
    schema = draw(object_schemas())
    schema["type"] = "object"
    for name in draw(st.lists(st.sampled_from(["j", "k"]), unique=True)):
        schema["properties"][name] = dict(_JSON_TEXT)
    return schema


@st.composite
def catalog_edits(draw: st.DrawFn, schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """``schema`` edited as a catalog may be: properties removed, retyped (any scalar type,
    boolean included), objects closed or opened, JSON text retyped, properties added."""
    edited = copy.deepcopy(schema)
    objects = [edited]
    while objects:
        node = objects.pop()
        properties = node.get("properties") or {}
        for name in list(properties):
            action = draw(st.sampled_from(["keep", "keep", "remove", "retype", "toggle"]))
            if action == "remove":
                del properties[name]
            elif action == "retype":
                kind = draw(st.sampled_from(["string", "integer", "number", "boolean"]))
                properties[name] = {"type": [kind, "null"]}
            elif action == "toggle" and "properties" in properties[name]:
                properties[name]["additionalProperties"] = not properties[name].get(
                    "additionalProperties", False
                )
            if name in properties and properties[name].get("properties"):
                objects.append(properties[name])
            items = properties.get(name, {}).get("items")
            if isinstance(items, dict) and items.get("properties"):
                objects.append(items)
        if draw(st.booleans()):
            properties["added"] = {"type": ["string", "null"]}
        if draw(st.booleans()):
            node["additionalProperties"] = draw(st.booleans())
    return edited


@given(st.data())
def test_the_fast_conformer_does_what_the_sdk_path_does_for_any_catalog(data):
    """``post_process`` (JSON text of the stream's own schema) then the SDK's recursive
    conformance to the catalog's schema, versus the compiled fast-path conformer."""
    schema = data.draw(own_schemas())
    catalog = data.draw(catalog_edits(schema))
    record = data.draw(records_of(schema))
    for name in ("j", "k"):
        if name in schema["properties"] and data.draw(st.booleans()):
            record[name] = data.draw(
                st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=2))
            )
    expected = copy.deepcopy(record)
    for path in json_text_paths(schema):
        apply_json_text(expected, path)
    expected = conform_record_data_types(
        "s", expected, catalog, TypeConformanceLevel.RECURSIVE, logging.getLogger("t")
    )
    for coerce in (True, False):  # a stream that checks its own types skips the coercion
        conform = compile_stream_conformer(schema, catalog, lambda path: None, coerce)
        assert not same_json(conform(copy.deepcopy(record)), expected)


def test_a_catalog_without_the_partition_key_on_the_sdk_loop_of_the_fast_path(sandbox_factory):
    """With a property deselected the fast path runs the SDK's record loop, which adds the
    partition key (``bot_id``) after our conformance: a catalog without it still drops it,
    as on the plain SDK path."""
    discovered = run_tap(certainly_only(sandbox_factory), args=["--discover"])
    catalog = deselect(json.loads(discovered.stdout), "certainly_messages", "is_test")
    editor = _EntryEditor(
        next(e for e in catalog["streams"] if e["tap_stream_id"] == "certainly_messages"), []
    )
    editor.remove("bot_id")
    fast = run_tap(certainly_only(sandbox_factory), catalog=catalog)
    plain = run_tap(certainly_only(sandbox_factory), catalog=catalog, env={PLAIN_SDK_ENV: "1"})
    assert fast.returncode == 0, fast.stderr
    assert plain.returncode == 0, plain.stderr
    records = fast.records("certainly_messages")
    assert records and not any("bot_id" in r or "is_test" in r for r in records)
    assert not same_json(records, plain.records("certainly_messages"))[:5]
