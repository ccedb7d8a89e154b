"""The record loop of the fast path: from ``get_records`` to RECORD lines, without the SDK's
per-record machinery.

The SDK's ``Stream._sync_records`` does, for every record: the dry-run limit check, partition
keys, child contexts, stream maps, a ``RecordMessage`` object (``utc_now()``, dataclass
``to_dict``), the writer call, a state increment (state lookup, JSON-compatible conversion, sort
check) and the metrics counter. When none of the optional parts is in use, the same output is
reached with one dict and one ``msgspec`` encode per record:

* used only when the stream's one map is the SDK's identity map without flattening, every
  property is selected, no child stream, no dry-run limit, RECORD messages (not BATCH) and our
  block writer; anything else goes through the SDK's loop unchanged;
* the bookmark of a sorted stream is handed to the SDK's own ``_increment_stream_state`` with
  the latest record *before every STATE message* (see ``VendorStream._write_state_message``) and
  at the end of each partition, instead of after each record: STATE lines carry the same values;
  a record older than the previous one still stops the run with the SDK's sort error;
* ``time_extracted`` is read once per 100 ms instead of per record.
"""

from __future__ import annotations

import time
import typing as t

from singer_sdk.helpers._util import utc_now
from singer_sdk.mapper import SameRecordTransform

from tap_chatbot_reports.fastpath import BufferedMsgSpecWriter

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import Stream


def block_writer(stream: Stream) -> BufferedMsgSpecWriter | None:
    """The writer the fast loop may use for ``stream``, or None when the SDK's loop must run."""
    writer = getattr(stream._tap, "message_writer", None)
    if not isinstance(writer, BufferedMsgSpecWriter):
        return None
    maps = stream.stream_maps
    if len(maps) != 1 or type(maps[0]) is not SameRecordTransform:
        return None
    if maps[0].flattening_enabled or maps[0].stream_alias != stream.name:
        return None
    if stream.child_streams or stream.ABORT_AT_RECORD_COUNT is not None:
        return None
    if not stream.selected or not all(stream.mask.values()):
        return None
    return writer


class PendingBookmark:
    """The latest record of a sorted stream, not yet applied to its state."""

    __slots__ = ("context", "record")

    def __init__(self) -> None:
        self.record: dict[str, t.Any] | None = None
        self.context: Context | None = None

    def commit(self, stream: Stream) -> None:
        record, self.record = self.record, None
        if record is not None:
            stream._increment_stream_state(record, context=self.context)


def sync_records(
    stream: Stream,
    context: Context | None,
    writer: BufferedMsgSpecWriter,
    pending: PendingBookmark,
) -> None:
    """What ``Stream._sync_records`` does, for the cases ``block_writer`` accepts."""
    record_counter = stream.get_record_counter()
    timer = stream.get_sync_timer()
    contexts = [context] if context is not None else stream.partitions
    key = stream.replication_key
    incremental = bool(key) and stream.replication_method == "INCREMENTAL"
    sorted_state = stream.is_sorted and stream.state_partitioning_keys is None
    message: dict[str, t.Any] = {"type": "RECORD", "stream": stream.name, "record": None}
    manager = stream.state_manager  # created once, then the same object for the stream's life
    with record_counter, timer:
        for element in contexts or [{}]:
            record_counter.with_context(element)
            timer.with_context(element)
            current = element or None
            state_context = stream._get_state_partition_context(current)
            stream._write_starting_replication_value(current)
            extra = list((state_context or {}).items())
            version = stream._stream_version
            if version is not None:
                message["version"] = version
            else:
                message.pop("version", None)
            stamped_at = 0.0
            latest: t.Any = None
            rows = t.cast("t.Iterable[dict[str, t.Any]]", stream.get_records(current))
            for row in rows:  # our streams yield records only (no (record, context) tuples)
                record = stream.post_process(row, current)
                if record is None:
                    continue
                for name, value in extra:
                    if name not in record:
                        record[name] = value
                now = time.monotonic()
                if now - stamped_at >= 0.1:
                    stamped_at = now
                    message["time_extracted"] = utc_now()
                message["record"] = record
                writer.write_record(message)
                if incremental:
                    if sorted_state:
                        value = record.get(t.cast("str", key))
                        if value is not None:
                            if latest is not None and value < latest:
                                pending.commit(stream)
                                # raises the SDK's InvalidStreamSortException
                                stream._increment_stream_state(record, context=current)
                            latest = value
                            pending.record, pending.context = record, current
                    else:
                        stream._increment_stream_state(record, context=current)
                manager.is_flushed = False
                record_counter.increment()
            pending.commit(stream)
            if current == state_context:
                stream._finalize_state(stream.get_context_state(current))
    if not context:
        stream._finalize_state(stream.stream_state)
    stream._write_state_message()
