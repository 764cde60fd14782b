"""App -> engine commands (wire-protocol.md section 2): authenticate, route, remove_route,
ping, sip, proxy.

Every command is answered with a ``response`` frame carrying the app's message id. A command
that throws is answered ``NOK`` and logged; it never reaches the transports or other apps.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from drachtio.engine import frames
from drachtio.engine.appmsg import AppSipError, parse_app_sip
from drachtio.wire.codec import ControlMessage

if TYPE_CHECKING:
    from drachtio.engine.apps import AppSession
    from drachtio.engine.engine import Engine

__all__ = ["ControlHandler"]

log = logging.getLogger("drachtio.engine")

#: Commands accepted before ``authenticate`` succeeded.
_OPEN_COMMANDS = frozenset({"authenticate", "ping"})


class ControlHandler:
    """Parses control commands from one engine's apps and dispatches them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._by_link: dict[int, AppSession] = {}

    def session_for(self, link: object) -> AppSession:
        """The session of ``link`` (contract form ``control.handle(link, msg)``): attached on
        first use, in-process links being trusted."""
        from drachtio.engine.apps import AppSession

        if isinstance(link, AppSession):
            return link
        s = self._by_link.get(id(link))
        if s is None or s.closed:
            s = self.engine.attach(link)  # type: ignore[arg-type]
            self._by_link[id(link)] = s
        return s

    def handle(self, session: AppSession | object, msg: ControlMessage) -> None:
        """One app -> engine message (from a session, or from a bare link). Never raises."""
        from drachtio.engine.apps import AppSession

        if not isinstance(session, AppSession):
            session = self.session_for(session)
        self._dispatch(session, msg)

    def _dispatch(self, session: AppSession, msg: ControlMessage) -> None:
        try:
            self._handle(session, msg)
        except Exception:
            log.exception("error handling %r from %s", msg.kind, session.name)
            try:
                session.send(frames.nok(msg.id, "Server error: internal error"))
            except Exception:  # the session may be closing
                pass

    def link_closed(self, session: AppSession | object) -> None:
        """The app's link went away (same as ``session.close()``)."""
        from drachtio.engine.apps import AppSession

        if not isinstance(session, AppSession):
            s = self._by_link.pop(id(session), None)
            if s is None:
                return
            session = s
        session.close()

    def _handle(self, session: AppSession, msg: ControlMessage) -> None:
        tokens = msg.tokens
        if len(tokens) < 2 or not tokens[0]:
            log.warning("malformed control message from %s: %r", session.name, tokens[:3])
            session.send(frames.nok(tokens[0] if tokens else "", "Unknown message type", "NO"))
            session.close()
            return
        msg_id = tokens[0]
        cmd = tokens[1]
        if not session.authenticated and cmd not in _OPEN_COMMANDS:
            session.send(frames.nok(msg_id, "not authenticated", "NO"))
            return
        if cmd == "sip":
            self._sip(session, msg_id, tokens, msg.sip)
        elif cmd == "route":
            verb = tokens[2].strip().lower() if len(tokens) > 2 else ""
            if not verb:
                session.send(frames.nok(msg_id, "missing verb", "NO"))
                return
            self.engine.routes.add(verb, session)
            session.send(frames.ok(msg_id))
        elif cmd == "remove_route":
            verb = tokens[2].strip().lower() if len(tokens) > 2 else ""
            self.engine.routes.remove(verb, session)
            session.send(frames.ok(msg_id))
        elif cmd == "ping":
            session.send(frames.ok(msg_id, "pong"))
        elif cmd == "authenticate":
            self._authenticate(session, msg_id, tokens)
        elif cmd == "proxy":
            self.engine.proxy.command(session, msg_id, tokens, msg.sip)
        else:
            log.warning("unknown control command %r from %s", cmd[:40], session.name)
            session.send(frames.nok(msg_id, "Unknown message type", "NO"))
            session.close()

    def _authenticate(self, session: AppSession, msg_id: str, tokens: list[str]) -> None:
        given = tokens[2] if len(tokens) > 2 else ""
        secret = self.engine.config.secret
        if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
            log.warning("app %s: incorrect secret", session.name)
            session.send(frames.nok(msg_id, "incorrect secret", "NO"))
            session.close()
            return
        session.authenticated = True
        if len(tokens) > 3 and tokens[3]:
            session.tags = [t.strip() for t in tokens[3].split(",") if t.strip()]
        hostports = ",".join(self.engine.sip_hostports)
        session.send(frames.ok(msg_id, hostports, self.engine.config.version, hostports))
        hook, session.on_authenticated = session.on_authenticated, None
        if hook is not None:
            hook(session)

    def _sip(self, session: AppSession, msg_id: str, tokens: list[str], sip: str | None) -> None:
        txn_id = tokens[2] if len(tokens) > 2 else ""
        dialog_id = tokens[3] if len(tokens) > 3 else ""
        route_url = tokens[4] if len(tokens) > 4 else ""
        if not sip:
            session.send(frames.nok(msg_id, "missing SIP message"))
            return
        try:
            app = parse_app_sip(sip)
        except AppSipError as exc:
            session.send(frames.nok(msg_id, f"invalid SIP message: {exc}"))
            return
        if app.is_response:
            if not txn_id:
                session.send(frames.nok(msg_id, "Response not sent due to unknown transaction"))
                return
            self.engine.app_response(session, msg_id, txn_id, app)
        else:
            self.engine.app_request(session, msg_id, txn_id, dialog_id, route_url, app)
