"""JAICP pure logic: paging, filter bodies, row normalisation, config checks."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.vendors import jaicp
from tap_chatbot_reports.vendors.jaicp import (
    Page,
    PageSizeCappedError,
    WindowChangedError,
    check_config,
    format_api_time,
    normalise_row,
    parse_page,
    range_filter,
    read_pages,
)
from tap_chatbot_reports.vendors.jaicp_schemas import MESSAGE_SCHEMA

SPEC_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
aware = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


@given(aware)
def test_api_time_has_the_spec_format_and_keeps_milliseconds(value: dt.datetime) -> None:
    text = format_api_time(value)
    assert SPEC_FORMAT.match(text)
    parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert dt.timedelta(0) <= value - parsed < dt.timedelta(milliseconds=1)


def test_range_filter_is_one_date_time_range() -> None:
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    body = range_filter("MESSAGE_TIME", start, start + dt.timedelta(days=1))
    assert body == {
        "filters": [
            {
                "key": "MESSAGE_TIME",
                "type": "DATE_TIME_RANGE",
                "from": "2024-03-01T00:00:00.000Z",
                "to": "2024-03-02T00:00:00.000Z",
            }
        ]
    }


def _server(
    rows: list[dict[str, t.Any]], *, repeat: bool = False, cap: int | None = None
) -> tuple[t.Callable[[int, int], Page], list[int]]:
    calls: list[int] = []

    def fetch(page: int, size: int) -> Page:
        calls.append(page)
        served = min(size, cap or size)
        offset = 0 if repeat else page * served
        return Page(rows[offset : offset + served], len(rows), served)

    return fetch, calls


@settings(max_examples=200)
@given(st.integers(0, 60), st.integers(1, 25))
def test_every_row_is_read_once_with_the_fewest_pages(count: int, size: int) -> None:
    rows = [{"id": n} for n in range(count)]
    fetch, calls = _server(rows)
    result = read_pages(fetch, size, lambda r: r["id"])
    assert result.rows == rows
    assert calls == list(range(max(1, -(-count // size))))


@given(st.integers(2, 60), st.integers(1, 10))
def test_a_server_that_ignores_page_does_not_loop(count: int, size: int) -> None:
    rows = [{"id": n} for n in range(count)]
    fetch, calls = _server(rows, repeat=True)
    result = read_pages(fetch, size, lambda r: r["id"])
    assert result.rows == rows[:size]
    if count > size:
        assert result.stopped == "repeat"
        assert calls == [0, 1]


def test_an_empty_page_stops_paging_before_total_count() -> None:
    pages = {0: [{"id": 1}, {"id": 2}], 1: []}
    result = read_pages(lambda page, size: Page(pages[page], 9, size), 2, lambda r: r["id"])
    assert (result.rows, result.stopped, result.total) == ([{"id": 1}, {"id": 2}], "empty", 9)


def test_a_total_count_change_while_paging_is_reported() -> None:
    totals = iter([4, 5])
    with pytest.raises(WindowChangedError):
        read_pages(lambda page, size: Page([{"id": page}], next(totals), 1), 1, lambda r: r["id"])


def test_a_capped_page_size_is_reported_instead_of_skipping_rows() -> None:
    fetch, _ = _server([{"id": n} for n in range(30)], cap=10)
    with pytest.raises(PageSizeCappedError) as info:
        read_pages(fetch, 25, lambda r: r["id"])
    assert info.value.size == 10


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=10,
)


@given(
    json_values
    | st.fixed_dictionaries({"paging": json_values, "sessions": json_values})
    | st.fixed_dictionaries(
        {"paging": st.fixed_dictionaries({"totalCount": json_values}), "sessions": json_values}
    )
)
def test_a_hostile_body_gives_a_tap_error_or_a_valid_page(payload: t.Any) -> None:
    try:
        page = parse_page(payload, "sessions", "JAICP stream jaicp_sessions (-)")
    except TapError as exc:
        assert str(exc).startswith("JAICP stream jaicp_sessions (-): ")
        assert "\n" not in str(exc)
        return
    assert isinstance(page.total, int) and page.total >= 0
    assert all(isinstance(item, dict) for item in page.items)


def _message(**changes: t.Any) -> dict[str, t.Any]:
    row = {
        "sessionId": "s1",
        "projectShortName": "p",
        "channelType": "telegram",
        "botId": "b",
        "client": {"id": 7},
        "sessionStartTime": "2024-03-01T10:00:00.000Z",
        "timestamp": "2024-03-01T10:00:01.5+03:00",
        "questionId": 12345,
        "isLivechat": False,
        "somethingNew": {"a": 1},
    }
    row.update(changes)
    return row


def test_a_row_is_normalised_and_undocumented_fields_are_kept() -> None:
    record = normalise_row(
        _message(), MESSAGE_SCHEMA, ("timestamp", "sessionStartTime"), ("questionId",), "w"
    )
    assert record["timestamp"] == "2024-03-01T07:00:01.500000+00:00"
    assert record["sessionStartTime"] == "2024-03-01T10:00:00.000000+00:00"
    assert record["questionId"] == "12345"
    assert record["client"] == {"id": "7"}
    assert record["extra_fields"] == {"somethingNew": {"a": 1}}


@given(st.text(max_size=12) | st.integers(-(10**20), 10**20) | st.booleans() | st.floats())
def test_an_unreadable_timestamp_is_one_clear_error(value: t.Any) -> None:
    try:
        record = normalise_row(_message(timestamp=value), MESSAGE_SCHEMA, ("timestamp",), (), "w")
    except TapError as exc:
        assert str(exc).startswith("w: timestamp cannot be read as a date-time")
        return
    assert record["timestamp"] is None or re.match(r"^\d{4}-\d\d-\d\dT", record["timestamp"])


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"api_token": "x" * 8}, []),
        (
            {"api_token": "x" * 8, "api_version": "legacy", "project_short_names": ["a"]},
            ["jaicp.project_short_names: only used with api_version v1"],
        ),
        (
            {"api_token": "x" * 8, "project_short_names": ["a", "b", "a"]},
            ["jaicp.project_short_names: duplicated project(s): a"],
        ),
        ({"api_token": " tok "}, ["jaicp.api_token: empty or surrounded by spaces"]),
        ({"api_token": "tok1", "api_url": "app.jaicp.com"}, ["jaicp.api_url: must start with"]),
    ],
)
def test_config_problems_name_the_setting(section: dict[str, t.Any], expected: list[str]) -> None:
    problems = check_config(section)
    assert len(problems) == len(expected)
    for problem, prefix in zip(problems, expected, strict=True):
        assert problem.startswith(prefix)


def test_streams_are_read_only_endpoints() -> None:
    names = {cls.name for cls in jaicp.STREAMS}
    assert names == {
        "jaicp_sessions",
        "jaicp_messages",
        "jaicp_clients",
        "jaicp_session_labels",
        "jaicp_message_labels",
        "jaicp_experiments",
        "jaicp_message_stats",
        "jaicp_session_stats",
    }
    for cls in jaicp.STREAMS:
        assert "reports" not in cls.endpoint and "async" not in cls.endpoint
        assert cls.path == cls.name  # a label: never a real URL path
