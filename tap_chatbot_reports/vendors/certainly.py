"""Certainly: Message Report API (GET, at most 15 days and 500 rows per call).

Contract: shared/vendor-apis.md section 1. What is an assumption here (flagged in the README):
the default path under the API root, a JSON array as the response, dates being UTC days and
``(bot_id, id)`` as the primary key. Not assumed: whether ``toDate`` is inclusive (a request asks
for one day more until a row of its ``toDate`` shows it is, and keeps only its window's rows),
which rows a capped answer holds and in what order (see ``read_capped``), and the JSON type of any
field the document does not type (kept whole as JSON text, see ``_ANY``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t
from dataclasses import dataclass
from urllib.parse import urljoin

from singer_sdk import typing as th
from singer_sdk.streams.rest import HTTPRequest

from tap_chatbot_reports.checks import describe_payload, list_problems, unwrap_rows
from tap_chatbot_reports.client import VendorStream
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.fastpath import compile_shape_check
from tap_chatbot_reports.prefetch import Lane
from tap_chatbot_reports.recordloop import EncodedPage
from tap_chatbot_reports.schema_types import JSON_ANY, to_json_text
from tap_chatbot_reports.timeparse import normalise_timestamp
from tap_chatbot_reports.vendors import Vendor
from tap_chatbot_reports.windows import (
    ONE_DAY,
    DayWindow,
    WindowResult,
    ceil_day,
    plan_day_windows,
    split_day_window,
    to_date,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DEFAULT_API_URL = "https://app.certainly.io/api/"
#: Not in public material (vendor-apis.md 1.2): an assumption, overridable.
DEFAULT_MESSAGE_REPORT_PATH = "reports/messages/"
MAX_WINDOW_DAYS = 15
#: Days of records per request: each request also asks for the day after its window (whether
#: ``toDate`` is inclusive is not documented) and may span at most MAX_WINDOW_DAYS days.
MAX_RECORD_DAYS = MAX_WINDOW_DAYS - 1
ROW_CAP = 500
DEFAULT_CONCURRENCY = 4

SETTINGS = th.ObjectType(
    th.Property(
        "api_token",
        th.StringType,
        required=True,
        secret=True,
        description="Public API auth token (Certainly: My Profile > user name). Sent as "
        "`Authorization: JWT <token>`.",
    ),
    th.Property(
        "bot_ids",
        th.ArrayType(th.StringType),
        required=True,
        description="Bot ids to extract (from the Conversation Builder URL). One partition each.",
    ),
    th.Property(
        "report_type",
        th.IntegerType(minimum=1, maximum=4),
        default=1,
        description="reportId: 1 Message Data, 2 Standard, 3 Advanced, 4 Content Management.",
    ),
    th.Property(
        "api_url",
        th.URIType,
        default=DEFAULT_API_URL,
        description="API root (documented).",
    ),
    th.Property(
        "message_report_path",
        th.StringType,
        default=DEFAULT_MESSAGE_REPORT_PATH,
        description="Path of the Message Report endpoint under api_url. Not published by "
        "Certainly: the default is an assumption; a 404 names this setting.",
    ),
    th.Property(
        "window_days",
        th.IntegerType(minimum=1, maximum=MAX_WINDOW_DAYS),
        default=MAX_WINDOW_DAYS,
        description="Days of records per request. At most 14 are used: every request also asks "
        "for the day after its window (whether toDate is inclusive is not documented) and the "
        "API allows 15 days per call.",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=16),
        default=DEFAULT_CONCURRENCY,
        description="Requests in flight at once (windows and bots fetched ahead; records are "
        "still emitted in order). Certainly publishes no rate limit: the default is modest.",
    ),
)

#: A value whose JSON type the document does not give: any JSON value, kept whole as compact
#: JSON text (a string stays as it is; see ``schema_types.JSON_ANY``). A schema without a type
#: was tried and refused by the loaders in meltano.yml: target-duckdb 0.8.0 drops a property
#: with ``{}`` from the table (silently), makes an ``anyOf`` led by an object type a DuckDB
#: ``JSON`` column that refuses a bare string, and fails on any scalar when the ``anyOf`` is led
#: by a type union; meltanolabs-target-postgres 0.8.1 makes an ``anyOf`` led by ``string`` a
#: ``text`` column that refuses an object. JSON text loads in both, in every form.
_ANY = JSON_ANY
#: Ids: emitted as strings (their JSON type is not documented; see ``_as_id``).
_ID = th.StringType
_KPI = th.ObjectType(
    th.Property("id", _ID),
    th.Property("label", _ANY),
    th.Property("colour", _ANY),
)
_KNOWN_FIELDS = {
    "id",
    "timestamp",
    "message",
    "response",
    "conversation_id",
    "through_bot_modules",
    "bot_module_id",
    "is_test",
    "external_agent",
    "through_connection_id",
    "is_global_module_match",
    "is_deleted",
    "id_message_evaluate",
    "data",
    "user_message_empty",
    "bot_response_empty",
    "bot_module",
    "botuser",
}
#: Identifier fields whose JSON type is not documented: always emitted as strings.
_ID_FIELDS = (
    "id",
    "conversation_id",
    "bot_module_id",
    "external_agent",
    "through_connection_id",
    "id_message_evaluate",
)
#: Typed from the document (vendor-apis.md 1.6 and the seed page): the booleans the document
#: defines by true/false, the timestamp (parsed, emitted in UTC), the objects the document gives
#: members for (``bot_module``, ``botuser`` and its ``botuser_meta.web``) and the list of KPI tags;
#: ids are strings (the tap's choice). Everything else is kept as it comes (``_ANY``): ``response``
#: and ``data`` above all (an object or a list of bubbles / Connections are both plausible).
MESSAGE_SCHEMA = th.PropertiesList(
    th.Property("bot_id", th.StringType, required=True, description="Partition: the bot id."),
    th.Property("report_type", th.IntegerType, description="reportId the row was read with."),
    th.Property("id", _ID, required=True),
    th.Property("timestamp", th.DateTimeType, description="Normalised to ISO-8601 UTC."),
    th.Property("message", _ANY),
    th.Property("response", _ANY),
    th.Property("conversation_id", _ID),
    th.Property("through_bot_modules", _ANY),
    th.Property("bot_module_id", _ID),
    th.Property("is_test", th.BooleanType),
    th.Property("external_agent", _ID),
    th.Property("through_connection_id", _ID),
    th.Property("is_global_module_match", _ANY),
    th.Property("is_deleted", th.BooleanType),
    th.Property("id_message_evaluate", _ID),
    th.Property("data", _ANY),
    th.Property("user_message_empty", th.BooleanType),
    th.Property("bot_response_empty", th.BooleanType),
    th.Property(
        "bot_module",
        th.ObjectType(
            th.Property("id", _ID),
            th.Property("name", _ANY),
            th.Property("type", _ANY),
            th.Property("instruction", _ANY),
            th.Property("error_instruction", _ANY),
            th.Property("is_global", _ANY),
            th.Property("priority", _ANY),
            th.Property("is_starting", th.BooleanType),
            th.Property("fallback_module_id", _ID),
            th.Property("skip_user_input", th.BooleanType),
            th.Property("skip_global_connection_evaluation", th.BooleanType),
            th.Property("group", _ANY),
            th.Property("kpis", th.ArrayType(_KPI)),
        ),
    ),
    th.Property(
        "botuser",
        th.ObjectType(
            th.Property("id", _ID),
            th.Property("created_date", _ANY),
            th.Property(
                "botuser_meta",
                th.ObjectType(
                    th.Property(
                        "web",
                        th.ObjectType(
                            th.Property("host", _ANY),
                            th.Property("current_ip", _ANY),
                            th.Property("hostPageUrl", _ANY),
                        ),
                    ),
                ),
            ),
        ),
    ),
    th.Property(
        "extra_fields",
        th.ObjectType(),
        description="Top-level fields the API returned that are not documented (kept whole).",
    ),
).to_dict()


#: Fields whose documented type is checked on every message (a wrong type is a clear error,
#: never a record that breaks the target).
_CHECKED_FIELDS = tuple(
    name for name in MESSAGE_SCHEMA["properties"] if name not in ("extra_fields", "timestamp")
)
_SCALARS: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def _shape_problem(value: t.Any, schema: dict[str, t.Any], path: str) -> str | None:
    """Where a nested object or list does not have its documented shape (None if it does)."""
    types = schema.get("type")
    if value is None or not types or "contentMediaType" in schema:  # JSON_ANY: any value
        return None
    types = [types] if isinstance(types, str) else types
    if "object" in types:
        if not isinstance(value, dict):
            return f"{path} as {type(value).__name__}, not an object"
        for key, sub in (schema.get("properties") or {}).items():
            problem = _shape_problem(value.get(key), sub, f"{path}.{key}")
            if problem:
                return problem
    elif "array" in types:
        if not isinstance(value, list):
            return f"{path} as {type(value).__name__}, not a list"
        for item in value:
            problem = _shape_problem(item, schema.get("items") or {}, f"{path}[]")
            if problem:
                return problem
    else:
        known = [name for name in types if name in _SCALARS]
        if known and not any(
            isinstance(value, _SCALARS[name])
            and not (name != "boolean" and isinstance(value, bool))
            for name in known
        ):
            return f"{path} as {type(value).__name__}, not {'/'.join(known)}"
    return None


#: ``_shape_problem`` over every checked field, compiled once (it runs for every message).
_check_shape = compile_shape_check(MESSAGE_SCHEMA, _CHECKED_FIELDS)


def _as_id(value: t.Any) -> t.Any:
    """An id as a string: numbers as their decimal text, an object or a list (not expected,
    but the type is not documented) as its compact JSON text, so nothing is lost."""
    if value.__class__ is int:
        return str(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return to_json_text(value)


def _nested_ids(nested: dict[str, t.Any]) -> None:
    value = nested.get("id")
    if value is not None and value.__class__ is not str:
        nested["id"] = str(value) if value.__class__ is int else _as_id(value)
    value = nested.get("fallback_module_id")
    if value is not None and value.__class__ is not str:
        nested["fallback_module_id"] = _as_id(value)


def normalise_message(raw: dict[str, t.Any], bot_id: str, report_type: int) -> dict[str, t.Any]:
    """Shape one API row into a record (raises TapError on an uninterpretable row).

    ``raw`` is reused (it is a freshly decoded object): this runs once per message.
    """
    if raw.__class__ is not dict and not isinstance(raw, dict):
        raise TapError(f"Certainly returned a message that is not an object: {type(raw).__name__}")
    record = raw
    get = record.get
    ident = get("id")
    if ident is None:
        raise TapError("Certainly returned a message without an id")
    if ident.__class__ is dict or ident.__class__ is list:
        kind = "an object" if ident.__class__ is dict else "a list"
        raise TapError(
            f"Certainly returned a message whose id is {kind} (bot {bot_id}): "
            "an id must be a string or a number"
        )
    extra = record.keys() - _KNOWN_FIELDS
    if extra:
        record["extra_fields"] = {k: record.pop(k) for k in extra}
    for key in _ID_FIELDS:
        value = get(key)
        if value is not None and value.__class__ is not str:
            record[key] = str(value) if value.__class__ is int else _as_id(value)
    module = get("bot_module")
    if module.__class__ is dict:
        kpis = module.get("kpis")
        if kpis and kpis.__class__ is list:
            for kpi in kpis:
                if not isinstance(kpi, dict):
                    raise TapError(
                        f"Certainly returned bot_module.kpis with an item that is not an object "
                        f"for message {_as_id(record['id'])} of bot {bot_id}"
                    )
            module["kpis"] = [{**kpi, "id": _as_id(kpi.get("id"))} for kpi in kpis]
        _nested_ids(module)
    user = get("botuser")
    if user.__class__ is dict:
        _nested_ids(user)
    problem = _check_shape(record)  # = _shape_problem over _CHECKED_FIELDS, compiled
    if problem:
        raise TapError(
            f"Certainly returned {problem} for message {_as_id(record['id'])} of bot {bot_id}"
        )
    try:
        record["timestamp"] = normalise_timestamp(raw.get("timestamp"))
    except ValueError:
        raise TapError(
            f"Certainly returned a timestamp that cannot be interpreted for message "
            f"{record['id']} of bot {bot_id}: {str(raw.get('timestamp'))[:60]!r}"
        ) from None
    record["bot_id"] = bot_id
    record["report_type"] = report_type
    return record


def extract_rows(payload: t.Any) -> list[t.Any]:
    """The list of messages in a response body (an array; tolerates one wrapping object)."""
    rows = unwrap_rows(payload)
    if rows is None:
        raise TapError(
            f"Certainly returned {describe_payload(payload)} where a list of messages was "
            "expected; check certainly.message_report_path"
        )
    return rows


# ---------------------------------------------------------------------------- capped answers

Row = t.Any
#: ``fetch(from_date, to_date)``: the rows of one GET, dates as sent (``toDate`` may or may not
#: be inclusive: the reader never relies on either reading).
Fetch = t.Callable[[dt.date, dt.date], list[Row]]


@dataclass
class Readings:
    """What this run's answers have shown about two undocumented points (one per stream and
    run; vendor-apis.md 1.4 and 1.5). Each starts unknown and is only ever learnt."""

    #: A row dated on the ``toDate`` asked for came back: ``toDate`` is inclusive, so requests
    #: need not ask for the day after their window any more.
    to_date_inclusive: bool = False
    #: A capped answer in time order was shown to hold every row of its first days (the API
    #: keeps the oldest rows): later answers in time order are read on that basis.
    oldest_kept: bool = False
    #: A capped answer in time order was shown to miss rows of its first days: never again.
    oldest_refuted: bool = False

    @property
    def trust_order(self) -> bool:
        return self.oldest_kept and not self.oldest_refuted

    def record_order(self, oldest_kept: bool) -> None:
        if oldest_kept:
            self.oldest_kept = True
        else:
            self.oldest_refuted = True


def read_capped(
    window: DayWindow,
    fetch: Fetch,
    cap: int,
    instant_of: t.Callable[[Row], str | None],
    readings: Readings,
) -> t.Iterator[WindowResult[Row]]:
    """Read the days ``[window.start, window.end)`` completely, whatever the API's order and
    whether ``toDate`` is inclusive.

    Until a row dated on the ``toDate`` asked for has come back (``toDate`` is then known to be
    inclusive), a request asks for one day more than its window, ``toDate`` = the day after it:
    with an exclusive ``toDate`` nothing is then missing, with an inclusive one the extra day's
    rows come too (the caller keeps only rows inside each result's window). An answer of
    ``cap`` rows or more may be cut, and which rows it keeps is not documented:

    * in time order, from an API shown (once per run, by re-reading its first days) to keep
      the oldest rows: every day before its last row's day is complete, and the next request
      starts at that day (the plan an oracle knowing per-day counts would choose);
    * otherwise (newest first, unsorted, an order not yet shown, or shown not to keep the
      oldest rows): the window is split in halves and each is re-read, down to one day;
    * a day whose rows alone fill the cap cannot be read further: its rows are yielded with
      ``truncated=True`` (the caller warns).

    Results come in window order and tile ``window``.
    """

    def get(first: dt.date, last: dt.date) -> tuple[list[Row], list[str | None], list[t.Any]]:
        rows = fetch(first, last)
        instants = [instant_of(row) for row in rows]
        days = [None if i is None else dt.date.fromisoformat(i[:10]) for i in instants]
        if last in days:
            readings.to_date_inclusive = True
        return rows, instants, days

    pending = [window]
    while pending:
        current = pending.pop()
        start, end = current.start, current.end
        asked = current.last_day if readings.to_date_inclusive else end
        rows, instants, days = get(start, asked)
        if len(rows) < cap:
            yield WindowResult(current, rows)
            continue
        ascending = (
            None not in instants
            and all(a <= b for a, b in itertools.pairwise(instants))  # type: ignore[operator]
            and all(start <= d <= asked for d in days)  # type: ignore[operator]
        )
        last = days[-1]
        if current.days == 1:
            if asked == start:  # the day alone was asked for and fills the cap
                yield WindowResult(current, rows, truncated=True)
            elif ascending and readings.trust_order and last == end:
                yield WindowResult(current, rows)  # the day's rows all came before the cut
            elif end in days:  # toDate is inclusive (a row of it came): ask for the day alone
                alone, _, _ = get(start, start)
                yield WindowResult(current, alone, truncated=len(alone) >= cap)
            else:
                yield WindowResult(current, rows, truncated=True)
            continue
        if all(day == start for day in days):  # the first day alone fills the cap
            yield WindowResult(DayWindow(start, start + ONE_DAY), rows, truncated=True)
            pending.append(DayWindow(start + ONE_DAY, end))
            continue
        if ascending and not readings.oldest_refuted:
            assert last is not None
            kept = [row for row, day in zip(rows, days, strict=True) if day != last]
            if not readings.oldest_kept:
                # Re-read the first days: an API that keeps the oldest rows answers exactly the
                # rows already held (the check day's own only if toDate is inclusive).
                check = last - ONE_DAY
                before = [row for row, day in zip(rows, days, strict=True) if day < check]  # type: ignore[operator]
                if before:
                    again, _, _ = get(start, check)
                    held = _ids(again)
                    oldest = len(again) < cap and held <= _ids(kept) and _ids(before) <= held
                    readings.record_order(oldest)
                    if not oldest and len(again) < cap:
                        # Not the oldest rows; the re-read itself is complete for its days.
                        yield WindowResult(DayWindow(start, check), again)
                        pending.append(DayWindow(check, end))
                        continue
            if readings.trust_order:
                yield WindowResult(DayWindow(start, last), kept)
                if last < end:
                    pending.append(DayWindow(last, end))
                continue
        halves = split_day_window(current)
        assert halves is not None
        pending.extend(reversed(halves))


def _ids(rows: t.Iterable[Row]) -> set[t.Any]:
    return {_as_id(row.get("id")) for row in rows if isinstance(row, dict)}


def row_instant(row: Row) -> str | None:
    """A raw row's timestamp in canonical UTC form (None when absent or not interpretable)."""
    if not isinstance(row, dict):
        return None
    try:
        return normalise_timestamp(row.get("timestamp"))
    except ValueError:
        return None


def row_day(row: Row) -> dt.date | None:
    """The UTC day of a raw row (None when it has no interpretable timestamp)."""
    value = row_instant(row)
    return None if value is None else dt.date.fromisoformat(value[:10])


def midnight(day: dt.date) -> str:
    """The start of ``day`` (UTC) in the records' canonical timestamp form."""
    return f"{day.isoformat()}T00:00:00.000000+00:00"


class CertainlyMessagesStream(VendorStream):
    """Message Report rows, one partition per bot, incremental on ``timestamp``."""

    vendor = "certainly"
    vendor_title = "Certainly"
    auth_setting = "certainly.api_token"
    not_found_setting = "certainly.message_report_path (and certainly.bot_ids)"

    name = "certainly_messages"
    path = "message_report"
    primary_keys = ("bot_id", "id")
    replication_key = "timestamp"
    is_sorted = True
    schema = MESSAGE_SCHEMA
    conforms_early = True
    encodes_pages = True
    checks_types = True  # normalise_message: _check_shape
    default_concurrency = DEFAULT_CONCURRENCY

    @property
    def url_base(self) -> str:
        return str(self.settings.get("api_url") or DEFAULT_API_URL)

    @property
    def partitions(self) -> list[dict] | None:
        return [{"bot_id": str(bot)} for bot in self.settings.get("bot_ids") or []]

    @property
    def http_headers(self) -> dict:
        return {
            "Authorization": f"JWT {self.settings.get('api_token', '')}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }

    def endpoint_url(self) -> str:
        base = self.url_base
        if not base.endswith("/"):
            base += "/"
        path = str(self.settings.get("message_report_path") or DEFAULT_MESSAGE_REPORT_PATH)
        return urljoin(base, path.lstrip("/"))

    def build_request(self, bot_id: str, first: dt.date, last: dt.date) -> HTTPRequest:
        """The GET for one bot: ``fromDate`` = ``first``, ``toDate`` = ``last`` as given."""
        return HTTPRequest(
            url=self.endpoint_url(),
            method="GET",
            headers=self.http_headers,
            params={
                "fromDate": first.isoformat(),
                "toDate": last.isoformat(),
                "reportId": int(self.settings.get("report_type") or 1),
                "botId": bot_id,
            },
        )

    def fetch_range(self, context: Context, first: dt.date, last: dt.date) -> list[t.Any]:
        request = self.build_request(context["bot_id"], first, last)
        return extract_rows(self.request_json(request, context))

    @property
    def readings(self) -> Readings:
        """What this run's answers showed of the undocumented points (see ``read_capped``)."""
        return t.cast("Readings", self.__dict__.setdefault("_readings", Readings()))

    def plan_lanes(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        """One lane per window of at most ``window_days`` (and at most 14) days of records (a
        request may ask for the day after too); a lane re-reads capped answers."""
        assert context is not None
        days = min(int(self.settings.get("window_days") or MAX_WINDOW_DAYS), MAX_RECORD_DAYS)
        # Dates are day-granular: start from the bookmark's (or start_date's) whole day.
        first_day = to_date(self.sync_start(context))
        last_day_exclusive = ceil_day(self.sync_end())
        windows = plan_day_windows(first_day, last_day_exclusive, days)
        self.windows_planned(context, len(windows))
        for window in windows:
            yield window, self._window_lane(context, window)

    def _window_lane(self, context: Context, window: DayWindow) -> Lane[WindowResult[t.Any]]:
        bot_id = context["bot_id"]
        report_type = int(self.settings.get("report_type") or 1)

        def fetch(first: dt.date, last: dt.date) -> list[t.Any]:
            return self.fetch_range(context, first, last)

        def lane() -> t.Iterator[WindowResult[t.Any]]:
            conform = self.conformer()
            encoding = self.encoding_pages

            def shape(row: t.Any) -> dict[str, t.Any]:
                return conform(normalise_message(row, bot_id, report_type))  # type: ignore[no-any-return]

            for result in read_capped(window, fetch, ROW_CAP, row_instant, self.readings):
                # Only the rows of the result's own days: the day after (asked for in case
                # toDate is exclusive) belongs to the next result.
                records = _shaped_within(
                    result.rows, shape, midnight(result.window.start), midnight(result.window.end)
                )
                if encoding:  # see recordloop.EncodedPage
                    page = EncodedPage.encode(records, "timestamp", sort=True)
                    yield WindowResult(result.window, page, result.truncated)  # type: ignore[arg-type]
                    continue
                shaped = list(records)
                shaped.sort(key=_timestamp_of)
                yield WindowResult(result.window, shaped, result.truncated)

        return lane

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        bot_id = context["bot_id"]
        bookmark, end = self.bookmark_of(context), self.record_end()
        total = 0
        for window, results in self.fetch_lanes(context):
            count = 0
            for result in results:
                if result.truncated:
                    self.logger.warning(
                        "Certainly bot %s: %s holds at least %d rows, the API's cap for one "
                        "call; rows beyond the cap cannot be read through the API for this day "
                        "(%d emitted)",
                        bot_id,
                        result.window,
                        ROW_CAP,
                        len(result.rows),
                    )
                if isinstance(result.rows, EncodedPage):
                    page = result.rows.from_bookmark(bookmark, end)
                    count += len(page)
                    yield page  # type: ignore[misc]
                    continue
                for record in self.skip_before_bookmark(result.rows, context):
                    count += 1
                    yield record
            total += count
            self.window_done(context, window, count, total)


def _shaped_within(
    rows: list[t.Any], shape: t.Callable[[t.Any], dict[str, t.Any]], low: str, high: str
) -> t.Iterator[dict[str, t.Any]]:
    """``shape`` of each row whose timestamp is in ``[low, high)`` (canonical forms; rows
    without a timestamp are kept), letting go of each decoded row as it is taken (the caller
    encodes the record at once, so it is freed while still in the CPU cache)."""
    for index, row in enumerate(rows):
        rows[index] = None
        record = shape(row)
        when = record.get("timestamp")
        if when is None or low <= when < high:
            yield record


def _timestamp_of(record: dict[str, t.Any]) -> str:
    return record.get("timestamp") or ""


def check_config(section: dict[str, t.Any]) -> list[str]:
    """Problems JSON Schema cannot express."""
    problems: list[str] = []
    bots = section.get("bot_ids")
    if isinstance(bots, list):
        problems += list_problems(bots, "certainly.bot_ids", "bot id")
    return problems


VENDOR = Vendor(
    key="certainly",
    title="Certainly",
    settings=SETTINGS,
    streams=(CertainlyMessagesStream,),
    secret_keys=frozenset({"api_token"}),
    check_config=check_config,
)
