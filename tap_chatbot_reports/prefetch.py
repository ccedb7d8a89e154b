"""Concurrent fetching with ordered, bounded output (no vendor logic, no Singer logic).

A *lane* is a zero-argument callable returning an iterator of items (typically: the response
bodies of one date window, read page by page or split by a row cap). ``ordered_lanes`` runs up to
``concurrency`` lanes at once in worker threads and hands their items back **in lane order, and
in order within each lane**, so a stream can emit windows in order and flush its bookmark after
each drained window exactly as a sequential read would.

Memory is bounded: each running lane buffers at most ``buffer`` items, and at most
``concurrency`` lanes run (a finished lane keeps its buffered items until the consumer reaches
it, and holds its worker slot until then). A lane that raises hands its exception to the consumer
at the point where the lane's items would have come, after every earlier item.

``concurrency == 1`` runs lanes in the caller's thread (no threads at all): exactly the
sequential behaviour.
"""

from __future__ import annotations

import queue
import threading
import typing as t
from collections import deque

T = t.TypeVar("T")

Lane = t.Callable[[], t.Iterable[T]]

_DONE = object()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Running(t.Generic[T]):
    """One lane running in a thread, feeding a bounded queue."""

    def __init__(self, lane: Lane[T], buffer: int, stop: threading.Event) -> None:
        self.items: queue.Queue[t.Any] = queue.Queue(maxsize=buffer)
        self._stop = stop
        self._cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(lane,), daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        """The consumer moved past this lane: stop producing (a no-op once it finished)."""
        self._cancelled.set()

    def _put(self, item: t.Any) -> bool:
        while not (self._stop.is_set() or self._cancelled.is_set()):
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, lane: Lane[T]) -> None:
        try:
            for item in lane():
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, in order
            self._put(_Failure(exc))
            return
        self._put(_DONE)

    def drain(self) -> t.Iterator[T]:
        while True:
            item = self.items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item


def ordered_lanes(
    lanes: t.Iterable[Lane[T]], concurrency: int, buffer: int = 2
) -> t.Iterator[t.Iterator[T]]:
    """Yield one iterator per lane, in lane order; consume each before asking for the next."""
    if concurrency <= 1:
        for lane in lanes:
            yield iter(lane())
        return
    stop = threading.Event()
    pending: deque[_Running[T]] = deque()
    source = iter(lanes)
    exhausted = False

    def fill() -> None:
        nonlocal exhausted
        while not exhausted and len(pending) < concurrency:
            lane = next(source, None)
            if lane is None:
                exhausted = True
                return
            pending.append(_Running(lane, buffer, stop))

    try:
        fill()
        while pending:
            head = pending[0]
            yield head.drain()
            # The consumer moved on: the head lane's items are all taken (or abandoned).
            pending.popleft().cancel()
            fill()
    finally:
        stop.set()


def flatten_ordered(lanes: t.Iterable[Lane[T]], concurrency: int, buffer: int = 2) -> t.Iterator[T]:
    """Every item of every lane, in order."""
    for items in ordered_lanes(lanes, concurrency, buffer):
        yield from items


class PartitionPipeline(t.Generic[T]):
    """Ordered lanes across partitions: partition B's first windows are fetched while partition A
    is still being emitted, yet ``take(A)`` yields only A's lanes, in order.

    ``plan(context)`` returns ``(window, lane)`` pairs of one partition; it is called lazily, in the
    consumer's thread, just before the partition's first lane is started.
    """

    def __init__(
        self,
        contexts: t.Sequence[t.Any],
        plan: t.Callable[[t.Any], t.Iterable[tuple[object, Lane[T]]]],
        concurrency: int,
        buffer: int = 1,
    ) -> None:
        self.contexts = list(contexts)
        self._next = 0
        self._meta: deque[tuple[t.Any, object]] = deque()
        self._held: tuple[t.Any, object, t.Iterator[T]] | None = None

        def lanes() -> t.Iterator[Lane[T]]:
            for context in self.contexts:
                for window, lane in plan(context):
                    self._meta.append((context, window))
                    yield lane

        self._lanes = ordered_lanes(lanes(), concurrency, buffer)

    def expects(self, context: t.Any) -> bool:
        """True when ``context`` is the next partition this pipeline will serve."""
        return self._next < len(self.contexts) and self.contexts[self._next] == context

    def take(self, context: t.Any) -> t.Iterator[tuple[object, t.Iterator[T]]]:
        """``(window, items)`` of ``context``'s lanes, in order (consume each ``items`` fully)."""
        if self.expects(context):
            self._next += 1
        while True:
            if self._held is None:
                items = next(self._lanes, None)
                if items is None:
                    return
                owner, window = self._meta.popleft()
                self._held = (owner, window, items)
            owner, window, items = self._held
            if owner != context:
                if self._before(owner, context):
                    # Left over from a partition the caller stopped reading early: drop it.
                    self._held = None
                    continue
                return
            self._held = None
            yield window, items

    def _before(self, owner: t.Any, context: t.Any) -> bool:
        if context not in self.contexts or owner not in self.contexts:
            return False
        return self.contexts.index(owner) < self.contexts.index(context)

    def close(self) -> None:
        self._lanes.close()  # type: ignore[attr-defined]
