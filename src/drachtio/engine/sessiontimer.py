"""Session timers (RFC 4028), kept inside the engine as the reference does (section 5.7).

A 2xx to an INVITE (or UPDATE) that carries ``Session-Expires`` arms the dialog's timer.
When we are the refresher we send a re-INVITE with our last SDP at half the interval and
ACK its 2xx ourselves (491: try again next interval; any other failure: hang up); when the
other side is, we hang up if no refresh arrives within the interval. Hanging up is a BYE
with ``Reason: SIP ;cause=200 ;text="Session timer expired"``, an ``unsolicited`` BYE to the
app and ``cdr:stop session-expired``. The app never sees the refreshes.

UAS default (``default-refresher none``): only a ``Session-Expires`` with a ``refresher``
in the INVITE, or one the app put in its 2xx, creates a timer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from drachtio.engine.appmsg import AppSip
from drachtio.engine.build import build_in_dialog_request
from drachtio.sip import Request, Response, SessionExpires, SipParseError

if TYPE_CHECKING:
    from drachtio.engine.engine import Engine
    from drachtio.engine.records import ClientTxn, Dest, DialogRec

__all__ = ["MIN_SE", "REASON_SESSION_EXPIRED", "SessionTimers"]

log = logging.getLogger("drachtio.engine")

MIN_SE = 90
REASON_SESSION_EXPIRED = 'SIP ;cause=200 ;text="Session timer expired"'


def _session_expires(msg: Request | Response | AppSip) -> SessionExpires | None:
    value = msg.get("Session-Expires")  # compact 'x' is the same header to both containers
    if not value:
        return None
    try:
        return SessionExpires.parse(value)
    except (SipParseError, ValueError):
        return None


def _has_timer_option(values: list[str]) -> bool:
    return any(p.strip().lower() == "timer" for v in values for p in v.split(","))


class SessionTimers:
    """Arms, refreshes and expires dialogs' session timers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.min_se = engine.config.min_se

    # requests from the network ----------------------------------------------------------------

    def too_small(self, req: Request) -> bool:
        """A (re-)INVITE or UPDATE asking for less than Min-SE: answer 422."""
        se = _session_expires(req)
        return se is not None and se.delta < self.min_se

    # UAS side: the app answers a request ---------------------------------------------------------

    def extra_headers(self, req: Request, app: AppSip) -> list[tuple[str, str]]:
        """Headers to add to the app's 2xx: echo a Session-Expires the caller asked for with a
        refresher (none when the app set its own, or the caller gave no refresher)."""
        if app.has("Session-Expires"):
            return []
        se = _session_expires(req)
        if se is None or se.refresher not in ("uac", "uas"):
            return []
        out = [("Session-Expires", f"{max(se.delta, self.min_se)};refresher={se.refresher}")]
        if _has_timer_option(req.get_all("Supported")) and not app.has("Require"):
            out.append(("Require", "timer"))
        return out

    def after_2xx(self, rec: DialogRec, req: Request, resp: Response, we_sent_request: bool) -> None:
        """A 2xx to an INVITE/UPDATE in ``rec`` went out or came in: (re)arm or disarm."""
        if req.method == "INVITE":
            body = req.body if we_sent_request else resp.body
            if body:
                rec.local_sdp = body
        se = _session_expires(resp)
        if se is None:
            self.stop(rec)
            return
        refresher = se.refresher or ("uac" if we_sent_request else "uas")
        we_refresh = (refresher == "uac") == we_sent_request
        self.arm(rec, max(se.delta, self.min_se), we_refresh)

    # timers ---------------------------------------------------------------------------------

    def arm(self, rec: DialogRec, delta: float, we_refresh: bool) -> None:
        self.stop(rec)
        rec.st_delta = delta
        rec.st_refresher = we_refresh
        timers = self.engine.timers
        assert timers is not None
        if we_refresh:
            rec.st_timer = timers.call_later(delta / 2, lambda now: self._refresh(rec))
        else:
            rec.st_timer = timers.call_later(delta, lambda now: self._expire(rec))

    def stop(self, rec: DialogRec) -> None:
        if rec.st_timer is not None:
            rec.st_timer.cancel()
            rec.st_timer = None

    def _expire(self, rec: DialogRec) -> None:
        rec.st_timer = None
        if rec.terminated:
            return
        log.info("session timer expired for %s", rec.id)
        self.engine._system_bye(rec, REASON_SESSION_EXPIRED, "session-expired")

    def _refresh(self, rec: DialogRec) -> None:
        rec.st_timer = None
        eng = self.engine
        if rec.terminated:
            return
        if rec.pending_invite is not None:  # the app is re-INVITEing: that refreshes
            self.arm(rec, rec.st_delta, True)
            return
        eng._with_dialog_dest(rec, lambda dest: self._send_refresh(rec, dest),
                              lambda _: self._expire(rec))

    def _send_refresh(self, rec: DialogRec, dest: Dest) -> None:
        eng = self.engine
        if rec.terminated:
            return
        if rec.pending_invite is not None:  # the app re-INVITEd while the hop was resolved
            self.arm(rec, rec.st_delta, True)
            return
        local = dest.local
        known = [("Session-Expires", f"{int(rec.st_delta)};refresher=uac"),
                 ("Min-SE", str(self.min_se)), ("Supported", "timer")]
        body = rec.local_sdp or b""
        if body:
            known.append(("Content-Type", "application/sdp"))
        app = AppSip(False, method="INVITE", uri="sip:placeholder", known=known, body=body)
        try:
            req = build_in_dialog_request(rec.dialog, app, via=eng._via_for(local),
                                          hostport=local.hostport, proto=local.proto)
        except ValueError:
            self._expire(rec)
            return
        req.freeze()
        ct = eng._start_client(req, dest, on_response=lambda c, r, rt: self._refresh_response(rec, c, r, rt))
        ct.dialog = rec
        rec.pending_invite = ct

    def _ack_refresh(self, rec: DialogRec, ct: ClientTxn, resp: Response, dest: Dest) -> None:
        eng = self.engine
        if rec.terminated:
            return
        try:
            ack = build_in_dialog_request(
                rec.dialog, AppSip(False, method="ACK", uri=""),
                via=eng._via_for(dest.local), hostport=dest.local.hostport,
                proto=dest.local.proto)
        except ValueError:
            self._expire(rec)
            return
        ack.freeze()
        rec.ack = ack
        rec.ack_dest = dest
        eng._send(dest, ack)
        self.after_2xx(rec, ct.request, resp, we_sent_request=True)
        if rec.st_timer is None:  # the 2xx dropped Session-Expires: keep refreshing
            self.arm(rec, rec.st_delta, True)

    def _refresh_response(self, rec: DialogRec, ct: ClientTxn, resp: Response, retrans: bool) -> None:
        eng = self.engine
        status = resp.status
        if status < 200:
            return
        if rec.pending_invite is ct:
            rec.pending_invite = None
        if rec.terminated:
            return
        if 200 <= status < 300:
            if rec.ack is not None and retrans and rec.ack_dest is not None:
                eng._send(rec.ack_dest, rec.ack)
                return
            rec.dialog.receive_response(resp)  # (a target refresh may change the next hop)
            eng._with_dialog_dest(rec, lambda dest: self._ack_refresh(rec, ct, resp, dest),
                                  lambda _: self._expire(rec))
        elif status == 491:
            self.arm(rec, rec.st_delta, True)
        else:
            log.info("session refresh for %s failed with %s", rec.id, status)
            self._expire(rec)
