"""Controllable time for an asyncio event loop: ``await clock.advance(32)`` in no time.

Everything in the engine and the framework reads time from the running loop
(``loop.time()``, ``call_at``/``call_later``, ``asyncio.sleep``, ``wait_for``). ``VirtualClock``
replaces the loop's ``time`` with *real time + an offset*; ``advance`` moves the offset
forward timer by timer, letting due callbacks run at each deadline, so SIP timers (T1
retransmissions, Timer B's 32 s, session timers...) fire in order as they would, without
waiting. Real time keeps flowing underneath, so nothing stalls when the test does not
advance.

Works with the stock asyncio loops (pytest-asyncio's default). uvloop's ``time`` cannot be
replaced; ``VirtualClock`` raises ``RuntimeError`` there.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any

__all__ = ["VirtualClock"]


class VirtualClock:
    """Install on the running loop with ``VirtualClock()`` (or ``VirtualClock(loop)``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self.offset = 0.0
        if not isinstance(self.loop, asyncio.BaseEventLoop):
            # only the pure-Python loops read the clock through self.time()
            raise RuntimeError(
                f"VirtualClock needs a pure-Python asyncio loop; {type(self.loop).__name__} "
                "keeps its own clock (uvloop?)"
            )
        real: Callable[[], float] = self.loop.time
        self._real = real
        try:
            self.loop.time = self.time  # type: ignore[method-assign]
        except (AttributeError, TypeError):
            raise RuntimeError(
                f"VirtualClock needs a pure-Python asyncio loop; {type(self.loop).__name__} "
                "does not let its time() be replaced (uvloop?)"
            ) from None
        self._installed = True

    def time(self) -> float:
        """The loop's (virtual) time."""
        return self._real() + self.offset

    def uninstall(self) -> None:
        """Give the loop its own clock back (time would jump back: only at the end)."""
        if self._installed:
            self._installed = False
            try:
                delattr(self.loop, "time")
            except AttributeError:
                pass

    # -- stepping ----------------------------------------------------------------------------
    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``; every timer due on the way fires, in order.

        Between deadlines the loop runs until it has nothing ready, so messages a timer
        sends are delivered (and answered) before the next deadline is reached.
        """
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"advance() takes a non-negative number of seconds, got {seconds!r}")
        end = self.time() + seconds
        await self.settle()
        for _ in range(1_000_000):
            nxt = self._next_deadline()
            if nxt is None or nxt > end:
                break
            now = self.time()
            if nxt > now:
                self.offset += nxt - now
            await self.settle()
        now = self.time()
        if end > now:
            self.offset += end - now
        await self.settle()

    async def settle(self, max_rounds: int = 10_000) -> None:
        """Let the loop run until no callback is ready (bounded)."""
        ready = getattr(self.loop, "_ready", None)
        for i in range(max_rounds):
            await asyncio.sleep(0)
            if ready is None:
                if i >= 50:
                    return
            elif not ready and not self._due():
                return

    def _due(self) -> bool:
        nxt = self._next_deadline()
        return nxt is not None and nxt <= self.time()

    def _next_deadline(self) -> float | None:
        """When the loop's earliest live timer is due (None: no timer)."""
        heap: list[Any] | None = getattr(self.loop, "_scheduled", None)
        if heap is None:
            return None
        # the heap may start with cancelled handles: look at the smallest live ones
        for h in heapq.nsmallest(64, heap):
            if not h.cancelled():
                return float(h.when())
        live = [h.when() for h in heap if not h.cancelled()]
        return float(min(live)) if live else None

    def __repr__(self) -> str:
        return f"<VirtualClock offset={self.offset:.3f}s>"
