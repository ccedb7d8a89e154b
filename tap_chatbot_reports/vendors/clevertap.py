"""CleverTap: Get Message Reports API (POST, one synchronous JSON answer, no paging).

Contract: shared/vendor-apis.md section 2. Documented: the endpoint, both auth headers, the body
(``from``/``to`` as ``YYYYMMDD`` strings, optional filters, ``daily``), the region host table and
the aggregate response shape. Not documented, handled without a guess where possible: whether
``to`` is inclusive (day-wise requests send the day after the window and drop that day if it
comes back, so both readings lose nothing; ``daily: false`` assumes inclusive), where the day is
in a day-wise answer (the shapes ``clevertap_parse`` accepts; anything else is a clear error).
Assumptions (flagged in the README): days are UTC days, ``message id`` is unique per response (a
duplicate is a clear error), the ``status: fail`` envelope on HTTP 200. ``daily: false`` asks
for the whole range in one request (no range limit or row cap is documented).

Concurrency: CleverTap limits concurrent requests per account and per API (documented, T4),
3 for this API (third-party transcription of the vendor's table). Windows are fetched ahead
through ``VendorStream.fetch_lanes`` with ``clevertap.max_concurrency`` lanes (default and
maximum ``MAX_IN_FLIGHT`` = 3). One lane is one request, and a config has one account (one
partition), so the pipeline's concurrency is the number of requests in flight for that account.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.streams.rest import HTTPRequest

from tap_chatbot_reports.client import VendorAPIError, VendorStream
from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.prefetch import Lane
from tap_chatbot_reports.redact import redact
from tap_chatbot_reports.vendors import Vendor
from tap_chatbot_reports.vendors.clevertap_parse import (
    ShapeError,
    compact_day,
    extract_messages,
    fail_info,
    is_retriable_code,
    message_rows,
)
from tap_chatbot_reports.vendors.clevertap_schemas import (
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_REGION,
    DEFAULT_WINDOW_DAYS,
    ENDPOINT_PATH,
    FILTERS,
    MAX_IN_FLIGHT,
    REGION_HOSTS,
    SCHEMA,
    SETTINGS,
)
from tap_chatbot_reports.windows import ONE_DAY, DayWindow, ceil_day, plan_day_windows, to_date

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


def api_root(section: t.Mapping[str, t.Any]) -> str:
    """``api_url`` if set, else the documented host of ``region``."""
    override = section.get("api_url")
    if override:
        return str(override).rstrip("/")
    region = str(section.get("region") or DEFAULT_REGION)
    return f"https://{REGION_HOSTS[region]}"


def request_body(section: t.Mapping[str, t.Any], window: DayWindow) -> dict[str, t.Any]:
    """The JSON body for one window.

    Whether ``to`` is inclusive is not documented (vendor-apis.md 2.10). Day-wise requests
    send the day after the window as ``to``: read inclusively, the answer holds one day more,
    which ``parse_window`` drops (the next window reads it); read exclusively, it holds the
    window exactly. Either way no day is lost. An aggregate cannot be trimmed by day, so
    ``daily: false`` sends the window's last day (inclusive: an assumption).
    """
    daily = bool(section.get("daily", True))
    body: dict[str, t.Any] = {
        "from": compact_day(window.start),
        "to": compact_day(window.end if daily else window.last_day),
        "daily": daily,
    }
    for setting, (key, _known) in FILTERS.items():
        values = section.get(setting)
        if values:
            body[key] = [str(v) for v in values]
    return body


class CleverTapMessageReportsStream(VendorStream):
    """Message reports of one account: per message and day, or one aggregate per message."""

    vendor = "clevertap"
    vendor_title = "CleverTap"
    auth_setting = "clevertap.passcode (and clevertap.account_id, clevertap.region)"
    not_found_setting = "clevertap.region / clevertap.api_url"

    name = "clevertap_message_reports"
    path = "message_report"
    primary_keys: t.Sequence[str] = ("message_id", "report_date")
    replication_key = "report_date"
    is_sorted = True
    schema = SCHEMA
    #: One request per lane and one account per config: this bounds the account's requests.
    default_concurrency = MAX_IN_FLIGHT

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.daily:
            self.primary_keys = ("message_id",)
            self.replication_key = None  # type: ignore[assignment]

    @property
    def url_base(self) -> str:
        return api_root(self.settings)

    @property
    def daily(self) -> bool:
        return bool(self.settings.get("daily", True))

    @property
    def check_sorted(self) -> bool:
        # The lookback re-reads days before the bookmark on purpose: the bookmark may move
        # back while those days are re-emitted, then forward again (records stay in day order).
        return False

    @property
    def partitions(self) -> list[dict] | None:
        account = self.settings.get("account_id")
        return [{"account_id": str(account)}] if account else []

    @property
    def http_headers(self) -> dict:
        return {
            "X-CleverTap-Account-Id": str(self.settings.get("account_id", "")),
            "X-CleverTap-Passcode": str(self.settings.get("passcode", "")),
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }

    # ------------------------------------------------------------------ requests

    def build_request(self, window: DayWindow) -> HTTPRequest:
        return HTTPRequest(
            url=self.url_base + ENDPOINT_PATH,
            method="POST",
            headers=self.http_headers,
            data=request_body(self.settings, window),
        )

    def decode_response(self, response: requests.Response) -> t.Any:
        """JSON, then CleverTap's ``status: fail`` form (HTTP 200 included): 429/5xx codes are
        retried like the HTTP statuses, any other code is fatal with the vendor's text."""
        payload = super().decode_response(response)
        failure = fail_info(payload)
        if failure is None:
            return payload
        code, text = failure
        message = redact(
            f"{self._error_prefix()}: CleverTap answered status fail "
            f"(code {code if code is not None else 'missing'}): {text}"
        )
        if is_retriable_code(code):
            raise RetriableAPIError(message, response)
        if code in (401, 403):
            message += f"; check the setting {self.auth_setting}"
        raise VendorAPIError(message)

    def fetch_window(self, context: Context, window: DayWindow) -> t.Any:
        return self.request_json(self.build_request(window), context)

    # ------------------------------------------------------------------ parsing

    def parse_window(
        self, payload: t.Any, context: Context, window: DayWindow
    ) -> list[dict[str, t.Any]]:
        """Records of one response, in (report_date, message_id) order, within the window."""
        account = str(context["account_id"])
        try:
            messages, total = extract_messages(payload)
            rows = [
                row
                for message in messages
                for row in message_rows(
                    message,
                    account_id=account,
                    window_start=window.start,
                    window_last_day=window.last_day,
                    daily=self.daily,
                )
            ]
        except ShapeError as exc:
            raise TapError(
                f"{self._error_prefix()}: response for {window} cannot be interpreted: {exc}"
            ) from None
        if total is not None and total > len(messages):
            self.logger.warning(
                "%s: %s: total_results is %d but %d messages came back; the API has no paging, "
                "so %s",
                self._error_prefix(),
                window,
                total,
                len(messages),
                "use a smaller clevertap.window_days"
                if self.daily
                else "narrow start_date/end_date or the clevertap filters",
            )
        first, last = window.start.isoformat(), window.last_day.isoformat()
        inside = [r["report_date"] is None or first <= r["report_date"] <= last for r in rows]
        kept = [r for r, keep in zip(rows, inside, strict=True) if keep]
        # The day after the window comes back when ``to`` is inclusive (see request_body):
        # expected, and read by the next window. Any other day outside is worth a line.
        after = window.end.isoformat()
        pairs = zip(rows, inside, strict=True)
        outside = sum(1 for r, keep in pairs if not keep and r["report_date"] != after)
        if outside:
            self.logger.info(
                "%s: %s: %d message-days outside the requested days ignored",
                self._error_prefix(),
                window,
                outside,
            )
        kept.sort(key=lambda r: (r["report_date"] or "", r["message_id"]))
        seen: set[tuple[str, str | None]] = set()
        for row in kept:
            key = (row["message_id"], row["report_date"])
            if key in seen:
                raise TapError(
                    f"{self._error_prefix()}: response for {window} lists message "
                    f"{key[0]}{' on ' + key[1] if key[1] else ''} twice; rows cannot be merged "
                    "safely"
                )
            seen.add(key)
        return kept

    # ------------------------------------------------------------------ sync

    def first_day(self, context: Context) -> dt.date:
        """daily: the bookmark's day minus ``lookback_days`` (never before ``start_date`` unless
        the bookmark is); else ``start_date`` (or 30 days back)."""
        bookmark = self.get_starting_replication_key_value(context) if self.daily else None
        if not bookmark:
            return to_date(self.sync_start(context))
        bookmark_day = to_date(self.sync_start(context))
        lookback = int(self.settings.get("lookback_days", DEFAULT_LOOKBACK_DAYS))
        first = bookmark_day - lookback * ONE_DAY
        start = self.config.get("start_date")
        if start:
            floor = min(to_date(_aware(str(start))), bookmark_day)
            first = max(first, floor)
        return first

    def plan(self, context: Context) -> list[DayWindow]:
        """daily: windows of ``window_days``. Aggregate: ONE request for the whole range.

        An aggregate answer selects messages by start day and sums their counts up to ``to``
        (vendor-apis.md 2.5), so two windows' aggregates can neither be merged (a message
        started in the first window is counted only up to its end) nor summed (it is absent
        from the second). No maximum range and no row cap are documented for this API
        (2.6), so the whole ``[start_date, end)`` range is asked in one call; the latency of
        long ranges is covered by ``request_timeout``."""
        first, end = self.first_day(context), ceil_day(self.sync_end())
        if not self.daily:
            return [DayWindow(first, end)] if first < end else []
        window_days = int(self.settings.get("window_days") or DEFAULT_WINDOW_DAYS)
        return plan_day_windows(first, end, window_days)

    def _check_catalog(self) -> None:
        if self.daily and self.replication_method == "INCREMENTAL":
            wrong = self.replication_key != "report_date"
        else:
            wrong = not self.daily and bool(self.replication_key)
        if wrong:
            raise TapError(
                f"{self._error_prefix()}: the catalog's replication key "
                f"({self.replication_key}) does not match clevertap.daily="
                f"{str(self.daily).lower()}; run discovery again after changing clevertap.daily"
            )

    def concurrency(self) -> int:
        """``clevertap.max_concurrency``, never above the per-account cap (the config schema
        already refuses more; this guards configs that skipped validation)."""
        return min(super().concurrency(), MAX_IN_FLIGHT)

    def plan_lanes(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        """One lane per window: one request, its decoded body as the lane's only item."""
        assert context is not None
        windows = self.plan(context)
        self.windows_planned(context, len(windows))
        for window in windows:
            yield window, self._window_lane(context, window)

    def _window_lane(self, context: Context, window: DayWindow) -> Lane[t.Any]:
        def lane() -> list[t.Any]:
            return [self.fetch_window(context, window)]

        return lane

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        self._check_catalog()  # before any request
        total = 0
        for window, payloads in self.fetch_lanes(context):
            assert isinstance(window, DayWindow)
            # Parsed here, in window order, so warnings and errors come out in that order.
            rows = self.parse_window(next(iter(payloads)), context, window)
            yield from rows
            total += len(rows)
            self.window_done(context, window, len(rows), total)


def _aware(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def check_config(section: dict[str, t.Any]) -> list[str]:
    """Problems JSON Schema cannot express (one line each, starting with the setting)."""
    problems: list[str] = []
    for key in ("account_id", "passcode"):
        value = section.get(key)
        if isinstance(value, str) and not value.strip():
            problems.append(f"clevertap.{key}: must not be empty")
    url = section.get("api_url")
    if isinstance(url, str) and url and not url.startswith(("http://", "https://")):
        problems.append(f"clevertap.api_url: {url!r} must start with https:// (or http://)")
    extra = section.get("extra_filter_values")
    extra = extra if isinstance(extra, dict) else {}
    for setting, (_key, known) in FILTERS.items():
        values = section.get(setting)
        if not known or not isinstance(values, list):
            continue
        allowed = {v.lower() for v in known} | {
            str(v).lower() for v in extra.get(setting) or [] if isinstance(v, str)
        }
        unknown = [str(v) for v in values if str(v).lower() not in allowed]
        if unknown:
            problems.append(
                f"clevertap.{setting}: unknown value(s) {', '.join(unknown)} (documented: "
                f"{', '.join(known)}; add others under clevertap.extra_filter_values."
                f"{setting})"
            )
        if any(isinstance(v, str) and not v.strip() for v in values):
            problems.append(f"clevertap.{setting}: a value is empty")
    return problems


VENDOR = Vendor(
    key="clevertap",
    title="CleverTap",
    settings=SETTINGS,
    streams=(CleverTapMessageReportsStream,),
    secret_keys=frozenset({"passcode"}),
    check_config=check_config,
)

__all__ = ["MAX_IN_FLIGHT", "REGION_HOSTS", "VENDOR", "api_root", "check_config", "request_body"]
