"""Vendor registry: a vendor is a plug-in (settings, secrets, streams, config checks).

Adding a vendor: write ``vendors/<name>.py`` exposing ``VENDOR`` and add it to ``VENDORS``.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from tap_chatbot_reports.client import VendorStream


@dataclass(frozen=True)
class Vendor:
    """Everything the tap needs to know about one vendor."""

    #: Config section and stream-name prefix, e.g. ``certainly``.
    key: str
    title: str
    #: The section's settings.
    settings: th.ObjectType
    streams: tuple[type[VendorStream], ...]
    #: Keys whose values are secrets, at any depth of the section.
    secret_keys: frozenset[str]
    #: Extra semantic checks on the section: return one message per problem, each starting with
    #: the setting's dotted name (``certainly.bot_ids: ...``).
    check_config: t.Callable[[dict[str, t.Any]], list[str]] = field(default=lambda _section: [])


def _registry() -> list[Vendor]:
    from tap_chatbot_reports.vendors import certainly, clevertap, feedbot, jaicp, xenioo

    return [
        certainly.VENDOR,
        clevertap.VENDOR,
        jaicp.VENDOR,
        feedbot.VENDOR,
        xenioo.VENDOR,
    ]


VENDORS: list[Vendor] = _registry()
