"""Arbitrary JSON into every vendor's response parsers (property-based).

Each parser gets bodies shaped like its vendor's real answers with arbitrary values anywhere
(and plain arbitrary JSON). The only allowed outcomes: records that validate against the
stream's schema (after the stream's own post-processing), or a ``TapError`` with a message.
Any other exception type is a bug.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import jsonschema
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sandbox import certainly as fake_certainly
from sandbox import clevertap as fake_clevertap
from sandbox import feedbot as fake_feedbot
from sandbox import xenioo as fake_xenioo
from sandbox.jaicp_data import generate_project, public
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.tap import TapChatbotReports
from tap_chatbot_reports.vendors import certainly, feedbot, jaicp, xenioo_parse
from tap_chatbot_reports.vendors.feedbot_schemas import EXPORTS
from tap_chatbot_reports.windows import DayWindow, TimeWindow
from tests.reliability.harness import FIGURES

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "2026-01-02", "2026-01-02T03:04:05Z", "20260102", "1767225600", "NaN"])
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def like(sample: t.Any) -> st.SearchStrategy[t.Any]:
    """Bodies shaped like ``sample``: keys kept or dropped, any value possibly replaced."""
    if isinstance(sample, dict):
        return (
            st.fixed_dictionaries({}, optional={key: like(value) for key, value in sample.items()})
            | ANY_JSON
        )
    if isinstance(sample, list) and sample:
        return st.lists(like(sample[0]), max_size=3) | ANY_JSON
    return st.just(sample) | SCALARS


CONFIG = {
    "start_date": "2026-01-01T00:00:00Z",
    "end_date": "2026-01-20T00:00:00Z",
    "certainly": {"api_token": "tok-hostile", "bot_ids": ["bot-a"]},
    "clevertap": {"account_id": "ACC-1", "passcode": "pass-hostile"},
    "jaicp": {"api_token": "jaicp-hostile", "project_short_names": ["acme"]},
    "feedbot": {
        "bots": [{"bot_id": "bot-f", "function_key": "fk-hostile"}],
        "api_url_template": "https://{bot_id}.example.com",
    },
    "xenioo": {"account_api_key": "xe-hostile"},
}


@pytest.fixture(scope="module")
def streams() -> dict[str, t.Any]:
    tap = TapChatbotReports(config=CONFIG, parse_env_config=False, validate_config=True)
    return tap.streams


def check(
    stream: t.Any, parse: t.Callable[[], t.Iterable[dict[str, t.Any]]], context: t.Any
) -> None:
    """Run ``parse``: records must match the schema, or the error must be a TapError."""
    try:
        records = list(parse())
    except TapError as exc:
        assert str(exc).strip()
        FIGURES["hostile bodies refused with a clear error"] += 1
        return
    validator = jsonschema.Draft7Validator(stream.schema)
    # A stream that conforms early (Certainly) applies its conformer right after shaping each
    # row, inside get_records; post_process then leaves the row alone. Do both, as it does.
    conform = stream.conformer() if stream.conforms_early else (lambda row: row)
    for record in records:
        processed = stream.post_process(conform(dict(record)), context)
        assert processed is not None
        errors = sorted(validator.iter_errors(processed), key=str)
        assert not errors, f"{stream.name}: {errors[0].message} in {processed!r}"
    FIGURES["hostile bodies parsed into valid records"] += 1


HOSTILE = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)

CERTAINLY_SAMPLE = fake_certainly.generate_messages(
    "bot-a", dt.date(2026, 1, 1), dt.date(2026, 1, 2), 2
)


@HOSTILE
@given(payload=like(CERTAINLY_SAMPLE) | like({"results": CERTAINLY_SAMPLE}))
@example(payload=[{"id": 54587001, "response": {}}])  # found by CI: an object in a JSON-text field
def test_certainly_messages(streams: dict[str, t.Any], payload: t.Any) -> None:
    stream = streams["certainly_messages"]
    context = {"bot_id": "bot-a"}
    check(
        stream,
        lambda: [
            certainly.normalise_message(r, "bot-a", 1) for r in certainly.extract_rows(payload)
        ],
        context,
    )


_CT = fake_clevertap.generate_messages(dt.date(2026, 1, 1), dt.date(2026, 1, 4), 1, seed=3)
CLEVERTAP_SAMPLE = {
    "status": "success",
    "total_results": 1,
    "messages": [
        {**_CT[0].public(), "data": [[{"date": 20260102, "sent": 5, "viewed": 2, "clicked": 1}]]},
        {**_CT[1].public(), "data": {"20260103": [{"sent": 5, "viewed": 2, "clicked": 1}]}},
    ],
}


@HOSTILE
@given(payload=like(CLEVERTAP_SAMPLE), daily=st.booleans())
def test_clevertap_message_reports(streams: dict[str, t.Any], payload: t.Any, daily: bool) -> None:
    stream = streams["clevertap_message_reports"]
    context = {"account_id": "ACC-1"}
    window = DayWindow(dt.date(2026, 1, 1), dt.date(2026, 1, 8))
    stream.__dict__["daily"] = daily
    check(stream, lambda: stream.parse_window(payload, context, window), context)


_PROJECT = generate_project("acme", "legacy", dt.date(2026, 1, 1), dt.date(2026, 1, 2), 2)
JAICP_WINDOW = TimeWindow(
    dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
)


@HOSTILE
@given(data=st.data())
@pytest.mark.parametrize(
    ("name", "list_key", "rows"),
    [
        ("jaicp_sessions", "sessions", "sessions"),
        ("jaicp_messages", "messages", "messages"),
        ("jaicp_clients", "clients", "clients"),
    ],
)
def test_jaicp_windowed_pages(
    streams: dict[str, t.Any], data: st.DataObject, name: str, list_key: str, rows: str
) -> None:
    stream = streams[name]
    context = {"projectShortName": "acme"}
    sample = {
        "paging": {"pageNum": 0, "pageSize": 40, "totalCount": 2},
        list_key: [public(r) for r in getattr(_PROJECT, rows)[:2]],
    }
    payload = data.draw(like(sample))

    def parse() -> list[dict[str, t.Any]]:
        page = jaicp.parse_page(payload, list_key, stream.where(context))
        return stream.window_records(page.items, JAICP_WINDOW, context)

    check(stream, parse, context)


@HOSTILE
@given(data=st.data())
@pytest.mark.parametrize("name", ["jaicp_message_labels", "jaicp_experiments"])
def test_jaicp_reference_lists(streams: dict[str, t.Any], data: st.DataObject, name: str) -> None:
    stream = streams[name]
    context = {"projectShortName": "acme"} if name == "jaicp_experiments" else None
    sample = (
        [public(e) for e in _PROJECT.experiments[:2]] or [{"key": "exp", "name": "E"}]
        if name == "jaicp_experiments"
        else [{"id": 1, "name": "Label", "groupId": 2, "groupName": "G"}]
    )
    payload = data.draw(like(sample))
    check(stream, lambda: stream.parse_list(payload, context), context)


@HOSTILE
@given(data=st.data())
@pytest.mark.parametrize("name", ["jaicp_message_stats", "jaicp_session_stats"])
def test_jaicp_daily_stats(streams: dict[str, t.Any], data: st.DataObject, name: str) -> None:
    stream = streams[name]
    context = {"projectShortName": "acme"}
    sample = {"stats": [{"date": "2026-01-02", "count": 4}, {"time": 1767312000000, "value": 2}]}
    payload = data.draw(like(sample))
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    check(
        stream,
        lambda: stream.parse_stats(payload, context, start, start + dt.timedelta(days=3)),
        context,
    )


_FB = fake_feedbot.generate_bot("bot-f", "k", dt.date(2026, 1, 1), dt.date(2026, 1, 3), per_day=3)


@HOSTILE
@given(data=st.data())
@pytest.mark.parametrize("export", [e.path for e in EXPORTS])
def test_feedbot_exports(streams: dict[str, t.Any], data: st.DataObject, export: str) -> None:
    spec = next(e for e in EXPORTS if e.path == export)
    stream = streams[spec.stream]
    context = {"bot_id": "bot-f"}
    sample = _FB.exports.get(export)[:2] or [{"timestamp": 1767225600, "userId": "u1"}]
    payload = data.draw(like(sample))
    window = TimeWindow(
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    )

    def parse() -> list[dict[str, t.Any]]:
        rows = feedbot.extract_rows(payload, "bot-f", spec)
        return stream.records_in_window(rows, "bot-f", window)

    check(stream, parse, context)


_XE_BOT = fake_xenioo.Bot("k1", "s1", "Bot One")
_XE_EVENTS, _XE_RECEIPTS = fake_xenioo.generate_events(
    [_XE_BOT], dt.date.today() - dt.timedelta(days=1), dt.date.today(), per_day=19, seed=1
)
_XE_APP = fake_xenioo.XeniooApp(bots=[_XE_BOT], events=_XE_EVENTS, receipts=_XE_RECEIPTS)


@HOSTILE
@given(data=st.data())
@pytest.mark.parametrize(
    ("name", "level", "typed"),
    [
        ("xenioo_account_statistics", "account", True),
        ("xenioo_bot_statistics", "bot", True),
        ("xenioo_delivery_statistics", "account", False),
    ],
)
def test_xenioo_statistics(
    streams: dict[str, t.Any], data: st.DataObject, name: str, level: str, typed: bool
) -> None:
    stream = streams[name]
    events = _XE_EVENTS if typed else _XE_RECEIPTS
    sample = _XE_APP.aggregate(events, {"k1"}, None, "day", 2)[:2]
    payload = data.draw(like(sample))
    group_mode = data.draw(st.sampled_from(["hour", "day", "month", "year"]))

    def parse() -> list[dict[str, t.Any]]:
        rows = xenioo_parse.extract_rows(payload, f"an array of statistics ({name})")
        return [
            xenioo_parse.normalise_row(
                row,
                level=level,
                api_key="*",
                group_mode=group_mode,
                days=2,
                types=list(range(18)) if typed else None,
                retrieved_at="2026-01-02T00:00:00.000000+00:00",
            )
            for row in rows
        ]

    check(stream, parse, None)


@HOSTILE
@given(
    payload=like({"Token": "abc", "Expires": 60})
    | like({"token": "abc", "expires": "2026-01-02T00:00:00Z"})
)
def test_xenioo_token_exchange(payload: t.Any) -> None:
    try:
        token = xenioo_parse.parse_token_response(payload, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    except TapError as exc:
        assert str(exc).strip()
        return
    assert isinstance(token.value, str) and token.value
    assert token.expires_at.tzinfo is not None
