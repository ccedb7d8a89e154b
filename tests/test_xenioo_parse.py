"""Xenioo pure logic: token responses, rows, group labels, throttle budget, config checks."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.vendors.xenioo import check_config
from tap_chatbot_reports.vendors.xenioo_parse import (
    TYPE_NAMES,
    Budget,
    derive_type,
    normalise_row,
    parse_group_label,
    parse_token_response,
    pick_api_key,
)

NOW = dt.datetime(2025, 3, 4, 10, 0, tzinfo=dt.UTC)
tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789+/=", min_size=1, max_size=60)
moments = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.just(dt.UTC)
)


# ---------------------------------------------------------------------------- tokens


@given(token=tokens, minutes=st.integers(min_value=1, max_value=24 * 60))
def test_both_documented_token_spellings_give_the_same_token(token: str, minutes: int) -> None:
    legacy = parse_token_response({"Token": token, "Expires": minutes}, NOW)
    current = parse_token_response({"token": token, "expire": str(minutes)}, NOW)
    assert legacy == current
    assert legacy.value == token
    assert legacy.expires_at == NOW + dt.timedelta(minutes=minutes)


@pytest.mark.parametrize(
    "payload",
    [{"token": "abc"}, {"Token": "abc", "Expires": None}, {"token": "abc", "expires": "soon"}],
)
def test_token_without_usable_expiry_is_taken_as_documented_60_minutes(payload: dict) -> None:
    token = parse_token_response(payload, NOW)
    assert token.expires_at == NOW + dt.timedelta(minutes=60)


def test_token_expiry_given_as_a_moment_is_used_as_is() -> None:
    token = parse_token_response({"token": "abc", "expiresAt": "2025-03-04T10:30:00Z"}, NOW)
    assert token.expires_at == NOW + dt.timedelta(minutes=30)


@pytest.mark.parametrize("payload", [{"access": "x", "Expires": 60}, {"token": ""}, [], "tok"])
def test_token_response_without_token_is_one_clear_error(payload: object) -> None:
    with pytest.raises(TapError, match=r"xenioo\.service_endpoint"):
        parse_token_response(payload, NOW)


@given(minutes=st.floats(min_value=0.01, max_value=600), elapsed=st.floats(0, 40_000))
def test_token_is_refreshed_before_it_expires_and_not_too_early(
    minutes: float, elapsed: float
) -> None:
    token = parse_token_response({"Token": "t", "Expires": minutes}, NOW)
    at = NOW + dt.timedelta(seconds=elapsed)
    if at >= token.expires_at:
        assert token.needs_refresh(at)
    margin = min(token.lifetime / 4, dt.timedelta(minutes=2))
    if at < token.expires_at - margin:
        assert not token.needs_refresh(at)


# ---------------------------------------------------------------------------- group labels

LABEL_FORMATS = {
    "minute": ["%Y-%m-%d %H:%M"],
    "hour": ["%Y-%m-%d %H:00", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H"],
    "day": ["%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%dT00:00:00"],
    "month": ["%Y-%m", "%Y/%m"],
    "year": ["%Y"],
}


def _truncate(when: dt.datetime, mode: str) -> dt.datetime:
    when = when.replace(second=0, microsecond=0)
    if mode == "minute":
        return when.replace(minute=when.minute - when.minute % 10)
    when = when.replace(minute=0)
    if mode == "hour":
        return when
    when = when.replace(hour=0)
    if mode == "day":
        return when
    when = when.replace(day=1)
    return when if mode == "month" else when.replace(month=1)


@given(when=moments, data=st.data())
def test_group_labels_parse_to_the_bucket_start(when: dt.datetime, data: st.DataObject) -> None:
    mode = data.draw(st.sampled_from(sorted(LABEL_FORMATS)))
    pattern = data.draw(st.sampled_from(LABEL_FORMATS[mode]))
    parsed = parse_group_label(when.strftime(pattern), mode)
    assert parsed == _truncate(when, mode).isoformat(timespec="microseconds")


def test_group_label_with_offset_is_converted_to_utc() -> None:
    assert parse_group_label("2025-03-04T01:00:00+02:00", "hour") == (
        "2025-03-03T23:00:00.000000+00:00"
    )


@pytest.mark.parametrize("label", ["05/01/2025", "13:00", "Monday", "", None, 2025, "2025-13"])
def test_ambiguous_or_unknown_labels_are_left_unparsed(label: object) -> None:
    assert parse_group_label(label, "day") is None


@given(label=st.one_of(st.text(max_size=50), st.integers(), st.none(), st.floats()))
def test_group_label_parser_never_raises(label: object) -> None:
    result = parse_group_label(label, "day")
    assert result is None or len(result) == len("2025-03-04T00:00:00.000000+00:00")


# ---------------------------------------------------------------------------- rows


@pytest.mark.parametrize(
    ("row", "requested", "expected"),
    [
        ({"Type": 7, "EventLabel": "greeting"}, [1, 7], 7),
        ({"TypeCode": "18"}, [18, 3], 18),
        ({"type": "Takeover Rate"}, [10, 3], 10),
        ({"EventLabel": "returning user"}, [0, 1], 1),
        ({"EventLabel": "Checkout"}, [12], 12),
        ({"EventLabel": "Checkout"}, [12, 3], None),
        ({"Type": 99, "EventLabel": "x"}, [1, 2], None),
        ({"Type": True}, [1, 2], None),
    ],
)
def test_type_code_is_derived_only_when_the_row_says_so(
    row: dict, requested: list[int], expected: int | None
) -> None:
    assert derive_type(row, requested) == expected


@given(
    row=st.dictionaries(
        st.sampled_from(["Type", "type", "TypeName", "EventLabel", "Value", "x"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.floats(), st.booleans()),
    ),
    requested=st.lists(st.integers(0, 18), min_size=1, max_size=5),
)
def test_type_derivation_never_raises_and_returns_a_documented_code(
    row: dict, requested: list[int]
) -> None:
    code = derive_type(row, requested)
    assert code is None or code in TYPE_NAMES


@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=10).filter(
            lambda k: k not in ("GroupLabel", "BotName", "ChannelName", "EventLabel")
        ),
        st.one_of(st.none(), st.integers(), st.text(max_size=10), st.lists(st.integers())),
        max_size=6,
    ),
    bot=st.one_of(
        st.none(),
        st.text(max_size=10),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.lists(st.one_of(st.integers(), st.text(max_size=3)), max_size=3),
    ),
)
def test_every_returned_field_is_kept_and_key_fields_are_strings(extra: dict, bot: object) -> None:
    """The identifying fields' names are documented, not their types: a value that is not a
    string is keyed by its JSON text and also kept, as it came, in extra_fields."""
    raw = {"GroupLabel": "2025-03-01", "BotName": bot, **extra}
    record = normalise_row(
        raw,
        level="account",
        api_key="*",
        group_mode="day",
        days=30,
        types=[3],
        retrieved_at="2025-03-04T10:00:00.000000+00:00",
    )
    kept_whole = bot is not None and not isinstance(bot, str)
    assert record["extra_fields"] == {**extra, **({"BotName": bot} if kept_whole else {})}
    for key in ("GroupLabel", "BotName", "ChannelName", "EventLabel"):
        assert isinstance(record[key], str)
    if bot is None or isinstance(bot, str):
        assert record["BotName"] == ("" if bot is None else bot)
    elif isinstance(bot, float) and bot.is_integer():
        assert record["BotName"] == str(int(bot))
    else:
        assert json.loads(record["BotName"]) == bot
    assert record["period_start"] == "2025-03-01T00:00:00.000000+00:00"
    assert record["type_code"] == 3 and record["type_name"] == "Messages"


def test_a_row_that_is_not_an_object_is_one_clear_error() -> None:
    with pytest.raises(TapError, match="not an object"):
        normalise_row(
            ["x"], level="bot", api_key="k", group_mode="day", days=1, types=None, retrieved_at=""
        )


# ---------------------------------------------------------------------------- throttle budget


@given(
    last=moments,
    window_minutes=st.integers(1, 120),
    grace_seconds=st.integers(0, 600),
    offset=st.integers(-10_000, 10_000),
)
def test_budget_allows_a_call_exactly_when_the_window_has_closed(
    last: dt.datetime, window_minutes: int, grace_seconds: int, offset: int
) -> None:
    window = dt.timedelta(minutes=window_minutes)
    grace = dt.timedelta(seconds=grace_seconds)
    now = last + window + dt.timedelta(seconds=offset)
    assert Budget(last, None).allows(now, window, grace) == (offset >= -grace_seconds)
    assert Budget(None, None).allows(now, window, grace)
    # A throttle answer later than the last call pushes the next call back.
    later = Budget(last, last + dt.timedelta(minutes=5))
    assert later.next_allowed(window) == last + dt.timedelta(minutes=5) + window


def test_api_keys_rotate_least_recently_called_first() -> None:
    keys = ["a", "b", "c"]
    assert pick_api_key(keys, {}) == "a"
    assert pick_api_key(keys, {"a": "2025-03-04T09:00:00+00:00"}) == "b"
    calls = {"a": "2025-03-04T09:00:00+00:00", "b": "2025-03-04T08:00:00+00:00", "c": "junk"}
    assert pick_api_key(keys, calls) == "c"
    calls["c"] = "2025-03-04T09:30:00+00:00"
    assert pick_api_key(keys, calls) == "b"


# ---------------------------------------------------------------------------- config


def test_config_checks_name_the_setting() -> None:
    problems = check_config(
        {
            "account_api_key": "k",
            "bot_api_keys": ["*", "b1"],
            "types": [1, 1],
            "bots": [{"api_key": "x", "api_secret": "s"}, {"api_key": "x", "api_secret": "t"}],
            "bot_statistics_path": "/analytics/{types}/{group}",
        }
    )
    assert "xenioo.bot_api_keys: `*` already covers every bot; list either `*` or api keys" in (
        problems
    )
    assert "xenioo.types: duplicated value(s): 1" in problems
    assert "xenioo.bots: duplicated api_key(s): x" in problems
    assert any(p.startswith("xenioo.bot_statistics_path: unknown placeholder") for p in problems)
    assert any(p.startswith("xenioo.bot_statistics_path: missing placeholder") for p in problems)
    assert check_config({"account_api_key": "k"}) == []
