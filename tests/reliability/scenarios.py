"""One reliability scenario per vendor: a small sandbox app with distinctive secrets, the tap
config pointing at it, its stream families (for fault targeting) and how to compare records.

Shared by the reliability tests and ``scripts/kill_resume.py``. Secrets deliberately contain
characters that URL-encode (``/ + = & ? % #`` and a space) so a leak of the encoded form is
caught as well.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from sandbox import certainly, clevertap, feedbot, jaicp, xenioo
from sandbox.jaicp_data import generate_project
from sandbox.server import VendorApp

SECRETS = {
    "certainly": "tok Cert/S3cr+t=&?%#-01",
    "clevertap": "ct Pass/c0de+=&?%#-02",
    "jaicp_v1": "jaicp Uni/T0k+=&?%#-03",
    "jaicp_legacy": "jaicp-Leg/T0k+=&%-04",
    "jaicp_legacy_other": "jaicp-Leg/Other+=-05",
    "feedbot_a": "fk Acme/S3cr+t==&?%#-06",
    "feedbot_b": "fk-City/S3cr+t-&?%#-07",
    "xenioo_account": "xe Acct/K3y+=&?%#-08",
    "xenioo_bot_1": "xe Bot/S3c+1=&?%#-09",
    "xenioo_bot_2": "xe Bot/S3c+2=&?%#-10",
}

COMMON = {"backoff_factor": 0, "max_retries": 3}


def secret_forms(secret: str) -> set[str]:
    """A secret as it could leak: raw, percent-encoded (path and query style), JSON-escaped."""
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
    }


def leaks(texts: t.Mapping[str, str], secrets: t.Iterable[str]) -> list[str]:
    """``where: form`` for every secret form found in any of ``texts`` (empty when clean)."""
    found = []
    for secret in secrets:
        for form in secret_forms(secret):
            for where, text in texts.items():
                if form in text:
                    found.append(f"{where}: {form!r}")
    return found


#: Fields that say when a record was read, not what it holds (differ between two runs).
VOLATILE_FIELDS = frozenset({"retrieved_at"})


def canonical(record: dict[str, t.Any]) -> str:
    kept = {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def record_bag(messages: t.Iterable[dict[str, t.Any]]) -> Counter[tuple[str, str]]:
    """(stream, canonical record) multiset of the RECORD messages."""
    return Counter(
        (m["stream"], canonical(m["record"])) for m in messages if m.get("type") == "RECORD"
    )


@dataclass
class Scenario:
    """One vendor under test."""

    key: str
    make_app: t.Callable[[], VendorApp]
    #: (app, sandbox url) -> the tap config (common settings included)
    make_config: t.Callable[[t.Any, str], dict[str, t.Any]]
    #: family name -> regex on the request target (the sandbox fault matcher)
    families: dict[str, str]
    #: partitions: family -> text the permanent-error line names (e.g. ``bot_id=bot-a``)
    partition_label: dict[str, str]
    #: the setting a 401/403 line names, and the one a 404 line names
    auth_setting: str
    not_found_setting: str
    secrets: list[str]
    #: (HTTP status, family) -> the setting named when it differs from the two above
    setting_overrides: dict[tuple[int, str], str] = field(default_factory=dict)
    #: called before every tap run (Xenioo: a fresh throttle hour)
    before_run: t.Callable[[t.Any], None] = field(default=lambda _app: None)

    def setting_for(self, status: int, family: str) -> str:
        if (status, family) in self.setting_overrides:
            return self.setting_overrides[(status, family)]
        return self.not_found_setting if status == 404 else self.auth_setting

    def config(self, app: t.Any, url: str, **common: t.Any) -> dict[str, t.Any]:
        config = copy.deepcopy(self.make_config(app, url))
        config.update(COMMON)
        config.update(common)
        return config


# ---------------------------------------------------------------------- Certainly

CERT_START = dt.date(2026, 1, 1)
CERT_DAYS = 20


def _certainly_app() -> certainly.CertainlyApp:
    end = CERT_START + dt.timedelta(days=CERT_DAYS)
    burst = {CERT_START + dt.timedelta(days=d): 6 for d in range(CERT_DAYS)}
    # One busy day: its 7-day window is over the documented 500-row cap and must be split.
    burst[CERT_START + dt.timedelta(days=9)] = 450
    return certainly.CertainlyApp(
        bots={
            "bot-a": certainly.generate_messages("bot-a", CERT_START, end, 8),
            "bot-b": certainly.generate_messages("bot-b", CERT_START, end, burst),
        },
        token=SECRETS["certainly"],
    )


def _certainly_config(app: certainly.CertainlyApp, url: str) -> dict[str, t.Any]:
    return {
        "start_date": f"{CERT_START.isoformat()}T00:00:00Z",
        "end_date": f"{(CERT_START + dt.timedelta(days=CERT_DAYS - 1)).isoformat()}T23:59:59Z",
        "certainly": {
            "api_token": app.token,
            "bot_ids": sorted(app.bots),
            "api_url": f"{url}/certainly/api/",
            "message_report_path": "reports/messages/",
            "window_days": 7,
        },
    }


# ---------------------------------------------------------------------- CleverTap

CT_START = dt.date(2026, 1, 1)
CT_DAYS = 20
CT_ACCOUNT = "REL-4R8-ZZ1-5Z7Z"


def _clevertap_app() -> clevertap.CleverTapApp:
    end = CT_START + dt.timedelta(days=CT_DAYS)
    return clevertap.CleverTapApp(
        accounts={
            CT_ACCOUNT: clevertap.Account(
                SECRETS["clevertap"], clevertap.generate_messages(CT_START, end, 3, seed=5)
            )
        },
        now=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )


def _clevertap_config(app: clevertap.CleverTapApp, url: str) -> dict[str, t.Any]:
    return {
        "start_date": f"{CT_START.isoformat()}T00:00:00Z",
        "end_date": f"{(CT_START + dt.timedelta(days=CT_DAYS - 1)).isoformat()}T23:59:59Z",
        "clevertap": {
            "account_id": CT_ACCOUNT,
            "passcode": SECRETS["clevertap"],
            "api_url": f"{url}/clevertap",
            "window_days": 5,
        },
    }


# ---------------------------------------------------------------------- JAICP

JAICP_START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
JAICP_END = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)


def _jaicp_app() -> jaicp.JAICPApp:
    first, last = dt.date(2024, 2, 29), dt.date(2024, 3, 5)
    return jaicp.JAICPApp(
        projects={
            "acme-support": generate_project(
                "acme-support", SECRETS["jaicp_legacy"], first, last, 12, 1
            ),
            "acme-sales": generate_project(
                "acme-sales", SECRETS["jaicp_legacy_other"], first, last, 6, 1
            ),
        },
        token=SECRETS["jaicp_v1"],
    )


def _jaicp_config(app: jaicp.JAICPApp, url: str) -> dict[str, t.Any]:
    return {
        "start_date": JAICP_START.isoformat(),
        "end_date": JAICP_END.isoformat(),
        "jaicp": {**jaicp.demo_config(app, url), "page_size": 40},
    }


def jaicp_legacy_config(app: jaicp.JAICPApp, url: str) -> dict[str, t.Any]:
    """The legacy API: the project's token travels in the URL path."""
    config = _jaicp_config(app, url)
    config["jaicp"].pop("project_short_names")
    config["jaicp"].update(api_version="legacy", api_token=SECRETS["jaicp_legacy"])
    return config


# ---------------------------------------------------------------------- Feedbot

FB_START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
FB_END = dt.datetime(2026, 3, 4, tzinfo=dt.UTC)


def _feedbot_app() -> feedbot.FeedbotApp:
    first, last = FB_START.date(), (FB_END + dt.timedelta(days=1)).date()
    return feedbot.FeedbotApp(
        bots={
            "acme-shop": feedbot.generate_bot(
                "acme-shop", SECRETS["feedbot_a"], first, last, storages="shop"
            ),
            "city-help": feedbot.generate_bot(
                "city-help", SECRETS["feedbot_b"], first, last, storages="city"
            ),
        }
    )


def _feedbot_config(app: feedbot.FeedbotApp, url: str) -> dict[str, t.Any]:
    return {
        "start_date": FB_START.isoformat(),
        "end_date": FB_END.isoformat(),
        "feedbot": {
            "bots": [{"bot_id": b, "function_key": app.bots[b].key} for b in sorted(app.bots)],
            "api_url_template": f"{url}/feedbot/{{bot_id}}",
        },
    }


# ---------------------------------------------------------------------- Xenioo

XENIOO_NOW = time.time()


def _xenioo_app() -> xenioo.XeniooApp:
    today = dt.datetime.fromtimestamp(XENIOO_NOW, dt.UTC).date()
    bots = [
        xenioo.Bot("bot-key-support", SECRETS["xenioo_bot_1"], "Support Bot"),
        xenioo.Bot("bot-key-sales", SECRETS["xenioo_bot_2"], "Sales Bot"),
    ]
    events, receipts = xenioo.generate_events(
        bots, today - dt.timedelta(days=4), today + dt.timedelta(days=1), per_day=19, seed=4
    )
    # A frozen clock: every run sees the same "last N days", so runs are comparable. Between
    # runs the throttle memory is cleared, as a fresh hour would.
    return xenioo.XeniooApp(
        bots=bots,
        events=events,
        receipts=receipts,
        account_key=SECRETS["xenioo_account"],
        clock=lambda: XENIOO_NOW,
    )


def _xenioo_config(app: xenioo.XeniooApp, url: str) -> dict[str, t.Any]:
    section = xenioo.demo_config(app, url)
    assert section is not None
    return {"xenioo": {**section, "days": 3}}


def _xenioo_reset(app: xenioo.XeniooApp) -> None:
    app.forget_throttles()


# ---------------------------------------------------------------------- registry

SCENARIOS: dict[str, Scenario] = {
    "certainly": Scenario(
        key="certainly",
        make_app=_certainly_app,
        make_config=_certainly_config,
        families={"messages": r"/certainly/api/reports/messages/"},
        partition_label={"messages": "certainly_messages (bot_id=bot-"},
        auth_setting="certainly.api_token",
        not_found_setting="certainly.message_report_path",
        secrets=[SECRETS["certainly"]],
    ),
    "clevertap": Scenario(
        key="clevertap",
        make_app=_clevertap_app,
        make_config=_clevertap_config,
        families={"message_reports": r"/clevertap/1/message/report\.json"},
        partition_label={"message_reports": f"clevertap_message_reports (account_id={CT_ACCOUNT})"},
        auth_setting="clevertap.passcode",
        not_found_setting="clevertap.region / clevertap.api_url",
        secrets=[SECRETS["clevertap"]],
    ),
    "jaicp": Scenario(
        key="jaicp",
        make_app=_jaicp_app,
        make_config=_jaicp_config,
        families={
            "sessions": r"/sessions/filter",
            "messages": r"/messages/filter",
            "clients": r"/clients/filter",
            "stats": r"/stats/",
            "labels": r"/message/labels",
            "experiments": r"/scenario-exeperiments",
        },
        partition_label={
            "sessions": "jaicp_sessions (projectShortName=acme-",
            "messages": "jaicp_messages (projectShortName=acme-",
            "clients": "jaicp_clients (projectShortName=acme-",
            "stats": "_stats (projectShortName=acme-",
            "labels": "jaicp_message_labels (-)",
            "experiments": "jaicp_experiments (projectShortName=acme-",
        },
        auth_setting="jaicp.api_token",
        not_found_setting="jaicp.api_url",
        secrets=[SECRETS["jaicp_v1"], SECRETS["jaicp_legacy"], SECRETS["jaicp_legacy_other"]],
    ),
    "feedbot": Scenario(
        key="feedbot",
        make_app=_feedbot_app,
        make_config=_feedbot_config,
        families={
            "userData": r"/export/userData\?",
            "newer": r"/export/(nlpLog|outgoingEmail|integrationLog)\?",
        },
        partition_label={"userData": "feedbot_user_data (bot_id=", "newer": "(bot_id="},
        auth_setting="feedbot.bots[].function_key",
        not_found_setting="feedbot.api_url_template",
        secrets=[SECRETS["feedbot_a"], SECRETS["feedbot_b"]],
    ),
    "xenioo": Scenario(
        key="xenioo",
        make_app=_xenioo_app,
        make_config=_xenioo_config,
        families={
            "token": r"/xenioo/authorization/integration",
            "account_stats": r"/statistics/account/",
            "bot_stats": r"/statistics/[0-9,]+/",
            "delivery": r"/statistics/dlr/",
        },
        partition_label={
            "token": "Xenioo stream xenioo_account_statistics (-)",
            "account_stats": "xenioo_account_statistics (-)",
            "bot_stats": "xenioo_bot_statistics (api_key=bot-key-",
            "delivery": "xenioo_delivery_statistics (level=",
        },
        auth_setting="xenioo.account_api_key",
        not_found_setting="xenioo.bot_api_keys",
        setting_overrides={
            (404, "token"): "xenioo.account_api_key",
            (404, "bot_stats"): "xenioo.bot_statistics_path",
        },
        secrets=[SECRETS["xenioo_account"], SECRETS["xenioo_bot_1"], SECRETS["xenioo_bot_2"]],
        before_run=_xenioo_reset,
    ),
}
