"""Keep secrets out of log lines, exception text and anything else we print.

Every secret configured for any vendor is registered here once, at tap start-up. A logging
filter rewrites every log record (message, arguments and formatted traceback) before any handler
sees it, and `redact()` is applied to error lines printed by the CLI wrapper.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_SECRET_LENGTH = 4


class Redactor:
    """Replace registered secret values (and their URL-encoded forms) with a mask."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] = []
        self._lock = threading.Lock()

    def add(self, secret: object) -> None:
        if not isinstance(secret, str) or len(secret) < _MIN_SECRET_LENGTH:
            return
        forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
        with self._lock:
            self._secrets.update(forms)
            # Longest first so a secret that contains another is masked whole.
            self._ordered = sorted(self._secrets, key=len, reverse=True)

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._ordered = []

    def redact(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._ordered)


REDACTOR = Redactor()


def redact(text: str) -> str:
    """Mask every registered secret in `text`."""
    return REDACTOR.redact(text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the final message and any traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not REDACTOR:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message"}
_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Attach the redacting filter to every handler currently configured.

    Called after the SDK has configured logging; also attaches to the root logger so records
    that propagate are filtered once more (idempotent).
    """
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


def collect_secrets(value: t.Any, secret_keys: frozenset[str]) -> t.Iterator[str]:
    """Yield every string stored under a key named in `secret_keys`, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in secret_keys and isinstance(item, str):
                yield item
            else:
                yield from collect_secrets(item, secret_keys)
    elif isinstance(value, list):
        for item in value:
            yield from collect_secrets(item, secret_keys)
