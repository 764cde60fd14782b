"""The engine: transports, transactions, dialogs and apps wired together.

Data flow: a transport hands a parsed message to ``_on_message``; requests find (or create)
their server transaction, responses their client transaction (``drachtio.sip.transaction``
machines, driven by one ``TimerHeap``); what an app must see leaves as a control message on
the owning ``AppSession``. App commands arrive through ``ControlHandler`` and end up in the
``app_*`` methods here (and in ``ProxyCore`` for ``proxy``).

Everything that can be answered without an app is answered here: 100 Trying, 503 when no
app routed the method, CANCEL (200 + 487), ACK for non-2xx, 481 for unknown dialogs, 400 for
malformed requests, 2xx retransmission until ACK (and BYE on ACK timeout).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import re
import socket
import ssl
from collections import deque
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

from drachtio.engine import frames
from drachtio.engine.appmsg import AppSip
from drachtio.engine.apps import AppLink, AppSession, RouteTable
from drachtio.engine.build import (
    BuildError,
    build_in_dialog_request,
    build_new_request,
    build_response,
    has_option,
)
from drachtio.engine.config import ContactSpec, EngineConfig, is_ip
from drachtio.engine.control import ControlHandler
from drachtio.engine.controlserver import start_control_server
from drachtio.engine.ids import new_branch, new_id, new_tag
from drachtio.engine.msgutil import stamp_via, stateless_response
from drachtio.engine.outbound import OutboundRouter
from drachtio.engine.overload import LoadMonitor
from drachtio.engine.records import ClientTxn, Dest, DialogRec, ServerTxn
from drachtio.engine.resolver import Hop, SipResolver
from drachtio.engine.timers import TimerHeap
from drachtio.engine.transport import (
    LocalTransport,
    Source,
    TcpConnection,
    TransportFactory,
    TransportManager,
    Transports,
    server_ssl_context,
)
from drachtio.sip import (
    Limits,
    Message,
    NameAddr,
    Request,
    Response,
    SipParseError,
    SipURI,
    parse_message,
)
from drachtio.sip.dialog import Dialog, DialogState, dialog_id
from drachtio.sip.transaction import (
    Ack2xxWaiter,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    DeliverRequest,
    DeliverResponse,
    SendBye,
    SendMessage,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TimerConfig,
    TransactionKey,
    TransactionState,
    TransactionStateError,
    TransactionTerminated,
    TransactionTimeout,
    TransportError,
    cancelled_transaction_key,
    make_cancel,
    transaction_key_for_request,
    transaction_key_for_response,
)

__all__ = ["Engine", "EngineConfig"]

log = logging.getLogger("drachtio.engine")

_S = TransactionState
#: a URI scheme (``host:5080`` is not one: a port follows the colon)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?!\d)")
#: in-dialog requests whose every header is checked (target refreshes carry a Contact and
#: usually a body); for the others (BYE, INFO, PRACK...) the core headers parsed on arrival
#: are all the engine needs, and the full check costs ~10 us per message
_VALIDATE_IN_DIALOG = frozenset({"INVITE", "UPDATE", "NOTIFY", "REFER", "SUBSCRIBE"})
_ROUTED_WITH_TO_TAG = frozenset(
    {"OPTIONS", "INFO", "NOTIFY", "MESSAGE", "PUBLISH", "SUBSCRIBE", "REGISTER"}
)
REASON_CANCEL_AFTER_200 = 'SIP ;cause=200 ;text="CANCEL after 200 OK"'
REASON_CANCEL_RACE = 'SIP ;cause=200 ;text="ACK-BYE due to cancel race condition"'

#: ``fn(direction, proto, local, remote, data)``: one SIP message crossing a transport
TraceHook = Callable[[str, str, tuple[str, int], tuple[str, int], bytes], None]


class _Residue:
    """What is left of a finished server transaction while it absorbs retransmissions: the
    bytes of its final response (None: absorb silently) and where they go. Keeps ~1 KB
    instead of the parsed request and response for 64*T1 (the difference is ~10 KB per
    call), in one object the collector tracks: no timer, closure or ``Dest`` of its own
    (residues all live equally long, so they expire from a FIFO)."""

    __slots__ = ("conn", "data", "expires", "host", "key", "local", "port")

    def __init__(self, key: TransactionKey, data: bytes | None, dest: Dest,
                 expires: float) -> None:
        self.key = key
        self.data = data
        self.local = dest.local
        self.host = dest.host
        self.port = dest.port
        self.conn = dest.conn
        self.expires = expires


class DestError(ValueError):
    """No way to send: the text is the NOK reason."""


class NameHop(DestError):
    """An in-dialog next hop that is a DNS name not resolved yet (see _with_dialog_dest)."""

    def __init__(self, uri: str, host: str) -> None:
        super().__init__(f"cannot send in-dialog request to unresolved host {host}")
        self.uri = uri


class Engine:
    """A drachtio-compatible SIP server: ``await Engine(cfg).start()``."""

    def __init__(self, config: EngineConfig | None = None, *,
                 transport_factory: TransportFactory | None = None) -> None:
        """``transport_factory`` replaces the socket transports (``TransportManager``), e.g.
        with ``drachtio.engine.memtransport.memory_transports(net.bind)`` in tests."""
        cfg = config if config is not None else EngineConfig()
        if not isinstance(cfg, EngineConfig):
            raise TypeError(f"Engine() takes an EngineConfig, got {type(cfg).__name__}")
        if transport_factory is not None and not callable(transport_factory):
            raise TypeError("transport_factory must be callable (contacts, **callbacks) -> "
                            f"transports, got {type(transport_factory).__name__}")
        self.config = cfg
        self.transport_factory: TransportFactory = (
            transport_factory if transport_factory is not None else TransportManager)
        self._tracers: list[TraceHook] = []
        t1x64 = cfg.t1x64
        self.timer_config = TimerConfig(
            t1=cfg.t1, t2=max(cfg.t2, cfg.t1), t4=cfg.t4, t1x64=cfg.timer_h,
            d=min(32.0, t1x64),
        )
        self.limits = Limits(max_message_size=cfg.max_message_size)
        self.routes = RouteTable()
        self.sessions: set[AppSession] = set()
        self.control = ControlHandler(self)
        self.server_txns: dict[TransactionKey, ServerTxn] = {}
        self.residues: dict[TransactionKey, _Residue] = {}
        self._residue_fifo: deque[_Residue] = deque()
        #: (user, host) of Contacts registered/subscribed over TCP -> (connection, expiry):
        #: requests to them reuse that connection (wire-protocol.md 5.8)
        self.bindings: dict[tuple[str, str], tuple[TcpConnection, float]] = {}
        self.pending_app: dict[str, ServerTxn] = {}
        #: requests handed to apps that have no answer from them yet (overload measure)
        self.unanswered: dict[str, ServerTxn] = {}
        self.monitor: LoadMonitor | None = None
        self.client_txns: dict[TransactionKey, ClientTxn] = {}
        self.client_by_id: dict[str, ClientTxn] = {}
        self.uac_outcome: dict[str, ClientTxn] = {}  # dialog id -> INVITE txn with its final
        self.dialogs_by_id: dict[str, DialogRec] = {}
        self.dialogs_by_tags: dict[tuple[str, str, str], DialogRec] = {}
        self.dialogs_by_call: dict[str, list[DialogRec]] = {}
        #: UAS INVITEs that sent a 1xx with a To tag: (Call-ID, our tag) -> transaction, so an
        #: in-dialog request in the early dialog (UPDATE, INFO, PRACK...) finds it
        self.early_uas: dict[tuple[str, str], ServerTxn] = {}
        #: app INVITEs that got a 1xx with a To tag and no final response yet:
        #: (Call-ID, our From tag) -> transaction, so the callee's UPDATE/INFO... in the early
        #: dialog reaches the app (the dialog is made on first use, as for ``early_uas``)
        self.early_uac: dict[tuple[str, str], ClientTxn] = {}
        #: requests without To tag in progress, by (From tag, Call-ID, CSeq, method) -> key,
        #: to spot merged requests (RFC 3261 8.2.2.2: 482)
        self.merged: dict[tuple[str, str, int, str], TransactionKey] = {}
        self.transports: Transports | None = None
        self._resolver: SipResolver | None = None
        self.timers: TimerHeap | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._admin: asyncio.Server | None = None
        self._admin_port: int | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._started = False
        self._shed_headers: list[tuple[str, str]] = []
        self._max_pending = 0
        self.stats: dict[str, int] = {
            "requests_in": 0, "responses_in": 0, "bad_messages": 0, "app_connections": 0,
            "shed": 0,
        }
        from drachtio.engine.proxy import ProxyCore
        from drachtio.engine.sessiontimer import SessionTimers

        self.proxy = ProxyCore(self)
        self.session_timers = SessionTimers(self)
        self.outbound: OutboundRouter | None = (
            OutboundRouter(self) if cfg.request_handlers else None)
        self._min_se = str(cfg.min_se)

    # ---------------------------------------------------------------------------------------
    # lifecycle

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("engine already started")
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.timers = TimerHeap(loop)
        contacts = self.config.contact_list()
        tm = self.transport_factory(
            contacts,
            on_datagram=self._on_datagram,
            on_stream_message=self._on_stream_message,
            on_stream_error=self._on_stream_error,
            limits=self.limits,
            max_connections=self.config.max_tcp_connections,
            idle_timeout=self.config.tcp_idle_timeout,
            udp_buffer_size=self.config.udp_buffer_size,
            ssl_context=self._server_ssl(contacts),
        )
        await tm.start()
        self.transports = tm
        if self.config.admin_port is not None:
            try:
                self._admin = await start_control_server(
                    self, self.config.admin_host, self.config.admin_port
                )
            except BaseException:
                await tm.stop()
                raise
            self._admin_port = self._admin.sockets[0].getsockname()[1]
        if self.config.overload_delay is not None:
            self.monitor = LoadMonitor(loop, self.config.overload_delay,
                                       send_probe=getattr(tm, "send_probe", None))
        self._shed_headers = [("Retry-After", str(self.config.overload_retry_after))]
        self._max_pending = self.config.overload_max_pending or 0
        self._started = True
        self._sweeper = loop.call_later(1.0, self._sweep)
        log.info("drachtio engine started: sip %s; admin %s", " ".join(self.sip_hostports),
                 f"tcp {self.config.admin_host}:{self._admin_port}" if self._admin else "none")

    def _server_ssl(self, contacts: list[ContactSpec]) -> ssl.SSLContext | None:
        """The TLS server context, when a contact has a tls or wss transport."""
        cfg = self.config
        if not any(p in ("tls", "wss") for c in contacts for p in c.transports):
            return None
        if not cfg.tls_cert_file or not cfg.tls_key_file:
            raise ValueError("a tls or wss contact needs a certificate and its key "
                             "(EngineConfig.tls_cert_file/tls_key_file, --cert-file/--key-file)")
        return server_ssl_context(cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_chain_file,
                                  cfg.tls_min_version)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.monitor is not None:
            self.monitor.stop()
        if self.outbound is not None:
            self.outbound.close()
        if self._admin is not None:
            self._admin.close()
        for s in list(self.sessions):
            s.close()
        if self._admin is not None:
            try:
                await asyncio.wait_for(self._admin.wait_closed(), 1.0)
            except TimeoutError:
                pass
            self._admin = None
        if self.transports is not None:
            await self.transports.stop()
        if self.timers is not None:
            self.timers.close()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def sip_hostports(self) -> list[str]:
        return self.transports.hostports() if self.transports is not None else []

    @property
    def admin_port(self) -> int | None:
        return self._admin_port

    def sip_port(self, proto: str = "udp") -> int:
        """The actual port of the first ``proto`` transport (handy with ephemeral ports)."""
        assert self.transports is not None
        for lt in self.transports.locals:
            if lt.proto == proto:
                return lt.port
        raise ValueError(f"no {proto} transport")

    # ---------------------------------------------------------------------------------------
    # tracing

    def on_trace(self, fn: TraceHook) -> None:
        """Call ``fn(direction, proto, local, remote, data)`` for every SIP message sent
        (``"out"``) and received (``"in"``, the bytes as they arrived, before parsing).

        ``local``/``remote`` are ``(host, port)``. ``fn`` runs on the engine's stack: keep it
        quick; an exception in it is logged and ignored. Without hooks tracing costs nothing.
        """
        if not callable(fn):
            raise TypeError(f"on_trace() needs a callable, got {type(fn).__name__}")
        self._tracers.append(fn)

    def off_trace(self, fn: TraceHook) -> None:
        """Stop calling ``fn`` (no error if it was not registered)."""
        try:
            self._tracers.remove(fn)
        except ValueError:
            pass

    def _trace(self, direction: str, proto: str, local: tuple[str, int],
               remote: tuple[str, int], data: bytes) -> None:
        for fn in tuple(self._tracers):
            try:
                fn(direction, proto, local, remote, data)
            except Exception:
                log.exception("trace hook %r failed", fn)

    def _trace_out(self, dest: Dest, data: bytes) -> None:
        local = dest.local
        conn = dest.conn
        remote = conn.remote if conn is not None and not conn.closed else (dest.host, dest.port)
        self._trace("out", local.proto, (local.host, local.port), remote, data)

    # ---------------------------------------------------------------------------------------
    # apps

    def attach(self, link: AppLink, name: str = "", *, authenticated: bool = True) -> AppSession:
        """Connect an application through ``link``.

        In-process links are trusted (``authenticated=True``); the TCP control server
        attaches its connections unauthenticated, so they must send ``authenticate`` first.
        """
        session = AppSession(link, self.control._dispatch, self._app_closed, name)
        session.authenticated = authenticated
        self.sessions.add(session)
        self.stats["app_connections"] = len(self.sessions)
        return session

    def _app_closed(self, session: AppSession) -> None:
        self.sessions.discard(session)
        self.stats["app_connections"] = len(self.sessions)
        self.routes.remove_session(session)
        # requests the app never answered: answer them now rather than leave callers hanging
        for _txn_id, st in list(self.pending_app.items()):
            if st.owner is session:
                self._give_up_pending(st, 503)
        self.proxy.app_closed(session)

    def _cdr(self, kind: str, source: str, msg: Message | None, extra: str | None = None) -> None:
        """``cdr:<kind>`` to the next app that routed it; ``msg`` is frozen (or unchanged
        since it was received), so it travels as ``parsed`` too."""
        if not self.config.cdrs:
            return
        s = self.routes.pick("cdr:" + kind)
        if s is not None:
            data = msg.to_bytes() if msg is not None else b""
            s.send(frames.cdr(kind, source, data, extra, msg))

    # ---------------------------------------------------------------------------------------
    # timers and machines

    def now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    def _schedule(self, rec: Any, wake: Callable[[float], None]) -> None:
        """(Re-)arm ``rec.timer`` for ``rec.machine.next_timer()``; ``wake(now)`` then."""
        nt = rec.machine.next_timer()
        t = rec.timer
        if nt is None:
            if t is not None:
                t.cancel()
                rec.timer = None
            return
        if t is not None and t.alive:
            if t.when <= nt:
                return
            t.cancel()
        assert self.timers is not None
        rec.timer = self.timers.call_at(nt, wake)

    # server transactions ------------------------------------------------------------------

    def _run_server(self, st: ServerTxn, actions: list[Any]) -> None:
        for a in actions:
            t = type(a)
            if t is SendMessage:
                self._send(st.dest, a.msg)
            elif t is TransactionTerminated:
                self._server_done(st)
                return
            elif t is TransactionTimeout:
                if log.isEnabledFor(logging.INFO):
                    log.info("no ACK for %s final response to %s (timer H)", st.final,
                             st.request.call_id)
            elif t is TransportError:
                log.info("transport error answering %s", st.request.method)
        if st.live:
            self._schedule(st, st)

    def _wake_server(self, st: ServerTxn, now: float) -> None:
        st.timer = None
        self._run_server(st, st.machine.handle_timer(now))

    def _server_done(self, st: ServerTxn) -> None:
        self._forget_early(st)
        st.live = False
        if st.timer is not None:
            st.timer.cancel()
            st.timer = None
        if self.server_txns.get(st.key) is st:
            del self.server_txns[st.key]
        req = st.request
        if req.to.tag is None:
            mid = (req.from_.tag or "", req.call_id, req.cseq.seq, req.method)
            if self.merged.get(mid) == st.key:
                del self.merged[mid]
        if st.id:
            if self.pending_app.get(st.id) is st:
                del self.pending_app[st.id]
            self.unanswered.pop(st.id, None)

    def _new_server_txn(self, req: Request, src: Source, key: TransactionKey) -> ServerTxn:
        reliable = src.conn is not None
        if req.method == "INVITE":
            machine: Any = ServerInviteTransaction(req, reliable=reliable, timers=self.timer_config)
        else:
            machine = ServerNonInviteTransaction(req, reliable=reliable, timers=self.timer_config)
        if reliable:
            # 18.2.2: answer on the connection; should it close, connect to the Via's sent-by
            # port (the source port of a TCP connection is an ephemeral one)
            dest = Dest(src.local, src.host,
                        req.top_via.port or (5061 if src.proto == "tls" else 5060), src.conn)
        else:
            dest = Dest(src.local, src.host, src.port)
        st = ServerTxn(key, machine, req, dest, self)
        st.created = self.now()
        self.server_txns[key] = st
        if req.to.tag is None:
            self.merged.setdefault((req.from_.tag or "", req.call_id, req.cseq.seq, req.method), key)
        machine.receive(req, st.created)  # the creating request: DeliverRequest
        return st

    def _respond(self, st: ServerTxn, resp: Response) -> bytes:
        """Send ``resp`` on ``st``; returns the bytes sent. Raises TransactionStateError."""
        data = resp.freeze()
        actions = st.machine.send(resp, self.now())
        if resp.status >= 200:
            st.final = resp.status
        self._run_server(st, actions)
        if st.final and st.machine.state is _S.COMPLETED and st.request.method != "INVITE":
            self._shrink(st, data)
        return data

    def _shrink(self, st: ServerTxn, data: bytes | None) -> None:
        """Replace a finished transaction by a residue that answers its retransmissions."""
        key = st.key
        if self.server_txns.get(key) is not st:
            return
        self._server_done(st)
        res = _Residue(key, data, st.dest, self.now() + self.timer_config.timeout)
        self.residues[key] = res
        self._residue_fifo.append(res)

    def _expire_residues(self, now: float) -> None:
        fifo = self._residue_fifo
        residues = self.residues
        while fifo and fifo[0].expires <= now:
            res = fifo.popleft()
            if residues.get(res.key) is res:
                del residues[res.key]

    def _residue_hit(self, key: TransactionKey) -> bool:
        """A retransmission of a finished transaction: re-send its answer. True if handled."""
        res = self.residues.get(key)
        if res is None:
            return False
        if res.data is not None:
            self._send_bytes(Dest(res.local, res.host, res.port, res.conn), res.data)
        return True

    def _reply(self, st: ServerTxn, status: int, reason: str | None = None,
               headers: list[tuple[str, str]] | None = None) -> None:
        """An engine-generated response (no app involved) on transaction ``st``."""
        tag = None
        if status > 100 and st.request.to.tag is None:
            if st.to_tag is None:
                st.to_tag = new_tag()
            tag = st.to_tag
        resp = stateless_response(st.request, status, reason, tag, headers)
        try:
            self._respond(st, resp)
        except TransactionStateError:
            pass

    def _reply_new(self, req: Request, src: Source, status: int, reason: str | None = None,
                   headers: list[tuple[str, str]] | None = None) -> None:
        """Answer a request that has no transaction yet (creates one for retransmissions)."""
        key = transaction_key_for_request(req)
        st = self.server_txns.get(key)
        if st is None:
            if self._residue_hit(key):
                return
            st = self._new_server_txn(req, src, key)
        self._reply(st, status, reason, headers)

    # client transactions ------------------------------------------------------------------

    def _run_client(self, ct: ClientTxn, actions: list[Any]) -> None:
        for a in actions:
            t = type(a)
            if t is SendMessage:
                self._send(ct.dest, a.msg, ct.transport_error)
            elif t is DeliverResponse:
                if ct.alternates and 100 < a.msg.status < 200:
                    ct.provisional = True  # (only fail-over asks)
                try:
                    if ct.relay:
                        self._uac_response(ct, a.msg, a.retransmission)
                    elif ct.on_response is not None:
                        ct.on_response(ct, a.msg, a.retransmission)
                except Exception:
                    log.exception("error handling response %s", a.msg.status)
            elif t is TransactionTerminated:
                self._client_done(ct)
                return
            elif t is TransactionTimeout:
                if ct.on_timeout is not None:
                    ct.on_timeout(ct, a.timer)
                else:
                    self._synth_response(ct, 408, "Request Timeout")
            elif t is TransportError:
                if ct.on_error is not None:
                    ct.on_error(ct)
                else:
                    self._synth_response(ct, 503, "Service Unavailable")
        if ct.live:
            self._schedule(ct, ct)

    def _wake_client(self, ct: ClientTxn, now: float) -> None:
        ct.timer = None
        self._run_client(ct, ct.machine.handle_timer(now))

    def _client_transport_error(self, ct: ClientTxn) -> None:
        if ct.machine.terminated:
            return
        self._run_client(ct, ct.machine.transport_error(self.now()))

    def _client_done(self, ct: ClientTxn) -> None:
        ct.live = False
        if ct.timer is not None:
            ct.timer.cancel()
            ct.timer = None
        if ct.timer_c is not None:  # frees the transaction now rather than in 185 s
            ct.timer_c.cancel()
            ct.timer_c = None
        if self.client_txns.get(ct.key) is ct:
            del self.client_txns[ct.key]
        if ct.id and self.client_by_id.get(ct.id) is ct:
            del self.client_by_id[ct.id]
        if ct.early is not None:
            self._forget_early_uac(ct)

    def _start_client(
        self,
        req: Request,
        dest: Dest,
        *,
        owner: AppSession | None = None,
        on_response: Callable[[ClientTxn, Response, bool], None] | None = None,
        on_timeout: Callable[[ClientTxn, str], None] | None = None,
        on_error: Callable[[ClientTxn], None] | None = None,
        txn_id: str = "",
        relay: bool = False,
        alternates: list[Dest] | None = None,
    ) -> ClientTxn:
        """Send ``req`` in a new client transaction. ``relay``: responses go to the owning
        app (``_uac_response``); else to ``on_response``. Without ``on_timeout``/``on_error``
        a timeout or transport error becomes a local 408/503 response."""
        reliable = dest.reliable
        if req.method == "INVITE":
            machine: Any = ClientInviteTransaction(req, reliable=reliable, timers=self.timer_config)
        else:
            machine = ClientNonInviteTransaction(req, reliable=reliable, timers=self.timer_config)
        key = TransactionKey(req.top_via.branch or "", req.method)
        ct = ClientTxn(key, machine, req, dest, self)
        ct.owner = owner
        ct.relay = relay
        ct.on_response = on_response
        ct.on_timeout = on_timeout
        ct.on_error = on_error
        ct.id = txn_id
        if alternates:
            ct.alternates = alternates
        self.client_txns[key] = ct
        if txn_id:
            self.client_by_id[txn_id] = ct
        self._run_client(ct, machine.send(req, self.now()))
        return ct

    def _synth_response(self, ct: ClientTxn, status: int, reason: str) -> None:
        """A locally generated final response for a request that got none (timeout, error)."""
        if ct.final or (ct.on_response is None and not ct.relay):
            return
        if ct.alternates and not ct.provisional and self._fail_over(ct):
            return
        resp = stateless_response(ct.request, status, reason)
        ct.final = status
        try:
            if ct.relay:
                self._uac_response(ct, resp, False)
            elif ct.on_response is not None:
                ct.on_response(ct, resp, False)
        except Exception:
            log.exception("error handling synthesized %s", status)

    # ---------------------------------------------------------------------------------------
    # sending

    def _send(self, dest: Dest, msg: Message, on_error: Callable[[], None] | None = None) -> None:
        data = msg.to_bytes()
        if self._tracers:
            self._trace_out(dest, data)
        assert self.transports is not None
        self.transports.send(dest.local, dest.host, dest.port, data, dest.conn, on_error)

    def _send_bytes(self, dest: Dest, data: bytes) -> None:
        if self._tracers:
            self._trace_out(dest, data)
        assert self.transports is not None
        self.transports.send(dest.local, dest.host, dest.port, data, dest.conn, None)

    def _via_for(self, local: LocalTransport, branch: str | None = None) -> str:
        return f"SIP/2.0/{local.via_transport} {local.host}:{local.port};rport;branch={branch or new_branch()}"

    def hop_for_uri(self, uri_text: str) -> tuple[str, str, int]:
        """(proto, host, port) a URI names, defaults filled in (transport, port); a host
        name is returned as it is (``resolve_uri`` looks it up, RFC 3263)."""
        return self._with_defaults(*_uri_hop(uri_text))

    def _with_defaults(self, proto: str, host: str, port: int) -> tuple[str, str, int]:
        assert self.transports is not None
        if not proto:
            proto = "udp" if self.transports.has_proto("udp") else "tcp"
        if not self.transports.has_proto(proto):
            raise DestError("requested protocol/transport not available")
        return proto, host, port or (5061 if proto == "tls" else 5060)

    @property
    def resolver(self) -> SipResolver:
        """RFC 3263 resolution of host names (built on first use: reads resolv.conf)."""
        if self._resolver is None:
            assert self.transports is not None
            protos = [p for p in ("udp", "tcp", "tls") if self.transports.has_proto(p)]
            self._resolver = SipResolver(protos, self.config.dns_servers,
                                         timeout=self.config.dns_timeout)
        return self._resolver

    def resolve_uri(self, uri_text: str, then: Callable[[Dest], None],
                    fail: Callable[[str], None]) -> None:
        """Next hop for a URI: at once for a numeric host, else after RFC 3263 lookups
        (NAPTR, SRV, A/AAAA; ``resolver.py``). ``uri_text`` must have passed ``hop_for_uri``."""
        proto, host, port = _uri_hop(uri_text)
        if is_ip(host):
            self.resolve_dest(*self._with_defaults(proto, host, port), then, fail)
            return
        secure = proto == "tls" and uri_text.lstrip("< ").lower().startswith("sips:")
        args = (host, port or None, proto or None, secure)
        hops = self.resolver.resolve_cached(*args)
        if hops is not None:  # records cached: no task, no await
            self._use_hops(host, hops, then, fail)
            return

        async def lookup() -> None:
            try:
                found = await self.resolver.resolve(*args)
            except Exception:
                log.exception("resolving %s", host)
                found = []
            self._use_hops(host, found, then, fail)

        assert self.loop is not None
        self.loop.create_task(lookup())

    def _use_hops(self, host: str, hops: list[Hop], then: Callable[[Dest], None],
                  fail: Callable[[str], None]) -> None:
        """``then(Dest)`` for the first hop, the others (all of its transport: the resolver
        only returns hops of transports we have) as fail-over alternates (RFC 3263 4.3)."""
        assert self.transports is not None
        local = self.transports.select(hops[0].proto, hops[0].host) if hops else None
        if local is None:
            fail(f"failed to resolve {host}")
            return
        dest = Dest(local, hops[0].host, hops[0].port)
        dest.alternates = tuple(Dest(local, h.host, h.port) for h in hops[1:])
        try:
            then(dest)
        except Exception:
            log.exception("error sending to %s", host)

    def resolve_dest(
        self,
        proto: str,
        host: str,
        port: int,
        then: Callable[[Dest], None],
        fail: Callable[[str], None],
    ) -> None:
        """Call ``then(Dest)`` now for an IP, after a DNS lookup for a name."""
        assert self.transports is not None
        local = self.transports.select(proto, host)
        if local is None:
            fail("requested protocol/transport not available")
            return
        if is_ip(host):
            then(Dest(local, host, port))
            return
        loop = self.loop
        assert loop is not None

        async def lookup() -> None:
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
                v4 = [i for i in infos if i[0] == socket.AF_INET]
                ip = str((v4 or infos)[0][4][0])
            except (OSError, IndexError):
                fail(f"failed to resolve {host}")
                return
            try:
                then(Dest(local, ip, port))
            except Exception:
                log.exception("error sending to %s", host)

        loop.create_task(lookup())

    # ---------------------------------------------------------------------------------------
    # receiving from the network

    def _on_datagram(self, local: LocalTransport, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 8:
            mon = self.monitor
            if mon is not None and data == mon.probe:
                mon.probe_echo()
                return
            if not data.strip():
                return  # keep-alive
        if self._tracers:
            self._trace("in", local.proto, (local.host, local.port), addr, data)
        src = Source(local, addr[0], addr[1])
        try:
            msg = parse_message(data, self.limits)
        except SipParseError as err:
            self._bad_message(err, src)
            return
        self._on_message(msg, src)

    def _on_stream_message(self, conn: TcpConnection, msg: Message) -> None:
        src = conn.source
        assert src is not None
        if self._tracers:
            self._trace_stream_in(conn, msg)
        self._on_message(msg, src)  # type: ignore[arg-type]

    def _trace_stream_in(self, conn: TcpConnection, msg: Message) -> None:
        try:
            data = msg.to_bytes()  # unmodified yet: the bytes as framed off the stream
        except Exception:
            log.debug("cannot trace a stream message", exc_info=True)
            return
        local = conn.local
        self._trace("in", local.proto, (local.host, local.port), conn.remote, data)

    def _on_stream_error(self, conn: TcpConnection, err: SipParseError) -> None:
        src = conn.source
        if src is not None:
            for m in getattr(err, "preceding", ()):
                try:
                    if self._tracers:
                        self._trace_stream_in(conn, m)
                    self._on_message(m, src)
                except Exception:
                    log.exception("error handling SIP message")
            self._bad_message(err, src)

    def _bad_message(self, err: SipParseError, src: Source) -> None:
        self.stats["bad_messages"] += 1
        m = err.message
        if log.isEnabledFor(logging.INFO):
            log.info("malformed SIP from %s:%s: %s", src.host, src.port, err.reason)
        if not isinstance(m, Request) or m.method == "ACK":
            return
        try:
            if not m.has("Via"):
                return
            resp = stateless_response(m, err.status or 400, err.reason, to_tag=new_tag())
            self._send(Dest(src.local, src.host, src.port, src.conn), resp)
        except Exception:
            log.debug("could not answer malformed request", exc_info=True)

    def _on_message(self, msg: Request | Response, src: Source) -> None:
        mon = self.monitor
        if mon is not None:
            mon.traffic()
        try:
            if isinstance(msg, Request):
                self.stats["requests_in"] += 1
                self._on_request(msg, src)
            else:
                self.stats["responses_in"] += 1
                self._on_response(msg, src)
        except SipParseError as err:
            if err.message is None:
                err.message = msg
            self._bad_message(err, src)
        except Exception:
            log.exception("error handling SIP message from %s:%s", src.host, src.port)

    # requests -----------------------------------------------------------------------------

    def _on_request(self, req: Request, src: Source) -> None:
        stamp_via(req, src.host, src.port)
        method = req.method
        if method == "ACK":
            self._on_ack(req, src)
            return
        if method == "CANCEL":
            self._on_cancel(req, src)
            return
        key = transaction_key_for_request(req)
        st = self.server_txns.get(key)
        if st is not None:  # retransmission
            self._run_server(st, st.machine.receive(req, self.now()))
            return
        if self.residues and self._residue_hit(key):
            return
        if req.to.tag is not None and req.has("Route") and self.proxy.is_our_route(req):
            self.proxy.in_dialog(req, src)
            return
        if req.to.tag is not None:
            self._in_dialog_request(req, src, key)
            return
        known = self.merged.get((req.from_.tag or "", req.call_id, req.cseq.seq, method))
        if known is not None and known != key:  # 8.2.2.2: same request, other branch
            st = self._new_server_txn(req, src, key)
            self._reply(st, 482, "Loop Detected")
            return
        self._new_request(req, src, key)

    def _new_request(self, req: Request, src: Source, key: TransactionKey) -> None:
        method = req.method
        scheme = req.uri.partition(":")[0].lower()
        if scheme not in ("sip", "sips", "tel"):
            st = self._new_server_txn(req, src, key)
            self._reply(st, 416, "Unsupported URI Scheme")
            return
        if method == "INVITE" and self.overloaded:
            self._shed(req, src)
            return
        try:
            req.validate()
        except SipParseError as err:
            self._bad_message(err, src)
            return
        st = self._new_server_txn(req, src, key)
        if method == "INVITE":
            self._respond(st, stateless_response(req, 100))
            if self.session_timers.too_small(req):
                self._reply(st, 422, "Session Interval Too Small", [("Min-SE", self._min_se)])
                return
            existing = self.dialogs_by_id.get(dialog_id(req.call_id, req.from_.tag or ""))
            if existing is not None and existing.dialog.is_uas and existing.dialog.confirmed \
                    and not existing.terminated:
                self._reply(st, 491, "Request Pending")
                return
            if self.config.always_send_180:
                self._reply(st, 180, "Ringing")
        elif method == "OPTIONS" and self.config.options_auto_respond is not None \
                and req.get("User-Agent") == self.config.options_auto_respond:
            self._reply(st, 200, "OK")
            return
        elif method in ("BYE", "UPDATE", "PRACK"):
            self._reply(st, 481, "Call/Transaction Does Not Exist")
            return
        if self.outbound is not None:
            handler = self.outbound.handler_for(method)
            if handler is not None:
                self.outbound.dispatch(st, src, req.freeze(), handler)
                return
        app = self.routes.pick(method.lower())
        data = req.freeze()
        if app is None:
            if method == "INVITE":
                self._cdr("attempt", "network", req)
            self._reply(st, 503, "Service Unavailable")
            if method == "INVITE":
                self._cdr("stop", "application", st.machine.last_response or req,
                          "call-rejected")
            return
        self._hand_to_app(st, app, data, src)

    @property
    def overloaded(self) -> bool:
        """True while new calls are refused (see ``overload.py``)."""
        mon = self.monitor
        return (mon is not None and mon.shedding) or (
            0 < self._max_pending < len(self.unanswered))

    def _shed(self, req: Request, src: Source) -> None:
        """Refuse a new INVITE statelessly: 503 + Retry-After, no transaction (a copy of the
        INVITE gets the same answer; its ACK matches nothing and is dropped)."""
        self.stats["shed"] += 1
        resp = stateless_response(req, 503, "Service Unavailable", new_tag(),
                                  self._shed_headers)
        self._send(Dest(src.local, src.host, src.port, src.conn), resp)

    def _hand_to_app(self, st: ServerTxn, app: AppSession, data: bytes, src: Source) -> None:
        st.owner = app
        st.id = new_id()
        st.size = len(data)
        self.pending_app[st.id] = st
        self.unanswered[st.id] = st
        app.send(frames.sip_new_request(data, src.proto, src.host, src.port, st.id,
                                        src.local.host, src.local.port, st.request))
        if st.request.method == "INVITE":
            self._cdr("attempt", "network", st.request)

    def _in_dialog_request(self, req: Request, src: Source, key: TransactionKey) -> None:
        method = req.method
        rec = self.dialogs_by_tags.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
        if rec is None and method not in ("INVITE", "CANCEL"):
            rec = self._early_uas_dialog(req) or self._early_uac_dialog(req)
        if rec is None or rec.terminated:
            if method in _ROUTED_WITH_TO_TAG:
                self._new_request(req, src, key)
                return
            st = self._new_server_txn(req, src, key)
            self._reply(st, 481, "Call/Transaction Does Not Exist")
            return
        if method in _VALIDATE_IN_DIALOG:
            try:
                req.validate()
            except SipParseError as err:
                self._bad_message(err, src)
                return
        st = self._new_server_txn(req, src, key)
        st.dialog = rec
        verdict = rec.dialog.receive_request(req)
        if verdict is not None:
            self._reply(st, verdict)
            return
        owner = rec.owner
        if owner is None or owner.closed:
            self._reply(st, 481, "Call/Transaction Does Not Exist")
            if method == "BYE":
                self._end_dialog(rec)
            return
        if method == "INVITE":
            self._respond(st, stateless_response(req, 100))
            if rec.pending_invite is not None:
                self._reply(st, 491, "Request Pending")
                return
        if method == "UPDATE":
            prev = rec.pending_update
            if prev is not None and prev.live and not prev.final:
                # RFC 3311 5.2 (and the reference): the app has not answered the last one
                self._reply(st, 500, "Server Internal Error",
                            [("Retry-After", str(random.randint(0, 10)))])
                return
            rec.pending_update = st
        if method in ("INVITE", "UPDATE") and self.session_timers.too_small(req):
            self._reply(st, 422, "Session Interval Too Small", [("Min-SE", self._min_se)])
            return
        data = req.freeze()
        st.owner = owner
        st.id = new_id()
        st.size = len(data)
        self.pending_app[st.id] = st
        self.unanswered[st.id] = st
        if method == "BYE":
            self._end_dialog(rec)
            self._cdr("stop", "network", req, "normal-release")
        elif method == "PRACK":
            self._prack_received(rec, req)
        elif method == "NOTIFY" and rec.dialog.method == "SUBSCRIBE":
            state = (req.get("Subscription-State") or "").strip().lower()
            if state.startswith("terminated"):
                self._end_dialog(rec)
        owner.send(frames.sip_in_dialog(data, "network", src.proto, src.host, src.port,
                                        st.id, rec.id, req))

    def _on_ack(self, req: Request, src: Source) -> None:
        key = transaction_key_for_request(req)
        st = self.server_txns.get(key)
        if st is not None and st.machine.state in (_S.COMPLETED, _S.CONFIRMED):
            self._run_server(st, st.machine.receive(req, self.now()))
            return
        if key in self.residues:
            return  # a copy of an ACK for a transaction already finished
        rec = self.dialogs_by_tags.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
        if rec is None:
            if req.has("Route") and self.proxy.is_our_route(req):
                self.proxy.in_dialog(req, src)
            return
        waiter = rec.ack_waiter
        if waiter is None:
            return  # a retransmitted ACK, or one for a 2xx we no longer wait on
        actions = waiter.receive(req, self.now())
        self._run_waiter(rec, actions, ack_src=src)

    def _on_cancel(self, req: Request, src: Source) -> None:
        key = transaction_key_for_request(req)
        st = self.server_txns.get(key)
        if st is not None:
            self._run_server(st, st.machine.receive(req, self.now()))
            return
        if self.residues and self._residue_hit(key):
            return
        ikey = cancelled_transaction_key(req)
        inv = self.server_txns.get(ikey)
        cst = self._new_server_txn(req, src, key)
        if inv is None and ikey in self.residues:  # the INVITE was answered and ACKed
            self._reply(cst, 481, "Call/Transaction Does Not Exist")
            return
        if inv is None:
            if self.proxy.cancel_unknown(req, cst):
                return
            self._reply(cst, 481, "Call/Transaction Does Not Exist")
            return
        if inv.proxy is not None:
            if inv.to_tag is None:
                inv.to_tag = new_tag()
            cst.to_tag = inv.to_tag
            self._reply(cst, 200, "OK")
            self.proxy.cancel(inv, req)
            return
        if inv.final == 0:
            if inv.to_tag is None:
                inv.to_tag = new_tag()
            cst.to_tag = inv.to_tag
            self._reply(cst, 200, "OK")
            self._reply(inv, 487, "Request Terminated")
            self.pending_app.pop(inv.id, None)
            self.unanswered.pop(inv.id, None)
            self._drop_rel(inv)
            did = dialog_id(req.call_id, req.from_.tag or "")
            early = self.dialogs_by_tags.get((req.call_id, inv.to_tag, req.from_.tag or ""))
            if early is not None:
                self._end_dialog(early)
            data = req.freeze()
            if inv.owner is not None and not inv.owner.closed:
                inv.owner.send(frames.sip_in_dialog(data, "network", src.proto, src.host,
                                                    src.port, inv.id, did, req))
            self._cdr("stop", "network", req, "call-canceled")
            return
        if 200 <= inv.final < 300:
            # the reference answers 481 and hangs the call up
            self._reply(cst, 481, "Call/Transaction Does Not Exist")
            rec = self.dialogs_by_tags.get((req.call_id, inv.to_tag or "", req.from_.tag or ""))
            if rec is not None and not rec.terminated:
                self._system_bye(rec, REASON_CANCEL_AFTER_200)
            return
        self._reply(cst, 200, "OK")

    # responses ----------------------------------------------------------------------------

    def _on_response(self, resp: Response, src: Source) -> None:
        key = transaction_key_for_response(resp)
        ct = self.client_txns.get(key)
        if ct is not None:
            self._run_client(ct, ct.machine.receive(resp, self.now()))
            return
        if resp.cseq.method == "INVITE" and 200 <= resp.status < 300:
            # a 2xx retransmission after the INVITE transaction ended: re-send our ACK
            rec = self.dialogs_by_tags.get((resp.call_id, resp.from_.tag or "", resp.to.tag or ""))
            if rec is not None and rec.ack is not None and rec.ack_dest is not None:
                self._send(rec.ack_dest, rec.ack)
                return
            if self.proxy.stray_2xx(resp, src):
                return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("dropping stray response %s %s", resp.status, resp.cseq)

    # ---------------------------------------------------------------------------------------
    # dialogs

    def _add_dialog(self, rec: DialogRec) -> None:
        old = self.dialogs_by_tags.get(rec.tags)
        if old is not rec:
            self.dialogs_by_tags[rec.tags] = rec
            same = self.dialogs_by_call.setdefault(rec.dialog.call_id, [])
            if old is not None and old in same:
                same.remove(old)
            same.append(rec)
        cur = self.dialogs_by_id.get(rec.id)
        if cur is None or cur.terminated or not cur.dialog.confirmed or rec.dialog.confirmed:
            self.dialogs_by_id[rec.id] = rec

    def _end_dialog(self, rec: DialogRec) -> None:
        if rec.terminated:
            return
        rec.terminated = True
        rec.dialog.terminate()
        if self.dialogs_by_tags.get(rec.tags) is rec:
            del self.dialogs_by_tags[rec.tags]
        same = self.dialogs_by_call.get(rec.dialog.call_id)
        if same is not None:
            if rec in same:
                same.remove(rec)
            if not same:
                del self.dialogs_by_call[rec.dialog.call_id]
        if self.dialogs_by_id.get(rec.id) is rec:
            del self.dialogs_by_id[rec.id]
            for other in same or ():  # another fork with the same id
                if other.id == rec.id and not other.terminated:
                    self.dialogs_by_id[rec.id] = other
                    break
        self._stop_waiter(rec)
        self.session_timers.stop(rec)
        for rel in list(rec.rel_pending.values()):
            rel.stop()
        rec.rel_pending.clear()
        # what only a live dialog needs: our ACK (re-sent on 2xx retransmissions, found
        # through the dialog table it just left) and the INVITE transaction that waits
        # 64*T1 in Accepted for them (RFC 6026) - freed now rather than 32 s later
        rec.ack = rec.ack_dest = None
        rec.pending_update = None
        ct = rec.uac_invite
        if ct is not None:
            rec.uac_invite = None
            if ct.live and ct.machine.state is _S.ACCEPTED and not any(
                    r.uac_invite is ct for r in self.dialogs_by_call.get(rec.dialog.call_id, ())):
                self._client_done(ct)

    def get_dialog(self, did: str) -> DialogRec | None:
        rec = self.dialogs_by_id.get(did)
        if rec is None or rec.terminated:
            return None
        return rec

    def _dialog_dest(self, rec: DialogRec) -> Dest:
        """Next hop for a request in ``rec``: a pinned hop (NAT, TCP) or the route/target."""
        if rec.dest is not None:
            conn = rec.dest.conn
            if conn is None or not conn.closed:
                return rec.dest
        uri, routes = rec.dialog.request_target()
        if not routes:
            bound = self._bound_dest(uri)
            if bound is not None:
                return bound
        hop_uri = routes[0] if routes else uri
        proto, host, port = self.hop_for_uri(hop_uri)
        if not is_ip(host):
            resolved = rec.resolved
            if resolved is not None and resolved[0] == hop_uri:
                return resolved[1]
            raise NameHop(hop_uri, host)
        assert self.transports is not None
        local = self.transports.select(proto, host)
        if local is None:
            raise DestError("requested protocol/transport not available")
        return Dest(local, host, port)

    def _with_dialog_dest(self, rec: DialogRec, go: Callable[[Dest], None],
                          fail: Callable[[str], None]) -> None:
        """``go(next hop)`` for a request in ``rec``: at once, or after resolving a DNS name
        (a Record-Route or Contact with a host name). Requests that wait on the same lookup
        go out in the order they came."""
        if rec.resolving is not None:
            rec.resolving.append((go, fail))
            return
        try:
            dest = self._dialog_dest(rec)
        except NameHop as need:
            hop_uri = need.uri
            rec.resolving = [(go, fail)]

            def done(dest: Dest) -> None:
                rec.resolved = (hop_uri, dest)
                waiting, rec.resolving = rec.resolving or [], None
                for g, _ in waiting:
                    g(dest)

            def failed(reason: str) -> None:
                waiting, rec.resolving = rec.resolving or [], None
                for _, f in waiting:
                    f(reason)

            self.resolve_uri(hop_uri, done, failed)
            return
        except DestError as exc:
            fail(str(exc))
            return
        go(dest)

    # 2xx retransmission until ACK (UAS) -----------------------------------------------------

    def _start_waiter(self, rec: DialogRec, st: ServerTxn, resp: Response) -> None:
        self._stop_waiter(rec)
        waiter = Ack2xxWaiter(resp, reliable=st.dest.reliable, timers=self.timer_config)
        rec.ack_waiter = waiter
        rec.ack_waiter_dest = st.dest
        rec.invite_txn_id = st.id
        rec.invite_st = st
        self._run_waiter(rec, waiter.start(self.now()))

    def _stop_waiter(self, rec: DialogRec) -> None:
        rec.invite_st = None
        w = rec.ack_waiter
        if w is not None:
            w.stop()
            rec.ack_waiter = None
        if rec.ack_waiter_timer is not None:
            rec.ack_waiter_timer.cancel()
            rec.ack_waiter_timer = None

    def _run_waiter(self, rec: DialogRec, actions: list[Any], ack_src: Source | None = None) -> None:
        w = rec.ack_waiter
        if w is None:
            return
        for a in actions:
            t = type(a)
            if t is SendMessage:
                dest = rec.ack_waiter_dest
                if dest is not None:
                    self._send(dest, a.msg)
            elif t is DeliverRequest:
                ack = a.msg
                ist = rec.invite_st
                if ist is not None:
                    rec.invite_st = None
                    if ist.machine.state is _S.ACCEPTED:
                        self._shrink(ist, None)  # INVITE copies are absorbed from now on
                data = ack.freeze()
                owner = rec.owner
                if owner is not None and not owner.closed:
                    src = ack_src
                    owner.send(frames.sip_in_dialog(
                        data, "network", "", src.host if src else "", src.port if src else "",
                        rec.invite_txn_id, rec.id, ack))
            elif t is SendBye:
                rec.ack_waiter = None
                self._system_bye(rec, a.reason)
                return
            elif t is TransactionTerminated:
                rec.ack_waiter = None
                if rec.ack_waiter_timer is not None:
                    rec.ack_waiter_timer.cancel()
                    rec.ack_waiter_timer = None
                return
        nt = w.next_timer()
        if nt is None:
            return
        entry = rec.ack_waiter_timer
        if entry is not None and entry.alive and entry.when <= nt:
            return
        if entry is not None:
            entry.cancel()
        assert self.timers is not None

        def wake(now: float, rec: DialogRec = rec, w: Ack2xxWaiter = w) -> None:
            rec.ack_waiter_timer = None
            if rec.ack_waiter is w:
                self._run_waiter(rec, w.handle_timer(now))

        rec.ack_waiter_timer = self.timers.call_at(nt, wake)

    def _system_bye(self, rec: DialogRec, reason: str,
                    cdr_reason: str = "system-initiated-termination") -> None:
        """Hang up a dialog on our own (ACK timeout, CANCEL race) and tell its app."""
        if rec.terminated:
            return

        def go(dest: Dest) -> None:
            if rec.terminated:  # (a second reason to hang up came while resolving)
                return
            app = AppSip(False, method="BYE", uri="sip:placeholder", known=[("Reason", reason)])
            bye = build_in_dialog_request(
                rec.dialog, app, via=self._via_for(dest.local), hostport=dest.local.hostport,
                proto=dest.local.proto)
            data = bye.freeze()
            self._end_dialog(rec)
            self._start_client(bye, dest)
            owner = rec.owner
            if owner is not None and not owner.closed:
                owner.send(frames.sip_in_dialog(data, "application", dest.proto, dest.host,
                                                dest.port, "unsolicited", rec.id, bye))
            self._cdr("stop", "application", bye, cdr_reason)

        def fail(why: str) -> None:
            log.warning("cannot send BYE for %s: %s", rec.id, why)
            self._end_dialog(rec)

        self._with_dialog_dest(rec, go, fail)

    # reliable provisional responses (UAS, RFC 3262) ----------------------------------------

    def _prack_received(self, rec: DialogRec, req: Request) -> None:
        rack = req.get("RAck")
        if not rack:
            return
        parts = rack.split()
        if not parts or not parts[0].isdigit():
            return
        rel = rec.rel_pending.pop(int(parts[0]), None)
        if rel is not None:
            rel.stop()

    def _drop_rel(self, st: ServerTxn) -> None:
        rel = st.rel
        if rel is not None:
            for r in list(rel.values()) if isinstance(rel, dict) else [rel]:
                r.stop()
            st.rel = None

    # ---------------------------------------------------------------------------------------
    # housekeeping

    def _sweep(self) -> None:
        """Once a second: forget requests the app never answered (the reference: 64 s)."""
        try:
            now = self.now()
            self._expire_residues(now)
            limit = self.config.app_response_timeout
            timer_c = self.config.timer_c
            for st in list(self.pending_app.values()):
                age = now - st.created
                if st.machine.state is _S.PROCEEDING and st.machine.last_response is not None \
                        and st.machine.last_response.status > 100:
                    if age > timer_c:
                        self._give_up_pending(st, 408)
                elif age > limit:
                    self._give_up_pending(st, 0)
        except Exception:
            log.exception("sweep failed")
        if self._started and self.loop is not None:
            self._sweeper = self.loop.call_later(1.0, self._sweep)

    def _give_up_pending(self, st: ServerTxn, status: int) -> None:
        """Stop waiting for the app on ``st``: answer ``status`` (0: silently forget)."""
        self.pending_app.pop(st.id, None)
        self.unanswered.pop(st.id, None)
        self._drop_rel(st)
        if status and st.final == 0:
            self._reply(st, status)
            if st.request.method == "INVITE":
                lr = st.machine.last_response
                self._cdr("stop", "application", lr, "call-rejected")
            return
        if st.final == 0:
            # keep absorbing retransmissions for a while, then forget the transaction
            assert self.timers is not None
            self.timers.call_later(self.timer_config.timeout, lambda now: self._server_done(st))

    # ---------------------------------------------------------------------------------------
    # app -> engine: responses to requests we relayed (UAS side)

    def app_response(self, session: AppSession, msg_id: str, txn_id: str, app: AppSip) -> None:
        self.unanswered.pop(txn_id, None)
        st = self.pending_app.get(txn_id)
        if st is None or st.owner is not session:
            if txn_id in self.client_by_id and app.status == 200:
                session.send(frames.nok(msg_id, "200 OK to incoming CANCEL is automatically "
                                        "generated by the stack"))
                return
            session.send(frames.nok(msg_id, "Response not sent due to unknown transaction"))
            return
        req = st.request
        status = app.status
        method = req.method
        in_dialog = req.to.tag is not None
        creating = method in ("INVITE", "SUBSCRIBE") and not in_dialog
        reliable_1xx = False
        rseq = None
        if 100 < status < 200 and method == "INVITE" and has_option(app.get_all("Require"), "100rel"):
            if not (has_option(req.get_all("Supported"), "100rel")
                    or has_option(req.get_all("Require"), "100rel")):
                session.send(frames.nok(msg_id, "Remote endpoint does not support 100rel"))
                return
            reliable_1xx = True
        if status > 100 and not in_dialog and st.to_tag is None:
            app_to = app.get("To")
            tag = None
            if app_to and "tag=" in app_to.lower():
                try:
                    tag = NameAddr.parse(app_to).tag
                except (SipParseError, ValueError):
                    tag = None
            st.to_tag = tag or new_tag()
        add_contact = (
            (creating and (200 <= status < 300 or reliable_1xx))
            or (in_dialog and method in ("INVITE", "SUBSCRIBE") and status > 100)
        )
        if creating and 200 <= status < 300:
            existing = self.dialogs_by_id.get(dialog_id(req.call_id, req.from_.tag or ""))
            if existing is not None and existing.dialog.confirmed and not existing.terminated \
                    and existing.tags != (req.call_id, st.to_tag, req.from_.tag or "") \
                    and method == "INVITE":
                self._reply(st, 480, "Temporarily Unavailable")
                self.pending_app.pop(txn_id, None)
                session.send(frames.nok(msg_id, "dialog already exists, rejecting this request"))
                return
        if reliable_1xx:
            rel_state = st.rel if isinstance(st.rel, dict) else {}
            rseq = (max(rel_state) + 1) if rel_state else _initial_rseq()
        if 200 <= status < 300 and (method == "INVITE" or (method == "UPDATE" and in_dialog)):
            app.known.extend(self.session_timers.extra_headers(req, app))
        local = st.dest.local
        try:
            resp = build_response(
                req, app, to_tag=st.to_tag, hostport=local.hostport, proto=local.proto,
                add_contact=add_contact,
                copy_record_route=creating and 100 < status < 300, rseq=rseq)
        except BuildError as exc:
            session.send(frames.nok(msg_id, str(exc)))
            return
        except ValueError as exc:
            session.send(frames.nok(msg_id, f"invalid response: {exc}"))
            return
        try:
            data = self._respond(st, resp)
        except TransactionStateError:
            session.send(frames.nok(msg_id, "Response not sent due to unknown transaction"))
            return
        did = ""
        rec = st.dialog
        if creating and status > 100 and (status < 300) and (status >= 200 or reliable_1xx):
            rec = self._uas_dialog(st, resp, session)
        if in_dialog and rec is not None:
            did = rec.id
        elif method in ("INVITE", "SUBSCRIBE"):
            did = dialog_id(req.call_id, req.from_.tag or "")
        if reliable_1xx and rec is not None:
            self._start_rel(st, rec, resp, rseq or 0)
        if creating and 100 < status < 200 and st.to_tag:
            self.early_uas[(req.call_id, st.to_tag)] = st
        if status >= 200:
            self._forget_early(st)
            self.pending_app.pop(txn_id, None)
            if rec is not None and rec.pending_update is st:
                rec.pending_update = None
            if status >= 300:
                self._drop_rel(st)
            if 200 <= status < 300 and rec is not None and method in ("INVITE", "UPDATE"):
                self.session_timers.after_2xx(rec, req, resp, we_sent_request=False)
            if method == "INVITE":
                if 200 <= status < 300:
                    if rec is not None:
                        self._start_waiter(rec, st, resp)
                    if not in_dialog:
                        self._cdr("start", "application", resp, "uas")
                else:
                    if not in_dialog:
                        self._cdr("stop", "application", resp, "call-rejected")
                        early = self.dialogs_by_tags.get(
                            (req.call_id, st.to_tag or "", req.from_.tag or ""))
                        if early is not None and early.dialog.early:
                            self._end_dialog(early)
            elif method == "BYE" and rec is not None:
                self._end_dialog(rec)
            if (st.dest.conn is not None and method in ("REGISTER", "SUBSCRIBE")
                    and status in (200, 202)):
                self._bind_contacts(st, resp)
        session.send(frames.ok_response_sent(msg_id, data, st.dest.proto, st.dest.host,
                                             st.dest.port, txn_id, did, resp))

    def _bind_contacts(self, st: ServerTxn, resp: Response) -> None:
        """Remember the TCP connection a REGISTER/SUBSCRIBE came on for its Contacts."""
        conn = st.dest.conn
        if conn is None:
            return
        req = st.request
        try:
            default = int(resp.get("Expires") or req.get("Expires") or "3600")
            granted = {}
            for na in resp.contacts if resp.has("Contact") else ():
                value = na.params.get("expires")
                if value and value.isdigit():
                    granted[(na.uri.user or "", na.uri.host.lower())] = int(value)
            contacts = req.contacts if req.has("Contact") else []
        except (SipParseError, ValueError):
            return
        now = self.now()
        for na in contacts:
            if na.is_wildcard:
                continue
            key = ((na.uri.user or "").lower(), na.uri.host.lower().strip("[]"))
            exp = granted.get((na.uri.user or "", na.uri.host.lower()))
            if exp is None:
                p = na.params.get("expires")
                exp = int(p) if p and p.isdigit() else default
            if exp <= 0:
                self.bindings.pop(key, None)
            else:
                self.bindings[key] = (conn, now + exp)

    def _bound_dest(self, uri_text: str) -> Dest | None:
        """The connection registered for a request-URI's user@host, if any is still good."""
        if not self.bindings:
            return None
        try:
            uri = SipURI.parse(uri_text)
        except SipParseError:
            return None
        key = ((uri.user or "").lower(), uri.host.lower().strip("[]"))
        hit = self.bindings.get(key)
        if hit is None:
            return None
        conn, expiry = hit
        if conn.closed or expiry < self.now():
            del self.bindings[key]
            return None
        return Dest(conn.local, conn.remote[0], conn.remote[1], conn)

    def _forget_early(self, st: ServerTxn) -> None:
        if st.to_tag and self.early_uas.get((st.request.call_id, st.to_tag)) is st:
            del self.early_uas[(st.request.call_id, st.to_tag)]

    def _early_uas_dialog(self, req: Request) -> DialogRec | None:
        """The early dialog of an INVITE we answered 1xx (no 2xx yet), made on first use."""
        st = self.early_uas.get((req.call_id, req.to.tag or ""))
        if st is None or st.final or st.owner is None:
            return None
        if (st.request.from_.tag or "") != (req.from_.tag or ""):
            return None
        last = st.machine.last_response
        if last is None or not 100 < last.status < 200:
            return None
        return self._uas_dialog(st, last, st.owner)

    def _uas_dialog(self, st: ServerTxn, resp: Response, owner: AppSession) -> DialogRec | None:
        req = st.request
        tags = (req.call_id, st.to_tag or "", req.from_.tag or "")
        rec = self.dialogs_by_tags.get(tags)
        if rec is not None and not rec.terminated:
            rec.dialog.send_response(resp)
            if rec.dialog.confirmed:
                self._add_dialog(rec)
            return rec
        try:
            # what Dialog.from_uas does, from values we already hold (no re-parsing)
            contacts = req.contacts
            remote_target = str(contacts[0].uri) if contacts else str(req.from_.uri)
            dialog = Dialog(
                call_id=req.call_id, local_tag=st.to_tag or "",
                remote_tag=req.from_.tag or "", local_party=resp.get("To") or "",
                remote_party=req.get("From") or "", remote_target=remote_target,
                route_set=req.get_all("Record-Route") if req.has("Record-Route") else (),
                local_seq=req.cseq.seq, remote_seq=req.cseq.seq, is_uas=True,
                secure=req.uri[:5].lower() == "sips:",
                state=DialogState.EARLY if resp.status < 200 else DialogState.CONFIRMED,
                method=req.method, local_target=resp.get("Contact"),
            )
        except (ValueError, SipParseError, TypeError) as exc:
            log.info("cannot create dialog: %s", exc)
            return None
        rec = DialogRec(dialog, owner, self._uas_pinned_dest(st))
        self._add_dialog(rec)
        st.dialog = rec
        return rec

    def _uas_pinned_dest(self, st: ServerTxn) -> Dest | None:
        """Where in-dialog requests go when the Contact cannot be trusted (NAT) or a TCP
        connection should be reused."""
        req = st.request
        src = st.dest
        if src.conn is not None:
            return Dest(src.local, src.host, src.port, src.conn)
        if req.has("Record-Route"):
            return None
        try:
            contacts = req.contacts
            if not contacts:
                return None
            uri = contacts[0].uri
            chost = (uri.params.get("maddr") or uri.host).strip("[]")
            cport = uri.port or 5060
        except (SipParseError, ValueError, AttributeError):
            return Dest(src.local, src.host, src.port)
        if chost != src.host or cport != src.port:
            return Dest(src.local, src.host, src.port)
        return None

    def _start_rel(self, st: ServerTxn, rec: DialogRec, resp: Response, rseq: int) -> None:
        rel = _RelProv(self, st, rec, resp, rseq)
        if not isinstance(st.rel, dict):
            st.rel = {}
        st.rel[rseq] = rel
        rec.rel_pending[rseq] = rel
        rel.start()

    # ---------------------------------------------------------------------------------------
    # app -> engine: requests (UAC side)

    def app_request(
        self,
        session: AppSession,
        msg_id: str,
        txn_id: str,
        did: str,
        route_url: str,
        app: AppSip,
    ) -> None:
        method = app.method
        if did:
            self._app_in_dialog(session, msg_id, did, app)
            return
        if method == "CANCEL" and txn_id:
            self._app_cancel(session, msg_id, txn_id, app)
            return
        if method == "ACK":
            session.send(frames.nok(msg_id, "Server error: unable to find dialog for dialog id provided"))
            return
        call_id = app.get("Call-ID")
        if call_id:
            for rec in self._dialogs_for_call_id(call_id):
                if rec.owner is session:
                    self._app_in_dialog(session, msg_id, rec.id, app)
                    return
        self._app_new_request(session, msg_id, route_url, app)

    def _dialogs_for_call_id(self, call_id: str) -> list[DialogRec]:
        return [r for r in self.dialogs_by_call.get(call_id, ()) if not r.terminated]

    def _app_new_request(self, session: AppSession, msg_id: str, route_url: str,
                         app: AppSip) -> None:
        if not route_url and app.method in ("INVITE", "OPTIONS", "NOTIFY", "MESSAGE"):
            bound = self._bound_dest(app.uri)
            if bound is not None:
                self._send_new_request(session, msg_id, app, bound)
                return
        target = route_url or self.config.outbound_proxy or app.uri
        try:
            proto, host, port = self.hop_for_uri(target)
            if not route_url and not self.config.outbound_proxy:
                assert self.transports is not None
                if self.transports.is_local_address(host, port, proto):
                    raise DestError("can not send request to myself")
            scheme = app.uri.partition(":")[0].lower()
            if scheme not in ("sip", "sips", "tel") or not app.uri:
                raise DestError(f"invalid request-uri: {app.uri}")
        except DestError as exc:
            session.send(frames.nok(msg_id, str(exc)))
            return

        def go(dest: Dest) -> None:
            self._send_new_request(session, msg_id, app, dest)

        def fail(reason: str) -> None:
            session.send(frames.nok(msg_id, reason))

        self.resolve_uri(target, go, fail)

    def _send_new_request(self, session: AppSession, msg_id: str, app: AppSip,
                          dest: Dest) -> None:
        local = dest.local
        try:
            req = build_new_request(app, via=self._via_for(local), hostport=local.hostport,
                                    proto=local.proto)
        except BuildError as exc:
            session.send(frames.nok(msg_id, str(exc)))
            return
        except (ValueError, SipParseError) as exc:
            session.send(frames.nok(msg_id, f"invalid request: {exc}"))
            return
        data = req.freeze()
        txn_id = new_id()
        self._start_app_client(session, req, dest, txn_id, list(dest.alternates))
        session.send(frames.ok_request_sent(msg_id, data, local.proto, local.host, local.port,
                                            txn_id, req))
        if req.method == "INVITE":
            self._cdr("attempt", "application", req)

    def _start_app_client(self, session: AppSession, req: Request, dest: Dest, txn_id: str,
                          alternates: list[Dest]) -> ClientTxn:
        """The client transaction of an app's new request (responses relayed to it)."""
        ct = self._start_client(req, dest, owner=session, relay=True, txn_id=txn_id,
                                alternates=alternates)
        method = req.method
        if method in ("INVITE", "SUBSCRIBE"):
            ct.dialog_id = dialog_id(req.call_id, req.from_.tag or "")
        if method == "INVITE" and ct.live:
            # an INVITE that rings for ever would be kept for ever: CANCEL it after timer C
            assert self.timers is not None
            ct.timer_c = self.timers.call_later(self.config.timer_c,
                                                partial(self._uac_timer_c, ct))
        return ct

    def _fail_over(self, ct: ClientTxn) -> bool:
        """RFC 3263 4.3: the hop of an app's request failed (transport error, timeout, 503):
        send the same request, with a new branch, to the next hop the name resolved to.
        The app keeps its transaction id; it sees only the final outcome."""
        owner = ct.owner
        if not ct.relay or ct.cancelled or owner is None or owner.closed:
            return False
        nxt = ct.alternates.pop(0)
        req = ct.request.copy()
        req.replace_first("Via", self._via_for(nxt.local))
        log.info("%s to %s:%s failed; trying %s:%s", req.method, ct.dest.host, ct.dest.port,
                 nxt.host, nxt.port)
        # the failed transaction finishes on its own, silently
        ct.relay = False
        ct.owner = None
        if ct.timer_c is not None:
            ct.timer_c.cancel()
            ct.timer_c = None
        self._start_app_client(owner, req, nxt, ct.id, ct.alternates)
        ct.alternates = []
        return True

    def _uac_timer_c(self, ct: ClientTxn, now: float = 0.0) -> None:
        ct.timer_c = None
        if ct.final or ct.machine.terminated or ct.cancelled:
            return
        log.info("INVITE %s got no final response in %.0f s: cancelling", ct.request.call_id,
                 self.config.timer_c)
        ct.cancelled = True
        cancel = make_cancel(ct.request)
        if ct.machine.state is _S.CALLING:
            ct.cancel = cancel
        else:
            self._start_client(cancel, ct.dest)

    def _uac_response(self, ct: ClientTxn, resp: Response, retrans: bool) -> None:
        """A response to a request an app sent: relay it, follow dialogs and CDRs."""
        status = resp.status
        req = ct.request
        method = req.method
        owner = ct.owner
        alive = owner is not None and not owner.closed
        rec = ct.dialog
        if (status == 503 and ct.alternates and rec is None and not retrans
                and not ct.provisional and self._fail_over(ct)):
            return  # RFC 3263 4.3: a 503 (as the first answer) goes to the next hop
        if method == "INVITE" and rec is None:
            # initial INVITE
            if 200 <= status < 300:
                tags = (resp.call_id, resp.from_.tag or "", resp.to.tag or "")
                existing = self.dialogs_by_tags.get(tags)
                if retrans or (existing is not None and existing.dialog.confirmed):
                    if existing is not None and existing.ack is not None and existing.ack_dest:
                        self._send(existing.ack_dest, existing.ack)
                    return
                ct.final = status
                self._forget_early_uac(ct)
                rec = self._uac_dialog(ct, resp, existing)
                if rec is not None:
                    rec.uac_invite = ct
                if not alive or rec is None:
                    # nobody will ACK: do it ourselves and hang up
                    if rec is not None:
                        self._auto_ack_and_bye(rec, "application gone")
                    return
                if ct.cancelled:
                    rec.bye_after_ack = REASON_CANCEL_RACE
                self.session_timers.after_2xx(rec, req, resp, we_sent_request=True)
                resp.freeze()
                self._cdr("start", "network", resp, "uac")
            elif 100 < status < 200 and resp.to.tag and resp.has("RSeq"):
                tags = (resp.call_id, resp.from_.tag or "", resp.to.tag or "")
                existing = self.dialogs_by_tags.get(tags)
                if existing is None:
                    self._uac_dialog(ct, resp, None)
                else:
                    existing.dialog.receive_response(resp)
                if ct.cancel is not None:
                    self._send_pending_cancel(ct)
            elif status < 200:
                if status > 100 and resp.to.tag:
                    self._remember_early_uac(ct, resp)
                if ct.cancel is not None:
                    self._send_pending_cancel(ct)
            else:
                ct.final = status
                ct.cancel = None
                self._forget_early_uac(ct)
                self._remember_failure(ct)
                resp.freeze()
                self._cdr("stop", "network", resp,
                          "call-canceled" if status == 487 else "call-rejected")
                for r in self._dialogs_for_call_id(resp.call_id):
                    if r.dialog.early and not r.dialog.is_uas and r.id == ct.dialog_id:
                        self._end_dialog(r)
        elif rec is not None:
            # a request we sent inside a dialog
            if status >= 200:
                ct.final = status
            if method == "INVITE":
                if 200 <= status < 300:
                    if retrans:
                        if rec.ack is not None and rec.ack_dest is not None:
                            self._send(rec.ack_dest, rec.ack)
                        return
                    rec.dialog.receive_response(resp)
                    self.session_timers.after_2xx(rec, req, resp, we_sent_request=True)
                if status >= 200 and rec.pending_invite is ct:
                    rec.pending_invite = None
            elif method == "BYE":
                if status >= 200 and status not in (401, 407):
                    self._end_dialog(rec)
            elif status < 300:
                try:
                    rec.dialog.receive_response(resp)
                except ValueError:
                    pass
                if method == "UPDATE" and status >= 200:
                    self.session_timers.after_2xx(rec, req, resp, we_sent_request=True)
            if method == "NOTIFY" and status >= 200 and rec.dialog.method == "SUBSCRIBE":
                state = (req.get("Subscription-State") or "").lower()
                if state.startswith("terminated"):
                    self._end_dialog(rec)
            if status == 481 or (status == 408 and method != "BYE"):
                pass
        elif method == "SUBSCRIBE" and status in (200, 202):
            ct.final = status
            self._uac_dialog(ct, resp, None)
        elif status >= 200:
            ct.final = status
        if not alive:
            return
        if status == 100 and method != "INVITE":
            pass
        did = rec.id if rec is not None else ct.dialog_id
        assert owner is not None
        data = resp.freeze()
        src = ct.dest
        owner.send(frames.sip_in_dialog(data, "network", src.proto, src.host, src.port,
                                        ct.id, did, resp))

    def _remember_failure(self, ct: ClientTxn) -> None:
        """For a while, an ACK the app sends for this failed INVITE gets the reference's NOK."""
        did = ct.dialog_id
        self.uac_outcome[did] = ct
        assert self.timers is not None

        def forget(now: float) -> None:
            if self.uac_outcome.get(did) is ct:
                del self.uac_outcome[did]

        self.timers.call_later(self.timer_config.timeout, forget)

    def _remember_early_uac(self, ct: ClientTxn, resp: Response) -> None:
        """Keep a tagged 1xx to an app's INVITE: the callee may send a request in that early
        dialog before its 2xx (UPDATE with SDP, RFC 3311)."""
        if ct.final:
            return
        to_tag = resp.to.tag or ""
        if ct.early is None:
            ct.early = {}
            self.early_uac[(ct.request.call_id, ct.request.from_.tag or "")] = ct
        ct.early[to_tag] = resp

    def _forget_early_uac(self, ct: ClientTxn) -> None:
        if ct.early is None:
            return
        ct.early = None
        key = (ct.request.call_id, ct.request.from_.tag or "")
        if self.early_uac.get(key) is ct:
            del self.early_uac[key]

    def _early_uac_dialog(self, req: Request) -> DialogRec | None:
        """The early dialog of an app's INVITE that the callee's 1xx (with the request's From
        tag as To tag) created, made on first use; None when there is no such 1xx."""
        ct = self.early_uac.get((req.call_id, req.to.tag or ""))
        if ct is None or ct.final or ct.early is None or not ct.live:
            return None
        resp = ct.early.get(req.from_.tag or "")
        if resp is None:
            return None
        return self._uac_dialog(ct, resp, None)

    def _uac_dialog(self, ct: ClientTxn, resp: Response, existing: DialogRec | None) -> DialogRec | None:
        if existing is not None and not existing.terminated:
            early = existing.dialog.early
            existing.dialog.receive_response(resp)
            if early and resp.status >= 200:
                # the 2xx, not the 1xx that made the early dialog, fixes the next hop
                existing.dest = self._uac_pinned_dest(ct, resp)
            self._add_dialog(existing)
            return existing
        try:
            dialog = Dialog.from_uac(ct.request, resp)
        except (ValueError, SipParseError) as exc:
            log.info("cannot create dialog: %s", exc)
            return None
        rec = DialogRec(dialog, ct.owner, self._uac_pinned_dest(ct, resp))
        self._add_dialog(rec)
        return rec

    def _uac_pinned_dest(self, ct: ClientTxn, resp: Response) -> Dest | None:
        d = ct.dest
        if d.conn is not None or d.local.proto != "udp":
            assert self.transports is not None
            conn = d.conn or self.transports.connections.get((d.host, d.port))
            if conn is not None:
                return Dest(d.local, d.host, d.port, conn)
        if resp.has("Record-Route"):
            return None
        try:
            contacts = resp.contacts
            if contacts:
                uri = contacts[0].uri
                host = (uri.params.get("maddr") or uri.host).strip("[]")
                if _is_private(host) and host != d.host:
                    return Dest(d.local, d.host, d.port)
        except (SipParseError, ValueError, AttributeError):
            return Dest(d.local, d.host, d.port)
        return None

    def _auto_ack_and_bye(self, rec: DialogRec, why: str) -> None:
        self._with_dialog_dest(rec, lambda dest: self._ack_and_bye(rec, why, dest),
                               lambda _: self._end_dialog(rec))

    def _ack_and_bye(self, rec: DialogRec, why: str, dest: Dest) -> None:
        if rec.terminated:
            return
        ack = build_in_dialog_request(rec.dialog, AppSip(False, method="ACK", uri=""),
                                      via=self._via_for(dest.local), hostport=dest.local.hostport,
                                      proto=dest.local.proto)
        ack.freeze()
        rec.ack = ack
        rec.ack_dest = dest
        self._send(dest, ack)
        log.info("BYE for dialog %s: %s", rec.id, why)
        bye = build_in_dialog_request(rec.dialog, AppSip(False, method="BYE", uri=""),
                                      via=self._via_for(dest.local), hostport=dest.local.hostport,
                                      proto=dest.local.proto)
        self._end_dialog(rec)
        self._start_client(bye, dest)

    def _app_in_dialog(self, session: AppSession, msg_id: str, did: str, app: AppSip) -> None:
        method = app.method
        rec = self.get_dialog(did)
        if rec is None:
            ct = self.uac_outcome.get(did)
            if method == "ACK" and ct is not None and ct.final >= 300:
                session.send(frames.nok(msg_id, "Server error: ACK for non-success final "
                                        "response is automatically generated by server"))
                return
            session.send(frames.nok(msg_id, "Server error: unable to find dialog for dialog id provided"))
            return
        if method == "ACK":
            self._with_dialog_dest(
                rec, lambda dest: self._app_ack(session, msg_id, rec, app, dest),
                lambda reason: session.send(frames.nok(msg_id, reason)))
            return
        self._with_dialog_dest(
            rec, lambda dest: self._app_in_dialog_to(session, msg_id, rec, app, dest),
            lambda reason: session.send(frames.nok(msg_id, reason)))

    def _app_in_dialog_to(self, session: AppSession, msg_id: str, rec: DialogRec, app: AppSip,
                          dest: Dest) -> None:
        method = app.method
        local = dest.local
        if method == "BYE" and rec.pending_invite is not None:
            pending = rec.pending_invite
            if pending.machine.state is _S.PROCEEDING and not pending.final:
                self._start_client(make_cancel(pending.request), pending.dest)
        try:
            req = build_in_dialog_request(rec.dialog, app, via=self._via_for(local),
                                          hostport=local.hostport, proto=local.proto)
        except BuildError as exc:
            session.send(frames.nok(msg_id, str(exc)))
            return
        except (ValueError, SipParseError) as exc:
            session.send(frames.nok(msg_id, f"invalid request: {exc}"))
            return
        data = req.freeze()
        txn_id = new_id()
        ct = self._start_client(req, dest, owner=session, relay=True,
                                txn_id=txn_id)
        ct.dialog = rec
        ct.dialog_id = rec.id
        if method == "INVITE":
            rec.pending_invite = ct
        elif method == "BYE":
            self._stop_waiter(rec)
            self._cdr("stop", "application", req, "normal-release")
        session.send(frames.ok_request_sent(msg_id, data, local.proto, local.host, local.port,
                                            txn_id, req))

    def _app_ack(self, session: AppSession, msg_id: str, rec: DialogRec, app: AppSip,
                 dest: Dest) -> None:
        local = dest.local
        try:
            ack = build_in_dialog_request(rec.dialog, app, via=self._via_for(local),
                                          hostport=local.hostport, proto=local.proto)
        except BuildError as exc:
            session.send(frames.nok(msg_id, str(exc)))
            return
        data = ack.freeze()
        rec.ack = ack
        rec.ack_dest = dest
        if ack.body:
            rec.local_sdp = ack.body
        self._send(dest, ack)
        session.send(frames.ok_request_sent(msg_id, data, local.proto, local.host, local.port,
                                            new_id(), ack))
        if rec.bye_after_ack:
            reason, rec.bye_after_ack = rec.bye_after_ack, None
            self._system_bye(rec, reason)

    def _app_cancel(self, session: AppSession, msg_id: str, txn_id: str, app: AppSip) -> None:
        ct = self.client_by_id.get(txn_id)
        if ct is None or ct.request.method != "INVITE" or ct.owner is not session:
            session.send(frames.nok(msg_id, f"unable to cancel unknown transaction id: {txn_id}"))
            return
        if ct.final:
            session.send(frames.nok(msg_id, f"unable to cancel unknown transaction id: {txn_id}"))
            return
        extra = [(n, v) for n, v in app.known
                 if n.lower() not in ("from", "to", "contact", "p-asserted-identity", "call-id",
                                      "cseq", "max-forwards")]
        extra.extend(app.custom)
        cancel = make_cancel(ct.request, extra)
        data = cancel.freeze()
        ct.cancelled = True
        local = ct.dest.local
        if ct.machine.state is _S.CALLING:
            ct.cancel = cancel  # RFC 3261 9.1: wait for a provisional response
        else:
            self._start_client(cancel, ct.dest)
        session.send(frames.ok_request_sent(msg_id, data, local.proto, local.host, local.port,
                                            new_id(), cancel))

    def _send_pending_cancel(self, ct: ClientTxn) -> None:
        cancel, ct.cancel = ct.cancel, None
        if cancel is not None and not ct.final:
            self._start_client(cancel, ct.dest)


class _RelProv:
    """Retransmits one reliable provisional response until its PRACK (RFC 3262 3)."""

    __slots__ = ("engine", "interval", "rec", "resp", "rseq", "st", "started", "timer")

    def __init__(self, engine: Engine, st: ServerTxn, rec: DialogRec, resp: Response,
                 rseq: int) -> None:
        self.engine = engine
        self.st = st
        self.rec = rec
        self.resp = resp
        self.rseq = rseq
        self.interval = engine.timer_config.t1
        self.timer: Any = None
        self.started = 0.0

    def start(self) -> None:
        self.started = self.engine.now()
        self._arm()

    def _arm(self) -> None:
        assert self.engine.timers is not None
        self.timer = self.engine.timers.call_later(self.interval, self._fire)

    def _fire(self, now: float) -> None:
        self.timer = None
        st = self.st
        if st.final or st.machine.terminated:
            return
        if now - self.started >= self.engine.timer_config.timeout:
            self.rec.rel_pending.pop(self.rseq, None)
            self.engine.pending_app.pop(st.id, None)
            self.engine._reply(st, 504, "Reliable Provisional Response Not Acknowledged")
            return
        self.engine._send(st.dest, self.resp)
        self.interval *= 2
        self._arm()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def _initial_rseq() -> int:
    import random

    return random.randint(1, 2**31 - 1)


@lru_cache(maxsize=4096)
def _uri_hop(uri_text: str) -> tuple[str, str, int]:
    """``(transport or "", host, port or 0)`` a URI names as its next hop. Cached: the same
    targets and routes come back for every request of a dialog and across calls."""
    text = uri_text.strip()
    if text.startswith("<") and ">" in text:
        text = text[1 : text.index(">")]
    if not text[:5].lower().startswith(("sip:", "sips:", "tel:")) and not _SCHEME_RE.match(text):
        text = "sip:" + text  # '1.2.3.4', 'host:5080', 'user@host;transport=tcp'
    try:
        uri = SipURI.parse(text)
    except SipParseError:
        raise DestError(f"invalid request-uri: {uri_text}") from None
    if uri.scheme not in ("sip", "sips") or not uri.host:
        raise DestError(f"invalid request-uri: {uri_text}")
    proto = "tls" if uri.scheme == "sips" else (uri.params.get("transport") or "").lower()
    host = (uri.params.get("maddr") or uri.host).strip("[]")
    return proto, host, uri.port or 0


@lru_cache(maxsize=4096)
def _is_private(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False
