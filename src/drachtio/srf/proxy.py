"""``proxy_request``: hand an incoming request to the engine's stateful proxy.

```python
result = await srf.proxy_request(req, ["sip:a.example", "sip:b.example"],
                                 record_route=True, forking="simultaneous")
if not result.connected:
    log.info("no target answered: %s", result.final_status)
```

The engine forwards the request to the destinations (one after the other, or all at once),
relays provisional and final responses upstream itself, CANCELs the losing branches and,
with ``record_route``, stays in the dialog's path. The application only learns the outcome:
each final response the targets sent, grouped by target, and the best one (wire-protocol.md
2.2). A request handed to the proxy cannot be answered by the application any more.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drachtio.srf.errors import EngineError, NotConnectedError
from drachtio.srf.message import (
    HeadersArg,
    SipMessage,
    format_request,
    normalize_headers,
    parse_sip,
)
from drachtio.srf.request import Request
from drachtio.wire.codec import ControlMessage

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.srf import Srf

__all__ = [
    "ProxyResponse",
    "ProxyResult",
    "ProxyTarget",
    "normalize_destinations",
    "proxy_request",
    "timeout_token",
]

log = logging.getLogger("drachtio.srf")

_FORKING = {"sequential": "serial", "serial": "serial",
            "simultaneous": "simultaneous", "parallel": "simultaneous"}
_TIMEOUT_RE = re.compile(r"^\d+(?:ms|s)$")
_SCHEME_RE = re.compile(r"^(?:sips?|tel):", re.IGNORECASE)
_BAD_DEST_RE = re.compile(r"[|\s]")


@dataclass(slots=True)
class ProxyResponse:
    """One final response a target sent: its status, the engine's time stamp, the message."""

    time: str
    status: int
    msg: SipMessage


@dataclass(slots=True)
class ProxyTarget:
    """The responses that came from one target address and port."""

    address: str
    port: int
    msgs: list[ProxyResponse] = field(default_factory=list)


@dataclass(slots=True)
class ProxyResult:
    """Outcome of ``proxy_request``.

    ``connected``: a target answered 2xx. ``final_status`` / ``final_response``: the last
    final response the engine reported (the winning 2xx, or the last failure; None when no
    target answered at all, e.g. all timed out). ``responses``: the final responses grouped
    by target address and port, in the order the targets first answered.
    """

    connected: bool = False
    final_status: int | None = None
    final_response: ProxyResponse | None = None
    responses: list[ProxyTarget] = field(default_factory=list)

    def _add(self, address: str, port: int, resp: ProxyResponse) -> None:
        for target in self.responses:
            if target.address == address and target.port == port:
                break
        else:
            target = ProxyTarget(address, port)
            self.responses.append(target)
        target.msgs.append(resp)
        self.final_status = resp.status
        self.final_response = resp


def timeout_token(value: str | float | None, name: str) -> str:
    """``"2s"`` / ``"1500ms"`` as given, or seconds as a number; ``""`` for none."""
    if value is None:
        return ""
    if isinstance(value, str):
        v = value.strip()
        if not _TIMEOUT_RE.match(v):
            raise ValueError(f"{name} must look like '2s' or '1500ms' (or be seconds as a "
                             f"number), got {value!r}")
        return v
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a str such as '2s', a number of seconds, or None, "
                        f"got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    ms = round(float(value) * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def normalize_destinations(destinations: str | Sequence[str] | None, req: Request) -> list[str]:
    """A list of SIP URIs; ``host[:port]`` gets ``sip:``; None means the request-URI."""
    if destinations is None:
        items: list[str] = [req.uri]
    elif isinstance(destinations, str):
        items = [destinations]
    elif isinstance(destinations, (list, tuple)):
        items = list(destinations)
    else:
        raise TypeError("destinations must be a str, a list of str, or None (the request-URI), "
                        f"got {type(destinations).__name__}")
    if not items:
        raise ValueError("destinations must name at least one target")
    out: list[str] = []
    for d in items:
        if not isinstance(d, str):
            raise TypeError(f"each destination must be a str, got {d!r}")
        d = d.strip()
        if not d or _BAD_DEST_RE.search(d):
            raise ValueError(f"invalid destination {d!r} (a SIP URI or host[:port] expected)")
        out.append(d if _SCHEME_RE.match(d) else f"sip:{d}")
    return out


def _retrieve(fut: asyncio.Future[ProxyResult]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.info("proxy_request failed: %s", fut.exception())


def proxy_request(
    srf: Srf | None,
    req: Request,
    destinations: str | Sequence[str] | None = None,
    *,
    record_route: bool = False,
    remain_in_dialog: bool = False,
    path: bool = False,
    forking: str = "sequential",
    follow_redirects: bool = False,
    provisional_timeout: str | float | None = None,
    final_timeout: str | float | None = None,
    headers: HeadersArg = None,
) -> asyncio.Future[ProxyResult]:
    """Proxy the incoming ``req`` to ``destinations`` (default: its request-URI).

    The command goes to the engine at once (so a plain function may call this without
    awaiting); the returned future resolves with a ``ProxyResult`` when the engine is done,
    or fails with ``EngineError`` (e.g. ``Rejected with 483 Too Many Hops``).

    ``record_route`` (aliases ``remain_in_dialog``, ``path``): stay in the dialog's path.
    ``forking``: ``"sequential"`` (alias ``"serial"``) or ``"simultaneous"`` (alias
    ``"parallel"``). ``provisional_timeout`` / ``final_timeout``: ``"2s"``, ``"1500ms"`` or
    seconds; a target that sends no provisional (final) response in time is given up.
    ``headers``: added to every forwarded request.
    """
    if not isinstance(req, Request):
        raise TypeError(f"proxy_request needs the incoming Request, got {type(req).__name__}")
    if req.source != "network" or not req.transaction_id:
        raise ValueError("only a request received from the network can be proxied")
    if req.method in ("ACK", "CANCEL"):
        raise ValueError(f"{req.method} is never proxied by the application (the engine does)")
    res = req.res
    if res is not None and res.finished:
        raise ValueError("the request was already answered; it cannot be proxied too")
    agent = req.agent
    if agent is None:
        raise ValueError("the request is not bound to an engine connection")
    if srf is not None and agent.srf is not srf:
        raise ValueError("the request belongs to another Srf")
    if not isinstance(forking, str) or forking.lower() not in _FORKING:
        raise ValueError(f"forking must be 'sequential' or 'simultaneous' ('parallel'), "
                         f"got {forking!r}")
    for name, flag in (("record_route", record_route), ("remain_in_dialog", remain_in_dialog),
                       ("path", path), ("follow_redirects", follow_redirects)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {flag!r}")
    dests = normalize_destinations(destinations, req)
    prov = timeout_token(provisional_timeout, "provisional_timeout")
    final = timeout_token(final_timeout, "final_timeout")
    hdrs = normalize_headers(headers)

    tokens = [
        "proxy", req.transaction_id,
        "remainInDialog" if (record_route or remain_in_dialog or path) else "",
        "fullResponse",
        "followRedirects" if follow_redirects else "",
        _FORKING[forking.lower()],
        prov, final, *dests,
    ]
    sip = format_request(req.method, dests[0], hdrs, "")
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[ProxyResult] = loop.create_future()
    fut.add_done_callback(_retrieve)
    result = ProxyResult()

    def on_answer(msg: ControlMessage) -> None:
        if fut.done():
            return
        t = msg.tokens
        if (t[3] if len(t) > 3 else "") != "OK":
            if isinstance(msg.parsed, NotConnectedError):
                fut.set_exception(msg.parsed)
            else:
                fut.set_exception(EngineError(t[4] if len(t) > 4 else "proxy failed"))
            return
        if (t[4] if len(t) > 4 else "") == "done":
            result.connected = result.final_status is not None and (
                200 <= result.final_status < 300)
            fut.set_result(result)
            return
        try:
            sipmsg = SipMessage(parse_sip(msg))
            status = int(getattr(sipmsg.msg, "status", 0))
        except Exception as exc:
            log.warning("proxy: unparseable response report: %s", exc)
            return
        try:
            port = int(t[8]) if len(t) > 8 and t[8] else 0
        except ValueError:
            port = 0
        result._add(t[7] if len(t) > 7 else "", port,
                    ProxyResponse(t[9] if len(t) > 9 else "", status, sipmsg))

    try:
        agent.command(tokens, sip, on_answer)
    except NotConnectedError as exc:
        fut.set_exception(exc)
        return fut
    # proxied: the application no longer answers it, and a CANCEL is the engine's business
    if res is not None:
        res.finished = True
        res._release_req()
    agent.forget_invite(req)
    return fut
