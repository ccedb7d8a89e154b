"""CleverTap pure logic: key normalisation, days, response shapes, fail envelopes, request body,
region table and config checks."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_chatbot_reports.vendors.clevertap import (
    REGION_HOSTS,
    api_root,
    check_config,
    request_body,
)
from tap_chatbot_reports.vendors.clevertap_parse import (
    ShapeError,
    classify_data,
    compact_day,
    extract_messages,
    fail_info,
    is_retriable_code,
    message_rows,
    normalise_key,
    parse_day,
)
from tap_chatbot_reports.windows import DayWindow

DAY = dt.date(2026, 3, 9)
DOCUMENTED_EXAMPLE = {
    "status": "success",
    "total_results": 1,
    "messages": [
        {
            "message id": 1508323121,
            "data": [[{"sent": 0, "viewed": 0, "clicked": 0}]],
            "start_date": "Oct 18, 4:08 PM",
            "device": ["Android", "iOS", "WindowsMobile"],
            "conversion_event": None,
            "labels": [],
            "status": "completed",
            "channel": "InApp",
            "message_name": "in_app_outputs_test",
            "delivery": "Action",
        }
    ],
}


def rows(message: t.Any, first: dt.date, last: dt.date, daily: bool) -> list[dict[str, t.Any]]:
    return message_rows(
        message, account_id="acc", window_start=first, window_last_day=last, daily=daily
    )


# ---------------------------------------------------------------------- keys and days


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("message id", "message_id"),
        ("message_id", "message_id"),
        ("messageName", "message_name"),
        ("Created By", "created_by"),
        ("  total  results ", "total_results"),
        ("%%", "_"),
    ],
)
def test_normalise_key_examples(raw: str, expected: str) -> None:
    assert normalise_key(raw) == expected


@given(st.text(max_size=40))
def test_normalise_key_gives_a_column_name_and_is_idempotent(raw: str) -> None:
    key = normalise_key(raw)
    assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*|_", key)
    assert normalise_key(key) == key


@given(st.dates(min_value=dt.date(1000, 1, 1)))
def test_day_forms_round_trip(day: dt.date) -> None:
    assert parse_day(compact_day(day)) == day
    assert parse_day(int(compact_day(day))) == day
    assert parse_day(day.isoformat()) == day


@given(st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.booleans(), st.none()))
def test_parse_day_accepts_a_day_or_raises_shape_error(value: t.Any) -> None:
    try:
        day = parse_day(value)
    except ShapeError:
        return
    assert compact_day(day) == str(value).strip().replace("-", "")


# ---------------------------------------------------------------------- envelopes


def test_fail_envelope_is_recognised_with_code_and_text() -> None:
    assert fail_info({"status": "fail", "error": "Invalid Credentials", "code": 401}) == (
        401,
        "Invalid Credentials",
    )
    assert fail_info({"status": "fail", "error": "x", "code": "503"}) == (503, "x")
    assert fail_info({"status": "fail"}) == (None, "no error text")
    assert fail_info(DOCUMENTED_EXAMPLE) is None
    assert fail_info([1, 2]) is None


@pytest.mark.parametrize(
    ("code", "retriable"),
    [(429, True), (500, True), (503, True), (599, True), (401, False), (400, False), (None, False)],
)
def test_only_429_and_5xx_fail_codes_are_retriable(code: int | None, retriable: bool) -> None:
    assert is_retriable_code(code) is retriable


def test_documented_example_gives_one_aggregate_row() -> None:
    messages, total = extract_messages(DOCUMENTED_EXAMPLE)
    assert total == 1
    [row] = rows(messages[0], DAY, DAY + dt.timedelta(days=13), daily=False)
    assert row["message_id"] == "1508323121"
    assert row["report_date"] is None
    assert (row["sent"], row["viewed"], row["clicked"]) == (0, 0, 0)
    assert row["channel"] == "InApp"
    assert row["device"] == ["Android", "iOS", "WindowsMobile"]
    assert row["start_date"] == "Oct 18, 4:08 PM"
    assert (row["window_from"], row["window_to"]) == ("2026-03-09", "2026-03-22")
    assert "extra_fields" not in row


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "ok",
        {"status": "success", "messages": {"a": 1}},
        {"status": "success", "total_results": 3},
        {"status": "pending", "messages": []},
    ],
)
def test_envelopes_that_cannot_be_read_raise_shape_error(payload: t.Any) -> None:
    with pytest.raises(ShapeError):
        extract_messages(payload)


def test_empty_result_without_messages_key_is_empty() -> None:
    assert extract_messages({"status": "success", "total_results": 0}) == ([], 0)


# ---------------------------------------------------------------------- data shapes


def message(data: t.Any, **extra: t.Any) -> dict[str, t.Any]:
    return {"message id": 42, "message_name": "m", "channel": "Push", "data": data, **extra}


def test_dated_daily_shape_gives_one_row_per_day_with_variants_summed() -> None:
    data = [
        [
            {"date": 20260309, "sent": 10, "viewed": 5, "clicked": 1},
            {"date": 20260310, "sent": 4, "viewed": 2, "clicked": 0},
        ],
        [{"date": "20260309", "sent": 6, "viewed": 1, "clicked": 1, "delivered": 6}],
    ]
    out = rows(message(data), DAY, DAY + dt.timedelta(days=6), daily=True)
    assert [(r["report_date"], r["sent"], r["viewed"], r["clicked"]) for r in out] == [
        ("2026-03-09", 16, 6, 2),
        ("2026-03-10", 4, 2, 0),
    ]
    assert out[0]["metrics"] == {"sent": 16, "viewed": 6, "clicked": 2, "delivered": 6}
    assert len(out[0]["data"]) == 2


def test_keyed_daily_shape_gives_the_same_rows_as_the_dated_shape() -> None:
    dated = [[{"date": 20260309, "sent": 3, "viewed": 2, "clicked": 1}]]
    keyed = {"20260309": [{"sent": 3, "viewed": 2, "clicked": 1}]}
    window = (DAY, DAY + dt.timedelta(days=2))
    strip = ("data",)
    a = [
        {k: v for k, v in r.items() if k not in strip} for r in rows(message(dated), *window, True)
    ]
    b = [
        {k: v for k, v in r.items() if k not in strip} for r in rows(message(keyed), *window, True)
    ]
    assert a == b
    assert a[0]["report_date"] == "2026-03-09"


@pytest.mark.parametrize("last", [DAY, DAY + dt.timedelta(days=1)])
def test_aggregate_shape_in_a_daily_request_is_a_clear_error(last: dt.date) -> None:
    with pytest.raises(ShapeError, match=r"message 42: data without days .*clevertap\.daily"):
        rows(message([[{"sent": 7, "viewed": 1, "clicked": 0}]]), DAY, last, daily=True)


def test_per_day_data_in_an_aggregate_request_is_an_error() -> None:
    with pytest.raises(ShapeError, match=r"clevertap\.daily"):
        rows(message([[{"date": 20260309, "sent": 1}]]), DAY, DAY, daily=False)


@pytest.mark.parametrize(
    "data",
    [
        [[{"date": 20260309, "sent": 1}, {"sent": 2}]],  # dated and undated mixed
        [[1, 2, 3]],  # numbers where count objects belong
        {"Monday": {"sent": 1}},  # keys that are not days
        [[{"date": "yesterday", "sent": 1}]],
        {"20260309": [{"date": 20260310, "sent": 1}]},  # key and entry disagree
    ],
)
def test_uninterpretable_data_raises_shape_error(data: t.Any) -> None:
    with pytest.raises(ShapeError):
        rows(message(data), DAY, DAY + dt.timedelta(days=3), daily=True)


def test_message_without_activity_has_no_daily_rows_but_an_aggregate_row() -> None:
    assert rows(message([]), DAY, DAY + dt.timedelta(days=3), daily=True) == []
    [row] = rows(message(None), DAY, DAY, daily=False)
    assert row["sent"] is None


def test_undocumented_keys_are_normalised_and_kept() -> None:
    raw = message([[{"sent": 1}]], **{"created by": "ops", "Message Type": "ab"})
    [row] = rows(raw, DAY, DAY, daily=False)
    assert row["extra_fields"] == {"created_by": "ops", "message_type": "ab"}


def test_typed_field_of_the_wrong_kind_is_an_error() -> None:
    with pytest.raises(ShapeError, match="'channel' is list"):
        rows(message([], channel=["Push"]), DAY, DAY, daily=False)
    with pytest.raises(ShapeError, match="no 'message id'"):
        rows({"data": []}, DAY, DAY, daily=False)


def test_classify_data_kinds() -> None:
    assert classify_data(None).kind == "empty"
    assert classify_data({"sent": 1}).kind == "aggregate"
    assert classify_data({"20260309": {"sent": 1}}).by_day == {DAY: [{"sent": 1}]}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["date", "sent", "viewed", "20260309", "message id", "x", "labels"])
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(JSON, st.booleans(), st.integers(min_value=0, max_value=3))
def test_hostile_bodies_give_rows_or_a_shape_error(payload: t.Any, daily: bool, span: int) -> None:
    body = {"status": "success", "messages": [payload, {"message id": 1, "data": payload}]}
    try:
        messages, _total = extract_messages(body)
        for item in messages:
            for row in rows(item, DAY, DAY + dt.timedelta(days=span), daily):
                assert row["message_id"]
                assert isinstance(row["metrics"], dict)
    except ShapeError as exc:
        assert "\n" not in str(exc)


# ---------------------------------------------------------------------- request and config


def test_request_body_dates_filters_and_daily() -> None:
    section = {
        "daily": False,
        "channels": ["push", "InApp"],
        "deliveries": ["action"],
        "statuses": ["completed"],
        "message_types": ["single"],
        "labels": ["Onboarding"],
    }
    window = DayWindow(dt.date(2026, 1, 1), dt.date(2026, 1, 15))
    assert request_body(section, window) == {
        "from": "20260101",
        "to": "20260114",
        "daily": False,
        "channel": ["push", "InApp"],
        "delivery": ["action"],
        "status": ["completed"],
        "message_type": ["single"],
        "label": ["Onboarding"],
    }
    # day-wise: `to` is the day after the window, so an exclusive reading loses no day (an
    # inclusive one returns a day more, dropped by the stream); aggregate: the last day
    assert request_body({}, window) == {"from": "20260101", "to": "20260115", "daily": True}


@pytest.mark.parametrize(
    ("region", "host"),
    [
        (None, "https://api.clevertap.com"),
        ("eu1", "https://api.clevertap.com"),
        ("in1", "https://in1.api.clevertap.com"),
        ("sg1", "https://sg1.api.clevertap.com"),
        ("us1", "https://us1.api.clevertap.com"),
        ("aps3", "https://aps3.api.clevertap.com"),
        ("mec1", "https://mec1.api.clevertap.com"),
    ],
)
def test_region_maps_to_the_documented_host(region: str | None, host: str) -> None:
    assert api_root({"region": region} if region else {}) == host


def test_api_url_overrides_region() -> None:
    assert set(REGION_HOSTS) == {"eu1", "in1", "sg1", "us1", "aps3", "mec1"}
    assert api_root({"region": "in1", "api_url": "http://x:1/ct/"}) == "http://x:1/ct"


def test_check_config_filters_accept_documented_values_case_insensitively() -> None:
    assert check_config({"channels": ["InApp", "push"], "labels": ["anything at all"]}) == []


def test_check_config_names_unknown_filter_values_and_allows_extensions() -> None:
    [problem] = check_config({"channels": ["push", "whatsapp"], "statuses": ["completed"]})
    assert problem.startswith("clevertap.channels: unknown value(s) whatsapp")
    assert "clevertap.extra_filter_values.channels" in problem
    extended = {"channels": ["whatsapp"], "extra_filter_values": {"channels": ["WhatsApp"]}}
    assert check_config(extended) == []


def test_check_config_other_problems() -> None:
    problems = check_config({"account_id": " ", "api_url": "ftp://x", "deliveries": ["soon"]})
    assert [p.split(":")[0] for p in problems] == [
        "clevertap.account_id",
        "clevertap.api_url",
        "clevertap.deliveries",
    ]


# ---------------------------------------------------------------------- in-process request


@pytest.mark.parametrize(
    ("region", "host"), [("us1", "us1.api.clevertap.com"), (None, "api.clevertap.com")]
)
def test_the_stream_posts_to_the_region_host(region: str | None, host: str) -> None:
    import requests_mock

    from tap_chatbot_reports.tap import TapChatbotReports

    section: dict[str, t.Any] = {"account_id": "ACC-1", "passcode": "pass-1234", "window_days": 3}
    if region:
        section["region"] = region
    config = {
        "start_date": "2026-03-09T00:00:00Z",
        "end_date": "2026-03-11T23:00:00Z",
        "backoff_factor": 0,
        "clevertap": section,
    }
    tap = TapChatbotReports(config=config, validate_config=True)
    stream = tap.streams["clevertap_message_reports"]
    url = f"https://{host}/1/message/report.json"
    with requests_mock.Mocker() as mock:
        mock.post(url, json=DOCUMENTED_EXAMPLE | {"messages": []})
        records = list(stream.get_records({"account_id": "ACC-1"}))
    assert records == []
    [sent] = mock.request_history
    assert sent.url == url
    assert sent.json() == {"from": "20260309", "to": "20260312", "daily": True}
    assert sent.headers["X-CleverTap-Account-Id"] == "ACC-1"
    assert sent.headers["X-CleverTap-Passcode"] == "pass-1234"
