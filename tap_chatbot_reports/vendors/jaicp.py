"""JAICP (Just AI Conversational Platform): Reporter API, read-only.

Contract: the official OpenAPI specs in shared/vendor-specs/jaicp/ and vendor-apis.md section 3.
v1 sends ``Authorization: Bearer <token>`` to ``/api/v1/reporter/...``; legacy puts the token in
the path (``/api/reporter/p/{token}/...``), so URLs are never logged and ``path`` is a label.
The tap only reads: no write endpoint is called and no report task is created.

Assumptions (flagged in the README): ``CLIENT_LAST_ACTIVITY_TIME`` takes a ``DATE_TIME_RANGE``;
the range bounds' inclusivity is unknown, so each window asks from one millisecond before its
start (``request_range``) and keeps only the rows of ``[start, end)`` (each reading of the bounds
then loses nothing and doubles nothing); the rows' order is unknown, so each window is sorted
here; ``TimestampToValue.ts`` is epoch seconds or milliseconds (told apart by magnitude) and the
``Timezone`` header is sent as 0 so day buckets are UTC days.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import threading
import typing as t
from dataclasses import dataclass
from urllib.parse import quote

from singer_sdk import typing as th
from singer_sdk.streams.rest import HTTPRequest

from tap_chatbot_reports.checks import list_problems
from tap_chatbot_reports.client import VendorStream, describe_context
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.fastpath import compile_shape_check
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
    compile_normaliser,
    format_api_time,
    normalise_row,
    parse_page,
    range_filter,
    read_pages,
    request_range,
)
from tap_chatbot_reports.windows import (
    TimeWindow,
    ceil_day,
    plan_time_windows,
    split_time_window,
    to_date,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DEFAULT_API_URL = "https://app.jaicp.com"
API_VERSIONS = ("v1", "legacy")
#: Re-reads of one window whose totalCount keeps changing (or whose page size gets capped).
MAX_WINDOW_READS = 4
STATS_WINDOW_DAYS = 31
DEFAULT_CONCURRENCY = 4
#: Rows a filter range may hold before it is split: the rows held in memory are about this
#: times (max_concurrency + 1), whatever a day's volume.
MAX_WINDOW_ROWS = 2_500
MIN_WINDOW_SPAN = dt.timedelta(minutes=1)

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
        description="Windows and projects of sessions, messages, clients and daily stats fetched "
        "at once (records are still emitted in order). JAICP publishes no rate limit: the "
        "default is modest.",
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


@dataclass
class Piece:
    """One range read whole: its rows (at most about ``max_window_rows``) and what paging said."""

    window: TimeWindow
    rows: list[dict[str, t.Any]]


class JAICPWindowedStream(JAICPStream):
    """POST ``*/filter`` with a DATE_TIME_RANGE per window, paged; incremental and sorted.

    Memory: a range is read whole (its pages de-duplicated, then sorted) before it is emitted,
    so the rows held are bounded by splitting. A range whose first page reports more than
    ``max_window_rows`` rows is not paged: it is split into parts of about ``split_target``
    rows (the first page's ``totalCount`` says how many parts) and the parts are read in
    order. The partition's last density (rows per second) sizes its next windows before they
    are requested, so a dense partition pays the probe once, not once per window. At most
    ``max_concurrency`` ranges are fetched at once, plus the one being emitted.
    """

    spec: t.ClassVar[WindowedSpec]
    is_sorted = True
    default_concurrency = DEFAULT_CONCURRENCY
    #: Every row is checked against the spec's types (``window_records``).
    checks_types = True
    #: Rows one filter range may hold before it is split (bounds memory per range in flight).
    max_window_rows: int = MAX_WINDOW_ROWS
    #: Shortest range a dense one is split into; a denser minute is read whole, with a warning.
    min_window_span: dt.timedelta = MIN_WINDOW_SPAN

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._density: dict[str, float] = {}
        self._planned: dict[str, int] = {}
        self._extra_pieces: dict[str, int] = {}
        self._planned_lock = threading.Lock()
        self._normalise = compile_normaliser(
            self.schema, self.spec.time_fields, self.spec.id_fields
        )
        documented = [name for name in self.schema["properties"] if name != "extra_fields"]
        self._check_shape = compile_shape_check(self.schema, documented)
        self._capped_page_size: int | None = None

    @property
    def page_size(self) -> int:
        """``page_size``, or the smaller size the API was found to cap pages at."""
        return self._capped_page_size or int(self.settings.get("page_size") or 100)

    @property
    def split_target(self) -> int:
        """Rows aimed at per range when splitting: 80 % of the limit (headroom for uneven
        density), rounded down to whole pages so parts do not end in a nearly empty page."""
        target = max(1, self.max_window_rows * 4 // 5)
        size = self.page_size
        return target // size * size if size <= target else target

    def fetch_page(self, context: Context | None, window: TimeWindow, page: int, size: int) -> Page:
        params = {**self.spec.params.get(self.api_version, {}), "page": page, "size": size}
        body = range_filter(self.spec.filter_key, *request_range(window.start, window.end))
        payload = self.request_json(self.build_request(context, params, body), context)
        return parse_page(payload, self.spec.list_key, self.where(context))

    def row_key(self, row: dict[str, t.Any]) -> tuple[t.Any, ...]:
        keys = self.spec.primary_keys
        if len(keys) == 1:
            value = row.get(keys[0])
            return (value if value.__class__ is str else _str_id(value),)
        return tuple(_str_id(row.get(k)) for k in keys)

    def read_window(
        self, context: Context | None, window: TimeWindow, first: Page | None = None
    ) -> list[dict[str, t.Any]]:
        """Every row of one window, read again when the window changes while it is paged.

        ``first`` is page 0 when it was already fetched (with the current page size)."""
        for _attempt in range(MAX_WINDOW_READS):
            size = self.page_size

            def fetch(page: int, sz: int) -> Page:
                nonlocal first
                if page == 0 and first is not None:
                    cached, first = first, None
                    return cached
                return self.fetch_page(context, window, page, sz)

            try:
                result = read_pages(fetch, size, self.row_key)
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
                self._capped_page_size = exc.size
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

    def read_pieces(self, context: Context | None, window: TimeWindow) -> t.Iterator[Piece]:
        """The rows of ``window`` in ranges of at most ``max_window_rows`` rows, in order.

        A range whose first page reports more rows is split (the first page is dropped); below
        ``min_window_span`` it is read whole with a warning. Each range read updates the
        partition's density, which sizes the windows planned next.
        """
        label = describe_context(context)
        stack = [window]
        while stack:
            current = stack.pop()
            first = self.fetch_page(context, current, 0, self.page_size)
            seconds = max((current.end - current.start).total_seconds(), 1e-3)
            self._density[label] = first.total / seconds
            if first.total > self.max_window_rows:
                parts = split_time_window(
                    current, -(-first.total // self.split_target), self.min_window_span
                )
                if len(parts) > 1:
                    self._more_pieces(context, len(parts) - 1)
                    stack.extend(reversed(parts))
                    continue
                self.logger.warning(
                    "%s: window %s holds %d rows, more than %d, and is too short to split; "
                    "it is read whole",
                    self.where(context),
                    current,
                    first.total,
                    self.max_window_rows,
                )
            # A capped first page is reported by read_window, which re-reads with that size.
            yield Piece(current, self.read_window(context, current, first))

    def plan_windows(self, context: Context | None, window: TimeWindow) -> list[TimeWindow]:
        """``window`` split by the partition's last density, so each part fits the limit."""
        density = self._density.get(describe_context(context))
        if not density:
            return [window]
        expected = density * (window.end - window.start).total_seconds()
        return split_time_window(
            window, math.ceil(expected / self.split_target), self.min_window_span
        )

    def _more_pieces(self, context: Context | None, count: int) -> None:
        """A lane split a range: the progress lines' plan grows by ``count`` windows."""
        label = describe_context(context)
        with self._planned_lock:
            self._extra_pieces[label] = self._extra_pieces.get(label, 0) + count
            planned = self._planned.get(label, 0) + self._extra_pieces[label]
        self.windows_planned(context, planned)

    def window_records(
        self, rows: list[dict[str, t.Any]], window: TimeWindow, context: Context | None
    ) -> list[dict[str, t.Any]]:
        """Normalised rows of ``[window.start, window.end)``, in replication-key order."""
        where = self.where(context)
        lower, upper = format_timestamp(window.start), format_timestamp(window.end)
        asked_from, asked_to = (
            format_timestamp(b) for b in request_range(window.start, window.end)
        )
        normalise = self._normalise
        primary_keys = self.spec.primary_keys
        key = self.spec.replication_key
        has_bot = "botId" in primary_keys
        check_shape = self._check_shape
        records: list[dict[str, t.Any]] = []
        append = records.append
        stray: str | None = None
        for raw in rows:
            record = normalise(raw, where)
            for pk in primary_keys:
                if pk != "botId" and record.get(pk) in (None, ""):
                    raise TapError(f"{where}: a row has no {pk}")
            if has_bot and record.get("botId") is None:
                record["botId"] = ""
            value = record.get(key)
            if not isinstance(value, str):
                raise TapError(f"{where}: a row has no {key}")
            problem = check_shape(record)
            if problem is not None:
                raise TapError(
                    f"{where}: a row does not have the spec's types: {problem} (row "
                    f"{self.row_key(record)[0]!r}); the JAICP OpenAPI spec documents this type"
                )
            if not lower <= value < upper:
                # Rows between the bounds asked for and the window (an inclusive reading of
                # from/to, see request_range) are the neighbouring windows', which ask for them.
                if not asked_from <= value <= asked_to:
                    stray = stray or value
                continue
            append(record)
        if stray:
            # No window asks for such a row: dropping it would lose it without a trace.
            raise TapError(
                f"{where}: window {window}: the API returned a row whose {key} ({stray}) is "
                f"outside the {self.spec.filter_key} range asked for ({asked_from} to "
                f"{asked_to}): the filter does not select on {key} as the tap assumes; no "
                "setting changes this, please report the shape"
            )
        records.sort(key=operator.itemgetter(key))
        return records

    def plan_lanes(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        """One lane per range: filter windows of ``window_days``, split by the partition's
        density (planned lazily, so later windows use what earlier ones found)."""
        start, end = self.sync_start(context), self.sync_end()
        days = int(self.settings.get("window_days") or 1)
        windows = plan_time_windows(start, end, dt.timedelta(days=days))
        label = describe_context(context)
        planned = 0
        for index, window in enumerate(windows):
            parts = self.plan_windows(context, window)
            planned += len(parts)
            with self._planned_lock:
                # Ranges so far, and the windows left at this window's split.
                self._planned[label] = planned + (len(windows) - index - 1) * len(parts)
                total = self._planned[label] + self._extra_pieces.get(label, 0)
            self.windows_planned(context, total)
            for part in parts:
                yield part, self._window_lane(context, part)

    def _window_lane(self, context: Context | None, window: TimeWindow) -> Lane[Piece]:
        return lambda: self.read_pieces(context, window)

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        total = 0
        key = self.spec.replication_key
        bookmark, end = self.bookmark_of(context), self.record_end()
        for _window, pieces in self.fetch_lanes(context):
            for piece in pieces:
                records = self.window_records(piece.rows, piece.window, context)
                del piece.rows[:]  # the raw rows are no longer needed: free them now
                if records and (bookmark or end) and not _all_within(records, key, bookmark, end):
                    records = list(self.skip_before_bookmark(records, context))
                yield from records
                total += len(records)
                self.window_done(context, piece.window, len(records), total)


def _all_within(
    records: list[dict[str, t.Any]], key: str, low: str | None, high: str | None
) -> bool:
    """True when every record's key (canonical form) lies in ``[low, high)``."""
    for record in records:
        value = record.get(key)
        if value is not None and ((low and value < low) or (high and value >= high)):
            return False
    return True


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
    default_concurrency = DEFAULT_CONCURRENCY

    def fetch_window(self, context: Context | None, start: dt.datetime, end: dt.datetime) -> t.Any:
        request = self.build_request(
            context,
            {"intervalType": "DAY", "step": 1},
            range_filter(self.filter_key, *request_range(start, end)),
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

    def plan_lanes(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        """One lane per window of ``STATS_WINDOW_DAYS`` days (one request each)."""
        first = dt.datetime.combine(to_date(self.sync_start(context)), dt.time(), dt.UTC)
        windows = plan_time_windows(first, self.sync_end(), dt.timedelta(days=STATS_WINDOW_DAYS))
        self.windows_planned(context, len(windows))
        for window in windows:
            yield window, self._window_lane(context, window)

    def _window_lane(self, context: Context | None, window: TimeWindow) -> Lane[t.Any]:
        return lambda: [self.fetch_window(context, window.start, window.end)]

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        total = 0
        for window, payloads in self.fetch_lanes(context):
            assert isinstance(window, TimeWindow)
            day_end = dt.datetime.combine(ceil_day(window.end), dt.time(), dt.UTC)
            records = self.parse_stats(next(iter(payloads)), context, window.start, day_end)
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
