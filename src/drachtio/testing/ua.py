"""A scriptable SIP user agent for tests: caller and callee roles, dialogs, re-INVITE, hang-up.

It runs RFC 3261 for real on top of the package's own sans-IO layers (``drachtio.sip``
messages, transaction machines and dialogs) and a datagram "socket": an endpoint on a
``FakeNetwork`` (no sockets; time from the loop, so a ``VirtualClock`` drives its timers) or a
real UDP socket (``await UserAgent.udp(...)``), e.g. to call an app in another process.

Caller::

    call = await alice.invite("sip:bob@127.0.0.1:5060", sdp=OFFER)   # waits for the final
    assert call.status == 200 and "m=audio" in call.remote_sdp
    await call.info(body="Signal=5", content_type="application/dtmf-relay")
    await call.reinvite(sdp=HOLD)
    await call.hangup()

Callee::

    incoming = await bob.next_call()                # an INVITE the app sent to bob
    await incoming.ring()
    call = await incoming.answer(sdp=ANSWER)        # 200, waits for the ACK
    bye = await call.wait_ended()                   # the app hung up

Requests arriving inside a call are answered automatically (200; a re-INVITE gets our SDP)
and kept in ``call.requests``; set ``call.auto_answer = False`` to answer them yourself
(``req = await call.next_request(); req.respond(486)``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from drachtio.sip import Request, Response, SipParseError, SipURI, parse_message
from drachtio.sip.dialog import Dialog
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
    TransactionStateError,
    TransactionTerminated,
    TransactionTimeout,
    cancelled_transaction_key,
    make_cancel,
    make_trying,
    transaction_key_for_request,
    transaction_key_for_response,
)
from drachtio.testing.network import Address, FakeNetwork

__all__ = ["Call", "IncomingCall", "ServerRequest", "UserAgent"]

log = logging.getLogger("drachtio.testing")

HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None

DEFAULT_TIMEOUT = 5.0

_T = TypeVar("_T")


def _token() -> str:
    return secrets.token_hex(6)


def _headers(headers: HeadersArg) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[str, str]] = []
    for item in items:
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str | int):
            raise TypeError(f"headers must be str -> str, got {item!r}")
        out.append((name, str(value)))
    return out


def _body(sdp: str | None, body: str | bytes | None, content_type: str | None
          ) -> tuple[bytes, str | None]:
    if sdp is not None and body is not None:
        raise TypeError("pass sdp= or body=, not both")
    if sdp is not None:
        return sdp.encode("utf-8"), content_type or "application/sdp"
    if body is None:
        return b"", content_type
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return data, content_type


def _has(headers: list[tuple[str, str]], *names: str) -> bool:
    lower = {n.lower() for n in names}
    return any(n.lower() in lower for n, _ in headers)


def _addr_of_uri(uri: str) -> Address | None:
    """host:port of a SIP URI (or ``<uri>``) when the host is an IP; else None."""
    text = uri.strip()
    if "<" in text and ">" in text:
        text = text[text.index("<") + 1 : text.index(">")]
    try:
        u = SipURI.parse(text)
    except (SipParseError, ValueError):
        return None
    host = (u.params.get("maddr") or u.host or "").strip("[]")
    if not host or not (host[0].isdigit() or ":" in host):
        return None
    return host, u.port or 5060


def _text(msg: Request | Response) -> str:
    return msg.body.decode("utf-8", "replace") if msg.body else ""


class _Txn:
    """A transaction machine plus what to do with its outputs."""

    __slots__ = ("dest", "handle", "key", "machine", "on_request", "on_response", "on_timeout",
                 "table")

    def __init__(self, machine: Any, dest: Address, key: Any, table: dict[Any, _Txn] | None
                 ) -> None:
        self.machine = machine
        self.dest = dest
        self.key = key
        self.table = table
        self.handle: asyncio.TimerHandle | None = None
        self.on_response: Callable[[Response, bool], None] | None = None
        self.on_request: Callable[[Request], None] | None = None
        self.on_timeout: Callable[[str], None] | None = None


class ServerRequest:
    """A request the UA received; answer it with ``respond``."""

    def __init__(self, ua: UserAgent, request: Request, src: Address, txn: _Txn,
                 call: Call | None = None) -> None:
        self.ua = ua
        self.request = request
        self.src = src
        self.call = call
        self._txn = txn
        self.response: Response | None = None
        self.to_tag: str | None = call.dialog.local_tag if call and call.dialog else None

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def body(self) -> str:
        return _text(self.request)

    def get(self, name: str) -> str | None:
        return self.request.get(name)

    def respond(self, status: int = 200, reason: str | None = None, *,
                headers: HeadersArg = None, body: str | bytes | None = None,
                content_type: str | None = None, sdp: str | None = None) -> Response:
        """Send a response (provisional ones may be followed by more)."""
        data, ctype = _body(sdp, body, content_type)
        hdrs = _headers(headers)
        if ctype and not _has(hdrs, "content-type", "c"):
            hdrs.append(("Content-Type", ctype))
        if status > 100 and self.request.to.tag is None and self.to_tag is None:
            self.to_tag = _token()
        resp = self.request.create_response(status, reason, to_tag=self.to_tag,
                                            headers=hdrs, body=data)
        if 200 <= status < 300 and self.request.method in ("INVITE", "SUBSCRIBE", "UPDATE") \
                and not resp.has("Contact"):
            resp.append("Contact", self.ua.contact)
        self.ua._server_send(self._txn, resp)
        if status >= 200:
            self.response = resp
        return resp

    @property
    def answered(self) -> bool:
        return self.response is not None

    def __repr__(self) -> str:
        return f"<ServerRequest {self.request.method} from {self.src[0]}:{self.src[1]}>"


class Call:
    """One INVITE dialog (or dialog attempt) of the UA, in either role."""

    def __init__(self, ua: UserAgent, role: str, invite: Request, dest: Address) -> None:
        self.ua = ua
        self.role = role
        self.invite = invite
        self.dest = dest
        loop = ua.loop
        self.responses: list[Response] = []
        self.final: Response | None = None
        self.dialog: Dialog | None = None
        self.local_sdp: str | None = None
        self.remote_sdp: str | None = None
        self.state = "calling" if role == "uac" else "proceeding"
        self.ended_by: str | None = None
        #: in-dialog requests received (auto-answered unless ``auto_answer`` is False)
        self.requests: list[ServerRequest] = []
        self.auto_answer = True
        self.ack: Request | None = None
        self.retransmissions_received = 0
        self._final_fut: asyncio.Future[Response] = loop.create_future()
        self._ended: asyncio.Future[Request | None] = loop.create_future()
        self._confirmed: asyncio.Future[None] = loop.create_future()
        self._queue: asyncio.Queue[ServerRequest] = asyncio.Queue()
        self._invite_txn: _Txn | None = None
        self._ack_waiter: _Txn | None = None
        self._pending_reinvite: Response | None = None

    # -- status ------------------------------------------------------------------------------
    @property
    def status(self) -> int | None:
        """Status of the final response to the INVITE (None while pending)."""
        return self.final.status if self.final is not None else None

    @property
    def provisional(self) -> list[Response]:
        return [r for r in self.responses if r.status < 200]

    @property
    def confirmed(self) -> bool:
        return self.state == "confirmed"

    @property
    def ended(self) -> bool:
        return self.state in ("ended", "failed")

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    def __repr__(self) -> str:
        return f"<Call {self.role} {self.state} {self.call_id}>"

    # -- waiting -----------------------------------------------------------------------------
    async def wait_final(self, timeout: float = DEFAULT_TIMEOUT) -> Response:
        """The final response to the INVITE (408 is synthesized on Timer B)."""
        return await _wait(asyncio.shield(self._final_fut), timeout,
                           f"no final response to INVITE {self.call_id}")

    async def wait_confirmed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Until the dialog is confirmed (uac: 2xx received; uas: ACK received)."""
        await _wait(asyncio.shield(self._confirmed), timeout,
                    f"call {self.call_id} not confirmed")

    async def wait_ended(self, timeout: float = DEFAULT_TIMEOUT) -> Request | None:
        """Until the call ends; returns the BYE the far end sent (None if we hung up)."""
        return await _wait(asyncio.shield(self._ended), timeout,
                           f"call {self.call_id} did not end")

    async def next_request(self, method: str | None = None,
                           timeout: float = DEFAULT_TIMEOUT) -> ServerRequest:
        """The next in-dialog request from the far end (of ``method``, skipping others)."""
        while True:
            req = await _wait(self._queue.get(), timeout,
                              f"no {method or 'request'} in call {self.call_id}")
            if method is None or req.method == method.upper():
                return req

    # -- requests we send ---------------------------------------------------------------------
    def _need_dialog(self) -> Dialog:
        if self.dialog is None or self.state not in ("confirmed", "early"):
            raise RuntimeError(f"call {self.call_id} has no usable dialog (state {self.state})")
        return self.dialog

    async def request(self, method: str, *, headers: HeadersArg = None,
                      body: str | bytes | None = None, content_type: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT) -> Response:
        """Send ``method`` inside the dialog; returns the final response."""
        method = method.upper()
        if method in ("INVITE", "ACK", "CANCEL"):
            raise ValueError(f"use reinvite()/cancel() for {method}")
        dlg = self._need_dialog()
        data, ctype = _body(None, body, content_type)
        hdrs = _headers(headers)
        if ctype and not _has(hdrs, "content-type", "c"):
            hdrs.append(("Content-Type", ctype))
        req = dlg.create_request(method, headers=hdrs, body=data)
        fut = self.ua._send_request(req, self.ua._dialog_dest(dlg, self.dest))
        resp = await _wait(fut, timeout, f"no response to {method} in call {self.call_id}")
        if method == "BYE" and resp.status >= 200:
            self._end("local", None)
        return resp

    async def info(self, body: str | bytes | None = None, *,
                   content_type: str | None = "application/dtmf-relay",
                   headers: HeadersArg = None, timeout: float = DEFAULT_TIMEOUT) -> Response:
        return await self.request("INFO", headers=headers, body=body,
                                  content_type=content_type if body is not None else None,
                                  timeout=timeout)

    async def refer(self, refer_to: str, *, headers: HeadersArg = None,
                    timeout: float = DEFAULT_TIMEOUT) -> Response:
        hdrs = [("Refer-To", refer_to), *_headers(headers)]
        return await self.request("REFER", headers=hdrs, timeout=timeout)

    async def message(self, body: str, *, content_type: str = "text/plain",
                      headers: HeadersArg = None, timeout: float = DEFAULT_TIMEOUT) -> Response:
        return await self.request("MESSAGE", headers=headers, body=body,
                                  content_type=content_type, timeout=timeout)

    async def update(self, sdp: str | None = None, *, headers: HeadersArg = None,
                     timeout: float = DEFAULT_TIMEOUT) -> Response:
        resp = await self.request("UPDATE", headers=headers, body=sdp,
                                  content_type="application/sdp" if sdp else None,
                                  timeout=timeout)
        if sdp is not None and resp.status < 300:
            self.local_sdp = sdp
            if resp.body:
                self.remote_sdp = _text(resp)
        return resp

    async def hangup(self, *, headers: HeadersArg = None,
                     timeout: float = DEFAULT_TIMEOUT) -> Response:
        """Send BYE; returns its final response. The call ends either way."""
        try:
            return await self.request("BYE", headers=headers, timeout=timeout)
        finally:
            self._end("local", None)

    bye = hangup

    async def reinvite(self, sdp: str | None = None, *, headers: HeadersArg = None,
                       timeout: float = DEFAULT_TIMEOUT) -> Response:
        """Send a re-INVITE (with ``sdp``, or none for a late offer); ACKs a 2xx; returns the
        final response. A 2xx with SDP updates ``remote_sdp``."""
        dlg = self._need_dialog()
        data, ctype = _body(sdp, None, None)
        hdrs: list[tuple[str, str]] = [("Contact", self.ua.contact), *_headers(headers)]
        if ctype:
            hdrs.append(("Content-Type", ctype))
        req = dlg.create_request("INVITE", headers=hdrs, body=data)
        req.prepend("Via", self.ua._via())
        dest = self.ua._dialog_dest(dlg, self.dest)
        loop = self.ua.loop
        fut: asyncio.Future[Response] = loop.create_future()

        def on_response(resp: Response, retrans: bool) -> None:
            if 200 <= resp.status < 300:
                if not retrans:
                    dlg.receive_response(resp)
                    if resp.body:
                        self.remote_sdp = _text(resp)
                    if sdp is not None:
                        self.local_sdp = sdp
                ack_body = b""
                ack_hdrs: list[tuple[str, str]] = []
                if sdp is None and resp.body and self.local_sdp:
                    ack_body = self.local_sdp.encode()
                    ack_hdrs.append(("Content-Type", "application/sdp"))
                ack = dlg.create_request("ACK", headers=ack_hdrs, body=ack_body)
                self.ua._send_stateless(ack, dest)
            if resp.status >= 200 and not fut.done():
                fut.set_result(resp)

        self.ua._start_client(req, dest, on_response, lambda f: _resolve_timeout(fut, req))
        return await _wait(fut, timeout, f"no final response to re-INVITE in {self.call_id}")

    async def cancel(self, *, headers: HeadersArg = None,
                     timeout: float = DEFAULT_TIMEOUT) -> Response:
        """CANCEL the pending INVITE; returns the response to the CANCEL (the INVITE's own
        final, normally 487, arrives in ``call.final``)."""
        if self.role != "uac" or self.final is not None:
            raise RuntimeError("only a pending outgoing INVITE can be cancelled")
        cancel = make_cancel(self.invite, _headers(headers))
        fut = self.ua._send_request(cancel, self.dest)
        return await _wait(fut, timeout, "no response to CANCEL")

    # -- events from the UA -------------------------------------------------------------------
    def _on_invite_response(self, resp: Response, retrans: bool) -> None:
        if retrans:
            self.retransmissions_received += 1
            if self.ack is not None and self.dialog is not None:
                self.ua._send_stateless(self.ack, self.ua._dialog_dest(self.dialog, self.dest))
            return
        self.responses.append(resp)
        status = resp.status
        if status < 200:
            if self.state == "calling":
                self.state = "early" if resp.to.tag else "proceeding"
            return
        if 200 <= status < 300:
            if self.dialog is not None:  # a forked 2xx: ACK and hang it up politely
                self._ack_and_bye_fork(resp)
                return
            dlg = Dialog.from_uac(self.invite, resp)
            self.dialog = dlg
            self.ua._dialogs[dlg.tags] = self
            if resp.body:
                self.remote_sdp = _text(resp)
            ack_hdrs: list[tuple[str, str]] = []
            ack_body = b""
            if not self.invite.body and resp.body and self.local_sdp:
                ack_body = self.local_sdp.encode()
                ack_hdrs.append(("Content-Type", "application/sdp"))
            self.ack = dlg.create_request("ACK", headers=ack_hdrs, body=ack_body)
            self.ua._send_stateless(self.ack, self.ua._dialog_dest(dlg, self.dest))
            self.state = "confirmed"
            if not self._confirmed.done():
                self._confirmed.set_result(None)
        else:
            self._failed(resp)
            return
        self.final = resp
        if not self._final_fut.done():
            self._final_fut.set_result(resp)

    def _ack_and_bye_fork(self, resp: Response) -> None:
        dlg = Dialog.from_uac(self.invite, resp)
        dest = self.ua._dialog_dest(dlg, self.dest)
        self.ua._send_stateless(dlg.create_request("ACK"), dest)
        self.ua._send_request(dlg.create_request("BYE"), dest)

    def _on_invite_timeout(self) -> None:
        resp = self.invite.create_response(408, "Request Timeout")
        self.responses.append(resp)
        self._failed(resp)

    def _on_request(self, sreq: ServerRequest) -> None:
        """An in-dialog request (not ACK)."""
        self.requests.append(sreq)
        method = sreq.method
        if method == "BYE":
            if self.auto_answer:
                sreq.respond(200)
            self._end("remote", sreq.request)
        elif self.auto_answer:
            if method == "INVITE":
                if sreq.request.body:
                    self.remote_sdp = _text(sreq.request)
                sdp = self.local_sdp
                sreq.respond(200, sdp=sdp) if sdp else sreq.respond(200)
            elif method == "UPDATE":
                if sreq.request.body:
                    self.remote_sdp = _text(sreq.request)
                    sreq.respond(200, sdp=self.local_sdp) if self.local_sdp else sreq.respond(200)
                else:
                    sreq.respond(200)
            else:
                sreq.respond(200)
        self._queue.put_nowait(sreq)

    def _on_ack(self, ack: Request) -> None:
        waiter = self._ack_waiter
        if waiter is not None:
            self.ua._run(waiter, waiter.machine.receive(ack, self.ua.loop.time()))
        if ack.body and not self.invite.body:
            self.remote_sdp = _text(ack)

    def _acked(self, ack: Request) -> None:
        self.ack = ack
        self._ack_waiter = None
        if self.state in ("proceeding", "early", "answered"):
            self.state = "confirmed"
        if not self._confirmed.done():
            self._confirmed.set_result(None)

    def _failed(self, final: Response | None) -> None:
        """The INVITE got (or was given) a failure final response: no dialog."""
        self.state = "failed"
        if final is not None:
            self.final = final
            if not self._final_fut.done():
                self._final_fut.set_result(final)
        if not self._confirmed.done():
            status = final.status if final is not None else "no"
            self._confirmed.set_exception(RuntimeError(
                f"call {self.call_id} failed ({status} final response)"))
            self._confirmed.add_done_callback(lambda f: f.exception())
        if not self._ended.done():
            self._ended.set_result(None)

    def _end(self, by: str, bye: Request | None) -> None:
        if self.state in ("ended", "failed"):
            return
        self.state = "ended"
        self.ended_by = by
        if self._ack_waiter is not None:
            self.ua._stop(self._ack_waiter)
            self._ack_waiter = None
        if self.dialog is not None:
            self.dialog.terminate()
        if not self._confirmed.done():
            exc: Exception = (TimeoutError(f"no ACK for the 200 to {self.call_id}")
                              if by == "ack-timeout" else
                              RuntimeError(f"call {self.call_id} ended before it was confirmed"))
            self._confirmed.set_exception(exc)
            self._confirmed.add_done_callback(lambda f: f.exception())
        if not self._ended.done():
            self._ended.set_result(bye)


class IncomingCall:
    """An INVITE that reached the UA (callee role): ring, answer or reject it."""

    def __init__(self, ua: UserAgent, sreq: ServerRequest) -> None:
        self.ua = ua
        self.server_request = sreq
        self.request = sreq.request
        self.src = sreq.src
        self.canceled = False
        self.cancel_request: Request | None = None
        self.call = Call(ua, "uas", sreq.request, sreq.src)
        self.call.remote_sdp = _text(sreq.request) or None
        sreq.call = self.call
        sreq.to_tag = _token()
        self._cancel_fut: asyncio.Future[Request] = ua.loop.create_future()

    @property
    def remote_sdp(self) -> str | None:
        return self.call.remote_sdp

    @property
    def call_id(self) -> str:
        return self.request.call_id

    def get(self, name: str) -> str | None:
        return self.request.get(name)

    def ring(self, status: int = 180, *, headers: HeadersArg = None,
             sdp: str | None = None) -> Response:
        if not 100 < status < 200:
            raise ValueError("ring() sends a 1xx (101-199)")
        return self.server_request.respond(status, headers=headers, sdp=sdp)

    def reject(self, status: int = 486, reason: str | None = None, *,
               headers: HeadersArg = None) -> Response:
        if status < 300:
            raise ValueError("reject() sends a 3xx-6xx")
        resp = self.server_request.respond(status, reason, headers=headers)
        self.call._failed(resp)
        return resp

    async def answer(self, sdp: str | None = None, *, headers: HeadersArg = None,
                     wait_ack: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Call:
        """Send 200 (with ``sdp``); returns the call, confirmed when ``wait_ack``."""
        if self.canceled:
            raise RuntimeError(f"the INVITE {self.call_id} was cancelled")
        call = self.call
        resp = self.server_request.respond(200, headers=headers, sdp=sdp)
        call.final = resp
        call.local_sdp = sdp
        dlg = Dialog.from_uas(self.request, resp)
        call.dialog = dlg
        call.state = "answered"
        self.ua._dialogs[dlg.tags] = call
        if not call._final_fut.done():
            call._final_fut.set_result(resp)
        waiter = Ack2xxWaiter(resp, reliable=False, timers=self.ua.timers)
        t = _Txn(waiter, self.src, None, None)
        t.on_request = call._acked

        def no_ack() -> None:
            log.info("%s: no ACK for 200 to %s; sending BYE", self.ua.name, self.call_id)
            if call.dialog is not None and call.state == "answered":
                bye = call.dialog.create_request("BYE")
                self.ua._send_request(bye, self.ua._dialog_dest(call.dialog, self.src))
            call._end("ack-timeout", None)

        t.on_timeout = lambda _timer: no_ack()
        call._ack_waiter = t
        self.ua._run(t, waiter.start(self.ua.loop.time()))
        if wait_ack:
            await call.wait_confirmed(timeout)
        return call

    async def wait_cancel(self, timeout: float = DEFAULT_TIMEOUT) -> Request:
        return await _wait(asyncio.shield(self._cancel_fut), timeout,
                           f"INVITE {self.call_id} was not cancelled")

    def _on_cancel(self, cancel: Request) -> None:
        self.canceled = True
        self.cancel_request = cancel
        if not self.server_request.answered:
            self.call._failed(self.server_request.respond(487))
        if not self._cancel_fut.done():
            self._cancel_fut.set_result(cancel)

    def __repr__(self) -> str:
        return f"<IncomingCall {self.call_id} from {self.src[0]}:{self.src[1]}>"


async def _wait(aw: Awaitable[_T], timeout: float, what: str) -> _T:
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError:
        raise TimeoutError(f"{what} within {timeout:g} s") from None


def _resolve_timeout(fut: asyncio.Future[Response], req: Request) -> None:
    if not fut.done():
        fut.set_result(req.create_response(408, "Request Timeout"))


class UserAgent:
    """A SIP phone for tests. Build with ``UserAgent.on_network(net, "alice")`` or
    ``await UserAgent.udp("alice")``; ``proxy`` is where out-of-dialog requests go (the
    engine under test), whatever their Request-URI."""

    def __init__(self, name: str, *, send: Callable[[bytes, Address], None], address: Address,
                 proxy: Address | None = None, timers: TimerConfig | None = None,
                 loop: asyncio.AbstractEventLoop | None = None,
                 close: Callable[[], None] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.address = address
        self.proxy = proxy
        self.timers = timers or TimerConfig()
        self.loop = loop if loop is not None else asyncio.get_running_loop()
        self._sendto = send
        self._close = close
        self._client: dict[TransactionKey, _Txn] = {}
        self._server: dict[TransactionKey, _Txn] = {}
        self._dialogs: dict[tuple[str, str, str], Call] = {}
        self._incoming: dict[TransactionKey, IncomingCall] = {}
        self._calls: asyncio.Queue[IncomingCall] = asyncio.Queue()
        self._requests: asyncio.Queue[ServerRequest] = asyncio.Queue()
        #: out-of-dialog non-INVITE methods answered automatically: method -> status
        self.auto_respond: dict[str, int] = {"OPTIONS": 200}
        #: every message received, in order (for assertions)
        self.received: list[Request | Response] = []
        self.closed = False

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def on_network(cls, net: FakeNetwork, name: str, *, host: str | None = None,
                   port: int = 5060, proxy: Address | None = None,
                   timers: TimerConfig | None = None) -> UserAgent:
        """A UA bound on a ``FakeNetwork`` (a fresh 127.0.x.y host unless given)."""
        holder: list[UserAgent] = []
        ep = net.bind((host or net.new_host(), port), lambda d, s: holder[0].datagram_received(d, s))
        ua = cls(name, send=lambda d, a: ep.sendto(d, a), address=ep.address, proxy=proxy,
                 timers=timers, loop=net.loop, close=ep.close)
        holder.append(ua)
        return ua

    @classmethod
    async def udp(cls, name: str, *, host: str = "127.0.0.1", port: int = 0,
                  proxy: Address | None = None, timers: TimerConfig | None = None
                  ) -> UserAgent:
        """A UA on a real UDP socket (port 0: any free port)."""
        loop = asyncio.get_running_loop()
        holder: list[UserAgent] = []

        class _Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
                if holder:
                    holder[0].datagram_received(data, (addr[0], addr[1]))

        transport, _ = await loop.create_datagram_endpoint(_Proto, local_addr=(host, port))
        sockname = transport.get_extra_info("sockname")
        ua = cls(name, send=lambda d, a: transport.sendto(d, a), address=(host, sockname[1]),
                 proxy=proxy, timers=timers, loop=loop, close=transport.close)
        holder.append(ua)
        return ua

    # -- identity ----------------------------------------------------------------------------
    @property
    def hostport(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def uri(self) -> str:
        """``sip:<name>@<host>:<port>``: where to reach this UA."""
        return f"sip:{self.name}@{self.hostport}"

    @property
    def contact(self) -> str:
        return f"<{self.uri}>"

    def __repr__(self) -> str:
        return f"<UserAgent {self.name} {self.hostport}>"

    # -- caller API --------------------------------------------------------------------------
    async def invite(self, target: str, *, sdp: str | None = None,
                     headers: HeadersArg = None, body: str | bytes | None = None,
                     content_type: str | None = None, wait: bool = True,
                     timeout: float = DEFAULT_TIMEOUT) -> Call:
        """Place a call. With ``wait`` (default) returns once the final response arrived,
        whatever its status: check ``call.status``. Without, returns at once."""
        data, ctype = _body(sdp, body, content_type)
        req = self._new_request("INVITE", target, headers, data, ctype)
        dest = self._dest_for(target)
        call = Call(self, "uac", req, dest)
        call.local_sdp = sdp
        t = self._start_client(req, dest, call._on_invite_response,
                               lambda _f: call._on_invite_timeout())
        call._invite_txn = t
        if wait:
            await call.wait_final(timeout)
        return call

    call = invite

    async def request(self, target: str, method: str = "OPTIONS", *,
                      headers: HeadersArg = None, body: str | bytes | None = None,
                      content_type: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT) -> Response:
        """An out-of-dialog non-INVITE request (OPTIONS, MESSAGE, REGISTER...); returns its
        final response."""
        method = method.upper()
        if method in ("INVITE", "ACK", "CANCEL"):
            raise ValueError(f"use invite() for {method}")
        data, ctype = _body(None, body, content_type)
        req = self._new_request(method, target, headers, data, ctype)
        fut = self._send_request(req, self._dest_for(target))
        result: Response = await _wait(fut, timeout, f"no response to {method} {target}")
        return result

    async def options(self, target: str, **kw: Any) -> Response:
        return await self.request(target, "OPTIONS", **kw)

    async def message(self, target: str, text: str, **kw: Any) -> Response:
        kw.setdefault("content_type", "text/plain")
        return await self.request(target, "MESSAGE", body=text, **kw)

    # -- callee API --------------------------------------------------------------------------
    async def next_call(self, timeout: float = DEFAULT_TIMEOUT) -> IncomingCall:
        """The next INVITE that reached this UA (100 Trying was already sent)."""
        result: IncomingCall = await _wait(self._calls.get(), timeout,
                                           f"{self.name}: no incoming call")
        return result

    async def next_request(self, method: str | None = None,
                           timeout: float = DEFAULT_TIMEOUT) -> ServerRequest:
        """The next out-of-dialog non-INVITE request (of ``method``)."""
        while True:
            req: ServerRequest = await _wait(self._requests.get(), timeout,
                                             f"{self.name}: no {method or 'request'}")
            if method is None or req.method == method.upper():
                return req

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for table in (self._client, self._server):
            for t in list(table.values()):
                self._stop(t)
        for call in self._dialogs.values():
            if call._ack_waiter is not None:
                self._stop(call._ack_waiter)
        if self._close is not None:
            self._close()

    # -- building ----------------------------------------------------------------------------
    def _via(self) -> str:
        return f"SIP/2.0/UDP {self.hostport};rport;branch=z9hG4bK{_token()}"

    def _new_request(self, method: str, target: str, headers: HeadersArg, body: bytes,
                     ctype: str | None) -> Request:
        hdrs = _headers(headers)
        names = {n.lower() for n, _ in hdrs}
        out: list[tuple[str, str]] = [("Via", self._via()), ("Max-Forwards", "70")]
        if not names & {"from", "f"}:
            out.append(("From", f"<{self.uri}>;tag={_token()}"))
        if not names & {"to", "t"}:
            out.append(("To", f"<{target}>"))
        if not names & {"call-id", "i"}:
            out.append(("Call-ID", f"{_token()}{_token()}@{self.address[0]}"))
        out.append(("CSeq", f"1 {method}"))
        if not names & {"contact", "m"} and method in ("INVITE", "SUBSCRIBE", "REGISTER",
                                                        "REFER"):
            out.append(("Contact", self.contact))
        fixed: list[tuple[str, str]] = []
        for n, v in hdrs:
            if n.lower() in ("from", "f") and ";tag=" not in v:
                v = f"{v};tag={_token()}"
            fixed.append((n, v))
        out.extend(fixed)
        if ctype and not names & {"content-type", "c"}:
            out.append(("Content-Type", ctype))
        out.append(("Content-Length", str(len(body))))
        return Request(method, target, out, body)

    def _dest_for(self, target: str) -> Address:
        if self.proxy is not None:
            return self.proxy
        addr = _addr_of_uri(target)
        if addr is None:
            raise ValueError(f"cannot send to {target!r}: no proxy set and the host is not an IP")
        return addr

    def _dialog_dest(self, dlg: Dialog, fallback: Address) -> Address:
        uri, routes = dlg.request_target()
        addr = _addr_of_uri(routes[0]) if routes else _addr_of_uri(uri)
        return addr or fallback

    # -- transactions ------------------------------------------------------------------------
    def _start_client(self, req: Request, dest: Address,
                      on_response: Callable[[Response, bool], None],
                      on_timeout: Callable[[str], None]) -> _Txn:
        if req.method == "INVITE":
            machine: Any = ClientInviteTransaction(req, reliable=False, timers=self.timers)
        else:
            machine = ClientNonInviteTransaction(req, reliable=False, timers=self.timers)
        key = machine.key
        t = _Txn(machine, dest, key, self._client)
        t.on_response = on_response
        t.on_timeout = on_timeout
        self._client[key] = t
        self._run(t, machine.send(req, self.loop.time()))
        return t

    def _send_request(self, req: Request, dest: Address) -> asyncio.Future[Response]:
        """A non-INVITE request in its own client transaction; resolves with the final."""
        if not req.has("Via"):
            req.prepend("Via", self._via())
        fut: asyncio.Future[Response] = self.loop.create_future()

        def on_response(resp: Response, _retrans: bool) -> None:
            if resp.status >= 200 and not fut.done():
                fut.set_result(resp)

        self._start_client(req, dest, on_response, lambda _f: _resolve_timeout(fut, req))
        return fut

    def _send_stateless(self, req: Request, dest: Address) -> None:
        """ACK for a 2xx: no transaction (a fresh Via branch each time it is built)."""
        if not req.has("Via"):
            req.prepend("Via", self._via())
        self._sendto(req.to_bytes(), dest)

    def _server_send(self, t: _Txn, resp: Response) -> None:
        try:
            actions = t.machine.send(resp, self.loop.time())
        except TransactionStateError as exc:
            raise RuntimeError(f"cannot send {resp.status}: {exc}") from None
        self._run(t, actions)

    def _run(self, t: _Txn, actions: list[Any]) -> None:
        for a in actions:
            kind = type(a)
            if kind is SendMessage:
                self._sendto(a.msg.to_bytes(), t.dest)
            elif kind is DeliverResponse:
                if t.on_response is not None:
                    t.on_response(a.msg, a.retransmission)
            elif kind is DeliverRequest:
                if t.on_request is not None:
                    t.on_request(a.msg)
            elif kind is TransactionTimeout or kind is SendBye:
                if t.on_timeout is not None:
                    t.on_timeout(getattr(a, "timer", "bye"))
            elif kind is TransactionTerminated:
                self._stop(t)
                return
        self._arm(t)

    def _arm(self, t: _Txn) -> None:
        if t.handle is not None:
            t.handle.cancel()
            t.handle = None
        nt = t.machine.next_timer()
        if nt is not None and not self.closed:
            t.handle = self.loop.call_at(nt, self._wake, t)

    def _wake(self, t: _Txn) -> None:
        t.handle = None
        self._run(t, t.machine.handle_timer(self.loop.time()))

    def _stop(self, t: _Txn) -> None:
        if t.handle is not None:
            t.handle.cancel()
            t.handle = None
        if t.table is not None and t.table.get(t.key) is t:
            del t.table[t.key]

    # -- receiving ---------------------------------------------------------------------------
    def datagram_received(self, data: bytes, src: Address) -> None:
        if self.closed or not data.strip():
            return
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            log.warning("%s: unparseable SIP from %s:%s: %s", self.name, src[0], src[1],
                        exc.reason)
            return
        self.received.append(msg)
        try:
            if isinstance(msg, Response):
                self._on_response(msg)
            else:
                self._on_request(msg, src)
        except Exception:
            log.exception("%s: error handling %r", self.name, msg)

    def _on_response(self, resp: Response) -> None:
        t = self._client.get(transaction_key_for_response(resp))
        if t is not None:
            self._run(t, t.machine.receive(resp, self.loop.time()))
            return
        # a 2xx retransmission after the INVITE transaction ended: ACK it again
        if 200 <= resp.status < 300 and resp.cseq.method == "INVITE":
            call = self._dialogs.get((resp.call_id, resp.from_.tag or "", resp.to.tag or ""))
            if call is not None:
                call._on_invite_response(resp, True)

    def _on_request(self, req: Request, src: Address) -> None:
        method = req.method
        now = self.loop.time()
        if method == "ACK":
            t = self._server.get(transaction_key_for_request(req))
            if t is not None:  # ACK for a non-2xx final ends the INVITE transaction
                self._run(t, t.machine.receive(req, now))
            call = self._dialogs.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
            if call is not None:  # ACK for a 2xx
                call._on_ack(req)
            return
        key = transaction_key_for_request(req)
        t = self._server.get(key)
        if t is not None:  # a retransmission
            self._run(t, t.machine.receive(req, now))
            return
        if method == "INVITE":
            machine: Any = ServerInviteTransaction(req, reliable=False, timers=self.timers)
        else:
            machine = ServerNonInviteTransaction(req, reliable=False, timers=self.timers)
        t = _Txn(machine, src, key, self._server)
        self._server[key] = t
        delivered: list[Request] = []
        t.on_request = delivered.append
        self._run(t, machine.receive(req, now))
        t.on_request = None
        if not delivered:
            return
        if method == "CANCEL":
            self._on_cancel(req, src, t)
            return
        if req.to.tag is not None:
            call = self._dialogs.get((req.call_id, req.to.tag or "", req.from_.tag or ""))
            if call is None or call.ended:
                ServerRequest(self, req, src, t).respond(481)
                return
            if call.dialog is not None:
                verdict = call.dialog.receive_request(req)
                if verdict is not None:
                    ServerRequest(self, req, src, t, call).respond(verdict)
                    return
            call._on_request(ServerRequest(self, req, src, t, call))
            return
        sreq = ServerRequest(self, req, src, t)
        if method == "INVITE":
            self._server_send(t, make_trying(req))
            incoming = IncomingCall(self, sreq)
            self._incoming[key] = incoming
            self._calls.put_nowait(incoming)
            return
        status = self.auto_respond.get(method)
        if status is not None:
            sreq.respond(status)
        self._requests.put_nowait(sreq)

    def _on_cancel(self, cancel: Request, src: Address, t: _Txn) -> None:
        key = cancelled_transaction_key(cancel)
        incoming = self._incoming.get(key)
        sreq = ServerRequest(self, cancel, src, t)
        if incoming is None:
            sreq.respond(481)
            return
        sreq.to_tag = incoming.server_request.to_tag
        sreq.respond(200)
        incoming._on_cancel(cancel)
