"""The protocol state for one engine channel.

One ``Agent`` per ``EngineChannel``: it turns the framework's operations into control
messages and the engine's messages back into ``Request``/``IncomingResponse`` objects.
It keeps the pending maps of wire-protocol.md:

* ``pending``: commands waiting for their ``response`` frame, by message id;
* ``pending_sip``: requests we sent waiting for responses, by the engine's transaction id;
* ``pending_invites``: received INVITEs not yet finally answered, by transaction id (and by
  Call-ID), to match a CANCEL or an UPDATE;
* ``pending_ack``: ``on_ack`` callbacks waiting for an ACK/PRACK, by dialog id.

Several agents (listen mode, several engines) can sit under one ``Srf``: every request,
response and dialog keeps a reference to the agent it belongs to.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drachtio.sip import Message as _SipMsg
from drachtio.sip import Request as _SipRequest
from drachtio.sip import Response as _SipResponse
from drachtio.srf.auth import maybe_retry
from drachtio.srf.channel import EngineChannel
from drachtio.srf.errors import EngineError, NotConnectedError
from drachtio.srf.message import _status_of, format_request, format_response, parse_sip
from drachtio.srf.request import Request, ServerRef
from drachtio.srf.response import IncomingResponse, Response, SentMessage
from drachtio.wire.codec import ControlMessage, new_id

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.srf import Srf

__all__ = ["Agent"]

log = logging.getLogger("drachtio.srf")

_NO_TRACK = frozenset({"ACK", "CANCEL", "PRACK"})
#: a request line as the engine writes one: method, request-URI, SIP/2.0
_REQUEST_LINE = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+ [^ ]+ SIP/2\.0")

Callback = Callable[[ControlMessage], None]


def _tok(tokens: list[str], i: int) -> str:
    return tokens[i] if len(tokens) > i else ""


def _fail_quietly(fut: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail a future the application may never await (res.send, ACK, PRACK) without the
    "exception was never retrieved" noise; awaiting it still raises."""
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()
        log.debug("send failed: %s", exc)


def _kind_of(msg: ControlMessage) -> str | None:
    """``request`` / ``response`` from the start line without parsing the message; ``""``
    when that line is not plainly either (the caller parses to decide); None: no SIP."""
    parsed = msg.parsed
    if parsed is not None:  # (embedded mode)
        if isinstance(parsed, _SipRequest):
            return "request"
        if isinstance(parsed, _SipResponse):
            return "response"
    text = msg.sip
    if not text:
        log.warning("ignoring sip frame without a SIP message: %s", msg.tokens[:3])
        return None
    end = text.find("\r\n")
    first = text[:end] if end >= 0 else text
    if first.startswith("SIP/2.0 "):
        return "response" if _status_of(first) is not None else ""
    return "request" if _REQUEST_LINE.fullmatch(first) else ""


def _failure(msg: ControlMessage, default: str) -> Exception:
    """The exception for a NO/NOK answer (or for the connection being lost)."""
    if isinstance(msg.parsed, NotConnectedError):
        return msg.parsed
    return EngineError(_tok(msg.tokens, 4) or default)


class Agent:
    """Pending state and message translation for one engine channel."""

    def __init__(self, srf: Srf, channel: EngineChannel, *, server_address: str = "") -> None:
        self.srf = srf
        self.channel = channel
        self.server_address = server_address
        self.pending: dict[str, Callback] = {}
        self.pending_sip: dict[str, Request] = {}
        self.pending_invites: dict[str, Request] = {}
        self.invites_by_call_id: dict[str, Request] = {}
        self.pending_ack: dict[str, Callable[[Request], Any]] = {}
        self.hostports = ""
        self.server_version = ""
        self.local_hostports = ""
        self.routed: set[str] = set()
        # message ids: unique per connection, opaque to the engine (it echoes them); a
        # random prefix and a counter instead of a uuid4 (a getrandom call) per command
        self._id_prefix = new_id()[:24]
        self._id_seq = itertools.count(0x100000000000)
        self._route_waiters: list[asyncio.Future[None]] = []
        self._server_ref = ServerRef(server_address, "")
        self._loop: asyncio.AbstractEventLoop | None = None
        channel.on_message = self.on_message
        channel.on_ready = self.on_ready
        channel.on_lost = self.on_lost

    # -- state -------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.channel.ready

    @property
    def idle(self) -> bool:
        return not (self.pending or self.pending_sip or self.pending_ack)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this agent's engine connection runs on.

        Kept from the first use (and from each ``on_ready``): on Python 3.11,
        ``asyncio.get_running_loop()`` makes a getpid() system call every time, and the
        framework needs the loop for almost every message.
        """
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    # -- sending -------------------------------------------------------------------------------
    def command(self, tokens: list[str], sip: str | None, callback: Callback | None) -> str:
        """Send ``<id>|tokens...``; ``callback`` gets the engine's ``response`` frame(s)."""
        mid = f"{self._id_prefix}{next(self._id_seq):x}"
        msg = ControlMessage([mid, *tokens], sip)
        if callback is not None:
            self.pending[mid] = callback
        try:
            self.channel.send(msg)
        except ConnectionError as exc:
            self.pending.pop(mid, None)
            raise NotConnectedError(str(exc)) from exc
        return mid

    def route(self, verb: str) -> asyncio.Future[None]:
        """``route|verb``: ask the engine for requests of that method (or CDR type)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def cb(msg: ControlMessage) -> None:
            if fut.done():
                return
            if _tok(msg.tokens, 3) == "OK":
                self.routed.add(verb)
                fut.set_result(None)
            else:
                fut.set_exception(_failure(msg, "route refused"))

        try:
            self.command(["route", verb], None, cb)
        except NotConnectedError as exc:
            fut.set_exception(exc)
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        return fut

    def remove_route(self, verb: str) -> None:
        self.routed.discard(verb)
        self.command(["remove_route", verb], None, None)

    def send_request(
        self,
        method: str,
        uri: str,
        headers: list[tuple[str, str]],
        body: str | bytes | None,
        *,
        dialog_id: str = "",
        transaction_id: str = "",
        proxy: str | None = None,
        auth: Any = None,
        on_sent: Callable[[Request], None] | None = None,
    ) -> asyncio.Future[Request]:
        """Send a request; resolves with the request as the engine sent it.

        ``on_sent`` runs synchronously when the echo arrives, before any response to the
        request can be processed, so listeners attached there never miss a response.
        """
        loop = self.loop
        fut: asyncio.Future[Request] = loop.create_future()
        body_text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else (
            body or "")
        sip = format_request(method, uri, headers, body_text)
        tokens = ["sip", transaction_id, dialog_id]
        if proxy:
            tokens.append(proxy)

        def cb(msg: ControlMessage) -> None:
            t = msg.tokens
            if _tok(t, 3) != "OK":
                if not fut.done():
                    fut.set_exception(_failure(msg, "request failed"))
                return
            if msg.sip is None and msg.parsed is None:
                if not fut.done():
                    fut.set_exception(EngineError("the engine's answer carries no request"))
                return
            if len(t) < 11:
                t = t + [""] * (11 - len(t))
            req = Request(
                msg,  # parsed when something reads it
                source="application",
                protocol=t[6],
                address=t[7],
                port=t[8],
                time=t[9],
                transaction_id=t[10],
                dialog_id=dialog_id,
                agent=self,
            )
            req.srf = self.srf
            req._init_sent(loop)
            if auth is not None:
                req.auth = auth
                req._send_args = {
                    "method": method, "uri": uri, "headers": headers, "body": body_text,
                    "dialog_id": dialog_id, "proxy": proxy,
                }
            if method not in _NO_TRACK and req.transaction_id:
                self.pending_sip[req.transaction_id] = req
            if on_sent is not None:
                try:
                    on_sent(req)
                except Exception:
                    log.exception("on_sent hook raised")
            if not fut.done():
                fut.set_result(req)

        try:
            self.command(tokens, sip, cb)
        except NotConnectedError as exc:
            fut.set_exception(exc)
        return fut

    def send_in_dialog(
        self,
        method: str,
        uri: str,
        dialog_id: str,
        headers: list[tuple[str, str]],
        body: str | bytes | None,
        fut: asyncio.Future[SentMessage | None] | None = None,
    ) -> None:
        """ACK / PRACK: ``sip||<dialogId>``; nothing waits for responses to them."""
        body_text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else (
            body or "")
        sip = format_request(method, uri or "sip:placeholder", headers, body_text)

        def cb(msg: ControlMessage) -> None:
            if fut is None or fut.done():
                return
            if _tok(msg.tokens, 3) != "OK":
                _fail_quietly(fut, _failure(msg, f"{method} failed"))
                return
            fut.set_result(self._sent_message(msg))

        try:
            self.command(["sip", "", dialog_id], sip, cb)
        except NotConnectedError as exc:
            if fut is not None:
                _fail_quietly(fut, exc)

    def send_response(
        self,
        res: Response,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        body: str | bytes | None,
        on_ack: Callable[[Request], Any] | None,
        fut: asyncio.Future[SentMessage | None],
        on_sent: Callable[[SentMessage], None] | None = None,
    ) -> None:
        req = res.req
        assert req is not None
        body_text = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else (
            body or "")
        sip = format_response(status, reason, res._base_headers(headers), body_text)
        is_invite = req.method == "INVITE"

        def cb(msg: ControlMessage) -> None:
            t = msg.tokens
            if _tok(t, 3) != "OK":
                _fail_quietly(fut, _failure(msg, "response not sent"))
                return
            try:
                sent = self._sent_message(msg)
            except Exception as exc:
                log.error("bad echo of sent response: %s", exc)
                _fail_quietly(fut, EngineError(f"bad echoed response: {exc}"))
                return
            res.dialog_id = sent.dialog_id
            res.sent = sent
            if on_ack is not None and sent.dialog_id and (
                (is_invite and 200 <= status < 300) or (status < 200 and sent.has("RSeq"))
            ):
                self.pending_ack[sent.dialog_id] = on_ack
            if on_sent is not None:
                try:
                    on_sent(sent)
                except Exception as exc:
                    log.exception("on_sent hook raised")
                    _fail_quietly(fut, exc)
            if not fut.done():
                fut.set_result(sent)

        if status >= 200 and is_invite:
            self.forget_invite(req)
        try:
            self.command(["sip", req.transaction_id, ""], sip, cb)
        except NotConnectedError as exc:
            _fail_quietly(fut, exc)

    def _sent_message(self, msg: ControlMessage) -> SentMessage:
        t = msg.tokens
        if len(t) < 12:
            t = t + [""] * (12 - len(t))
        dialog_id = t[11]
        if dialog_id.startswith("Msg sent"):
            dialog_id = ""
        return SentMessage(
            msg,  # parsed when something reads it
            protocol=t[6],
            address=t[7],
            port=t[8],
            time=t[9],
            transaction_id=t[10],
            dialog_id=dialog_id,
        )

    def forget_invite(self, req: Request) -> None:
        """Stop tracking a received INVITE (answered finally, proxied, or cancelled): a
        later CANCEL or UPDATE for its Call-ID no longer finds it."""
        self.pending_invites.pop(req.transaction_id, None)
        cid = req.call_id
        if cid is not None and self.invites_by_call_id.get(cid) is req:
            del self.invites_by_call_id[cid]

    # -- channel callbacks -------------------------------------------------------------------
    def on_ready(self, hostports: str, version: str, local_hostports: str) -> None:
        self._loop = asyncio.get_running_loop()
        self.hostports = hostports
        self.server_version = version
        self.local_hostports = local_hostports
        self.routed.clear()
        self.srf._agent_ready(self)

    def on_lost(self, exc: BaseException | None) -> None:
        """The engine forgot this connection: fail everything that was waiting on it."""
        err = NotConnectedError(f"connection to the engine lost: {exc}" if exc else
                                "connection to the engine closed")
        self._loop = None  # a new connection may run on another loop
        pending, self.pending = self.pending, {}
        for cb in pending.values():
            try:
                cb(ControlMessage(["", "response", "", "NOK", str(err)], None, err))
            except Exception:
                log.exception("failing pending command")
        sip, self.pending_sip = self.pending_sip, {}
        for req in sip.values():
            req._fail(err)
        self.pending_invites.clear()
        self.invites_by_call_id.clear()
        self.pending_ack.clear()
        self.routed.clear()
        self.srf._agent_lost(self, exc)

    def on_message(self, msg: ControlMessage) -> None:
        t = msg.tokens
        n = len(t)
        kind = t[1] if n > 1 else ""
        if kind == "response":
            rid = t[2] if n > 2 else ""
            cb = self.pending.get(rid)
            if cb is None:
                return
            if n <= 12 or t[12] != "continue":
                del self.pending[rid]
            cb(msg)
        elif kind == "sip":
            self._on_sip(msg)
        elif kind.startswith("cdr:"):
            self._on_cdr(msg)
        else:
            log.warning("ignoring control message of unknown type %r", kind)

    # -- incoming SIP ----------------------------------------------------------------------------
    def _on_sip(self, msg: ControlMessage) -> None:
        t = msg.tokens
        if len(t) < 10:
            log.warning("ignoring short sip frame: %s", t)
            return
        kind = _kind_of(msg)
        if kind is None:
            return
        sipmsg: _SipMsg | ControlMessage = msg
        if kind == "":
            # not a plain start line: parse now, so garbage is dropped here
            try:
                parsed = parse_sip(msg)
            except Exception as exc:
                log.error("unparseable SIP message from the engine: %s", exc)
                return
            sipmsg = parsed
            kind = "request" if isinstance(parsed, _SipRequest) else "response"
        source, protocol, address, port, time, txn, dlg = (
            t[2], t[4], t[5], t[6], t[7], t[8], t[9])
        if kind == "request":
            received_on = f"{t[10]}:{t[11]}" if len(t) > 11 and t[10] else None
            req = Request(
                sipmsg,
                source=source,
                address=address,
                port=port,
                protocol=protocol,
                time=time,
                transaction_id=txn,
                dialog_id=dlg,
                received_on=received_on,
                session_token=t[12] if len(t) > 12 and t[12] else None,
                server=self._server(),
                agent=self,
            )
            if source == "network":
                self._on_network_request(req)
            elif source == "application" and txn == "unsolicited":
                res = Response(req, self)
                res._noop = True
                req.res = res
                self._drop_dialog_state(dlg)
                self.srf._handle_request(req, res)
            return
        if source != "network":
            return
        sr = self.pending_sip.get(txn)
        if sr is None:
            return
        ires = IncomingResponse(
            sipmsg,
            sr,
            source=source,
            address=address,
            port=port,
            protocol=protocol,
            time=time,
            transaction_id=txn,
            dialog_id=dlg,
            agent=self,
        )
        if ires.status >= 200:
            del self.pending_sip[txn]
        if maybe_retry(self, sr, ires):
            return
        sr._deliver(ires, ires.ack_function())

    def _server(self) -> ServerRef:
        """``req.server``: one shared (immutable) object while the engine stays the same."""
        ref = self._server_ref
        if ref.hostport != self.hostports or ref.address != self.server_address:
            ref = self._server_ref = ServerRef(self.server_address, self.hostports)
        return ref

    def _on_network_request(self, req: Request) -> None:
        method = req.method
        if method == "CANCEL":
            invite = self.pending_invites.get(req.transaction_id) or self.invites_by_call_id.get(
                req.call_id or "")
            if invite is not None:
                self.forget_invite(invite)
                invite.canceled = True
                invite.emit("cancel", req)
            return
        res = Response(req, self)
        req.res = res
        if method == "INVITE":
            if req.transaction_id:
                self.pending_invites[req.transaction_id] = req
            call_id = req.call_id
            if call_id:
                self.invites_by_call_id[call_id] = req
        elif method in ("ACK", "PRACK"):
            if method == "ACK":
                res._release_req()  # an ACK is never answered: no cycle with its request
            fn = self.pending_ack.pop(req.dialog_id, None) if req.dialog_id else None
            if fn is not None:
                try:
                    out = fn(req)
                    if out is not None and asyncio.iscoroutine(out):
                        from drachtio.srf.emitter import spawn

                        spawn(out, name="on_ack")
                except Exception:
                    log.exception("on_ack callback raised")
        elif method == "UPDATE":
            call_id = req.call_id or ""
            invite = self.invites_by_call_id.get(call_id)
            if invite is not None:
                if invite.listener_count("update") > 0:
                    invite.emit("update", req, res)
                else:
                    res.send(500, headers={"Retry-After": "5"})
                return
            for sent in self.pending_sip.values():
                if sent.call_id == call_id and sent.method == "INVITE" and sent.listener_count(
                        "update") > 0:
                    sent.emit("update", req, res)
                    return
        elif method == "BYE":
            self._drop_dialog_state(req.dialog_id)
        self.srf._handle_request(req, res)

    def _drop_dialog_state(self, dialog_id: str) -> None:
        if dialog_id:
            self.pending_ack.pop(dialog_id, None)

    def _on_cdr(self, msg: ControlMessage) -> None:
        t = msg.tokens
        event = t[1]
        try:
            sipmsg = parse_sip(msg)
        except Exception as exc:
            log.error("unparseable CDR message: %s", exc)
            return
        from drachtio.srf.message import SipMessage

        m = SipMessage(sipmsg)
        if event == "cdr:attempt":
            self.srf.emit(event, _tok(t, 2), _tok(t, 3), m)
        else:
            self.srf.emit(event, _tok(t, 2), _tok(t, 3), _tok(t, 4), m)

    def close(self) -> None:
        self.channel.close()
