"""``Dialog``: an INVITE or SUBSCRIBE dialog this application is a party to.

Created by ``Srf.create_uas`` / ``Srf.create_uac``. Requests the engine relays inside the
dialog reach ``handle`` (the dialog middleware runs before any other) and become events;
``destroy``, ``modify`` and ``request`` send requests inside it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drachtio.sip.sdp import SdpError, hold_offer, is_hold, parse_sdp
from drachtio.srf.emitter import Emitter, Listener
from drachtio.srf.errors import DrachtioError, SipError
from drachtio.srf.message import HeadersArg, normalize_headers
from drachtio.srf.response import IncomingResponse
from drachtio.srf.state import DialogState, DialogStateInfo, StateEmitter

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.agent import Agent
    from drachtio.srf.request import Request
    from drachtio.srf.response import Response, SentMessage
    from drachtio.srf.srf import Srf

__all__ = ["Dialog", "DialogError", "DialogParty", "DialogSip", "ModifyOffer"]

log = logging.getLogger("drachtio.srf")

_TAG_RE = re.compile(r";\s*tag\s*=\s*([^;>\s,]+)", re.IGNORECASE)
_REASON_TEXT_RE = re.compile(r'text\s*=\s*"([^"]*)"', re.IGNORECASE)
_SIP_METHOD_RE = re.compile(r"^[A-Za-z]+$")


class DialogError(DrachtioError):
    """An operation is not possible in the dialog's current state."""


def header_tag(value: str | None) -> str:
    """The ``tag`` parameter of a From/To value (outside the ``<...>``)."""
    if not value:
        return ""
    gt = value.rfind(">")
    m = _TAG_RE.search(value, gt + 1 if gt >= 0 else 0)
    return m.group(1) if m else ""


def contact_uri(value: str | None) -> str:
    """The URI of a Contact / name-addr value."""
    if not value:
        return ""
    lt = value.find("<")
    if lt >= 0:
        gt = value.find(">", lt)
        return value[lt + 1 : gt if gt > 0 else None].strip()
    return value.split(";", 1)[0].split(",", 1)[0].strip()


def uri_user_host(uri: str) -> str:
    """``user@host`` of a SIP URI (``host`` alone when there is no user)."""
    u = contact_uri(uri)
    u = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:", "", u)
    u = u.split(";", 1)[0].split("?", 1)[0]
    if "@" in u:
        user, host = u.rsplit("@", 1)
        user = user.split(":", 1)[0]
    else:
        user, host = "", u
    host = host[:host.find("]") + 1] if host.startswith("[") else host.split(":", 1)[0]
    return f"{user}@{host}" if user else host


@dataclass(slots=True)
class DialogSip:
    """The three values that identify the dialog (RFC 3261 section 12)."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(slots=True)
class DialogParty:
    """One side of the dialog: its Contact URI, last SDP, and Contact header value."""

    uri: str
    sdp: str
    contact: str


@dataclass(slots=True)
class ModifyOffer:
    """``modify(no_ack=True)`` with no local SDP: the far end's offer, answer with ``ack``."""

    sdp: str
    res: IncomingResponse
    ack: Callable[[str], Any]


class Dialog(Emitter):
    """A SIP dialog. Events: destroy, modify, hold, unhold, refresh, info, notify, refer,
    update, message, options, publish, subscribe, unsubscribe, ack."""

    def __init__(
        self,
        srf: Srf,
        type_: str,
        *,
        req: Request,
        res: Response | IncomingResponse,
        sent: SentMessage | None = None,
        dialog_id: str,
        agent: Agent,
        auth: Any = None,
    ) -> None:
        if type_ not in ("uas", "uac"):
            raise ValueError(f"dialog type must be 'uas' or 'uac', got {type_!r}")
        self.srf = srf
        self.type = type_
        self.req = req
        self.res = res
        self.sent = sent
        self.id = dialog_id
        self.agent = agent
        self.auth = auth
        self.on_hold = False
        self.connected = True
        self.other: Dialog | None = None
        self.subscriptions: list[str] = []
        self.queued_requests: list[tuple[Request, Response]] = []
        self._queue = False
        self._reinvite_lock: asyncio.Lock | None = None  # made by the first modify()
        self._prehold_sdp: str | None = None
        self._unseen_ack: Request | None = None
        self._state: DialogStateInfo | None = None
        self._state_emitter: StateEmitter | None = None
        if type_ == "uas" and sent is None:
            raise ValueError("a uas dialog needs the response as sent (sent=)")
        if type_ == "uac" and not isinstance(res, IncomingResponse):
            raise TypeError("a uac dialog needs the response received (IncomingResponse)")
        # sip / local / remote are read from the messages on first use: many dialogs (a
        # B2BUA's) are never asked, and their messages then need no parsing at all
        self._sip: DialogSip | None = None
        self._local: DialogParty | None = None
        self._remote: DialogParty | None = None
        if req.method == "SUBSCRIBE":
            self.add_subscription(req)

    # -- identity and parties (built lazily) ------------------------------------------------
    def _describe(self) -> None:
        req, res = self.req, self.res
        if self.type == "uas":
            sent = self.sent
            assert sent is not None
            self._sip = DialogSip(
                call_id=req.call_id or "",
                local_tag=header_tag(sent.get("To")),
                remote_tag=header_tag(req.get("From")),
            )
            contact = sent.get("Contact") or ""
            self._local = DialogParty(contact_uri(contact), sent.body, contact)
            rcontact = req.get("Contact") or ""
            self._remote = DialogParty(contact_uri(rcontact), req.body, rcontact)
        else:
            assert isinstance(res, IncomingResponse)
            contact = req.get("Contact") or ""
            self._sip = DialogSip(
                call_id=res.get("Call-ID") or req.call_id or "",
                local_tag=header_tag(req.get("From")),
                remote_tag=header_tag(res.get("To")),
            )
            self._local = DialogParty(contact_uri(contact), req.body, contact)
            rcontact = res.get("Contact") or ""
            self._remote = DialogParty(contact_uri(rcontact), res.body, rcontact)

    @property
    def sip(self) -> DialogSip:
        """Call-ID and tags (RFC 3261 section 12)."""
        if self._sip is None:
            self._describe()
        assert self._sip is not None
        return self._sip

    @property
    def local(self) -> DialogParty:
        """Our side: Contact URI, current SDP, Contact header value."""
        if self._local is None:
            self._describe()
        assert self._local is not None
        return self._local

    @property
    def remote(self) -> DialogParty:
        """The far end: Contact URI, last SDP, Contact header value."""
        if self._remote is None:
            self._describe()
        assert self._remote is not None
        return self._remote

    # -- description -------------------------------------------------------------------------
    @property
    def dialog_type(self) -> str:
        """The method that created the dialog: ``INVITE`` or ``SUBSCRIBE``."""
        return self.req.method

    @property
    def subscribe_event(self) -> str | None:
        return self.req.get("Event") if self.dialog_type == "SUBSCRIBE" else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "sip": {"call_id": self.sip.call_id, "local_tag": self.sip.local_tag,
                    "remote_tag": self.sip.remote_tag},
            "local": {"uri": self.local.uri, "sdp": self.local.sdp, "contact": self.local.contact},
            "remote": {"uri": self.remote.uri, "sdp": self.remote.sdp,
                       "contact": self.remote.contact},
            "on_hold": self.on_hold,
        }

    def __repr__(self) -> str:
        return f"<Dialog {self.type} {self.dialog_type} id={self.id} connected={self.connected}>"

    # -- request queueing (B2BUA: hold requests until the other leg is ready) ------------------
    @property
    def queue_requests(self) -> bool:
        return self._queue

    @queue_requests.setter
    def queue_requests(self, enqueue: bool) -> None:
        self._queue = bool(enqueue)
        if not enqueue and self.queued_requests:
            queued, self.queued_requests = self.queued_requests, []
            loop = asyncio.get_running_loop()
            for req, res in queued:
                loop.call_soon(self.handle, req, res)

    def answer_queued(self) -> None:
        """Stop queueing and answer every held request without handling it: the dialog is
        going away (481; a held BYE gets 200; an ACK needs no answer). Never drop one."""
        self._queue = False
        queued, self.queued_requests = self.queued_requests, []
        for req, res in queued:
            if req.method == "ACK" or res.finished:
                continue
            res.send(200 if req.method == "BYE" else 481)

    # -- dialog-state events ---------------------------------------------------------------
    def _set_state_emitter(self, emitter: StateEmitter | None, info: DialogStateInfo | None
                           ) -> None:
        self._state_emitter = emitter
        self._state = info

    def _terminate_state(self) -> None:
        if self._state_emitter is not None and self._state is not None:
            self._state.state = DialogState.TERMINATED
            self._state_emitter.emit("state_change", self._state)
        self._state_emitter = None

    # -- subscriptions -----------------------------------------------------------------------
    def get_count_of_subscriptions(self) -> int:
        return len(self.subscriptions)

    def add_subscription(self, req: Request) -> int:
        """Track a subscription: the resource (SUBSCRIBE To URI) and the event package."""
        entity = f"{uri_user_host(req.get('To') or '')}:{req.get('Event') or ''}"
        self.subscriptions.append(entity)
        return len(self.subscriptions)

    def remove_subscription(self, uri: str, event: str | None) -> int:
        entity = f"{uri_user_host(uri)}:{event or ''}"
        if entity in self.subscriptions:
            self.subscriptions.remove(entity)
        else:
            # fall back to the event package alone (resource URIs may be rewritten)
            pkg = (event or "").split(";", 1)[0].strip().lower()
            for s in self.subscriptions:
                if s.rsplit(":", 1)[-1].split(";", 1)[0].strip().lower() == pkg:
                    self.subscriptions.remove(s)
                    break
            else:
                log.warning("no subscription %s in dialog %s", entity, self.id)
        return len(self.subscriptions)

    def _ended(self) -> None:
        self.connected = False
        self.srf.remove_dialog(self)

    def _finish(self) -> None:
        """After ``destroy`` went out: drop the listeners and, once both legs of a pair are
        over, their ``other`` links, so a finished call is freed by reference counting
        rather than left to the cycle collector."""
        self.remove_all_listeners()
        self._unseen_ack = None
        other = self.other
        if other is not None and not other.connected:
            if other.other is self:
                other.other = None
            self.other = None

    # -- incoming in-dialog requests ----------------------------------------------------------
    def handle(self, req: Request, res: Response) -> None:
        if self._queue:
            self.queued_requests.append((req, res))
            return
        method = req.method
        loop = self.agent.loop
        if method == "BYE":
            self._terminate_state()
            reason = "normal release"
            if req.source == "application":
                text = req.get("Reason")
                if text:
                    m = _REASON_TEXT_RE.search(text)
                    reason = m.group(1) if m else text
            self._ended()
            res.send(200)
            self.emit("destroy", req, reason)
            self._finish()
        elif method == "INVITE":
            self._on_reinvite(req, res)
        elif method == "NOTIFY":
            terminated = "terminated" in (req.get("Subscription-State") or "").lower()
            if self.listener_count("notify"):
                self.emit("notify", req, res)
            else:
                res.send(200)
            if self.dialog_type == "SUBSCRIBE" and terminated:
                def end() -> None:
                    if self.remove_subscription(req.get("From") or "", req.get("Event")) == 0:
                        self._ended()
                        self.emit("destroy", req, "subscription terminated")
                        self._finish()

                loop.call_soon(end)
        elif method in ("INFO", "REFER", "OPTIONS", "MESSAGE", "PUBLISH"):
            # on the next tick: the application may not have attached its listeners yet
            # when a request arrives right after the dialog was created
            loop.call_soon(self._emit_or_200, method.lower(), req, res)
        elif method == "UPDATE":
            if req.body:
                self.remote.sdp = req.body

            def upd() -> None:
                if self.listener_count("update"):
                    self.emit("update", req, res)
                elif req.body and self.local.sdp:
                    res.send(200, body=self.local.sdp,
                             headers={"Content-Type": "application/sdp"})
                else:
                    res.send(200)

            loop.call_soon(upd)
        elif method == "SUBSCRIBE":
            expires = (req.get("Expires") or "").strip()
            if expires == "0":
                res.send(202)
                self.emit("unsubscribe", req, "unsubscribe")
            elif self.listener_count("subscribe"):
                self.emit("subscribe", req, res)
            else:
                res.send(489, "Bad Event - no dialog handler")
        elif method == "ACK":
            if req.body:
                self.remote.sdp = req.body
            loop.call_soon(self._emit_ack, req)
        elif method == "PRACK":
            res.send(200)
        else:
            log.warning("dialog %s: unexpected in-dialog %s", self.id, method)
            res.send(501)

    def _emit_ack(self, req: Request) -> None:
        if not self.emit("ack", req):
            self._unseen_ack = req  # for an "ack" listener attached a little later

    def _listener_attached(self, event: str, listener: Listener) -> None:
        """An ACK that arrived before anyone listened is not lost: the first ``ack``
        listener gets it (on the next loop iteration, like a live one)."""
        if event == "ack" and self._unseen_ack is not None:
            ack, self._unseen_ack = self._unseen_ack, None
            asyncio.get_running_loop().call_soon(self._emit_ack, ack)

    def _emit_or_200(self, event: str, req: Request, res: Response) -> None:
        if self.listener_count(event):
            self.emit(event, req, res)
        elif not res.finished:
            res.send(200)

    def _on_reinvite(self, req: Request, res: Response) -> None:
        new = req.body
        old = self.remote.sdp
        refresh = hold = unhold = False
        if new:
            try:
                new_desc = parse_sdp(new)
                if self.listener_count("refresh") and old:
                    old_desc = parse_sdp(old)
                    refresh = (old_desc.session_id == new_desc.session_id
                               and old_desc.version == new_desc.version)
                if not refresh:
                    held = is_hold(new_desc)
                    if held and not self.on_hold and self.listener_count("hold"):
                        hold = True
                    elif not held and self.on_hold and self.listener_count("unhold"):
                        unhold = True
            except SdpError:
                pass
            self.remote.sdp = new
        if refresh:
            self.emit("refresh", req)
        elif hold:
            self._prehold_sdp = self.local.sdp
            self.local.sdp = _hold_answer(self.local.sdp, new)
            self.on_hold = True
            self.emit("hold", req)
        elif unhold:
            self.on_hold = False
            self.local.sdp = _restore(self._prehold_sdp, self.local.sdp)
            self._prehold_sdp = None
            self.emit("unhold", req)
        if refresh or hold or unhold or not self.listener_count("modify"):
            hdrs: list[tuple[str, str]] = []
            if self.local.contact:
                hdrs.append(("Contact", self.local.contact))
            if self.local.sdp:
                hdrs.append(("Content-Type", "application/sdp"))
            res.send(200, headers=hdrs, body=self.local.sdp or None)
        else:
            self.emit("modify", req, res)

    # -- outgoing --------------------------------------------------------------------------------
    def _check_connected(self, what: str) -> None:
        if not self.connected:
            raise DialogError(f"invalid request to {what} a completed dialog ({self.id})")

    async def destroy(self, headers: HeadersArg = None, auth: Any = None) -> Request | None:
        """End the dialog: BYE (INVITE dialogs; waits for its response) or a terminating
        NOTIFY (SUBSCRIBE dialogs). Returns the request as sent; None if already ended."""
        hdrs = normalize_headers(headers)
        self.answer_queued()
        if not self.connected:
            return None
        self._ended()
        try:
            if self.dialog_type == "SUBSCRIBE":
                names = {n.lower() for n, _ in hdrs}
                if "subscription-state" not in names:
                    hdrs.append(("Subscription-State", "terminated"))
                if "event" not in names and self.subscribe_event:
                    hdrs.append(("Event", self.subscribe_event))
                return await self.agent.send_request(
                    "NOTIFY", "sip:placeholder", hdrs, None, dialog_id=self.id
                )
            self._terminate_state()
            bye = await self.agent.send_request(
                "BYE", "sip:placeholder", hdrs, None, dialog_id=self.id, auth=auth or self.auth
            )
            try:
                await bye.response()
            except DrachtioError:
                pass
            return bye
        finally:
            self._finish()

    async def modify(
        self,
        sdp: str | None = None,
        *,
        headers: HeadersArg = None,
        auth: Any = None,
        no_ack: bool = False,
    ) -> str | ModifyOffer:
        """Send a re-INVITE: a new local SDP, ``"hold"``, ``"unhold"``, or None (no offer).

        re-INVITEs are serialised per dialog; a failed one releases the queue. Returns the
        remote SDP of the 200, or with ``sdp=None, no_ack=True`` a ``ModifyOffer`` whose
        ``ack(sdp)`` sends the ACK carrying our answer.
        """
        if sdp is not None and not isinstance(sdp, str):
            raise TypeError(f"sdp must be a str, 'hold', 'unhold' or None, got {sdp!r}")
        hdrs = normalize_headers(headers)
        self._check_connected("modify")
        lock = self._reinvite_lock
        if lock is None:
            lock = self._reinvite_lock = asyncio.Lock()
        await lock.acquire()
        release = True
        try:
            self._check_connected("modify")
            prev_sdp, prev_hold = self.local.sdp, self.on_hold
            if sdp == "hold":
                if not self.local.sdp:
                    raise DialogError("cannot put on hold: the dialog has no local SDP")
                self._prehold_sdp = self.local.sdp
                self.local.sdp = hold_offer(self.local.sdp, inactive=True)
                self.on_hold = True
            elif sdp == "unhold":
                if not self.on_hold:
                    raise DialogError("attempt to unhold session that is not on hold")
                self.local.sdp = _restore(self._prehold_sdp, self.local.sdp)
                self.on_hold = False
            elif sdp is not None:
                self.local.sdp = sdp
            offer = self.local.sdp if sdp is not None else None
            if not any(n.lower() in ("contact", "m") for n, _ in hdrs) and self.local.contact:
                hdrs.append(("Contact", self.local.contact))
            if offer and not any(n.lower() in ("content-type", "c") for n, _ in hdrs):
                hdrs.append(("Content-Type", "application/sdp"))
            try:
                req = await self.agent.send_request(
                    "INVITE", "sip:placeholder", hdrs, offer, dialog_id=self.id,
                    auth=auth or self.auth,
                )
                res = await req.response()
            except BaseException:
                self.local.sdp, self.on_hold = prev_sdp, prev_hold
                raise
            if not 200 <= res.status < 300:
                self.local.sdp, self.on_hold = prev_sdp, prev_hold
                raise SipError(res.status, res.reason, res)
            if sdp == "unhold":
                self._prehold_sdp = None
            if res.body:
                self.remote.sdp = res.body
            if offer is None and no_ack:
                release = False
                done = False

                def ack(answer: str) -> Any:
                    nonlocal done
                    if done:
                        raise DialogError("ack() already called")
                    done = True
                    if answer:
                        self.local.sdp = answer
                    try:
                        return res.ack(body=answer or None, headers=(
                            {"Content-Type": "application/sdp"} if answer else None))
                    finally:
                        lock.release()

                return ModifyOffer(res.body, res, ack)
            if offer is None and self.local.sdp:
                # they offered in the 200: answer with our current SDP in the ACK
                res.ack(body=self.local.sdp, headers={"Content-Type": "application/sdp"})
            else:
                res.ack()
            return res.body
        finally:
            if release:
                lock.release()

    async def request(
        self,
        method: str,
        *,
        headers: HeadersArg = None,
        body: str | bytes | None = None,
        auth: Any = None,
        no_ack: bool = False,
    ) -> IncomingResponse:
        """Send a request inside the dialog; returns the final response.

        ``method`` is any SIP method, in any case. For an INVITE the ACK is sent for you
        unless ``no_ack`` and the 200 carried the offer (then call ``res.ack(body=...)``).
        """
        if not isinstance(method, str) or not _SIP_METHOD_RE.match(method):
            raise ValueError(f"method must be a SIP method name such as 'INFO', got {method!r}")
        method = method.upper()
        if method in ("ACK", "CANCEL"):
            raise ValueError(f"{method} cannot be sent with Dialog.request()")
        hdrs = normalize_headers(headers)
        self._check_connected("send a request in")
        req = await self.agent.send_request(
            method, "sip:placeholder", hdrs, body, dialog_id=self.id, auth=auth or self.auth
        )
        res = await req.response()
        if method == "BYE":
            self._terminate_state()
            self._ended()
        elif method == "INVITE" and 200 <= res.status < 300:
            if res.body:
                self.remote.sdp = res.body
            if body or not no_ack:
                res.ack()
        elif (
            method == "NOTIFY"
            and self.dialog_type == "SUBSCRIBE"
            and "terminated" in (req.get("Subscription-State") or "").lower()
            and self.remove_subscription(req.get("From") or "", req.get("Event")) == 0
        ):
            self._ended()
            self.emit("destroy", req, "subscription terminated")
            self._finish()
        return res

    # shortcuts (the reference's are broken: they throw "this.request is not a function")
    async def info(self, **kwargs: Any) -> IncomingResponse:
        return await self.request("INFO", **kwargs)

    async def notify(self, **kwargs: Any) -> IncomingResponse:
        return await self.request("NOTIFY", **kwargs)

    async def refer(self, **kwargs: Any) -> IncomingResponse:
        return await self.request("REFER", **kwargs)

    async def message(self, **kwargs: Any) -> IncomingResponse:
        return await self.request("MESSAGE", **kwargs)

    async def options(self, **kwargs: Any) -> IncomingResponse:
        return await self.request("OPTIONS", **kwargs)

    async def update(self, **kwargs: Any) -> IncomingResponse:
        return await self.request("UPDATE", **kwargs)

    async def publish(self, **kwargs: Any) -> IncomingResponse:
        return await self.request("PUBLISH", **kwargs)

    async def subscribe(self, **kwargs: Any) -> IncomingResponse:
        return await self.request("SUBSCRIBE", **kwargs)


def _hold_answer(local_sdp: str, remote_offer: str) -> str:
    """Our answer to a hold offer: recvonly (or inactive when they went inactive)."""
    if not local_sdp:
        return local_sdp
    try:
        desc = parse_sdp(local_sdp).copy()
        remote = parse_sdp(remote_offer)
        inactive = all(m.effective_direction == "inactive" for m in remote.media
                       if not m.is_disabled)
        desc.set_direction("inactive" if inactive else "recvonly")
        desc.bump_version()
        return str(desc)
    except SdpError:
        return local_sdp.replace("a=sendrecv", "a=recvonly")


def _restore(prehold: str | None, current: str) -> str:
    """The SDP from before the hold, with an o= version above the current one."""
    if not prehold:
        try:
            desc = parse_sdp(current)
            desc.set_direction("sendrecv")
            desc.bump_version()
            return str(desc)
        except SdpError:
            return current.replace("a=inactive", "a=sendrecv").replace("a=recvonly", "a=sendrecv")
    try:
        desc = parse_sdp(prehold)
        cur = parse_sdp(current)
        desc.version = max(desc.version, cur.version) + 1
        return str(desc)
    except SdpError:
        return prehold
