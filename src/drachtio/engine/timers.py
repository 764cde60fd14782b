"""One asyncio timer for every SIP timer in the engine.

Thousands of transactions each need waking at some point (retransmissions, timeouts). Giving
each its own ``loop.call_at`` handle costs an allocation and a heap push inside the loop per
re-arm plus a cancel; instead the engine keeps its own heap of ``(when, seq, entry)``
tuples (compared in C, no Python ``__lt__`` per sift step) and one loop handle armed for the earliest. Cancelling is O(1) (the entry is marked
dead and skipped when it surfaces). Deadlines within ``granularity`` of each other fire in
the same wake-up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable

__all__ = ["TimerEntry", "TimerHeap"]

log = logging.getLogger("drachtio.engine")


def _noop(now: float) -> None:
    return None


class TimerEntry:
    """A scheduled callback; ``cancel()`` it to stop it from firing."""

    __slots__ = ("alive", "callback", "owner", "seq", "when")

    def __init__(
        self, when: float, seq: int, callback: Callable[[float], None], owner: TimerHeap
    ) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.owner = owner
        self.alive = True

    def cancel(self) -> None:
        if self.alive:
            self.alive = False
            self.callback = _noop  # drop what the callback holds (a transaction...) now
            self.owner._dead += 1


class TimerHeap:
    """A heap of deadlines driven by one ``loop.call_at`` handle."""

    __slots__ = ("_armed_at", "_counter", "_dead", "_handle", "_heap", "_loop", "granularity")

    def __init__(self, loop: asyncio.AbstractEventLoop, granularity: float = 0.002) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, TimerEntry]] = []
        self._counter = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")
        self._dead = 0
        self.granularity = granularity

    def now(self) -> float:
        return self._loop.time()

    def __len__(self) -> int:
        return len(self._heap)

    def call_at(self, when: float, callback: Callable[[float], None]) -> TimerEntry:
        """Run ``callback(now)`` at or shortly after ``when`` (loop time)."""
        seq = next(self._counter)
        entry = TimerEntry(when, seq, callback, self)
        if self._dead > 4096 and self._dead * 2 > len(self._heap):
            self._compact()
        heapq.heappush(self._heap, (when, seq, entry))
        if when < self._armed_at - self.granularity:
            self._arm(when)
        return entry

    def call_later(self, delay: float, callback: Callable[[float], None]) -> TimerEntry:
        return self.call_at(self._loop.time() + delay, callback)

    def _compact(self) -> None:
        """Drop cancelled entries (they would otherwise linger until their deadline)."""
        self._heap = [t for t in self._heap if t[2].alive]
        heapq.heapify(self._heap)
        self._dead = 0

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = float("inf")
        now = self._loop.time()
        limit = now + self.granularity
        pop = heapq.heappop
        # self._heap is re-read each time: a callback may compact (replace) it
        while self._heap and self._heap[0][0] <= limit:
            entry = pop(self._heap)[2]
            if not entry.alive:
                self._dead -= 1
                continue
            entry.alive = False
            try:
                # never hand out a time before the deadline: a machine woken "early" (within
                # the granularity) would find nothing due and re-arm the same deadline forever
                entry.callback(entry.when if entry.when > now else now)
            except Exception:
                log.exception("timer callback failed")
        heap = self._heap
        while heap and not heap[0][2].alive:
            pop(heap)
            self._dead -= 1
        if (heap and self._handle is None) or (heap and heap[0][0] < self._armed_at - self.granularity):
            self._arm(heap[0][0])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()
        self._dead = 0
        self._armed_at = float("inf")
