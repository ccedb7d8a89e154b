"""JAICP (placeholder: replaced by the vendor implementation)."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_chatbot_reports.vendors import Vendor

VENDOR = Vendor(
    key="jaicp",
    title="JAICP",
    settings=th.ObjectType(),
    streams=(),
    secret_keys=frozenset(),
)
