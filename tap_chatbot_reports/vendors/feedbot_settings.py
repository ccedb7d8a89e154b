"""Feedbot settings (the ``feedbot`` config section) and the checks JSON Schema cannot express."""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_chatbot_reports.checks import list_problems
from tap_chatbot_reports.vendors.feedbot_schemas import KINDS, USER_DATA_FIXED

DEFAULT_API_URL_TEMPLATE = "https://feedbot-{bot_id}.azurewebsites.net"
DEFAULT_WINDOW_DAYS = 1
DEFAULT_CONCURRENCY = 4
MAX_WINDOW_DAYS = 31
_BOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SETTINGS = th.ObjectType(
    th.Property(
        "bots",
        th.ArrayType(
            th.ObjectType(
                th.Property("bot_id", th.StringType, required=True, description="The BotId."),
                th.Property(
                    "function_key",
                    th.StringType,
                    required=True,
                    secret=True,
                    description="Azure Functions key of the bot's export API. Sent as the "
                    "`x-functions-key` header, never in a URL.",
                ),
            )
        ),
        required=True,
        description="Bots to extract, one partition each.",
    ),
    th.Property(
        "api_url_template",
        th.StringType,
        default=DEFAULT_API_URL_TEMPLATE,
        description="Base URL of a bot's API; `{bot_id}` is replaced by the bot id (documented "
        "host: https://feedbot-{bot_id}.azurewebsites.net).",
    ),
    th.Property(
        "window_days",
        th.IntegerType(minimum=1, maximum=MAX_WINDOW_DAYS),
        default=DEFAULT_WINDOW_DAYS,
        description="Days per request. Feedbot recommends daily fetching; every request carries "
        "fromTimestamp/toTimestamp (an unfiltered call can slow the bot down).",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=16),
        default=DEFAULT_CONCURRENCY,
        description="Requests in flight at once (windows and bots fetched ahead; records are "
        "still emitted in order). Each bot is its own host; Feedbot publishes no rate limit.",
    ),
    th.Property(
        "user_data_not_empty",
        th.ArrayType(th.StringType),
        description="userData/userDataSnapshot `notEmpty`: storages (camelCase) that must be "
        "non-empty for a user to be exported.",
    ),
    th.Property(
        "user_data_where",
        th.ObjectType(additional_properties=th.StringType),
        description='userData/userDataSnapshot equality filters: {"gender": "male"} is sent '
        "as `whereGender=male`.",
    ),
    th.Property(
        "user_data_columns",
        th.ObjectType(additional_properties=th.StringType(allowed_values=list(KINDS))),
        description="Storages to emit as typed columns of the user-data streams: storage name "
        "-> one of " + ", ".join(KINDS) + ". Other storages stay in the `storages` object.",
    ),
)


# ---------------------------------------------------------------------- config checks


def _check_bots(bots: t.Any) -> list[str]:
    if not isinstance(bots, list):
        return []
    if not bots:
        return ["feedbot.bots: list at least one bot"]
    ids = [str(b.get("bot_id", "")) for b in bots if isinstance(b, dict)]
    problems = [p for p in list_problems(ids, "feedbot.bots", "bot id") if "duplicated" in p]
    bad = sorted({b for b in ids if not _BOT_ID.match(b)})
    if bad:
        problems.append(
            "feedbot.bots[].bot_id: "
            + ", ".join(repr(b) for b in bad)
            + " is not a bot id (letters, digits, '.', '_' and '-')"
        )
    if any(isinstance(b, dict) and not str(b.get("function_key", "")).strip() for b in bots):
        problems.append("feedbot.bots[].function_key: a function key is empty")
    return problems


def _check_template(template: t.Any, bot_count: int) -> list[str]:
    if not isinstance(template, str):
        return []
    problems: list[str] = []
    parts = urlsplit(template.replace("{bot_id}", "bot"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append("feedbot.api_url_template: must be an http(s) URL")
    if re.search(r"(^|[?&])code=", parts.query) or parts.fragment:
        problems.append(
            "feedbot.api_url_template: must not carry the function key (?code=); set "
            "feedbot.bots[].function_key (sent as the x-functions-key header)"
        )
    elif parts.query:
        problems.append("feedbot.api_url_template: must not have a query string")
    if re.search(r"\{(?!bot_id\})[^}]*\}", template):
        problems.append("feedbot.api_url_template: the only placeholder is {bot_id}")
    if bot_count > 1 and "{bot_id}" not in template:
        problems.append(
            "feedbot.api_url_template: must contain {bot_id} when several bots are configured"
        )
    return problems


def _check_user_data(section: dict[str, t.Any]) -> list[str]:
    problems: list[str] = []
    not_empty = section.get("user_data_not_empty")
    if isinstance(not_empty, list):
        bad = [f for f in not_empty if not isinstance(f, str) or not _FIELD_NAME.match(f)]
        if bad:
            problems.append(
                f"feedbot.user_data_not_empty: {', '.join(map(repr, bad))} is not a storage name"
            )
    where = section.get("user_data_where")
    if isinstance(where, dict):
        bad = [f for f in where if not _FIELD_NAME.match(str(f))]
        if bad:
            problems.append(
                f"feedbot.user_data_where: {', '.join(map(repr, bad))} is not a storage name"
            )
    columns = section.get("user_data_columns")
    if isinstance(columns, dict):
        clash = sorted(c for c in columns if c in USER_DATA_FIXED)
        if clash:
            problems.append(
                f"feedbot.user_data_columns: {', '.join(clash)} is already a column "
                f"({', '.join(USER_DATA_FIXED)} are reserved)"
            )
        bad = sorted(str(c) for c in columns if not _FIELD_NAME.match(str(c)))
        if bad:
            problems.append(
                f"feedbot.user_data_columns: {', '.join(map(repr, bad))} is not a storage name"
            )
    return problems


def check_config(section: dict[str, t.Any]) -> list[str]:
    """Problems JSON Schema cannot express."""
    bots = section.get("bots")
    template = section.get("api_url_template", DEFAULT_API_URL_TEMPLATE)
    return (
        _check_bots(bots)
        + _check_template(template, len(bots) if isinstance(bots, list) else 0)
        + _check_user_data(section)
    )
