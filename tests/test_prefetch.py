"""Concurrent fetching: ordered output, bounded lookahead, errors in order, partitions apart."""

from __future__ import annotations

import threading
import time
import typing as t

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_chatbot_reports.prefetch import PartitionPipeline, flatten_ordered, ordered_lanes


def settles(condition: t.Callable[[], bool], within: float = 10.0) -> bool:
    """True once ``condition`` holds (polled; a slow machine gets time, a hang does not pass)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def lane_of(items: list[int], delay: float = 0.0) -> t.Callable[[], t.Iterator[int]]:
    def lane() -> t.Iterator[int]:
        for item in items:
            if delay:
                time.sleep(delay)
            yield item

    return lane


@given(st.lists(st.lists(st.integers(), max_size=5), max_size=12), st.integers(1, 6))
def test_items_come_out_in_lane_order_whatever_the_concurrency(lanes, concurrency):
    assert list(flatten_ordered([lane_of(items) for items in lanes], concurrency)) == [
        item for items in lanes for item in items
    ]


def test_lanes_run_concurrently_but_never_more_than_allowed():
    running = 0
    peak = 0
    lock = threading.Lock()

    def lane() -> t.Iterator[int]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        yield 1

    assert sum(flatten_ordered([lane] * 12, concurrency=3)) == 12
    assert peak == 3


def test_lookahead_is_bounded_while_the_consumer_is_slow():
    """A slow consumer never has more than concurrency x (buffer + 1) items fetched ahead."""
    produced = 0
    lock = threading.Lock()

    def lane() -> t.Iterator[int]:
        nonlocal produced
        for n in range(50):
            with lock:
                produced += 1
            yield n

    consumed = 0
    worst = 0
    for item in flatten_ordered([lane] * 4, concurrency=2, buffer=1):
        consumed += 1
        time.sleep(0.001)
        with lock:
            worst = max(worst, produced - consumed)
        del item
    assert consumed == 200
    assert worst <= 2 * (1 + 1) + 1


def test_a_failing_lane_raises_after_every_earlier_item():
    def broken() -> t.Iterator[int]:
        yield 10
        raise RuntimeError("window 2 failed")

    out: list[int] = []
    with pytest.raises(RuntimeError, match="window 2 failed"):
        for item in flatten_ordered([lane_of([1, 2], 0.02), broken, lane_of([99])], 3):
            out.append(item)
    assert out == [1, 2, 10]


def test_partitions_get_only_their_own_lanes_and_later_partitions_start_early():
    started: list[tuple[str, int]] = []

    def plan(bot: str) -> t.Iterator[tuple[object, t.Callable[[], list[str]]]]:
        for window in range(3):

            def lane(bot: str = bot, window: int = window) -> list[str]:
                started.append((bot, window))
                time.sleep(0.02)
                return [f"{bot}-{window}"]

            yield window, lane

    pipeline = PartitionPipeline(["a", "b"], plan, concurrency=4)
    first = [item for _, items in pipeline.take("a") for item in items]
    assert first == ["a-0", "a-1", "a-2"]
    assert ("b", 0) in started  # fetched while "a" was being read
    second = [(w, list(items)) for w, items in pipeline.take("b")]
    assert second == [(0, ["b-0"]), (1, ["b-1"]), (2, ["b-2"])]


def test_a_partition_left_early_does_not_leak_into_the_next():
    def plan(bot: str) -> t.Iterator[tuple[object, t.Callable[[], list[str]]]]:
        for window in range(4):
            yield window, (lambda bot=bot, window=window: [f"{bot}-{window}"])

    before = set(threading.enumerate())
    pipeline = PartitionPipeline(["a", "b"], plan, concurrency=2)
    for _window, items in pipeline.take("a"):
        list(items)
        break  # e.g. an export missing for this bot
    assert [item for _, items in pipeline.take("b") for item in items] == [
        "b-0",
        "b-1",
        "b-2",
        "b-3",
    ]
    # The abandoned lanes of "a" stopped: no worker thread is left behind.
    assert settles(
        lambda: (
            not [
                th
                for th in threading.enumerate()
                if th.name != "MainThread" and th.is_alive() and th not in before
            ]
        )
    )


def test_concurrency_one_uses_no_threads():
    seen: set[int] = set()

    def lane() -> list[int]:
        seen.add(threading.get_ident())
        return [1]

    assert list(flatten_ordered([lane] * 3, 1)) == [1, 1, 1]
    assert seen == {threading.get_ident()}


def test_ordered_lanes_stops_workers_when_abandoned():
    produced = 0

    def endless() -> t.Iterator[int]:
        nonlocal produced
        while True:
            produced += 1
            yield produced

    before = set(threading.enumerate())
    lanes = ordered_lanes([endless, endless], concurrency=2, buffer=1)
    assert next(next(lanes)) >= 1
    lanes.close()  # the consumer gave up: workers must stop, not keep fetching
    assert settles(lambda: set(threading.enumerate()) <= before)
    settled = produced
    time.sleep(0.2)
    assert produced == settled
