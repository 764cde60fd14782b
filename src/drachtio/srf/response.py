"""Responses: ``Response`` answers a received request; ``IncomingResponse`` is one received.

``res.send(...)`` writes the response to the engine at once and returns a future for the
message as the engine sent it, so both ``res.send(486)`` (fire and forget, from a plain
function) and ``sent = await res.send(200, body=sdp)`` work.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drachtio.srf.emitter import Emitter
from drachtio.srf.message import HeadersArg, SipMessage, _status_of, normalize_headers
from drachtio.srf.status import is_valid_status, reason_phrase

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.sip import Message as _SipMsg
    from drachtio.srf.agent import Agent
    from drachtio.srf.request import Request
    from drachtio.srf.srf import Srf
    from drachtio.wire.codec import ControlMessage

__all__ = ["IncomingResponse", "Response", "SentMessage"]

log = logging.getLogger("drachtio.srf")

_TAG_RE = re.compile(r";\s*tag\s*=\s*([^;>\s]+)", re.IGNORECASE)


class SentMessage(SipMessage):
    """A message as the engine actually sent it, with the meta of the ``OK`` answer."""

    def __init__(
        self,
        msg: _SipMsg | ControlMessage,
        *,
        protocol: str = "",
        address: str = "",
        port: str = "",
        time: str = "",
        transaction_id: str = "",
        dialog_id: str = "",
    ) -> None:
        super().__init__(msg)
        self.protocol = protocol
        self.address = address
        self.port = port
        self.stack_time = time
        self.transaction_id = transaction_id
        self.dialog_id = dialog_id

    @property
    def status(self) -> int:
        first = self._first_line()
        code = _status_of(first) if first is not None else None
        return code if code is not None else int(getattr(self.msg, "status", 0))

    @property
    def reason(self) -> str:
        return self._reason() or ""


def _fail_quietly(fut: asyncio.Future[Any], exc: BaseException) -> None:
    fut.set_exception(exc)
    fut.exception()  # retrieved: awaiting still raises, but no "never retrieved" warning


class Response(Emitter):
    """The response to a received request. Answer with ``send``.

    ``set(name, value)`` adds a header sent with every response from this object (sticky);
    ``headers=`` on ``send`` applies to that one response only.
    """

    def __init__(self, req: Request | None = None, agent: Agent | None = None) -> None:
        self._req = req
        self._req_ref: weakref.ref[Request] | None = None
        self.agent = agent
        self.srf: Srf | None = None
        self.status: int | None = None
        self.reason: str | None = None
        self.finished = False
        self.dialog_id = ""
        self.sent: SentMessage | None = None
        self._sticky: list[tuple[str, str]] = []
        self._noop = False  # responses to engine-generated requests cannot be sent

    @property
    def req(self) -> Request | None:
        """The request this answers. Held weakly once the final response is sent (the
        request holds its response as ``req.res``): the pair is then freed by reference
        counting, not by the cycle collector."""
        r = self._req
        if r is None and self._req_ref is not None:
            r = self._req_ref()
        return r

    @req.setter
    def req(self, value: Request | None) -> None:
        self._req, self._req_ref = value, None

    def _release_req(self) -> None:
        r = self._req
        if r is not None:
            self._req_ref = weakref.ref(r)
            self._req = None

    @property
    def final_response_sent(self) -> bool:
        return self.finished

    @property
    def headers_sent(self) -> bool:
        return self.finished

    @property
    def status_code(self) -> int | None:
        return self.status

    def set(self, name: str, value: str) -> None:
        self._sticky.extend(normalize_headers([(name, value)]))

    def get(self, name: str) -> str | None:
        low = name.lower()
        for n, v in self._sticky:
            if n.lower() == low:
                return v
        return None

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def send(
        self,
        status: int,
        reason: str | None = None,
        headers: HeadersArg = None,
        body: str | bytes | None = None,
        *,
        on_ack: Callable[[Request], Any] | None = None,
    ) -> asyncio.Future[SentMessage | None]:
        """Send a response; resolves with the message as sent (None for engine requests).

        ``on_ack(req)`` is called when the ACK (after a 2xx to an INVITE) or the PRACK
        (after a reliable provisional) arrives.
        """
        return self._send(status, reason, headers, body, on_ack=on_ack)

    def _send(
        self,
        status: int,
        reason: str | None = None,
        headers: HeadersArg = None,
        body: str | bytes | None = None,
        *,
        on_ack: Callable[[Request], Any] | None = None,
        on_sent: Callable[[SentMessage], None] | None = None,
    ) -> asyncio.Future[SentMessage | None]:
        """``send`` plus ``on_sent``: run synchronously with the echo, before anything that
        follows it (the ACK...) is processed."""
        if not is_valid_status(status):
            raise ValueError(f"status must be an int SIP status code 100..699, got {status!r}")
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"reason must be a str or None, got {reason!r}")
        if reason is not None and ("\r" in reason or "\n" in reason):
            raise ValueError("reason must not contain CR or LF")
        if on_ack is not None and not callable(on_ack):
            raise TypeError(f"on_ack must be callable, got {on_ack!r}")
        hdrs = normalize_headers(headers)
        agent = self.agent
        loop = agent.loop if agent is not None else asyncio.get_running_loop()
        fut: asyncio.Future[SentMessage | None] = loop.create_future()
        if self.finished:
            log.warning("%s %d not sent: final response already sent",
                        self.req.method if self.req else "", status)
            _fail_quietly(fut, RuntimeError("final response already sent"))
            return fut
        if self._noop or self.agent is None or self.req is None:
            if status >= 200:
                self.finished = True
                self._release_req()
            fut.set_result(None)
            return fut
        self.status = status
        self.reason = reason or reason_phrase(status)
        if status >= 200:
            self.finished = True
        self.agent.send_response(self, status, self.reason, self._sticky + hdrs, body, on_ack, fut,
                                 on_sent)
        if status >= 200:
            self._release_req()
            self.emit("end", status, self.reason)
            if self.listener_count("finish"):
                loop.call_soon(self.emit, "finish")
        return fut

    def _base_headers(self, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Call-ID, CSeq, From, To copied from the request (as drachtio-srf does; the
        engine takes them from the request anyway); an app-given To tag is kept."""
        req = self.req
        assert req is not None
        base = req._dialog_header_values()
        to = base.pop("To", "")
        out_extra: list[tuple[str, str]] = []
        for name, value in extra:
            if name.lower() in ("to", "t"):
                m = _TAG_RE.search(value)
                if m and not _TAG_RE.search(to):
                    to = f"{to};tag={m.group(1)}"
                continue
            out_extra.append((name, value))
        out = list(base.items())
        out.append(("To", to))
        out.extend(out_extra)
        return out


class IncomingResponse(SipMessage):
    """A response received to a request this application sent."""

    def __init__(
        self,
        msg: _SipMsg | ControlMessage,
        req: Request,
        *,
        source: str = "network",
        address: str = "",
        port: str = "",
        protocol: str = "",
        time: str = "",
        transaction_id: str = "",
        dialog_id: str = "",
        agent: Agent | None = None,
    ) -> None:
        super().__init__(msg)
        # the request holds its responses (replay, response()); this side is weak so the
        # two are freed by reference counting. What ack/prack need is kept here.
        self._req_ref = weakref.ref(req)
        self._req_method = req.method
        self._req_uri = req.uri
        self.source = source
        self.source_address = address
        try:
            self.source_port = int(port) if port else 5060
        except ValueError:
            self.source_port = 5060
        self.protocol = protocol
        self.stack_time = time
        self.transaction_id = transaction_id
        self.dialog_id = dialog_id
        self.agent = agent
        self._acked = False
        self._status: int | None = None

    @property
    def status(self) -> int:
        st = self._status
        if st is None:
            first = self._first_line()
            code = _status_of(first) if first is not None else None
            st = self._status = code if code is not None else int(
                self.msg.status)  # type: ignore[attr-defined]
        return st

    @property
    def reason(self) -> str:
        return self._reason() or ""

    status_code = status

    @property
    def req(self) -> Request:
        """The request this answers (None once nothing else holds that request)."""
        return self._req_ref()  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<IncomingResponse {self.status} {self.reason} to {self._req_method}>"

    @property
    def needs_ack(self) -> bool:
        """A 2xx to an INVITE: the application must ACK it (``ack()``)."""
        return self._req_method == "INVITE" and 200 <= self.status < 300

    @property
    def reliable(self) -> bool:
        """A reliable provisional (RFC 3262): needs a PRACK."""
        return 100 < self.status < 200 and self.has("RSeq")

    def ack(
        self, headers: HeadersArg = None, body: str | bytes | None = None
    ) -> asyncio.Future[SentMessage | None]:
        """Send the ACK for a 2xx to an INVITE (non-2xx are ACKed by the engine: no-op)."""
        hdrs = normalize_headers(headers)
        agent = self.agent
        loop = agent.loop if agent is not None else asyncio.get_running_loop()
        fut: asyncio.Future[SentMessage | None] = loop.create_future()
        if not self.needs_ack or self.agent is None or self._acked:
            fut.set_result(None)
            return fut
        self._acked = True
        self.agent.send_in_dialog("ACK", self._req_uri, self.dialog_id, hdrs, body, fut)
        return fut

    def prack(
        self, headers: HeadersArg = None, body: str | bytes | None = None
    ) -> asyncio.Future[SentMessage | None]:
        """Send the PRACK for a reliable provisional response."""
        hdrs = normalize_headers(headers)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[SentMessage | None] = loop.create_future()
        if not self.reliable or self.agent is None:
            fut.set_result(None)
            return fut
        # the response's CSeq is its request's (same transaction)
        rack = f"{(self.get('RSeq') or '').strip()} {(self.get('CSeq') or '').strip()}"
        hdrs = [("RAck", rack), *hdrs]
        self.agent.send_in_dialog("PRACK", self._req_uri, self.dialog_id, hdrs, body, fut)
        return fut

    def ack_function(self) -> Callable[..., Any]:
        """The second argument of the ``response`` event: ACK, PRACK or a no-op."""
        if self.needs_ack:
            return self.ack
        if self.reliable:
            return self.prack
        return _noop


def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None
