"""The fast record path emits what the plain singer-sdk path emits, with the same JSON types."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import typing as t

import pytest
from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from sandbox.apps import SANDBOX_VENDORS
from sandbox.certainly import CertainlyApp, DailyMessages
from tap_chatbot_reports.fastpath import PLAIN_SDK_ENV, compile_conformer
from tap_chatbot_reports.timeparse import format_timestamp, normalise_timestamp, parse_timestamp
from tests.tapio import TapRun, run_tap

START = dt.date(2026, 2, 1)
END = dt.date(2026, 2, 21)


def same_json(a: t.Any, b: t.Any, where: str = "") -> list[str]:
    """Differences between two decoded JSON values, types included (1 and 1.0 differ)."""
    if type(a) is not type(b):
        return [f"{where}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"]
    if isinstance(a, dict):
        problems = [f"{where}.{k}: only on one side" for k in set(a) ^ set(b)]
        for key in set(a) & set(b):
            problems += same_json(a[key], b[key], f"{where}.{key}")
        return problems
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [
            p
            for n, (x, y) in enumerate(zip(a, b, strict=True))
            for p in same_json(x, y, f"{where}[{n}]")
        ]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def all_vendor_config(sandbox_factory: t.Callable[..., t.Any]) -> dict[str, t.Any]:
    apps = {v.key: v.make_app(START, END, 5) for v in SANDBOX_VENDORS}
    sandbox = sandbox_factory(*apps.values())
    config: dict[str, t.Any] = {
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{(END - dt.timedelta(days=1)).isoformat()}T23:59:59Z",
        "backoff_factor": 0,
    }
    for vendor in SANDBOX_VENDORS:
        section = vendor.demo_config(apps[vendor.key], sandbox.url)
        if section is not None:
            config[vendor.key] = section
    return config


def by_stream(run: TapRun) -> dict[str, list[dict[str, t.Any]]]:
    streams: dict[str, list[dict[str, t.Any]]] = {}
    for message in run.messages:
        if message.get("type") == "RECORD":
            streams.setdefault(message["stream"], []).append(message["record"])
    return streams


def test_fast_path_records_equal_plain_sdk_records_with_identical_types(sandbox_factory):
    # Two sandboxes with the same generated data (vendors such as Xenioo throttle repeat calls).
    fast = run_tap(all_vendor_config(sandbox_factory))
    plain = run_tap(all_vendor_config(sandbox_factory), env={PLAIN_SDK_ENV: "1"})
    assert fast.returncode == 0, fast.stderr
    assert plain.returncode == 0, plain.stderr
    fast_records, plain_records = by_stream(fast), by_stream(plain)
    assert set(fast_records) == set(plain_records)
    assert len(fast_records) >= 10  # every vendor contributed streams
    for stream, records in plain_records.items():
        assert len(fast_records[stream]) == len(records), stream
        problems = same_json(fast_records[stream], records, stream)
        assert not problems, problems[:5]
    # Same SCHEMA and final STATE: the fast path changes encoding only.
    schemas = [m for m in fast.messages if m["type"] == "SCHEMA"]
    assert schemas == [m for m in plain.messages if m["type"] == "SCHEMA"]
    assert bookmarks(fast) == bookmarks(plain)


def bookmarks(run: TapRun) -> dict[str, t.Any]:
    state = run.last_state or {}
    return {
        stream: [(p.get("context"), p.get("replication_key_value")) for p in value["partitions"]]
        if "partitions" in value
        else value.get("replication_key_value")
        for stream, value in state.get("bookmarks", {}).items()
    }


def test_every_state_line_follows_the_records_it_covers(sandbox_factory):
    """The fast writer buffers RECORD lines but writes them all before any later STATE."""
    config = certainly_only(sandbox_factory, per_day=40)
    config["certainly"]["window_days"] = 5
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    seen = ""
    states = 0
    for message in run.messages:
        if message["type"] == "RECORD":
            seen = max(seen, message["record"]["timestamp"])
        elif message["type"] == "STATE":
            bookmark = message["value"]["bookmarks"]["certainly_messages"]["partitions"][0]
            if "replication_key_value" in bookmark:
                states += 1
                assert bookmark["replication_key_value"] <= seen
    assert states >= 4  # one per drained window
    assert len(run.records()) == 40 * (END - START).days


def test_conformer_matches_sdk_conformance_on_json_values():
    """Undeclared properties dropped at every level, numbers in boolean properties coerced."""
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": ["string", "null"]},
            "flag": {"type": ["boolean", "null"]},
            "n": {"type": ["integer", "null"]},
            "x": {"type": ["number", "null"]},
            "nested": {
                "type": ["object", "null"],
                "properties": {"a": {"type": ["boolean"]}, "b": {"type": ["string", "null"]}},
            },
            "items": {
                "type": ["array", "null"],
                "items": {"type": "object", "properties": {"k": {"type": "boolean"}}},
            },
            "free": {"type": ["object", "null"], "additionalProperties": True},
        },
    }
    record = {
        "id": "1",
        "flag": 1,
        "n": 3,
        "x": 2.5,
        "extra": [1],
        "nested": {"a": 0, "b": "s", "z": 1},
        "items": [{"k": 2, "drop": 1}, {"k": False}],
        "free": {"any": {"thing": 1}},
    }
    dropped: list[str] = []
    ours = compile_conformer(schema, dropped.append)(copy.deepcopy(record))
    sdk = conform_record_data_types(
        "s",
        copy.deepcopy(record),
        schema,
        TypeConformanceLevel.RECURSIVE,
        logging.getLogger("t"),
    )
    assert not same_json(ours, sdk)
    assert sorted(dropped) == ["extra", "items.drop", "nested.z"]


@given(
    st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.sampled_from(["Z", "+00:00"]),
    st.sampled_from([0, 3, 6]),
)
def test_utc_timestamps_take_the_short_path_to_the_same_text(when, suffix, digits):
    text = when.strftime("%Y-%m-%dT%H:%M:%S") + suffix
    if digits:
        text = f"{when.strftime('%Y-%m-%dT%H:%M:%S')}.{when.strftime('%f')[:digits]}{suffix}"
    parsed = parse_timestamp(text)
    assert parsed is not None
    assert normalise_timestamp(text) == format_timestamp(parsed)


def _slow_normalise(text: str) -> str | None:
    parsed = parse_timestamp(text)
    return None if parsed is None else format_timestamp(parsed)


def _assert_short_path_agrees(text: str) -> None:
    try:
        expected: str | None = _slow_normalise(text)
    except ValueError:
        with pytest.raises(ValueError):
            normalise_timestamp(text)
        return
    assert normalise_timestamp(text) == expected


@given(
    st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.lists(
        st.tuples(st.integers(0, 26), st.sampled_from(list("0123456789-:.TZW+ ,"))),
        max_size=3,
    ),
)
def test_the_short_path_never_accepts_what_the_slow_path_reads_differently(when, edits):
    """Mutations of the ...SS.ffffffZ form: the short path gives the slow path's text or its
    error."""
    chars = list(when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    for position, char in edits:
        chars[position] = char
    _assert_short_path_agrees("".join(chars))


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-04T05:06:07.1+0000Z",  # a short fraction, then an offset, inside 26 characters
        "2025-03-04T05:06:07.1-0500Z",
        "2025-03-04T05:06:07.12345ZZ",
        "2025-W09-3T05:06:07.123456Z",  # an ISO week date of the same length
        "2025-03-04 05:06:07.123456Z",
        "2025-03-04T05:06:07,123456Z",
        "2025-02-29T05:06:07.123456Z",
    ],
)
def test_the_short_path_on_look_alikes_of_its_form(text):
    _assert_short_path_agrees(text)


def test_an_impossible_utc_timestamp_is_still_refused():
    with pytest.raises(ValueError):
        normalise_timestamp("2026-02-30T10:00:00.000Z")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.data())
def test_compiled_shape_check_reports_what_the_reference_check_reports(data):
    """Certainly's per-message shape check, compiled, finds the same first problem."""
    from tap_chatbot_reports.vendors import certainly

    rows = DailyMessages("bot-a", START, START + dt.timedelta(days=1), 3).day(START)
    record = certainly.normalise_message(copy.deepcopy(rows[0]), "bot-a", 1)
    # Replace one value, possibly nested, with an arbitrary JSON value.
    field = data.draw(st.sampled_from(certainly._CHECKED_FIELDS))
    nested = record.get(field)
    if isinstance(nested, dict) and nested and data.draw(st.booleans()):
        nested[data.draw(st.sampled_from(sorted(nested)))] = data.draw(json_values)
    else:
        record[field] = data.draw(json_values)
    expected = None
    for name in certainly._CHECKED_FIELDS:
        expected = certainly._shape_problem(
            record.get(name), certainly.MESSAGE_SCHEMA["properties"][name], name
        )
        if expected:
            break
    assert certainly._check_shape(record) == expected


#: State keys holding the wall clock of the run (the SDK's signpost, Xenioo's throttle times).
CLOCK_KEYS = frozenset({"replication_key_signpost", "last_call_at", "next_call_allowed_at"})


def without_signposts(value: t.Any) -> t.Any:
    """A STATE value without the keys that hold the run's clock."""
    if isinstance(value, dict):
        return {k: without_signposts(v) for k, v in value.items() if k not in CLOCK_KEYS}
    if isinstance(value, list):
        return [without_signposts(v) for v in value]
    return value


def state_values(run: TapRun) -> list[t.Any]:
    """The STATE values in order (signposts aside), consecutive repeats collapsed."""
    values: list[t.Any] = []
    for message in run.messages:
        if message["type"] != "STATE":
            continue
        value = without_signposts(message["value"])
        if not values or values[-1] != value:
            values.append(value)
    return values


def test_fast_record_loop_writes_the_same_state_lines_as_the_sdk_loop(sandbox_factory):
    """Bookmarks are applied before each STATE line, not after each record: every STATE line
    of the fast loop equals the SDK loop's, in the same order, for every vendor."""
    fast = run_tap(all_vendor_config(sandbox_factory))
    plain = run_tap(all_vendor_config(sandbox_factory), env={PLAIN_SDK_ENV: "1"})
    assert fast.returncode == 0, fast.stderr
    assert plain.returncode == 0, plain.stderr
    fast_states, plain_states = state_values(fast), state_values(plain)
    assert len(fast_states) > 20  # per drained window, for every vendor
    assert fast_states == plain_states


def certainly_only(
    sandbox_factory: t.Callable[..., t.Any], per_day: int = 6, **extra: t.Any
) -> dict[str, t.Any]:
    """Config for one Certainly bot with ``per_day`` messages a day (``extra``: top-level keys)."""
    app = CertainlyApp(bots={"bot-a": DailyMessages("bot-a", START, END, per_day)})
    sandbox = sandbox_factory(app)
    return {
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{(END - dt.timedelta(days=1)).isoformat()}T23:59:59Z",
        "certainly": {
            "api_token": app.token,
            "bot_ids": ["bot-a"],
            "api_url": f"{sandbox.url}/certainly/api/",
        },
        **extra,
    }


def deselect(catalog: dict[str, t.Any], stream: str, prop: str) -> dict[str, t.Any]:
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] != stream:
            continue
        for item in entry["metadata"]:
            if item["breadcrumb"] == ["properties", prop]:
                item["metadata"]["selected"] = False
    return catalog


def test_stream_maps_flattening_and_deselected_properties_work_on_the_fast_path(sandbox_factory):
    """The fast loop steps aside for the SDK's when a user maps, flattens or deselects:
    the maps are applied and the output equals the plain SDK path's."""
    extra = {
        "stream_maps": {
            "certainly_messages": {"message": "__NULL__", "bot_upper": "bot_id.upper()"}
        },
        "flattening_enabled": True,
        "flattening_max_depth": 1,
    }
    discovered = run_tap(certainly_only(sandbox_factory), args=["--discover"])
    catalog = deselect(json.loads(discovered.stdout), "certainly_messages", "is_test")
    fast = run_tap(certainly_only(sandbox_factory, **extra), catalog=catalog)
    plain = run_tap(
        certainly_only(sandbox_factory, **extra), catalog=catalog, env={PLAIN_SDK_ENV: "1"}
    )
    assert fast.returncode == 0, fast.stderr
    assert plain.returncode == 0, plain.stderr
    records = fast.records("certainly_messages")
    assert len(records) == 6 * (END - START).days
    for record in records:
        assert "message" not in record  # removed by the map
        assert record["bot_upper"] == "BOT-A"  # added by the map
        assert "bot_module__id" in record and "bot_module" not in record  # flattened
        assert "is_test" not in record  # deselected
    assert not same_json(records, plain.records("certainly_messages"))
    assert bookmarks(fast) == bookmarks(plain)


@given(
    st.dictionaries(st.text(max_size=5), json_values, max_size=5),
    st.none() | st.integers(min_value=0),
    st.text(max_size=8),
    st.datetimes(timezones=st.just(dt.UTC)),
)
def test_encoded_pages_are_framed_into_the_bytes_the_dict_path_writes(
    record, version, stream, extracted
):
    """A record encoded in a fetch lane and framed by the loop gives the very RECORD line the
    loop writes when it encodes the message with the record (keys in the same order)."""
    from tap_chatbot_reports.fastpath import BufferedMsgSpecWriter
    from tap_chatbot_reports.recordloop import _ENCODER, _frame

    message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": None}
    if version is not None:
        message["version"] = version
    message["time_extracted"] = extracted
    writer = BufferedMsgSpecWriter()
    writer.write_framed(_frame(message), [_ENCODER.encode(record)])
    framed = bytes(writer._pending)
    writer._pending.clear()
    writer.write_record({**message, "record": record})
    assert framed == bytes(writer._pending)
    writer._pending.clear()


@given(
    st.lists(
        st.none() | st.sampled_from([f"2026-01-0{d}T00:00:00.000000+00:00" for d in range(1, 6)]),
        max_size=12,
    ),
    st.none() | st.sampled_from(["2026-01-02T00:00:00.000000+00:00", ""]),
)
def test_encoded_pages_order_and_skip_records_as_the_dict_path_does(stamps, bookmark):
    """Sorting a page by its replication key (missing values first, ties in arrival order) and
    dropping what is older than the bookmark keep the records the dict path keeps, in order."""
    from tap_chatbot_reports.recordloop import EncodedPage

    records = [{"n": n, "timestamp": stamp} for n, stamp in enumerate(stamps)]
    expected = sorted(records, key=lambda rec: rec.get("timestamp") or "")
    expected = [
        rec
        for rec in expected
        if not (bookmark and rec["timestamp"] is not None and rec["timestamp"] < bookmark)
    ]
    page = EncodedPage.encode(copy.deepcopy(records), "timestamp", sort=True).from_bookmark(
        bookmark
    )
    assert [json.loads(line) for line in page.lines] == expected
    assert page.keys == [rec["timestamp"] for rec in expected]
