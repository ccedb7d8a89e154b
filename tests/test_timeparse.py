"""Timestamp normalisation: one sortable form whatever the vendor sends."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_chatbot_reports.timeparse import format_timestamp, normalise_timestamp, parse_timestamp

moments = st.datetimes(
    min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)


@given(moments)
def test_seconds_milliseconds_and_iso_agree(moment):
    seconds = int(moment.timestamp())
    whole = moment.replace(microsecond=0)
    assert parse_timestamp(seconds) == whole
    assert parse_timestamp(seconds * 1000) == whole
    assert parse_timestamp(str(seconds)) == whole
    assert parse_timestamp(whole.isoformat()) == whole
    assert parse_timestamp(whole.strftime("%Y-%m-%dT%H:%M:%SZ")) == whole


@given(moments, moments)
def test_string_order_is_time_order(a, b):
    assert (format_timestamp(a) < format_timestamp(b)) == (a < b)


def test_offsets_are_converted_to_utc():
    assert normalise_timestamp("2026-05-01T12:00:00+02:00") == "2026-05-01T10:00:00.000000+00:00"
    assert normalise_timestamp("2026-05-01 12:00:00") == "2026-05-01T12:00:00.000000+00:00"


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", True, [1], {"a": 1}, float("nan")])
def test_uninterpretable_values_raise_value_error(bad):
    with pytest.raises(ValueError):
        parse_timestamp(bad)


@given(st.text(max_size=40))
def test_arbitrary_text_never_raises_another_exception_type(text):
    with contextlib.suppress(ValueError):
        parse_timestamp(text)


def test_empty_is_none():
    assert parse_timestamp(None) is None and parse_timestamp("") is None
