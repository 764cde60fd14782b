"""Overload detection: is the engine falling behind the traffic it is offered?

Past its capacity a SIP server does not slow down gracefully: requests wait in the socket's
receive queue, answers come late, peers retransmit (T1 = 500 ms), the retransmissions are
more work, and the rate of completed calls collapses. The cure is to refuse new calls early
and cheaply (503 + Retry-After) while the calls already accepted keep working.

``LoadMonitor`` estimates how late the engine is with what it receives, every ``interval``
seconds while traffic flows (an idle engine arms no timer):

* **loop lag**: how late its own tick runs (a long callback, a GC pause, a starved CPU);
* **receive-queue delay**: when the transports can (real UDP sockets), a tiny probe datagram
  sent to our own socket queues behind everything already waiting there; the time until it
  comes back is exactly the delay a peer's request sees before the engine reads it.

The engine sheds when the estimate stayed above ``high`` for two ticks in a row and stops
when it stayed below ``low`` for two ticks (hysteresis, so one GC pause does not flap it).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

__all__ = ["PROBE_PREFIX", "LoadMonitor"]

log = logging.getLogger("drachtio.engine")

#: Probe datagrams are 7 bytes: this prefix plus 6 random bytes (per monitor). Short
#: datagrams are already set apart as keep-alives, so telling a probe costs nothing extra.
PROBE_PREFIX = b"\x00"

_ENTER_TICKS = 2
_LEAVE_TICKS = 2


class LoadMonitor:
    """Estimates receive delay; ``shedding`` says whether new calls should be refused."""

    __slots__ = (
        "_above",
        "_below",
        "_expected",
        "_handle",
        "_last_probe",
        "_loop",
        "_probe_sent",
        "_seen",
        "_send_probe",
        "_ticked_seen",
        "delay",
        "high",
        "interval",
        "low",
        "probe",
        "shedding",
        "transitions",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        high: float,
        *,
        low: float | None = None,
        interval: float = 0.05,
        send_probe: Callable[[bytes], bool] | None = None,
    ) -> None:
        if high <= 0:
            raise ValueError("overload delay threshold must be positive")
        self._loop = loop
        self.high = high
        self.low = low if low is not None else high / 2
        self.interval = interval
        self._send_probe = send_probe
        #: this monitor's probe datagram
        self.probe = PROBE_PREFIX + os.urandom(6)
        self.shedding = False
        #: the latest estimate (seconds)
        self.delay = 0.0
        #: how often shedding started (for stats)
        self.transitions = 0
        self._handle: asyncio.TimerHandle | None = None
        self._expected = 0.0
        self._probe_sent: float | None = None
        self._last_probe = 0.0
        self._above = 0
        self._below = 0
        self._seen = 0  # messages noted
        self._ticked_seen = 0

    def traffic(self) -> None:
        """Note one received message; arms the tick when it is idle. Cheap: per message."""
        self._seen += 1
        if self._handle is None:
            self._arm(self._loop.time())

    def _arm(self, now: float) -> None:
        self._expected = now + self.interval
        self._handle = self._loop.call_at(self._expected, self._tick)

    def probe_echo(self) -> None:
        """Our probe came back through the socket."""
        sent = self._probe_sent
        if sent is not None:
            self._last_probe = self._loop.time() - sent
            self._probe_sent = None

    def _tick(self) -> None:
        self._handle = None
        now = self._loop.time()
        lag = now - self._expected
        queued = self._last_probe
        sent = self._probe_sent
        if sent is not None:
            queued = max(queued, now - sent)
            if now - sent > max(1.0, 5 * self.high):
                sent = self._probe_sent = None  # lost (queue overflowed): send another
        if sent is None and self._send_probe is not None:
            try:
                if self._send_probe(self.probe):
                    self._probe_sent = now
            except Exception:
                log.debug("overload probe could not be sent", exc_info=True)
                self._send_probe = None
        delay = lag if lag > queued else queued
        self.delay = delay
        if delay > self.high:
            self._above += 1
            self._below = 0
            if not self.shedding and self._above >= _ENTER_TICKS:
                self.shedding = True
                self.transitions += 1
                log.warning("overload: requests wait %.0f ms; refusing new calls (503)",
                            delay * 1000)
        elif delay < self.low:
            self._below += 1
            self._above = 0
            if self.shedding and self._below >= _LEAVE_TICKS:
                self.shedding = False
                log.warning("overload over (requests wait %.0f ms); accepting new calls",
                            delay * 1000)
        if self._seen != self._ticked_seen or self.shedding:
            self._ticked_seen = self._seen
            self._arm(now)
        else:  # idle: nothing to measure until traffic resumes
            self._above = self._below = 0
            self._last_probe = 0.0
            self._probe_sent = None

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.shedding = False
