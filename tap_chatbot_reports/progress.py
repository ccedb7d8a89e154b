"""Progress of a long run: one line per drained window, never one per record.

A stream owns one :class:`StreamProgress`. Vendor code says how many windows a partition has
(``windows_planned``) when it plans them; the base stream reports each drained window. The
tracker turns that into the figures a user watching a long run wants: records and requests so
far, records per second and an estimate of the windows (and seconds) left in the partition.

Pure bookkeeping with an injectable clock: no I/O, no logging.
"""

from __future__ import annotations

import threading
import time
import typing as t
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class WindowReport:
    """What one progress line says (also the structured-logging fields)."""

    vendor: str
    stream: str
    partition: str
    window: str
    window_records: int
    partition_records: int
    stream_records: int
    requests: int
    records_per_second: float
    windows_done: int
    windows_planned: int | None
    windows_left: int | None
    seconds_left: float | None

    def message(self) -> str:
        """One human line (the structured fields carry the same figures)."""
        if self.windows_planned is None:
            plan = f"{self.windows_done} windows done"
        else:
            plan = f"window {self.windows_done}/{self.windows_planned}, {self.windows_left} left"
            if self.seconds_left is not None and self.windows_left:
                plan += f" (~{_duration(self.seconds_left)})"
        return (
            f"progress {self.vendor} {self.stream} [{self.partition}] {self.window}: "
            f"{self.window_records} records (partition {self.partition_records}, "
            f"stream {self.stream_records}), {self.requests} requests, "
            f"{self.records_per_second:.0f} records/s, {plan}"
        )

    def fields(self) -> dict[str, t.Any]:
        """``extra`` for the log record: structured formatters emit these as JSON fields."""
        return {"progress": asdict(self)}


@dataclass
class _Partition:
    planned: int | None = None
    done: int = 0
    records: int = 0
    started: float | None = None


class StreamProgress:
    """Window counts of one stream, per partition label. Thread-safe: windows may be planned
    by prefetching threads while the emitting thread reports drained ones."""

    def __init__(
        self, vendor: str, stream: str, clock: t.Callable[[], float] = time.monotonic
    ) -> None:
        self.vendor = vendor
        self.stream = stream
        self._clock = clock
        self._started = clock()
        self._records = 0
        self._partitions: dict[str, _Partition] = {}
        self._lock = threading.Lock()

    def _partition(self, label: str) -> _Partition:
        return self._partitions.setdefault(label, _Partition())

    def planned(self, partition: str, windows: int) -> None:
        """The partition's window plan has ``windows`` windows (called again on re-planning)."""
        with self._lock:
            state = self._partition(partition)
            state.planned = max(int(windows), 0)
            if state.started is None:
                state.started = self._clock()

    def drained(
        self,
        partition: str,
        window: object,
        count: int,
        requests: int,
        partition_total: int | None = None,
    ) -> WindowReport:
        """Record one drained window of ``count`` records and return the line to log.

        ``partition_total`` is the partition's own running count when the caller keeps one."""
        with self._lock:
            now = self._clock()
            state = self._partition(partition)
            if state.started is None:
                state.started = self._started
            state.done += 1
            state.records = state.records + count if partition_total is None else partition_total
            self._records += count
            elapsed = max(now - self._started, 1e-9)
            left: int | None = None
            seconds_left: float | None = None
            if state.planned is not None:
                state.planned = max(state.planned, state.done)
                left = state.planned - state.done
                per_window = max(now - state.started, 0.0) / state.done
                seconds_left = per_window * left
            return WindowReport(
                vendor=self.vendor,
                stream=self.stream,
                partition=partition,
                window=str(window),
                window_records=count,
                partition_records=state.records,
                stream_records=self._records,
                requests=requests,
                records_per_second=self._records / elapsed,
                windows_done=state.done,
                windows_planned=state.planned,
                windows_left=left,
                seconds_left=seconds_left,
            )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
