"""Outbound connections and request handlers (wire-protocol.md 6.2).

With ``<request-handlers>`` (or ``--http-handler``) a new request whose method has a handler
is not routed to the apps connected to the admin port. Instead:

* ``tcp://host:port`` / ``tls://host:port``: the engine dials the app there, one new
  connection per request. The app speaks first (``authenticate|secret|tags``); once the
  engine answered ``OK`` it sends the pending request as a normal ``sip`` frame, and from then
  on the connection is an ordinary app connection (it owns the transaction and the dialog;
  the app closes it when done). Connection failure, a wrong secret or no ``authenticate``
  within ``AUTH_TIMEOUT`` -> ``480 Temporarily Unavailable`` to the caller.
* ``http(s)://...``: the engine asks with an HTTP GET (or POST with the request as the body)
  and does what the JSON answer says: ``reject`` (that final response), ``redirect`` (302
  with the Contacts), ``proxy`` (proxy it with no app), ``route`` to a ``uri`` (dial that
  app, as above) or to a ``tag`` (a connected app that authenticated with that tag and
  routed the method; none -> 480). No answer, an HTTP error or an unreadable answer -> 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from drachtio.engine.config import RequestHandler
from drachtio.engine.controlserver import ControlConnection
from drachtio.engine.httpclient import HttpError, http_request
from drachtio.engine.ids import new_id
from drachtio.sip import SipParseError, SipURI

if TYPE_CHECKING:
    from drachtio.engine.apps import AppSession
    from drachtio.engine.engine import Engine
    from drachtio.engine.records import ServerTxn
    from drachtio.engine.transport import Source
    from drachtio.wire.codec import ControlMessage

__all__ = ["AUTH_TIMEOUT", "CONNECT_TIMEOUT", "OutboundRouter"]

log = logging.getLogger("drachtio.engine")

#: seconds to open an outbound connection, and then for the app to authenticate on it
CONNECT_TIMEOUT = 5.0
AUTH_TIMEOUT = 5.0


class _NullLink:
    """The app side of requests an HTTP handler told us to proxy: nobody listens."""

    def send(self, msg: ControlMessage) -> None:
        return None

    def close(self) -> None:
        return None


class _Pending:
    """A request waiting for its outbound connection."""

    __slots__ = ("data", "src", "st")

    def __init__(self, st: ServerTxn, src: Source, data: bytes) -> None:
        self.st = st
        self.src = src
        self.data = data


class OutboundConnection(ControlConnection):
    """A control connection the engine opened to an app for one request."""

    def __init__(self, engine: Engine, router: OutboundRouter, pending: _Pending,
                 name: str) -> None:
        super().__init__(engine)
        self._router = router
        self._pending: _Pending | None = pending
        self._name = name
        self._auth_timer: asyncio.TimerHandle | None = None

    def _attach(self, name: str) -> AppSession:
        session = super()._attach(self._name)
        session.on_authenticated = self._authenticated
        self._auth_timer = self._loop.call_later(AUTH_TIMEOUT, self._auth_timeout)
        return session

    def _authenticated(self, session: AppSession) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        pending, self._pending = self._pending, None
        if pending is not None and not self._router.deliver(pending, session):
            self.close()  # the call is over already (CANCEL, timeout): nothing to do here

    def _auth_timeout(self) -> None:
        self._auth_timer = None
        if self._pending is not None:
            log.warning("outbound connection %s: the app did not authenticate", self._name)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        pending, self._pending = self._pending, None
        if pending is not None:
            log.info("outbound connection %s closed before the request was handed over",
                     self._name)
            self._router.fail(pending, 480, "Temporarily Unavailable")
        super().connection_lost(exc)


class OutboundRouter:
    """Request handlers of one engine (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.handlers = engine.config.request_handlers
        self._null: AppSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def handler_for(self, method: str) -> RequestHandler | None:
        h = self.handlers
        return h.get(method) or h.get("*")

    def dispatch(self, st: ServerTxn, src: Source, data: bytes, handler: RequestHandler) -> None:
        """Take over new request ``st`` (its provisional 100 is out already)."""
        pending = _Pending(st, src, data)
        scheme = handler.scheme
        if scheme in ("tcp", "tls"):
            hostport = handler.url.partition("://")[2].strip("/")
            self._start(self._dial(pending, hostport, scheme == "tls"))
        else:
            self._start(self._ask(pending, handler))

    def _start(self, coro: Any) -> None:
        loop = self.engine.loop
        assert loop is not None
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # -- outcomes --------------------------------------------------------------------------
    @staticmethod
    def _alive(pending: _Pending) -> bool:
        st = pending.st
        return st.final == 0 and st.owner is None and not st.machine.terminated

    def deliver(self, pending: _Pending, session: AppSession) -> bool:
        """Hand the request to ``session`` (the app on an outbound connection, or a tagged
        inbound app); False when the request is over already."""
        if not self._alive(pending):
            return False
        self.engine._hand_to_app(pending.st, session, pending.data, pending.src)
        return True

    def fail(self, pending: _Pending, status: int, reason: str,
             headers: list[tuple[str, str]] | None = None) -> None:
        if self._alive(pending):
            self.engine._reply(pending.st, status, reason, headers)

    # -- dialing the app -------------------------------------------------------------------
    async def _dial(self, pending: _Pending, hostport: str, tls: bool) -> None:
        loop = self.engine.loop
        assert loop is not None
        try:
            host, port = _split_hostport(hostport)
        except ValueError:
            log.warning("request handler: bad app address %r", hostport)
            self.fail(pending, 480, "Temporarily Unavailable")
            return
        ctx: ssl.SSLContext | None = None
        if tls:  # as the reference: no certificate check
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        name = f"outbound/{host}:{port}"
        try:
            await asyncio.wait_for(loop.create_connection(
                lambda: OutboundConnection(self.engine, self, pending, name), host, port,
                ssl=ctx), CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.info("cannot connect to app at %s:%s: %s", host, port, exc)
            self.fail(pending, 480, "Temporarily Unavailable")

    # -- asking an HTTP handler ------------------------------------------------------------
    async def _ask(self, pending: _Pending, handler: RequestHandler) -> None:
        try:
            url = handler.url
            base, _, _ = url.partition("?")
            if not base.endswith("/"):
                base += "/"
            query = urlencode(_query(pending), quote_via=quote)
            headers = {"Accept": "application/json",
                       "User-Agent": f"Drachtio/{self.engine.config.version}"}
            body = None
            if handler.http_method == "POST":
                body = pending.data
                headers["Content-Type"] = "text/plain"
            resp = await http_request(handler.http_method, f"{base}?{query}", body=body,
                                      headers=headers, verify_peer=handler.verify_peer)
        except (HttpError, TimeoutError) as exc:
            log.warning("request handler %s: %s", handler.url, exc)
            self.fail(pending, 500, "Server Internal Error")
            return
        if not 200 <= resp.status < 300:
            log.warning("request handler %s answered %s %s", handler.url, resp.status,
                        resp.reason)
            self.fail(pending, 500, "Server Internal Error")
            return
        try:
            answer = json.loads(resp.body.decode("utf-8"))
            self._act(pending, answer)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("request handler %s: unusable answer (%s): %r", handler.url, exc,
                        resp.body[:200])
            self.fail(pending, 500, "Server Internal Error")

    def _act(self, pending: _Pending, answer: Any) -> None:
        if not self._alive(pending):
            return
        action = answer["action"]
        data = answer.get("data") or {}
        if not isinstance(data, dict):
            raise TypeError("data must be an object")
        if action == "reject":
            status = int(data.get("status", 500))
            if not 300 <= status < 700:
                raise ValueError(f"cannot reject with {status}")
            reason = data.get("reason")
            self.fail(pending, status, str(reason) if reason else "")
        elif action == "redirect":
            contacts = _str_list(data.get("contact", data.get("contacts")))
            if not contacts:
                raise ValueError("redirect without contact")
            self.fail(pending, 302, "Moved Temporarily",
                      [("Contact", c if "<" in c else f"<{c}>") for c in contacts])
        elif action == "proxy":
            self._proxy(pending, data)
        elif action == "route":
            if data.get("uri"):
                uri = str(data["uri"])
                hostport, _, params = uri.partition(";")
                tls = "transport=tls" in params.lower()
                self._start(self._dial(pending, hostport.removeprefix("sip:"), tls))
            elif data.get("tag"):
                verb = pending.st.request.method.lower()
                session = self.engine.routes.pick_tagged(verb, str(data["tag"]))
                if session is None:
                    self.fail(pending, 480, "Temporarily Unavailable")
                else:
                    self.deliver(pending, session)
            else:
                raise ValueError("route without uri or tag")
        else:
            raise ValueError(f"unknown action {action!r}")

    def _proxy(self, pending: _Pending, data: dict[str, Any]) -> None:
        dests = _str_list(data.get("destination"))
        if not dests:
            raise ValueError("proxy without destination")
        eng = self.engine
        if self._null is None or self._null.closed:
            self._null = eng.attach(_NullLink(), name="request-handler")
        st = pending.st
        st.owner = self._null
        st.id = new_id()
        eng.pending_app[st.id] = st
        tokens = [new_id(), "proxy", st.id,
                  "remainInDialog" if _flag(data.get("recordRoute"), False) else "",
                  "",
                  "followRedirects" if _flag(data.get("followRedirects"), True) else "",
                  "simultaneous" if _flag(data.get("simultaneous"), False) else "serial",
                  _duration(data.get("provisionalTimeout"), "5s"),
                  _duration(data.get("finalTimeout"), "60s"),
                  *dests]
        eng.proxy.command(self._null, tokens[0], tokens, None)


def _query(pending: _Pending) -> list[tuple[str, str]]:
    """The handler's query parameters (as the reference names them)."""
    req = pending.st.request
    uri: SipURI | None
    try:
        uri = SipURI.parse(req.uri)
    except SipParseError:
        uri = None

    def user(value: str | None) -> str:
        if not value:
            return ""
        try:
            na_uri = SipURI.parse(value[value.find("<") + 1:value.rfind(">")]
                                  if "<" in value else value.split(";")[0])
            return na_uri.user or ""
        except SipParseError:
            return ""

    q = [("method", req.method), ("domain", uri.host if uri else ""),
         ("protocol", pending.src.proto), ("source_address", pending.src.host),
         ("fromUser", user(req.get("From"))), ("toUser", user(req.get("To"))),
         ("uriUser", uri.user or "" if uri else ""), ("contentType", req.content_type or ""),
         ("uri", req.uri)]
    if uri is not None:
        q.extend((k, v or "") for k, v in uri.params.items())
    return q


def _split_hostport(text: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(text)
    return host, int(port)


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    raise TypeError("expected a string or a list of strings")


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


def _duration(value: Any, default: str) -> str:
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return f"{value}s"
    return str(value)
