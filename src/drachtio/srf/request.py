"""``Request``: a SIP request received from the engine, or one the application sent.

Received requests carry the engine's meta (source address, transport, transaction and
dialog ids) and a ``res`` to answer them with. Sent requests are the engine's echo of what
went on the wire; they emit ``response(res, ack)`` for every response, offer
``await req.response()`` for the final one, and ``req.cancel()`` for an INVITE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drachtio.sip import Message as _SipMsg
from drachtio.srf.emitter import Emitter, Listener, spawn
from drachtio.srf.message import HeadersArg, SipMessage
from drachtio.wire.codec import ControlMessage

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.agent import Agent
    from drachtio.srf.response import IncomingResponse, Response
    from drachtio.srf.srf import Srf

__all__ = ["Request", "ServerRef"]

log = logging.getLogger("drachtio.srf")


@dataclass(frozen=True, slots=True)
class ServerRef:
    """Which engine a request came from: its address and its SIP hostports."""

    address: str
    hostport: str


class Request(SipMessage, Emitter):
    """A SIP request plus the engine's meta.

    Events: ``response(res, ack)`` (sent requests), ``cancel(cancel_msg)`` (received
    INVITEs the caller cancelled), ``update(req, res)`` (UPDATE during a pending INVITE),
    ``authenticate(req)`` (a digest retry replaced the wire request).
    """

    def __init__(
        self,
        msg: _SipMsg | ControlMessage,
        *,
        source: str = "network",
        address: str = "",
        port: str | int = "",
        protocol: str = "",
        time: str = "",
        transaction_id: str = "",
        dialog_id: str = "",
        received_on: str | None = None,
        session_token: str | None = None,
        server: ServerRef | None = None,
        agent: Agent | None = None,
    ) -> None:
        SipMessage.__init__(self, msg)
        self._method: str | None = None
        self._uri: str | None = None
        self.source = source
        self.source_address = address
        try:
            self.source_port = int(port) if port not in ("", None) else 5060
        except (TypeError, ValueError):
            self.source_port = 5060
        self.protocol = protocol
        self.stack_time = time
        self.transaction_id = transaction_id
        self.dialog_id = dialog_id
        self.received_on = received_on
        self.session_token = session_token
        self.server = server
        self.agent = agent
        self.res: Response | None = None
        self.srf: Srf | None = None
        self.canceled = False
        #: free-form per-request storage for middleware
        self.locals: dict[str, Any] = {}
        # sent requests only
        self.auth: Any = None
        self._send_args: dict[str, Any] | None = None
        self._auth_state: Any = None
        self._final: asyncio.Future[IncomingResponse] | None = None
        self._waiters: list[asyncio.Future[IncomingResponse]] | None = None
        self._responses: list[tuple[IncomingResponse, Callable[..., Any]]] = []
        self._retrying = False
        self._held_cancel: tuple[list[tuple[str, str]], asyncio.Future[Request]] | None = None

    # -- message fields ----------------------------------------------------------------------
    @property
    def method(self) -> str:
        m = self._method
        if m is None:
            first = self._first_line()
            m = (first.split(" ", 1)[0] if first is not None
                 else str(self.msg.method))  # type: ignore[attr-defined]
            self._method = m
        return m

    @property
    def uri(self) -> str:
        u = self._uri
        if u is None:
            first = self._first_line()
            parts = first.split(" ") if first is not None else ()
            u = parts[1] if len(parts) == 3 else str(self.msg.uri)  # type: ignore[attr-defined]
            self._uri = u
        return u

    url = uri

    @property
    def stack_txn_id(self) -> str:
        return self.transaction_id

    @property
    def stack_dialog_id(self) -> str:
        return self.dialog_id

    @property
    def is_new_invite(self) -> bool:
        """An INVITE without a To tag (so not a re-INVITE)."""
        return self.method == "INVITE" and not self._to_tagged()

    @property
    def can_form_dialog(self) -> bool:
        """An INVITE or SUBSCRIBE without a To tag (the reference's check is always true)."""
        return self.method in ("INVITE", "SUBSCRIBE") and not self._to_tagged()

    def _to_tagged(self) -> bool:
        to = self.msg.get("To") or ""
        gt = to.rfind(">")
        return ";tag=" in to[gt + 1 if gt >= 0 else 0 :].replace(" ", "").lower()

    @property
    def meta(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_address": self.source_address,
            "source_port": self.source_port,
            "protocol": self.protocol,
            "time": self.stack_time,
            "transaction_id": self.transaction_id,
            "dialog_id": self.dialog_id,
        }

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} source={self.source} txn={self.transaction_id}>"

    # -- sent requests -------------------------------------------------------------------------
    def _init_sent(self, loop: asyncio.AbstractEventLoop) -> None:
        self._final = loop.create_future()

    def _listener_attached(self, event: str, listener: Listener) -> None:
        """A late ``response`` listener first sees the responses already received."""
        if event != "response" or not self._responses:
            return
        for res, ack in list(self._responses):
            try:
                out = listener(res, ack)
            except Exception:
                log.exception("response listener raised")
                continue
            if asyncio.iscoroutine(out):
                spawn(out, name="Request:response")

    def _deliver(self, res: IncomingResponse, ack: Callable[..., Any]) -> None:
        self._responses.append((res, ack))
        if len(self._responses) > 32:  # keep replay bounded (long ringing with many 18x)
            del self._responses[1:-16]
        self.emit("response", res, ack)
        if res.status >= 200 and self._final is not None and not self._final.done():
            self._final.set_result(res)
            self._wake(res, None)

    def _fail(self, exc: BaseException) -> None:
        if self._final is not None and not self._final.done():
            self._final.set_exception(exc)
            self._final.add_done_callback(_retrieve)
            self._wake(None, exc)

    async def response(self) -> IncomingResponse:
        """The final response to a request this application sent."""
        final = self._final
        if final is None:
            raise RuntimeError("response() is only available on requests the application sent")
        if final.done():
            return final.result()
        # a future of this caller's own (as asyncio.shield, without its extra loop turn):
        # cancelling one await must not cancel the outcome other callers wait for
        waiter: asyncio.Future[IncomingResponse] = final.get_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        return await waiter

    def _wake(self, res: IncomingResponse | None, exc: BaseException | None) -> None:
        """Settle the ``response()`` waiters (those still waiting) like ``_final``."""
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if waiter.done():
                continue
            if exc is not None:
                waiter.set_exception(exc)
            elif res is not None:
                waiter.set_result(res)

    @property
    def final_response(self) -> IncomingResponse | None:
        if self._final is not None and self._final.done() and not self._final.exception():
            return self._final.result()
        return None

    def cancel(self, headers: HeadersArg = None) -> asyncio.Future[Request]:
        """CANCEL an INVITE this application sent; resolves with the CANCEL as sent."""
        from drachtio.srf.message import normalize_headers

        if self.agent is None or self.source != "application" or self._final is None:
            raise RuntimeError("cancel() can only be used on a request the application sent")
        hdrs = normalize_headers(headers)
        if self._retrying:
            # a digest retry is replacing the wire request: send when its txn id is known
            fut: asyncio.Future[Request] = asyncio.get_running_loop().create_future()
            self._held_cancel = (hdrs, fut)
            return fut
        return self.agent.send_request(
            "CANCEL", self.uri, hdrs, "", transaction_id=self.transaction_id
        )

    def _release_held_cancel(self) -> None:
        held, self._held_cancel = self._held_cancel, None
        if held is None or self.agent is None:
            return
        hdrs, fut = held
        inner = self.agent.send_request(
            "CANCEL", self.uri, hdrs, "", transaction_id=self.transaction_id
        )

        def done(f: asyncio.Future[Request]) -> None:
            exc = asyncio.CancelledError() if f.cancelled() else f.exception()
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(f.result())

        inner.add_done_callback(done)

    def proxy(self, destinations: Any = None, **opts: Any) -> Any:
        """Proxy this incoming request: ``await req.proxy("sip:b.example", record_route=True)``
        (``drachtio.srf.proxy.proxy_request``; destinations default to the request-URI)."""
        from drachtio.srf.proxy import proxy_request

        return proxy_request(self.srf, self, destinations, **opts)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    # mark the exception as seen: whoever awaits response() still gets it
    if not fut.cancelled():
        fut.exception()
