"""The sandbox's vendors: one entry per vendor (default app factory, demo config builder)."""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass

from sandbox import certainly, clevertap, feedbot, jaicp, xenioo
from sandbox.server import VendorApp


@dataclass(frozen=True)
class SandboxVendor:
    key: str
    #: (first day, day after last, seed) -> app with generated data
    make_app: t.Callable[[dt.date, dt.date, int], VendorApp]
    #: (app, sandbox base url) -> the tap config section pointing at it
    demo_config: t.Callable[[t.Any, str], dict[str, t.Any] | None]


SANDBOX_VENDORS: list[SandboxVendor] = [
    SandboxVendor("certainly", certainly.default_app, certainly.demo_config),
    SandboxVendor("clevertap", clevertap.default_app, clevertap.demo_config),
    SandboxVendor("jaicp", jaicp.default_app, jaicp.demo_config),
    SandboxVendor("feedbot", feedbot.default_app, feedbot.demo_config),
    SandboxVendor("xenioo", xenioo.default_app, xenioo.demo_config),
]
