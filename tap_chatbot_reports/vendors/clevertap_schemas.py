"""CleverTap settings, documented values and the record schema (data only)."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_chatbot_reports.schema_types import JSON_ANY

ENDPOINT_PATH = "/1/message/report.json"
#: Documented region table (vendor-apis.md 2.2); ``eu1`` is the default region's host.
REGION_HOSTS = {
    "eu1": "api.clevertap.com",
    "in1": "in1.api.clevertap.com",
    "sg1": "sg1.api.clevertap.com",
    "us1": "us1.api.clevertap.com",
    "aps3": "aps3.api.clevertap.com",
    "mec1": "mec1.api.clevertap.com",
}
DEFAULT_REGION = "eu1"
DEFAULT_WINDOW_DAYS = 14
MAX_WINDOW_DAYS = 90
DEFAULT_LOOKBACK_DAYS = 7
#: Concurrent requests CleverTap allows per account for this API (vendor-apis.md 2.6).
MAX_IN_FLIGHT = 3

#: Filter setting -> (body key, documented values). Values are matched case-insensitively (the
#: vendor's own example sends "InApp"); the user's spelling is sent unchanged.
FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "channels": (
        "channel",
        (
            "push",
            "email",
            "sms",
            "browser",
            "audiences",
            "inapp",
            "webhooks",
            "web_pop_up",
            "web_exit_intent",
            "web_native_display",
            "web_inbox",
        ),
    ),
    "deliveries": (
        "delivery",
        ("one_time", "inaction", "action", "recurring", "property_time", "api"),
    ),
    "statuses": ("status", ("scheduled", "running", "stopped", "completed")),
    "message_types": ("message_type", ("single", "ab", "message_on_user_property")),
    "labels": ("label", ()),  # free text: any label
}

_STRINGS = th.ArrayType(th.StringType)

SETTINGS = th.ObjectType(
    th.Property("account_id", th.StringType, required=True, description="CleverTap Account ID."),
    th.Property(
        "passcode",
        th.StringType,
        required=True,
        secret=True,
        description="Account Passcode (or your User-Passcode if the account allows it). Sent "
        "as the X-CleverTap-Passcode header.",
    ),
    th.Property(
        "region",
        th.StringType(allowed_values=list(REGION_HOSTS)),
        default=DEFAULT_REGION,
        description="Account region: eu1 (api.clevertap.com), in1, sg1, us1, aps3, mec1.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        description="Full API root overriding region, e.g. https://eu1.api.clevertap.com "
        "(the endpoint path /1/message/report.json is appended).",
    ),
    th.Property("channels", _STRINGS, description="Filter: channel values (push, email, ...)."),
    th.Property("deliveries", _STRINGS, description="Filter: delivery types."),
    th.Property("statuses", _STRINGS, description="Filter: message statuses."),
    th.Property("message_types", _STRINGS, description="Filter: single, ab, ..."),
    th.Property("labels", _STRINGS, description="Filter: only messages with these labels."),
    th.Property(
        "extra_filter_values",
        th.ObjectType(*(th.Property(name, _STRINGS) for name in FILTERS if name != "labels")),
        description="Values to accept in a filter beyond the documented ones, per filter "
        '(e.g. {"channels": ["whatsapp"]}), for channels CleverTap added later.',
    ),
    th.Property(
        "daily",
        th.BooleanType,
        default=True,
        description="true: one row per message and day, incremental on report_date with a "
        "lookback. false: one aggregate row per message over the whole range, asked in one "
        "request (full table).",
    ),
    th.Property(
        "window_days",
        th.IntegerType(minimum=1, maximum=MAX_WINDOW_DAYS),
        default=DEFAULT_WINDOW_DAYS,
        description="daily=true: days per request (long ranges are slow on CleverTap's "
        "side). daily=false asks for the whole range in one request whatever this says: "
        "aggregates of two requests cannot be combined.",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=MAX_IN_FLIGHT),
        default=MAX_IN_FLIGHT,
        description="Requests in flight at once for the account (windows fetched ahead; "
        "records are still emitted in day order). CleverTap allows at most 3 concurrent "
        "requests per account for this API and answers more with HTTP 429, so 3 is the "
        "maximum; lower it if other clients use the same account at the same time.",
    ),
    th.Property(
        "lookback_days",
        th.IntegerType(minimum=0, maximum=MAX_WINDOW_DAYS),
        default=DEFAULT_LOOKBACK_DAYS,
        description="daily=true: days before the bookmark's day re-read on every run (counts "
        "keep rising after a message is sent). The bookmark's day is always re-read.",
    ),
)

SCHEMA = th.PropertiesList(
    th.Property("account_id", th.StringType, required=True, description="Partition."),
    th.Property("message_id", th.StringType, required=True, description='"message id".'),
    th.Property(
        "report_date", th.DateType, description="Day of the counts (daily=true), else null."
    ),
    th.Property("window_from", th.DateType, description="First day of the request (from)."),
    th.Property(
        "window_to",
        th.DateType,
        description="Last day the request covers (daily=true sends the next day as to, so "
        "either reading of to loses nothing).",
    ),
    th.Property("message_name", th.StringType),
    th.Property("channel", th.StringType),
    th.Property("delivery", th.StringType),
    th.Property("status", th.StringType),
    th.Property(
        "labels",
        _STRINGS,
        description="As sent; the item type is not documented: a string item is kept as it "
        "is, any other item as its JSON text.",
    ),
    th.Property("device", _STRINGS),
    th.Property("start_date", th.StringType, description='As sent, e.g. "Oct 18, 4:08 PM".'),
    th.Property(
        "conversion_event",
        JSON_ANY,
        description="Type not documented (null in the example): JSON text of the value.",
    ),
    th.Property("sent", th.IntegerType),
    th.Property("viewed", th.IntegerType),
    th.Property("clicked", th.IntegerType),
    th.Property("metrics", th.ObjectType(), description="Every numeric count, summed."),
    th.Property(
        "data",
        JSON_ANY,
        description="JSON text: the message's data as it came (daily=false), or the count "
        "objects of the row's day (daily=true).",
    ),
    th.Property("extra_fields", th.ObjectType(), description="Undocumented message fields."),
).to_dict()
