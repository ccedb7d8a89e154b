"""A JAICP ``messages/filter`` that scales to millions of messages (benchmarks only).

The regular sandbox app scans every row per page; here message ``i`` of a project sits at a
computed instant (evenly spread over ``[start, end)``), so a page of a date-time range is
generated directly. Other filter resources answer empty pages and the stats answer no days.
Rows have the shape of the spec's ExtendedMessage (as in ``sandbox.jaicp_data``).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import typing as t
from dataclasses import dataclass, field

import msgspec

from sandbox.jaicp import JAICPApp
from sandbox.jaicp_data import CHANNELS, MESSAGE_LABELS, api_time, generate_project, parse_api_time
from sandbox.server import Request, Response


@dataclass
class BulkMessages:
    short_name: str
    start: dt.datetime
    end: dt.datetime
    count: int

    @property
    def step_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000 / self.count

    def index_range(self, low: dt.datetime | None, high: dt.datetime | None) -> range:
        """Indexes of the messages in ``[low, high]`` (inclusive, as the API)."""
        first = 0 if low is None else max(0, math.ceil(self._offset(low) / self.step_ms))
        last = self.count - 1 if high is None else min(self.count - 1, self._last(high))
        return range(first, max(first, last + 1))

    def _offset(self, when: dt.datetime) -> float:
        return (when - self.start).total_seconds() * 1000

    def _last(self, high: dt.datetime) -> int:
        # The largest i whose (millisecond-truncated) time is <= high.
        return math.floor(self._offset(high) / self.step_ms + 1e-9)

    def time_of(self, index: int) -> dt.datetime:
        return self.start + dt.timedelta(milliseconds=int(index * self.step_ms))

    def row(self, index: int) -> dict[str, t.Any]:
        rng = random.Random(index)
        when = self.time_of(index)
        session = index // 4
        session_id = f"{self.short_name}-s{session:08d}"
        channel = CHANNELS[session % len(CHANNELS)]
        client_id = f"client-{session % 97}"
        return {
            "sessionId": session_id,
            "projectShortName": self.short_name,
            "channelType": channel,
            "botId": f"{self.short_name}-bot-{1 + session % 2}",
            "client": {"id": client_id, "firstName": "Ann", "lastName": f"N{client_id[-2:]}"},
            "sessionStartTime": api_time(self.time_of(session * 4)),
            "timestamp": api_time(when),
            "questionId": f"{session_id}-q{index % 4}",
            "isLivechat": False,
            "question": ("hello", "where is my order", "operator please", "")[index % 4],
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
            "labels": [MESSAGE_LABELS[index % 3]] if index % 5 == 0 else [],
            "sessionLabels": [],
            "cleaned": False,
            "undocumentedScore": round(rng.random(), 2),
        }


@dataclass
class BulkJAICPApp(JAICPApp):
    bulk: dict[str, BulkMessages] = field(default_factory=dict)

    def _filter(
        self, request: Request, version: str, scope: list[t.Any], resource: str
    ) -> Response:
        page = self._int_arg(request, "page", 0, 0)
        size = self._int_arg(request, "size", 20, 1)
        filters = self._filters(request, version)
        if resource != "messages":
            body = {"paging": {"pageNum": page, "pageSize": size, "totalCount": 0}, resource: []}
            return Response(raw=msgspec.json.encode(body))
        low = high = None
        for item in filters:
            if item.get("key") == "MESSAGE_TIME":
                low = parse_api_time(item["from"]) if item.get("from") else None
                high = parse_api_time(item["to"]) if item.get("to") else None
        ranges = [
            (self.bulk[p.short_name], self.bulk[p.short_name].index_range(low, high)) for p in scope
        ]
        total = sum(len(r) for _, r in ranges)
        rows: list[dict[str, t.Any]] = []
        skip = page * size
        for messages, indexes in ranges:
            if skip >= len(indexes):
                skip -= len(indexes)
                continue
            for index in indexes[skip : skip + size - len(rows)]:
                rows.append(messages.row(index))
            skip = 0
            if len(rows) >= size:
                break
        paging = {"pageNum": page, "pageSize": size, "totalCount": total}
        return Response(raw=msgspec.json.encode({"paging": paging, "messages": rows}))

    def _stats(self, request: Request, version: str, scope: list[t.Any], resource: str) -> Response:
        return Response(raw=b'{"stats":[],"totalCount":0.0}')


def bulk_app(
    projects: t.Sequence[str], start: dt.date, end: dt.date, per_project: int
) -> BulkJAICPApp:
    begin = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
    finish = dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC)
    return BulkJAICPApp(
        projects={p: generate_project(p, f"legacy-{p}", start, start, 0) for p in projects},
        bulk={p: BulkMessages(p, begin, finish, per_project) for p in projects},
        clock=lambda: finish + dt.timedelta(days=1),
    )
