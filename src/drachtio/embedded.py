"""Embedded mode: the SIP engine runs inside the application's process.

The application code is the same as in remote mode; only the start-up line differs::

    await srf.connect(host="127.0.0.1", port=9022, secret="cymru")      # remote engine
    await srf.start(contacts=["sip:127.0.0.1:5060;transport=udp,tcp"])  # engine in-process

(``drachtio.embedded.start(srf, contacts=...)`` is the same call as a function.)

Both modes meet at one seam: ``ControlMessage`` objects. Remote mode frames them onto a TCP
connection; here ``EmbeddedChannel`` hands the objects across in memory, no framing and no
serialising. Delivery in each direction is still asynchronous (one ``loop.call_soon`` per
burst, in order), for two reasons: the app and the engine never re-enter each other on the
same stack (an app answering inside ``on_message`` would otherwise recurse into the engine
and back without bound), and message ordering and timing stay those of remote mode, so a
test that passes in one mode means something in the other.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from drachtio.engine import AppSession, Engine, EngineConfig
from drachtio.wire.client import ServerInfo
from drachtio.wire.codec import ControlMessage

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf import Srf
    from drachtio.srf.agent import Agent

__all__ = ["DEFAULT_CONTACTS", "EmbeddedChannel", "engine_of", "start", "stop"]

log = logging.getLogger("drachtio.embedded")

DEFAULT_CONTACTS = ("sip:127.0.0.1:5060;transport=udp,tcp",)


class _Pipe:
    """One direction of the channel: a FIFO drained by a single scheduled callback.

    ``put`` never runs the receiver synchronously; a burst of messages costs one
    ``call_soon``. The receiver may put into the opposite pipe (or this one) while it runs;
    those messages go out on the next drain, after the ones already queued.
    """

    __slots__ = ("_deliver", "_loop", "_q", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[ControlMessage], None]) -> None:
        self._loop = loop
        self._q: deque[ControlMessage] = deque()
        self._scheduled = False
        self._deliver = deliver

    def put(self, msg: ControlMessage) -> None:
        self._q.append(msg)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        q = self._q
        # only what is queued now: what the receiver adds runs on the next iteration, so a
        # ping-pong between app and engine yields to the loop at every round trip
        n = len(q)
        deliver = self._deliver
        for _ in range(n):
            msg = q.popleft()
            try:
                deliver(msg)
            except Exception:
                log.exception("error delivering control message %s", msg.tokens[:3])

    def clear(self) -> None:
        self._q.clear()


class EmbeddedChannel:
    """An ``EngineChannel`` to an engine in this process (and the engine's ``AppLink``).

    ``EmbeddedChannel(engine)`` attaches to a started engine; ``open()`` makes it ready (it
    calls ``on_ready`` as a remote channel does after authenticating). With ``owns_engine``
    the engine is stopped when the channel closes (``wait_closed`` awaits that).
    """

    def __init__(self, engine: Engine, *, tags: Sequence[str] = (), name: str = "embedded",
                 owns_engine: bool = False) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"EmbeddedChannel needs an Engine, got {type(engine).__name__}")
        self.engine = engine
        self.owns_engine = owns_engine
        self.tags = list(tags)
        self._name = name
        # EngineChannel hooks, set by the framework's agent
        self.on_message: Callable[[ControlMessage], None] | None = None
        self.on_ready: Callable[[str, str, str], None] | None = None
        self.on_lost: Callable[[BaseException | None], None] | None = None
        self.info: ServerInfo | None = None
        self._session: AppSession | None = None
        self._ready = False
        self._closed = False
        self._stopping: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._to_engine: _Pipe | None = None
        self._to_app: _Pipe | None = None
        self.messages_in = 0   # engine -> app
        self.messages_out = 0  # app -> engine

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> ServerInfo:
        """Attach to the engine and report ready (``on_ready``). Call inside the loop."""
        if self._closed:
            raise ConnectionError("embedded channel was closed")
        if self._session is not None:
            raise RuntimeError("embedded channel is already open")
        if not self.engine.sip_hostports:
            raise RuntimeError("the engine is not started (await engine.start() first)")
        loop = asyncio.get_running_loop()
        self._loop = loop
        session = self.engine.attach(_EngineSide(self), name=self._name, authenticated=True)
        session.tags = list(self.tags)
        self._session = session
        self._to_engine = _Pipe(loop, self._engine_receive)
        self._to_app = _Pipe(loop, self._app_receive)
        hostports = ",".join(self.engine.sip_hostports)
        info = ServerInfo(hostports, self.engine.config.version, hostports)
        self.info = info
        self._ready = True
        if self.on_ready is not None:
            self.on_ready(info.hostports, info.version, info.local_hostports)
        return info

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def session(self) -> AppSession | None:
        """The engine's view of this app (routes, tags)."""
        return self._session

    def close(self) -> None:
        """Detach from the engine (its calls owned by this app see 481 afterwards)."""
        if self._closed:
            return
        self._closed = True
        was_ready = self._ready
        self._ready = False
        session, self._session = self._session, None
        if self._to_engine is not None:
            self._to_engine.clear()
        if session is not None and not session.closed:
            session.close()  # calls our AppLink.close -> _link_closed (already closed: no-op)
        if self._to_app is not None:
            self._to_app.clear()
        if was_ready and self.on_lost is not None:
            try:
                self.on_lost(None)
            except Exception:
                log.exception("on_lost handler raised")
        if self.owns_engine and self._loop is not None and not self._loop.is_closed():
            self._stopping = self._loop.create_task(self.engine.stop())

    async def wait_closed(self) -> None:
        """After ``close()``: wait until an owned engine has stopped."""
        if self._stopping is not None:
            await asyncio.shield(self._stopping)

    # -- EngineChannel: app -> engine --------------------------------------------------------
    def send(self, msg: ControlMessage) -> None:
        if not self._ready or self._to_engine is None:
            raise ConnectionError("not connected to the embedded engine")
        self.messages_out += 1
        self._to_engine.put(msg)

    def _engine_receive(self, msg: ControlMessage) -> None:
        session = self._session
        if session is not None:
            session.receive(msg)

    # -- AppLink: engine -> app --------------------------------------------------------------
    def _app_receive(self, msg: ControlMessage) -> None:
        cb = self.on_message
        if cb is not None and self._ready:
            cb(msg)

    def _link_send(self, msg: ControlMessage) -> None:
        pipe = self._to_app
        if pipe is not None and self._ready:
            self.messages_in += 1
            pipe.put(msg)

    def _link_close(self) -> None:
        """The engine dropped us (engine stopping, or a protocol error)."""
        if self._closed:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon(self.close)  # not on the engine's stack
        else:
            self.close()


class _EngineSide:
    """The ``AppLink`` face of an ``EmbeddedChannel``: what the engine calls.

    A separate object because the channel's own ``send``/``close`` are the app's
    (``EngineChannel``: app -> engine); the engine's ``send`` goes the other way.
    """

    __slots__ = ("_ch",)

    def __init__(self, ch: EmbeddedChannel) -> None:
        self._ch = ch

    def send(self, msg: ControlMessage) -> None:
        self._ch._link_send(msg)

    def close(self) -> None:
        self._ch._link_close()


# -----------------------------------------------------------------------------------------
# start / stop an Srf on an embedded engine


def _engine_config(contacts: Sequence[str] | str | None, engine_opts: dict[str, Any]) -> EngineConfig:
    if "config" in engine_opts:
        cfg = engine_opts.pop("config")
        if not isinstance(cfg, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, got {type(cfg).__name__}")
        if engine_opts:
            cfg = cfg.copy(**engine_opts)
        if contacts is not None:
            cfg = cfg.copy(contacts=_contact_list(contacts))
        return cfg
    engine_opts.setdefault("admin_port", None)
    return EngineConfig(contacts=_contact_list(contacts), **engine_opts)


def _contact_list(contacts: Sequence[str] | str | None) -> list[str]:
    if contacts is None:
        return list(DEFAULT_CONTACTS)
    if isinstance(contacts, str):
        contacts = [contacts]
    out = list(contacts)
    if not out or not all(isinstance(c, str) and c.strip() for c in out):
        raise ValueError(f"contacts must be a non-empty list of SIP URIs, got {contacts!r}")
    return out


async def start(
    srf: Srf,
    contacts: Sequence[str] | str | None = None,
    *,
    engine: Engine | None = None,
    **engine_opts: Any,
) -> ServerInfo:
    """Start an engine in this process and connect ``srf`` to it (embedded mode).

    ``contacts`` are the SIP addresses to listen on (default
    ``sip:127.0.0.1:5060;transport=udp,tcp``; port 0 picks a free one). Other keyword
    arguments are ``EngineConfig`` fields (``t1=``, ``cdrs=`` ...; ``admin_port=9022`` also
    opens the control port so remote apps can share the engine), or ``config=EngineConfig``.
    Pass ``engine=`` to attach to an engine that is already running (it is then not stopped
    with the app). Returns once the app's routes are in place; ``await srf.disconnect()``
    (or ``drachtio.embedded.stop(srf)``) stops the engine again.
    """
    from drachtio.srf import Srf as _Srf

    if not isinstance(srf, _Srf):
        raise TypeError(f"start() needs an Srf, got {type(srf).__name__}")
    owns = engine is None
    if engine is None:
        engine = Engine(_engine_config(contacts, dict(engine_opts)))
        await engine.start()
    elif engine_opts or contacts is not None:
        raise TypeError("pass either engine= or engine options/contacts, not both")
    channel = EmbeddedChannel(engine, tags=srf.tags, owns_engine=owns)
    agent: Agent | None = None
    try:
        agent = srf.attach(channel, server_address="embedded")
        info = channel.open()
        await srf.wait_ready(agent)
    except BaseException:
        if agent is not None:
            srf.detach(agent)
        channel.close()
        if owns:
            await engine.stop()
        raise
    log.info("embedded engine started: %s", info.hostports)
    return info


def engine_of(srf: Srf) -> Engine | None:
    """The embedded engine ``srf`` runs on (None in remote mode)."""
    for agent in srf.agents:
        ch = agent.channel
        if isinstance(ch, EmbeddedChannel):
            return ch.engine
    return None


async def stop(srf: Srf) -> None:
    """Disconnect ``srf`` and stop the engine(s) it started (same as ``srf.disconnect()``)."""
    await srf.disconnect()
