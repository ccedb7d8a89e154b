"""Feedbot pure logic: window planning, request parameters, value coercion, record shaping,
row keys, hostile bodies and config checks (property tests where the input space is large)."""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.feedbot import TIME_FORMS, render_time
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.schema_types import apply_json_text, json_text_paths, to_json_text
from tap_chatbot_reports.vendors.feedbot import (
    extract_rows,
    plan_windows,
    user_data_params,
    where_param,
    window_params,
)
from tap_chatbot_reports.vendors.feedbot_schemas import (
    EXPORTS,
    FAIL,
    KINDS,
    coerce,
    export_schema,
    kind_schema,
    row_key,
    shape_row,
)
from tap_chatbot_reports.vendors.feedbot_settings import check_config

BY_PATH = {e.path: e for e in EXPORTS}
UTC_MOMENTS = st.datetimes(
    min_value=dt.datetime(2019, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=st.just(dt.UTC)
)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["12", "-3", "1.5", "true", "FALSE", "2026-03-01T10:00:00Z", "1772323200"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELD_NAMES = st.from_regex(r"[a-z][A-Za-z0-9]{0,12}", fullmatch=True)


# ---------------------------------------------------------------------- windows


@given(UTC_MOMENTS, st.integers(0, 40 * 86_400), st.integers(1, 31))
def test_windows_cover_the_range_in_days_cut_at_midnight(start, seconds, days):
    end = start + dt.timedelta(seconds=seconds)
    windows = plan_windows(start, end, days)
    if start == end:
        assert windows == []
        return
    assert windows[0].start == start and windows[-1].end == end
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start  # contiguous, no overlap, no gap
        assert before.end.time() == dt.time(0)  # interior edges are UTC midnights
    for window in windows:
        assert dt.timedelta(0) < window.end - window.start <= dt.timedelta(days=days)


@given(UTC_MOMENTS, st.integers(1, 3 * 86_400 * 1_000_000))
def test_window_params_are_whole_seconds_covering_the_window(start, micros):
    window = plan_windows(start, start + dt.timedelta(microseconds=micros), 31)[0]
    params = window_params(window)
    assert all(isinstance(v, int) for v in params.values())
    # Whatever the inclusivity of the bounds, every moment of [start, end) is asked for.
    assert params["fromTimestamp"] < window.start.timestamp()
    assert params["toTimestamp"] >= window.end.timestamp()
    width = (window.end - window.start).total_seconds()
    assert params["toTimestamp"] - params["fromTimestamp"] < width + 3  # one spare second


def test_window_params_of_one_day():
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    (window,) = plan_windows(start, start + dt.timedelta(days=1), 1)
    assert window_params(window) == {"fromTimestamp": 1772323199, "toTimestamp": 1772409600}


# ---------------------------------------------------------------------- user-data parameters


@given(FIELD_NAMES)
def test_where_param_is_the_documented_spelling_and_reversible(field):
    param = where_param(field)
    assert param.startswith("where") and param[5].isupper()
    assert param[5].lower() + param[6:] == field  # how the sandbox (and the API) reads it back


def test_user_data_params_documented_example():
    params = user_data_params(
        {"user_data_not_empty": ["phone", "email"], "user_data_where": {"gender": "male"}}
    )
    assert params == {"notEmpty": "phone,email", "whereGender": "male"}
    assert user_data_params({}) == {}


# ---------------------------------------------------------------------- coercion and shaping


@given(JSON_VALUES, st.sampled_from(KINDS))
def test_coerce_yields_a_valid_value_or_fails(value, kind):
    result = coerce(value, kind)
    if result is FAIL:
        assert value is not None
        return
    if result is not None:  # every column is nullable
        emitted = to_json_text(result) if kind == "json" else result  # as the base stream does
        jsonschema.validate(emitted, kind_schema(kind).type_dict)
    assert coerce(result, kind) == result  # idempotent: a second pass changes nothing


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("12", "integer", 12),
        (12.0, "integer", 12),
        ("12.5", "integer", FAIL),
        ("unknown", "integer", FAIL),
        (True, "integer", FAIL),
        ("true", "boolean", True),
        (1, "boolean", True),
        ("yes", "boolean", FAIL),
        (7, "string", "7"),
        ({"a": 1}, "string", FAIL),
        (1772323200, "date-time", "2026-03-01T00:00:00.000000+00:00"),
        (1772323200123, "date-time", "2026-03-01T00:00:00.123000+00:00"),
        ("2026-03-01T02:00:00+02:00", "date-time", "2026-03-01T00:00:00.000000+00:00"),
        ("yesterday", "date-time", FAIL),
    ],
)
def test_coerce_examples(value, kind, expected):
    assert coerce(value, kind) == expected


@given(
    st.datetimes(
        min_value=dt.datetime(2019, 1, 1),
        max_value=dt.datetime(2035, 1, 1),
        timezones=st.just(dt.UTC),
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, second=0))
)
def test_every_timestamp_form_the_api_may_send_normalises_alike(when):
    when = when.replace(microsecond=0)  # epoch seconds carry whole seconds only
    forms = {coerce(render_time(when, form), "date-time") for form in TIME_FORMS}
    assert forms == {when.isoformat(timespec="microseconds")}
    assert len({str(render_time(when, form)) for form in TIME_FORMS}) == len(TIME_FORMS)


@given(
    st.sampled_from(EXPORTS),
    st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=8),
    st.dictionaries(FIELD_NAMES, st.sampled_from(KINDS), max_size=3),
)
def test_shaping_never_drops_a_field(export, raw, columns):
    raw = {**raw, "userId": raw.get("userId") or "u1"}
    columns = {k: v for k, v in columns.items() if k not in ("userId", "timestamp", "storages")}
    shaped = shape_row(raw, export, "bot-1", columns)
    record = shaped.record
    catch_all = record.get("storages" if export.user_data else "extra_fields") or {}
    typed = dict(export.fields) | (columns if export.user_data else {})
    for key, value in raw.items():
        if key in typed:
            kind = typed[key]
            if key in shaped.misfits:
                assert record[key] is None and catch_all[key] == value
            else:
                assert record[key] == coerce(value, kind)
                converted = coerce(value, kind)
                same = converted.__class__ is value.__class__ and converted == value
                if same or kind == "json" or key == "timestamp":
                    assert key not in catch_all  # in the column as it came (or its JSON text)
                else:
                    assert catch_all[key] == value  # converted, and kept as it came
        else:
            assert catch_all[key] == value
    assert record["bot_id"] == "bot-1"
    schema = export_schema(export, columns)
    for path in json_text_paths(schema):  # what VendorStream.post_process does before emitting
        apply_json_text(record, path)
    jsonschema.validate(record, schema)


def test_user_data_row_without_user_id_is_a_clear_error():
    with pytest.raises(TapError, match="bot-1: export userData returned a user without userId"):
        shape_row({"timestamp": 1}, BY_PATH["userData"], "bot-1")


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_row_key_ignores_key_order(raw):
    reordered = dict(reversed(list(raw.items())))
    assert row_key(raw) == row_key(reordered)
    assert len(row_key(raw)) == 64


def test_row_key_tells_rows_apart():
    base = {"userId": "u", "timestamp": 1772323200, "url": "https://a"}
    assert row_key(base) != row_key({**base, "url": "https://b"})


# ---------------------------------------------------------------------- hostile bodies


@given(JSON_VALUES)
def test_a_hostile_body_is_rows_or_one_clear_error(payload):
    export = BY_PATH["nlpLog"]
    try:
        rows = extract_rows(payload, "bot-1", export)
    except TapError as exc:
        assert "bot-1" in str(exc) and "nlpLog" in str(exc)
        return
    assert isinstance(rows, list)
    for row in rows:
        try:
            shape_row(row, export, "bot-1")
        except TapError as exc:
            assert "not an object" in str(exc)


# ---------------------------------------------------------------------- config checks


def section(**extra: t.Any) -> dict[str, t.Any]:
    return {"bots": [{"bot_id": "a", "function_key": "k-aaaa"}], **extra}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (section(bots=[]), "feedbot.bots: list at least one bot"),
        (
            section(bots=[{"bot_id": "a", "function_key": "k1"}] * 2),
            "feedbot.bots: duplicated bot id(s): a",
        ),
        (section(bots=[{"bot_id": "a/b", "function_key": "k"}]), "feedbot.bots[].bot_id: 'a/b'"),
        (section(bots=[{"bot_id": "a", "function_key": " "}]), "function key is empty"),
        (
            section(api_url_template="https://x-{bot_id}.example/?code=abc"),
            "feedbot.api_url_template: must not carry the function key",
        ),
        (section(api_url_template="ftp://x/{bot_id}"), "must be an http(s) URL"),
        (section(api_url_template="https://x/{bot}"), "the only placeholder is {bot_id}"),
        (
            {
                "bots": [
                    {"bot_id": "a", "function_key": "k"},
                    {"bot_id": "b", "function_key": "k"},
                ],
                "api_url_template": "https://one-host.example",
            },
            "must contain {bot_id} when several bots are configured",
        ),
        (section(user_data_columns={"userId": "string"}), "userId is already a column"),
        (section(user_data_not_empty=["a,b"]), "feedbot.user_data_not_empty: 'a,b'"),
        (section(user_data_where={"two words": "x"}), "feedbot.user_data_where: 'two words'"),
    ],
)
def test_config_problems_name_the_setting(config, message):
    problems = check_config(config)
    assert len(problems) == 1, problems
    assert message in problems[0]
    assert problems[0].startswith("feedbot.")


def test_a_good_config_has_no_problem():
    assert check_config(section()) == []
    assert (
        check_config(
            section(
                api_url_template="http://127.0.0.1:8765/feedbot/{bot_id}",
                user_data_columns={"age": "integer"},
                user_data_where={"gender": "male"},
                user_data_not_empty=["phone"],
            )
        )
        == []
    )
