"""``create_uac``: send an INVITE (or SUBSCRIBE) and return the Dialog it creates.

Handles, as the reference does: reliable provisionals (PRACK sent automatically), an UPDATE
from the far end during setup (answered with our offer), redirects (``follow_redirects``),
digest challenges (``auth``), 3pcc / late offer (no ``local_sdp``; ``no_ack`` hands the ACK to
the caller), and CANCEL (``req.cancel()`` on the request given to ``on_request``, or by
cancelling the awaiting task).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drachtio.sip.sdp import SdpError, parse_sdp
from drachtio.srf.auth import check_auth_arg
from drachtio.srf.dialog import Dialog, header_tag, uri_user_host
from drachtio.srf.emitter import spawn
from drachtio.srf.errors import SipError
from drachtio.srf.message import HeadersArg, normalize_headers
from drachtio.srf.request import Request
from drachtio.srf.response import IncomingResponse, Response
from drachtio.srf.state import (
    DialogDirection,
    DialogState,
    DialogStateInfo,
    StateEmitter,
    wants_state,
)
from drachtio.srf.uas import LocalSdp, resolve_sdp

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.agent import Agent
    from drachtio.srf.srf import Srf

__all__ = ["PendingAck", "create_uac", "normalize_uri"]

log = logging.getLogger("drachtio.srf")

MAX_REDIRECTS = 4
_SCHEME_RE = re.compile(r"^(sips?|tel):", re.IGNORECASE)


def normalize_uri(uri: str, called_number: str | None = None) -> str:
    """``1.2.3.4`` / ``host:port`` / ``user@host`` -> a SIP URI (reference rules)."""
    if not isinstance(uri, str) or not uri.strip():
        raise ValueError(f"uri must be a non-empty str, got {uri!r}")
    uri = uri.strip()
    if _SCHEME_RE.match(uri):
        return uri
    if "@" not in uri:
        return f"sip:{called_number + '@' if called_number else ''}{uri}"
    return f"sip:{uri}"


@dataclass
class PendingAck:
    """3pcc with ``no_ack=True``: the far end's 200 offer, not yet ACKed.

    ``await ack(sdp)`` sends the ACK carrying our answer and returns the Dialog;
    ``await destroy()`` abandons the call (ACK with their SDP, then BYE).
    """

    sdp: str
    res: IncomingResponse
    _finish: Callable[[str | None], Any] = field(repr=False)
    _abandon: Callable[[], Any] = field(repr=False)

    async def ack(self, local_sdp: str | None = None) -> Dialog:
        out = self._finish(local_sdp)
        if inspect.isawaitable(out):
            out = await out
        assert isinstance(out, Dialog)
        return out

    async def destroy(self) -> None:
        out = self._abandon()
        if inspect.isawaitable(out):
            await out


def _call_hook(fn: Callable[..., Any] | None, *args: Any) -> None:
    if fn is None:
        return
    try:
        out = fn(*args)
    except Exception:
        log.exception("create_uac progress callback raised")
        return
    if out is not None and inspect.isawaitable(out):
        spawn(out, name="create_uac-callback")


async def create_uac(
    srf: Srf,
    uri: str,
    *,
    local_sdp: LocalSdp = None,
    headers: HeadersArg = None,
    calling_number: str | None = None,
    calling_name: str | None = None,
    called_number: str | None = None,
    method: str = "INVITE",
    auth: Any = None,
    proxy: str | None = None,
    follow_redirects: bool = False,
    keep_uri_on_redirect: bool = False,
    no_ack: bool = False,
    on_request: Callable[[Request], Any] | None = None,
    on_provisional: Callable[[IncomingResponse], Any] | None = None,
    dialog_state_emitter: StateEmitter | None = None,
    agent: Agent | None = None,
) -> Dialog | PendingAck:
    if not isinstance(method, str) or method.upper() not in ("INVITE", "SUBSCRIBE"):
        raise ValueError(f"method must be 'INVITE' or 'SUBSCRIBE', got {method!r}")
    method = method.upper()
    for name, val in (("calling_number", calling_number), ("calling_name", calling_name),
                      ("called_number", called_number), ("proxy", proxy)):
        if val is not None and not isinstance(val, str):
            raise TypeError(f"{name} must be a str or None, got {val!r}")
    for name, cb in (("on_request", on_request), ("on_provisional", on_provisional)):
        if cb is not None and not callable(cb):
            raise TypeError(f"{name} must be callable, got {cb!r}")
    check_auth_arg(auth)
    uri = normalize_uri(uri, called_number)
    if proxy:
        proxy = normalize_uri(proxy)
    return await _create_uac(
        srf, uri, normalize_headers(headers), local_sdp=local_sdp,
        calling_number=calling_number, calling_name=calling_name, method=method, auth=auth,
        proxy=proxy, follow_redirects=follow_redirects,
        keep_uri_on_redirect=keep_uri_on_redirect, no_ack=no_ack, on_request=on_request,
        on_provisional=on_provisional, dialog_state_emitter=dialog_state_emitter, agent=agent,
    )


async def _create_uac(
    srf: Srf,
    uri: str,
    hdrs: list[tuple[str, str]],
    *,
    local_sdp: LocalSdp,
    calling_number: str | None,
    calling_name: str | None,
    method: str,
    auth: Any,
    proxy: str | None,
    follow_redirects: bool,
    keep_uri_on_redirect: bool,
    no_ack: bool,
    on_request: Callable[[Request], Any] | None,
    on_provisional: Callable[[IncomingResponse], Any] | None,
    dialog_state_emitter: StateEmitter | None,
    agent: Agent | None,
) -> Dialog | PendingAck:
    """``create_uac`` once its arguments are checked: ``uri`` and ``proxy`` normalized,
    ``hdrs`` normalized (and ours: appended to). ``create_b2bua`` enters here."""
    if calling_number:
        scheme = "sips" if uri.lower().startswith("sips:") else "sip"
        addr = f"{scheme}:{calling_number}@localhost"
        from_value = f'"{calling_name}" <{addr}>' if calling_name else f"<{addr}>"
        names = {n.lower() for n, _ in hdrs}
        if not names & {"from", "f"}:
            hdrs.append(("From", from_value))
        if not names & {"contact", "m"}:
            hdrs.append(("Contact", f"<{addr}>"))
    sdp = local_sdp if local_sdp is None or isinstance(local_sdp, str) else (
        await resolve_sdp(local_sdp))
    is_3pcc = not sdp and method == "INVITE"
    if sdp and not any(n.lower() in ("content-type", "c") for n, _ in hdrs):
        hdrs.append(("Content-Type", "application/sdp"))
    agent = agent or srf._default_agent()
    track_state = method == "INVITE" and wants_state(dialog_state_emitter)

    target = uri
    redirects = 0
    early: list[Dialog] = []
    blackhole: str | None = None

    def on_final(req: Request, res: IncomingResponse) -> None:
        """Runs synchronously with the final response: the dialog must exist (and the ACK
        be on its way) before any in-dialog request that follows is processed. Requests
        for it are queued until the application holds the dialog."""
        nonlocal blackhole
        ok = (method == "INVITE" and 200 <= res.status < 300) or (
            method == "SUBSCRIBE" and res.status in (200, 202))
        if not ok or not res.has("Contact") or not res.dialog_id:
            return
        if method == "INVITE":
            if is_3pcc and res.body:
                if no_ack:
                    return  # the application ACKs (PendingAck)
                blackhole = _recvonly(res.body)
                res.ack(body=blackhole, headers={"Content-Type": "application/sdp"})
            else:
                res.ack()
        dlg = Dialog(srf, "uac", req=req, res=res, dialog_id=res.dialog_id, agent=agent,
                     auth=auth)
        if blackhole is not None:
            dlg.local.sdp = blackhole
        dlg.queue_requests = True
        srf.add_dialog(dlg)
        early.append(dlg)

    while True:
        req, res, state = await _attempt(
            agent, method, target, hdrs, sdp, auth, proxy, on_request, on_provisional,
            dialog_state_emitter if track_state else None, on_final,
        )
        if (follow_redirects and 300 <= res.status < 400 and redirects < MAX_REDIRECTS
                and res.has("Contact")):
            redirects += 1
            contact = res.get_all("Contact")[0]
            from drachtio.srf.dialog import contact_uri

            new_uri = contact_uri(contact)
            if keep_uri_on_redirect:
                proxy = new_uri
            else:
                target = new_uri
            continue
        break

    if state is not None and dialog_state_emitter is not None:
        state.remote_tag = header_tag(res.get("To"))
        state.state = (DialogState.CONFIRMED if 200 <= res.status < 300 else
                       DialogState.CANCELLED if res.status == 487 else DialogState.REJECTED)
        dialog_state_emitter.emit("state_change", state)

    ok = (method == "INVITE" and 200 <= res.status < 300) or (
        method == "SUBSCRIBE" and res.status in (200, 202))
    if not ok:
        raise SipError(res.status, res.reason, res)
    if not res.has("Contact"):
        raise SipError(500, "No Contact header in response", res)

    def hand_over(dlg: Dialog) -> Dialog:
        if state is not None:
            dlg._set_state_emitter(dialog_state_emitter, state)
        dlg.queue_requests = False  # replays what arrived before the application had it
        return dlg

    def make_dialog(local: str | None = None) -> Dialog:
        dlg = Dialog(srf, "uac", req=req, res=res, dialog_id=res.dialog_id, agent=agent,
                     auth=auth)
        if local is not None:
            dlg.local.sdp = local
        srf.add_dialog(dlg)
        return hand_over(dlg)

    if early:
        return hand_over(early[0])
    if is_3pcc and res.body and no_ack:
        acked = False

        async def finish(answer: str | None) -> Dialog:
            nonlocal acked
            if acked:
                raise RuntimeError("the 3pcc call was already ACKed")
            acked = True
            await res.ack(
                body=answer or None,
                headers={"Content-Type": "application/sdp"} if answer else None,
            )
            return make_dialog(answer or "")

        async def abandon() -> None:
            nonlocal acked
            if not acked:
                acked = True
                await res.ack(body=res.body, headers={"Content-Type": "application/sdp"})
            dlg = make_dialog(res.body)
            try:
                await dlg.destroy()
            except Exception as exc:
                log.debug("tearing down 3pcc leg: %s", exc)

        return PendingAck(res.body, res, finish, abandon)
    # no dialog id from the engine (should not happen): build it now
    if method == "INVITE":
        res.ack()
    return make_dialog()


def _ignore_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.debug("CANCEL not sent: %s", fut.exception())


def _send_cancel(req: Request) -> asyncio.Future[Request] | None:
    """CANCEL a pending INVITE; its failure is logged (a final response may have crossed)."""
    try:
        fut = req.cancel()
    except Exception as exc:
        log.debug("CANCEL not sent: %s", exc)
        return None
    fut.add_done_callback(_ignore_failure)
    return fut


#: how long a cancelled create_uac waits for the engine to take its CANCEL
CANCEL_WAIT = 1.0


async def _cancel_quietly(req: Request) -> None:
    """Send the CANCEL and wait (bounded) for the engine's answer, so its future is consumed
    here rather than left to a callback that a closing loop may never run."""
    fut = _send_cancel(req)
    if fut is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(fut), CANCEL_WAIT)
    except (Exception, asyncio.CancelledError) as exc:
        log.debug("CANCEL: %s", exc)


def _recvonly(sdp: str) -> str:
    """The far end's SDP turned recvonly: the 3pcc 'black hole' answer of the reference."""
    try:
        desc = parse_sdp(sdp)
        desc.set_direction("recvonly")
        return str(desc)
    except SdpError:
        return sdp


class _Attempt:
    """One INVITE/SUBSCRIBE sent by ``create_uac``: the listeners on its ``Request``.

    Bound methods rather than closures: a closure that removes itself from the request
    would reference itself (a cycle), and the call's objects should be freed by reference
    counting when it ends, not by the cycle collector.
    """

    __slots__ = ("abandoned", "emitter", "on_final", "on_provisional", "on_request", "sdp",
                 "state", "uri")

    def __init__(self, uri: str, sdp: str | None,
                 on_request: Callable[[Request], Any] | None,
                 on_provisional: Callable[[IncomingResponse], Any] | None,
                 emitter: StateEmitter | None,
                 on_final: Callable[[Request, IncomingResponse], None] | None) -> None:
        self.uri = uri
        self.sdp = sdp
        self.on_request = on_request
        self.on_provisional = on_provisional
        self.emitter = emitter
        self.on_final = on_final
        self.state: DialogStateInfo | None = None
        self.abandoned = False

    def on_update(self, _ureq: Request, ures: Response) -> None:
        # an UPDATE during setup: answer with our offer (reference behaviour)
        if self.sdp:
            ures.send(200, body=self.sdp, headers={"Content-Type": "application/sdp"})
        else:
            ures.send(200)

    def on_response(self, res: IncomingResponse, ack: Callable[..., Any]) -> None:
        if res.status >= 200:
            req = res.req
            if req is not None:
                # nothing follows a final response: let go of the request
                req.off("update", self.on_update)
                req.off("response", self.on_response)
                if self.on_final is not None and res.status < 300:
                    try:
                        self.on_final(req, res)
                    except Exception:
                        log.exception("creating the dialog failed")
            return
        state, emitter = self.state, self.emitter
        if state is not None and emitter is not None and state.state != DialogState.EARLY:
            tag = header_tag(res.get("To"))
            if tag:
                state.remote_tag = tag
                state.state = DialogState.EARLY
                emitter.emit("state_change", state)
            elif state.state == DialogState.TRYING:
                state.state = DialogState.PROCEEDING
                emitter.emit("state_change", state)
        _call_hook(self.on_provisional, res)
        if res.reliable:
            ack()  # PRACK

    def on_sent(self, req: Request) -> None:
        if self.abandoned:
            # the awaiting task was cancelled before the engine echoed the INVITE
            _send_cancel(req)
            return
        req.on("update", self.on_update)
        req.on("response", self.on_response)
        if self.emitter is not None:
            self.state = DialogStateInfo(
                state=DialogState.TRYING,
                direction=DialogDirection.RECIPIENT,
                aor=uri_user_host(req.get("To") or ""),
                call_id=req.call_id or "",
                local_tag=header_tag(req.get("From")),
            )
            self.emitter.emit("state_change", self.state)
        _call_hook(self.on_request, req)


async def _attempt(
    agent: Agent,
    method: str,
    uri: str,
    hdrs: list[tuple[str, str]],
    sdp: str | None,
    auth: Any,
    proxy: str | None,
    on_request: Callable[[Request], Any] | None,
    on_provisional: Callable[[IncomingResponse], Any] | None,
    emitter: StateEmitter | None,
    on_final: Callable[[Request, IncomingResponse], None] | None = None,
) -> tuple[Request, IncomingResponse, DialogStateInfo | None]:
    att = _Attempt(uri, sdp, on_request, on_provisional, emitter, on_final)
    sending = agent.send_request(method, uri, hdrs, sdp, proxy=proxy, auth=auth,
                                 on_sent=att.on_sent)
    try:
        req = await sending
    except asyncio.CancelledError:
        if method == "INVITE":
            att.abandoned = True  # the echo may still come: on_sent CANCELs the INVITE then
        raise
    try:
        res = await req.response()
    except asyncio.CancelledError:
        # the caller gave up: CANCEL the INVITE if it is still pending
        if method == "INVITE" and req.final_response is None:
            await _cancel_quietly(req)
        raise
    return req, res, att.state
