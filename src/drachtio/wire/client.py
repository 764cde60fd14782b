"""The remote engine channel: an app's TCP/TLS connection to a drachtio server (or our engine).

``WireClient`` owns one connection. It frames control messages (``drachtio.wire.codec``),
authenticates with the shared secret and tags, optionally pings, and when an established
connection drops it reconnects with capped exponential backoff, using the same TLS settings
(the reference loses TLS on reconnect and has no default cap).

It satisfies the framework's ``EngineChannel`` protocol structurally (``send``, ``close``,
``on_message``, ``on_ready``, ``on_lost``, ``ready``) so the framework never sees a socket.
Its own messages (authenticate, ping) are answered here and never reach ``on_message``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from drachtio.wire.codec import ControlMessage, FrameDecoder, FramingError, encode, new_id

__all__ = ["AuthenticationError", "ReconnectPolicy", "ServerInfo", "WireClient"]

log = logging.getLogger("drachtio.wire")

#: Writes are coalesced: the frames of one loop iteration always go out together, and while
#: frames keep coming, at most one write per FLUSH_INTERVAL seconds carries all of them. Each
#: write to a local TCP socket also runs the receiving side's TCP path; under load this cuts
#: the system calls several-fold for at most half a millisecond of added delay.
FLUSH_INTERVAL = 0.0005

MIN_PING_INTERVAL = 5.0
MAX_PING_INTERVAL = 300.0


class AuthenticationError(ConnectionError):
    """The server refused the shared secret (``NO|incorrect secret``)."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Capped exponential backoff: ``initial * factor**n`` seconds, at most ``max_delay``.

    ``max_attempts`` (None: forever) bounds the tries after a connection is lost.
    """

    initial: float = 0.15
    factor: float = 1.7
    max_delay: float = 10.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.max_delay <= 0:
            raise ValueError("ReconnectPolicy needs initial > 0, factor >= 1, max_delay > 0")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("ReconnectPolicy.max_attempts must be >= 1 or None")

    def delay(self, attempt: int) -> float:
        """Delay before reconnect ``attempt`` (1-based)."""
        return min(self.max_delay, self.initial * self.factor ** (attempt - 1))


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the server said when it accepted us (``OK|hostports|version|localHostports``)."""

    hostports: str
    version: str
    local_hostports: str


class _Protocol(asyncio.Protocol):
    def __init__(self, client: WireClient) -> None:
        self.client = client
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[BaseException | None] = self.loop.create_future()
        #: frames queued by ``WireClient.send`` and not yet written (see ``flush``)
        self.pending: list[bytes] = []
        self.flush_scheduled = False
        self.last_flush = 0.0

    def flush(self) -> None:
        self.flush_scheduled = False
        pending = self.pending
        if not pending:
            return
        self.pending = []
        self.last_flush = self.loop.time()
        t = self.transport
        if t is None or t.is_closing():
            return  # the connection went: on_lost fails what was waiting on these
        t.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a cast, not an isinstance check: uvloop's transports are not asyncio.Transport
        # subclasses, yet they implement the same interface
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket

            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        try:
            msgs = self.decoder.feed(data)
        except FramingError as exc:
            log.error("control connection: %s; closing", exc)
            if self.transport is not None:
                self.transport.abort()
            if not self.closed.done():
                self.closed.set_result(exc)
            return
        for msg in msgs:
            self.client._dispatch(self, msg)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)
        self.client._connection_lost(self, exc)


class WireClient:
    """Connect to a drachtio control port; reconnect when the connection is lost.

    ``tls`` is ``None``/``False`` (plain TCP), ``True`` (TLS with default verification) or an
    ``ssl.SSLContext``. Events (through ``add_listener``-style callbacks set by the owner):
    ``connect(info)``, ``reconnecting(delay, attempt)``, ``error(exc)``, ``close()``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9022,
        secret: str = "",
        tags: list[str] | tuple[str, ...] = (),
        *,
        tls: ssl.SSLContext | bool | None = None,
        server_hostname: str | None = None,
        reconnect: ReconnectPolicy | None = None,
        ping_interval: float | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise TypeError(f"host must be a non-empty str, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"port must be an int 1..65535, got {port!r}")
        if not isinstance(secret, str):
            raise TypeError(f"secret must be a str, got {secret!r}")
        if tls is not None and not isinstance(tls, (bool, ssl.SSLContext)):
            raise TypeError(f"tls must be None, a bool or an ssl.SSLContext, got {tls!r}")
        if ping_interval is not None and not (
            MIN_PING_INTERVAL <= float(ping_interval) <= MAX_PING_INTERVAL
        ):
            raise ValueError(
                f"ping_interval must be between {MIN_PING_INTERVAL} and {MAX_PING_INTERVAL} "
                f"seconds, got {ping_interval!r}"
            )
        self.host = host
        self.port = port
        self.secret = secret
        self.tags = list(tags)
        self.reconnect_policy = reconnect or ReconnectPolicy()
        self.ping_interval = ping_interval
        self.connect_timeout = connect_timeout
        self.server_hostname = server_hostname
        self._ssl: ssl.SSLContext | None
        if tls is True:
            self._ssl = ssl.create_default_context()
        elif isinstance(tls, ssl.SSLContext):
            self._ssl = tls
        else:
            self._ssl = None
        # EngineChannel hooks, set by the owner (the framework's agent)
        self.on_message: Callable[[ControlMessage], None] | None = None
        self.on_ready: Callable[[str, str, str], None] | None = None
        self.on_lost: Callable[[BaseException | None], None] | None = None
        # lifecycle callbacks (the Srf turns them into events)
        self.on_event: Callable[..., None] | None = None

        self.info: ServerInfo | None = None
        self._proto: _Protocol | None = None
        self._ready = False
        self._closing = False
        self._auth_id: str | None = None
        self._auth_waiter: asyncio.Future[ServerInfo] | None = None
        self._pings: set[str] = set()
        self._ping_task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self.frames_sent = 0
        #: at most one write per this many seconds while busy (0: a write per loop turn)
        self.flush_interval = FLUSH_INTERVAL

    # -- EngineChannel ---------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Connected and authenticated."""
        return self._ready

    @property
    def tls(self) -> bool:
        return self._ssl is not None

    def send(self, msg: ControlMessage) -> None:
        """Queue a frame; the frames of one loop iteration go out in one write.

        Each write to a loopback TCP socket costs a system call that also runs the
        receiver's side of TCP; coalescing the frames produced while handling one read (or
        one round of tasks) cuts those calls without adding latency: the flush runs as
        soon as the loop gets to it.
        """
        proto = self._proto
        if proto is None or proto.transport is None or proto.transport.is_closing():
            raise ConnectionError("not connected to the drachtio server")
        proto.pending.append(encode(msg))
        if not proto.flush_scheduled:
            proto.flush_scheduled = True
            loop = proto.loop
            due = proto.last_flush + self.flush_interval
            if due <= loop.time():
                loop.call_soon(proto.flush)
            else:  # busy: gather what comes until then into the same write
                loop.call_at(due, proto.flush)
        self.frames_sent += 1

    def close(self) -> None:
        """Close for good: no reconnect."""
        self._closing = True
        self._ready = False
        for task in (self._reconnect_task, self._ping_task):
            if task is not None and not task.done():
                task.cancel()
        if self._proto is not None and self._proto.transport is not None:
            self._proto.flush()  # what was sent before close() still goes out
            self._proto.transport.close()

    async def wait_closed(self) -> None:
        if self._proto is not None:
            with contextlib.suppress(Exception):
                await self._proto.closed

    # -- connecting ------------------------------------------------------------------------

    async def start(self) -> ServerInfo:
        """Connect and authenticate once; raises ``OSError`` / ``AuthenticationError``."""
        if self._closing:
            raise ConnectionError("client was closed")
        return await self._connect_once()

    async def _connect_once(self) -> ServerInfo:
        loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {}
        if self._ssl is not None:
            kwargs["ssl"] = self._ssl
            kwargs["server_hostname"] = self.server_hostname or self.host
        _transport, proto = await asyncio.wait_for(
            loop.create_connection(lambda: _Protocol(self), self.host, self.port, **kwargs),
            self.connect_timeout,
        )
        self._proto = proto
        self._auth_id = new_id()
        self._auth_waiter = loop.create_future()
        self.send(
            ControlMessage([self._auth_id, "authenticate", self.secret, ",".join(self.tags)])
        )
        try:
            info = await asyncio.wait_for(asyncio.shield(self._auth_waiter), self.connect_timeout)
        except BaseException:
            if proto.transport is not None:
                proto.transport.abort()
            self._proto = None
            raise
        self.info = info
        self._ready = True
        if self.ping_interval:
            self._ping_task = asyncio.ensure_future(self._ping_loop(proto))
        if self.on_ready is not None:
            self.on_ready(info.hostports, info.version, info.local_hostports)
        self._event("connect", info)
        return info

    def _event(self, name: str, *args: Any) -> None:
        if self.on_event is not None:
            try:
                self.on_event(name, *args)
            except Exception:
                log.exception("wire client %s listener raised", name)

    def _dispatch(self, proto: _Protocol, msg: ControlMessage) -> None:
        if proto is not self._proto:
            return
        toks = msg.tokens
        if len(toks) > 2 and toks[1] == "response":
            rid = toks[2]
            if rid == self._auth_id and self._auth_waiter is not None:
                self._auth_id = None
                if not self._auth_waiter.done():
                    if len(toks) > 3 and toks[3] == "OK":
                        self._auth_waiter.set_result(
                            ServerInfo(
                                toks[4] if len(toks) > 4 else "",
                                toks[5] if len(toks) > 5 else "",
                                toks[6] if len(toks) > 6 else "",
                            )
                        )
                    else:
                        reason = toks[4] if len(toks) > 4 else "authentication failed"
                        self._auth_waiter.set_exception(
                            AuthenticationError(f"failed to authenticate to server: {reason}")
                        )
                return
            if rid in self._pings:
                self._pings.discard(rid)
                return
        if self.on_message is not None:
            try:
                self.on_message(msg)
            except Exception:
                log.exception("error handling control message %s", msg.tokens[:3])

    def _connection_lost(self, proto: _Protocol, exc: BaseException | None) -> None:
        if proto is not self._proto:
            return
        was_ready = self._ready
        self._ready = False
        self._proto = None
        self._pings.clear()
        if self._ping_task is not None:
            self._ping_task.cancel()
            self._ping_task = None
        if self._auth_waiter is not None and not self._auth_waiter.done():
            self._auth_waiter.set_exception(
                ConnectionError("connection closed during authentication")
            )
        if not was_ready:
            return
        if exc is not None:
            self._event("error", exc)
        if self.on_lost is not None:
            try:
                self.on_lost(exc)
            except Exception:
                log.exception("on_lost handler raised")
        self._event("close")
        if not self._closing:
            self._reconnect_task = asyncio.ensure_future(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        policy = self.reconnect_policy
        attempt = 0
        while not self._closing:
            attempt += 1
            if policy.max_attempts is not None and attempt > policy.max_attempts:
                self._event("error", ConnectionError(
                    f"gave up reconnecting to {self.host}:{self.port} after {attempt - 1} attempts"
                ))
                return
            delay = policy.delay(attempt)
            # a little jitter so many apps do not reconnect in lock step
            delay *= 1.0 + random.uniform(0.0, 0.1)
            self._event("reconnecting", delay, attempt)
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await self._connect_once()
                return
            except AuthenticationError as exc:
                self._event("error", exc)
                log.error("reconnect to %s:%d refused: %s", self.host, self.port, exc)
            except (TimeoutError, OSError, ConnectionError) as exc:
                log.debug("reconnect attempt %d failed: %s", attempt, exc)

    async def _ping_loop(self, proto: _Protocol) -> None:
        assert self.ping_interval is not None
        while proto is self._proto:
            await asyncio.sleep(self.ping_interval)
            if proto is not self._proto:
                return
            if self._pings:
                # the last ping was never answered: the connection is dead
                log.warning("no pong from %s:%d; reconnecting", self.host, self.port)
                if proto.transport is not None:
                    proto.transport.abort()
                return
            pid = new_id()
            self._pings.add(pid)
            try:
                self.send(ControlMessage([pid, "ping"]))
            except ConnectionError:
                return
