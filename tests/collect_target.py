"""A minimal target built on the Singer SDK (tests only): every record of every stream is
appended to ``<path>/<stream>.jsonl``. RECORD messages and BATCH files (the SDK's own reader)
land in the same place, so a test can compare the two paths.

    python -m tests.collect_target --config target.json < singer-messages
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import typing as t
from pathlib import Path

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink


def _iso(value: t.Any) -> str | float:
    """The SDK parses date-time properties of RECORD messages: write them back as the tap did."""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, decimal.Decimal):  # the SDK reads JSON numbers as Decimal
        return float(value)
    raise TypeError(type(value).__name__)


class CollectSink(BatchSink):
    def process_batch(self, context: dict[str, t.Any]) -> None:
        out = Path(self.config["path"]) / f"{self.stream_name}.jsonl"
        with out.open("a", encoding="utf-8") as handle:
            for record in context["records"]:
                handle.write(json.dumps(record, sort_keys=True, default=_iso) + "\n")


class CollectTarget(Target):
    name = "target-collect"
    config_jsonschema = th.PropertiesList(
        th.Property("path", th.StringType, required=True)
    ).to_dict()
    default_sink_class = CollectSink


if __name__ == "__main__":
    CollectTarget.cli()
