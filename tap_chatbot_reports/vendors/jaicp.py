"""JAICP (Just AI Conversational Platform): Reporter API, read-only.

Contract: the official OpenAPI specs in shared/vendor-specs/jaicp/ and vendor-apis.md section 3.
v1 sends ``Authorization: Bearer <token>`` to ``/api/v1/reporter/...``; legacy puts the token in
the path (``/api/reporter/p/{token}/...``), so URLs are never logged and ``path`` is a label.
The tap only reads: no write endpoint is called and no report task is created.

Assumptions (flagged in the README): ``CLIENT_LAST_ACTIVITY_TIME`` takes a ``DATE_TIME_RANGE``;
the range bounds' inclusivity is unknown, so rows outside ``[from, to)`` are dropped client-side
(a row exactly at ``to`` is read by the next window); ``TimestampToValue.ts`` is epoch (ms or s)
and the ``Timezone`` header is sent as 0 so day buckets are UTC days.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass
from urllib.parse import quote

from singer_sdk import typing as th
from singer_sdk.streams.rest import HTTPRequest

from tap_chatbot_reports.checks import list_problems
from tap_chatbot_reports.client import VendorStream, describe_context
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.prefetch import Lane
from tap_chatbot_reports.timeparse import format_timestamp, normalise_timestamp, parse_timestamp
from tap_chatbot_reports.vendors import Vendor
from tap_chatbot_reports.vendors import jaicp_schemas as schemas
from tap_chatbot_reports.vendors.jaicp_paging import (  # noqa: F401 (re-exported)
    _VALIDATORS,
    Page,
    PagedRead,
    PageSizeCappedError,
    WindowChangedError,
    _int,
    _str_id,
    _validator,
    format_api_time,
    normalise_row,
    parse_page,
    range_filter,
    read_pages,
)
from tap_chatbot_reports.windows import TimeWindow, ceil_day, plan_time_windows, to_date

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DEFAULT_API_URL = "https://app.jaicp.com"
API_VERSIONS = ("v1", "legacy")
#: Re-reads of one window whose totalCount keeps changing (or whose page size gets capped).
MAX_WINDOW_READS = 4
STATS_WINDOW_DAYS = 31
DEFAULT_CONCURRENCY = 4

SETTINGS = th.ObjectType(
    th.Property(
        "api_token",
        th.StringType,
        required=True,
        secret=True,
        description="v1: unified API token with REPORTER_API access (sent as a Bearer header). "
        "legacy: the project's analytics token (part of every URL; never logged).",
    ),
    th.Property(
        "api_url",
        th.URIType,
        default=DEFAULT_API_URL,
        description="Host of the API: https://app.jaicp.com, https://platform.tovie.ai or an "
        "on-premise host.",
    ),
    th.Property(
        "api_version",
        th.StringType(allowed_values=list(API_VERSIONS)),
        default="v1",
        description="v1: /api/v1/reporter/ with a Bearer token; legacy: /api/reporter/p/{token}/.",
    ),
    th.Property(
        "project_short_names",
        th.ArrayType(th.StringType),
        description="v1 only: projects to read, one partition each. Without it the token's "
        "scope is read unpartitioned (experiments need it in v1).",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=10_000),
        default=100,
        description="Rows per page (the API's maximum is not published).",
    ),
    th.Property(
        "window_days",
        th.IntegerType(minimum=1, maximum=366),
        default=1,
        description="Days per filter window for sessions, messages and clients.",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=16),
        default=DEFAULT_CONCURRENCY,
        description="Windows and projects of sessions, messages and clients fetched at once "
        "(records are still emitted in order). JAICP publishes no rate limit: the default is "
        "modest.",
    ),
)


# ---------------------------------------------------------------------------- streams


class JAICPStream(VendorStream):
    """Common JAICP plumbing: URL per API version, auth, project partitions."""

    vendor = "jaicp"
    vendor_title = "JAICP"
    auth_setting = "jaicp.api_token (and jaicp.api_version)"
    not_found_setting = "jaicp.api_url, jaicp.api_version and jaicp.project_short_names"
    #: Path under the Reporter API prefix, e.g. ``sessions/filter``.
    endpoint: t.ClassVar[str] = ""
    method: t.ClassVar[str] = "POST"

    @property
    def api_version(self) -> str:
        return str(self.settings.get("api_version") or "v1")

    @property
    def url_base(self) -> str:
        return str(self.settings.get("api_url") or DEFAULT_API_URL).rstrip("/")

    @property
    def partitions(self) -> list[dict] | None:
        projects = self.settings.get("project_short_names") or []
        if self.api_version != "v1" or not projects:
            return None
        return [{"projectShortName": str(p)} for p in projects]

    @property
    def http_headers(self) -> dict:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
        }
        if self.api_version == "v1":
            headers["Authorization"] = f"Bearer {self.settings.get('api_token', '')}"
        return headers

    def endpoint_url(self, endpoint: str | None = None) -> str:
        path = (endpoint or self.endpoint).lstrip("/")
        if self.api_version == "legacy":
            token = quote(str(self.settings.get("api_token", "")), safe="")
            return f"{self.url_base}/api/reporter/p/{token}/{path}"
        return f"{self.url_base}/api/v1/reporter/{path}"

    def build_request(
        self,
        context: Context | None,
        params: dict[str, t.Any] | None = None,
        body: t.Any = None,
        headers: dict[str, str] | None = None,
    ) -> HTTPRequest:
        query = dict(params or {})
        if context and context.get("projectShortName"):
            query["projectShortName"] = context["projectShortName"]
        return HTTPRequest(
            url=self.endpoint_url(),
            method=self.method,
            headers={**self.http_headers, **(headers or {})},
            params=query,
            data=body,
        )

    def where(self, context: Context | None) -> str:
        return f"{self.vendor_title} stream {self.name} ({describe_context(context)})"


@dataclass(frozen=True)
class WindowedSpec:
    name: str
    endpoint: str
    list_key: str
    filter_key: str
    replication_key: str
    primary_keys: tuple[str, ...]
    schema: dict[str, t.Any]
    time_fields: tuple[str, ...]
    id_fields: tuple[str, ...]
    #: Query parameters per API version.
    params: t.Mapping[str, t.Mapping[str, t.Any]]


class JAICPWindowedStream(JAICPStream):
    """POST ``*/filter`` with a DATE_TIME_RANGE per window, paged; incremental and sorted."""

    spec: t.ClassVar[WindowedSpec]
    is_sorted = True
    default_concurrency = DEFAULT_CONCURRENCY

    def fetch_page(self, context: Context | None, window: TimeWindow, page: int, size: int) -> Page:
        params = {**self.spec.params.get(self.api_version, {}), "page": page, "size": size}
        body = range_filter(self.spec.filter_key, window.start, window.end)
        payload = self.request_json(self.build_request(context, params, body), context)
        return parse_page(payload, self.spec.list_key, self.where(context))

    def row_key(self, row: dict[str, t.Any]) -> tuple[t.Any, ...]:
        return tuple(_str_id(row.get(k)) for k in self.spec.primary_keys)

    def read_window(self, context: Context | None, window: TimeWindow) -> list[dict[str, t.Any]]:
        """Every row of one window, read again when the window changes while it is paged."""
        size = int(self.settings.get("page_size") or 100)
        for _attempt in range(MAX_WINDOW_READS):
            try:
                result = read_pages(
                    lambda page, sz: self.fetch_page(context, window, page, sz), size, self.row_key
                )
            except WindowChangedError as exc:
                self.logger.warning(
                    "%s: window %s: %s; re-reading", self.where(context), window, exc
                )
                continue
            except PageSizeCappedError as exc:
                self.logger.warning(
                    "%s: the API caps the page size at %d (jaicp.page_size is %d); re-reading "
                    "window %s with that size",
                    self.where(context),
                    exc.size,
                    size,
                    window,
                )
                size = exc.size
                continue
            if result.stopped == "repeat" or len(result.rows) < result.total:
                self.logger.warning(
                    "%s: window %s: read %d of totalCount %d rows (stopped on a %s page)",
                    self.where(context),
                    window,
                    len(result.rows),
                    result.total,
                    {"repeat": "repeated", "empty": "empty", "total": "last"}[result.stopped],
                )
            return result.rows
        raise TapError(
            f"{self.where(context)}: window {window} kept changing while it was paged "
            f"({MAX_WINDOW_READS} reads); lower jaicp.window_days or retry later"
        )

    def window_records(
        self, rows: list[dict[str, t.Any]], window: TimeWindow, context: Context | None
    ) -> list[dict[str, t.Any]]:
        """Normalised rows of ``[window.start, window.end)``, in replication-key order."""
        where = self.where(context)
        lower, upper = format_timestamp(window.start), format_timestamp(window.end)
        records: list[dict[str, t.Any]] = []
        outside = 0
        for raw in rows:
            record = normalise_row(
                raw, self.schema, self.spec.time_fields, self.spec.id_fields, where
            )
            for pk in self.spec.primary_keys:
                if record.get(pk) in (None, "") and pk != "botId":
                    raise TapError(f"{where}: a row has no {pk}")
            if "botId" in self.spec.primary_keys and record.get("botId") is None:
                record["botId"] = ""
            value = record.get(self.spec.replication_key)
            if not isinstance(value, str):
                raise TapError(f"{where}: a row has no {self.spec.replication_key}")
            if not lower <= value < upper:
                # A row exactly at ``to`` (the bound may be inclusive) is the next window's.
                outside += value != upper
                continue
            records.append(record)
        if outside:
            self.logger.warning(
                "%s: window %s: the API returned %d rows outside the requested range; "
                "they were dropped (they belong to other windows)",
                where,
                window,
                outside,
            )
        records.sort(key=lambda rec: rec[self.spec.replication_key])
        return records

    def plan_lanes(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        """One lane per filter window (its pages are read in order inside the lane)."""
        start, end = self.sync_start(context), self.sync_end()
        days = int(self.settings.get("window_days") or 1)
        windows = plan_time_windows(start, end, dt.timedelta(days=days))
        self.windows_planned(context, len(windows))
        for window in windows:
            yield window, self._window_lane(context, window)

    def _window_lane(self, context: Context | None, window: TimeWindow) -> Lane[t.Any]:
        return lambda: [self.read_window(context, window)]

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        total = 0
        for window, results in self.fetch_lanes(context):
            assert isinstance(window, TimeWindow)
            records = self.window_records(next(iter(results)), window, context)
            count = 0
            for record in self.skip_before_bookmark(records, context):
                count += 1
                yield record
            total += count
            self.window_done(context, window, count, total)


WINDOWED_SPECS = (
    WindowedSpec(
        name="jaicp_sessions",
        endpoint="sessions/filter",
        list_key="sessions",
        filter_key="SESSION_START_TIME",
        replication_key="startTime",
        primary_keys=("sessionId",),
        schema=schemas.SESSION_SCHEMA,
        time_fields=("startTime",),
        id_fields=("sessionId", "botId"),
        params={
            "v1": {"needToReturnSessionLabels": "true", "needToReturnSessionData": "true"},
            "legacy": {"needToReturnSessionLabels": "true"},
        },
    ),
    WindowedSpec(
        name="jaicp_messages",
        endpoint="messages/filter",
        list_key="messages",
        filter_key="MESSAGE_TIME",
        replication_key="timestamp",
        primary_keys=("questionId",),
        schema=schemas.MESSAGE_SCHEMA,
        time_fields=("timestamp", "sessionStartTime"),
        id_fields=("questionId", "sessionId", "botId"),
        params={},
    ),
    WindowedSpec(
        name="jaicp_clients",
        endpoint="clients/filter",
        list_key="clients",
        filter_key="CLIENT_LAST_ACTIVITY_TIME",
        replication_key="lastVisitDate",
        primary_keys=("id", "botId"),
        schema=schemas.CLIENT_SCHEMA,
        time_fields=("joinDate", "lastVisitDate", "blockDate"),
        id_fields=("id", "botId", "lastSessionId"),
        params={},
    ),
)


def _windowed_stream(spec: WindowedSpec) -> type[JAICPWindowedStream]:
    attrs = {
        "spec": spec,
        "name": spec.name,
        "path": spec.name,
        "endpoint": spec.endpoint,
        "primary_keys": spec.primary_keys,
        "replication_key": spec.replication_key,
        # The spec marks some DTO fields required; a row the API sends without one is still
        # emitted (only its keys and replication key are checked), so the record schema must
        # not promise them.
        "schema": schemas.without_required(spec.schema),
        "__doc__": f"POST {spec.endpoint}, {spec.filter_key} range per window.",
    }
    return t.cast(
        "type[JAICPWindowedStream]", type(_class_name(spec.name), (JAICPWindowedStream,), attrs)
    )


def _class_name(name: str) -> str:
    return "".join(part.title() for part in name.split("_")) + "Stream"


@dataclass(frozen=True)
class ReferenceSpec:
    name: str
    #: Endpoint per API version; a version without a list endpoint is absent.
    endpoints: t.Mapping[str, str]
    primary_keys: tuple[str, ...]
    schema: dict[str, t.Any]
    #: v1 needs ``projectShortName`` (one partition per project); records carry it.
    per_project: bool


class JAICPReferenceStream(JAICPStream):
    """GET of a whole list (labels, experiments): full table, no paging."""

    spec: t.ClassVar[ReferenceSpec]
    method = "GET"

    @property
    def partitions(self) -> list[dict] | None:
        return super().partitions if self.spec.per_project else None

    def endpoint_url(self, endpoint: str | None = None) -> str:
        return super().endpoint_url(endpoint or self.spec.endpoints[self.api_version])

    def parse_list(self, payload: t.Any, context: Context | None) -> list[dict[str, t.Any]]:
        where = self.where(context)
        if not isinstance(payload, list) or not all(isinstance(i, dict) for i in payload):
            raise TapError(f"{where}: expected a JSON array of objects")
        records = []
        for raw in payload:
            record = normalise_row(raw, self.schema, (), (), where)
            if self.spec.per_project:
                record["projectShortName"] = (context or {}).get("projectShortName", "")
            for pk in self.spec.primary_keys:
                if record.get(pk) is None:
                    raise TapError(f"{where}: a row has no {pk}")
            problem = next(iter(_validator(self.schema).iter_errors(record)), None)
            if problem is not None:  # reference rows are few: check them against the schema
                field = ".".join(str(p) for p in problem.absolute_path) or "the row"
                raise TapError(
                    f"{where}: a row does not match the schema at {field}: {problem.message[:120]}"
                )
            records.append(record)
        return records

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        if self.api_version not in self.spec.endpoints:
            self.logger.warning(
                "%s: the %s API has no list endpoint for this stream; nothing to read "
                "(use api_version legacy, or read the labels nested in jaicp_sessions)",
                self.where(context),
                self.api_version,
            )
            return
        if self.spec.per_project and self.api_version == "v1" and not context:
            self.logger.warning(
                "%s: the v1 API needs a project for this stream; set jaicp.project_short_names",
                self.where(context),
            )
            return
        payload = self.request_json(self.build_request(context), context)
        yield from self.parse_list(payload, context)


REFERENCE_SPECS = (
    ReferenceSpec(
        name="jaicp_session_labels",
        endpoints={"legacy": "logs/labels/sessions"},
        primary_keys=("id",),
        schema=schemas.SESSION_LABEL_SCHEMA,
        per_project=False,
    ),
    ReferenceSpec(
        name="jaicp_message_labels",
        endpoints={"v1": "message/labels", "legacy": "message/labels"},
        primary_keys=("id",),
        schema=schemas.MESSAGE_LABEL_SCHEMA,
        per_project=False,
    ),
    ReferenceSpec(
        name="jaicp_experiments",
        endpoints={"v1": "scenario-exeperiments", "legacy": "scenario-exeperiments"},
        primary_keys=("projectShortName", "key"),
        schema=schemas.EXPERIMENT_SCHEMA,
        per_project=True,
    ),
)


class JAICPDailyStatsStream(JAICPStream):
    """POST ``stats/*/with-advanced-filters?intervalType=DAY``: one record per UTC day.

    The bookmark's day is read again on the next run, so a day counted while it was still
    running is emitted again with its final value (same primary key).
    """

    filter_key: t.ClassVar[str] = ""
    primary_keys = ("projectShortName", "ts")
    replication_key = "ts"
    is_sorted = True
    schema = schemas.DAILY_STATS_SCHEMA

    def fetch_window(self, context: Context | None, start: dt.datetime, end: dt.datetime) -> t.Any:
        request = self.build_request(
            context,
            {"intervalType": "DAY", "step": 1},
            range_filter(self.filter_key, start, end),
            {"Timezone": "0"},
        )
        return self.request_json(request, context)

    def parse_stats(
        self, payload: t.Any, context: Context | None, start: dt.datetime, end: dt.datetime
    ) -> list[dict[str, t.Any]]:
        where = self.where(context)
        stats = payload.get("stats") if isinstance(payload, dict) else None
        if not isinstance(stats, list):
            raise TapError(f"{where}: expected an object with a 'stats' list")
        records = []
        for item in stats:
            value = item.get("value") if isinstance(item, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TapError(f"{where}: a stats entry has no numeric value: {str(item)[:60]}")
            try:
                when = parse_timestamp(item.get("ts"))
            except ValueError:
                when = None
            if when is None:
                raise TapError(f"{where}: a stats entry has no readable ts: {str(item)[:60]}")
            if not start <= when < end:
                continue
            records.append(
                {
                    "projectShortName": (context or {}).get("projectShortName", ""),
                    "ts": normalise_timestamp(when),
                    "value": value,
                    "intervalType": "DAY",
                }
            )
        records.sort(key=lambda rec: rec["ts"])
        return records

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        first = dt.datetime.combine(to_date(self.sync_start(context)), dt.time(), dt.UTC)
        end = self.sync_end()
        total = 0
        windows = plan_time_windows(first, end, dt.timedelta(days=STATS_WINDOW_DAYS))
        self.windows_planned(context, len(windows))
        for window in windows:
            day_end = dt.datetime.combine(ceil_day(window.end), dt.time(), dt.UTC)
            payload = self.fetch_window(context, window.start, window.end)
            records = self.parse_stats(payload, context, window.start, day_end)
            count = 0
            for record in self.skip_before_bookmark(records, context):
                count += 1
                yield record
            total += count
            self.window_done(context, window, count, total)


class JAICPMessageStatsStream(JAICPDailyStatsStream):
    """Messages per day."""

    name = "jaicp_message_stats"
    path = "jaicp_message_stats"
    endpoint = "stats/messages/with-advanced-filters"
    filter_key = "MESSAGE_TIME"


class JAICPSessionStatsStream(JAICPDailyStatsStream):
    """Sessions per day."""

    name = "jaicp_session_stats"
    path = "jaicp_session_stats"
    endpoint = "stats/sessions/with-advanced-filters"
    filter_key = "SESSION_START_TIME"


def _reference_stream(spec: ReferenceSpec) -> type[JAICPReferenceStream]:
    attrs = {
        "spec": spec,
        "name": spec.name,
        "path": spec.name,
        "primary_keys": spec.primary_keys,
        "replication_key": None,
        "schema": spec.schema,
        "__doc__": f"Full table: GET {', '.join(sorted(set(spec.endpoints.values())))}.",
    }
    return t.cast(
        "type[JAICPReferenceStream]",
        type(_class_name(spec.name), (JAICPReferenceStream,), attrs),
    )


STREAMS: tuple[type[JAICPStream], ...] = (
    *(_windowed_stream(spec) for spec in WINDOWED_SPECS),
    *(_reference_stream(spec) for spec in REFERENCE_SPECS),
    JAICPMessageStatsStream,
    JAICPSessionStatsStream,
)


def check_config(section: dict[str, t.Any]) -> list[str]:
    """Problems JSON Schema cannot express."""
    problems: list[str] = []
    token = section.get("api_token")
    if isinstance(token, str) and (not token.strip() or token != token.strip()):
        problems.append("jaicp.api_token: empty or surrounded by spaces")
    url = section.get("api_url")
    if isinstance(url, str) and not url.startswith(("http://", "https://")):
        problems.append("jaicp.api_url: must start with https:// (or http://)")
    projects = section.get("project_short_names")
    if isinstance(projects, list) and projects:
        if section.get("api_version") == "legacy":
            problems.append(
                "jaicp.project_short_names: only used with api_version v1 (a legacy token "
                "belongs to one project); remove it"
            )
        problems += list_problems(projects, "jaicp.project_short_names", "project")
    return problems


VENDOR = Vendor(
    key="jaicp",
    title="JAICP",
    settings=SETTINGS,
    streams=STREAMS,
    secret_keys=frozenset({"api_token"}),
    check_config=check_config,
)
