"""Capture the SIP messages an engine sends and receives (for ladders and test assertions).

``SipTrace().attach(engine)`` records every datagram/stream message crossing the engine's
transports as a ``TraceEntry``. It uses the engine's own trace hook when it has one
(``engine.on_trace(fn)``); otherwise it wraps the transport manager's ``send`` and receive
callbacks on that one engine instance (nothing global is patched).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drachtio.sip import Request, Response, SipParseError, parse_message

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.engine import Engine

__all__ = ["SipTrace", "TraceEntry"]

log = logging.getLogger("drachtio.testing")

Address = tuple[str, int]


@dataclass(slots=True)
class TraceEntry:
    """One SIP message seen at an engine: ``direction`` is ``"in"`` or ``"out"``."""

    time: float
    direction: str
    proto: str
    local: Address
    remote: Address
    data: bytes
    _msg: Request | Response | None = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    @property
    def src(self) -> Address:
        return self.remote if self.direction == "in" else self.local

    @property
    def dst(self) -> Address:
        return self.local if self.direction == "in" else self.remote

    @property
    def message(self) -> Request | Response | None:
        """The message parsed (None when it does not parse)."""
        if not self._parsed:
            self._parsed = True
            try:
                self._msg = parse_message(self.data)
            except SipParseError as exc:
                self._msg = exc.message if isinstance(exc.message, Request | Response) else None
            except Exception:
                self._msg = None
        return self._msg

    @property
    def is_request(self) -> bool:
        return not self.data.startswith(b"SIP/")

    @property
    def method(self) -> str:
        """The request method, or the CSeq method of a response."""
        m = self.message
        if isinstance(m, Request):
            return m.method
        if isinstance(m, Response):
            try:
                return m.cseq.method
            except (SipParseError, ValueError, AttributeError):
                return ""
        return self.data.split(b" ", 1)[0].decode("ascii", "replace")

    @property
    def status(self) -> int | None:
        m = self.message
        return m.status if isinstance(m, Response) else None

    @property
    def call_id(self) -> str:
        m = self.message
        try:
            return m.call_id if m is not None else ""
        except (SipParseError, ValueError, AttributeError):
            return ""

    @property
    def has_sdp(self) -> bool:
        m = self.message
        if m is None or not m.body:
            return False
        ct = (m.content_type or "").lower()
        return "sdp" in ct

    def label(self) -> str:
        """``INVITE (SDP)`` / ``200 OK (SDP)``: what a ladder prints on the arrow."""
        m = self.message
        if isinstance(m, Request):
            text = m.method
        elif isinstance(m, Response):
            text = f"{m.status} {m.reason}".strip()
        else:
            text = self.data.split(b"\r\n", 1)[0].decode("utf-8", "replace")[:30]
        return text + (" (SDP)" if self.has_sdp else "")


class SipTrace:
    """A list of ``TraceEntry`` from one or more engines (and, optionally, other sources)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.entries: list[TraceEntry] = []
        self._clock = clock or time.monotonic
        self._listeners: list[Callable[[TraceEntry], None]] = []
        self.enabled = True

    def on_entry(self, fn: Callable[[TraceEntry], None]) -> None:
        """Call ``fn(entry)`` for every entry recorded from now on."""
        self._listeners.append(fn)

    def record(self, direction: str, proto: str, local: Address, remote: Address,
               data: bytes) -> None:
        if not self.enabled:
            return
        entry = TraceEntry(self._clock(), direction, proto, (local[0], int(local[1])),
                           (remote[0], int(remote[1])), bytes(data))
        self.entries.append(entry)
        for fn in self._listeners:
            try:
                fn(entry)
            except Exception:
                log.exception("trace listener raised")

    def clear(self) -> None:
        self.entries.clear()

    # -- attaching ---------------------------------------------------------------------------
    def attach(self, engine: Engine) -> None:
        """Record what ``engine`` (started) sends and receives."""
        hook = getattr(engine, "on_trace", None)
        if callable(hook):
            hook(self.record)
            return
        tm = engine.transports
        if tm is None:
            raise RuntimeError("SipTrace.attach() needs a started engine")
        send = tm.send
        on_datagram = tm.on_datagram
        on_stream = tm.on_stream_message
        record = self.record

        def traced_send(local: Any, host: str, port: int, data: bytes, conn: Any = None,
                        on_error: Callable[[], None] | None = None) -> None:
            record("out", local.proto, (local.host, local.port), (host, port), data)
            send(local, host, port, data, conn, on_error)

        def traced_datagram(local: Any, data: bytes, addr: Address) -> None:
            if len(data) >= 8 or data.strip():
                record("in", local.proto, (local.host, local.port), addr, data)
            on_datagram(local, data, addr)

        def traced_stream(conn: Any, msg: Any) -> None:
            try:
                record("in", conn.local.proto, (conn.local.host, conn.local.port), conn.remote,
                       msg.to_bytes())
            except Exception:
                log.debug("could not trace a stream message", exc_info=True)
            on_stream(conn, msg)

        tm.send = traced_send  # type: ignore[method-assign]
        tm.on_datagram = traced_datagram
        tm.on_stream_message = traced_stream

    # -- views -------------------------------------------------------------------------------
    def unique(self) -> list[TraceEntry]:
        """Entries with the copies removed that two traced engines both saw (A's "out" is
        B's "in"), in time order."""
        out: list[TraceEntry] = []
        unpaired: dict[tuple[Address, Address, bytes], int] = {}
        for e in sorted(self.entries, key=lambda e: e.time):
            key = (e.src, e.dst, e.data)
            if e.direction == "out":
                unpaired[key] = unpaired.get(key, 0) + 1
            elif unpaired.get(key):
                unpaired[key] -= 1  # the receiving side of a message already listed
                continue
            out.append(e)
        return out

    def for_call(self, call_id: str) -> list[TraceEntry]:
        return [e for e in self.unique() if e.call_id == call_id]

    def __len__(self) -> int:
        return len(self.entries)
