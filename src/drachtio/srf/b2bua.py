"""``create_b2bua``: bridge an incoming INVITE (the A leg) to a new outgoing one (the B leg).

```python
uas, uac = await srf.create_b2bua(req, res, "sip:bob@example.com",
                                  proxy_request_headers=["all", "-X-Secret"])
uas.on("destroy", lambda *_: spawn(uac.destroy()))
uac.on("destroy", lambda *_: spawn(uas.destroy()))
```

What the B2BUA does between the legs while the call is set up (srf-api.md 2.8):

* copies the headers the application names from A's INVITE to B's and from B's responses
  to A's (``["all", "-Name", ...]`` copies everything but the dialog-forming headers);
* relays B's provisional responses to A with the SDP translated by ``local_sdp_a``; a
  relayed 18x that carries ``Require: 100rel`` goes to A reliably, and A's PRACKs are awaited
  (bounded) before A gets the 200;
* propagates A's CANCEL to B with A's ``Reason``/``X-Reason``; answers an UPDATE from A;
* passes B's failure to A (``pass_failure``), with the copied headers;
* on B's 200: holds B's in-dialog requests (``uac.queue_requests``) until A's ACK arrives,
  so a fast re-INVITE from B is not handled before A is confirmed;
* 3pcc: when A offered no SDP, B is called without one, A gets B's offer in the 200, and
  B's ACK carries A's answer (from A's ACK, through ``local_sdp_b`` when it is a function);
* any failure after B answered tears B down (BYE) and, when A was already answered, A too.

The B leg goes out on the engine connection A arrived on (so one ``Srf`` serving several
engines, or outbound connections, bridges each call within its own engine).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from drachtio.sip.grammar import canonical_key
from drachtio.srf.auth import check_auth_arg
from drachtio.srf.dialog import Dialog, header_tag, uri_user_host
from drachtio.srf.emitter import spawn
from drachtio.srf.errors import DrachtioError, EngineError, SipError
from drachtio.srf.message import HeadersArg, SipMessage, normalize_headers
from drachtio.srf.request import Request
from drachtio.srf.response import IncomingResponse, Response, SentMessage
from drachtio.srf.state import (
    DialogDirection,
    DialogState,
    DialogStateInfo,
    StateEmitter,
    wants_state,
)
from drachtio.srf.uac import PendingAck, _create_uac, normalize_uri

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.srf import Srf

__all__ = [
    "B2BUA",
    "HeaderCopySpec",
    "LocalSdpA",
    "LocalSdpB",
    "ResponseHeaders",
    "copy_headers",
    "create_b2bua",
    "parse_copy_spec",
]

log = logging.getLogger("drachtio.srf")

#: ``local_sdp_a``: a fixed SDP, or ``fn(sdp_b[, res_b])`` -> SDP (or an awaitable of one)
LocalSdpA: TypeAlias = str | Callable[..., str | Awaitable[str | None] | None] | None
#: ``local_sdp_b``: a fixed SDP, or ``fn(sdp_a)`` -> SDP (or an awaitable of one)
LocalSdpB: TypeAlias = str | Callable[..., str | Awaitable[str | None] | None] | None
#: ``response_headers``: a dict, or ``fn(res_b, headers_so_far)`` -> dict (may be async)
ResponseHeaders: TypeAlias = (
    Mapping[str, Any] | Callable[..., Mapping[str, Any] | Awaitable[Mapping[str, Any]]] | None
)

#: longest wait for A's PRACKs of relayed reliable provisionals before sending A the 200
PRACK_WAIT = 2.0
#: longest wait, in 3pcc, for A's ACK (the engine gives up after 32 s and hangs up A)
ACK_WAIT = 40.0

#: never copied by ``all``: they form the dialog or belong to one hop (the engine owns them)
_NOT_BY_ALL = frozenset({
    "via", "from", "to", "call-id", "cseq", "contact", "content-length", "content-type",
    "route", "record-route", "rseq", "rack",
})
#: never copied, even by name: copying them would break the new transaction
_NEVER = frozenset({"via", "call-id", "cseq", "content-length"})
_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_TAG_PARAM_RE = re.compile(r";\s*tag\s*=\s*[^;>,\s]*", re.IGNORECASE)


class B2BUA(NamedTuple):
    """The two dialogs of a bridged call: ``uas, uac = await srf.create_b2bua(...)``."""

    uas: Dialog
    uac: Dialog


# -- header copying ---------------------------------------------------------------------------

class HeaderCopySpec(NamedTuple):
    """Parsed ``proxy_request_headers`` / ``proxy_response_headers``."""

    all: bool
    include: frozenset[str]
    exclude: frozenset[str]


def parse_copy_spec(spec: Sequence[str] | None, what: str) -> HeaderCopySpec | None:
    """``["Subject", "X-Foo"]`` or ``["all", "-X-Secret"]`` (names in any case)."""
    if spec is None:
        return None
    if isinstance(spec, str) or not isinstance(spec, (list, tuple)):
        raise TypeError(
            f"{what} must be a list of header names such as ['Subject'] or "
            f"['all', '-X-Secret'], got {spec!r}"
        )
    all_ = False
    include: set[str] = set()
    exclude: set[str] = set()
    for item in spec:
        if not isinstance(item, str):
            raise TypeError(f"{what}: header names must be str, got {item!r}")
        name = item.strip()
        if name.lower() == "all":
            all_ = True
            continue
        minus = name.startswith("-")
        if minus:
            name = name[1:]
        if not _TOKEN_RE.match(name):
            raise ValueError(f"{what}: invalid header name {item!r}")
        key = canonical_key(name)
        if minus:
            exclude.add(key)
        elif key in _NEVER:
            raise ValueError(f"{what}: {name} belongs to one transaction and cannot be copied")
        else:
            include.add(key)
    if exclude and not all_:
        raise ValueError(f"{what}: '-Name' exclusions need 'all' in the list, got {list(spec)!r}")
    return HeaderCopySpec(all_, frozenset(include), frozenset(exclude))


def copy_headers(msg: SipMessage | None, spec: HeaderCopySpec | None, *,
                 request: bool = False) -> list[tuple[str, str]]:
    """The header lines of ``msg`` that ``spec`` selects, in their original order.

    A copied ``Max-Forwards`` (requests) is decremented so a loop through B2BUAs still ends
    (RFC 7332); a ``tag`` on a copied From/To is dropped (the new leg has its own).
    """
    if msg is None or spec is None:
        return []
    out: list[tuple[str, str]] = []
    for name, value in msg.headers:
        key = canonical_key(name)
        if key in spec.include:
            pass
        elif not spec.all or key in _NOT_BY_ALL or key in spec.exclude:
            continue
        if key in _NEVER:
            continue
        if key in ("from", "to"):
            gt = value.rfind(">")
            value = value[: gt + 1] + _TAG_PARAM_RE.sub("", value[gt + 1:]) if gt >= 0 else (
                _TAG_PARAM_RE.sub("", value))
        elif key == "max-forwards" and request:
            try:
                value = str(max(int(value.strip()) - 1, 0))
            except ValueError:
                continue
        out.append((name, value))
    return out


def _merge(base: list[tuple[str, str]], top: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``base`` with every header named in ``top`` replaced by ``top``'s lines."""
    if not top:
        return base
    names = {canonical_key(n) for n, _ in top}
    return [(n, v) for n, v in base if canonical_key(n) not in names] + top


def _has(headers: list[tuple[str, str]], name: str) -> bool:
    key = canonical_key(name)
    return any(canonical_key(n) == key for n, _ in headers)


def _positional_count(fn: Callable[..., Any]) -> int:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 99
    n = 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
        elif p.kind is p.VAR_POSITIONAL:
            return 99
    return n


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call with as many of ``args`` as ``fn`` takes; await the result when needed."""
    out = fn(*args[: _positional_count(fn)])
    if inspect.isawaitable(out):
        out = await out
    return out


# -- the B2BUA ----------------------------------------------------------------------------------

class _Bridge:
    """State of one ``create_b2bua`` call."""

    def __init__(self, srf: Srf, req: Request, res: Response, uri: str, o: dict[str, Any]
                 ) -> None:
        self.srf = srf
        self.req = req
        self.res = res
        self.uri = uri
        self.o = o
        self.loop = req.agent.loop if req.agent is not None else asyncio.get_running_loop()
        self.req_spec: HeaderCopySpec | None = o["proxy_request_headers"]
        self.res_spec: HeaderCopySpec | None = o["proxy_response_headers"]
        self.b_req: Request | None = None
        self.a_canceled = req.canceled
        self.cancel_headers: list[tuple[str, str]] = []
        self.last_b_sdp = ""
        self.last_a_sdp = ""
        self.sdp_cache: dict[str, asyncio.Future[str | None]] = {}
        self.a_lock = asyncio.Lock()
        self.relays: list[asyncio.Task[None]] = []
        self.pracks: list[asyncio.Future[None]] = []
        self.a_ack: asyncio.Future[Request] = self.loop.create_future()
        self.state: DialogStateInfo | None = None
        self.emitter: StateEmitter | None = o["dialog_state_emitter"]
        if wants_state(self.emitter):
            self.state = DialogStateInfo(
                state=DialogState.TRYING,
                direction=DialogDirection.INITIATOR,
                aor=uri_user_host(req.get("From") or ""),
                call_id=req.call_id or "",
                local_tag=header_tag(req.get("From")),
            )

    # -- dialog-state events ---------------------------------------------------------------
    def _set_state(self, state: DialogState) -> None:
        if self.state is not None and self.emitter is not None and self.state.state != state:
            self.state.state = state
            self.emitter.emit("state_change", self.state)

    # -- A-leg events during setup -------------------------------------------------------------
    def _on_a_cancel(self, cancel: Request) -> None:
        self.a_canceled = True
        self.cancel_headers = [(n, v) for n, v in cancel.headers
                               if canonical_key(n) in ("reason", "x-reason")]
        self._cancel_b()

    def _cancel_b(self) -> None:
        b = self.b_req
        if b is None or b.final_response is not None:
            return  # not sent yet (on_request cancels it) or already answered
        try:
            fut = b.cancel(headers=self.cancel_headers or None)
        except Exception as exc:  # the B leg just completed: nothing to cancel
            log.debug("b2bua: CANCEL towards B not sent: %s", exc)
            return
        fut.add_done_callback(_retrieve)

    def _on_a_update(self, ureq: Request, ures: Response) -> None:
        # reference behaviour: answer with the SDP A already has (from B), never relayed
        if not ureq.body:
            ures.send(200)
        elif self.last_a_sdp:
            ures.send(200, body=self.last_a_sdp, headers={"Content-Type": "application/sdp"})
        else:
            ures.send(500, headers={"Retry-After": "5"})

    # -- B-leg callbacks -----------------------------------------------------------------------
    def _on_b_request(self, breq: Request) -> None:
        self.b_req = breq
        if self.a_canceled:
            self._cancel_b()
        self._hook("on_request", breq)

    def _on_b_provisional(self, bres: IncomingResponse) -> None:
        self._hook("on_provisional", bres)
        if bres.status == 100:
            return  # a 100 Trying carries nothing to relay or remember (and needs no parse)
        if bres.body:
            self.last_b_sdp = bres.body
        if self.state is not None:
            if header_tag(bres.get("To")):
                self._set_state(DialogState.EARLY)
            elif self.state.state == DialogState.TRYING:
                self._set_state(DialogState.PROCEEDING)
        if (bres.status <= 101 or not self.o["pass_provisional_responses"]
                or self.res.finished or self.a_canceled):
            return
        if self._relay_now(bres):
            return
        self.relays.append(spawn(self._relay_provisional(bres), name="b2bua-relay-1xx"))

    def _relay_now(self, bres: IncomingResponse) -> bool:
        """The common case, relayed at once: nothing to await (no SDP function, no header
        function, not reliable) and no earlier relay still in progress."""
        o = self.o
        if (self.a_lock.locked() or any(not t.done() for t in self.relays)
                or callable(o["response_headers"])
                or (bres.body and callable(o["local_sdp_a"]))):
            return False
        hdrs = copy_headers(bres, self.res_spec)
        extra = o["response_headers"]
        if extra is not None:
            hdrs = _merge(hdrs, normalize_headers(extra, "response_headers"))
        if hdrs and any(canonical_key(n) == "require" and "100rel" in v.lower()
                        for n, v in hdrs):
            return False
        body: str | None = None
        if bres.body:
            body = o["local_sdp_a"] if isinstance(o["local_sdp_a"], str) else bres.body
            self.last_a_sdp = body or self.last_a_sdp
            if body and not _has(hdrs, "Content-Type"):
                hdrs.append(("Content-Type", "application/sdp"))
        self.res.send(bres.status, bres.reason, headers=hdrs, body=body)
        return True

    def _hook(self, name: str, *args: Any) -> None:
        fn = self.o[name]
        if fn is None:
            return
        try:
            out = fn(*args)
        except Exception:
            log.exception("b2bua %s callback raised", name)
            return
        if out is not None and inspect.isawaitable(out):
            spawn(out, name=f"b2bua-{name}")

    async def _relay_provisional(self, bres: IncomingResponse) -> None:
        async with self.a_lock:
            if self.res.finished or self.a_canceled:
                return
            try:
                hdrs = await self._response_headers(bres)
                body = await self._translate(bres.body, bres) if bres.body else None
            except Exception:
                log.exception("b2bua: building the relayed %d failed; not relayed", bres.status)
                return
            if body and not _has(hdrs, "Content-Type"):
                hdrs.append(("Content-Type", "application/sdp"))
            reliable = any(canonical_key(n) == "require" and "100rel" in v.lower()
                           for n, v in hdrs)
            if not reliable:
                self.res.send(bres.status, bres.reason, headers=hdrs, body=body)
                return
            prack: asyncio.Future[None] = self.loop.create_future()

            def on_prack(preq: Request) -> None:
                if preq.method == "PRACK" and preq.res is not None and not preq.res.finished:
                    preq.res.send(200)
                if not prack.done():
                    prack.set_result(None)

            self.pracks.append(prack)
            try:
                await self.res.send(bres.status, bres.reason, headers=hdrs, body=body,
                                    on_ack=on_prack)
            except EngineError as exc:
                prack.cancel()
                if "100rel" not in str(exc) or self.res.finished or self.a_canceled:
                    log.debug("b2bua: relayed %d not sent: %s", bres.status, exc)
                    return
                # A does not support 100rel: relay it unreliably instead
                hdrs = [(n, v) for n, v in hdrs if canonical_key(n) != "require"]
                self.res.send(bres.status, bres.reason, headers=hdrs, body=body)

    # -- SDP and header translation ----------------------------------------------------------
    async def _translate(self, sdp_b: str | None, bres: IncomingResponse | None) -> str | None:
        """``local_sdp_a`` applied to B's SDP; a function runs once per distinct SDP."""
        fn = self.o["local_sdp_a"]
        if fn is None:
            out: str | None = sdp_b
        elif isinstance(fn, str):
            out = fn
        elif not sdp_b:
            return self.last_a_sdp or None  # nothing new from B: A keeps what it has
        else:
            key = sdp_b or ""
            fut = self.sdp_cache.get(key)
            if fut is None:
                fut = self.loop.create_future()
                self.sdp_cache[key] = fut
                try:
                    value = await _call(fn, sdp_b, bres)
                    if value is not None and not isinstance(value, str):
                        raise TypeError(f"local_sdp_a must return a str, got "
                                        f"{type(value).__name__}")
                    fut.set_result(value)
                except BaseException as exc:
                    fut.set_exception(exc)
                    fut.add_done_callback(_retrieve)
                    raise
            out = await asyncio.shield(fut)
        if out:
            self.last_a_sdp = out
        return out

    async def _response_headers(self, bres: IncomingResponse | None) -> list[tuple[str, str]]:
        copied = copy_headers(bres, self.res_spec)
        extra = self.o["response_headers"]
        if extra is None:
            return copied
        if callable(extra):
            extra = await _call(extra, bres, dict(copied))
            if extra is None:
                return copied
        return _merge(copied, normalize_headers(extra, "response_headers"))

    # -- the call ---------------------------------------------------------------------------------
    async def run(self) -> B2BUA:
        req = self.req
        if self.state is not None and self.emitter is not None:
            self.emitter.emit("state_change", self.state)  # trying
        req.on("cancel", self._on_a_cancel)
        req.on("update", self._on_a_update)
        try:
            return await self._run()
        finally:
            req.off("cancel", self._on_a_cancel)
            req.off("update", self._on_a_update)

    async def _run(self) -> B2BUA:
        req, o = self.req, self.o
        if self.a_canceled:
            self._set_state(DialogState.CANCELLED)
            raise SipError(487, "Request Terminated")
        if not req.has("Contact"):
            await self._fail_a(400, "Missing Contact header", None)
            raise SipError(400, "Missing Contact header")

        # B's INVITE: copied headers, then the application's on top
        hdrs = _merge(copy_headers(req, self.req_spec, request=True), o["headers"])
        calling_number, calling_name = o["calling_number"], o["calling_name"]
        if not _has(hdrs, "From") and calling_number is None:
            calling_number = req.calling_number
            if calling_name is None:
                calling_name = req.calling_name
        called_number = o["called_number"] or req.called_number
        local_b = o["local_sdp_b"]
        offer: str | None
        if isinstance(local_b, str):
            offer = local_b
        elif callable(local_b) and req.body and not o["no_ack"]:
            try:
                offer = await _call(local_b, req.body)
                if offer is not None and not isinstance(offer, str):
                    raise TypeError(f"local_sdp_b must return a str, got "
                                    f"{type(offer).__name__}")
            except Exception:
                self._set_state(DialogState.REJECTED)
                await self._fail_a(500, None, None)
                raise
        else:
            offer = req.body or None
        third_party = o["no_ack"] or not offer
        if third_party:
            offer = None
        elif offer == req.body and req.has("Content-Type") and not _has(hdrs, "Content-Type"):
            hdrs.append(("Content-Type", req.get("Content-Type") or "application/sdp"))

        try:
            # create_uac's checks, for what create_b2bua did not check already
            uri = normalize_uri(self.uri, called_number)
            proxy = normalize_uri(o["proxy"]) if o["proxy"] else o["proxy"]
            if self.req_spec is not None:  # headers copied from A's INVITE
                hdrs = normalize_headers(hdrs)
            out = await _create_uac(
                self.srf, uri, hdrs, local_sdp=offer,
                calling_number=calling_number or None, calling_name=calling_name,
                method="INVITE", auth=o["auth"], proxy=proxy,
                follow_redirects=o["follow_redirects"],
                keep_uri_on_redirect=o["keep_uri_on_redirect"], no_ack=third_party,
                on_request=self._on_b_request, on_provisional=self._on_b_provisional,
                dialog_state_emitter=None, agent=req.agent,
            )
        except SipError as exc:
            await self._b_failed(exc)
            raise
        except asyncio.CancelledError:
            # the application gave up (e.g. a ring timeout): B was CANCELed by create_uac
            self._abandon_a(480, "Temporarily Unavailable")
            raise
        except Exception as exc:
            log.warning("b2bua: B leg could not be sent: %s", exc)
            await self._fail_a(500, None, None)
            self._set_state(DialogState.REJECTED)
            raise

        if isinstance(out, PendingAck):
            return await self._connect_3pcc(out)
        return await self._connect(out)

    async def _b_failed(self, exc: SipError) -> None:
        if self.a_canceled or (exc.status == 487 and self.req.canceled):
            self._set_state(DialogState.CANCELLED)
            return
        self._set_state(DialogState.REJECTED)
        if not self.o["pass_failure"] or self.res.finished:
            return
        status = exc.status if 300 <= exc.status <= 699 else 500
        await self._fail_a(status, exc.reason, exc.res)

    async def _fail_a(self, status: int, reason: str | None, bres: IncomingResponse | None
                      ) -> None:
        """Send A a failure (after any provisional relays), unless A is already answered."""
        await self._drain_relays()
        if self.res.finished or self.a_canceled or not self.o["pass_failure"]:
            return
        try:
            hdrs = await self._response_headers(bres)
        except Exception:
            log.exception("b2bua: response_headers failed while passing a failure to A")
            hdrs = []
        async with self.a_lock:
            if not self.res.finished:
                self.res.send(status, reason, headers=hdrs)

    def _abandon_after(self, exc: BaseException) -> None:
        """A failure after B answered: A gets 480 when the task was cancelled, else 500."""
        if isinstance(exc, asyncio.CancelledError):
            self._abandon_a(480, "Temporarily Unavailable")
        else:
            self._abandon_a(500, "Server Internal Error")

    def _abandon_a(self, status: int, reason: str) -> None:
        self._set_state(DialogState.REJECTED)
        if self.o["pass_failure"] and not self.res.finished and not self.a_canceled:
            self.res.send(status, reason)

    async def _drain_relays(self) -> None:
        pending = [t for t in self.relays if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    async def _finalize_uac(self, uac: Dialog) -> None:
        fn = self.o["on_finalized_uac"]
        if fn is not None:
            out = fn(uac)
            if inspect.isawaitable(out):
                await out

    async def _connect(self, uac: Dialog) -> B2BUA:
        """B answered (and was ACKed): answer A, then release B's queued requests on A's ACK."""
        uac.queue_requests = True
        try:
            await self._finalize_uac(uac)
            if self.a_canceled:
                raise SipError(487, "Request Terminated")
            if self.pracks:
                await asyncio.wait(self.pracks, timeout=PRACK_WAIT)
            await self._drain_relays()
            bres = uac.res if isinstance(uac.res, IncomingResponse) else None
            sdp_b = (bres.body if bres is not None else "") or uac.remote.sdp or self.last_b_sdp
            sdp_a = await self._translate(sdp_b or None, bres)
            hdrs = await self._response_headers(bres)
            uas = await self._answer_a(hdrs, sdp_a)
        except BaseException as exc:
            self._teardown_b(uac)
            if isinstance(exc, SipError) and exc.status == 487:
                self._set_state(DialogState.CANCELLED)
            else:
                self._abandon_after(exc)
            raise
        self._link(uas, uac)

        def release() -> None:
            if uac.queue_requests:
                uac.queue_requests = False

        def ended_before_ack(*_args: Any) -> None:
            # A's dialog ended unconfirmed: B's held requests get handled (never dropped)
            if not self.a_ack.done():
                self.a_ack.cancel()
                release()

        uas.on("destroy", ended_before_ack)
        # the ACK normally comes through on_ack; the dialog's event is a second way in
        uas.once("ack", self._ack_event)
        if self.a_ack.done():
            self.loop.call_soon(release)  # after the application attached its listeners
        else:
            self.a_ack.add_done_callback(lambda _f: release())
        return B2BUA(uas, uac)

    def _ack_event(self, ack: Request) -> None:
        if not self.a_ack.done():
            self.a_ack.set_result(ack)

    async def _connect_3pcc(self, pending: PendingAck) -> B2BUA:
        """A offered nothing: B's offer goes to A; A's answer (in its ACK) goes to B's ACK."""
        try:
            if self.a_canceled:
                raise SipError(487, "Request Terminated")
            await self._drain_relays()
            self.last_b_sdp = pending.sdp
            sdp_a = await self._translate(pending.sdp, pending.res)
            hdrs = await self._response_headers(pending.res)
            uas = await self._answer_a(hdrs, sdp_a)
        except BaseException as exc:
            _hang_up(pending.destroy(), "abandoning the 3pcc B leg")
            if isinstance(exc, SipError) and exc.status == 487:
                self._set_state(DialogState.CANCELLED)
            else:
                self._abandon_after(exc)
            raise
        uas.once("destroy", lambda *_a: self.a_ack.done() or self.a_ack.cancel())
        uas.once("ack", self._ack_event)
        uac: Dialog | None = None
        try:
            try:
                ack = await asyncio.wait_for(asyncio.shield(self.a_ack), ACK_WAIT)
            except TimeoutError:
                raise SipError(408, "Request Timeout: no ACK from the caller") from None
            except asyncio.CancelledError:
                if not self.a_ack.cancelled():
                    raise  # the awaiting task itself was cancelled
                raise SipError(487, "Request Terminated: the caller hung up before ACKing"
                               ) from None
            answer_a = ack.body or ""
            if answer_a:
                uas.remote.sdp = answer_a
            local_b = self.o["local_sdp_b"]
            if callable(local_b):
                answer_b = await _call(local_b, answer_a)
            elif isinstance(local_b, str):
                answer_b = local_b
            else:
                answer_b = answer_a
            if not answer_b:
                raise SipError(488, "Not Acceptable Here: no SDP answer in the caller's ACK")
            uac = await pending.ack(answer_b)
            await self._finalize_uac(uac)
        except BaseException:
            if not self.a_ack.cancelled():  # A still there: hang it up
                _hang_up(uas.destroy(), "hanging up A after a failed 3pcc")
            if uac is not None:
                self._teardown_b(uac)
            else:
                _hang_up(pending.destroy(), "abandoning the 3pcc B leg")
            raise
        self._link(uas, uac)
        return B2BUA(uas, uac)

    async def _answer_a(self, hdrs: list[tuple[str, str]], sdp: str | None) -> Dialog:
        """Send A the 200 and build the UAS dialog (ACKs are caught from the echo on)."""
        req, res = self.req, self.res
        if sdp and not _has(hdrs, "Content-Type"):
            hdrs.append(("Content-Type", "application/sdp"))

        def on_ack(ack: Request) -> None:
            if ack.method == "ACK" and not self.a_ack.done():
                self.a_ack.set_result(ack)

        async with self.a_lock:
            if self.a_canceled:
                raise SipError(487, "Request Terminated")
            if res.finished:
                raise SipError(500, "the caller was already answered")
            sending = res.send(200, headers=hdrs, body=sdp, on_ack=on_ack)
            try:
                sent = await sending
            except DrachtioError:
                if self.a_canceled or req.canceled:
                    raise SipError(487, "Request Terminated") from None
                raise
        assert isinstance(sent, SentMessage)
        agent = req.agent
        assert agent is not None
        uas = Dialog(self.srf, "uas", req=req, res=res, sent=sent, dialog_id=sent.dialog_id,
                     agent=agent)
        self.srf.add_dialog(uas)
        if self.state is not None:
            self.state.local_tag = uas.sip.local_tag
            self.state.remote_tag = uas.sip.remote_tag
            self._set_state(DialogState.CONFIRMED)
            uas._set_state_emitter(self.emitter, self.state)
        return uas

    @staticmethod
    def _link(uas: Dialog, uac: Dialog) -> None:
        uas.other = uac
        uac.other = uas

    @staticmethod
    def _teardown_b(uac: Dialog) -> None:
        uac.answer_queued()  # held requests of a leg being torn down: never silently dropped
        _hang_up(uac.destroy(), "tearing down the B leg")


async def _quietly(aw: Awaitable[Any], what: str) -> None:
    try:
        await aw
    except Exception as exc:
        log.debug("b2bua: %s: %s", what, exc)


def _hang_up(aw: Awaitable[Any], what: str) -> None:
    """Tear a leg down in the background: the failure is reported without waiting for
    the far end's answer to the BYE."""
    spawn(_quietly(aw, what), name="b2bua-teardown")


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


# -- public entry point ---------------------------------------------------------------------------

def _check_callable(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {value!r}")


def _check_sdp_option(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str) and not callable(value):
        raise TypeError(f"{name} must be an SDP str, a function returning one, or None, "
                        f"got {value!r}")


@functools.cache
def _srf_class() -> type[Srf]:
    """``Srf``, imported on first use (``drachtio.srf.srf`` imports this module)."""
    from drachtio.srf.srf import Srf

    return Srf


async def create_b2bua(
    srf: Srf,
    req: Request,
    res: Response,
    uri: str | None = None,
    *,
    headers: HeadersArg = None,
    proxy_request_headers: Sequence[str] | None = None,
    proxy_response_headers: Sequence[str] | None = None,
    response_headers: ResponseHeaders = None,
    local_sdp_a: LocalSdpA = None,
    local_sdp_b: LocalSdpB = None,
    pass_failure: bool = True,
    pass_provisional_responses: bool = True,
    calling_number: str | None = None,
    calling_name: str | None = None,
    called_number: str | None = None,
    auth: Any = None,
    proxy: str | None = None,
    follow_redirects: bool = False,
    keep_uri_on_redirect: bool = False,
    no_ack: bool = False,
    on_request: Callable[[Request], Any] | None = None,
    on_provisional: Callable[[IncomingResponse], Any] | None = None,
    on_finalized_uac: Callable[[Dialog], Any] | None = None,
    dialog_state_emitter: StateEmitter | None = None,
) -> B2BUA:
    """Bridge the incoming INVITE ``req`` to ``uri``; returns ``B2BUA(uas, uac)``.

    Returns once A has been sent the 200 (in 3pcc: once B has been ACKed with A's answer).
    A failed B leg raises ``SipError`` with ``.status``, ``.reason`` and ``.res`` (B's final
    response); with ``pass_failure`` (the default) A has then been answered with it. A CANCEL
    from A raises ``SipError(487)``. Cancelling the awaiting task CANCELs B and, with
    ``pass_failure``, answers A 480.

    ``proxy_request_headers`` / ``proxy_response_headers``: header names to copy from A's
    INVITE to B's / from B's responses to A's; ``["all", "-Name", ...]`` copies all but the
    dialog-forming ones and those named. ``response_headers``: a dict, or
    ``fn(res_b, headers_so_far) -> dict`` (sync or async), added to every response to A.
    ``local_sdp_a``: SDP for A (default: B's), or ``fn(sdp_b, res_b)`` (sync or async).
    ``local_sdp_b``: SDP offered to B (default: A's), or ``fn(sdp_a)`` turning A's SDP
    (from the INVITE, or in 3pcc from A's ACK) into B's.
    ``on_request(req_b)``, ``on_provisional(res_b)``, ``on_finalized_uac(uac)``: progress
    callbacks (``on_finalized_uac`` runs as soon as B's dialog exists, before A's 200).
    ``calling_number``/``calling_name``/``called_number``, ``auth``, ``proxy``,
    ``follow_redirects``, ``keep_uri_on_redirect`` work as in ``create_uac``.
    """
    if not isinstance(srf, _srf_class()):
        raise TypeError(f"srf must be a drachtio Srf, got {type(srf).__name__}")
    if not isinstance(req, Request) or req.source != "network":
        raise TypeError("create_b2bua needs the incoming request given to the handler")
    if not isinstance(res, Response) or res.req is not req:
        raise TypeError("create_b2bua needs the response object that belongs to req")
    if req.method != "INVITE":
        raise ValueError(f"create_b2bua bridges INVITEs, not {req.method}")
    if res.finished:
        raise ValueError("create_b2bua: the request was already answered")
    if req.agent is None:
        raise ValueError("create_b2bua: the request is not bound to an engine connection")
    if not isinstance(uri, str) or not uri.strip():
        raise TypeError(f"uri must be a non-empty str (the B leg's request-URI), got {uri!r}")
    for name, val in (("calling_number", calling_number), ("calling_name", calling_name),
                      ("called_number", called_number), ("proxy", proxy)):
        if val is not None and not isinstance(val, str):
            raise TypeError(f"{name} must be a str or None, got {val!r}")
    for name, flag in (("pass_failure", pass_failure),
                       ("pass_provisional_responses", pass_provisional_responses),
                       ("follow_redirects", follow_redirects),
                       ("keep_uri_on_redirect", keep_uri_on_redirect), ("no_ack", no_ack)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {flag!r}")
    _check_sdp_option("local_sdp_a", local_sdp_a)
    _check_sdp_option("local_sdp_b", local_sdp_b)
    if response_headers is not None and not callable(response_headers):
        if not isinstance(response_headers, Mapping):
            raise TypeError("response_headers must be a dict or a function "
                            f"(res_b, headers) -> dict, got {response_headers!r}")
        normalize_headers(response_headers, "response_headers")
    for name, fn in (("on_request", on_request), ("on_provisional", on_provisional),
                     ("on_finalized_uac", on_finalized_uac)):
        _check_callable(name, fn)
    b_headers = normalize_headers(headers)
    check_auth_arg(auth)
    if dialog_state_emitter is not None:
        wants_state(dialog_state_emitter)  # validates the object
    opts: dict[str, Any] = {
        "headers": b_headers,
        "proxy_request_headers": parse_copy_spec(proxy_request_headers, "proxy_request_headers"),
        "proxy_response_headers": parse_copy_spec(proxy_response_headers,
                                                  "proxy_response_headers"),
        "response_headers": response_headers,
        "local_sdp_a": local_sdp_a,
        "local_sdp_b": local_sdp_b,
        "pass_failure": pass_failure,
        "pass_provisional_responses": pass_provisional_responses,
        "calling_number": calling_number,
        "calling_name": calling_name,
        "called_number": called_number,
        "auth": auth,
        "proxy": proxy,
        "follow_redirects": follow_redirects,
        "keep_uri_on_redirect": keep_uri_on_redirect,
        "no_ack": no_ack,
        "on_request": on_request,
        "on_provisional": on_provisional,
        "on_finalized_uac": on_finalized_uac,
        "dialog_state_emitter": dialog_state_emitter,
    }
    return await _Bridge(srf, req, res, uri.strip(), opts).run()
