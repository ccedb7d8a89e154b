"""Xenioo: account, bot and delivery-receipt statistics (Global Platform API).

Contract: shared/vendor-apis.md section 5. Each call returns the rolling last ``days`` of
buckets (no date range, no paging), so every stream is a full re-read upserted on its primary
key. The endpoints are throttled (account: 1 call per account per hour; bot: 1 call per bot per
30 minutes): state remembers when each throttled call was made, a run inside the window makes no
request and says when the next call is allowed, and the API's throttle answer skips the stream
with a warning instead of retrying. Assumptions (flagged in the README): the bot statistics URL
(a setting), the status/body of the throttle answer, 401 for an expired token, the row fields
beyond the documented four, the GroupLabel formats.
"""

from __future__ import annotations

import datetime as dt
import typing as t
import weakref
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import quote

from singer_sdk.authenticators import APIAuthenticatorBase
from singer_sdk.streams.rest import HTTPRequest

from tap_chatbot_reports.client import VendorAPIError, VendorStream
from tap_chatbot_reports.redact import REDACTOR, redact
from tap_chatbot_reports.timeparse import format_timestamp
from tap_chatbot_reports.vendors import Vendor
from tap_chatbot_reports.vendors.xenioo_parse import (
    ACCOUNT_TYPES,
    BOT_TYPES,
    Token,
    budget_from_state,
    extract_rows,
    normalise_row,
    parse_token_response,
    pick_api_key,
)
from tap_chatbot_reports.vendors.xenioo_settings import (
    ACCOUNT_DLR_PATH,
    ACCOUNT_STATS_PATH,
    BOT_DLR_PATH,
    DEFAULT_BOT_STATS_PATH,
    DEFAULT_URL,
    DELIVERY_SCHEMA,
    SETTINGS,
    STATISTICS_SCHEMA,
    TOKEN_PATH,
    check_config,
)

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

_THROTTLE_WORDS = ("throttl", "too many", "rate limit", "expired hour", "try again later")


# ---------------------------------------------------------------------------- tokens & errors


class XeniooThrottled(VendorAPIError):
    """The API answered with its throttle error: skip, never retry."""


class TokenRejected(VendorAPIError):
    """A data call answered 401: the token is refreshed once."""


@dataclass(frozen=True)
class Target:
    """Who a throttled call is made for (no secret: goes to logs)."""

    level: str  # "account" or "bot"
    api_keys: tuple[str, ...]
    bot_index: int | None = None

    @property
    def token_key(self) -> str:
        return "account" if self.bot_index is None else f"bot:{self.api_keys[0]}"


#: Tokens per tap run (one account token shared by the account streams, one per bot).
_TOKENS: weakref.WeakKeyDictionary[t.Any, dict[str, Token]] = weakref.WeakKeyDictionary()


class XeniooBearerAuth(APIAuthenticatorBase):
    """``Authorization: Bearer <token>`` on every statistics request a stream sends.

    The SDK runs a stream's authenticator on each prepared request right before it is sent,
    every retry included (``VendorStream._request``). The token is looked up (and exchanged
    again when it is about to expire) at that moment, so a retry after a long ``Retry-After``
    wait never goes out with a token that expired during the wait: a 401 on a throttled
    statistics call could cost the hour's only call. Token exchange requests pass unchanged.
    """

    def __init__(self, *, bearer: t.Callable[[], str | None]) -> None:
        super().__init__()
        self._bearer = bearer

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._bearer()
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        return request


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class XeniooStream(VendorStream):
    """Shared logic of the three statistics streams."""

    vendor = "xenioo"
    vendor_title = "Xenioo"
    auth_setting = "xenioo.account_api_key"
    not_found_setting = "xenioo.bot_api_keys"
    replication_key = None  # type: ignore[assignment]
    is_sorted = False
    #: Include type_code/type_name (not for delivery receipts).
    typed = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = "data"
        self._target: Target | None = None
        self._refresh_allowed = False
        self._auth = XeniooBearerAuth(bearer=self._bearer_for_send)

    # ------------------------------------------------------------------ settings

    @property
    def url_base(self) -> str:
        return str(self.settings.get("api_url") or DEFAULT_URL).rstrip("/")

    def bot_entry(self, index: int) -> dict[str, t.Any]:
        return dict((self.settings.get("bots") or [])[index])

    def bot_index(self, api_key: str) -> int:
        keys = [str(b.get("api_key")) for b in self.settings.get("bots") or []]
        return keys.index(api_key)

    def window(self, target: Target) -> dt.timedelta:
        key = "account_throttle_minutes" if target.level == "account" else "bot_throttle_minutes"
        default = 60 if target.level == "account" else 30
        return dt.timedelta(minutes=int(self.settings.get(key) or default))

    def group_mode(self) -> str:
        return str(self.settings.get("group_mode") or "day")

    def days(self) -> int:
        return int(self.settings.get("days") or 30)

    def types_for(self, target: Target) -> list[int] | None:
        if target.level == "account":
            return [int(c) for c in self.settings.get("types") or ACCOUNT_TYPES]
        return [int(c) for c in self.settings.get("bot_types") or BOT_TYPES]

    def target(self, context: Context | None) -> Target | None:
        raise NotImplementedError

    def path_for(self, target: Target) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ tokens

    @property
    def authenticator(self) -> XeniooBearerAuth:
        return self._auth

    def _bearer_for_send(self) -> str | None:
        """The token for the request about to be sent; None for the token exchange itself."""
        if self._phase == "token" or self._target is None:
            return None
        return self.token_for(self._target, self._current_context).value

    def _token_cache(self) -> dict[str, Token]:
        return _TOKENS.setdefault(self._tap, {})

    def token_request(self, target: Target) -> HTTPRequest:
        """POST the account key (plus the bot's key and secret for a bot token)."""
        body: dict[str, str] = {"AccountAPIKey": str(self.settings.get("account_api_key") or "")}
        if target.bot_index is not None:
            bot = self.bot_entry(target.bot_index)
            body["BotAPIKey"] = str(bot.get("api_key") or "")
            body["BotAPISecret"] = str(bot.get("api_secret") or "")
        endpoint = str(self.settings.get("service_endpoint") or DEFAULT_URL).rstrip("/")
        return HTTPRequest(
            url=endpoint + TOKEN_PATH,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": self.user_agent,
            },
            data=body,
        )

    def token_for(self, target: Target, context: Context | None) -> Token:
        cache = self._token_cache()
        token = cache.get(target.token_key)
        now = _now()
        if token is not None and not token.needs_refresh(now):
            return token
        self._phase = "token"
        try:
            payload = self.request_json(self.token_request(target), context)
        finally:
            self._phase = "data"
        token = parse_token_response(payload, _now())
        REDACTOR.add(token.value)
        cache[target.token_key] = token
        self.logger.info(
            "%s: obtained a %s token valid until %s",
            self._error_prefix(),
            target.level,
            format_timestamp(token.expires_at),
        )
        return token

    # ------------------------------------------------------------------ requests

    def build_request(self, target: Target, api_key: str) -> HTTPRequest:
        """The statistics GET; its bearer token is set by ``XeniooBearerAuth`` at send time."""
        types = self.types_for(target) if self.typed else None
        path = self.path_for(target).format(
            api_key=quote(api_key, safe="*"),
            types=",".join(str(c) for c in types or ()),
            group_mode=self.group_mode_for(),
            days=self.days(),
        )
        return HTTPRequest(
            url=self.url_base + "/" + path.lstrip("/"),
            method="GET",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": self.user_agent,
            },
        )

    def group_mode_for(self) -> str:
        return self.group_mode()

    def fetch(self, target: Target, api_key: str, context: Context | None) -> t.Any:
        """GET one statistics call; a 401 refreshes the token once. The token is checked before
        every send, retries included (``XeniooBearerAuth``)."""
        self._target = target
        for attempt in (1, 2):
            self._refresh_allowed = attempt == 1
            try:
                return self.request_json(self.build_request(target, api_key), context)
            except TokenRejected:
                self.logger.info(
                    "%s: the %s token was rejected (HTTP 401): refreshing it once",
                    self._error_prefix(),
                    target.level,
                )
                self._token_cache().pop(target.token_key, None)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ errors

    def _credential_setting(self) -> str:
        target = self._target
        if target is None or target.bot_index is None:
            return "xenioo.account_api_key"
        return (
            f"xenioo.bots[{target.bot_index}].api_key / api_secret (bot {target.api_keys[0]}) "
            "and xenioo.account_api_key"
        )

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if self._phase == "token":
            if status == HTTPStatus.TOO_MANY_REQUESTS or status >= 500:
                super().validate_response(response)
                return
            if 400 <= status < 500:
                hint = {
                    400: "a key is missing",
                    403: "the account is free or not allowed to use the Global Platform API",
                    404: "the account API key was not found",
                }.get(status, "the credentials were refused")
                raise VendorAPIError(
                    f"{self.response_error_message(response)}; token exchange refused ({hint}): "
                    f"check {self._credential_setting()} and xenioo.service_endpoint"
                )
            return
        if is_throttle_answer(response):
            raise XeniooThrottled(self.response_error_message(response))
        if status == HTTPStatus.UNAUTHORIZED and self._refresh_allowed:
            raise TokenRejected(self.response_error_message(response))
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            raise VendorAPIError(
                f"{self.response_error_message(response)}; the token was rejected: check "
                f"{self._credential_setting()}"
            )
        if status == HTTPStatus.NOT_FOUND:
            raise VendorAPIError(
                f"{self.response_error_message(response)}; the account or bot was not found: "
                f"check {self.not_found_setting}"
            )
        super().validate_response(response)

    # ------------------------------------------------------------------ records

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        target = self.target(context)
        if target is None:
            return
        self._target = target
        self._current_context = context
        state = self.get_context_state(context)
        throttle = state.setdefault("throttle", {})
        window = self.window(target)
        grace = dt.timedelta(seconds=int(self.settings.get("throttle_grace_seconds", 60)))
        budget = budget_from_state(state, "throttle")
        started = _now()
        if not budget.allows(started, window, grace):
            allowed = budget.next_allowed(window)
            assert allowed is not None
            self.logger.info(
                "%s: no request made: Xenioo allows one %s call per %d minutes and the last "
                "was at %s; next call allowed at %s",
                self._error_prefix(),
                target.level,
                int(window.total_seconds() // 60),
                format_timestamp(max(m for m in (budget.last_call_at, budget.throttled_at) if m)),
                format_timestamp(allowed),
            )
            return
        calls = throttle.setdefault("api_key_calls", {}) if len(target.api_keys) > 1 else {}
        api_key = pick_api_key(target.api_keys, calls)
        if len(target.api_keys) > 1:
            waiting = [k for k in target.api_keys if k != api_key]
            self.logger.info(
                "%s: one account call per %d minutes: calling api key %s now; %s in later runs",
                self._error_prefix(),
                int(window.total_seconds() // 60),
                api_key,
                ", ".join(waiting),
            )
        try:
            payload = self.fetch(target, api_key, context)
        except XeniooThrottled as exc:
            throttle["throttled_at"] = format_timestamp(started)
            throttle["next_call_allowed_at"] = format_timestamp(started + window)
            self._flush_state()
            self.logger.warning(
                "%s: skipped: the API answered with its throttle error (%s); no retry before %s",
                self._error_prefix(),
                redact(str(exc)).split(": ", 1)[-1][:200],
                format_timestamp(started + window),
            )
            return
        throttle["last_call_at"] = format_timestamp(started)
        throttle["next_call_allowed_at"] = format_timestamp(started + window)
        throttle.pop("throttled_at", None)
        if len(target.api_keys) > 1:
            calls[api_key] = format_timestamp(started)
        rows = extract_rows(payload, f"an array of statistics ({self.name})")
        count = 0
        for row in rows:
            count += 1
            yield self.to_record(row, target, api_key, started)
        self.logger.info(
            "%s: %d rows for api key %s (%s, %d days)",
            self._error_prefix(),
            count,
            api_key,
            self.group_mode_for(),
            self.days(),
        )
        self._flush_state()

    def to_record(
        self, row: t.Any, target: Target, api_key: str, started: dt.datetime
    ) -> dict[str, t.Any]:
        return normalise_row(
            row,
            level=target.level,
            api_key=api_key,
            group_mode=self.group_mode_for(),
            days=self.days(),
            types=self.types_for(target) if self.typed else None,
            retrieved_at=format_timestamp(started),
        )

    def _flush_state(self) -> None:
        self.state_manager.is_flushed = False
        self._write_state_message()


def is_throttle_answer(response: requests.Response) -> bool:
    """429, or a 400/403 whose body talks about throttling (the form is not documented;
    another Xenioo endpoint answers 400 while throttled)."""
    if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
        return True
    if response.status_code not in (HTTPStatus.BAD_REQUEST, HTTPStatus.FORBIDDEN):
        return False
    try:
        text = response.text[:2000].lower()
    except Exception:
        return False
    return any(word in text for word in _THROTTLE_WORDS)


class XeniooAccountStatisticsStream(XeniooStream):
    """Account Statistics Data: all configured types in one call, 1 call per account per hour."""

    name = "xenioo_account_statistics"
    path = "account_statistics"
    primary_keys = ("api_key", "group_mode", "GroupLabel", "BotName", "ChannelName", "EventLabel")
    schema = STATISTICS_SCHEMA

    def target(self, context: Context | None) -> Target | None:
        keys = tuple(str(k) for k in self.settings.get("bot_api_keys") or ["*"])
        return Target("account", keys)

    def path_for(self, target: Target) -> str:
        return ACCOUNT_STATS_PATH


class XeniooBotStatisticsStream(XeniooStream):
    """Bot Statistics Data: one call per bot per 30 minutes, bot token."""

    name = "xenioo_bot_statistics"
    path = "bot_statistics"
    primary_keys = ("api_key", "group_mode", "GroupLabel", "BotName", "ChannelName", "EventLabel")
    schema = STATISTICS_SCHEMA
    not_found_setting = "xenioo.bot_statistics_path and xenioo.bots"

    @property
    def partitions(self) -> list[dict] | None:
        # Context keys are record fields, so the SDK adds nothing to the records.
        return [{"api_key": str(b.get("api_key"))} for b in self.settings.get("bots") or []]

    def target(self, context: Context | None) -> Target | None:
        if not context or "api_key" not in context:
            return None
        key = str(context["api_key"])
        return Target("bot", (key,), self.bot_index(key))

    def path_for(self, target: Target) -> str:
        return str(self.settings.get("bot_statistics_path") or DEFAULT_BOT_STATS_PATH)


class XeniooDeliveryStatisticsStream(XeniooStream):
    """Delivery-receipt statistics: the account call plus one call per configured bot."""

    name = "xenioo_delivery_statistics"
    path = "delivery_statistics"
    primary_keys = (
        "level",
        "api_key",
        "group_mode",
        "GroupLabel",
        "BotName",
        "ChannelName",
        "EventLabel",
    )
    schema = DELIVERY_SCHEMA
    typed = False

    @property
    def partitions(self) -> list[dict] | None:
        bots = [
            {"level": "bot", "api_key": str(b.get("api_key"))}
            for b in self.settings.get("bots") or []
        ]
        return [{"level": "account"}, *bots]

    def target(self, context: Context | None) -> Target | None:
        if not context or context.get("level") == "account":
            keys = tuple(str(k) for k in self.settings.get("bot_api_keys") or ["*"])
            return Target("account", keys)
        key = str(context["api_key"])
        return Target("bot", (key,), self.bot_index(key))

    def path_for(self, target: Target) -> str:
        return ACCOUNT_DLR_PATH if target.level == "account" else BOT_DLR_PATH

    def group_mode_for(self) -> str:
        return str(self.settings.get("delivery_group_mode") or self.group_mode())


VENDOR = Vendor(
    key="xenioo",
    title="Xenioo",
    settings=SETTINGS,
    streams=(
        XeniooAccountStatisticsStream,
        XeniooBotStatisticsStream,
        XeniooDeliveryStatisticsStream,
    ),
    secret_keys=frozenset({"account_api_key", "api_secret"}),
    check_config=check_config,
)
