"""An in-memory datagram network: engines and test user agents exchange SIP with no sockets.

Addresses are ``(host, port)`` tuples as on UDP. ``FakeNetwork.send`` hands every datagram to
``route_packet`` (by default: deliver it on the next loop iteration, in order); replace the hook
to drop, delay, duplicate or reorder packets, as trio's fake network does::

    def lossy(packet):
        if packet.data.startswith(b"SIP/2.0 200") and not dropped:
            dropped.append(packet)          # lose the first 200 OK
            return
        net.deliver(packet)

    net.route_packet = lossy

An engine joins the network through its transport seam:
``Engine(cfg, transport_factory=memory_transports(net.bind))``
(``drachtio.engine.memtransport``; ``SipTestbed`` does this), so it opens no socket at all.
``attach_engine(engine)`` is the older way for an engine already started on sockets: what
it sends goes onto the network instead, and datagrams for its SIP addresses are handed to
it as if they had arrived on its UDP socket (its own socket stays bound but unused).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.engine import Engine

__all__ = ["Address", "Endpoint", "FakeNetwork", "Packet"]

log = logging.getLogger("drachtio.testing")

Address = tuple[str, int]
Receiver = Callable[[bytes, Address], None]


@dataclass(slots=True)
class Packet:
    """One datagram in flight."""

    src: Address
    dst: Address
    data: bytes
    #: loop time when it was sent
    sent_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


class Endpoint:
    """A bound address on the network (a test UA's "socket")."""

    __slots__ = ("address", "closed", "net", "receiver")

    def __init__(self, net: FakeNetwork, address: Address, receiver: Receiver) -> None:
        self.net = net
        self.address = address
        self.receiver = receiver
        self.closed = False

    def sendto(self, data: bytes, dst: Address) -> None:
        if not self.closed:
            self.net.send(self.address, dst, data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.net._unbind(self)


class FakeNetwork:
    """Datagram routing between in-process endpoints. Create inside the running loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self._endpoints: dict[Address, Endpoint] = {}
        #: the delivery hook: ``route_packet(packet)``; default ``self.deliver(packet)``
        self.route_packet: Callable[[Packet], None] = self.deliver
        #: every packet sent (in order), for assertions; ``None`` to stop recording
        self.log: list[Packet] | None = []
        #: packets that found no endpoint
        self.undeliverable: list[Packet] = []
        self._engines: list[Any] = []
        self._next_host = 10

    # -- endpoints ---------------------------------------------------------------------------
    def bind(self, address: Address, receiver: Receiver) -> Endpoint:
        """Bind ``address``; ``receiver(data, src)`` gets what is sent to it."""
        host, port = address
        if not isinstance(host, str) or not isinstance(port, int):
            raise TypeError(f"address must be (host: str, port: int), got {address!r}")
        if port == 0:
            port = self._free_port(host)
        addr = (host, port)
        if addr in self._endpoints:
            raise OSError(f"address {host}:{port} is already bound on the fake network")
        ep = Endpoint(self, addr, receiver)
        self._endpoints[addr] = ep
        return ep

    def new_host(self) -> str:
        """A fresh loopback address for a new party (127.0.0.10, 127.0.0.11, ...)."""
        while True:
            n = self._next_host
            self._next_host += 1
            if n % 256 in (0, 255):
                continue
            host = f"127.0.{n // 256}.{n % 256}"
            if not any(a[0] == host for a in self._endpoints):
                return host

    def _free_port(self, host: str) -> int:
        port = 5060
        while (host, port) in self._endpoints:
            port += 2
        return port

    def _unbind(self, ep: Endpoint) -> None:
        if self._endpoints.get(ep.address) is ep:
            del self._endpoints[ep.address]

    # -- moving packets ----------------------------------------------------------------------
    def send(self, src: Address, dst: Address, data: bytes) -> None:
        packet = Packet(src, (dst[0], int(dst[1])), bytes(data), self.loop.time())
        if self.log is not None:
            self.log.append(packet)
        try:
            self.route_packet(packet)
        except Exception:
            log.exception("route_packet hook raised; packet dropped")

    def deliver(self, packet: Packet, delay: float = 0.0) -> None:
        """Deliver ``packet`` after ``delay`` seconds (0: on the next loop iteration)."""
        if delay > 0:
            self.loop.call_later(delay, self._arrive, packet)
        else:
            self.loop.call_soon(self._arrive, packet)

    def _arrive(self, packet: Packet) -> None:
        ep = self._endpoints.get(packet.dst)
        if ep is None or ep.closed:
            self.undeliverable.append(packet)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("fake network: nobody at %s:%s", *packet.dst)
            return
        try:
            ep.receiver(packet.data, packet.src)
        except Exception:
            log.exception("error receiving a datagram at %s:%s", *packet.dst)

    # -- engines -----------------------------------------------------------------------------
    def attach_engine(self, engine: Engine) -> list[Address]:
        """Route a started engine's SIP traffic through this network; returns its addresses."""
        tm = engine.transports
        if tm is None:
            raise RuntimeError("attach_engine() needs a started engine")
        real_send = tm.send

        def send(local: Any, host: str, port: int, data: bytes, conn: Any = None,
                 on_error: Callable[[], None] | None = None) -> None:
            self.send((local.host, local.port), (host, port), data)

        tm.send = send  # type: ignore[method-assign]
        addrs: list[Address] = []
        for local in tm.locals:
            addr = (local.host, local.port)
            if addr in self._endpoints:
                continue

            def receive(data: bytes, src: Address, local: Any = local) -> None:
                # looked up on each packet: a trace may wrap on_datagram after us
                tm.on_datagram(local, data, src)

            self.bind(addr, receive)
            addrs.append(addr)
        self._engines.append((engine, tm, real_send))
        return addrs

    def detach_engines(self) -> None:
        for _engine, tm, _real_send in self._engines:
            try:
                del tm.send  # the instance attribute we set; the class method shows again
            except AttributeError:
                pass
        self._engines.clear()

    def close(self) -> None:
        self.detach_engines()
        for ep in list(self._endpoints.values()):
            ep.close()
