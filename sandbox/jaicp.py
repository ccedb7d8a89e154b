"""JAICP Reporter API, as in the official OpenAPI specs (v1 Bearer and legacy token-in-path).

Read endpoints only: ``{sessions,messages,clients}/filter`` (FiltersDto body, page/size paging
with ``paging.totalCount``), ``message/labels``, legacy ``logs/labels/sessions``,
``scenario-exeperiments`` and the advanced stats. Any other call (write endpoints, report
creation) is recorded in ``forbidden_calls`` and refused with 405, so tests can assert that the
tap never calls one.

Undocumented points have the readings in ``VARIANTS`` (the first is the default), chosen per
app with ``app.variant = {point: option}``:

- ``range_bounds``: how a ``DATE_TIME_RANGE`` filter's ``from``/``to`` apply (sessions, messages,
  clients and the stats alike): ``inclusive`` (both ends), ``exclusive_end`` (``[from, to)``),
  ``exclusive_start`` (``(from, to]``), ``exclusive`` (``(from, to)``);
- ``row_order``: the order of the ``*/filter`` rows across pages: ``unsorted`` (stable, by a hash
  of the id), ``ascending`` or ``descending`` by the row's own time (start, message time, last
  visit);
- ``time_format``: how served date-times are spelled (the spec's type is a string with format
  date-time, described as ``yyyy-MM-ddTHH:mm:ss.SSSZ``): ``millis_z``
  (``2024-03-01T00:00:00.000Z``), ``millis_utc_offset`` (``...000+00:00``), ``millis_moscow``
  (``...000+03:00``, the wall clock of Moscow), ``java_offset`` (``...000+0300``, what Java's
  ``SSSZ`` pattern letter prints), ``java_instant`` (Java's ``Instant.toString()``: no fraction
  when it is zero, ``2024-03-01T00:00:00Z``, else ``...00:00.120Z``);
- ``stats_ts``: the unit of ``TimestampToValue.ts`` (int64, unit not stated): ``milliseconds``
  or ``seconds``.

Every generated day has rows exactly at 00:00:00.000 and 12:00:00.000 UTC
(``jaicp_data.EDGE_TIMES``), so the bound readings give different answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import typing as t
from dataclasses import dataclass, field

from sandbox.jaicp_data import (
    MESSAGE_LABEL_GROUPS,
    MESSAGE_LABELS,
    SESSION_LABELS,
    Project,
    generate_project,
    parse_api_time,
    public,
)
from sandbox.server import Request, Response, json_response

#: Undocumented points and their plausible readings; the first is the default.
VARIANTS: dict[str, tuple[str, ...]] = {
    "range_bounds": ("inclusive", "exclusive_end", "exclusive_start", "exclusive"),
    "row_order": ("unsorted", "ascending", "descending"),
    "time_format": (
        "millis_z",
        "millis_utc_offset",
        "millis_moscow",
        "java_offset",
        "java_instant",
    ),
    "stats_ts": ("milliseconds", "seconds"),
}
#: Date-time properties of the served rows, per resource (spec: string, format date-time).
TIME_FIELDS = {
    "sessions": ("startTime",),
    "messages": ("sessionStartTime", "timestamp"),
    "clients": ("joinDate", "lastVisitDate", "blockDate"),
}
MOSCOW = dt.timezone(dt.timedelta(hours=3))

TOKEN = "sandbox-jaicp-unified-token"
V1 = "/api/v1/reporter/"
LEGACY = re.compile(r"^/api/reporter/p/(?P<token>[^/]+)/(?P<rest>.*)$")
TIME_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FILTER_TYPES = {
    "TEXT",
    "DATE_TIME_RANGE",
    "NUMERIC_RANGE",
    "CHECKBOX",
    "RADIO",
    "TREE",
    "CUSTOM_FIELDS_IN_RESPONSE",
    "COMPOSITE_FILTER",
}
#: FilterKey enum of the legacy spec; v1 adds twelve keys.
LEGACY_KEYS = {
    "SESSION_ID",
    "SESSION_START_TIME",
    "SESSION_END_TIME",
    "SESSION_LABELS",
    "SESSION_RESULT",
    "INITIATOR",
    "CALL_TASK_ID",
    "CHANNEL_TYPE",
    "BOT_ID",
    "CLIENT_ID_OR_NAME",
    "CLIENT_JOIN_TIME",
    "CLIENT_LAST_ACTIVITY_TIME",
    "MESSAGE_TYPE",
    "MESSAGE_TIME",
    "MESSAGE_TEXT",
    "ANSWER_TEXT",
    "MESSAGE_COUNT",
    "LOG_LABELS",
    "COMMENT_TEXT",
    "NLP_CLASS",
    "NLP_STATE",
    "INTENT",
    "TRANSFER_TO_OPERATOR",
    "WITHOUT_EMPTY_SESSIONS",
    "WITHOUT_EMPTY_MESSAGES",
    "CUSTOM_FIELDS_IN_RESPONSE",
    "EXCEPTION_EXISTENCE",
    "SESSION_DATA",
    "STATE_ROUTES",
}
V1_KEYS = LEGACY_KEYS | {
    "MESSAGE_OR_ANSWER_TEXT",
    "TEXT_CAMPAIGN_ID",
    "TEXT_CAMPAIGN_RESULT",
    "SESSION_TOPIC",
    "SCENARIO_ACTION",
    "PERIOD",
    "CHANNEL_NAME",
    "BOT_REPLIES",
    "CLIENT_TYPE",
    "AUTOMATION_STATUS",
    "NPS",
    "WITHOUT_TEST_SESSIONS",
}
INTERVALS = {"HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
#: resource -> (list key, time filter key -> internal attribute holding the row's time(s))
RESOURCES: dict[str, tuple[str, dict[str, str]]] = {
    "sessions": ("sessions", {"SESSION_START_TIME": "_time", "MESSAGE_TIME": "_messages"}),
    "messages": ("messages", {"MESSAGE_TIME": "_time", "SESSION_START_TIME": "_session"}),
    "clients": ("clients", {"CLIENT_LAST_ACTIVITY_TIME": "_last"}),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> Response:
    # The sync endpoints' error bodies are not specified; ErrorDto's shape (Async API) is used.
    name = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "not_allowed"}
    return json_response(
        {"error": f"reporter.{name.get(status, 'error')}", "message": message}, status=status
    )


def _order(row: dict[str, t.Any]) -> str:
    ident = str(row.get("questionId") or row.get("sessionId") or row.get("id"))
    return hashlib.sha256(ident.encode()).hexdigest()


def _ident(row: dict[str, t.Any]) -> tuple[str, str]:
    ident = row.get("questionId") or row.get("sessionId") or row.get("id")
    return (str(ident), str(row.get("botId")))


def spell_time(value: str, form: str) -> str:
    """A date-time of the spec's form (``...SSSZ``) spelled as the ``time_format`` ``form``."""
    when = parse_api_time(value)
    millis = f"{when.microsecond // 1000:03d}"
    if form == "millis_z":
        return value
    if form == "millis_utc_offset":
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "+00:00"
    if form == "millis_moscow":
        return when.astimezone(MOSCOW).strftime("%Y-%m-%dT%H:%M:%S.") + millis + "+03:00"
    if form == "java_offset":
        return when.astimezone(MOSCOW).strftime("%Y-%m-%dT%H:%M:%S.") + millis + "+0300"
    if form == "java_instant":  # Instant.toString(): no fraction when it is zero
        fraction = f".{millis}" if when.microsecond else ""
        return when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    raise ValueError(form)


@dataclass
class JAICPApp:
    """Fake API; ``projects`` maps short name to its data. ``token`` is the v1 unified token."""

    projects: dict[str, Project]
    token: str = TOKEN
    prefix: str = "/jaicp"
    #: Rows later than this are not served (a real API cannot return the future).
    clock: t.Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    #: Test knobs: cap ``size`` (answered in paging.pageSize), ignore ``page``, mutate data
    #: before a filter page is served, observe stats requests as they arrive.
    max_page_size: int | None = None
    ignore_page: bool = False
    before_page: t.Callable[[JAICPApp, str, int], None] | None = None
    #: Called before a stats answer is computed (resource name), in the request's thread.
    before_stats: t.Callable[[JAICPApp, str], None] | None = None
    forbidden_calls: list[str] = field(default_factory=list)
    filter_calls: list[dict[str, t.Any]] = field(default_factory=list)
    #: point -> option (see ``VARIANTS``); unset points read their default.
    variant: dict[str, str] = field(default_factory=dict)

    def reading(self, point: str) -> str:
        """The option this app serves for an undocumented ``point``."""
        option = self.variant.get(point, VARIANTS[point][0])
        if option not in VARIANTS[point]:
            raise ValueError(f"{point}: unknown option {option!r}")
        return option

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: Request) -> Response:
        try:
            version, scope, rest = self._authorise(request)
            return self._route(request, version, scope, rest)
        except ApiError as exc:
            return _error(exc.status, str(exc))

    def _authorise(self, request: Request) -> tuple[str, list[Project], str]:
        if request.path.startswith(V1):
            if request.headers.get("authorization") != f"Bearer {self.token}":
                raise ApiError(401, "Invalid or missing unified API token")
            name = request.arg("projectShortName")
            if name is None:
                return "v1", list(self.projects.values()), request.path[len(V1) :]
            if name not in self.projects:
                raise ApiError(404, f"Project {name} not found")
            return "v1", [self.projects[name]], request.path[len(V1) :]
        match = LEGACY.match(request.path)
        if match:
            for project in self.projects.values():
                if match["token"] == project.legacy_token:
                    return "legacy", [project], match["rest"]
            raise ApiError(401, "Invalid analytics token")
        raise ApiError(404, "Not found")

    def _route(self, request: Request, version: str, scope: list[Project], rest: str) -> Response:
        method = request.method
        if method == "POST" and rest in ("sessions/filter", "messages/filter", "clients/filter"):
            return self._filter(request, version, scope, rest.split("/")[0])
        if method == "POST" and rest in (
            "stats/messages/with-advanced-filters",
            "stats/sessions/with-advanced-filters",
        ):
            return self._stats(request, version, scope, rest.split("/")[1])
        if method == "GET" and rest == "message/labels":
            return json_response(MESSAGE_LABELS)
        if method == "GET" and rest == "message/labels/groups" and version == "legacy":
            return json_response(MESSAGE_LABEL_GROUPS)
        if method == "GET" and rest == "logs/labels/sessions" and version == "legacy":
            return json_response(SESSION_LABELS)
        if method == "GET" and rest == "scenario-exeperiments":
            if version == "v1" and request.arg("projectShortName") is None:
                raise ApiError(400, "Required parameter 'projectShortName' is not present")
            return json_response([e for p in scope for e in p.experiments])
        self.forbidden_calls.append(f"{method} {rest}")
        raise ApiError(405, f"{method} {rest} is not served by the sandbox (read-only tap)")

    # ------------------------------------------------------------------ validation

    def _filters(self, request: Request, version: str) -> list[dict[str, t.Any]]:
        try:
            body = request.json()
        except ValueError:
            raise ApiError(400, "Malformed JSON body") from None
        if body is None:
            return []
        if not isinstance(body, dict) or not isinstance(body.get("filters", []), list):
            raise ApiError(400, "Body must be a FiltersDto {filters: [...]}")
        keys = V1_KEYS if version == "v1" else LEGACY_KEYS
        filters = body.get("filters", [])
        for item in filters:
            if not isinstance(item, dict) or item.get("key") not in keys:
                raise ApiError(400, f"Unknown filter key in {item!r}")
            if item.get("type") not in FILTER_TYPES:
                raise ApiError(400, f"Unknown filter type in {item!r}")
            if item["type"] == "DATE_TIME_RANGE":
                for bound in ("from", "to"):
                    value = item.get(bound)
                    if value is not None and not (
                        isinstance(value, str) and TIME_FORMAT.match(value)
                    ):
                        raise ApiError(400, f"{bound}: expected yyyy-MM-ddTHH:mm:ss.SSSZ")
        return filters

    @staticmethod
    def _int_arg(request: Request, name: str, default: int, minimum: int) -> int:
        raw = request.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"{name} must be an integer") from None
        if value < minimum:
            raise ApiError(400, f"{name} must be >= {minimum}")
        return value

    def _matching(
        self, rows: list[dict[str, t.Any]], resource: str, filters: list[dict[str, t.Any]]
    ) -> list[dict[str, t.Any]]:
        attributes = RESOURCES[resource][1]
        now = self.clock()
        selected = [row for row in rows if _times(row, attributes, "_first")[0] <= now]
        for item in filters:
            if item["type"] != "DATE_TIME_RANGE":
                raise ApiError(400, f"The sandbox does not implement {item['type']} filters")
            attribute = attributes.get(item["key"])
            if attribute is None:
                raise ApiError(400, f"Filter {item['key']} does not apply to {resource}")
            low = parse_api_time(item["from"]) if item.get("from") else None
            high = parse_api_time(item["to"]) if item.get("to") else None
            bounds = self.reading("range_bounds")
            low_open = bounds in ("exclusive_start", "exclusive")
            high_open = bounds in ("exclusive_end", "exclusive")
            selected = [
                row
                for row in selected
                if any(
                    (low is None or (low < v if low_open else low <= v))
                    and (high is None or (v < high if high_open else v <= high))
                    for v in _times(row, attributes, attribute)
                )
            ]
        order = self.reading("row_order")
        if order == "unsorted":
            return sorted(selected, key=_order)
        ordered = sorted(
            selected, key=lambda row: (_times(row, attributes, "_first")[0], _ident(row))
        )
        return ordered[::-1] if order == "descending" else ordered

    # ------------------------------------------------------------------ endpoints

    def _filter(
        self, request: Request, version: str, scope: list[Project], resource: str
    ) -> Response:
        page = self._int_arg(request, "page", 0, 0)
        size = self._int_arg(request, "size", 20, 1)
        filters = self._filters(request, version)
        if self.before_page is not None:
            self.before_page(self, resource, page)
        rows = [row for p in scope for row in getattr(p, resource)]
        matching = self._matching(rows, resource, filters)
        served_size = min(size, self.max_page_size or size)
        offset = 0 if self.ignore_page else page * served_size
        chunk = [public(row) for row in matching[offset : offset + served_size]]
        form = self.reading("time_format")
        if form != VARIANTS["time_format"][0]:
            for row in chunk:
                for name in TIME_FIELDS[resource]:
                    if isinstance(row.get(name), str):
                        row[name] = spell_time(row[name], form)
        if resource == "sessions":
            labels = request.arg("needToReturnSessionLabels") == "true"
            data = version == "v1" and request.arg("needToReturnSessionData") == "true"
            for row in chunk:
                if not labels:
                    row.pop("labels", None)
                if not data:
                    row.pop("sessionData", None)
        self.filter_calls.append(
            {"resource": resource, "version": version, "page": page, "size": size}
        )
        paging = {"pageNum": page, "pageSize": served_size, "totalCount": len(matching)}
        return json_response({"paging": paging, RESOURCES[resource][0]: chunk})

    def _stats(
        self, request: Request, version: str, scope: list[Project], resource: str
    ) -> Response:
        if self.before_stats is not None:
            self.before_stats(self, resource)
        interval = request.arg("intervalType", "DAY")
        if interval not in INTERVALS:
            raise ApiError(400, f"intervalType must be one of {sorted(INTERVALS)}")
        if interval != "DAY" or self._int_arg(request, "step", 1, 1) != 1:
            raise ApiError(400, "The sandbox implements intervalType=DAY with step=1 only")
        try:
            offset = dt.timedelta(minutes=int(request.headers.get("timezone") or 0))
        except ValueError:
            raise ApiError(400, "Timezone must be an integer") from None
        filters = self._filters(request, version)
        rows = [row for p in scope for row in getattr(p, resource)]
        counts: dict[int, int] = {}
        for row in self._matching(rows, resource, filters):
            local = row["_time"] + offset
            bucket = dt.datetime(local.year, local.month, local.day, tzinfo=dt.UTC) - offset
            seconds = int(bucket.timestamp())
            key = seconds if self.reading("stats_ts") == "seconds" else seconds * 1000
            counts[key] = counts.get(key, 0) + 1
        stats = [{"ts": ts, "value": float(n)} for ts, n in sorted(counts.items())]
        return json_response({"stats": stats, "totalCount": float(sum(counts.values()))})


def _times(row: dict[str, t.Any], attributes: dict[str, str], attribute: str) -> list[dt.datetime]:
    if attribute == "_first":
        attribute = next(iter(attributes.values()))
    if attribute == "_session":
        return [parse_api_time(row["sessionStartTime"])]
    value = row[attribute]
    return list(value) if isinstance(value, list) else [value]


def default_app(start: dt.date, end: dt.date, seed: int = 1) -> JAICPApp:
    """Two projects (one per legacy token) over days ``[start, end)``."""
    return JAICPApp(
        projects={
            "acme-support": generate_project(
                "acme-support", "sandbox-jaicp-legacy-support", start, end, 30, seed
            ),
            "acme-sales": generate_project(
                "acme-sales", "sandbox-jaicp-legacy-sales", start, end, 12, seed
            ),
        }
    )


def demo_config(app: JAICPApp, base_url: str) -> dict[str, t.Any]:
    return {
        "api_token": app.token,
        "api_url": f"{base_url}{app.prefix}",
        "api_version": "v1",
        "project_short_names": sorted(app.projects),
    }
