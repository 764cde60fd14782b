"""SIP transports on asyncio: UDP sockets, TCP listeners and connections.

The transports only move bytes and frame TCP streams; everything SIP happens in the engine
through two callbacks: ``on_datagram(local, data, addr)`` for UDP and
``on_stream_message(conn, msg)`` / ``on_stream_error(conn, err)`` for TCP. TCP connections
are reused in both directions (keyed by the remote address), bounded in number, and closed
when idle.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from drachtio.engine.config import ContactSpec, is_ip, primary_ip
from drachtio.engine.ws import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WsDecoder,
    WsError,
    encode_frame,
    handshake,
)
from drachtio.sip import Limits, SipParseError, StreamParser, parse_message

if TYPE_CHECKING:
    from drachtio.sip import Message

__all__ = [
    "LocalTransport",
    "Source",
    "TcpConnection",
    "TransportFactory",
    "TransportManager",
    "TransportTable",
    "Transports",
]

log = logging.getLogger("drachtio.engine")

ErrorCallback = Callable[[], None]

#: Bytes queued on a SIP TCP connection before it is considered dead and closed.
_MAX_BACKLOG = 16 * 1024 * 1024


class LocalTransport:
    """One listening transport (``udp/127.0.0.1:5060``): what we bind and what we advertise."""

    __slots__ = ("bind_host", "host", "port", "proto", "server", "spec", "udp")

    def __init__(self, proto: str, spec: ContactSpec, bind_host: str, host: str) -> None:
        self.proto = proto
        self.spec = spec
        self.bind_host = bind_host
        self.host = host  # advertised in Via/Contact/hostports
        self.port = spec.port
        self.udp: UdpProtocol | None = None
        self.server: asyncio.Server | None = None

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def via_transport(self) -> str:
        return self.proto.upper()

    def __str__(self) -> str:
        return f"{self.proto}/{self.host}:{self.port}"


class Source:
    """Where a received message came from, and how to answer it."""

    __slots__ = ("conn", "host", "local", "port", "proto")

    def __init__(
        self,
        local: LocalTransport,
        host: str,
        port: int,
        conn: TcpConnection | None = None,
    ) -> None:
        self.local = local
        self.proto = local.proto
        self.host = host
        self.port = port
        self.conn = conn


class UdpProtocol(asyncio.DatagramProtocol):
    __slots__ = ("local", "mgr", "transport")

    def __init__(self, mgr: TransportManager, local: LocalTransport) -> None:
        self.mgr = mgr
        self.local = local
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.DatagramTransport, transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        size = self.mgr.udp_buffer_size
        if sock is not None and size:
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, size)
                except OSError:
                    pass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.mgr.on_datagram(self.local, data, addr)
        except Exception:
            log.exception("error handling datagram from %s:%s", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("udp %s error: %s", self.local, exc)

    def sendto(self, data: bytes, host: str, port: int) -> None:
        t = self.transport
        if t is not None:
            t.sendto(data, (host, port))


class TcpConnection(asyncio.Protocol):
    """One SIP-over-TCP connection (accepted or opened by us)."""

    def __init__(self, mgr: TransportManager, local: LocalTransport) -> None:
        self.mgr = mgr
        self.local = local
        self.transport: asyncio.Transport | None = None
        self.parser = StreamParser(mgr.limits)
        self.remote: tuple[str, int] = ("", 0)
        self.last_used = time.monotonic()
        self.closed = False
        self._pending: list[bytes] = []
        self._error_cbs: list[ErrorCallback] = []
        self.source: Source | None = None

    # asyncio ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.remote = (peer[0], peer[1])
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.source = Source(self.local, self.remote[0], self.remote[1], self)
        self.mgr._register(self)
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            transport.write(data)
        self._error_cbs.clear()

    def data_received(self, data: bytes) -> None:
        self.last_used = time.monotonic()
        parser = self.parser
        pings = parser.pings
        try:
            messages = parser.feed(data)
        except SipParseError as err:
            self.mgr.on_stream_error(self, err)
            self.close()
            return
        except Exception:
            log.exception("TCP framing failed on %s:%s; closing", *self.remote)
            self.close()
            return
        if parser.pings != pings and self.transport is not None:
            self.transport.write(b"\r\n" * (parser.pings - pings))  # RFC 5626 pong
        for msg in messages:
            try:
                self.mgr.on_stream_message(self, msg)
            except Exception:
                log.exception("error handling SIP message from %s:%s", *self.remote)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        self.mgr._unregister(self)
        cbs, self._error_cbs = self._error_cbs, []
        for cb in cbs:
            try:
                cb()
            except Exception:
                log.exception("transport error callback failed")

    # sending ---------------------------------------------------------------------------
    def write(self, data: bytes, on_error: ErrorCallback | None = None) -> None:
        self.last_used = time.monotonic()
        t = self.transport
        if t is not None:
            t.write(data)
            if t.get_write_buffer_size() > _MAX_BACKLOG:
                log.warning("SIP peer %s:%s is not reading; closing the connection", *self.remote)
                self.close()
        elif not self.closed:  # still connecting
            self._pending.append(data)
            if on_error is not None:
                self._error_cbs.append(on_error)
        elif on_error is not None:
            on_error()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.closed = True


class WsConnection(TcpConnection):
    """SIP over WebSocket (RFC 7118), accepted on a ws/wss transport: the HTTP upgrade, then
    one SIP message per WebSocket message, each parsed on its own (no stream framing)."""

    _MAX_HANDSHAKE = 8192

    def __init__(self, mgr: TransportManager, local: LocalTransport) -> None:
        super().__init__(mgr, local)
        self._upgraded = False
        self._head = b""
        self._ws = WsDecoder(mgr.limits.max_message_size if mgr.limits else 65535)

    def data_received(self, data: bytes) -> None:
        self.last_used = time.monotonic()
        if not self._upgraded:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > self._MAX_HANDSHAKE:
                    self.close()
                return
            head, data = self._head[:end + 4], self._head[end + 4:]
            self._head = b""
            answer, ok = handshake(head)
            if self.transport is not None:
                self.transport.write(answer)
            if not ok:
                self.close()
                return
            self._upgraded = True
            if not data:
                return
        try:
            frames = self._ws.feed(data)
        except WsError as exc:
            log.info("WebSocket %s:%s: %s; closing", *self.remote, exc)
            self._send_frame(OP_CLOSE, struct.pack("!H", exc.code))
            self.close()
            return
        for opcode, payload in frames:
            if opcode in (OP_TEXT, OP_BINARY):
                self._message(payload)
            elif opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                self._send_frame(OP_CLOSE, payload[:2])
                self.close()
                return

    def _message(self, payload: bytes) -> None:
        if not payload.strip():
            return  # a keep-alive
        try:
            msg = parse_message(payload, self.mgr.limits)
        except SipParseError as err:
            self.mgr.on_stream_error(self, err)  # answered 400 if it can be; stays open
            return
        try:
            self.mgr.on_stream_message(self, msg)
        except Exception:
            log.exception("error handling SIP message from %s:%s", *self.remote)

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None:
            self.transport.write(encode_frame(opcode, payload))

    def write(self, data: bytes, on_error: ErrorCallback | None = None) -> None:
        if not self._upgraded or self.transport is None:
            if on_error is not None:
                on_error()
            return
        try:
            data.decode("utf-8")
            opcode = OP_TEXT
        except UnicodeDecodeError:
            opcode = OP_BINARY
        super().write(encode_frame(opcode, data), on_error)


DatagramCallback = Callable[[LocalTransport, bytes, tuple[str, int]], None]
StreamCallback = Callable[["TcpConnection", "Message"], None]
StreamErrorCallback = Callable[["TcpConnection", SipParseError], None]


class Transports(Protocol):
    """What the engine needs from its transports (the seam ``Engine(transport_factory=)``).

    ``TransportManager`` is the real one (sockets); ``drachtio.engine.memtransport`` moves
    datagrams through an in-memory network for tests. Received messages go to the three
    callbacks the engine hands to the factory; they are attributes so a test may wrap them.
    """

    locals: list[LocalTransport]
    connections: dict[tuple[str, int], TcpConnection]
    on_datagram: DatagramCallback
    on_stream_message: StreamCallback
    on_stream_error: StreamErrorCallback

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def hostports(self) -> list[str]: ...

    def has_proto(self, proto: str) -> bool: ...

    def select(self, proto: str, dest_host: str | None = None) -> LocalTransport | None: ...

    def is_local_address(self, host: str, port: int | None, proto: str | None = None) -> bool: ...

    def send(
        self,
        local: LocalTransport,
        host: str,
        port: int,
        data: bytes,
        conn: TcpConnection | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None: ...


class TransportFactory(Protocol):
    """``factory(contacts, on_datagram=..., ...)`` -> ``Transports`` (the keywords are those of
    ``TransportManager``; an implementation may ignore the ones it has no use for)."""

    def __call__(
        self,
        contacts: list[ContactSpec],
        *,
        on_datagram: DatagramCallback,
        on_stream_message: StreamCallback,
        on_stream_error: StreamErrorCallback,
        limits: Limits | None = None,
        max_connections: int = 4096,
        idle_timeout: float = 600.0,
        udp_buffer_size: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Transports: ...


class TransportTable:
    """The listening transports and the queries on them (shared by every implementation)."""

    def __init__(self) -> None:
        self.locals: list[LocalTransport] = []
        self._by_proto: dict[str, list[LocalTransport]] = {}

    def _add_local(self, local: LocalTransport) -> None:
        self.locals.append(local)
        self._by_proto.setdefault(local.proto, []).append(local)

    def hostports(self) -> list[str]:
        return [str(lt) for lt in self.locals]

    def has_proto(self, proto: str) -> bool:
        return proto in self._by_proto

    def select(self, proto: str, dest_host: str | None = None) -> LocalTransport | None:
        """The local transport to send on for ``proto`` towards ``dest_host``."""
        cands = self._by_proto.get(proto)
        if not cands:
            return None
        if len(cands) == 1 or dest_host is None:
            return cands[0]
        loop_dest = dest_host.startswith("127.") or dest_host in ("::1", "localhost")
        for lt in cands:
            loop_local = lt.bind_host.startswith("127.") or lt.bind_host == "::1"
            if loop_local == loop_dest:
                return lt
        return cands[0]

    def is_local_address(self, host: str, port: int | None, proto: str | None = None) -> bool:
        """True if host:port is one of our SIP listening addresses (loop guard)."""
        host = host.strip("[]").lower()
        for lt in self.locals:
            if proto is not None and lt.proto != proto:
                continue
            p = port if port is not None else 5060
            if p != lt.port:
                continue
            if host in (lt.host.lower(), lt.bind_host.lower()) or host in lt.spec.dns_names:
                return True
        return False


class TransportManager(TransportTable):
    """All listening transports (real sockets) plus the TCP connection table."""

    def __init__(
        self,
        contacts: list[ContactSpec],
        *,
        on_datagram: Callable[[LocalTransport, bytes, tuple[str, int]], None],
        on_stream_message: Callable[[TcpConnection, Message], None],
        on_stream_error: Callable[[TcpConnection, SipParseError], None],
        limits: Limits | None = None,
        max_connections: int = 4096,
        idle_timeout: float = 600.0,
        udp_buffer_size: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self.contacts = contacts
        #: server side of ``tls`` transports (certificate and key); connections we open use
        #: ``client_ssl`` (no certificate check by default, as the reference)
        self.ssl_context = ssl_context
        self.client_ssl = client_ssl_context(verify=False)
        self.on_datagram = on_datagram
        self.on_stream_message = on_stream_message
        self.on_stream_error = on_stream_error
        self.limits = limits
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.udp_buffer_size = udp_buffer_size
        self.connections: dict[tuple[str, int], TcpConnection] = {}
        self._all_conns: set[TcpConnection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        try:
            for spec in self.contacts:
                await self._start_contact(loop, spec)
        except BaseException:
            await self.stop()
            raise
        if not self.locals:
            raise ValueError("no SIP transport could be started")
        self._sweeper = loop.call_later(min(30.0, self.idle_timeout), self._sweep)

    async def _start_contact(self, loop: asyncio.AbstractEventLoop, spec: ContactSpec) -> None:
        for proto in spec.transports:
            if proto not in ("udp", "tcp", "tls", "ws", "wss"):
                raise ValueError(
                    f"transport {proto!r} in contact {spec.text!r} is not supported "
                    "(the engine speaks udp, tcp, tls, ws and wss)"
                )
            if proto in ("tls", "wss") and self.ssl_context is None:
                raise ValueError(f"contact {spec.text!r}: a tls transport needs a certificate "
                                 "and key (--cert-file/--key-file, <sip><tls>)")
        streams = [p for p in spec.transports if p != "udp"]
        if len(streams) > 1:
            raise ValueError(f"contact {spec.text!r}: {' and '.join(streams)} cannot share a "
                             "port; give each its own contact (e.g. sips:host:5061;"
                             "transport=tls, sip:host:8080;transport=ws)")
        # port 0: the transports of one contact share one ephemeral port; if the port the
        # first one got is taken for the next protocol, start over with a new one
        attempts = 20 if spec.port == 0 and len(spec.transports) > 1 else 1
        for attempt in range(attempts):
            started: list[LocalTransport] = []
            try:
                port = spec.port
                for proto in spec.transports:
                    local = await self._bind(loop, spec, proto, port)
                    started.append(local)
                    port = local.port
            except OSError:
                for lt in started:
                    self._close_local(lt)
                if attempt == attempts - 1:
                    raise
                continue
            for lt in started:
                self._add_local(lt)
            return

    async def _bind(
        self, loop: asyncio.AbstractEventLoop, spec: ContactSpec, proto: str, port: int
    ) -> LocalTransport:
        bind = spec.bind_host
        if spec.external_ip:
            advertised = spec.external_ip
        elif bind in ("0.0.0.0", "::"):
            advertised = primary_ip()
        else:
            advertised = spec.host
        local = LocalTransport(proto, spec, bind, advertised)
        if proto == "udp":
            t, udp = await loop.create_datagram_endpoint(
                lambda: UdpProtocol(self, local), local_addr=(bind, port)
            )
            local.udp = udp
            local.port = t.get_extra_info("socket").getsockname()[1]
        else:
            conn_class = WsConnection if proto in ("ws", "wss") else TcpConnection
            server = await loop.create_server(
                lambda: conn_class(self, local),
                host=bind,
                port=port,
                reuse_address=True,
                backlog=1000,
                ssl=self.ssl_context if proto in ("tls", "wss") else None,
            )
            local.server = server
            local.port = server.sockets[0].getsockname()[1]
        return local

    @staticmethod
    def _close_local(local: LocalTransport) -> None:
        if local.udp is not None and local.udp.transport is not None:
            local.udp.transport.close()
        if local.server is not None:
            local.server.close()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all_conns):
            conn.close()
        for local in self.locals:
            self._close_local(local)
        for local in self.locals:
            if local.server is not None:
                try:
                    await asyncio.wait_for(local.server.wait_closed(), 1.0)
                except TimeoutError:
                    pass
        self.connections.clear()
        self._all_conns.clear()

    # sending -----------------------------------------------------------------------------
    def send_probe(self, data: bytes) -> bool:
        """Send ``data`` to our own first UDP socket (the overload monitor's probe: it queues
        behind whatever waits to be read). False when there is no UDP transport."""
        for lt in self._by_proto.get("udp", ()):
            if lt.udp is None:
                continue
            host = lt.bind_host
            if host == "0.0.0.0":
                host = "127.0.0.1"
            elif host == "::":
                host = "::1"
            lt.udp.sendto(data, host, lt.port)
            return True
        return False

    def send(
        self,
        local: LocalTransport,
        host: str,
        port: int,
        data: bytes,
        conn: TcpConnection | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """Send bytes to host:port (an IP) over ``local``'s protocol; TCP reuses connections."""
        if local.proto == "udp":
            udp = local.udp
            if udp is not None:
                try:
                    udp.sendto(data, host, port)
                except OSError:
                    if on_error is not None:
                        on_error()
            return
        if conn is None or conn.closed:
            conn = self.connections.get((host, port))
            if conn is not None and conn.local.proto != local.proto:
                conn = None
        if conn is not None and not conn.closed:
            conn.write(data, on_error)
            return
        self._connect(local, host, port, data, on_error)

    def _connect(
        self,
        local: LocalTransport,
        host: str,
        port: int,
        data: bytes,
        on_error: ErrorCallback | None,
    ) -> None:
        loop = self._loop
        assert loop is not None
        if local.proto in ("ws", "wss"):
            # WebSocket clients connect to us; a request for one that is gone cannot be sent
            log.info("no WebSocket connection to %s:%s; cannot send", host, port)
            if on_error is not None:
                loop.call_soon(on_error)
            return
        if len(self._all_conns) >= self.max_connections:
            log.warning("TCP connection limit (%d) reached; not connecting to %s:%s",
                        self.max_connections, host, port)
            if on_error is not None:
                loop.call_soon(on_error)
            return
        conn = TcpConnection(self, local)
        conn.remote = (host, port)
        conn._pending.append(data)
        if on_error is not None:
            conn._error_cbs.append(on_error)
        self.connections[(host, port)] = conn
        self._all_conns.add(conn)

        tls = self.client_ssl if local.proto == "tls" else None

        async def run() -> None:
            try:
                await loop.create_connection(lambda: conn, host, port, ssl=tls,
                                             server_hostname=host if tls is not None else None)
            except (OSError, ssl.SSLError) as exc:
                if log.isEnabledFor(logging.INFO):
                    log.info("TCP connect to %s:%s failed: %s", host, port, exc)
                conn.connection_lost(exc)

        loop.create_task(run())

    # connection table --------------------------------------------------------------------
    def _register(self, conn: TcpConnection) -> None:
        if conn not in self._all_conns and len(self._all_conns) >= self.max_connections:
            log.warning("TCP connection limit (%d) reached; refusing %s:%s",
                        self.max_connections, *conn.remote)
            conn.close()
            return
        self._all_conns.add(conn)
        self.connections[conn.remote] = conn

    def _unregister(self, conn: TcpConnection) -> None:
        self._all_conns.discard(conn)
        if self.connections.get(conn.remote) is conn:
            del self.connections[conn.remote]

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self._all_conns):
            if now - conn.last_used > self.idle_timeout:
                if log.isEnabledFor(logging.INFO):
                    log.info("closing idle TCP connection %s:%s", *conn.remote)
                conn.close()
        if self._loop is not None:
            self._sweeper = self._loop.call_later(min(30.0, self.idle_timeout), self._sweep)


def client_ssl_context(verify: bool = False) -> ssl.SSLContext:
    """For TLS connections the engine opens (to SIP peers, or to apps)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_ssl_context(cert_file: str, key_file: str, chain_file: str | None = None,
                       min_version: str = "1.2") -> ssl.SSLContext:
    """The certificate (plus optional intermediate chain) a tls transport serves."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    versions = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
    if min_version not in versions:
        raise ValueError(f"min TLS version must be one of {', '.join(versions)}, "
                         f"got {min_version!r}")
    ctx.minimum_version = versions[min_version]
    try:
        if chain_file:
            import os
            import tempfile

            with open(cert_file, "rb") as f:
                pem = f.read()
            with open(chain_file, "rb") as f:
                pem += b"\n" + f.read()
            fd, path = tempfile.mkstemp(suffix=".pem")
            try:
                os.write(fd, pem)
                os.close(fd)
                ctx.load_cert_chain(path, key_file)
            finally:
                os.unlink(path)
        else:
            ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load TLS certificate {cert_file} / key {key_file}: {exc}") \
            from None
    return ctx


def needs_resolution(host: str) -> bool:
    return not is_ip(host)
