"""The tap: config schema assembled from the vendor modules, stream discovery, CLI entry point."""

from __future__ import annotations

import copy
import datetime as dt
import gc
import io
import json
import logging
import os
import re
import signal
import sys
import traceback
import typing as t
from urllib.parse import urlsplit

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError
from singer_sdk.io_base import SingerWriter

from tap_chatbot_reports.checks import (
    STATE_FIX,
    decode_state,
    describe_json,
    state_label,
    state_shape_problem,
    unknown_settings,
)
from tap_chatbot_reports.client import VendorStream, describe_context
from tap_chatbot_reports.errors import TapConfigError, TapError, TapStateError
from tap_chatbot_reports.fastpath import (
    BufferedMsgSpecWriter,
    EncodedStateWriter,
    plain_sdk_path,
)
from tap_chatbot_reports.redact import REDACTOR, collect_secrets, install_log_redaction, redact
from tap_chatbot_reports.timeparse import canonical_day, canonical_instant
from tap_chatbot_reports.vendors import VENDORS

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk import Stream

COMMON_SETTINGS = th.PropertiesList(
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Earliest record time to extract on a first run, inclusive (ISO-8601 "
        "with Z or any offset, or a date: midnight UTC). Default: 30 days before the run starts.",
    ),
    th.Property(
        "end_date",
        th.DateTimeType,
        description="End of the record times to extract, exclusive: rows at or after it are "
        "not emitted (ISO-8601 with Z or any offset, or a date: midnight UTC). "
        "Default: when the run starts.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1, maximum=3600),
        default=300,
        description="Seconds to wait for one HTTP response before retrying.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=20),
        default=5,
        description="Retries of one request on 429, 5xx, timeouts and connection errors.",
    ),
    th.Property(
        "backoff_factor",
        th.NumberType(minimum=0, maximum=60),
        default=2.0,
        description="Seconds before the first retry; doubles on each retry (capped at 120 s). "
        "A Retry-After header from the vendor takes precedence (capped at 300 s).",
    ),
)


def build_config_schema() -> dict[str, t.Any]:
    properties = list(COMMON_SETTINGS.wrapped.values())
    for vendor in VENDORS:
        properties.append(
            th.Property(
                vendor.key,
                vendor.settings,
                description=f"{vendor.title} settings. The vendor is synced when this "
                "section is present.",
            )
        )
    schema = th.PropertiesList(*properties).to_dict()
    return schema


class TapChatbotReports(Tap):
    """Singer tap for chatbot vendors' message reports and statistics."""

    name = "tap-chatbot-reports"
    config_jsonschema = build_config_schema()
    #: msgspec lines, flushed per STATE (see ``fastpath``); the SDK default on the plain path.
    message_writer_class = SingerWriter if plain_sdk_path() else BufferedMsgSpecWriter

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self.run_started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        #: vendor key -> the one line of its fatal error (see ``client.isolate_vendor_failure``)
        self.vendor_failures: dict[str, str] = {}
        _CURRENT_RUN[:] = [self]
        super().__init__(*args, **kwargs)
        if isinstance(self.message_writer, BufferedMsgSpecWriter):
            self._state_writer = EncodedStateWriter(self.message_writer)
        self._register_secrets()
        install_log_redaction()
        if not any(isinstance(f, UnconfiguredVendorFilter) for f in self.logger.filters):
            self.logger.addFilter(UnconfiguredVendorFilter())

    # ------------------------------------------------------------------ state

    #: The ``--state`` file of this run (named in state errors); None for a state given as a dict.
    state_source: t.ClassVar[str | None] = None

    @classmethod
    def invoke(  # type: ignore[override]
        cls, *, state: t.IO[str] | None = None, **kwargs: t.Any
    ) -> None:
        """The SDK's run, with the ``--state`` file read here: a file that is not JSON or not a
        state object is one line naming it, and Meltano's ``{"singer_state": ...}`` (what
        ``meltano state get`` prints) is unwrapped."""
        if state is not None:
            source = str(getattr(state, "name", "") or "") or None
            cls.state_source = source
            state = io.StringIO(json.dumps(decode_state(state.read(), source or "")))
        super().invoke(state=state, **kwargs)
        tap = _CURRENT_RUN[0] if _CURRENT_RUN else None
        line = tap.idle_run_line() if tap is not None else None
        if line:
            cls.logger.info("%s", line)

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Load the state, then re-spell every bookmark in the canonical form of its stream's
        records (fixed-width UTC date-times, ``YYYY-MM-DD`` days). The SDK compares a record's
        key with the bookmark as strings (its sort check and its bookmark advance): a bookmark
        written ``...Z`` or ``+09:00`` by hand or by another tool would otherwise sort as its
        digits, not as its instant. A state the tap cannot use (not the Singer shape, a bookmark
        that is not an instant) is one ``TapStateError`` line naming file, stream and partition.
        """
        label = state_label(self.state_source)
        if "singer_state" in state and "bookmarks" not in state:  # given as a dict
            state = decode_state(json.dumps(state), self.state_source or "")
        problem = state_shape_problem(state)
        if problem:
            raise TapStateError(f"{label}: {problem}{STATE_FIX}")
        super().load_state(state)
        formats = {stream.name: _key_format(stream) for stream in self.streams.values()}
        for name, stream_state in (self.state.get("bookmarks") or {}).items():
            if formats.get(name) not in ("date", "date-time"):
                continue
            spell = canonical_day if formats[name] == "date" else canonical_instant
            entries = [stream_state, *(stream_state.get("partitions") or [])]
            for entry in entries:
                for field in ("replication_key_value", "starting_replication_value"):
                    value = entry.get(field)
                    if value is None or value == "":
                        continue
                    try:
                        if not isinstance(value, str):
                            raise ValueError(value)
                        entry[field] = spell(value)
                    except ValueError:
                        where = describe_context(
                            entry.get("context") if entry is not stream_state else None
                        )
                        raise TapStateError(
                            f"{label}: stream {name}, partition {where}: {field} is "
                            f"{describe_json(value)}, not an ISO-8601 "
                            f"{'date' if formats[name] == 'date' else 'date-time'}{STATE_FIX}"
                        ) from None

    # ------------------------------------------------------------------ outcome

    def failure_lines(self) -> list[str]:
        """One line per vendor whose stream failed in this run (empty when all completed)."""
        return list(self.vendor_failures.values())

    def idle_run_line(self) -> str | None:
        """Why a run that completed extracted no record, in one line (None when it extracted
        records or a vendor failed: the failure lines say why then)."""
        streams = [s for s in self.streams.values() if isinstance(s, VendorStream) and s.selected]
        if self.vendor_failures or any(s.records_counted for s in streams):
            return None
        reasons: list[str] = []
        start, end = self.config.get("start_date"), self.config.get("end_date")
        until = self.run_started_at
        if end and _instant(end) < until:
            until, until_name = _instant(end), "end_date"
        else:
            until_name = "the time the run started"
        if start and _instant(start) >= until:
            reasons.append(
                f"start_date {start} is not before the end of the range ({until_name}, "
                f"{until.isoformat()}): no window to read"
            )
        idle = [s for s in streams if not s.requests_made]
        if idle:
            allowed = _earliest(_find_values(self.state.get("bookmarks"), NEXT_CALL_KEY, idle))
            budget = (
                f" (a vendor's call budget: the next call is allowed at {allowed[0]})"
                if allowed
                else ""
            )
            reasons.append(f"{_names(idle)} made no request{budget}")
        asked = [s for s in streams if s.requests_made]
        if asked:
            reasons.append(f"{_names(asked)} found no rows in the range")
        if not streams:
            reasons.append("no stream of a configured vendor is selected in the catalog")
        return "Nothing extracted in this run: " + "; ".join(reasons)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: not a success. The SDK logs 'Gracefully shutting down' and exits 0;
        here the signal unwinds the run (``Interrupted``) and ``main`` writes the last STATE
        after the last whole line, then exits 128 + signal number."""
        raise Interrupted(signum)

    def write_state_after_interrupt(self) -> None:
        """The last STATE of an interrupted run, after every record line it covers. A line cut
        in the middle by the signal is dropped (its record's bookmark was not yet applied:
        bookmarks advance only after their records are written)."""
        writer = self.message_writer
        if isinstance(writer, BufferedMsgSpecWriter):
            writer.drop_partial_line()
        self._state_writer.write_state(self.state)
        if isinstance(writer, BufferedMsgSpecWriter):
            writer.flush()
        else:
            sys.stdout.flush()

    # ------------------------------------------------------------------ config

    def _register_secrets(self) -> None:
        for vendor in VENDORS:
            for secret in collect_secrets(self._config.get(vendor.key), vendor.secret_keys):
                REDACTOR.add(secret)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self._register_secrets()
        self._warn_unknown_settings()
        try:
            errors = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise TapConfigError("; ".join(_friendly(e) for e in exc.errors)) from None
        errors = [_friendly(e) for e in errors] + self._semantic_errors()
        if errors and raise_errors:
            raise TapConfigError("; ".join(errors))
        return errors

    def _warn_unknown_settings(self) -> None:
        """One WARNING per config key the config schema does not name (a typo such as
        ``certainly.bot_idz`` or ``startdate`` is otherwise ignored without a word)."""
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)
        for message in unknown_settings(self._config, schema):
            self.logger.warning("config: %s", message)

    def _semantic_errors(self) -> list[str]:
        config = self._config
        problems: list[str] = []
        parsed: dict[str, dt.datetime] = {}
        for key in ("start_date", "end_date"):
            value = config.get(key)
            if value in (None, ""):
                continue
            try:
                when = dt.datetime.fromisoformat(str(value))
            except ValueError:
                problems.append(f"{key}: {value!r} is not an ISO-8601 date-time")
                continue
            parsed[key] = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        if (
            "start_date" in parsed
            and "end_date" in parsed
            and (parsed["start_date"] >= parsed["end_date"])
        ):
            problems.append("start_date: must be before end_date")
        if not any(isinstance(config.get(v.key), dict) for v in VENDORS):
            problems.append(
                "no vendor configured: add at least one section of "
                + ", ".join(v.key for v in VENDORS)
            )
        for vendor in VENDORS:
            section = config.get(vendor.key)
            if isinstance(section, dict):
                problems.extend(_url_problems(section, vendor.settings.to_dict(), vendor.key))
                problems.extend(vendor.check_config(section))
        return problems

    def configured_vendors(self) -> set[str]:
        return {v.key for v in VENDORS if isinstance(self.config.get(v.key), dict)}

    # ------------------------------------------------------------------ streams

    def discover_streams(self) -> list[VendorStream]:
        """Every vendor's streams, configured or not (so --discover needs no config)."""
        return [cls(tap=self) for vendor in VENDORS for cls in vendor.streams]


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived; unwinds the run past every ``except Exception``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


#: The tap this process runs (the CLI makes one): ``main`` reads its outcome.
_CURRENT_RUN: list[TapChatbotReports] = []


#: The key a stream that waits for a vendor's call budget writes in its partition state.
NEXT_CALL_KEY = "next_call_allowed_at"


_SKIPPED = re.compile(r"^Skipping deselected stream '([^']+)'")


class UnconfiguredVendorFilter(logging.Filter):
    """Drops the SDK's "Skipping deselected stream" line for streams of a vendor with no config
    section (they are not deselected: the vendor is not configured), and says once instead
    which vendors are not configured."""

    def __init__(self) -> None:
        super().__init__()
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        tap = _CURRENT_RUN[0] if _CURRENT_RUN else None
        if tap is None or not str(record.msg).startswith("Skipping deselected stream"):
            return True
        try:
            message = record.getMessage()  # the redacting filter may have formatted it already
        except Exception:
            return True
        match = _SKIPPED.match(message)
        stream = tap.streams.get(match.group(1)) if match else None
        vendor = getattr(stream, "vendor", None)
        if vendor is None or vendor in tap.configured_vendors():
            return True
        if not self.said:
            self.said = True
            missing = [v.key for v in VENDORS if v.key not in tap.configured_vendors()]
            tap.logger.info(
                "Not configured, so not synced: %s (no config section)", ", ".join(missing)
            )
        return False


def _instant(value: t.Any) -> dt.datetime:
    when = dt.datetime.fromisoformat(str(value).strip())
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _earliest(values: list[str]) -> list[str]:
    """The instants among ``values`` in instant order, in the records' canonical form."""
    instants: list[str] = []
    for value in values:
        try:
            instants.append(canonical_instant(value) or "")
        except ValueError:
            continue
    return sorted(i for i in instants if i)


def _names(streams: t.Sequence[Stream]) -> str:
    names = [s.name for s in streams]
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _find_values(node: t.Any, key: str, streams: t.Sequence[Stream]) -> list[str]:
    """Every string under ``key`` in the states of ``streams`` (``node`` is the bookmarks)."""
    found: list[str] = []

    def walk(value: t.Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == key and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for stream in streams:
        walk((node or {}).get(stream.name))
    return found


def _key_format(stream: Stream) -> str | None:
    """The JSON-schema format of a stream's replication key (None without one)."""
    key = stream.replication_key
    if not key:
        return None
    prop = (stream.schema.get("properties") or {}).get(key) or {}
    fmt = prop.get("format")
    if fmt is None:
        for option in prop.get("anyOf") or []:
            fmt = fmt or option.get("format")
    return t.cast("str | None", fmt)


def _friendly(error: str) -> str:
    """'x is not valid in config['a']['b']' -> 'a.b: x is not valid'."""
    marker = " in config["
    keys: list[str] = []
    message = error
    if marker in error:
        message, _, path = error.partition(marker)
        keys = [part.strip("'\"") for part in ("[" + path).strip("[]").split("][")]
    required = re.match(r"^'([^']+)' is a required property$", message)
    if required:
        keys.append(required.group(1))
        message = "this required setting is missing"
    return f"{'.'.join(keys)}: {message}" if keys else message


def _url_problems(value: t.Any, schema: dict[str, t.Any], name: str) -> list[str]:
    """Check every `format: uri` setting (JSON Schema validation does not enforce formats)."""
    if isinstance(value, dict):
        problems: list[str] = []
        for key, prop in (schema.get("properties") or {}).items():
            if key in value:
                problems += _url_problems(value[key], prop, f"{name}.{key}")
        return problems
    if isinstance(value, str) and schema.get("format") == "uri":
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or any(c.isspace() for c in value)
        ):
            return [f"{name}: {value!r} is not an http(s) URL"]
    return []


def _structured_logging() -> bool:
    """True when a logging config was handed to the tap (Meltano's structured logging): lines
    on stderr are then read as log records, and a plain-text line counts as INFO."""
    return "SINGER_SDK_LOG_CONFIG" in os.environ and logging.getLogger(TAP_LOGGER).hasHandlers()


def _write_error_lines(lines: t.Iterable[str]) -> None:
    """The tap's error lines: plain text on stderr, or ERROR log records under a logging config
    (so ``meltano --log-level=warning`` still shows why a run failed)."""
    texts = [f"tap-chatbot-reports: error: {' '.join(redact(m).split())}" for m in lines]
    if _structured_logging():
        logger = logging.getLogger(TAP_LOGGER)
        for text in texts:
            logger.error("%s", text)
        for handler in logging.getLogger().handlers + logger.handlers:
            handler.flush()
    # Background fetch threads may still log: silence them so each error stays one whole line.
    logging.disable(logging.CRITICAL)
    if not _structured_logging():
        sys.stderr.flush()
        for text in texts:
            sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _fail(message: str) -> t.NoReturn:
    _write_error_lines([message])
    sys.exit(1)


#: The tap's own logger (``self.logger``).
TAP_LOGGER = "tap-chatbot-reports"


def apply_explicit_log_level() -> None:
    """``TAP_CHATBOT_REPORTS_LOGLEVEL`` / ``LOGLEVEL`` also under a logging config handed to the
    tap (Meltano's structured logging), which otherwise replaces the level they set."""
    if "SINGER_SDK_LOG_CONFIG" not in os.environ:
        return  # the SDK applied it itself
    name = os.environ.get("TAP_CHATBOT_REPORTS_LOGLEVEL") or os.environ.get("LOGLEVEL")
    level = logging.getLevelName(name.strip().upper()) if name else None
    if isinstance(level, int):
        logging.getLogger().setLevel(level)


#: Allocations between two young-generation collections (Python's default is 700).
GC_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Fewer cyclic collections: records are acyclic dicts freed by reference counting, yet
    every one of them counts towards the collector's allocation threshold (700 by default), and
    each collection walks the objects alive (decoded pages in flight). Objects from start-up are
    frozen out of those walks; cycles (exceptions, HTTP internals) are still collected."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)


def _fail_lines(lines: list[str], code: int = 1) -> t.NoReturn:
    _write_error_lines(lines)
    sys.exit(code)


def main() -> None:
    """Console entry point: the SDK CLI, with one redacted line (no traceback) per failure."""
    if not plain_sdk_path():  # the harness's plain-SDK reference keeps Python's defaults
        tune_garbage_collector()
    _CURRENT_RUN.clear()
    try:
        command = TapChatbotReports.cli  # sets up logging
        apply_explicit_log_level()
        result = command.main(prog_name="tap-chatbot-reports", standalone_mode=False)
    except Interrupted as exc:
        tap = _CURRENT_RUN[0] if _CURRENT_RUN else None
        if tap is not None:
            tap.write_state_after_interrupt()
        done = tap.failure_lines() if tap is not None else []
        _fail_lines(
            [
                *done,
                f"interrupted by {exc.name}: the run is incomplete; the last STATE covers every "
                "record emitted, run again to resume",
            ],
            code=128 + exc.signum,
        )
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message())
    except click.exceptions.Abort:
        _fail("aborted")
    except TapConfigError as exc:
        _fail(f"invalid config: {exc}")
    except ConfigValidationError as exc:
        _fail("invalid config: " + "; ".join(_friendly(e) for e in exc.errors))
    except (TapError, FatalAPIError, RetriableAPIError) as exc:
        _fail(str(exc))
    except Exception as exc:
        logging.getLogger("tap-chatbot-reports").debug(
            "%s", redact("".join(traceback.format_exception(exc)))
        )
        _fail(f"unexpected {type(exc).__name__}: {exc} (run with LOGLEVEL=DEBUG for details)")
    failures = _CURRENT_RUN[0].failure_lines() if _CURRENT_RUN else []
    if failures:  # one line per failed vendor; the other vendors' streams completed
        _fail_lines(failures)
    if isinstance(result, int) and result:
        sys.exit(result)


if __name__ == "__main__":
    main()
