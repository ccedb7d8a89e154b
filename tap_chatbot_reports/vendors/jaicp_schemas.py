"""JAICP Reporter API record schemas, written by hand from the official OpenAPI DTOs.

Source: shared/vendor-specs/jaicp/reporter-api.yml (v1); the legacy spec defines the same DTOs.
The spec types every property, so these types are documented and the windowed streams enforce
them (a row of another shape stops the vendor with one line naming the field). Every property of
each DTO is kept, nested objects stay nested. Date-times are normalised by the tap to fixed-width
ISO-8601 UTC. ``ObjectNode`` fields (spec: ``type: object``) keep every key; ``JsonNode`` is a
stub typed ``object`` in the spec but may be any JSON (Jackson's JsonNode), so it is kept as JSON
text whatever its form. Keys the spec does not define are kept: at the top level in
``extra_fields``, inside a nested DTO (``client``, ``nlpInfo``, labels...) in place
(``additionalProperties``).
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_chatbot_reports.schema_types import JSON_ANY

#: ObjectNode in the spec: a JSON object with keys that are not known in advance.
_OBJECT_NODE = th.ObjectType()


def _dto(*properties: th.Property[t.Any]) -> th.ObjectType:
    """A nested DTO: its documented properties, and any key the spec does not define kept
    (singer-sdk 0.54 writes ``additionalProperties: true`` for nested objects by default; it is
    said here so that a change of that default cannot drop undocumented keys)."""
    return th.ObjectType(*properties, additional_properties=True)


_EXTRA = th.Property(
    "extra_fields",
    th.ObjectType(),
    description="Top-level fields the API returned that the spec does not define (kept whole).",
)

CLIENT_INFO = _dto(
    th.Property("id", th.StringType, required=True),
    th.Property("firstName", th.StringType),
    th.Property("lastName", th.StringType),
    th.Property("username", th.StringType),
)

MESSAGE_LABEL_GROUP = _dto(
    th.Property("id", th.IntegerType),
    th.Property("name", th.StringType, required=True),
    th.Property("priority", th.IntegerType),
)

SESSION_LABEL = _dto(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType, required=True),
    th.Property("priority", th.IntegerType, required=True),
)

MESSAGE_LABEL = _dto(
    th.Property("id", th.IntegerType, required=True),
    th.Property("name", th.StringType, required=True),
    th.Property("priority", th.IntegerType, required=True),
    th.Property("group", MESSAGE_LABEL_GROUP, required=True),
)

OPERATOR_INFO = _dto(
    th.Property("id", th.StringType, required=True),
    th.Property("firstName", th.StringType),
    th.Property("lastName", th.StringType),
    th.Property("photoUrl", th.StringType),
    th.Property("channelType", th.StringType),
)

NLP_INFO = _dto(
    th.Property("nlpState", th.StringType),
    th.Property("nlpClass", th.StringType),
    th.Property("fromState", th.StringType),
    th.Property("pattern", th.StringType),
    th.Property("effectivePattern", th.StringType),
    th.Property("confidence", th.NumberType),
    th.Property("rule", th.StringType),
    th.Property("ruleType", th.StringType),
)

#: SessionInfo (POST sessions/filter).
SESSION_SCHEMA = th.PropertiesList(
    th.Property("sessionId", th.StringType, required=True),
    th.Property("projectShortName", th.StringType, required=True),
    th.Property("channelType", th.StringType, required=True),
    th.Property("botId", th.StringType, required=True),
    th.Property("client", CLIENT_INFO, required=True),
    th.Property("startTime", th.DateTimeType, required=True),
    th.Property("firstQuestion", th.StringType),
    th.Property("lastQuestion", th.StringType),
    th.Property("questionCount", th.IntegerType),
    th.Property("duration", th.IntegerType),
    th.Property("callTaskId", th.IntegerType),
    th.Property("isCallIncoming", th.BooleanType),
    th.Property("sessionResult", th.StringType),
    th.Property("audioFileUrl", th.StringType),
    th.Property("responseData", _OBJECT_NODE),
    th.Property("customFields", _OBJECT_NODE),
    th.Property("sessionData", th.ObjectType(), description="Map of string to string."),
    th.Property("isLivechat", th.BooleanType, required=True),
    th.Property("labels", th.ArrayType(SESSION_LABEL)),
    _EXTRA,
).to_dict()

#: ExtendedMessage (POST messages/filter). It has no delivery ``status`` (only ``Message`` has).
MESSAGE_SCHEMA = th.PropertiesList(
    th.Property("sessionId", th.StringType, required=True),
    th.Property("projectShortName", th.StringType, required=True),
    th.Property("channelType", th.StringType, required=True),
    th.Property("botId", th.StringType, required=True),
    th.Property("client", CLIENT_INFO, required=True),
    th.Property("sessionStartTime", th.DateTimeType, required=True),
    th.Property("timestamp", th.DateTimeType, required=True),
    th.Property("questionId", th.StringType, required=True),
    th.Property("isLivechat", th.BooleanType, required=True),
    th.Property("question", th.StringType),
    th.Property("textAnswer", th.StringType),
    th.Property("event", th.StringType),
    th.Property("operatorInfo", OPERATOR_INFO),
    th.Property("nlpInfo", NLP_INFO),
    th.Property("pageName", th.StringType),
    th.Property("previousPageName", th.StringType),
    th.Property("callTaskId", th.IntegerType),
    th.Property("isCallIncoming", th.BooleanType),
    th.Property("requestData", _OBJECT_NODE),
    th.Property("data", _OBJECT_NODE),
    th.Property("responseData", _OBJECT_NODE),
    th.Property("utterancesJson", JSON_ANY),
    th.Property("exception", th.StringType),
    th.Property("processingTime", th.IntegerType),
    th.Property("labels", th.ArrayType(MESSAGE_LABEL)),
    th.Property("sessionLabels", th.ArrayType(SESSION_LABEL)),
    th.Property("cleaned", th.BooleanType),
    th.Property("comment", th.StringType),
    _EXTRA,
).to_dict()

#: ClientExtendedInfo (POST clients/filter).
CLIENT_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True),
    th.Property("firstName", th.StringType),
    th.Property("lastName", th.StringType),
    th.Property("username", th.StringType),
    th.Property("accountId", th.IntegerType, required=True),
    th.Property("projectShortName", th.StringType, required=True),
    th.Property("channelType", th.StringType, required=True),
    th.Property(
        "botId",
        th.StringType,
        required=True,
        description="Optional in the spec; part of the primary key, so '' when absent.",
    ),
    th.Property("lastSessionId", th.StringType, required=True),
    th.Property("joinDate", th.DateTimeType, required=True),
    th.Property("lastVisitDate", th.DateTimeType, required=True),
    th.Property("isBlocked", th.BooleanType, required=True),
    th.Property("blockReason", th.StringType),
    th.Property("blockedBy", th.IntegerType),
    th.Property("blockDate", th.DateTimeType),
    _EXTRA,
).to_dict()

#: SessionLabelDto (legacy GET logs/labels/sessions).
SESSION_LABEL_SCHEMA = th.PropertiesList(*SESSION_LABEL.wrapped.values(), _EXTRA).to_dict()

#: MessageLabelDto with its MessageLabelGroupDto (GET message/labels).
MESSAGE_LABEL_SCHEMA = th.PropertiesList(*MESSAGE_LABEL.wrapped.values(), _EXTRA).to_dict()

_PROJECT = th.Property(
    "projectShortName",
    th.StringType,
    required=True,
    description="The project (v1 partition) the record was read for; '' when not scoped "
    "(legacy API, or v1 without project_short_names).",
)

#: ScenarioExperimentDto (GET scenario-exeperiments).
EXPERIMENT_SCHEMA = th.PropertiesList(
    _PROJECT,
    th.Property("key", th.StringType, required=True),
    th.Property("description", th.StringType),
    th.Property(
        "branches",
        th.ArrayType(
            _dto(
                th.Property("key", th.StringType, required=True),
                th.Property("description", th.StringType),
            )
        ),
        required=True,
    ),
    th.Property("status", th.StringType, description="CREATED, RUNNING or STOPPED."),
    _EXTRA,
).to_dict()

#: One TimestampToValue of a TimestampToValueStatsDto (advanced stats, intervalType=DAY).
DAILY_STATS_SCHEMA = th.PropertiesList(
    _PROJECT,
    th.Property("ts", th.DateTimeType, required=True, description="Start of the day bucket."),
    th.Property("value", th.NumberType, required=True),
    th.Property("intervalType", th.StringType, description="Always DAY."),
).to_dict()


def without_required(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """A copy of ``schema`` with no ``required`` lists, at any depth."""
    result: dict[str, t.Any] = {}
    for key, value in schema.items():
        if key == "required":
            continue
        if isinstance(value, dict):
            result[key] = without_required(value)
        elif isinstance(value, list):
            result[key] = [without_required(v) if isinstance(v, dict) else v for v in value]
        else:
            result[key] = value
    return result
