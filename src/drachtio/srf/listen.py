"""Outbound connections: the application listens and the engine dials it, one connection per
call (wire-protocol.md 6.2; drachtio-srf ``srf.listen``).

```python
server = await srf.listen(host="127.0.0.1", port=9031, secret="cymru")

@srf.invite
async def on_invite(req, res):
    uas = await srf.create_uas(req, res, local_sdp=sdp)
    uas.on("destroy", lambda *_: end_session(req))   # done with this call: close its link
```

On each accepted connection the application speaks first (``authenticate|secret|tags``);
after the engine's ``OK`` the engine sends the request that made it dial, and the connection
works like an inbound one: everything that belongs to the call (responses, in-dialog
requests, the B leg of a B2BUA) stays on it. The application sends no ``route``: the engine
chose it for this request already. ``end_session(req)`` closes the connection a request,
response or dialog belongs to (a no-op for inbound connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from drachtio.wire.client import AuthenticationError
from drachtio.wire.codec import ControlMessage, FrameDecoder, FramingError, encode, new_id

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.agent import Agent
    from drachtio.srf.srf import Srf

__all__ = ["ListenChannel", "ListenServer", "end_session", "listen"]

log = logging.getLogger("drachtio.srf")

#: how long an accepted connection may take to answer ``authenticate``
AUTH_TIMEOUT = 10.0


class ListenChannel(asyncio.Protocol):
    """One engine-dialed connection: an ``EngineChannel`` and its asyncio protocol."""

    def __init__(self, server: ListenServer) -> None:
        self.server = server
        self.on_message: Callable[[ControlMessage], None] | None = None
        self.on_ready: Callable[[str, str, str], None] | None = None
        self.on_lost: Callable[[BaseException | None], None] | None = None
        self.agent: Agent | None = None
        self.peer: tuple[str, int] | None = None
        self._transport: asyncio.Transport | None = None
        self._decoder = FrameDecoder()
        self._ready = False
        self._auth_id: str | None = None
        self._auth_timer: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- EngineChannel ---------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready

    def send(self, msg: ControlMessage) -> None:
        t = self._transport
        if t is None or t.is_closing():
            raise ConnectionError("the engine's outbound connection is closed")
        t.write(encode(msg))

    def close(self) -> None:
        self._ready = False
        if self._transport is not None:
            self._transport.close()

    async def wait_closed(self) -> None:
        await asyncio.shield(self.closed)

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not an isinstance check: uvloop's transports are not asyncio.Transport subclasses
        self._transport = cast(asyncio.Transport, transport)
        self.peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        srf = self.server.srf
        self.agent = srf.attach(self, server_address=self.peer[0] if self.peer else "")
        self.server.connections.add(self)
        self._auth_id = new_id()
        self.send(ControlMessage([self._auth_id, "authenticate", self.server.secret,
                                  ",".join(srf.tags)]))
        loop = asyncio.get_running_loop()
        self._auth_timer = loop.call_later(AUTH_TIMEOUT, self._auth_timeout)

    def _auth_timeout(self) -> None:
        if not self._ready:
            log.warning("outbound connection from %s: no answer to authenticate", self.peer)
            self.close()

    def data_received(self, data: bytes) -> None:
        try:
            msgs = self._decoder.feed(data)
        except FramingError as exc:
            # listen mode: a bad frame closes this connection, never the application
            log.error("outbound connection from %s: %s; closing", self.peer, exc)
            msgs = exc.messages
            for msg in msgs:
                self._dispatch(msg)
            if self._transport is not None:
                self._transport.abort()
            return
        for msg in msgs:
            self._dispatch(msg)

    def _dispatch(self, msg: ControlMessage) -> None:
        t = msg.tokens
        if self._auth_id is not None and len(t) > 2 and t[1] == "response" and t[2] == self._auth_id:
            self._auth_id = None
            if self._auth_timer is not None:
                self._auth_timer.cancel()
            if len(t) > 3 and t[3] == "OK":
                self._authenticated(t[4] if len(t) > 4 else "", t[5] if len(t) > 5 else "",
                                    t[6] if len(t) > 6 else "")
            else:
                reason = t[4] if len(t) > 4 else "authentication failed"
                log.error("outbound connection from %s refused our secret: %s", self.peer, reason)
                self.server.srf.emit("error", AuthenticationError(
                    f"failed to authenticate to server: {reason}"))
                self.close()
            return
        if not self._ready or self.on_message is None:
            return
        try:
            self.on_message(msg)
        except Exception:
            log.exception("error handling control message %s", t[:3])

    def _authenticated(self, hostports: str, version: str, local_hostports: str) -> None:
        self._ready = True
        agent = self.agent
        assert agent is not None
        # what Agent.on_ready records, without the route commands an inbound link sends
        agent.hostports = hostports
        agent.server_version = version
        agent.local_hostports = local_hostports
        self.server.srf.emit("connect", hostports, version, local_hostports)

    def connection_lost(self, exc: BaseException | None) -> None:
        was_ready = self._ready
        self._ready = False
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.server.connections.discard(self)
        if was_ready and self.on_lost is not None:
            try:
                self.on_lost(exc)
            except Exception:
                log.exception("on_lost handler raised")
        srf = self.server.srf
        if self.agent is not None:
            srf.detach(self.agent)
        if was_ready:
            srf.emit("close")
        if not self.closed.done():
            self.closed.set_result(None)


class ListenServer:
    """The listening socket for outbound connections; ``close()`` stops accepting."""

    def __init__(self, srf: Srf, secret: str) -> None:
        self.srf = srf
        self.secret = secret
        self.connections: set[ListenChannel] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def sockets(self) -> list[Any]:
        return list(self._server.sockets) if self._server is not None else []

    def close(self, *, connections: bool = False) -> None:
        """Stop accepting; with ``connections=True`` also close the live ones."""
        if self._server is not None:
            self._server.close()
        if connections:
            for ch in list(self.connections):
                ch.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        for ch in list(self.connections):
            await ch.wait_closed()

    async def __aenter__(self) -> ListenServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close(connections=True)
        await self.wait_closed()


async def listen(
    srf: Srf,
    host: str = "0.0.0.0",
    port: int | None = None,
    secret: str = "",
    *,
    tls: ssl.SSLContext | None = None,
    backlog: int = 512,
) -> ListenServer:
    """Accept outbound connections from drachtio servers on ``host:port`` (0: any free port).

    ``secret`` is sent on each accepted connection (the engine checks it). ``tls``: an
    ``ssl.SSLContext`` with the certificate to serve. Emits ``listening`` on the Srf, then
    ``connect`` / ``close`` per accepted connection.
    """
    from drachtio.srf.srf import Srf

    if not isinstance(srf, Srf):
        raise TypeError(f"srf must be a drachtio Srf, got {type(srf).__name__}")
    if not isinstance(host, str) or not host:
        raise TypeError(f"host must be a non-empty str (the address to bind), got {host!r}")
    if port is None:
        raise TypeError("listen() needs a port (0 picks a free one)")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise ValueError(f"port must be an int 0..65535, got {port!r}")
    if not isinstance(secret, str):
        raise TypeError(f"secret must be a str, got {secret!r}")
    if tls is not None and not isinstance(tls, ssl.SSLContext):
        raise TypeError(f"tls must be an ssl.SSLContext or None, got {tls!r}")
    server = ListenServer(srf, secret)
    loop = asyncio.get_running_loop()
    server._server = await loop.create_server(lambda: ListenChannel(server), host, port,
                                              ssl=tls, backlog=backlog)
    srf.emit("listening", server)
    return server


def end_session(msg: Any) -> None:
    """Close the outbound connection ``msg`` (a request, response or dialog) belongs to.

    Does nothing for inbound connections (the app's own connection to the engine).
    """
    agent = getattr(msg, "agent", None)
    if agent is None:
        req = getattr(msg, "req", None)
        agent = getattr(req, "agent", None)
    channel = getattr(agent, "channel", None)
    if isinstance(channel, ListenChannel):
        channel.close()
