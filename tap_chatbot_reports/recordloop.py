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
* ``time_extracted`` is read once per 100 ms instead of per record;
* a stream may hand over a page of records already shaped, conformed and encoded in its fetch
  lane (``EncodedPage``, see ``VendorStream.encodes_pages``): each record is then encoded while
  it is still in the CPU cache and freed at once, and the loop only frames the encoded bytes as
  RECORD lines (the same bytes the dict path writes).
"""

from __future__ import annotations

import itertools
import time
import typing as t

from singer_sdk.contrib.msgspec import encoder as _ENCODER
from singer_sdk.helpers._util import utc_now
from singer_sdk.mapper import SameRecordTransform

from tap_chatbot_reports.fastpath import BufferedMsgSpecWriter, declares

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


class EncodedPage:
    """A page of records, each already through ``post_process`` and encoded as the JSON the
    RECORD line carries, with its replication-key value, in emission order. The records hold
    their partition's keys already (the loop adds nothing to them)."""

    __slots__ = ("keys", "lines")

    def __init__(self, keys: list[t.Any], lines: list[bytes]) -> None:
        self.keys, self.lines = keys, lines

    def __len__(self) -> int:
        return len(self.lines)

    @classmethod
    def encode(
        cls, records: t.Iterable[dict[str, t.Any]], key: str | None, sort: bool
    ) -> EncodedPage:
        """Encode ``records`` one at a time (a record is encoded right after it was built and
        can be freed at once); ``sort`` orders them by ``key`` (missing values first), as a
        stable sort of the records would."""
        keys: list[t.Any] = []
        lines: list[bytes] = []
        encode = _ENCODER.encode
        for record in records:
            keys.append(record.get(key) if key else None)
            lines.append(encode(record))
        if sort and any((a or "") > (b or "") for a, b in itertools.pairwise(keys)):
            order = sorted(range(len(keys)), key=lambda i: keys[i] or "")
            keys = [keys[i] for i in order]
            lines = [lines[i] for i in order]
        return cls(keys, lines)

    def from_bookmark(self, bookmark: str | None, end: str | None = None) -> EncodedPage:
        """The records whose key is in ``[bookmark, end)`` (records without a key are kept).
        Bounds and keys are in the canonical fixed-width UTC form, so they compare as instants."""
        if (bookmark is None and end is None) or not self.keys:
            return self
        kept = [
            i
            for i, value in enumerate(self.keys)
            if value is None
            or not (
                (bookmark is not None and value < bookmark) or (end is not None and value >= end)
            )
        ]
        if len(kept) == len(self.keys):
            return self
        return EncodedPage([self.keys[i] for i in kept], [self.lines[i] for i in kept])


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
            # Partition keys the record lacks, as the SDK adds them, unless the (catalog's)
            # schema drops them: the SDK adds them before its conformance.
            extra = [
                (name, value)
                for name, value in (state_context or {}).items()
                if declares(stream.effective_schema, name)
            ]
            version = stream._stream_version
            if version is not None:
                message["version"] = version
            else:
                message.pop("version", None)
            stamped_at = 0.0
            latest: t.Any = None
            rows = t.cast("t.Iterable[dict[str, t.Any]]", stream.get_records(current))
            for row in rows:  # our streams yield records only (no (record, context) tuples)
                if row.__class__ is EncodedPage:
                    page = t.cast("EncodedPage", row)
                    message["time_extracted"] = utc_now()
                    stamped_at = time.monotonic()
                    writer.write_framed(_frame(message), page.lines)
                    if incremental and page.keys:
                        if sorted_state:
                            for value in page.keys:
                                if value is not None:
                                    if latest is not None and value < latest:
                                        pending.commit(stream)
                                        stream._increment_stream_state(
                                            {key: value}, context=current
                                        )  # raises the SDK's InvalidStreamSortException
                                    latest = value
                            if latest is not None:
                                pending.record, pending.context = {key: latest}, current
                        else:
                            for value in page.keys:
                                stream._increment_stream_state({key: value}, context=current)
                    manager.is_flushed = False
                    record_counter.increment(len(page))
                    continue
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


def _frame(message: dict[str, t.Any]) -> tuple[bytes, bytes]:
    """The bytes before and after the record in ``message``'s RECORD line (newline included):
    encoding the message with a marker in place of the record and cutting there gives exactly
    what encoding it with the record would put around it."""
    marker = "\x00record\x00"
    line = _ENCODER.encode({**message, "record": marker})
    head, _, tail = line.partition(_ENCODER.encode(marker))
    return head, tail + b"\n"
