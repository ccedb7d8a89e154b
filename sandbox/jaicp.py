"""JAICP fake API (placeholder: replaced by the vendor implementation)."""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass

from sandbox.server import Request, Response, json_response


@dataclass
class JAICPApp:
    prefix: str = "/jaicp"

    def handle(self, request: Request) -> Response:
        return json_response({"error": "not implemented"}, status=404)


def default_app(start: dt.date, end: dt.date, seed: int = 1) -> JAICPApp:
    return JAICPApp()


def demo_config(app: JAICPApp, base_url: str) -> dict[str, t.Any] | None:
    """The tap config section for this vendor, or None while it has no streams."""
    return None
