"""Certainly: Message Report API (GET, at most 15 days and 500 rows per call).

Contract: shared/vendor-apis.md section 1. What is an assumption here (flagged in the README):
the default path under the API root, a JSON array as the response, ``toDate`` being inclusive,
and ``(bot_id, id)`` as the primary key.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from urllib.parse import urljoin

from singer_sdk import typing as th
from singer_sdk.streams.rest import HTTPRequest

from tap_chatbot_reports.checks import describe_payload, list_problems, unwrap_rows
from tap_chatbot_reports.client import VendorStream
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.fastpath import compile_shape_check
from tap_chatbot_reports.prefetch import Lane
from tap_chatbot_reports.recordloop import EncodedPage
from tap_chatbot_reports.schema_types import JSON_ANY
from tap_chatbot_reports.timeparse import normalise_timestamp
from tap_chatbot_reports.vendors import Vendor
from tap_chatbot_reports.windows import (
    DayWindow,
    WindowResult,
    ceil_day,
    plan_day_windows,
    read_sorted_with_cap,
    to_date,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DEFAULT_API_URL = "https://app.certainly.io/api/"
#: Not in public material (vendor-apis.md 1.2): an assumption, overridable.
DEFAULT_MESSAGE_REPORT_PATH = "reports/messages/"
MAX_WINDOW_DAYS = 15
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
        description="Days per request (the API allows at most 15).",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=16),
        default=DEFAULT_CONCURRENCY,
        description="Requests in flight at once (windows and bots fetched ahead; records are "
        "still emitted in order). Certainly publishes no rate limit: the default is modest.",
    ),
)

_ID = th.StringType
_KPI = th.ObjectType(
    th.Property("id", _ID),
    th.Property("label", th.StringType),
    th.Property("colour", th.StringType),
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

MESSAGE_SCHEMA = th.PropertiesList(
    th.Property("bot_id", th.StringType, required=True, description="Partition: the bot id."),
    th.Property("report_type", th.IntegerType, description="reportId the row was read with."),
    th.Property("id", _ID, required=True),
    th.Property("timestamp", th.DateTimeType, description="Normalised to ISO-8601 UTC."),
    th.Property("message", th.StringType),
    th.Property(
        "response",
        th.ObjectType(
            th.Property("text", th.StringType),
            th.Property("type", th.StringType),
            th.Property("wait", th.NumberType),
        ),
    ),
    th.Property("conversation_id", _ID),
    th.Property("through_bot_modules", JSON_ANY),
    th.Property("bot_module_id", _ID),
    th.Property("is_test", th.BooleanType),
    th.Property("external_agent", _ID),
    th.Property("through_connection_id", _ID),
    th.Property("is_global_module_match", th.BooleanType),
    th.Property("is_deleted", th.BooleanType),
    th.Property("id_message_evaluate", _ID),
    th.Property(
        "data",
        th.ObjectType(
            th.Property("type", th.StringType),
            th.Property("fallback", th.BooleanType),
            th.Property("position", th.NumberType),
        ),
    ),
    th.Property("user_message_empty", th.BooleanType),
    th.Property("bot_response_empty", th.BooleanType),
    th.Property(
        "bot_module",
        th.ObjectType(
            th.Property("id", _ID),
            th.Property("name", th.StringType),
            th.Property("type", th.StringType),
            th.Property("instruction", th.StringType),
            th.Property("error_instruction", th.StringType),
            th.Property("is_global", th.BooleanType),
            th.Property("priority", th.NumberType),
            th.Property("is_starting", th.BooleanType),
            th.Property("fallback_module_id", _ID),
            th.Property("skip_user_input", th.BooleanType),
            th.Property("skip_global_connection_evaluation", th.BooleanType),
            th.Property("group", JSON_ANY),
            th.Property("kpis", th.ArrayType(_KPI)),
        ),
    ),
    th.Property(
        "botuser",
        th.ObjectType(
            th.Property("id", _ID),
            th.Property("created_date", th.StringType),
            th.Property(
                "botuser_meta",
                th.ObjectType(
                    th.Property(
                        "web",
                        th.ObjectType(
                            th.Property("host", th.StringType),
                            th.Property("current_ip", th.StringType),
                            th.Property("hostPageUrl", th.StringType),
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
    if value.__class__ is int:
        return str(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return value


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
    if get("id") is None:
        raise TapError("Certainly returned a message without an id")
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

    def build_request(self, bot_id: str, window: DayWindow) -> HTTPRequest:
        """The GET for one bot and one window; ``toDate`` is the window's last day (inclusive)."""
        return HTTPRequest(
            url=self.endpoint_url(),
            method="GET",
            headers=self.http_headers,
            params={
                "fromDate": window.start.isoformat(),
                "toDate": window.last_day.isoformat(),
                "reportId": int(self.settings.get("report_type") or 1),
                "botId": bot_id,
            },
        )

    def fetch_window(self, context: Context, window: DayWindow) -> list[t.Any]:
        payload = self.request_json(self.build_request(context["bot_id"], window), context)
        return extract_rows(payload)

    def plan_lanes(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        """One lane per window of at most ``window_days``; a lane re-reads capped answers."""
        assert context is not None
        window_days = int(self.settings.get("window_days") or MAX_WINDOW_DAYS)
        # Dates are day-granular: start from the bookmark's (or start_date's) whole day.
        first_day = to_date(self.sync_start(context))
        last_day_exclusive = ceil_day(self.sync_end())
        windows = plan_day_windows(first_day, last_day_exclusive, window_days)
        self.windows_planned(context, len(windows))
        for window in windows:
            yield window, self._window_lane(context, window)

    def _window_lane(self, context: Context, window: DayWindow) -> Lane[WindowResult[t.Any]]:
        bot_id = context["bot_id"]
        report_type = int(self.settings.get("report_type") or 1)

        def shape(row: t.Any) -> dict[str, t.Any]:
            return normalise_message(row, bot_id, report_type)

        def lane() -> t.Iterator[WindowResult[t.Any]]:
            conform = self.conformer()
            encoding = self.encoding_pages
            for result in read_sorted_with_cap(
                window, lambda sub: self.fetch_window(context, sub), ROW_CAP, row_day
            ):
                rows = result.rows
                if encoding:  # see recordloop.EncodedPage
                    records = _shaped_once(rows, lambda row: conform(shape(row)))
                    page = EncodedPage.encode(records, "timestamp", sort=True)
                    yield WindowResult(result.window, page, result.truncated)  # type: ignore[arg-type]
                    continue
                shaped = [conform(shape(row)) for row in rows]
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
                        "Certainly bot %s: %s returned %d rows, the API's cap for one call; "
                        "rows beyond the cap cannot be read through the API for this day",
                        bot_id,
                        result.window,
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


def _shaped_once(
    rows: list[t.Any], shape: t.Callable[[t.Any], dict[str, t.Any]]
) -> t.Iterator[dict[str, t.Any]]:
    """``shape`` of each row, letting go of each decoded row as it is taken (the caller encodes
    the record at once, so it is freed while still in the CPU cache)."""
    for index, row in enumerate(rows):
        rows[index] = None
        yield shape(row)


def _timestamp_of(record: dict[str, t.Any]) -> str:
    return record.get("timestamp") or ""


def row_day(row: t.Any) -> dt.date | None:
    """The UTC day of a raw row (None when it has no interpretable timestamp)."""
    if not isinstance(row, dict):
        return None
    try:
        value = normalise_timestamp(row.get("timestamp"))
    except ValueError:
        return None
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else None


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
