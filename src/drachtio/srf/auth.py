"""Answering digest challenges (401/407) on requests the application sent.

When a request was sent with ``auth=`` and a 401/407 comes back, the request is sent again
with credentials (MD5, SHA-256, SHA-512-256 via ``drachtio.sip.digest``); the application
keeps the same ``Request`` object: its transaction id and wire message are replaced and
``authenticate`` is emitted, so ``response()``, listeners and ``cancel()`` keep working.

``auth`` is ``{"username": ..., "password": ...}``, a ``(username, password)`` tuple, or a
function ``(req, res) -> (username, password)`` (may be async). Out-of-dialog retries keep
Call-ID and From (with its tag) and increment CSeq; in-dialog retries let the engine do it.
When the next hop is a host name (not an IP literal) the retry is pinned to the address
that challenged us, so DNS cannot pick a different server (reference behaviour).
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drachtio.sip.digest import DigestClient, choose_challenge
from drachtio.srf.emitter import spawn

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.agent import Agent
    from drachtio.srf.request import Request
    from drachtio.srf.response import IncomingResponse

__all__ = ["check_auth_arg", "maybe_retry", "next_hop_is_literal"]

log = logging.getLogger("drachtio.srf")

#: most challenges answered for one request (a proxy and the UAS may each challenge once)
MAX_RETRIES = 3

_HOST_RE = re.compile(r"^(?:<)?(?:sips?:)?(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)", re.IGNORECASE)
_TRANSPORT_RE = re.compile(r";transport=([^;>\s]+)", re.IGNORECASE)


@dataclass
class AuthState:
    attempts: int = 0
    seen: set[tuple[int, str, str]] = field(default_factory=set)
    #: authorization headers already sent (kept on later retries: proxy + UAS challenges)
    headers: dict[tuple[str, str], str] = field(default_factory=dict)
    clients: dict[str, DigestClient] = field(default_factory=dict)


def check_auth_arg(auth: Any) -> None:
    """Validate an ``auth=`` argument early (TypeError saying what is expected)."""
    if auth is None or callable(auth):
        return
    if isinstance(auth, Mapping):
        if not isinstance(auth.get("username"), str) or not isinstance(auth.get("password"), str):
            raise TypeError("auth must have str 'username' and 'password'")
        return
    if isinstance(auth, tuple) and len(auth) == 2 and all(isinstance(x, str) for x in auth):
        return
    raise TypeError(
        "auth must be {'username': str, 'password': str}, a (username, password) tuple, "
        f"or a function (req, res) -> (username, password); got {auth!r}"
    )


def next_hop_is_literal(target: str) -> bool:
    """Is the host of this URI (or ``host[:port]``) an IP address literal?"""
    m = _HOST_RE.match(target.strip())
    if not m:
        return False
    host = m.group(1).strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def maybe_retry(agent: Agent, req: Request, res: IncomingResponse) -> bool:
    """Start a digest retry for ``res`` if it applies; True when the response is consumed."""
    if res.status not in (401, 407) or req.auth is None or req._send_args is None:
        return False
    state = req._auth_state
    if state is None:
        state = req._auth_state = AuthState()
    header = "Proxy-Authenticate" if res.status == 407 else "WWW-Authenticate"
    values = res.get_all(header)
    if not values:
        # nothing to answer: hand the challenge to the application (reference: an error)
        return False
    try:
        challenge = choose_challenge(values)
    except ValueError as exc:
        log.warning("cannot answer %d challenge: %s", res.status, exc)
        return False
    key = (res.status, challenge.realm, "")
    if state.attempts >= MAX_RETRIES or (key in state.seen and not challenge.stale):
        return False  # same realm challenged again: the credentials are wrong
    state.attempts += 1
    state.seen.add(key)
    req._retrying = True
    spawn(_retry(agent, req, res, challenge, state), name="digest-retry")
    return True


async def _credentials(auth: Any, req: Request, res: IncomingResponse) -> tuple[str, str]:
    if callable(auth):
        out = auth(req, res)
        if inspect.isawaitable(out):
            out = await out
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("an auth function must return (username, password)")
        return str(out[0]), str(out[1])
    if isinstance(auth, Mapping):
        return str(auth["username"]), str(auth["password"])
    return str(auth[0]), str(auth[1])


async def _retry(agent: Agent, req: Request, res: IncomingResponse, challenge: Any,
                 state: AuthState) -> None:
    args = req._send_args
    assert args is not None
    try:
        username, password = await _credentials(req.auth, req, res)
        client = state.clients.get(username)
        if client is None:
            client = state.clients[username] = DigestClient(username, password)
        method: str = args["method"]
        uri: str = args["uri"]
        body = args.get("body") or ""
        value = client.authorize(
            challenge, method, uri,
            body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body,
        )
        hname = "Proxy-Authorization" if res.status == 407 else "Authorization"
        state.headers[(hname, challenge.realm)] = value
        skip = {"authorization", "proxy-authorization"}
        headers: list[tuple[str, str]]
        dialog_id: str = args.get("dialog_id") or ""
        if not dialog_id:
            skip |= {"cseq", "call-id", "i", "from", "f"}
            seq = (req.get("CSeq") or "1").split()[0]
            try:
                nseq = int(seq) + 1
            except ValueError:
                nseq = 2
            headers = [(n, v) for n, v in args["headers"] if n.lower() not in skip]
            headers += [
                ("Call-ID", req.get("Call-ID") or ""),
                ("CSeq", f"{nseq} {method}"),
                ("From", req.get("From") or ""),
            ]
        else:
            headers = [(n, v) for n, v in args["headers"] if n.lower() not in skip]
        headers += [(n, v) for (n, _realm), v in state.headers.items()]
        proxy: str | None = args.get("proxy")
        if not dialog_id:
            hop = proxy or uri
            if not next_hop_is_literal(hop) and res.source_address:
                m = _TRANSPORT_RE.search(proxy or "") or _TRANSPORT_RE.search(uri)
                host = res.source_address
                if ":" in host and not host.startswith("["):
                    host = f"[{host}]"
                proxy = f"sip:{host}:{res.source_port}"
                if m:
                    proxy += f";transport={m.group(1).lower()}"

        def on_sent(new: Any) -> None:
            # the application's Request object now stands for the new wire request
            agent.pending_sip.pop(new.transaction_id, None)
            req.msg = new.msg
            req._body_text = None
            req.transaction_id = new.transaction_id
            req.protocol = new.protocol
            req.source_address = new.source_address
            req.source_port = new.source_port
            req.stack_time = new.stack_time
            agent.pending_sip[req.transaction_id] = req
            req._retrying = False
            req.emit("authenticate", req)
            req._release_held_cancel()

        await agent.send_request(
            method, uri, headers, body, dialog_id=dialog_id, proxy=proxy, on_sent=on_sent
        )
    except (Exception, asyncio.CancelledError) as exc:
        log.warning("digest retry of %s failed: %s", req.method, exc)
        req._retrying = False
        held, req._held_cancel = req._held_cancel, None
        if held is not None and not held[1].done():
            held[1].set_exception(RuntimeError("request could not be re-sent with credentials"))
        # give the application the challenge it could not answer
        req._deliver(res, res.ack_function())
