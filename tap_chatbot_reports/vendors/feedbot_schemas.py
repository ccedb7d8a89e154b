"""Feedbot exports as data: the export table, field types, value coercion and record shaping.

Everything here is pure (no I/O). Field names are the documented ones (shared/vendor-apis.md 4.4);
Feedbot documents no JSON type at all, so the column types below are assumptions and none is
enforced: every field is accepted in any JSON form and kept whole. A value of the column's type
goes in the column; a value converted without loss of meaning (``"12"`` for an integer) goes in
the column converted *and* as it came in the record's catch-all object column (``extra_fields``
for logs, ``storages`` for user data); a value that does not fit is kept there whole and the
column is left null. The one exception is ``timestamp``, the replication key, which is emitted
as its instant in one canonical form. Undocumented fields (and every storage not declared as a
column) are kept whole in the catch-all.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th

from tap_chatbot_reports.errors import TapError
from tap_chatbot_reports.schema_types import JSON_ANY
from tap_chatbot_reports.timeparse import normalise_timestamp

#: Column kinds a field (or a declared user-data storage) can have.
#: ``json`` keeps any value (arrays included); the base stream emits it as JSON text.
KINDS = ("string", "integer", "number", "boolean", "date-time", "object", "json")
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_NUMBER_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

#: Export paths that exist only from bot hosting v1.7.474 (documented).
NEWER_EXPORTS_SINCE = "v1.7.474"


@dataclass(frozen=True)
class Export:
    """One export of ``/api/management/export/``: a stream of the tap."""

    stream: str
    path: str
    #: Documented fields (plus ``userId``/``timestamp`` where assumed) and their column kinds.
    fields: tuple[tuple[str, str], ...]
    primary_keys: tuple[str, ...]
    #: userData-like exports: storages, ``notEmpty``/``where<Field>`` filters.
    user_data: bool = False
    #: Exists only from bot hosting v1.7.474: a 404 means "this bot is older", not a bad config.
    newer: bool = True
    description: str = ""

    @property
    def field_kinds(self) -> dict[str, str]:
        return dict(self.fields)


_LOG_KEYS = ("bot_id", "row_key")
_WHO_WHEN = (("userId", "string"), ("timestamp", "date-time"))

EXPORTS: tuple[Export, ...] = (
    Export(
        "feedbot_user_data",
        "userData",
        _WHO_WHEN,
        ("bot_id", "userId"),
        user_data=True,
        newer=False,
        description="Current user-scoped data per user (upsert on userId).",
    ),
    Export(
        "feedbot_user_data_snapshots",
        "userDataSnapshot",
        _WHO_WHEN,
        ("bot_id", "userId", "timestamp"),
        user_data=True,
        description="User data snapshots made by the 'clear user data' action.",
    ),
    Export(
        "feedbot_nlp_log",
        "nlpLog",
        (*_WHO_WHEN, ("result", "json"), ("processed", "json")),
        _LOG_KEYS,
        description="User inputs the conversation tree could not process.",
    ),
    Export(
        "feedbot_outgoing_emails",
        "outgoingEmail",
        (
            *_WHO_WHEN,
            ("body", "string"),
            ("from", "string"),
            ("recipients", "json"),
            ("replyTo", "string"),
            ("stepId", "string"),
            ("subject", "string"),
        ),
        _LOG_KEYS,
        description="E-mails sent by the bot.",
    ),
    Export(
        "feedbot_outgoing_sms",
        "outgoingSms",
        (
            *_WHO_WHEN,
            ("channel", "string"),
            ("link", "string"),
            ("message", "string"),
            ("provider", "string"),
            ("recipients", "json"),
        ),
        _LOG_KEYS,
        description="SMS messages sent by the bot.",
    ),
    Export(
        "feedbot_fuzzy_qa_log",
        "fuzzyQuestionAnswerLog",
        (
            *_WHO_WHEN,
            ("intent", "string"),
            ("score", "number"),
            ("text", "string"),
            ("stepId", "string"),
            ("dialogId", "string"),
            ("matched", "boolean"),
            ("otherClassifications", "json"),
        ),
        _LOG_KEYS,
        description="Utterances processed by the fuzzy question-answer plugin.",
    ),
    Export(
        "feedbot_integration_log",
        "integrationLog",
        (
            *_WHO_WHEN,
            ("url", "string"),
            ("method", "string"),
            ("requestBody", "json"),
            ("requestHeaders", "json"),
            ("responseStatus", "integer"),
            ("responseBody", "json"),
            ("duration", "number"),
        ),
        _LOG_KEYS,
        description="Integration invocations (may hold third-party credentials and personal data).",
    ),
    Export(
        "feedbot_url_tracker",
        "urlTracker",
        (*_WHO_WHEN, ("domain", "string"), ("url", "string")),
        _LOG_KEYS,
        description="One row per click on a URL button, per user.",
    ),
)

#: Columns of user-data records that storages declared as columns may not reuse.
USER_DATA_FIXED = ("bot_id", "userId", "timestamp", "storages")


# ---------------------------------------------------------------------- coercion


class _Fail:
    """Marker: the value does not fit the column."""


FAIL = _Fail()


def coerce(value: t.Any, kind: str) -> t.Any:
    """``value`` as a valid JSON value of ``kind`` (None stays None), or ``FAIL``.

    Never guesses: a value is converted only when the conversion is lossless and unambiguous
    (``"12"`` -> 12 for an integer, ``"true"`` -> True for a boolean, epoch or ISO text for a
    date-time, scalars to text for a string).
    """
    if value is None or kind == "json":
        return value
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            return (
                str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
            )
        return FAIL
    if kind == "integer":
        if isinstance(value, bool):
            return FAIL
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
            return int(value.strip())
        return FAIL
    if kind == "number":
        if isinstance(value, bool):
            return FAIL
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            return value
        if isinstance(value, str) and _NUMBER_TEXT.match(value.strip()):
            number = float(value.strip())
            return number if math.isfinite(number) else FAIL
        return FAIL
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return FAIL
    if kind == "date-time":
        if isinstance(value, (bool, dict, list)):
            return FAIL
        try:
            return normalise_timestamp(value)
        except (ValueError, TypeError, OverflowError):
            return FAIL
    if kind == "object":
        return value if isinstance(value, dict) else FAIL
    raise ValueError(f"unknown column kind {kind!r}")


def kind_schema(kind: str) -> th.JSONTypeHelper[t.Any]:
    """The JSON Schema type of a column kind (always nullable)."""
    types: dict[str, th.JSONTypeHelper[t.Any]] = {
        "string": th.StringType(),
        "integer": th.IntegerType(),
        "number": th.NumberType(),
        "boolean": th.BooleanType(),
        "date-time": th.DateTimeType(),
        "object": th.ObjectType(),
        "json": JSON_ANY,
    }
    return types[kind]


# ---------------------------------------------------------------------- schemas


def export_schema(export: Export, user_data_columns: t.Mapping[str, str] | None = None) -> dict:
    """The stream schema of ``export``; user-data exports add the declared storage columns."""
    properties = [
        th.Property("bot_id", th.StringType, required=True, description="Partition: the bot id.")
    ]
    if not export.user_data:
        properties.append(
            th.Property(
                "row_key",
                th.StringType,
                required=True,
                description="SHA-256 of the row as the API returned it (logs have no id).",
            )
        )
    for name, kind in export.fields:
        description = "Normalised to ISO-8601 UTC." if kind == "date-time" else None
        properties.append(th.Property(name, kind_schema(kind), description=description))
    if export.user_data:
        for name, kind in sorted((user_data_columns or {}).items()):
            properties.append(
                th.Property(name, kind_schema(kind), description="Storage declared as a column.")
            )
        properties.append(
            th.Property(
                "storages",
                th.ObjectType(),
                description="Every storage not declared in feedbot.user_data_columns, and the "
                "value as it came of a declared one that did not fit its type or was converted "
                "to it.",
            )
        )
    else:
        properties.append(
            th.Property(
                "extra_fields",
                th.ObjectType(),
                description="Undocumented fields the API returned, and the value as it came "
                "of a documented one that did not fit its column type or was converted to it.",
            )
        )
    return th.PropertiesList(*properties).to_dict()


# ---------------------------------------------------------------------- records


def row_key(raw: t.Mapping[str, t.Any]) -> str:
    """A stable content hash of one API row: key order does not matter, and neither does the
    spelling of its ``timestamp`` (epoch seconds, milliseconds or ISO with any offset name one
    instant, hashed in its canonical form), so a row keeps its key whichever form the API uses."""
    when = raw.get("timestamp")
    if when is not None:
        try:
            canonical = normalise_timestamp(when)
        except (ValueError, TypeError, OverflowError):
            canonical = None
        if canonical is not None:
            raw = {**raw, "timestamp": canonical}
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _same_json(a: t.Any, b: t.Any) -> bool:
    """True when ``a`` and ``b`` are the same JSON value (``1`` is not ``true`` or ``1.0``)."""
    return a.__class__ is b.__class__ and a == b


@dataclass
class Shaped:
    """One record and the names of fields whose value did not fit their column."""

    record: dict[str, t.Any]
    misfits: list[str]


def shape_row(
    raw: t.Any,
    export: Export,
    bot_id: str,
    user_data_columns: t.Mapping[str, str] | None = None,
) -> Shaped:
    """Shape one API row into a record. Every field of ``raw`` ends up in the record."""
    if not isinstance(raw, dict):
        raise TapError(
            f"Feedbot bot {bot_id}: export {export.path} returned a row that is not an object "
            f"({type(raw).__name__}); check feedbot.api_url_template"
        )
    columns = dict(export.fields)
    if export.user_data:
        columns.update(user_data_columns or {})
    catch_all = "storages" if export.user_data else "extra_fields"
    record: dict[str, t.Any] = {}
    rest: dict[str, t.Any] = {}
    misfits: list[str] = []
    for key, value in raw.items():
        kind = columns.get(key)
        if kind is None:
            rest[key] = value
            continue
        converted = coerce(value, kind)
        if converted is FAIL:
            misfits.append(key)
            record[key] = None
            rest[key] = value
        else:
            record[key] = converted
            if key != "timestamp" and kind != "json" and not _same_json(converted, value):
                rest[key] = value  # converted: the value as it came is kept too
    if export.user_data:
        record["storages"] = rest
        if record.get("userId") in (None, ""):
            raise TapError(
                f"Feedbot bot {bot_id}: export {export.path} returned a user without userId"
            )
    else:
        if rest:
            record[catch_all] = rest
        record["row_key"] = row_key(raw)
    record["bot_id"] = bot_id
    return Shaped(record, misfits)
