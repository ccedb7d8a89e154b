"""Generated JAICP data: projects with sessions, messages, clients, labels and experiments.

Rows are shaped like the spec's DTOs (SessionInfo, ExtendedMessage, ClientExtendedInfo, ...),
with date-times in the spec's ``yyyy-MM-ddTHH:mm:ss.SSSZ`` form. Internal ``_``-prefixed keys
(parsed times, full labels) are stripped before a row is served.

Every day also holds rows exactly on the bounds a client is likeliest to cut at: a session, its
one message and its client's last visit at exactly 00:00:00.000 UTC (a daily window's edge) and
at exactly 12:00:00.000 UTC (a cut inside a day), so inclusive and exclusive range bounds give
different answers (``EDGE_TIMES``).
"""

from __future__ import annotations

import datetime as dt
import random
import typing as t
from dataclasses import dataclass, field

CHANNELS = ("chatwidget", "telegram", "resterisk", "vk")

SESSION_LABELS = [
    {"id": 11, "name": "Resolved", "priority": 1},
    {"id": 12, "name": "Escalated", "priority": 2},
    {"id": 13, "name": "Spam", "priority": 3},
]
MESSAGE_LABEL_GROUPS = [
    {"id": 21, "name": "Quality", "priority": 1},
    {"id": 22, "name": "Topics", "priority": 2},
]
MESSAGE_LABELS = [
    {"id": 31, "name": "Wrong answer", "priority": 1, "group": MESSAGE_LABEL_GROUPS[0]},
    {"id": 32, "name": "Good answer", "priority": 2, "group": MESSAGE_LABEL_GROUPS[0]},
    {"id": 33, "name": "Billing", "priority": 1, "group": MESSAGE_LABEL_GROUPS[1]},
]


def api_time(value: dt.datetime) -> str:
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_api_time(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(dt.UTC)


@dataclass
class Project:
    short_name: str
    #: The legacy analytics token of this project (token-in-path API).
    legacy_token: str
    account_id: int
    sessions: list[dict[str, t.Any]] = field(default_factory=list)
    messages: list[dict[str, t.Any]] = field(default_factory=list)
    clients: list[dict[str, t.Any]] = field(default_factory=list)
    experiments: list[dict[str, t.Any]] = field(default_factory=list)


#: Times of day at which every generated day has a session, a message and a client's last visit.
EDGE_TIMES = (dt.time(0), dt.time(12))


def _at(day: dt.date, micro: int) -> dt.datetime:
    base = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    # Millisecond precision, as the API's date-time format.
    return base + dt.timedelta(milliseconds=micro // 1000)


def generate_project(
    short_name: str,
    legacy_token: str,
    start: dt.date,
    end: dt.date,
    sessions_per_day: int,
    seed: int = 1,
    account_id: int = 4242,
    *,
    edges: bool = True,
) -> Project:
    """Sessions over days ``[start, end)`` with 1-5 messages each and a pool of clients, plus
    (``edges``) the rows exactly at ``EDGE_TIMES`` of every day."""
    rng = random.Random(f"{seed}-{short_name}")
    project = Project(short_name, legacy_token, account_id)
    bots = [f"{short_name}-bot-{n}" for n in (1, 2)]
    clients: dict[tuple[str, str], dict[str, t.Any]] = {}
    day, serial = start, 0
    while day < end:
        for micro in sorted(rng.randrange(86_400 * 1_000_000) for _ in range(sessions_per_day)):
            serial += 1
            started = _at(day, micro)
            bot = rng.choice(bots)
            client_id = f"client-{rng.randint(1, 40)}"
            session, messages = _session(rng, project, serial, started, bot, client_id)
            project.sessions.append(session)
            project.messages.extend(messages)
            key = (client_id, bot)
            client = clients.get(key) or _client(project, client_id, bot, session, started)
            client["_last"] = messages[-1]["_time"]
            client["lastVisitDate"] = api_time(client["_last"])
            client["lastSessionId"] = session["sessionId"]
            clients[key] = client
        day += dt.timedelta(days=1)
    if edges:
        rng = random.Random(f"{seed}-{short_name}-edges")
        _edge_sessions(rng, project, bots, start, end, clients)
    project.clients = list(clients.values())
    project.experiments = [
        {
            "key": f"{short_name}-greeting-test",
            "description": "Which greeting converts better",
            "branches": [{"key": "A", "description": "Short"}, {"key": "B"}],
            "status": "RUNNING",
        },
        {"key": f"{short_name}-menu", "branches": [{"key": "control"}], "status": "STOPPED"},
    ]
    return project


def _session(
    rng: random.Random,
    project: Project,
    serial: int,
    started: dt.datetime,
    bot: str,
    client_id: str,
) -> tuple[dict[str, t.Any], list[dict[str, t.Any]]]:
    session_id = f"{project.short_name}-s{serial:06d}"
    channel = rng.choice(CHANNELS)
    client = {"id": client_id, "firstName": "Ann", "lastName": f"N{client_id[-2:]}"}
    labels = [rng.choice(SESSION_LABELS)] if rng.random() < 0.3 else []
    messages: list[dict[str, t.Any]] = []
    when = started
    for n in range(rng.randint(1, 5)):
        when = when + dt.timedelta(milliseconds=rng.randint(500, 240_000))
        message: dict[str, t.Any] = {
            "sessionId": session_id,
            "projectShortName": project.short_name,
            "channelType": channel,
            "botId": bot,
            "client": client,
            "sessionStartTime": api_time(started),
            "timestamp": api_time(when),
            "questionId": f"{session_id}-q{n}",
            "isLivechat": False,
            "question": rng.choice(["hello", "where is my order", "operator please", ""]),
            "textAnswer": "Hi! How can I help?",
            "nlpInfo": {
                "nlpState": "/Start",
                "nlpClass": "/hello",
                "fromState": "/",
                "pattern": "hello",
                "effectivePattern": "hello",
                "confidence": round(rng.random(), 3),
                "rule": "intent",
                "ruleType": "classifier",
            },
            "pageName": "home",
            "processingTime": rng.randint(5, 900),
            "requestData": {"channel": channel},
            "responseData": {"replies": [{"type": "text", "text": "Hi!"}]},
            "data": {"locale": "en"},
            "utterancesJson": [{"text": "hello", "weight": 1}],
            "labels": [rng.choice(MESSAGE_LABELS)] if rng.random() < 0.2 else [],
            "sessionLabels": labels,
            "cleaned": False,
            "undocumentedScore": round(rng.random(), 2),
            "_time": when,
        }
        if rng.random() < 0.1:
            message["operatorInfo"] = {"id": "op-7", "firstName": "Olga", "channelType": channel}
        messages.append(message)
    session = {
        "sessionId": session_id,
        "projectShortName": project.short_name,
        "channelType": channel,
        "botId": bot,
        "client": client,
        "startTime": api_time(started),
        "firstQuestion": messages[0]["question"],
        "lastQuestion": messages[-1]["question"],
        "questionCount": len(messages),
        "duration": int((when - started).total_seconds() * 1000),
        "isCallIncoming": False,
        "sessionResult": rng.choice(["resolved", "abandoned"]),
        "responseData": {"score": rng.randint(1, 5)},
        "customFields": {},
        "sessionData": {"source": rng.choice(["web", "ads"])},
        "isLivechat": False,
        "labels": labels,
        "_time": started,
        "_messages": [m["_time"] for m in messages],
    }
    if channel == "resterisk":
        session["callTaskId"] = rng.randint(1, 9999)
    return session, messages


def _edge_sessions(
    rng: random.Random,
    project: Project,
    bots: list[str],
    start: dt.date,
    end: dt.date,
    clients: dict[tuple[str, str], dict[str, t.Any]],
) -> None:
    """One session per day and ``EDGE_TIMES`` entry, started exactly then, with one message at
    the same instant and a client of its own (whose last visit is that instant). A separate
    random stream: the other rows are the same with or without these."""
    day, serial = start, 0
    while day < end:
        for moment in EDGE_TIMES:
            serial += 1
            started = dt.datetime.combine(day, moment, dt.UTC)
            bot = rng.choice(bots)
            client_id = f"client-edge-{serial:04d}"
            session, messages = _session(rng, project, serial, started, bot, client_id)
            session["sessionId"] = f"{project.short_name}-edge{serial:05d}"
            message = messages[0]
            message.update(
                sessionId=session["sessionId"],
                questionId=f"{session['sessionId']}-q0",
                timestamp=api_time(started),
                _time=started,
            )
            session.update(
                lastQuestion=message["question"],
                questionCount=1,
                duration=0,
                _messages=[started],
            )
            project.sessions.append(session)
            project.messages.append(message)
            client = _client(project, client_id, bot, session, started)
            clients[(client_id, bot)] = client
        day += dt.timedelta(days=1)


def _client(
    project: Project, client_id: str, bot: str, session: dict[str, t.Any], started: dt.datetime
) -> dict[str, t.Any]:
    return {
        "id": client_id,
        "firstName": "Ann",
        "lastName": f"N{client_id[-2:]}",
        "accountId": project.account_id,
        "projectShortName": project.short_name,
        "channelType": session["channelType"],
        "botId": bot,
        "lastSessionId": session["sessionId"],
        "joinDate": api_time(started),
        "lastVisitDate": api_time(started),
        "isBlocked": False,
        "_last": started,
    }


def public(row: dict[str, t.Any]) -> dict[str, t.Any]:
    """The row as the API serves it (internal keys removed)."""
    return {k: v for k, v in row.items() if not k.startswith("_")}
