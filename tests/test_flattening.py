"""With the SDK's flattening on, every stream's SCHEMA message describes its flattened RECORDs:
they validate as targets validate them (jsonschema with formats, an SDK target), no value lands
in a column the schema does not declare, and nothing of the unflattened record is lost."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import logging
import re
import typing as t

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.mapper import PluginMapper
from singer_sdk.singerlib import Catalog
from singer_sdk.sinks import RecordSink

from sandbox import jaicp, xenioo
from tap_chatbot_reports.schema_types import describe_flattened_records
from tests.tapio import TapRun, run_tap
from tests.test_fastpath import START, all_vendor_config

#: Properties holding the wall clock of the run (differ between two runs of the same data).
CLOCK_FIELDS = frozenset({"retrieved_at"})

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def format_checker() -> jsonschema.FormatChecker:
    """Draft 7's format checker with ``date-time`` checked (jsonschema checks it only when
    ``rfc3339-validator`` is installed)."""
    checker = copy.deepcopy(jsonschema.Draft7Validator.FORMAT_CHECKER)
    checker.checks("date-time")(_date_time)
    return checker


def every_stream_configs(
    sandbox_factory: t.Callable[..., t.Any], **extra: t.Any
) -> list[dict[str, t.Any]]:
    """Configs that together emit records on all 21 streams: every vendor (JAICP on v1, Xenioo
    with data in its last-30-days range), then JAICP on the legacy API (session labels)."""
    config = all_vendor_config(sandbox_factory)
    today = dt.datetime.now(dt.UTC).date()
    stats = xenioo.default_app(today - dt.timedelta(days=10), today, 5)
    config["xenioo"] = xenioo.demo_config(stats, sandbox_factory(stats).url)
    legacy_app = jaicp.default_app(START, START + dt.timedelta(days=3), 5)
    legacy = jaicp.demo_config(legacy_app, sandbox_factory(legacy_app).url)
    legacy.pop("project_short_names")
    legacy.update(api_version="legacy", api_token=legacy_app.projects["acme-support"].legacy_token)
    common = {k: v for k, v in config.items() if k in ("start_date", "end_date", "backoff_factor")}
    return [{**config, **extra}, {**common, "jaicp": legacy, **extra}]


def run_all(configs: list[dict[str, t.Any]]) -> list[TapRun]:
    runs = [run_tap(config) for config in configs]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    return runs


def schemas_and_records(
    runs: list[TapRun],
) -> tuple[dict[str, dict[str, t.Any]], dict[str, list[dict[str, t.Any]]]]:
    schemas: dict[str, dict[str, t.Any]] = {}
    records: dict[str, list[dict[str, t.Any]]] = {}
    for index, run in enumerate(runs):
        for message in run.messages:
            name = f"{index}:{message.get('stream')}"
            if message["type"] == "SCHEMA":
                schemas[name] = message["schema"]
            elif message["type"] == "RECORD":
                records.setdefault(name, []).append(message["record"])
    return schemas, records


def problems_of(schema: dict[str, t.Any], records: list[dict[str, t.Any]]) -> list[str]:
    """What a validating target objects to, and values it would drop (undeclared columns)."""
    checker = format_checker()
    validators = [
        jsonschema.Draft7Validator(schema, format_checker=checker),
        jsonschema.Draft202012Validator(schema, format_checker=checker),  # the SDK's
    ]
    declared = schema.get("properties") or {}
    problems: list[str] = []
    for record in records:
        for validator in validators:
            problems += [error.message for error in validator.iter_errors(record)]
        problems += [
            f"{key} is not declared"
            for key, value in record.items()
            if key not in declared and value is not None
        ]
    return sorted(set(problems))


def expected_flat(
    record: dict[str, t.Any], schema: dict[str, t.Any], depth: int, level: int = 0
) -> dict[str, t.Any]:
    """The record flattened by an independent reading of the SDK's rule: objects with declared
    properties are split up to ``depth`` levels, everything else deeper is one value."""
    out: dict[str, t.Any] = {}
    declared = schema.get("properties") or {}
    for key, value in record.items():
        sub = declared.get(key) or {}
        if isinstance(value, dict) and sub.get("properties") and level < depth:
            for name, inner in expected_flat(value, sub, depth, level + 1).items():
                out[f"{key}__{name}"] = inner
        else:
            out[key] = value
    return out


def lost_values(flat: dict[str, t.Any], expected: dict[str, t.Any]) -> list[str]:
    problems = [f"{k}: only on one side" for k in set(flat) ^ set(expected)]
    for key in set(flat) & set(expected) - CLOCK_FIELDS:
        want, got = expected[key], flat[key]
        if isinstance(want, (dict, list)):
            if not isinstance(got, str) or json.loads(got) != want:
                problems.append(f"{key}: {got!r} is not the JSON text of {want!r}")
        elif type(got) is not type(want) or got != want:
            problems.append(f"{key}: {got!r} vs {want!r}")
    return problems


@pytest.fixture(scope="module")
def discovered_streams() -> list[str]:
    run = run_tap({}, args=["--discover"])
    assert run.returncode == 0, run.stderr
    return sorted(entry["tap_stream_id"] for entry in json.loads(run.stdout)["streams"])


@pytest.mark.parametrize("depth", [1, 3])
def test_flattened_records_validate_against_their_schema_on_every_stream(
    sandbox_factory, discovered_streams, depth
):
    flat_schemas, flat_records = schemas_and_records(
        run_all(
            every_stream_configs(
                sandbox_factory, flattening_enabled=True, flattening_max_depth=depth
            )
        )
    )
    plain_schemas, plain_records = schemas_and_records(
        run_all(every_stream_configs(sandbox_factory))
    )
    assert len(discovered_streams) == 21
    assert {name.split(":", 1)[1] for name in flat_records} == set(discovered_streams)
    assert set(flat_records) == set(plain_records)
    for name, records in flat_records.items():
        assert not problems_of(flat_schemas[name], records)[:5], name
        # Flattened: no object left as an object, no list as a list.
        assert not [k for r in records for k, v in r.items() if isinstance(v, (dict, list))]
        # Nothing lost: every value of the unflattened record is there, under its flat name.
        assert len(records) == len(plain_records[name]), name
        for flat, plain in zip(records, plain_records[name], strict=True):
            problems = lost_values(flat, expected_flat(plain, plain_schemas[name], depth))
            assert not problems, (name, problems[:5])
    labels = flat_records["0:jaicp_message_labels"]
    assert all("group__name" in record and "group" not in record for record in labels)
    assert "group" not in (flat_schemas["0:jaicp_message_labels"].get("required") or [])


class CountingSink(RecordSink):
    """Counts what the SDK's target machinery hands over, after its schema validation."""

    loaded: t.ClassVar[dict[str, int]] = {}

    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        self.loaded[self.stream_name] = self.loaded.get(self.stream_name, 0) + 1


class CountingTarget(Target):
    name = "target-counting"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = CountingSink


def test_flattened_output_loads_through_an_sdk_target(sandbox_factory):
    """The SDK's own target machinery (the record validation meltanolabs-target-postgres runs:
    an invalid record raises) takes every stream's flattened output."""
    configs = every_stream_configs(sandbox_factory, flattening_enabled=True, flattening_max_depth=1)
    emitted: dict[str, int] = {}
    CountingSink.loaded.clear()
    for run in run_all(configs):
        CountingTarget(config={"validate_records": True}).listen(io.StringIO(run.stdout))
        for message in run.messages:
            if message["type"] == "RECORD":
                emitted[message["stream"]] = emitted.get(message["stream"], 0) + 1
    assert CountingSink.loaded == emitted
    assert len(emitted) == 21


# ---------------------------------------------------------------------- any schema, any record

_NAMES = st.sampled_from(["a", "b", "c", "d"])
_SCALARS = st.sampled_from(["string", "integer", "number", "boolean"])
_ANY_TYPE = ["object", "array", "string", "number", "boolean", "null"]


def _scalar_schema(kind: str, nullable: bool) -> dict[str, t.Any]:
    schema: dict[str, t.Any] = {"type": [kind, "null"] if nullable else kind}
    if kind == "string" and nullable:
        schema["format"] = "date-time"
    return schema


@st.composite
def object_schemas(draw: st.DrawFn, depth: int = 0) -> dict[str, t.Any]:
    """Object schemas as our streams write them: nested objects with declared properties,
    free-keyed objects (``properties: {}``), arrays, scalars; ``required`` at any level."""
    names = draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
    properties: dict[str, t.Any] = {}
    for name in names:
        nullable = draw(st.booleans())
        kind = draw(
            st.sampled_from(
                ["scalar", "untyped", "object", "free", "array"]
                if depth < 3
                else ["scalar", "untyped"]
            )
        )
        if kind == "untyped":  # any JSON value, as Certainly's undocumented fields
            properties[name] = {"description": "any", "anyOf": [{"type": _ANY_TYPE}]}
            continue
        if kind == "scalar":
            properties[name] = _scalar_schema(draw(_SCALARS), nullable)
        elif kind == "object":
            properties[name] = draw(object_schemas(depth + 1))
            properties[name]["additionalProperties"] = draw(st.booleans())
        elif kind == "free":
            properties[name] = {"type": "object", "properties": {}, "additionalProperties": True}
        else:
            properties[name] = {
                "type": "array",
                "items": draw(st.one_of(object_schemas(depth + 1), st.just({"type": "string"}))),
            }
        if nullable and kind != "scalar":
            properties[name]["type"] = [properties[name]["type"], "null"]
    required = draw(st.lists(st.sampled_from(names), unique=True))
    schema: dict[str, t.Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_FREE_VALUES = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_NAMES, inner, max_size=2),
    max_leaves=5,
)


@st.composite
def records_of(draw: st.DrawFn, schema: dict[str, t.Any]) -> t.Any:
    if "anyOf" in schema:
        return draw(_FREE_VALUES | st.booleans() | st.floats(allow_nan=False, allow_infinity=False))
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or [])
    if "null" in kinds and draw(st.booleans()):
        return None
    if "object" in kinds:
        declared = schema.get("properties") or {}
        if not declared:
            return draw(st.dictionaries(_NAMES, _FREE_VALUES, max_size=3))
        record = {}
        for name, prop in declared.items():
            if name in schema.get("required", []) or draw(st.booleans()):
                record[name] = draw(records_of(prop))
        return record
    if "array" in kinds:
        return draw(st.lists(records_of(schema["items"]), max_size=2))
    kind = next(k for k in kinds if k != "null")
    if kind == "string" and schema.get("format") == "date-time":
        return draw(st.datetimes(timezones=st.just(dt.UTC))).isoformat()
    return draw(
        {
            "string": st.text(max_size=3),
            "integer": st.integers(),
            "number": st.floats(allow_nan=False, allow_infinity=False),
            "boolean": st.booleans(),
        }[kind]
    )


def flattening_maps(
    schema: dict[str, t.Any], config: dict[str, t.Any], name: str = "s"
) -> list[t.Any]:
    """The maps the tap's mapper makes for one stream, then described as the tap does."""
    catalog = Catalog.from_dict(
        {"streams": [{"tap_stream_id": name, "schema": schema, "metadata": []}]}
    )
    mapper = PluginMapper(plugin_config=config, logger=logging.getLogger("test"))
    mapper.register_raw_streams_from_catalog(catalog)
    maps = mapper.stream_maps[name]
    describe_flattened_records(name, maps, config, catalog)
    return maps


@given(st.data(), st.integers(min_value=1, max_value=4))
def test_any_flattened_record_validates_and_keeps_every_value(data, depth):
    schema = data.draw(object_schemas())
    schema["type"] = "object"
    record = data.draw(records_of(schema))
    assert isinstance(record, dict)
    jsonschema.Draft202012Validator(schema).validate(record)  # the generator's own check
    config = {"flattening_enabled": True, "flattening_max_depth": depth}
    (flattening,) = flattening_maps(schema, config)
    flat = flattening.transform(copy.deepcopy(record))
    assert not problems_of(flattening.transformed_schema, [flat])
    assert not lost_values(flat, expected_flat(record, schema, depth))


def test_required_nested_object_and_free_objects_under_a_custom_map():
    """A user's stream map with flattening (the SDK's other map class) gets the same repair;
    what the map removes stays removed."""
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "group": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                "required": ["name"],
            },
            "extra_fields": {
                "type": ["object", "null"],
                "properties": {},
                "additionalProperties": True,
            },
            "meta": {"type": ["object", "null"], "properties": {}, "additionalProperties": True},
        },
        "required": ["id", "group"],
    }
    config = {
        "flattening_enabled": True,
        "flattening_max_depth": 1,
        "stream_maps": {
            "s": {"meta": "__NULL__", "id_text": "str(id)"},
            "copy": {"__source__": "s"},
        },
    }
    primary, alias = flattening_maps(schema, config)
    record = {"id": 1, "group": {"id": 2, "name": "g"}, "extra_fields": {"x": [1]}, "meta": {}}
    flats = []
    for stream_map in (primary, alias):
        flat = stream_map.transform(copy.deepcopy(record))
        assert not problems_of(stream_map.transformed_schema, [flat])
        assert flat["group__name"] == "g"
        assert json.loads(flat["extra_fields"]) == {"x": [1]}
        assert "group" not in stream_map.transformed_schema["required"]
        flats.append(flat)
    assert "meta" not in primary.transformed_schema["properties"] and "meta" not in flats[0]
    assert flats[0]["id_text"] == "1"
    assert json.loads(flats[1]["meta"]) == {}  # the alias map keeps it (as JSON text)
