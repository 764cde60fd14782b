"""RFC 3261 section 17 transaction state machines, sans-IO (RFC 6026 and 13.3.1.4 included).

Each machine is driven, never drives: the engine feeds it messages that matched the
transaction (``receive``), responses or the first request from the TU (``send``) and wake-ups
(``handle_timer`` at or after ``next_timer()``). Every call returns a list of actions
(``SendMessage``, ``DeliverRequest``/``DeliverResponse``, ``TransactionTimeout``,
``TransportError``, ``SendBye``, ``TransactionTerminated``) for the engine to carry out in order.
Time comes in as ``now`` (seconds, any monotonic origin); nothing here reads a clock.

Transitions are data: each machine has a ``TRANSITIONS`` table mapping
``(state, event)`` to a handler, with events named after RFC 3261 (``timer_a`` ...
``timer_m``, ``1xx``, ``2xx``, ``300-699``, ``tu_2xx``, ``ack`` ...). A pair not in the table
means the input is absorbed (a retransmission, or a message the state ignores).

Also here: the matching keys of 17.1.3 / 17.2.3 (with the RFC 2543 fallback), and the message
builders a transaction layer needs (responses, 100 Trying, ACK for non-2xx, CANCEL, 487 and
200-for-CANCEL) plus merged-request detection (8.2.2.2).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from drachtio.sip import Message, Request, Response

__all__ = [
    "MAGIC_COOKIE",
    "REASON_ACK_TIMEOUT",
    "Ack2xxWaiter",
    "Action",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "DeliverRequest",
    "DeliverResponse",
    "MergedRequestIndex",
    "SendBye",
    "SendMessage",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "TimerConfig",
    "TransactionEvent",
    "TransactionKey",
    "TransactionState",
    "TransactionStateError",
    "TransactionTerminated",
    "TransactionTimeout",
    "TransportError",
    "cancelled_transaction_key",
    "has_magic_cookie",
    "is_merged_request",
    "make_ack_for_non2xx",
    "make_cancel",
    "make_cancel_ok",
    "make_request_terminated",
    "make_response",
    "make_trying",
    "transaction_key_for_request",
    "transaction_key_for_response",
]

#: Branch prefix that marks an RFC 3261 branch (globally unique, usable as a key alone).
MAGIC_COOKIE = "z9hG4bK"

#: Reason header value for the BYE the engine sends when a 2xx is never ACKed (drachtio's text).
REASON_ACK_TIMEOUT = 'SIP ;cause=200 ;text="ACK timeout"'


# --------------------------------------------------------------------------------------------
# Configuration, states, events, actions


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 timer base values in seconds (table 4).

    ``t1x64`` overrides 64*T1 (timers B, F, H, J, L, M and the 2xx give-up), as drachtio's
    configuration allows; ``d`` is timer D for unreliable transports ("at least 32 s").
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    t1x64: float | None = None
    d: float = 32.0

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "d"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TimerConfig.{name} must be a positive number, got {value!r}")
        if self.t1x64 is not None and (
            not isinstance(self.t1x64, int | float)
            or isinstance(self.t1x64, bool)
            or self.t1x64 <= 0
        ):
            raise ValueError(f"TimerConfig.t1x64 must be a positive number, got {self.t1x64!r}")
        if self.t2 < self.t1:
            raise ValueError(f"TimerConfig.t2 ({self.t2}) must not be below t1 ({self.t1})")

    @property
    def timeout(self) -> float:
        """64*T1: the transaction timeout (B, F, H, J, L, M)."""
        return self.t1x64 if self.t1x64 is not None else 64 * self.t1


DEFAULT_TIMERS = TimerConfig()


class TransactionState(enum.Enum):
    """States of every machine in this module (each uses a subset)."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"  # RFC 6026
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class TransactionEvent(enum.Enum):
    """Inputs of the machines, named after RFC 3261 / RFC 6026."""

    # responses received (client transactions)
    RESPONSE_1XX = "1xx"
    RESPONSE_2XX = "2xx"
    RESPONSE_300_699 = "300-699"
    # requests received (server transactions)
    REQUEST = "request"  # the creating request or a retransmission of it
    ACK = "ack"
    # responses from the TU (server transactions)
    TU_1XX = "tu_1xx"
    TU_2XX = "tu_2xx"
    TU_300_699 = "tu_300-699"
    # timers
    TIMER_A = "timer_a"
    TIMER_B = "timer_b"
    TIMER_D = "timer_d"
    TIMER_E = "timer_e"
    TIMER_F = "timer_f"
    TIMER_G = "timer_g"
    TIMER_H = "timer_h"
    TIMER_I = "timer_i"
    TIMER_J = "timer_j"
    TIMER_K = "timer_k"
    TIMER_L = "timer_l"
    TIMER_M = "timer_m"
    TRANSPORT_ERROR = "transport_error"


class TransactionStateError(ValueError):
    """The TU asked for something the transaction's state does not allow (h11's LocalProtocolError)."""


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Write ``msg`` on the transaction's transport to its destination."""

    msg: Message
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class DeliverResponse:
    """Hand a response to the TU. ``retransmission`` marks a repeated 2xx (same To tag)."""

    msg: Response
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class DeliverRequest:
    """Hand a request to the TU (the creating request, or an ACK in Accepted)."""

    msg: Request


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """Timer ``timer`` ("B", "F" or "H") fired: for B/F synthesize a 408 for the TU; for H
    the ACK never came."""

    timer: str


@dataclass(frozen=True, slots=True)
class TransportError:
    """The engine reported a fatal transport error; inform the TU (17.1.4, 17.2.4)."""


@dataclass(frozen=True, slots=True)
class SendBye:
    """A 2xx was never ACKed (13.3.1.4): send BYE in the dialog with this Reason header and
    tell the TU."""

    reason: str = REASON_ACK_TIMEOUT


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """The machine reached Terminated: drop it from the transaction table."""


Action = (
    SendMessage
    | DeliverResponse
    | DeliverRequest
    | TransactionTimeout
    | TransportError
    | SendBye
    | TransactionTerminated
)


# --------------------------------------------------------------------------------------------
# Matching keys (17.1.3, 17.2.3)


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """Dictionary key of a transaction.

    RFC 3261 branches (magic cookie): ``branch`` + ``method`` (+ ``sent_by`` on the server
    side). RFC 2543 peers (no cookie): ``legacy`` holds Request-URI, From tag, Call-ID, CSeq
    number and top Via (and the To tag for methods other than INVITE/ACK, whose ACK carries
    the tag the server added). Keep client and server keys in separate tables.
    """

    branch: str
    method: str
    sent_by: str = ""
    legacy: tuple[str, ...] = ()


def has_magic_cookie(branch: str | None) -> bool:
    """True for an RFC 3261 branch (starts with ``z9hG4bK``)."""
    return branch is not None and branch.startswith(MAGIC_COOKIE)


def _sent_by(msg: Message) -> str:
    via = msg.top_via
    host = via.host.lower()
    return f"{host}:{via.port}" if via.port is not None else host


def _server_key(request: Request, method: str) -> TransactionKey:
    branch = request.top_via.branch
    if has_magic_cookie(branch):
        assert branch is not None
        return TransactionKey(branch, method, _sent_by(request))
    to_tag = "" if method == "INVITE" else (request.to.tag or "")
    legacy = (
        request.uri,
        to_tag,
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.seq),
        f"{request.top_via.transport} {_sent_by(request)} {branch or ''}",
    )
    return TransactionKey("", method, "", legacy)


def transaction_key_for_request(request: Request) -> TransactionKey:
    """Key of the server transaction a received request belongs to (17.2.3).

    ACK maps to its INVITE's transaction; CANCEL has a transaction of its own. The top Via
    counts by transport, sent-by and branch only, so ``received``/``rport`` stamped on it by
    the engine do not change the key. Raises ``SipParseError`` when Via, From, To, Call-ID
    or CSeq is missing or malformed (``parse_message`` has checked them already).
    """
    method = "INVITE" if request.method == "ACK" else request.method
    return _server_key(request, method)


def cancelled_transaction_key(cancel: Request) -> TransactionKey:
    """Key of the server transaction a CANCEL targets (9.2: match it as if it were the INVITE)."""
    if cancel.method != "CANCEL":
        raise ValueError(f"expected a CANCEL request, got {cancel.method}")
    return _server_key(cancel, "INVITE")


def transaction_key_for_response(response: Response) -> TransactionKey:
    """Key of the client transaction a received response belongs to (17.1.3): branch + CSeq method."""
    return TransactionKey(response.top_via.branch or "", response.cseq.method)


def _client_key(request: Request) -> TransactionKey:
    return TransactionKey(request.top_via.branch or "", request.method)


def _top_via_text(msg: Message) -> str:
    vias = msg.get_all("Via")
    return vias[0].strip() if vias else ""


# --------------------------------------------------------------------------------------------
# Message builders


def _check_status(status: object) -> int:
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 699:
        raise ValueError(f"status must be an int in 100..699, got {status!r}")
    return status


def _headers_list(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    for item in items:
        if (
            not isinstance(item, tuple)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], str)
        ):
            raise TypeError(f"headers must be (name, value) string pairs, got {item!r}")
    return items


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Response:
    """Build a response to ``request`` (8.2.6.2); a checked front for ``Request.create_response``.

    Every Via, From, To, Call-ID and CSeq are copied; ``to_tag`` is added to To unless it
    already has one (never on a 100); ``headers`` are appended; Content-Length follows ``body``.
    """
    if not isinstance(request, Request):
        raise TypeError(f"make_response() needs a Request, got {type(request).__name__}")
    return request.create_response(
        _check_status(status), reason, to_tag=to_tag, headers=_headers_list(headers), body=body
    )


def make_trying(request: Request) -> Response:
    """100 Trying for ``request`` (8.2.6.1, 17.2.1): no To tag added; Timestamp echoed."""
    extra = [("Timestamp", ts)] if (ts := request.get("Timestamp")) is not None else []
    return make_response(request, 100, "Trying", headers=extra)


def make_ack_for_non2xx(invite: Request, response: Response) -> Request:
    """ACK for a 300-699 response (17.1.1.3): part of the INVITE transaction (same branch).

    Request-URI, Call-ID, From, CSeq number and Route from the INVITE, To from the response
    (with its tag), and only the INVITE's top Via.
    """
    headers: list[tuple[str, str]] = [("Via", _top_via_text(invite)), ("Max-Forwards", "70")]
    headers.extend(("Route", r) for r in invite.get_all("Route"))
    headers += [
        ("From", invite.get("From") or ""),
        ("To", response.get("To") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.seq} ACK"),
        ("Content-Length", "0"),
    ]
    return Request("ACK", invite.uri, headers)


def make_cancel(
    invite: Request,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
) -> Request:
    """CANCEL for a pending INVITE (9.1): same Request-URI, Call-ID, From, To, CSeq number,
    the INVITE's top Via only (same branch) and its Route headers. ``headers`` (e.g. Reason)
    are appended."""
    if not isinstance(invite, Request) or invite.method != "INVITE":
        raise ValueError("make_cancel() needs the INVITE request being cancelled")
    extra = _headers_list(headers)
    out: list[tuple[str, str]] = [("Via", _top_via_text(invite)), ("Max-Forwards", "70")]
    out.extend(("Route", r) for r in invite.get_all("Route"))
    out += [
        ("From", invite.get("From") or ""),
        ("To", invite.get("To") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.seq} CANCEL"),
    ]
    out.extend(extra)
    out.append(("Content-Length", "0"))
    return Request("CANCEL", invite.uri, out)


def make_request_terminated(invite: Request, to_tag: str | None = None) -> Response:
    """487 Request Terminated for an INVITE that a CANCEL stopped (9.2)."""
    return make_response(invite, 487, "Request Terminated", to_tag=to_tag)


def make_cancel_ok(cancel: Request, to_tag: str | None = None) -> Response:
    """200 OK for a CANCEL (9.2); pass the INVITE's response To tag so both agree."""
    return make_response(cancel, 200, "OK", to_tag=to_tag)


# --------------------------------------------------------------------------------------------
# Merged requests (8.2.2.2)


def _merge_id(request: Request) -> tuple[str, str, int, str] | None:
    if request.to.tag is not None:
        return None
    return (request.from_.tag or "", request.call_id, request.cseq.seq, request.cseq.method)


def is_merged_request(request: Request, ongoing: Request) -> bool:
    """True if ``request`` (no To tag) has the From tag, Call-ID and CSeq of ``ongoing`` but
    belongs to another transaction: the UAS answers 482 Loop Detected."""
    mid = _merge_id(request)
    if mid is None or mid != _merge_id(ongoing) or request.method == "ACK":
        return False
    return transaction_key_for_request(request) != transaction_key_for_request(ongoing)


class MergedRequestIndex:
    """Ongoing server transactions by (From tag, Call-ID, CSeq) for 482 detection."""

    __slots__ = ("_by_id",)

    def __init__(self) -> None:
        self._by_id: dict[tuple[str, str, int, str], TransactionKey] = {}

    def add(self, request: Request) -> None:
        """Remember a request that created a server transaction."""
        mid = _merge_id(request)
        if mid is not None:
            self._by_id[mid] = transaction_key_for_request(request)

    def discard(self, request: Request) -> None:
        """Forget it (its transaction terminated)."""
        mid = _merge_id(request)
        if mid is not None and self._by_id.get(mid) == transaction_key_for_request(request):
            del self._by_id[mid]

    def is_merged(self, request: Request) -> bool:
        """True if ``request`` should be answered 482 (see ``is_merged_request``)."""
        mid = _merge_id(request)
        if mid is None or request.method == "ACK":
            return False
        known = self._by_id.get(mid)
        return known is not None and known != transaction_key_for_request(request)

    def __len__(self) -> int:
        return len(self._by_id)


# --------------------------------------------------------------------------------------------
# The machines

Handler = Callable[..., list[Action]]


class _Machine:
    """Timer bookkeeping and table dispatch shared by every machine."""

    __slots__ = ("_deadlines", "_state", "reliable", "timers")

    TRANSITIONS: ClassVar[Mapping[tuple[TransactionState, TransactionEvent], Handler]] = {}

    def __init__(self, state: TransactionState, reliable: bool, timers: TimerConfig | None):
        if not isinstance(reliable, bool):
            raise TypeError(f"reliable must be a bool, got {reliable!r}")
        if timers is not None and not isinstance(timers, TimerConfig):
            raise TypeError(f"timers must be a TimerConfig, got {type(timers).__name__}")
        self._state = state
        self.reliable = reliable
        self.timers = timers or DEFAULT_TIMERS
        self._deadlines: dict[TransactionEvent, float] = {}

    # -- timers
    def next_timer(self) -> float | None:
        """The earliest time this machine needs ``handle_timer``; None when nothing is armed."""
        return min(self._deadlines.values()) if self._deadlines else None

    def handle_timer(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``, earliest first."""
        actions: list[Action] = []
        while self._deadlines:
            event = min(self._deadlines, key=self._deadlines.__getitem__)
            if self._deadlines[event] > now:
                break
            del self._deadlines[event]
            actions += self._dispatch(event, None, now)
        return actions

    def transport_error(self, now: float) -> list[Action]:
        """The transport failed to deliver what this machine sent."""
        return self._dispatch(TransactionEvent.TRANSPORT_ERROR, None, now)

    def _arm(self, timer: TransactionEvent, now: float, delay: float) -> None:
        self._deadlines[timer] = now + delay

    def _disarm(self, *timers: TransactionEvent) -> None:
        for timer in timers:
            self._deadlines.pop(timer, None)

    def _dispatch(self, event: TransactionEvent, msg: Message | None, now: float) -> list[Action]:
        handler = self.TRANSITIONS.get((self.state, event))
        return handler(self, msg, now) if handler is not None else []

    def _terminate(self, *first: Action) -> list[Action]:
        self._state = TransactionState.TERMINATED
        self._deadlines.clear()
        return [*first, TransactionTerminated()]

    def _wait_then_terminate(
        self,
        state: TransactionState,
        timer: TransactionEvent,
        now: float,
        delay: float,
        *first: Action,
    ) -> list[Action]:
        """Enter ``state`` with ``timer`` armed, or go straight to Terminated on reliable
        transports (timers D, I, J, K are zero there)."""
        if self.reliable:
            return self._terminate(*first)
        self._state = state
        self._arm(timer, now, delay)
        return list(first)

    @property
    def state(self) -> TransactionState:
        """Where the machine is (read-only: only inputs move it)."""
        return self._state

    @property
    def terminated(self) -> bool:
        return self.state is TransactionState.TERMINATED


def _response_event(status: int, prefix: str) -> TransactionEvent | None:
    if 100 <= status <= 199:
        return TransactionEvent[f"{prefix}_1XX"]
    if 200 <= status <= 299:
        return TransactionEvent[f"{prefix}_2XX"]
    if 300 <= status <= 699:
        return TransactionEvent[f"{prefix}_300_699"]
    return None


_S = TransactionState
_E = TransactionEvent


class _ClientTransaction(_Machine):
    __slots__ = ("_interval", "_started", "request")

    def __init__(
        self,
        request: Request,
        initial: TransactionState,
        reliable: bool,
        timers: TimerConfig | None,
    ) -> None:
        if not isinstance(request, Request):
            raise TypeError(f"a client transaction needs a Request, got {type(request).__name__}")
        super().__init__(initial, reliable, timers)
        self.request = request
        self._interval = self.timers.t1
        self._started = False

    @property
    def key(self) -> TransactionKey:
        """What ``transaction_key_for_response`` gives for this transaction's responses."""
        return _client_key(self.request)

    def receive(self, msg: Message, now: float) -> list[Action]:
        """A response that matched this transaction."""
        if not isinstance(msg, Response):
            raise TypeError(f"a client transaction receives responses, got {type(msg).__name__}")
        event = _response_event(msg.status, "RESPONSE")
        return self._dispatch(event, msg, now) if event is not None else []

    def _start(
        self, msg: Message, now: float, retransmit: TransactionEvent, timeout: TransactionEvent
    ) -> list[Action]:
        if msg is not self.request:
            raise ValueError("send() takes the request this client transaction was created with")
        if self._started:
            raise TransactionStateError("the request of this transaction was already sent")
        self._started = True
        if not self.reliable:
            self._arm(retransmit, now, self.timers.t1)
        self._arm(timeout, now, self.timers.timeout)
        return [SendMessage(self.request)]

    def _retransmit(
        self, timer: TransactionEvent, now: float, next_interval: float
    ) -> list[Action]:
        self._interval = next_interval
        self._arm(timer, now, next_interval)
        return [SendMessage(self.request, retransmission=True)]

    def _fail(self, _msg: Message | None, _now: float) -> list[Action]:
        return self._terminate(TransportError())

    def _end(self, _msg: Message | None, _now: float) -> list[Action]:
        return self._terminate()


class ClientInviteTransaction(_ClientTransaction):
    """INVITE client transaction (17.1.1, with RFC 6026's Accepted state).

    Calling --1xx--> Proceeding --2xx--> Accepted (Timer M) ; --300-699--> Completed (ACK,
    Timer D). Timer A retransmits in Calling (unreliable only), Timer B times out Calling.
    In Accepted every 2xx goes to the TU (``retransmission`` set for repeats) so it can
    re-send its ACK; forked 2xx with a new To tag are not retransmissions.
    """

    __slots__ = ("_2xx_tags", "_ack")

    def __init__(
        self, request: Request, *, reliable: bool = False, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(request, _S.CALLING, reliable, timers)
        if request.method != "INVITE":
            raise ValueError(f"ClientInviteTransaction needs an INVITE, got {request.method}")
        self._ack: Request | None = None
        self._2xx_tags: set[str] = set()

    @property
    def ack(self) -> Request | None:
        """The ACK generated for a non-2xx final response, once there is one."""
        return self._ack

    def send(self, msg: Message, now: float) -> list[Action]:
        """Send the INVITE (call once, right after creation)."""
        return self._start(msg, now, _E.TIMER_A, _E.TIMER_B)

    def _timer_a(self, _msg: Message | None, now: float) -> list[Action]:
        return self._retransmit(_E.TIMER_A, now, 2 * self._interval)

    def _timer_b(self, _msg: Message | None, _now: float) -> list[Action]:
        return self._terminate(TransactionTimeout("B"))

    def _provisional(self, msg: Message | None, _now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self._state = _S.PROCEEDING
        self._disarm(_E.TIMER_A, _E.TIMER_B)
        return [DeliverResponse(msg)]

    def _accept(self, msg: Message | None, now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self._disarm(_E.TIMER_A, _E.TIMER_B)
        self._state = _S.ACCEPTED
        self._arm(_E.TIMER_M, now, self.timers.timeout)
        self._2xx_tags.add(msg.to.tag or "")
        return [DeliverResponse(msg)]

    def _accepted_2xx(self, msg: Message | None, _now: float) -> list[Action]:
        assert isinstance(msg, Response)
        tag = msg.to.tag or ""
        repeat = tag in self._2xx_tags
        self._2xx_tags.add(tag)
        return [DeliverResponse(msg, retransmission=repeat)]

    def _reject(self, msg: Message | None, now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self._disarm(_E.TIMER_A, _E.TIMER_B)
        self._ack = make_ack_for_non2xx(self.request, msg)
        return self._wait_then_terminate(
            _S.COMPLETED,
            _E.TIMER_D,
            now,
            self.timers.d,
            SendMessage(self._ack),
            DeliverResponse(msg),
        )

    def _completed_final(self, _msg: Message | None, _now: float) -> list[Action]:
        assert self._ack is not None
        return [SendMessage(self._ack, retransmission=True)]

    TRANSITIONS: ClassVar[Mapping[tuple[TransactionState, TransactionEvent], Handler]] = {
        (_S.CALLING, _E.TIMER_A): _timer_a,
        (_S.CALLING, _E.TIMER_B): _timer_b,
        (_S.CALLING, _E.RESPONSE_1XX): _provisional,
        (_S.CALLING, _E.RESPONSE_2XX): _accept,
        (_S.CALLING, _E.RESPONSE_300_699): _reject,
        (_S.CALLING, _E.TRANSPORT_ERROR): _ClientTransaction._fail,
        (_S.PROCEEDING, _E.RESPONSE_1XX): _provisional,
        (_S.PROCEEDING, _E.RESPONSE_2XX): _accept,
        (_S.PROCEEDING, _E.RESPONSE_300_699): _reject,
        (_S.PROCEEDING, _E.TRANSPORT_ERROR): _ClientTransaction._fail,
        (_S.ACCEPTED, _E.RESPONSE_2XX): _accepted_2xx,
        (_S.ACCEPTED, _E.TIMER_M): _ClientTransaction._end,
        (_S.COMPLETED, _E.RESPONSE_300_699): _completed_final,
        (_S.COMPLETED, _E.TIMER_D): _ClientTransaction._end,
        (_S.COMPLETED, _E.TRANSPORT_ERROR): _ClientTransaction._fail,
    }


class ClientNonInviteTransaction(_ClientTransaction):
    """Non-INVITE client transaction (17.1.2).

    Trying --1xx--> Proceeding ; Trying/Proceeding --200-699--> Completed (Timer K).
    Timer E retransmits (unreliable only): T1 doubling capped at T2 in Trying, T2 in
    Proceeding. Timer F times out.
    """

    __slots__ = ()

    def __init__(
        self, request: Request, *, reliable: bool = False, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(request, _S.TRYING, reliable, timers)
        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"ClientNonInviteTransaction cannot carry {request.method}")

    def send(self, msg: Message, now: float) -> list[Action]:
        """Send the request (call once, right after creation)."""
        return self._start(msg, now, _E.TIMER_E, _E.TIMER_F)

    def _trying_timer_e(self, _msg: Message | None, now: float) -> list[Action]:
        return self._retransmit(_E.TIMER_E, now, min(2 * self._interval, self.timers.t2))

    def _proceeding_timer_e(self, _msg: Message | None, now: float) -> list[Action]:
        return self._retransmit(_E.TIMER_E, now, self.timers.t2)

    def _timer_f(self, _msg: Message | None, _now: float) -> list[Action]:
        return self._terminate(TransactionTimeout("F"))

    def _provisional(self, msg: Message | None, _now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self._state = _S.PROCEEDING
        return [DeliverResponse(msg)]

    def _final(self, msg: Message | None, now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self._disarm(_E.TIMER_E, _E.TIMER_F)
        return self._wait_then_terminate(
            _S.COMPLETED, _E.TIMER_K, now, self.timers.t4, DeliverResponse(msg)
        )

    TRANSITIONS: ClassVar[Mapping[tuple[TransactionState, TransactionEvent], Handler]] = {
        (_S.TRYING, _E.TIMER_E): _trying_timer_e,
        (_S.TRYING, _E.TIMER_F): _timer_f,
        (_S.TRYING, _E.RESPONSE_1XX): _provisional,
        (_S.TRYING, _E.RESPONSE_2XX): _final,
        (_S.TRYING, _E.RESPONSE_300_699): _final,
        (_S.TRYING, _E.TRANSPORT_ERROR): _ClientTransaction._fail,
        (_S.PROCEEDING, _E.TIMER_E): _proceeding_timer_e,
        (_S.PROCEEDING, _E.TIMER_F): _timer_f,
        (_S.PROCEEDING, _E.RESPONSE_1XX): _provisional,
        (_S.PROCEEDING, _E.RESPONSE_2XX): _final,
        (_S.PROCEEDING, _E.RESPONSE_300_699): _final,
        (_S.PROCEEDING, _E.TRANSPORT_ERROR): _ClientTransaction._fail,
        (_S.COMPLETED, _E.TIMER_K): _ClientTransaction._end,
    }


class _ServerTransaction(_Machine):
    __slots__ = ("_delivered", "_interval", "last_response", "request")

    def __init__(
        self,
        request: Request,
        initial: TransactionState,
        reliable: bool,
        timers: TimerConfig | None,
    ) -> None:
        if not isinstance(request, Request):
            raise TypeError(f"a server transaction needs a Request, got {type(request).__name__}")
        super().__init__(initial, reliable, timers)
        self.request = request
        self.last_response: Response | None = None
        self._delivered = False
        self._interval = self.timers.t1

    @property
    def key(self) -> TransactionKey:
        """What ``transaction_key_for_request`` gives for this transaction's requests."""
        return transaction_key_for_request(self.request)

    def receive(self, msg: Message, now: float) -> list[Action]:
        """A request that matched this transaction. Feed the creating request first: that
        delivers it to the TU; later copies are retransmissions."""
        if not isinstance(msg, Request):
            raise TypeError(f"a server transaction receives requests, got {type(msg).__name__}")
        if msg.method == "ACK" and self.request.method == "INVITE":
            return self._dispatch(_E.ACK, msg, now)
        if msg.method != self.request.method:
            return []
        if not self._delivered:
            self._delivered = True
            return [DeliverRequest(msg)]
        return self._dispatch(_E.REQUEST, msg, now)

    def send(self, msg: Message, now: float) -> list[Action]:
        """A response from the TU. Raises TransactionStateError when the state forbids it
        (e.g. a second final response); nothing is sent then."""
        if not isinstance(msg, Response):
            raise TypeError(
                f"send() on a server transaction takes a Response, got {type(msg).__name__}"
            )
        event = _response_event(msg.status, "TU")
        if event is None:
            raise ValueError(f"response status must be 100..699, got {msg.status}")
        if (self.state, event) not in self.TRANSITIONS:
            raise TransactionStateError(
                f"cannot send {msg.status} on a {self.request.method} server transaction "
                f"in state {self.state.value}"
            )
        return self._dispatch(event, msg, now)

    def _send_provisional(self, msg: Message | None, _now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self._state = _S.PROCEEDING
        self.last_response = msg
        return [SendMessage(msg)]

    def _resend_last(self, _msg: Message | None, _now: float) -> list[Action]:
        if self.last_response is None:
            return []
        return [SendMessage(self.last_response, retransmission=True)]

    def _fail(self, _msg: Message | None, _now: float) -> list[Action]:
        return self._terminate(TransportError())

    def _end(self, _msg: Message | None, _now: float) -> list[Action]:
        return self._terminate()


class ServerInviteTransaction(_ServerTransaction):
    """INVITE server transaction (17.2.1, with RFC 6026's Accepted state).

    Proceeding --tu_2xx--> Accepted (Timer L; ACKs go to the TU, INVITE copies absorbed);
    Proceeding --tu_300-699--> Completed (Timer G retransmits the final on unreliable
    transports, Timer H gives up) --ACK--> Confirmed (Timer I absorbs ACK copies).
    The engine sends 100 Trying itself: ``send(make_trying(request), now)``.
    """

    __slots__ = ()

    def __init__(
        self, request: Request, *, reliable: bool = False, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(request, _S.PROCEEDING, reliable, timers)
        if request.method != "INVITE":
            raise ValueError(f"ServerInviteTransaction needs an INVITE, got {request.method}")

    def _send_2xx(self, msg: Message | None, now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self.last_response = msg
        self._state = _S.ACCEPTED
        self._arm(_E.TIMER_L, now, self.timers.timeout)
        return [SendMessage(msg)]

    def _accepted_2xx(self, msg: Message | None, _now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self.last_response = msg
        return [SendMessage(msg)]

    def _send_final(self, msg: Message | None, now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self.last_response = msg
        self._state = _S.COMPLETED
        if not self.reliable:
            self._interval = self.timers.t1
            self._arm(_E.TIMER_G, now, self._interval)
        self._arm(_E.TIMER_H, now, self.timers.timeout)
        return [SendMessage(msg)]

    def _timer_g(self, _msg: Message | None, now: float) -> list[Action]:
        assert self.last_response is not None
        self._interval = min(2 * self._interval, self.timers.t2)
        self._arm(_E.TIMER_G, now, self._interval)
        return [SendMessage(self.last_response, retransmission=True)]

    def _timer_h(self, _msg: Message | None, _now: float) -> list[Action]:
        return self._terminate(TransactionTimeout("H"))

    def _ack(self, msg: Message | None, now: float) -> list[Action]:
        assert isinstance(msg, Request)
        if not self._ack_fits(msg):
            return []
        self._disarm(_E.TIMER_G, _E.TIMER_H)
        return self._wait_then_terminate(_S.CONFIRMED, _E.TIMER_I, now, self.timers.t4)

    def _accepted_ack(self, msg: Message | None, _now: float) -> list[Action]:
        assert isinstance(msg, Request)
        return [DeliverRequest(msg)] if self._ack_fits(msg) else []

    def _ack_fits(self, ack: Request) -> bool:
        """RFC 2543 peers: the ACK's To tag must be the one our response carried (17.2.3)."""
        if has_magic_cookie(ack.top_via.branch) or self.last_response is None:
            return True
        return ack.to.tag == self.last_response.to.tag

    def _absorb(self, _msg: Message | None, _now: float) -> list[Action]:
        return []

    TRANSITIONS: ClassVar[Mapping[tuple[TransactionState, TransactionEvent], Handler]] = {
        (_S.PROCEEDING, _E.REQUEST): _ServerTransaction._resend_last,
        (_S.PROCEEDING, _E.TU_1XX): _ServerTransaction._send_provisional,
        (_S.PROCEEDING, _E.TU_2XX): _send_2xx,
        (_S.PROCEEDING, _E.TU_300_699): _send_final,
        (_S.PROCEEDING, _E.TRANSPORT_ERROR): _ServerTransaction._fail,
        (_S.ACCEPTED, _E.REQUEST): _absorb,
        (_S.ACCEPTED, _E.ACK): _accepted_ack,
        (_S.ACCEPTED, _E.TU_2XX): _accepted_2xx,
        (_S.ACCEPTED, _E.TIMER_L): _ServerTransaction._end,
        (_S.COMPLETED, _E.REQUEST): _ServerTransaction._resend_last,
        (_S.COMPLETED, _E.ACK): _ack,
        (_S.COMPLETED, _E.TIMER_G): _timer_g,
        (_S.COMPLETED, _E.TIMER_H): _timer_h,
        (_S.COMPLETED, _E.TRANSPORT_ERROR): _ServerTransaction._fail,
        (_S.CONFIRMED, _E.TIMER_I): _ServerTransaction._end,
    }


class ServerNonInviteTransaction(_ServerTransaction):
    """Non-INVITE server transaction (17.2.2).

    Trying --tu_1xx--> Proceeding ; Trying/Proceeding --tu_200-699--> Completed (Timer J).
    Request copies: absorbed in Trying, answered with the last response afterwards.
    """

    __slots__ = ()

    def __init__(
        self, request: Request, *, reliable: bool = False, timers: TimerConfig | None = None
    ) -> None:
        super().__init__(request, _S.TRYING, reliable, timers)
        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"ServerNonInviteTransaction cannot carry {request.method}")

    def _send_final(self, msg: Message | None, now: float) -> list[Action]:
        assert isinstance(msg, Response)
        self.last_response = msg
        return self._wait_then_terminate(
            _S.COMPLETED, _E.TIMER_J, now, self.timers.timeout, SendMessage(msg)
        )

    TRANSITIONS: ClassVar[Mapping[tuple[TransactionState, TransactionEvent], Handler]] = {
        (_S.TRYING, _E.TU_1XX): _ServerTransaction._send_provisional,
        (_S.TRYING, _E.TU_2XX): _send_final,
        (_S.TRYING, _E.TU_300_699): _send_final,
        (_S.PROCEEDING, _E.REQUEST): _ServerTransaction._resend_last,
        (_S.PROCEEDING, _E.TU_1XX): _ServerTransaction._send_provisional,
        (_S.PROCEEDING, _E.TU_2XX): _send_final,
        (_S.PROCEEDING, _E.TU_300_699): _send_final,
        (_S.PROCEEDING, _E.TRANSPORT_ERROR): _ServerTransaction._fail,
        (_S.COMPLETED, _E.REQUEST): _ServerTransaction._resend_last,
        (_S.COMPLETED, _E.TRANSPORT_ERROR): _ServerTransaction._fail,
        (_S.COMPLETED, _E.TIMER_J): _ServerTransaction._end,
    }


class Ack2xxWaiter(_Machine):
    """The UAS core's 2xx retransmitter (13.3.1.4): not part of the transaction in RFC 3261.

    After the TU sends a 2xx to an INVITE, ``start(now)``: Timer G (the 13.3.1.4 analogue)
    re-sends the 2xx at T1 doubling to T2 on unreliable transports until an ACK with the
    INVITE's CSeq number arrives (``receive``); Timer H (64*T1, any transport) gives up with
    ``SendBye`` (Reason "ACK timeout"). States: Accepted -> Confirmed (ACK) or Terminated.
    """

    __slots__ = ("_interval", "response")

    def __init__(
        self, response: Response, *, reliable: bool = False, timers: TimerConfig | None = None
    ) -> None:
        if not isinstance(response, Response) or not 200 <= response.status <= 299:
            raise ValueError("Ack2xxWaiter needs the 2xx response sent to the INVITE")
        super().__init__(_S.ACCEPTED, reliable, timers)
        self.response = response
        self._interval = self.timers.t1

    def start(self, now: float) -> list[Action]:
        """Arm the timers; the first 2xx went out through the server transaction."""
        if self._deadlines or self.state is not _S.ACCEPTED:
            raise TransactionStateError("Ack2xxWaiter already started or finished")
        if not self.reliable:
            self._arm(_E.TIMER_G, now, self._interval)
        self._arm(_E.TIMER_H, now, self.timers.timeout)
        return []

    def receive(self, msg: Message, now: float) -> list[Action]:
        """An ACK found through the dialog. The one for this 2xx stops retransmission and is
        delivered; stale ACKs (other CSeq) and copies are absorbed."""
        if not isinstance(msg, Request) or msg.method != "ACK":
            raise TypeError("Ack2xxWaiter.receive() takes the ACK request")
        if msg.cseq.seq != self.response.cseq.seq:
            return []
        return self._dispatch(_E.ACK, msg, now)

    def stop(self) -> list[Action]:
        """Give up silently (e.g. the dialog ended before the ACK came)."""
        if self.state is _S.TERMINATED:
            return []
        return self._terminate()

    def _acked(self, msg: Message | None, _now: float) -> list[Action]:
        assert isinstance(msg, Request)
        self._deadlines.clear()
        self._state = _S.CONFIRMED
        return [DeliverRequest(msg), TransactionTerminated()]

    def _timer_g(self, _msg: Message | None, now: float) -> list[Action]:
        self._interval = min(2 * self._interval, self.timers.t2)
        self._arm(_E.TIMER_G, now, self._interval)
        return [SendMessage(self.response, retransmission=True)]

    def _timer_h(self, _msg: Message | None, _now: float) -> list[Action]:
        return self._terminate(SendBye(REASON_ACK_TIMEOUT))

    TRANSITIONS: ClassVar[Mapping[tuple[TransactionState, TransactionEvent], Handler]] = {
        (_S.ACCEPTED, _E.ACK): _acked,
        (_S.ACCEPTED, _E.TIMER_G): _timer_g,
        (_S.ACCEPTED, _E.TIMER_H): _timer_h,
    }
