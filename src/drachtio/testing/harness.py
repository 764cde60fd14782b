"""Run an application against an in-process engine, with phones to call it.

``SipTestbed`` is what the ``sip`` pytest fixture yields: the app's ``Srf`` started in
embedded mode on a fresh engine, the engine joined to a ``FakeNetwork`` (no sockets carry
SIP), a ``VirtualClock`` on the loop, and a ``SipTrace`` of everything the engine sent and
received (printed as a ladder when a test fails)::

    async with SipTestbed(srf) as sip:
        alice = await sip.phone("alice")
        call = await alice.invite(sip.uri("bob"), sdp=OFFER)
        assert call.status == 200
        await sip.advance(3600)          # an hour passes, instantly

``network="udp"`` uses real UDP sockets on 127.0.0.1 instead (the engine's own, and one per
phone), e.g. to mix in SIPp. ``started_srf(mode)`` starts an ``Srf`` either way the
framework can run (``"embedded"`` or ``"remote"`` over the control protocol) on one engine:
the ``connected_srf`` fixture and the benchmarks use it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drachtio import embedded
from drachtio.engine import Engine, EngineConfig
from drachtio.sip.transaction import TimerConfig
from drachtio.testing.clock import VirtualClock
from drachtio.testing.ladder import render_ladder
from drachtio.testing.network import Address, FakeNetwork
from drachtio.testing.trace import SipTrace
from drachtio.testing.ua import UserAgent

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf import Srf

__all__ = ["SipTestbed", "SrfEnv", "started_srf"]

log = logging.getLogger("drachtio.testing")

MODES = ("remote", "embedded")
SECRET = "testing-secret"


class SipTestbed:
    """An app on an in-process engine plus phones; see the module docstring."""

    def __init__(
        self,
        srf: Srf | None = None,
        *,
        network: str = "fake",
        virtual_clock: bool | None = None,
        contact: str = "sip:127.0.0.1:0;transport=udp",
        **engine_opts: Any,
    ) -> None:
        if network not in ("fake", "udp"):
            raise ValueError(f"network must be 'fake' or 'udp', got {network!r}")
        if srf is None:
            from drachtio.srf import Srf as _Srf

            srf = _Srf()
        self.srf = srf
        self.network_kind = network
        self._want_clock = virtual_clock
        self._contact = contact
        engine_opts.setdefault("admin_port", None)
        self._engine_opts = engine_opts
        self.engine: Engine | None = None
        self.net: FakeNetwork | None = None
        self.clock: VirtualClock | None = None
        self.trace = SipTrace()
        self.phones: list[UserAgent] = []
        self.names: dict[Address, str] = {}
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> SipTestbed:
        if self._started:
            raise RuntimeError("testbed already started")
        if self._want_clock is not False:
            try:
                self.clock = VirtualClock()
            except RuntimeError:
                if self._want_clock:  # asked for explicitly
                    raise
                log.info("no virtual clock on this loop; sip.advance() is unavailable")
            if self.clock is not None:
                self.trace = SipTrace(self.clock.time)
        cfg = EngineConfig(contacts=[self._contact], **self._engine_opts)
        if self.network_kind == "fake":
            # the engine's transports bind on the fake network itself (its transport
            # seam): no socket is opened at all
            from drachtio.engine.memtransport import memory_transports

            self.net = FakeNetwork()
            engine = Engine(cfg, transport_factory=memory_transports(self.net.bind))
        else:
            engine = Engine(cfg)
        await engine.start()
        self.engine = engine
        try:
            self.trace.attach(engine)
            await embedded.start(self.srf, engine=engine)
        except BaseException:
            await engine.stop()
            raise
        self.names[self.address] = "app"
        self._started = True
        return self

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for ua in self.phones:
            ua.close()
        with contextlib.suppress(Exception):
            await self.srf.disconnect()
        if self.engine is not None:
            await self.engine.stop()
        if self.net is not None:
            self.net.close()

    async def __aenter__(self) -> SipTestbed:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def address(self) -> Address:
        """The engine's SIP address (host, port)."""
        assert self.engine is not None and self.engine.transports is not None, \
            "testbed not started"
        for lt in self.engine.transports.locals:
            if lt.proto == "udp":
                return lt.host, lt.port
        raise RuntimeError("the engine has no UDP transport")

    @property
    def hostport(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def uri(self, user: str = "app") -> str:
        """``sip:<user>@<engine host:port>``: a Request-URI that reaches the app."""
        return f"sip:{user}@{self.hostport}"

    # -- phones ------------------------------------------------------------------------------
    async def phone(self, name: str = "alice", *, timers: TimerConfig | None = None
                    ) -> UserAgent:
        """A user agent whose out-of-dialog requests go to the app's engine."""
        if self.net is not None:
            ua = UserAgent.on_network(self.net, name, proxy=self.address, timers=timers)
        else:
            ua = await UserAgent.udp(name, proxy=self.address, timers=timers)
        self.phones.append(ua)
        self.names[ua.address] = name
        return ua

    # -- time --------------------------------------------------------------------------------
    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of (virtual) time pass, firing every timer on the way."""
        if self.clock is None:
            raise RuntimeError("this testbed has no virtual clock (virtual_clock=False, or "
                               "the loop is uvloop, whose time cannot be replaced)")
        await self.clock.advance(seconds)

    async def settle(self) -> None:
        """Run the loop until nothing is ready (messages in flight are delivered)."""
        if self.clock is not None:
            await self.clock.settle()
        else:
            import asyncio

            for _ in range(20):
                await asyncio.sleep(0)

    # -- output ------------------------------------------------------------------------------
    def ladder(self, call_id: str | None = None, *, color: bool = False) -> str:
        """The SIP messages so far (of one Call-ID) as a ladder diagram."""
        entries = self.trace.for_call(call_id) if call_id else self.trace.unique()
        return render_ladder(entries, self.names, color=color)


# -------------------------------------------------------------------------------------------
# An Srf started either way, for tests run in both modes


@dataclass
class SrfEnv:
    """What ``started_srf`` yields."""

    mode: str
    srf: Srf
    engine: Engine

    @property
    def sip_port(self) -> int:
        return self.engine.sip_port("udp")

    @property
    def sip_address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"


@contextlib.asynccontextmanager
async def started_srf(
    mode: str,
    srf: Srf | None = None,
    *,
    contacts: list[str] | None = None,
    **engine_opts: Any,
) -> AsyncIterator[SrfEnv]:
    """An engine in this process (real sockets on 127.0.0.1) with ``srf`` on it.

    ``mode="remote"``: the engine opens its control port and ``srf.connect()``s to it over
    TCP, framing and all; ``mode="embedded"``: ``srf`` is attached in-process. Either way the
    test code that follows is the same.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if srf is None:
        from drachtio.srf import Srf as _Srf

        srf = _Srf()
    cfg_opts = dict(engine_opts)
    if mode == "remote":
        cfg_opts.setdefault("admin_port", 0)
        cfg_opts.setdefault("secret", SECRET)
    else:
        cfg_opts.setdefault("admin_port", None)
    cfg = EngineConfig(contacts=contacts or ["sip:127.0.0.1:0;transport=udp,tcp"], **cfg_opts)
    engine = Engine(cfg)
    await engine.start()
    try:
        if mode == "remote":
            from drachtio.wire.client import ReconnectPolicy

            assert engine.admin_port is not None
            await srf.connect(host=cfg.admin_host, port=engine.admin_port, secret=cfg.secret,
                              reconnect=ReconnectPolicy(initial=0.05, max_delay=0.5,
                                                        max_attempts=3),
                              connect_timeout=5.0)
        else:
            await embedded.start(srf, engine=engine)
        yield SrfEnv(mode, srf, engine)
    finally:
        with contextlib.suppress(Exception):
            await srf.disconnect()
        await engine.stop()
