"""Feedbot (Feedyou): Export API, eight GET exports per bot, one host per bot.

Contract: shared/vendor-apis.md section 4. The key is sent as the ``x-functions-key`` header
(never ``?code=``), every call carries ``fromTimestamp``/``toTimestamp`` (Unix seconds, daily
windows by default) and the eight exports are one stream class driven by the table in
``feedbot_schemas.EXPORTS``.

Assumptions (flagged in the README): the response is a JSON array; every row carries a
``timestamp`` (seconds, milliseconds or ISO) that the time filters apply to (a row returned
outside the range asked for is one clear error, never dropped); the bounds' inclusivity is
unknown, so each window asks for one extra second on each side and keeps only the rows inside
``[start, end)``; an older bot answers 404 on the newer exports; column types.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import typing as t
from http import HTTPStatus
from urllib.parse import quote

from singer_sdk.streams.rest import HTTPRequest

from tap_chatbot_reports.checks import describe_payload, unwrap_rows
from tap_chatbot_reports.client import VendorAPIError, VendorStream
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.prefetch import Lane
from tap_chatbot_reports.timeparse import parse_timestamp
from tap_chatbot_reports.vendors import Vendor
from tap_chatbot_reports.vendors.feedbot_schemas import (
    EXPORTS,
    NEWER_EXPORTS_SINCE,
    Export,
    export_schema,
    shape_row,
)
from tap_chatbot_reports.vendors.feedbot_settings import (
    DEFAULT_API_URL_TEMPLATE,
    DEFAULT_CONCURRENCY,
    DEFAULT_WINDOW_DAYS,
    SETTINGS,
    check_config,
)
from tap_chatbot_reports.windows import TimeWindow

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

EXPORT_PREFIX = "/api/management/export/"


# ---------------------------------------------------------------------- pure helpers


def plan_windows(start: dt.datetime, end: dt.datetime, days: int) -> list[TimeWindow]:
    """``[start, end)`` cut at UTC midnights into windows of at most ``days`` days.

    The first window starts at ``start`` (a bookmark is a moment, not a day); every later
    boundary is a UTC midnight, so a daily setting asks for calendar days.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    windows: list[TimeWindow] = []
    cursor = start.astimezone(dt.UTC)
    end = end.astimezone(dt.UTC)
    while cursor < end:
        midnight = dt.datetime.combine(cursor.date(), dt.time(0), tzinfo=dt.UTC)
        stop = min(midnight + dt.timedelta(days=days), end)
        windows.append(TimeWindow(cursor, stop))
        cursor = stop
    return windows


def window_params(window: TimeWindow) -> dict[str, int]:
    """``fromTimestamp``/``toTimestamp`` for a window, in whole seconds.

    The bounds' inclusivity is not documented: ``fromTimestamp`` is one second before the start
    and ``toTimestamp`` the end rounded up, so the rows of ``[start, end)`` come back either way.
    The caller drops the rows outside the window (they belong to the neighbouring window).
    """
    return {
        "fromTimestamp": math.floor(window.start.timestamp()) - 1,
        "toTimestamp": math.ceil(window.end.timestamp()),
    }


def where_param(field: str) -> str:
    """``gender`` -> ``whereGender`` (the documented ``where<Field>`` spelling)."""
    return "where" + field[:1].upper() + field[1:]


def user_data_params(settings: t.Mapping[str, t.Any]) -> dict[str, str]:
    """``notEmpty`` and ``where<Field>`` parameters of the user-data exports."""
    params: dict[str, str] = {}
    not_empty = [str(f) for f in settings.get("user_data_not_empty") or []]
    if not_empty:
        params["notEmpty"] = ",".join(not_empty)
    for field, value in sorted((settings.get("user_data_where") or {}).items()):
        params[where_param(str(field))] = str(value)
    return params


def bot_base_url(template: str, bot_id: str) -> str:
    return template.replace("{bot_id}", quote(bot_id, safe="")).rstrip("/")


def extract_rows(payload: t.Any, bot_id: str, export: Export) -> list[t.Any]:
    """The list of rows in a body: a JSON array (one wrapping object with one list tolerated)."""
    rows = unwrap_rows(payload)
    if rows is None:
        raise TapError(
            f"Feedbot bot {bot_id}: export {export.path} returned {describe_payload(payload)} "
            "where a list of rows was expected; check feedbot.api_url_template"
        )
    return rows


def record_time(record: t.Mapping[str, t.Any]) -> dt.datetime | None:
    value = record.get("timestamp")
    return None if value is None else parse_timestamp(value)


# ---------------------------------------------------------------------- stream


class ExportNotAvailable(VendorAPIError):
    """404 on an export that an older bot does not have."""


class _Probe:
    """The outcome of a partition's first request to a newer export."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.missing = False


class FeedbotExportStream(VendorStream):
    """One export of every configured bot; subclasses only set ``export``."""

    vendor = "feedbot"
    vendor_title = "Feedbot"
    auth_setting = "feedbot.bots[].function_key"
    not_found_setting = "feedbot.api_url_template and feedbot.bots[].bot_id"
    url_setting = "feedbot.api_url_template"
    replication_key = "timestamp"
    is_sorted = True
    default_concurrency = DEFAULT_CONCURRENCY

    export: t.ClassVar[Export]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        tap = kwargs.get("tap") or args[0]
        section = tap.config.get(self.vendor)
        columns = section.get("user_data_columns") if isinstance(section, dict) else None
        kwargs.setdefault("schema", export_schema(self.export, columns or {}))
        super().__init__(*args, **kwargs)
        self._warned: set[tuple[str, str]] = set()

    @property
    def url_base(self) -> str:
        return str(self.settings.get("api_url_template") or DEFAULT_API_URL_TEMPLATE)

    @property
    def partitions(self) -> list[dict] | None:
        return [{"bot_id": str(bot.get("bot_id"))} for bot in self.settings.get("bots") or []]

    def function_key(self, bot_id: str) -> str:
        for bot in self.settings.get("bots") or []:
            if str(bot.get("bot_id")) == bot_id:
                return str(bot.get("function_key") or "")
        raise TapError(f"Feedbot bot {bot_id} is not in feedbot.bots")

    def build_request(self, bot_id: str, window: TimeWindow) -> HTTPRequest:
        """The GET of one export, one bot, one window. The key goes in a header only."""
        params: dict[str, t.Any] = dict(window_params(window))
        if self.export.user_data:
            params.update(user_data_params(self.settings))
        return HTTPRequest(
            url=bot_base_url(self.url_base, bot_id) + EXPORT_PREFIX + self.export.path,
            method="GET",
            headers={
                "x-functions-key": self.function_key(bot_id),
                "Accept": "application/json",
                "User-Agent": self.user_agent,
            },
            params=params,
        )

    def fetch_window(self, context: Context, window: TimeWindow) -> list[t.Any]:
        payload = self.request_json(self.build_request(context["bot_id"], window), context)
        return extract_rows(payload, context["bot_id"], self.export)

    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == HTTPStatus.NOT_FOUND and self.export.newer:
            raise ExportNotAvailable(self.response_error_message(response))
        super().validate_response(response)

    def records_in_window(
        self, rows: list[t.Any], bot_id: str, window: TimeWindow
    ) -> list[dict[str, t.Any]]:
        """Shape rows, keep those of ``[start, end)`` (and those without a time), sorted."""
        columns = self.settings.get("user_data_columns") or {}
        params = window_params(window)
        low = dt.datetime.fromtimestamp(params["fromTimestamp"], dt.UTC)
        # A sub-second timestamp in toTimestamp's last second matches it when the API compares
        # whole seconds.
        high = dt.datetime.fromtimestamp(params["toTimestamp"] + 1, dt.UTC)
        kept: list[dict[str, t.Any]] = []
        untimed = 0
        stray: dt.datetime | None = None
        for raw in rows:
            shaped = shape_row(raw, self.export, bot_id, columns)
            for field in shaped.misfits:
                self._warn_once(bot_id, field)
            when = record_time(shaped.record)
            if when is None:
                untimed += 1
                kept.append(shaped.record)
            elif window.start <= when < window.end:
                kept.append(shaped.record)
            elif not low <= when < high:
                stray = stray or when
        if stray is not None:
            # The neighbouring windows ask for the rows just outside this one (the bounds'
            # inclusivity is unknown); no window asks for this row: dropping it would lose it.
            raise TapError(
                f"Feedbot bot {bot_id} export {self.export.path}: a row returned for "
                f"fromTimestamp={params['fromTimestamp']}&toTimestamp={params['toTimestamp']} "
                f"has its timestamp at {stray.isoformat()}, outside that range: the time filter "
                "does not apply to timestamp as the tap assumes (or the timestamp is not UTC); "
                "no setting changes this, please report the shape"
            )
        if untimed:
            self.logger.warning(
                "Feedbot bot %s export %s: %d row(s) of %s have no usable timestamp; emitted "
                "without one (they do not move the bookmark)",
                bot_id,
                self.export.path,
                untimed,
                window,
            )
        kept.sort(key=lambda record: record.get("timestamp") or "")
        return kept

    def _warn_once(self, bot_id: str, field: str) -> None:
        if (bot_id, field) in self._warned:
            return
        self._warned.add((bot_id, field))
        where = "storages" if self.export.user_data else "extra_fields"
        self.logger.warning(
            "Feedbot bot %s export %s: field %s has values that do not fit its column type; "
            "such values are kept whole in %s.%s and the column is left null",
            bot_id,
            self.export.path,
            field,
            where,
            field,
        )

    def plan_lanes(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        """One lane per window (one unpaged request each)."""
        assert context is not None
        days = int(self.settings.get("window_days") or DEFAULT_WINDOW_DAYS)
        windows = plan_windows(self.sync_start(context), self.sync_end(), days)
        self.windows_planned(context, len(windows))
        # A newer export may not exist on an older bot (404): its first window is a probe, the
        # others wait for it and are not requested when it answered 404. A bot that already
        # served a newer export has them all (they come with one hosting version): no probe.
        bot_id = context["bot_id"]
        probe = _Probe() if self.export.newer and bot_id not in self._newer_ok() else None
        for index, window in enumerate(windows):
            yield window, self._window_lane(context, window, probe, first=index == 0)

    def _newer_ok(self) -> set[str]:
        """Bots known to serve the newer exports (shared by this tap's Feedbot streams)."""
        return t.cast("set[str]", self._tap.__dict__.setdefault("_feedbot_newer_exports", set()))

    def _window_lane(
        self, context: Context, window: TimeWindow, probe: _Probe | None, *, first: bool
    ) -> Lane[t.Any]:
        def lane() -> list[list[t.Any]]:
            if probe is None:
                return [self.fetch_window(context, window)]
            if not first:
                probe.done.wait()
                if probe.missing:
                    raise ExportNotAvailable("export not available")
                return [self.fetch_window(context, window)]
            try:
                rows = [self.fetch_window(context, window)]
            except ExportNotAvailable:
                probe.missing = True
                raise
            finally:
                probe.done.set()
            self._newer_ok().add(context["bot_id"])
            return rows

        return lane

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        bot_id = context["bot_id"]
        total = 0
        for window, results in self.fetch_lanes(context):
            assert isinstance(window, TimeWindow)
            try:
                rows = next(iter(results))
            except ExportNotAvailable:
                self.logger.warning(
                    "Feedbot bot %s has no %s export (HTTP 404: it needs bot hosting %s or "
                    "later); stream %s skipped for this bot",
                    bot_id,
                    self.export.path,
                    NEWER_EXPORTS_SINCE,
                    self.name,
                )
                return
            count = 0
            records = self.records_in_window(rows, bot_id, window)
            for record in self.skip_before_bookmark(records, context):
                count += 1
                yield record
            total += count
            self.window_done(context, window, count, total)


def _stream_class(export: Export) -> type[FeedbotExportStream]:
    class_name = "Feedbot" + export.path[:1].upper() + export.path[1:] + "Stream"
    return type(
        class_name,
        (FeedbotExportStream,),
        {
            "export": export,
            "name": export.stream,
            "path": export.path,
            "primary_keys": export.primary_keys,
            "__doc__": export.description,
        },
    )


STREAMS: tuple[type[FeedbotExportStream], ...] = tuple(_stream_class(e) for e in EXPORTS)


VENDOR = Vendor(
    key="feedbot",
    title="Feedbot",
    settings=SETTINGS,
    streams=STREAMS,
    secret_keys=frozenset({"function_key"}),
    check_config=check_config,
)
