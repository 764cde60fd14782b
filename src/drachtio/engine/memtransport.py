"""In-memory SIP transports: the engine's datagrams go through a test network, no sockets.

``Engine(cfg, transport_factory=memory_transports(net.bind))`` gives the engine transports
that bind its contact addresses on an in-memory network instead of the OS. ``bind`` is the
network's only entry point: ``bind((host, port), receiver) -> endpoint`` with
``receiver(data, src)`` called for what arrives and ``endpoint.sendto(data, dst)`` /
``endpoint.address`` / ``endpoint.close()`` (``drachtio.testing.FakeNetwork.bind`` has exactly
this shape; port 0 lets the network pick one).

Every message travels as one datagram. A contact's transports (``udp,tcp``) share one
address: each is advertised and can be selected (``;transport=tcp`` works), what arrives is
handled as received on the contact's first transport, and no connections exist.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any, Protocol

from drachtio.engine.config import ContactSpec, is_ip
from drachtio.engine.transport import (
    DatagramCallback,
    ErrorCallback,
    LocalTransport,
    StreamCallback,
    StreamErrorCallback,
    TcpConnection,
    TransportFactory,
    TransportTable,
)
from drachtio.sip import Limits

__all__ = ["MemoryTransports", "memory_transports"]

log = logging.getLogger("drachtio.engine")

Address = tuple[str, int]


class Endpoint(Protocol):
    address: Address

    def sendto(self, data: bytes, dst: Address) -> None: ...

    def close(self) -> None: ...


Bind = Callable[[Address, Callable[[bytes, Address], None]], Endpoint]


class MemoryTransports(TransportTable):
    """``Transports`` over an in-memory datagram network (see the module docstring)."""

    def __init__(
        self,
        contacts: list[ContactSpec],
        *,
        bind: Bind,
        on_datagram: DatagramCallback,
        on_stream_message: StreamCallback,
        on_stream_error: StreamErrorCallback,
        **_ignored: Any,
    ) -> None:
        super().__init__()
        self.contacts = contacts
        self._bind = bind
        self.on_datagram = on_datagram
        self.on_stream_message = on_stream_message
        self.on_stream_error = on_stream_error
        self.connections: dict[tuple[str, int], TcpConnection] = {}
        self._endpoints: dict[Address, Endpoint] = {}

    async def start(self) -> None:
        try:
            for spec in self.contacts:
                self._start_contact(spec)
        except BaseException:
            await self.stop()
            raise
        if not self.locals:
            raise ValueError("no SIP transport could be started")

    def _start_contact(self, spec: ContactSpec) -> None:
        host = spec.external_ip or spec.bind_host
        if host in ("0.0.0.0", "::") or not is_ip(host):
            host = "127.0.0.1"
        first: list[LocalTransport] = []

        def receive(data: bytes, src: Address) -> None:
            # looked up per packet: a test may wrap on_datagram after start()
            try:
                self.on_datagram(first[0], data, (src[0], int(src[1])))
            except Exception:
                log.exception("error handling datagram from %s:%s", src[0], src[1])

        ep = self._bind((host, spec.port), receive)
        addr = (ep.address[0], int(ep.address[1]))
        self._endpoints[addr] = ep
        for proto in spec.transports:
            local = LocalTransport(proto, spec, host, addr[0])
            local.port = addr[1]
            first.append(local)
            self._add_local(local)

    async def stop(self) -> None:
        for ep in list(self._endpoints.values()):
            try:
                ep.close()
            except Exception:
                log.debug("closing an in-memory endpoint failed", exc_info=True)
        self._endpoints.clear()

    def send(
        self,
        local: LocalTransport,
        host: str,
        port: int,
        data: bytes,
        conn: TcpConnection | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        ep = self._endpoints.get((local.host, local.port))
        if ep is None:
            if on_error is not None:
                on_error()
            return
        ep.sendto(data, (host, port))


def memory_transports(bind: Bind) -> TransportFactory:
    """A ``transport_factory`` for ``Engine`` that binds on an in-memory network."""

    def factory(
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
    ) -> MemoryTransports:
        return MemoryTransports(contacts, bind=bind, on_datagram=on_datagram,
                                on_stream_message=on_stream_message,
                                on_stream_error=on_stream_error)

    return factory
