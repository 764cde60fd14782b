"""The control-protocol TCP server (port 9022): one framed ``AppLink`` per connection.

All protocol handling happens behind ``AppSession``; this module only frames bytes, so the
remote mode and the in-process (embedded) mode run the same code.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, cast

from drachtio.wire.codec import ControlMessage, FrameDecoder, FramingError, encode

if TYPE_CHECKING:
    from drachtio.engine.apps import AppSession
    from drachtio.engine.engine import Engine

__all__ = ["ControlConnection", "start_control_server"]

log = logging.getLogger("drachtio.engine")

#: Bytes queued towards an app that does not read before it is disconnected.
_MAX_BACKLOG = 64 * 1024 * 1024


class ControlConnection(asyncio.Protocol):
    """One app connection: bytes <-> ControlMessage; writes coalesced per loop iteration."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._decoder = FrameDecoder(engine.config.max_frame)
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._session: AppSession | None = None
        self._loop = asyncio.get_running_loop()

    # asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        name = f"tcp/{peer[0]}:{peer[1]}" if peer else "tcp/?"
        self._session = self._attach(name)
        if log.isEnabledFor(logging.INFO):
            log.info("app connected from %s", name)

    def _attach(self, name: str) -> AppSession:
        """The engine's session for this connection: it must ``authenticate`` first."""
        return self._engine.attach(self, name=name, authenticated=False)

    def data_received(self, data: bytes) -> None:
        session = self._session
        if session is None or session.closed:
            return
        try:
            messages = self._decoder.feed(data)
        except FramingError as exc:
            log.warning("closing app connection %s: %s", session.name, exc)
            session.close()
            return
        for msg in messages:
            if session.closed:
                break
            session.receive(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._session is not None:
            if log.isEnabledFor(logging.INFO):
                log.info("app %s disconnected", self._session.name)
            self._session.close()
        self._transport = None

    # AppLink -----------------------------------------------------------------------------
    def send(self, msg: ControlMessage) -> None:
        if self._transport is None:
            return
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(encode(msg))

    def _flush(self) -> None:
        out = self._out
        if not out or self._transport is None:
            out.clear()
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        t = self._transport
        t.write(data)
        if t.get_write_buffer_size() > _MAX_BACKLOG and self._session is not None:
            # the app stopped reading: drop it rather than buffer without bound
            log.warning("app %s is not reading (%d bytes queued); disconnecting",
                        self._session.name, t.get_write_buffer_size())
            self._session.close()

    def close(self) -> None:
        t = self._transport
        if t is not None:
            self._flush()
            t.close()


async def start_control_server(engine: Engine, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: ControlConnection(engine), host=host, port=port, reuse_address=True
    )
