"""Xenioo: settings, record schemas and config checks (the public contract of the section)."""

from __future__ import annotations

import string
import typing as t

from singer_sdk import typing as th

from tap_chatbot_reports.checks import list_problems
from tap_chatbot_reports.vendors.xenioo_parse import (
    ACCOUNT_TYPES,
    BOT_TYPES,
    DELIVERY_GROUP_MODES,
    GROUP_MODES,
)

DEFAULT_URL = "https://publicapi.xenioo.com"
TOKEN_PATH = "/authorization/integration"  # noqa: S105 (a URL path)
ACCOUNT_STATS_PATH = "/analytics/statistics/account/{api_key}/{types}/{group_mode}/{days}"
#: Not public (vendor-apis.md 5.5): an assumption by analogy with the delivery pair, a setting.
DEFAULT_BOT_STATS_PATH = "/analytics/statistics/{types}/{group_mode}/{days}"
ACCOUNT_DLR_PATH = "/analytics/statistics/dlr/account/{api_key}/{group_mode}/{days}"
BOT_DLR_PATH = "/analytics/statistics/dlr/{group_mode}/{days}"

SETTINGS = th.ObjectType(
    th.Property(
        "account_api_key",
        th.StringType,
        required=True,
        secret=True,
        description="Account API key (Xenioo: account details > Profile). Exchanged for a "
        "bearer token; never sent anywhere else.",
    ),
    th.Property(
        "service_endpoint",
        th.URIType,
        default=DEFAULT_URL,
        description="Route used for the token exchange (bot Settings > Developers shows yours).",
    ),
    th.Property(
        "api_url",
        th.URIType,
        default=DEFAULT_URL,
        description="Host of the statistics endpoints (documented: https://publicapi.xenioo.com).",
    ),
    th.Property(
        "bot_api_keys",
        th.ArrayType(th.StringType),
        default=["*"],
        description="APIKEY filters of the account calls; `*` is every bot of the account. The "
        "account allows one call per hour whatever the filter: with several keys, each run "
        "calls the key called least recently.",
    ),
    th.Property(
        "types",
        th.ArrayType(th.IntegerType(minimum=0, maximum=17)),
        default=list(ACCOUNT_TYPES),
        description="Statistics type codes for the account calls (0-17), all in one call.",
    ),
    th.Property(
        "group_mode",
        th.StringType(allowed_values=list(GROUP_MODES)),
        default="day",
        description="Bucket size: hour, day, month or year.",
    ),
    th.Property(
        "days",
        th.IntegerType(minimum=1, maximum=30),
        default=30,
        description="Days of history each call returns, counted back from the call (1-30).",
    ),
    th.Property(
        "bots",
        th.ArrayType(
            th.ObjectType(
                th.Property("api_key", th.StringType, required=True),
                th.Property("api_secret", th.StringType, required=True, secret=True),
            )
        ),
        description="Bots for the bot-level statistics and delivery receipts (bot Settings > "
        "Developers). Without it only account-level streams are synced.",
    ),
    th.Property(
        "bot_types",
        th.ArrayType(th.IntegerType(minimum=0, maximum=18)),
        default=list(BOT_TYPES),
        description="Type codes for the bot statistics calls (0-18; 18 is Tag Hit).",
    ),
    th.Property(
        "bot_statistics_path",
        th.StringType,
        default=DEFAULT_BOT_STATS_PATH,
        description="Bot Statistics URL path under api_url, with {types}, {group_mode} and "
        "{days}. Not published by Xenioo: the default is an assumption; a 404 names this setting.",
    ),
    th.Property(
        "delivery_group_mode",
        th.StringType(allowed_values=list(DELIVERY_GROUP_MODES)),
        description="Bucket size of the delivery-receipt calls (adds `minute`: 10-minute slots). "
        "Default: group_mode.",
    ),
    th.Property(
        "account_throttle_minutes",
        th.IntegerType(minimum=1, maximum=1440),
        default=60,
        description="Minutes between two calls of one account endpoint (documented: 60).",
    ),
    th.Property(
        "bot_throttle_minutes",
        th.IntegerType(minimum=1, maximum=1440),
        default=30,
        description="Minutes between two calls of one bot endpoint (documented: 30).",
    ),
    th.Property(
        "throttle_grace_seconds",
        th.IntegerType(minimum=0, maximum=600),
        default=60,
        description="A call is attempted when the throttle window ends within this many "
        "seconds, so runs scheduled exactly one window apart are not skipped.",
    ),
)

_IDENTIFYING = th.StringType
STATISTICS_SCHEMA = th.PropertiesList(
    th.Property("level", th.StringType, required=True, description="account or bot."),
    th.Property(
        "api_key",
        th.StringType,
        required=True,
        description="APIKEY filter of the account call (`*`: all bots), or the bot's API key.",
    ),
    th.Property("group_mode", th.StringType, required=True, description="Bucket size asked."),
    th.Property("days", th.IntegerType, description="DAYS asked (rolling window length)."),
    th.Property("type_code", th.IntegerType, description="Type code, when derivable."),
    th.Property("type_name", th.StringType, description="Documented name of type_code."),
    th.Property(
        "GroupLabel",
        _IDENTIFYING,
        required=True,
        description="Bucket label as sent (documented name, type not documented: a value "
        "that is not a string is its JSON text here and kept as it came in extra_fields).",
    ),
    th.Property("BotName", _IDENTIFYING, required=True, description="As GroupLabel."),
    th.Property("ChannelName", _IDENTIFYING, required=True, description="As GroupLabel."),
    th.Property("EventLabel", _IDENTIFYING, required=True, description="As GroupLabel."),
    th.Property(
        "period_start",
        th.DateTimeType,
        description="Start of the bucket parsed from GroupLabel (UTC), when the label is a date.",
    ),
    th.Property(
        "retrieved_at",
        th.DateTimeType,
        description="When the call was made: the newest bucket is still filling at that time.",
    ),
    th.Property(
        "extra_fields",
        th.ObjectType(),
        description="Every other field of the row (value, count, type: names and types not "
        "published), kept whole in any JSON form; also an identifying field that is not a "
        "string, as it came.",
    ),
).to_dict()
DELIVERY_SCHEMA = {
    **STATISTICS_SCHEMA,
    "properties": {
        k: v
        for k, v in STATISTICS_SCHEMA["properties"].items()
        if k not in ("type_code", "type_name")
    },
}


def check_config(section: dict[str, t.Any]) -> list[str]:
    """Problems JSON Schema cannot express."""
    problems: list[str] = []
    for key in ("bot_api_keys", "types", "bot_types"):
        values = section.get(key)
        if not isinstance(values, list):
            continue
        problems += list_problems(values, f"xenioo.{key}", "value")
    keys = section.get("bot_api_keys")
    if isinstance(keys, list) and "*" in keys and len(keys) > 1:
        problems.append(
            "xenioo.bot_api_keys: `*` already covers every bot; list either `*` or api keys"
        )
    bots = section.get("bots")
    if isinstance(bots, list):
        names = [str(b.get("api_key")) for b in bots if isinstance(b, dict)]
        problems += list_problems(names, "xenioo.bots", "api_key") if names else []
    path = section.get("bot_statistics_path")
    if isinstance(path, str):
        problems.extend(_check_path_template(path))
    if isinstance(section.get("account_api_key"), str) and not section["account_api_key"].strip():
        problems.append("xenioo.account_api_key: is empty")
    return problems


def _check_path_template(path: str) -> list[str]:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(path) if name is not None}
    except ValueError as exc:
        return [f"xenioo.bot_statistics_path: not a valid template ({exc})"]
    allowed = {"types", "group_mode", "days"}
    problems = []
    if fields - allowed:
        problems.append(
            f"xenioo.bot_statistics_path: unknown placeholder(s) {sorted(fields - allowed)}; "
            "use {types}, {group_mode} and {days}"
        )
    if allowed - fields:
        problems.append(
            f"xenioo.bot_statistics_path: missing placeholder(s) {sorted(allowed - fields)}"
        )
    return problems
