"""The one base REST stream every vendor builds on.

It owns what is the same for every vendor: request timeout, bounded retries with exponential
backoff that honour ``Retry-After``, JSON decoding, one clear error line per permanent failure
(naming vendor, stream, partition and the setting to check, never a secret or a URL), window
progress lines and the "skip rows older than the bookmark" rule for sorted streams.

Nothing vendor-specific lives here: a vendor module sets the class attributes below.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import logging
import random
import threading
import time
import traceback
import typing as t
from http import HTTPStatus

import backoff
import msgspec
import requests
import singer_sdk.singerlib as singer
import urllib3
from singer_sdk import metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import HTTPRequest

from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.fastpath import (
    Conformer,
    compile_stream_conformer,
    drop_undeclared,
    plain_sdk_path,
)
from tap_chatbot_reports.prefetch import Lane, PartitionPipeline
from tap_chatbot_reports.progress import StreamProgress
from tap_chatbot_reports.recordloop import PendingBookmark, block_writer, sync_records
from tap_chatbot_reports.redact import redact
from tap_chatbot_reports.schema_types import (
    apply_json_text,
    describe_flattened_records,
    json_text_paths,
)
from tap_chatbot_reports.timeparse import canonical_instant

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap

#: False when the benchmark harness asks for the SDK's default record path.
FAST_PATH = not plain_sdk_path()
MAX_RETRY_AFTER_SECONDS = 300.0
MAX_BACKOFF_SECONDS = 120.0
DEFAULT_LOOKBACK_START = dt.timedelta(days=30)
_TRANSIENT_EXCEPTIONS = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


class VendorAPIError(FatalAPIError):
    """A permanent API error; the message is one line meant for the user."""


def _same(record: t.Any) -> t.Any:
    return record


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class VendorFailureLog(t.Protocol):
    """What the tap keeps of failed vendors (``TapChatbotReports.vendor_failures``)."""

    def get(self, vendor: str, /) -> str | None: ...
    def __setitem__(self, vendor: str, line: str, /) -> None: ...


def isolate_vendor_failure(
    get_records: t.Callable[[t.Any, Context | None], t.Iterable[dict[str, t.Any]]],
) -> t.Callable[[t.Any, Context | None], t.Iterator[dict[str, t.Any]]]:
    """Wrap a vendor's ``get_records``: an exception ends this partition (nothing after the
    last record emitted is claimed: its bookmark stays at that record), is kept by the tap as
    one line naming vendor, stream, partition and setting, and every later partition and
    stream of the same vendor is skipped. The tap exits non-zero at the end of the run; the
    other vendors' streams run as if the failed vendor were not configured."""

    @functools.wraps(get_records)
    def isolated(self: VendorStream, context: Context | None) -> t.Iterator[dict[str, t.Any]]:
        failures = self.failure_log()
        earlier = failures.get(self.vendor) if failures is not None else None
        if earlier is not None:
            self.logger.warning(
                "%s stream %s (%s): skipped, the vendor failed earlier in this run",
                self.vendor_title,
                self.name,
                describe_context(context),
            )
            return
        try:
            yield from get_records(self, context)
        except Exception as exc:
            if failures is None:  # not run by our tap (a bare stream in a test): as before
                raise
            line = _failure_line(self, context, exc)
            if not isinstance(exc, (TapError, FatalAPIError, RetriableAPIError)):
                # Not one of our clean errors: the traceback helps, at DEBUG only.
                self.logger.debug("%s", redact("".join(traceback.format_exception(exc))))
            self.logger.error("%s", line)
            failures[self.vendor] = line

    isolated._isolated = True  # type: ignore[attr-defined]
    return isolated


def _failure_line(stream: VendorStream, context: Context | None, exc: Exception) -> str:
    """One line: the error's own text when it names the stream (our errors do), else a line
    that names vendor, stream, partition and the vendor's section to check."""
    text = " ".join(redact(str(exc)).split())
    if stream.name in text:
        return text
    kind = type(exc).__name__
    return redact(
        f"{stream.vendor_title} stream {stream.name} ({describe_context(context)}): "
        f"{kind}: {text or 'no message'}; check the settings of the {stream.vendor} section "
        "(run with LOGLEVEL=DEBUG for details)"
    )


def describe_context(context: Context | t.Mapping[str, t.Any] | None) -> str:
    """``bot_id=abc`` style label for a partition (contexts never hold secrets)."""
    if not context:
        return "-"
    return ", ".join(f"{key}={value}" for key, value in context.items())


class VendorStream(RESTStream[t.Any]):
    """Base stream: one vendor, one endpoint family."""

    #: Fast path: records are conformed by ``post_process`` (compiled), not by the SDK.
    TYPE_CONFORMANCE_LEVEL = (
        TypeConformanceLevel.RECURSIVE if not FAST_PATH else TypeConformanceLevel.NONE
    )

    #: Config section of the vendor (also the stream name prefix).
    vendor: t.ClassVar[str] = ""
    #: Human name used in messages.
    vendor_title: t.ClassVar[str] = ""
    #: Setting(s) to check when the vendor answers 401/403.
    auth_setting: t.ClassVar[str] = ""
    #: Setting(s) to check when the vendor answers 404.
    not_found_setting: t.ClassVar[str] = ""
    #: Setting(s) to check when the API cannot be reached (default ``<vendor>.api_url``).
    url_setting: t.ClassVar[str] = ""
    #: A label for metrics and logs (never a real URL path: those may carry secrets).
    path = ""

    #: Windows/partitions fetched at once when the vendor section has no ``max_concurrency``.
    default_concurrency: t.ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        """Every vendor's ``get_records`` runs inside ``isolate_vendor_failure``: one vendor's
        fatal error skips that vendor's remaining partitions and streams, not the others'."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("get_records")
        if own is not None and not getattr(own, "_isolated", False):
            cls.get_records = isolate_vendor_failure(own)  # type: ignore[method-assign,assignment]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self._local = threading.local()
        self._count_lock = threading.Lock()
        super().__init__(*args, **kwargs)
        self.requests_made = 0
        self.records_counted = 0
        self._pipeline: PartitionPipeline | None = None
        #: Bounds requests in flight to ``concurrency()``, whatever the number of lanes (see
        #: ``_lanes_at_once``).
        self._in_flight = threading.BoundedSemaphore(self.concurrency())

    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = metrics.DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        """The SDK's record counter, also adding to ``records_counted`` (this run's records of
        the stream, which the tap reads to say why a run extracted nothing)."""
        tags = {metrics.Tag.STREAM: self.name}
        if endpoint:
            tags[metrics.Tag.ENDPOINT] = endpoint
        return RunRecordCounter(self, metrics.Metric.RECORD_COUNT, tags, log_interval=log_interval)

    @property
    def _current_context(self) -> Context | None:
        """The partition of the request being made (per thread: fetches run concurrently)."""
        return t.cast("Context | None", getattr(self._local, "context", None))

    @_current_context.setter
    def _current_context(self, value: Context | None) -> None:
        self._local.context = value

    # ------------------------------------------------------------------ settings

    def failure_log(self) -> VendorFailureLog | None:
        """The tap's record of failed vendors (None when the stream runs without our tap)."""
        return t.cast("VendorFailureLog | None", getattr(self._tap, "vendor_failures", None))

    @property
    def settings(self) -> dict[str, t.Any]:
        """This vendor's config section."""
        return dict(self.config.get(self.vendor) or {})

    @property
    def timeout(self) -> int:  # type: ignore[override]
        return int(self.config.get("request_timeout") or 300)

    @property
    def run_started_at(self) -> dt.datetime:
        """One "now" for the whole run, taken when the tap started."""
        return t.cast("dt.datetime", getattr(self._tap, "run_started_at", None)) or dt.datetime.now(
            dt.UTC
        )

    def sync_end(self) -> dt.datetime:
        """``end_date`` from config, else the moment the run started (never in the future)."""
        end = self.config.get("end_date")
        if end:
            parsed = _parse_config_datetime(end)
            return min(parsed, self.run_started_at)
        return self.run_started_at

    def sync_start(self, context: Context | None) -> dt.datetime:
        """Bookmark of this partition if any, else ``start_date``, else 30 days before now."""
        if self.replication_key:
            value = self.get_starting_replication_key_value(context)
            if value:
                return _parse_config_datetime(value)
        start = self.config.get("start_date")
        if start:
            return _parse_config_datetime(start)
        return self.run_started_at - DEFAULT_LOOKBACK_START

    @property
    def selected(self) -> bool:
        """Streams of a vendor with no config section are never synced."""
        return isinstance(self.config.get(self.vendor), dict) and bool(self.mask.get((), True))

    @selected.setter
    def selected(self, value: bool | None) -> None:
        self.metadata.root.selected = value
        self._mask = self.metadata.resolve_selection()

    # ------------------------------------------------------------------ retries

    def backoff_max_tries(self) -> int:
        return int(self.config.get("max_retries", 5)) + 1

    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:  # type: ignore[override]
        factor = float(self.config.get("backoff_factor", 2.0))

        def waits() -> t.Generator[float, t.Any, None]:
            attempt = 0
            exception = yield  # type: ignore[misc]
            while True:
                wait: float | None = None
                response = getattr(exception, "response", None)
                if response is not None:
                    wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is None:
                    wait = min(factor * (2**attempt), MAX_BACKOFF_SECONDS)
                    wait += random.uniform(0, wait * 0.1)
                attempt += 1
                exception = yield wait

        return waits()

    def backoff_jitter(self, value: float) -> float:
        # Jitter is added in backoff_wait_generator, never on top of a server's Retry-After.
        return value

    def backoff_handler(self, details: Details) -> None:
        exception = t.cast("BaseException | None", details.get("exception"))
        self.logger.warning(
            "%s: retry %d/%d in %.1fs after %s",
            self._error_prefix(),
            details.get("tries", 0),
            self.backoff_max_tries() - 1,
            details.get("wait") or 0.0,
            _short_reason(exception),
        )

    # ------------------------------------------------------------------ errors

    def _error_prefix(self) -> str:
        return f"{self.vendor_title} stream {self.name} ({describe_context(self._current_context)})"

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.REQUEST_TIMEOUT) or status >= 500:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            raise VendorAPIError(
                f"{self.response_error_message(response)}; check the setting "
                f"{self.auth_setting} (the credential was rejected)"
            )
        if status == HTTPStatus.NOT_FOUND:
            raise VendorAPIError(
                f"{self.response_error_message(response)}; check the setting "
                f"{self.not_found_setting}"
            )
        if 400 <= status < 500:
            raise VendorAPIError(self.response_error_message(response))

    def response_error_message(self, response: requests.Response) -> str:
        """One line: who failed and how. Never the URL (it may carry a secret)."""
        snippet = _body_snippet(response)
        reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
        message = f"{self._error_prefix()}: {reason}"
        if snippet:
            message += f": {snippet}"
        return redact(message)

    # ------------------------------------------------------------------ requests

    def _request(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        """The SDK's request, with the body read in one call instead of requests' 10 KiB
        chunks (``read_body``): a Certainly window is half a megabyte."""
        self._current_context = context
        with self._count_lock:
            self.requests_made += 1
        request = self.authenticator(prepared_request)
        with self._in_flight:
            response = self.requests_session.send(
                request, timeout=self.timeout, allow_redirects=self.allow_redirects, stream=True
            )
            read_body(response)
        self._write_request_duration_log(
            endpoint=self.path,
            response=response,
            context=context,
            extra_tags={"url": request.path_url} if self._LOG_REQUEST_METRIC_URLS else None,
        )
        self.validate_response(response)
        return response

    def _request_and_decode(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> t.Any:
        response = self._request(prepared_request, context)
        return self.decode_response(response)

    def decode_response(self, response: requests.Response) -> t.Any:
        """Decode a JSON body. A body that is not JSON is retried (proxies and cut connections
        produce such bodies), then reported as one clear line."""
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            kind = response.headers.get("Content-Type", "no content type")
            size = len(response.content)
            raise RetriableAPIError(
                f"{self._error_prefix()}: HTTP {response.status_code} with a body that is not "
                f"valid JSON ({kind}, {size} bytes)",
                response,
            ) from None

    def request_json(self, request: HTTPRequest, context: Context | None) -> t.Any:
        """Send one request (with retries) and return its decoded JSON body."""
        kwargs: dict[str, t.Any] = {
            "method": request.method,
            "url": request.url,
            "params": request.encode_params(),
            "headers": request.headers,
        }
        if request.data is not None:
            kwargs["json"] = request.data
        prepared = self.build_prepared_request(**kwargs)
        self._current_context = context
        send = self.request_decorator(self._request_and_decode)
        try:
            return send(prepared, context)
        except RetriableAPIError as exc:
            raise TapError(
                f"{redact(str(exc))} (gave up after {self.backoff_max_tries()} attempts)"
            ) from None
        except _TRANSIENT_EXCEPTIONS as exc:
            raise TapError(
                f"{self._error_prefix()}: could not reach the API after "
                f"{self.backoff_max_tries()} attempts ({type(exc).__name__}); check the network "
                f"and the setting {self.unreachable_setting()}"
            ) from None

    def unreachable_setting(self) -> str:
        """The setting(s) named when the API cannot be reached: ``url_setting``, else the
        vendor's ``api_url`` when its section has one."""
        if self.url_setting:
            return self.url_setting
        section = (self._tap.config_jsonschema.get("properties") or {}).get(self.vendor) or {}
        name = "api_url"
        if name in (section.get("properties") or {}):
            return f"{self.vendor}.{name}"
        return f"the URL settings of the {self.vendor} section"

    def request_decorator(self, func: t.Callable) -> t.Callable:  # type: ignore[override]
        """The SDK's retry decorator (same exceptions, waits, tries and ``backoff_handler``),
        without the backoff library's own log lines: its ``Backing off ...`` INFO line repeats
        ``backoff_handler``'s WARNING, and its ``Giving up ...`` ERROR line would come before
        the tap's one clean error line (``request_json``). Giving up is logged at DEBUG."""
        decorator: t.Callable = backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            on_giveup=self._log_giveup,
            jitter=self.backoff_jitter,
            logger=None,
        )
        return decorator(func)

    def _log_giveup(self, details: Details) -> None:
        self.logger.debug(
            "%s: giving up after %d tries (%s)",
            self._error_prefix(),
            details.get("tries", 0),
            _short_reason(t.cast("BaseException | None", details.get("exception"))),
        )

    # The SDK's default request loop is not used: vendors call request_json per window/page.
    def get_new_paginator(self) -> None:
        return None

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        yield from ()

    # ------------------------------------------------------------------ concurrency

    def concurrency(self) -> int:
        """Requests in flight at once for this stream (``<vendor>.max_concurrency``)."""
        value = self.settings.get("max_concurrency")
        return max(1, int(value if value is not None else self.default_concurrency))

    def _lanes_at_once(self) -> int:
        """Lanes running at once. A lane that shapes and encodes its pages itself (see
        ``encodes_pages``) spends CPU after its request: one more lane keeps ``concurrency()``
        requests in flight meanwhile; ``_in_flight`` still holds requests to that number."""
        limit = self.concurrency()
        return limit + 1 if limit > 1 and self.encoding_pages else limit

    def plan_lanes(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        """``(window, lane)`` pairs of one partition, in emission order (vendors override)."""
        raise NotImplementedError

    def fetch_lanes(self, context: Context | None) -> t.Iterator[tuple[object, t.Iterator[t.Any]]]:
        """This partition's windows with their fetched items, in window order.

        Up to ``concurrency()`` windows are fetched at once, including the first windows of the
        partitions that follow; what comes out is still one partition at a time, in order, so
        the caller emits and flushes state per drained window as a sequential read would.
        """
        pipeline = self._pipeline
        if pipeline is None or not pipeline.expects(context):
            if pipeline is not None:
                pipeline.close()
            partitions: list[t.Any] = list(self.partitions or [])
            contexts = partitions[partitions.index(context) :] if context in partitions else []
            pipeline = self._pipeline = PartitionPipeline(
                contexts or [context], self._plan_partition, self._lanes_at_once()
            )
        yield from pipeline.take(context)

    def _plan_partition(self, context: Context | None) -> t.Iterable[tuple[object, Lane[t.Any]]]:
        if context is not None and self.replication_key:
            # The SDK records a partition's starting bookmark when it starts syncing it; a
            # partition planned ahead needs it now. Idempotent: the partition's state does not
            # change before its own sync starts.
            self._write_starting_replication_value(context)
        return self.plan_lanes(context)

    # ------------------------------------------------------------------ records

    #: True when ``get_records`` yields records already conformed: the stream applies
    #: ``conformer()`` to each row right after shaping it, while the row is still in the CPU
    #: cache (a second pass over a page of rows later costs about twice as much).
    conforms_early = False
    #: True when ``get_records`` checks every record's declared properties against their
    #: documented JSON types (a wrong type stops the run with a clear error): booleans are
    #: then booleans already, and the compiled conformer does not test them again.
    checks_types = False

    #: True when ``get_records`` can yield ``recordloop.EncodedPage``s (pages of records
    #: already through ``post_process`` and encoded in the fetch lane) instead of records.
    encodes_pages = False
    #: True while the fast record loop runs this stream and takes such pages; at any other
    #: time (the SDK's loop, tests calling ``get_records``) records are yielded as dicts.
    encoding_pages = False

    def conformer(self) -> Conformer:
        """What ``post_process`` does to a record on the fast path (the compiled type
        conformance, see ``fastpath``); identity on the plain SDK path, where the SDK
        conforms and ``post_process`` converts JSON text itself."""
        return self._compiled_conformer() if FAST_PATH else _same

    def _compiled_conformer(self) -> Conformer:
        conform = self.__dict__.get("_conformer")
        if conform is None:  # two lanes may compile it at once: either result is the same
            conform = self.__dict__["_conformer"] = compile_stream_conformer(
                self.schema,
                self.effective_schema,  # a given catalog's schema is the contract
                self._warn_unmapped,
                coerce_booleans=not self.checks_types,
            )
        return t.cast("Conformer", conform)

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Emit values of undocumented type (JSON_ANY properties) as JSON text.

        On the fast path this also does the SDK's type conformance (compiled once from the
        schema; the SDK's own is off): see ``fastpath``.
        """
        if FAST_PATH:
            if self.conforms_early:
                return row
            return t.cast("dict[str, t.Any]", self._compiled_conformer()(row))
        paths = self.__dict__.get("_json_text_paths")
        if paths is None:
            paths = self.__dict__["_json_text_paths"] = json_text_paths(self.schema)
        for path in paths:
            apply_json_text(row, path)
        return row

    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> t.Generator[singer.RecordMessage, None, None]:
        """The SDK's RECORD messages; on the fast path without its per-record schema walks.

        Type conformance already happened in ``post_process``, and deselected properties are
        popped only when some property is actually deselected (the SDK walks the schema for
        every record either way). Everything else is as in the SDK (stream maps included).
        """
        if not FAST_PATH:
            yield from super()._generate_record_messages(record)
            return
        mask = self.mask
        cached = self.__dict__.get("_mask_all_selected")
        if cached is None or cached[0] is not mask:
            cached = self.__dict__["_mask_all_selected"] = (mask, all(mask.values()))
        if not cached[1]:
            pop_deselected_record_properties(record, self.schema, mask)
        drop_undeclared(record, self.effective_schema)  # partition keys the SDK loop added
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict, t.Any, t.Any]:
        """The SDK's record loop, or on the fast path (when nothing optional is in use) the
        same messages without its per-record work: see ``recordloop``. Yields nothing then
        (the SDK's ``sync`` only drains it)."""
        writer = block_writer(self) if FAST_PATH and write_messages else None
        if writer is None:
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        self.encoding_pages = self.encodes_pages
        try:
            sync_records(self, context, writer, self._pending_bookmark)
        finally:
            self.encoding_pages = False

    @property
    def _pending_bookmark(self) -> PendingBookmark:
        pending = self.__dict__.get("_pending")
        if pending is None:
            pending = self.__dict__["_pending"] = PendingBookmark()
        return t.cast("PendingBookmark", pending)

    def _write_state_message(self) -> None:
        """Apply the fast loop's latest bookmark (if any) before the state goes out."""
        self._pending_bookmark.commit(self)
        super()._write_state_message()

    @property
    def stream_maps(self) -> list[StreamMap]:
        """The SDK's maps; with flattening on, each flattened SCHEMA describes the flattened
        records (see ``schema_types.describe_flattened_records``)."""
        maps = super().stream_maps
        if not self.__dict__.get("_flattening_described"):
            self.__dict__["_flattening_described"] = True
            describe_flattened_records(self.name, maps, self.config, self._tap.catalog)
        return maps

    def _warn_unmapped(self, path: str) -> None:
        warned: set[str] = self.__dict__.setdefault("_unmapped_warned", set())
        if path not in warned:
            warned.add(path)
            self.logger.warning(
                "Stream %s: property %s is not in the schema and was dropped", self.name, path
            )

    def bookmark_of(self, context: Context | None) -> str | None:
        """The instant this partition's run starts from (its bookmark, else ``start_date``), in
        the records' canonical form: a string comparison with a record's key is then a
        comparison of instants, whatever spelling the state or config used."""
        if not self.replication_key:
            return None
        return canonical_instant(self.get_starting_replication_key_value(context))

    def record_end(self) -> str | None:
        """``end_date`` in the records' canonical form (None without one): records at or after
        it are not emitted, so back-to-back ``[start_date, end_date)`` runs neither overlap nor
        leave a gap."""
        return canonical_instant(self.config.get("end_date"))

    def skip_before_bookmark(
        self, records: t.Iterable[dict[str, t.Any]], context: Context | None
    ) -> t.Iterator[dict[str, t.Any]]:
        """Keep the rows in ``[bookmark, end_date)``; rows without a key are kept.

        A re-read of the bookmark's day returns rows that were emitted by an earlier run; with
        ``is_sorted`` they would otherwise abort the run. Rows equal to the bookmark are kept.
        Keys are compared in canonical form (``canonical_key``), that is as instants.
        """
        key = self.replication_key
        if not key:
            yield from records
            return
        low, high = self.bookmark_of(context), self.record_end()
        for record in records:
            value = record.get(key)
            if value is not None and (low or high):
                value = canonical_key(value)
                if (low and value < low) or (high and value >= high):
                    continue
            yield record

    @property
    def progress(self) -> StreamProgress:
        """This stream's window progress (created on first use)."""
        tracker = self.__dict__.get("_progress")
        if tracker is None:
            tracker = self.__dict__["_progress"] = StreamProgress(
                self.vendor_title or self.vendor, self.name
            )
        return t.cast("StreamProgress", tracker)

    def windows_planned(self, context: Context | None, windows: int) -> None:
        """Tell the progress lines how many windows this partition has."""
        self.progress.planned(describe_context(context), windows)

    def window_done(self, context: Context | None, window: object, count: int, total: int) -> None:
        """Log one progress line (INFO) and flush state once a window is fully drained."""
        report = self.progress.drained(
            describe_context(context), window, count, self.requests_made, total
        )
        self.logger.info("%s", report.message(), extra=report.fields())
        self.flush_state()

    def flush_state(self) -> None:
        """Write a STATE message now, except when records go out as BATCH files: the SDK
        then writes state after each BATCH message (a STATE line before the BATCH message
        holding its records would put the bookmark ahead of the data)."""
        batching = self.__dict__.get("_batching")
        if batching is None:
            batching = self.__dict__["_batching"] = self.get_batch_config(self.config) is not None
        if not batching:
            self._write_state_message()


class RunRecordCounter(metrics.Counter):
    """``metrics.Counter`` whose increments also add to the stream's ``records_counted``."""

    def __init__(self, stream: VendorStream, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream

    def increment(self, value: int = 1) -> None:
        self.stream.records_counted += value
        super().increment(value)


def read_body(response: requests.Response) -> None:
    """Read a streamed response's whole body into ``response.content`` in one call and hand
    the connection back to the pool. Errors are requests' own, as ``response.content`` would
    raise them (so retries treat a cut or slow body the same way)."""
    try:
        try:
            body = response.raw.read(decode_content=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except BaseException:
        response.close()
        raise
    # What requests' own ``.content`` sets once the body is read.
    response._content = body or b""
    response._content_consumed = True  # type: ignore[attr-defined]
    response.close()


def canonical_key(value: t.Any) -> str:
    """A record's replication-key value in canonical form (already so for every stream's own
    records: this only re-spells a value that is not)."""
    if value.__class__ is str and len(value) == 32 and value[10] == "T" and value[26:] == "+00:00":
        return t.cast("str", value)
    return canonical_instant(value) or ""


def _parse_config_datetime(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _body_snippet(response: requests.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except Exception:
        return ""
    text = " ".join(text.split())
    if "<html" in text[:200].lower() or "<!doctype" in text[:200].lower():
        return "(HTML page)"
    return text[:limit] + ("..." if len(text) > limit else "")


def _short_reason(exception: BaseException | None) -> str:
    if exception is None:
        return "an error"
    if isinstance(exception, RetriableAPIError) and exception.response is not None:
        response = exception.response
        reason = f"HTTP {response.status_code}"
        if response.headers.get("Retry-After"):
            reason += f" (Retry-After: {response.headers['Retry-After']})"
        if response.ok:
            reason += " with an invalid body"
        return reason
    return type(exception).__name__


LOGGER = logging.getLogger(__name__)
