"""Stateful proxy core: the ``proxy`` command (wire-protocol.md 2.2) and record-routed
in-dialog requests (RFC 3261 section 16).

An app that proxies a request hands us the server transaction and a list of targets. Each
target becomes a branch (a client transaction); serial forking tries them one after the
other, simultaneous forking all at once. Provisional responses are forwarded upstream at
once (100 is absorbed), 2xx too (and the other branches are CANCELed); failures are kept and
the best one (16.7) goes upstream when no branch is left. Every final response is reported to
the app as a ``continue`` frame, then ``OK|done``.

Once a dialog is record-routed through us, its in-dialog requests carry our Route and are
forwarded here without the app: our Route is popped, a Via added, and the request sent to
the next Route or the Request-URI; responses come back through the same transactions.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from typing import TYPE_CHECKING, Any

from drachtio.engine import frames
from drachtio.engine.appmsg import AppSipError, parse_app_sip, substitute_localhost
from drachtio.engine.config import parse_duration
from drachtio.engine.ids import new_id
from drachtio.engine.records import ClientTxn, Dest, ServerTxn
from drachtio.sip import NameAddr, Request, Response, SipParseError, SipURI
from drachtio.sip.transaction import TransactionState, TransactionStateError, make_cancel

if TYPE_CHECKING:
    from drachtio.engine.apps import AppSession
    from drachtio.engine.engine import Engine
    from drachtio.engine.transport import Source

__all__ = ["ProxyCore"]

log = logging.getLogger("drachtio.engine")

_S = TransactionState
_MAX_BRANCHES = 20  # redirects followed in total, per request
_counter = itertools.count(1)


class _Branch:
    __slots__ = ("alternates", "ct", "dest", "done", "final_timer", "got_1xx", "prov_timer",
                 "target")

    def __init__(self, target: str) -> None:
        self.target = target
        self.alternates: list[Dest] = []  # further hops of the target's name (RFC 3263)
        self.ct: ClientTxn | None = None
        self.dest: Dest | None = None
        self.got_1xx = False
        self.prov_timer: Any = None
        self.final_timer: Any = None
        self.done = False

    def stop_timers(self) -> None:
        for t in (self.prov_timer, self.final_timer):
            if t is not None:
                t.cancel()
        self.prov_timer = self.final_timer = None


class _ProxyContext:
    """One proxied request: its branches and what came back."""

    def __init__(self, st: ServerTxn, session: AppSession, msg_id: str) -> None:
        self.st = st
        self.session = session
        self.msg_id = msg_id
        self.targets: list[str] = []
        self.tried = 0
        self.sent = 0
        self.record_route = False
        self.full = False
        self.follow = False
        self.parallel = False
        self.prov_timeout: float | None = None
        self.final_timeout: float | None = None
        self.known: list[tuple[str, str]] = []
        self.custom: list[tuple[str, str]] = []
        self.branches: list[_Branch] = []
        self.finals: list[Response] = []
        self.answered = False  # a 2xx went upstream
        self.cancelled = False
        self.finished = False
        self.timer_c: Any = None


class ProxyCore:
    """The engine's proxy: owns proxied transactions and record-routed dialogs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---------------------------------------------------------------------------------------
    # the proxy command

    def command(self, session: AppSession, msg_id: str, tokens: list[str], sip: str | None) -> None:
        eng = self.engine
        if len(tokens) < 10:
            session.send(frames.nok(msg_id, "invalid proxy command"))
            return
        txn_id = tokens[2]
        eng.unanswered.pop(txn_id, None)
        st = eng.pending_app.get(txn_id)
        if st is None or st.owner is not session or st.final:
            session.send(frames.nok(msg_id, "unknown transaction id: " + txn_id))
            return
        req = st.request
        ctx = _ProxyContext(st, session, msg_id)
        ctx.record_route = tokens[3] == "remainInDialog"
        ctx.full = tokens[4] == "fullResponse"
        ctx.follow = tokens[5] == "followRedirects"
        ctx.parallel = tokens[6] == "simultaneous"
        try:
            ctx.prov_timeout = parse_duration(tokens[7])
            ctx.final_timeout = parse_duration(tokens[8])
        except ValueError as exc:
            session.send(frames.nok(msg_id, str(exc)))
            return
        ctx.targets = [t for t in tokens[9:] if t.strip()]
        if not ctx.targets:
            session.send(frames.nok(msg_id, "error proxying request to "))
            return
        if sip:
            try:
                app = parse_app_sip(sip)
                ctx.known = [(n, v) for n, v in app.known
                             if n.lower() not in ("from", "to", "call-id", "cseq", "max-forwards")]
                ctx.custom = list(app.custom)
            except AppSipError:
                pass
        mf = _max_forwards(req)
        if mf == 0:
            eng.pending_app.pop(txn_id, None)
            eng._reply(st, 483, "Too Many Hops")
            session.send(frames.nok(msg_id, "Rejected with 483 Too Many Hops due to Max-Forwards value of 0"))
            return
        if self._is_loop(req):
            eng.pending_app.pop(txn_id, None)
            eng._reply(st, 482, "Loop Detected")
            session.send(frames.nok(msg_id, "Rejected with 482 Loop Detected"))
            return
        eng.pending_app.pop(txn_id, None)
        st.proxy = ctx
        if req.method == "INVITE":
            req.freeze()
            eng._cdr("attempt", "network", req)
            assert eng.timers is not None
            ctx.timer_c = eng.timers.call_later(eng.config.timer_c, lambda now: self._timer_c(ctx))
        if not ctx.full:
            session.send(frames.ok_proxy_done(msg_id))
        self._next(ctx)

    # ---------------------------------------------------------------------------------------
    # branches

    def _next(self, ctx: _ProxyContext) -> None:
        """Start the next target(s); finish when nothing is left."""
        if ctx.finished:
            return
        started = False
        while ctx.targets and not ctx.cancelled and not ctx.answered:
            if ctx.tried >= _MAX_BRANCHES:
                ctx.targets.clear()
                break
            target = ctx.targets.pop(0)
            ctx.tried += 1
            if self._start_branch(ctx, target):
                started = True
                if not ctx.parallel:
                    break
        if not started and not any(not b.done for b in ctx.branches):
            self._finish(ctx)

    def _start_branch(self, ctx: _ProxyContext, target: str) -> bool:
        eng = self.engine
        try:
            eng.hop_for_uri(target)  # validates; resolve_uri below finds the hop
        except ValueError as exc:
            log.info("proxy: cannot use target %s: %s", target, exc)
            return False
        branch = _Branch(target)
        ctx.branches.append(branch)

        def go(dest: Dest) -> None:
            if ctx.finished or ctx.cancelled or ctx.answered:
                branch.done = True
                self._maybe_finish(ctx)
                return
            branch.alternates = list(dest.alternates)
            self._send_branch(ctx, branch, dest)

        def fail(reason: str) -> None:
            log.info("proxy: target %s: %s", target, reason)
            branch.done = True
            self._next(ctx)

        eng.resolve_uri(target, go, fail)
        return True

    def _send_branch(self, ctx: _ProxyContext, branch: _Branch, dest: Dest) -> None:
        eng = self.engine
        orig = ctx.st.request
        req = orig.copy()
        local = dest.local
        target = branch.target
        scheme = orig.uri.partition(":")[0].lower()
        if scheme not in ("sip", "sips") or self._uri_is_ours(orig.uri):
            req.uri = _clean_target(target)
        req.remove("Route")
        mf = _max_forwards(orig)
        req.set("Max-Forwards", str((mf if mf is not None else 71) - 1))
        if ctx.record_route:
            rr = f"<sip:{local.hostport}{'' if local.proto == 'udp' else ';transport=' + local.proto};lr>"
            if orig.method == "REGISTER":
                req.prepend("Path", rr)
                req.append("Require", "path")
            else:
                req.prepend("Record-Route", rr)
        hp = local.hostport
        for name, value in ctx.known:
            low = name.lower()
            if low in ("from", "to", "contact", "p-asserted-identity"):
                value = substitute_localhost(value, hp)
            req.set(name, value)
        for name, value in ctx.custom:
            req.append(name, value)
        req.prepend("Via", eng._via_for(local, self._branch_id(orig)))
        branch.dest = dest
        ctx.sent += 1
        ct = eng._start_client(
            req, dest,
            on_response=lambda ct, resp, retrans: self._response(ctx, branch, resp, retrans),
            on_timeout=lambda ct, timer: self._branch_failed(ctx, branch, 408, "Request Timeout"),
            on_error=lambda ct: self._branch_failed(ctx, branch, 503, "Service Unavailable"),
        )
        branch.ct = ct
        assert eng.timers is not None
        if ctx.prov_timeout is not None and orig.method == "INVITE":
            branch.prov_timer = eng.timers.call_later(
                ctx.prov_timeout, lambda now: self._prov_timeout(ctx, branch))
        if ctx.final_timeout is not None:
            branch.final_timer = eng.timers.call_later(
                ctx.final_timeout, lambda now: self._final_timeout(ctx, branch))

    def _branch_id(self, req: Request) -> str:
        """A branch carrying a loop-detection hash (RFC 3261 16.6 step 8)."""
        return f"z9hG4bK-{_loop_hash(req)}-{next(_counter):x}"

    def _response(self, ctx: _ProxyContext, branch: _Branch, resp: Response, retrans: bool) -> None:
        eng = self.engine
        status = resp.status
        if status == 100:
            return
        if status < 200:
            branch.got_1xx = True
            if branch.prov_timer is not None:
                branch.prov_timer.cancel()
                branch.prov_timer = None
            if ctx.cancelled and branch.ct is not None and not branch.done:
                self._cancel_branch(branch)
                return
            if not ctx.answered and not ctx.finished:
                self._forward_up(ctx, resp)
            return
        if 200 <= status < 300:
            if branch.done and retrans:
                self._forward_up(ctx, resp)  # 2xx retransmission: pass it on
                return
            branch.done = True
            branch.stop_timers()
            first = not ctx.answered
            ctx.answered = True
            self._forward_up(ctx, resp)
            self._report(ctx, branch, resp)
            if first and ctx.st.request.method == "INVITE":
                resp.freeze()
                eng._cdr("start", "network", resp, "proxy-uac")
                for other in ctx.branches:
                    if other is not branch and not other.done:
                        self._cancel_branch(other)
            self._finish(ctx)
            return
        # a failure on this branch
        if branch.done or (status == 503 and self._fail_over(ctx, branch)):
            return
        branch.done = True
        branch.stop_timers()
        ctx.finals.append(resp)
        self._report(ctx, branch, resp)
        if 300 <= status < 400 and ctx.follow and not ctx.cancelled and not ctx.answered:
            for contact in _contacts(resp):
                ctx.targets.append(contact)
        if status >= 600:
            for other in ctx.branches:
                if not other.done:
                    self._cancel_branch(other)
            ctx.targets.clear()
        self._next(ctx)

    def _fail_over(self, ctx: _ProxyContext, branch: _Branch) -> bool:
        """RFC 3263 4.3: this branch's hop failed before any provisional (transport error,
        timeout, 503): send it again, with a new branch id, to the target's next hop."""
        if (not branch.alternates or branch.got_1xx or ctx.cancelled or ctx.answered
                or ctx.finished):
            return False
        old = branch.ct
        if old is not None:  # it finishes on its own; nothing it reports reaches us
            old.on_response = old.on_timeout = old.on_error = None
        branch.stop_timers()
        nxt = branch.alternates.pop(0)
        log.info("proxy: %s via %s:%s failed; trying %s:%s", branch.target,
                 branch.dest.host if branch.dest else "?", branch.dest.port if branch.dest else 0,
                 nxt.host, nxt.port)
        ctx.sent -= 1  # the same branch, sent again
        self._send_branch(ctx, branch, nxt)
        return True

    def _branch_failed(self, ctx: _ProxyContext, branch: _Branch, status: int, reason: str) -> None:
        if branch.done or self._fail_over(ctx, branch):
            return
        ct = branch.ct
        assert ct is not None
        resp = Response(status, reason, [
            ("Via", v) for v in ct.request.headers.get_lines("Via")
        ] + [("From", ct.request.get("From") or ""), ("To", ct.request.get("To") or ""),
             ("Call-ID", ct.request.call_id), ("CSeq", f"{ct.request.cseq.seq} {ct.request.method}")])
        branch.done = True
        branch.stop_timers()
        ctx.finals.append(resp)
        self._next(ctx)

    def _prov_timeout(self, ctx: _ProxyContext, branch: _Branch) -> None:
        branch.prov_timer = None
        if branch.done or branch.got_1xx:
            return
        log.info("proxy: no provisional from %s in time; trying the next target", branch.target)
        self._abandon(ctx, branch)

    def _final_timeout(self, ctx: _ProxyContext, branch: _Branch) -> None:
        branch.final_timer = None
        if branch.done:
            return
        log.info("proxy: no final response from %s in time", branch.target)
        self._abandon(ctx, branch)

    def _abandon(self, ctx: _ProxyContext, branch: _Branch) -> None:
        """Give up on a branch (CANCEL it if it can be) and move on."""
        self._cancel_branch(branch)
        self._branch_failed(ctx, branch, 408, "Request Timeout")

    def _cancel_branch(self, branch: _Branch) -> None:
        ct = branch.ct
        if ct is None or ct.final or ct.request.method != "INVITE":
            return
        if ct.cancel is not None or ct.cancelled:
            return
        ct.cancelled = True
        cancel = make_cancel(ct.request)
        if ct.machine.state is _S.CALLING:
            ct.cancel = cancel
            # the engine sends a deferred CANCEL from the UAC path only; do it here
            orig = ct.on_response

            def on_resp(c: ClientTxn, resp: Response, retrans: bool) -> None:
                if c.cancel is not None and resp.status < 200:
                    pending, c.cancel = c.cancel, None
                    self.engine._start_client(pending, c.dest)
                if orig is not None:
                    orig(c, resp, retrans)

            ct.on_response = on_resp
        else:
            self.engine._start_client(cancel, ct.dest)

    def _forward_up(self, ctx: _ProxyContext, resp: Response) -> None:
        up = resp.copy()
        up.headers.pop_first("Via")
        try:
            self.engine._respond(ctx.st, up)
        except TransactionStateError:
            pass

    def _report(self, ctx: _ProxyContext, branch: _Branch, resp: Response) -> None:
        if not ctx.full or ctx.session.closed:
            return
        d = branch.dest
        data = resp.freeze()
        ctx.session.send(frames.ok_proxy_response(
            ctx.msg_id, data, d.proto if d else "", d.host if d else "", d.port if d else 0, resp))

    def _maybe_finish(self, ctx: _ProxyContext) -> None:
        if not ctx.targets and all(b.done for b in ctx.branches):
            self._finish(ctx)

    def _finish(self, ctx: _ProxyContext) -> None:
        if ctx.finished:
            return
        eng = self.engine
        if not ctx.answered:
            if any(not b.done for b in ctx.branches):
                return
            best = _best_response(ctx.finals)
            if best is None:
                # no target could be tried at all (or, after CANCEL, none answered)
                ctx.finished = True
                eng._reply(ctx.st, 487 if ctx.cancelled else 500)
                if not ctx.session.closed:
                    if ctx.sent == 0:
                        ctx.session.send(frames.nok(
                            ctx.msg_id, "error proxying request to " + ",".join(
                                b.target for b in ctx.branches)))
                    elif ctx.full:
                        ctx.session.send(frames.ok_proxy_done(ctx.msg_id))
                self._cleanup(ctx)
                return
            self._forward_up(ctx, best)
            if ctx.st.request.method == "INVITE":
                best.freeze()
                eng._cdr("stop", "network", best,
                         "call-canceled" if best.status == 487 else "call-rejected")
        ctx.finished = True
        if ctx.full and not ctx.session.closed:
            ctx.session.send(frames.ok_proxy_done(ctx.msg_id))
        self._cleanup(ctx)

    def _cleanup(self, ctx: _ProxyContext) -> None:
        if ctx.timer_c is not None:
            ctx.timer_c.cancel()
            ctx.timer_c = None
        for b in ctx.branches:
            b.stop_timers()

    def _timer_c(self, ctx: _ProxyContext) -> None:
        ctx.timer_c = None
        if ctx.finished or ctx.answered:
            return
        for b in ctx.branches:
            if not b.done:
                self._cancel_branch(b)
                self._branch_failed(ctx, b, 408, "Request Timeout")

    # ---------------------------------------------------------------------------------------
    # upstream CANCEL, app gone

    def cancel(self, inv: ServerTxn, cancel: Request) -> None:
        ctx = inv.proxy
        if not isinstance(ctx, _ProxyContext) or ctx.finished or ctx.answered:
            return
        ctx.cancelled = True
        ctx.targets.clear()
        for b in ctx.branches:
            if not b.done:
                self._cancel_branch(b)
        if not ctx.branches:
            self.engine._reply(inv, 487, "Request Terminated")
            ctx.finished = True
            self._cleanup(ctx)

    def cancel_unknown(self, req: Request, cst: ServerTxn) -> bool:
        return False

    def app_closed(self, session: AppSession) -> None:
        """Proxied requests go on without their app (their reports are simply dropped)."""
        return

    # ---------------------------------------------------------------------------------------
    # record-routed in-dialog requests and stray responses

    def _uri_is_ours(self, text: str) -> bool:
        try:
            uri = SipURI.parse(_clean_target(text))
        except SipParseError:
            return False
        assert self.engine.transports is not None
        return self.engine.transports.is_local_address(uri.host, uri.port)

    def is_our_route(self, req: Request) -> bool:
        routes = req.get_all("Route")
        if not routes:
            return False
        try:
            uri = NameAddr.parse(routes[0]).uri
        except (SipParseError, ValueError):
            return False
        assert self.engine.transports is not None
        return self.engine.transports.is_local_address(uri.host, uri.port)

    def in_dialog(self, req: Request, src: Source) -> None:
        """Forward a request whose top Route is ours (RFC 3261 16.4-16.6)."""
        eng = self.engine
        fwd = req.copy()
        fwd.headers.pop_first("Route")
        routes = fwd.get_all("Route")
        target = routes[0] if routes else fwd.uri
        method = req.method
        if method != "ACK":
            mf = _max_forwards(req)
            if mf == 0:
                eng._reply_new(req, src, 483, "Too Many Hops")
                return
            fwd.set("Max-Forwards", str((mf if mf is not None else 71) - 1))
        try:
            eng.hop_for_uri(target)  # validates; resolve_uri below finds the hop
        except ValueError:
            if method != "ACK":
                eng._reply_new(req, src, 404, "Not Found")
            return

        def go(dest: Dest) -> None:
            fwd.prepend("Via", eng._via_for(dest.local, self._branch_id(req)))
            if method == "ACK":
                eng._send(dest, fwd)
                return
            key = _server_key(req)
            st = eng.server_txns.get(key)
            if st is None:
                st = eng._new_server_txn(req, src, key)
            if method == "INVITE":
                eng._respond(st, _trying(req))
            eng._start_client(
                fwd, dest,
                on_response=lambda ct, resp, retrans: self._in_dialog_response(st, resp),
                on_timeout=lambda ct, timer: eng._reply(st, 408),
                on_error=lambda ct: eng._reply(st, 503),
            )
            if method == "BYE":
                req.freeze()
                eng._cdr("stop", "network", req, "normal-release")

        def fail(reason: str) -> None:
            if method != "ACK":
                eng._reply_new(req, src, 404, "Not Found")

        eng.resolve_uri(target, go, fail)

    def _in_dialog_response(self, st: ServerTxn, resp: Response) -> None:
        if resp.status == 100:
            return
        up = resp.copy()
        up.headers.pop_first("Via")
        try:
            self.engine._respond(st, up)
        except TransactionStateError:
            pass

    def stray_2xx(self, resp: Response, src: Source) -> bool:
        """A 2xx retransmission for a proxied INVITE after its transaction ended: pass it
        upstream statelessly (16.7 step 10 / RFC 6026)."""
        vias = resp.vias
        if len(vias) < 2:
            return False
        top = vias[0]
        assert self.engine.transports is not None
        if not self.engine.transports.is_local_address(top.host, top.port):
            return False
        nxt = vias[1]
        host = nxt.received or nxt.host
        port = nxt.rport or nxt.port or 5060
        up = resp.copy()
        up.headers.pop_first("Via")
        local = self.engine.transports.select(nxt.transport.lower(), host)
        if local is None:
            return True
        self.engine._send(Dest(local, host, port), up)
        return True

    # ---------------------------------------------------------------------------------------

    def _is_loop(self, req: Request) -> bool:
        """16.3 step 4: a Via of ours whose branch carries this request's loop hash (a
        spiral, where the hash differs because the request changed, is fine)."""
        assert self.engine.transports is not None
        h = None
        for via in req.vias:
            if not self.engine.transports.is_local_address(via.host, via.port):
                continue
            if h is None:
                h = _loop_hash(req)
            if (via.branch or "").startswith(f"z9hG4bK-{h}-"):
                return True
        return False


def _loop_hash(req: Request) -> str:
    """Hash of what identifies a request at this hop (16.6 step 8): R-URI, From tag,
    Call-ID, CSeq number, To tag, Proxy-Require/Route (not the top Via, which we add)."""
    parts = [req.uri, req.from_.tag or "", req.call_id, str(req.cseq.seq), req.to.tag or "",
             ",".join(req.get_all("Proxy-Require")), ",".join(req.get_all("Route"))]
    return hashlib.blake2s("|".join(parts).encode("utf-8", "replace"), digest_size=6).hexdigest()


def _max_forwards(req: Request) -> int | None:
    try:
        return req.max_forwards
    except (SipParseError, ValueError):
        return None


def _clean_target(text: str) -> str:
    t = text.strip()
    if t.startswith("<") and ">" in t:
        t = t[1 : t.index(">")]
    if not t.lower().startswith(("sip:", "sips:", "tel:")):
        t = "sip:" + t
    return t


def _contacts(resp: Response) -> list[str]:
    out = []
    for value in resp.get_all("Contact"):
        try:
            na = NameAddr.parse(value)
        except (SipParseError, ValueError):
            continue
        if not na.is_wildcard:
            out.append(str(na.uri))
    return out


def _best_response(finals: list[Response]) -> Response | None:
    """RFC 3261 16.7 step 6: a 6xx if any, else the lowest class (4xx over 5xx); 503 is
    sent on as 500; 401/407 challenges are merged."""
    if not finals:
        return None
    six = [r for r in finals if r.status >= 600]
    if six:
        return six[0]

    def rank(r: Response) -> tuple[int, int]:
        cls = r.status // 100
        # prefer 3xx < 4xx < 5xx; within 4xx prefer 401/407/415/420/484 (they help the UAC)
        pref = 0 if r.status in (401, 407, 415, 420, 484) else 1
        return (cls, pref)

    best = min(finals, key=rank)
    if best.status in (401, 407):
        best = best.copy()
        for other in finals:
            if other is best or other.status not in (401, 407):
                continue
            for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                for v in other.get_all(name):
                    if v not in best.get_all(name):
                        best.append(name, v)
    if best.status == 503:
        best = best.copy()
        best.status = 500
        best.reason = "Server Internal Error"
    return best


def _server_key(req: Request) -> Any:
    from drachtio.sip.transaction import transaction_key_for_request

    return transaction_key_for_request(req)


def _trying(req: Request) -> Response:
    from drachtio.engine.msgutil import stateless_response

    return stateless_response(req, 100)


_ = new_id  # re-exported for callers building proxy frames
