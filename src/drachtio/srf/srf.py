"""``Srf``: the application object.

Register handlers and middleware (``@srf.invite``, ``srf.use``), connect to an engine
(``await srf.connect(...)``, or ``srf.attach(channel)`` for an in-process engine), send
requests, and create dialogs. Everything reaches the engine through one ``EngineChannel``
per connection, each with its own ``Agent`` holding the pending state.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, overload

from drachtio.sip import parse_uri
from drachtio.srf.agent import Agent
from drachtio.srf.auth import check_auth_arg
from drachtio.srf.b2bua import create_b2bua as _create_b2bua
from drachtio.srf.channel import EngineChannel
from drachtio.srf.dialog import Dialog as _Dialog
from drachtio.srf.emitter import Emitter, spawn
from drachtio.srf.errors import NotConnectedError
from drachtio.srf.errors import SipError as _SipError
from drachtio.srf.message import HeadersArg, normalize_headers
from drachtio.srf.middleware import MiddlewareStack
from drachtio.srf.request import Request
from drachtio.srf.response import IncomingResponse, Response
from drachtio.srf.state import DialogDirection as _DialogDirection
from drachtio.srf.state import DialogState as _DialogState
from drachtio.srf.state import StateEmitter
from drachtio.srf.uac import PendingAck, create_uac, normalize_uri
from drachtio.srf.uas import LocalSdp, create_uas
from drachtio.wire.client import ReconnectPolicy, ServerInfo, WireClient

__all__ = ["METHODS", "Srf"]

log = logging.getLogger("drachtio.srf")

_TAG_RE = re.compile(r"^[a-zA-Z0-9\-_+@:]+$")
_METHOD_RE = re.compile(r"^[A-Za-z]+$")
MAX_TAGS = 20
MAX_TAG_LEN = 32

#: methods with a registration shortcut (``srf.invite(fn)`` == ``srf.use("invite", fn)``)
METHODS = ("invite", "register", "subscribe", "options", "info", "message", "notify",
           "refer", "publish", "bye", "prack", "update", "ack")
CDR_EVENTS = ("cdr:attempt", "cdr:start", "cdr:stop")


def _validate_tags(tags: str | Sequence[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise TypeError(f"tags must be a str or a list of str, got {tags!r}")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"only {MAX_TAGS} tags may be supplied, got {len(tags)}")
    for t in tags:
        if len(t) > MAX_TAG_LEN:
            raise ValueError(f"tag values must be {MAX_TAG_LEN} characters or less: {t!r}")
        if not _TAG_RE.match(t):
            raise ValueError(f"tag values may only contain characters a-zA-Z0-9-_+@: ({t!r})")
    return list(tags)


def _sugar(method: str) -> Callable[..., Any]:
    def register(self: Srf, *fns: Callable[..., Any]) -> Any:
        if not fns:
            raise TypeError(f"srf.{method}() needs at least one handler function")
        self.use(method, *fns)
        return fns[0]

    register.__name__ = method
    register.__doc__ = (f"Handle {method.upper()} requests: ``srf.{method}(fn)`` or "
                        f"``@srf.{method}``; ``fn(req, res[, next])``, sync or async.")
    return register


class Srf(Emitter):
    """Signaling resource framework: middleware, requests, dialogs.

    Events: ``connect(hostports, version, local_hostports)`` (after every (re)connection),
    ``reconnecting(delay, attempt)``, ``error(exc)``, ``close()``, and the CDR events
    ``cdr:attempt(source, time, msg)``, ``cdr:start(source, time, role, msg)``,
    ``cdr:stop(source, time, reason, msg)``.
    """

    #: the classes applications meet, reachable from the Srf class as in the reference
    Dialog: ClassVar[type[_Dialog]] = _Dialog
    SipError: ClassVar[type[_SipError]] = _SipError
    DialogState: ClassVar[type[_DialogState]] = _DialogState
    DialogDirection: ClassVar[type[_DialogDirection]] = _DialogDirection
    parse_uri = staticmethod(parse_uri)

    invite = _sugar("invite")
    register = _sugar("register")
    subscribe = _sugar("subscribe")
    options = _sugar("options")
    info = _sugar("info")
    message = _sugar("message")
    notify = _sugar("notify")
    refer = _sugar("refer")
    publish = _sugar("publish")
    bye = _sugar("bye")
    prack = _sugar("prack")
    update = _sugar("update")
    ack = _sugar("ack")

    def __init__(self, tags: str | Sequence[str] | None = None) -> None:
        self.tags = _validate_tags(tags)
        #: shared application state
        self.locals: dict[str, Any] = {}
        self._settings: dict[str, Any] = {}
        self._stack = MiddlewareStack()
        self._dialogs: dict[str, _Dialog] = {}
        self._agents: list[Agent] = []
        self._verbs: list[str] = []  # routes to register on every connection, in order
        self._ready_tasks: dict[int, asyncio.Task[None]] = {}

    # -- events --------------------------------------------------------------------------------
    def _listener_added(self, event: str) -> None:
        # a ``cdr:*`` listener also asks the engine for those records
        if event.startswith("cdr:"):
            if event not in CDR_EVENTS:
                raise ValueError(f"unknown CDR event {event!r}; expected one of {CDR_EVENTS}")
            self._add_verb(event)

    def emit(self, event: str, *args: Any) -> bool:
        had = super().emit(event, *args)
        if event == "error" and not had:
            # the reference crashes here (unhandled 'error' event); we log and carry on
            log.warning("srf error (no 'error' listener): %s", args[0] if args else "")
        return had

    # -- connection ---------------------------------------------------------------------------
    async def connect(
        self,
        host: str = "127.0.0.1",
        port: int = 9022,
        secret: str = "",
        tls: ssl.SSLContext | bool | None = None,
        *,
        server_hostname: str | None = None,
        reconnect: ReconnectPolicy | None = None,
        ping_interval: float | None = None,
        connect_timeout: float = 10.0,
    ) -> ServerInfo:
        """Connect to a drachtio server (or our engine) and authenticate.

        Returns once authenticated and routed; raises ``AuthenticationError`` on a wrong
        secret and ``OSError`` when the server cannot be reached. Afterwards a lost
        connection is re-established with capped exponential backoff (TLS kept).
        """
        client = WireClient(
            host, port, secret, self.tags, tls=tls, server_hostname=server_hostname,
            reconnect=reconnect, ping_interval=ping_interval, connect_timeout=connect_timeout,
        )
        client.on_event = self._wire_event
        agent = self.attach(client, server_address=host)
        try:
            info = await client.start()
        except BaseException:
            self.detach(agent)
            client.close()
            raise
        task = self._ready_tasks.get(id(agent))
        if task is not None:
            await asyncio.shield(task)
        return info

    async def start(self, contacts: Sequence[str] | str | None = None, **engine_opts: Any
                    ) -> ServerInfo:
        """Embedded mode: start a SIP engine in this process and connect to it.

        Same as ``drachtio.embedded.start(srf, contacts, ...)``; ``await srf.disconnect()``
        stops the engine again.
        """
        from drachtio.embedded import start as embedded_start

        return await embedded_start(self, contacts, **engine_opts)

    def attach(self, channel: EngineChannel, *, server_address: str = "") -> Agent:
        """Use an already-built channel (e.g. an embedded engine link).

        The channel calls ``on_ready`` once it can carry messages; routes are sent then.
        """
        if not isinstance(channel, EngineChannel):
            raise TypeError(f"channel must implement EngineChannel, got {channel!r}")
        agent = Agent(self, channel, server_address=server_address)
        self._agents.append(agent)
        return agent

    def detach(self, agent: Agent) -> None:
        """Forget a connection's agent (its channel closed for good): no more routes are
        sent on it and it is no longer a candidate for requests the application starts."""
        if agent in self._agents:
            self._agents.remove(agent)
        task = self._ready_tasks.pop(id(agent), None)
        if task is not None and not task.done():
            task.cancel()

    async def wait_ready(self, agent: Agent | None = None) -> None:
        """Wait until the routes of a (re)connection have been acknowledged."""
        for a in [agent] if agent else list(self._agents):
            task = self._ready_tasks.get(id(a))
            if task is not None:
                await asyncio.shield(task)

    def _wire_event(self, name: str, *args: Any) -> None:
        if name == "connect":
            return  # emitted by _agent_ready once routes are in place
        self.emit(name, *args)

    def _agent_ready(self, agent: Agent) -> None:
        self._ready_tasks[id(agent)] = spawn(self._send_routes(agent), name="srf-routes")

    async def _send_routes(self, agent: Agent) -> None:
        futs = [agent.route(v) for v in self._verbs]
        if futs:
            results = await asyncio.gather(*futs, return_exceptions=True)
            for verb, r in zip(self._verbs, results, strict=False):
                if isinstance(r, BaseException):
                    log.error("route %s failed: %s", verb, r)
        self.emit("connect", agent.hostports, agent.server_version, agent.local_hostports)

    def _agent_lost(self, agent: Agent, exc: BaseException | None) -> None:
        log.info("engine connection lost%s", f": {exc}" if exc else "")

    def _add_verb(self, verb: str) -> None:
        if verb in self._verbs:
            return
        self._verbs.append(verb)
        for agent in self._agents:
            if agent.ready:
                agent.route(verb)

    async def disconnect(self) -> None:
        """Close every engine connection (no reconnect)."""
        agents, self._agents = self._agents, []
        for agent in agents:
            agent.close()
        for agent in agents:
            wait = getattr(agent.channel, "wait_closed", None)
            if wait is not None:
                try:
                    await asyncio.wait_for(wait(), 2.0)
                except (TimeoutError, Exception):
                    pass
        for task in self._ready_tasks.values():
            task.cancel()
        self._ready_tasks.clear()

    close = disconnect
    #: in embedded mode ``disconnect`` also stops the engine: ``await srf.stop()`` reads better
    stop = disconnect

    @staticmethod
    def end_session(msg: Any) -> None:
        """Close the outbound connection (``srf.listen``) that ``msg`` (a request, response or
        dialog) belongs to; nothing happens for the application's own connections."""
        from drachtio.srf.listen import end_session

        end_session(msg)

    async def __aenter__(self) -> Srf:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def connected(self) -> bool:
        return any(a.ready for a in self._agents)

    @property
    def agents(self) -> list[Agent]:
        return list(self._agents)

    def _default_agent(self) -> Agent:
        for agent in self._agents:
            if agent.ready:
                return agent
        raise NotConnectedError("not connected to a drachtio server")

    @property
    def idle(self) -> bool:
        """No command, request or ACK/PRACK wait pending on any connection."""
        return all(a.idle for a in self._agents)

    def set(self, key: str, value: Any) -> None:
        self._settings[key] = value

    def get(self, key: str) -> Any:
        return self._settings.get(key)

    def unregister_for_messages(self, verb: str) -> None:
        """``remove_route``: stop receiving ``verb`` (to drain this instance).

        Note: the C++ server removes *every* route of the connection on ``remove_route``.
        """
        verb = verb.lower()
        if verb not in self._verbs:
            raise ValueError(f"no route registered for {verb!r}")
        self._verbs.remove(verb)
        for agent in self._agents:
            if agent.ready:
                agent.remove_route(verb)

    def reregister_for_messages(self, verb: str) -> None:
        verb = verb.lower()
        if verb in self._verbs:
            raise ValueError(f"duplicate route request for {verb!r}")
        self._add_verb(verb)

    # -- middleware -------------------------------------------------------------------------------
    def use(self, *args: Any) -> Srf:
        """``use(fn, ...)`` for every method, ``use("register", fn, ...)`` for one method.

        ``fn(req, res, next)`` or ``fn(req, res)``; error middleware is
        ``fn(err, req, res, next)``. Sync functions and coroutine functions both work.
        """
        if not args:
            raise TypeError("use() needs middleware functions (optionally after a method name)")
        method: str | None = None
        fns: list[Any] = list(args)
        if isinstance(fns[0], str):
            method = fns.pop(0)
            assert method is not None
            if not _METHOD_RE.match(method):
                raise ValueError(f"method must be a SIP method name, got {method!r}")
            if method.lower() == "cancel":
                raise ValueError(
                    "CANCEL is answered by the engine and never reaches middleware; use "
                    "req.on('cancel', ...) on the INVITE (or check req.canceled)"
                )
        flat: list[Any] = []
        for f in fns:
            if isinstance(f, (list, tuple)):
                flat.extend(f)
            else:
                flat.append(f)
        if not flat:
            raise TypeError("use() needs at least one middleware function")
        for f in flat:
            if not callable(f):
                raise TypeError(f"middleware must be callable, got {f!r}")
        for f in flat:
            self._stack.add(method, f)
        if method is not None:
            self._add_verb(method.lower())
        return self

    def _handle_request(self, req: Request, res: Response) -> None:
        req.srf = self
        res.srf = self
        # dialogs come first: a request of a known dialog goes to it and never reaches
        # the middleware
        dlg = self._dialogs.get(req.dialog_id) if req.dialog_id else None
        if dlg is not None:
            try:
                dlg.handle(req, res)
            except Exception as exc:
                self._final(req, res, exc)  # as any failing layer: answered 500
            return
        try:
            self._stack.run(req, res, self._final)
        except Exception:
            log.exception("middleware dispatch failed for %s", req.method)

    def _final(self, req: Request, res: Response, err: BaseException | None) -> None:
        if err is not None:
            status = getattr(err, "status", None)
            if isinstance(err, _SipError):
                log.info("handler for %s failed with %s", req.method, err)
            else:
                log.error("unhandled error in middleware for %s %s", req.method, req.uri,
                          exc_info=err)
            if res.finished:
                return
            if not (isinstance(status, int) and 300 <= status <= 699):
                status = 500
            reason = err.reason if isinstance(err, _SipError) else None
            res.send(status, reason)
            return
        if res.finished:
            return
        method = req.method
        if method == "ACK":
            return
        if method == "PRACK":
            res.send(200)
        elif method in ("UPDATE", "BYE") or req._to_tagged():
            res.send(481)
        else:
            res.send(404)

    # -- requests -----------------------------------------------------------------------------
    def request(
        self,
        uri: str | None = None,
        method: str = "OPTIONS",
        headers: HeadersArg = None,
        body: str | bytes | None = None,
        auth: Any = None,
        proxy: str | None = None,
        *,
        dialog_id: str | None = None,
    ) -> asyncio.Future[Request]:
        """Send a request outside a dialog (or inside one with ``dialog_id``).

        Resolves with the request as sent; then ``await req.response()`` for the final
        response, or ``req.on("response", fn(res, ack))`` for every response (for an
        INVITE the application must ``ack()`` a 2xx).
        """
        if not isinstance(method, str) or not _METHOD_RE.match(method):
            raise ValueError(f"method must be a SIP method name, got {method!r}")
        if uri is None:
            if not dialog_id:
                raise TypeError("request() needs a uri (or a dialog_id)")
            uri = "sip:placeholder"
        if not isinstance(uri, str) or not uri.strip():
            raise TypeError(f"uri must be a non-empty str, got {uri!r}")
        if proxy is not None and not isinstance(proxy, str):
            raise TypeError(f"proxy must be a str or None, got {proxy!r}")
        if body is not None and not isinstance(body, (str, bytes)):
            raise TypeError(f"body must be a str, bytes or None, got {type(body).__name__}")
        if dialog_id is not None and not isinstance(dialog_id, str):
            raise TypeError(f"dialog_id must be a str, got {dialog_id!r}")
        check_auth_arg(auth)
        hdrs = normalize_headers(headers)
        if proxy:
            proxy = normalize_uri(proxy)
        if uri != "sip:placeholder":
            uri = normalize_uri(uri)  # adds "sip:" to a bare host[:port] or user@host
        agent = self._default_agent()
        return agent.send_request(method.upper(), uri, hdrs, body,
                                  dialog_id=dialog_id or "", proxy=proxy, auth=auth)

    async def create_uas(
        self,
        req: Request,
        res: Response,
        *,
        local_sdp: LocalSdp = None,
        body: LocalSdp = None,
        headers: HeadersArg = None,
        dialog_state_emitter: StateEmitter | None = None,
    ) -> _Dialog:
        """Answer an INVITE (200) or SUBSCRIBE (202); returns the UAS Dialog."""
        return await create_uas(self, req, res, local_sdp=local_sdp, body=body,
                                headers=headers, dialog_state_emitter=dialog_state_emitter)

    @overload
    async def create_uac(
        self,
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
        no_ack: Literal[False] = False,
        on_request: Callable[[Request], Any] | None = None,
        on_provisional: Callable[[IncomingResponse], Any] | None = None,
        dialog_state_emitter: StateEmitter | None = None,
    ) -> _Dialog: ...

    @overload
    async def create_uac(
        self,
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
    ) -> _Dialog | PendingAck: ...

    async def create_uac(
        self,
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
    ) -> _Dialog | PendingAck:
        """Send an INVITE (or SUBSCRIBE); returns the UAC Dialog.

        Raises ``SipError`` (with ``.res``) for a failure response. For a 3pcc INVITE (no
        ``local_sdp``) with ``no_ack=True`` returns a ``PendingAck`` instead.
        """
        out: _Dialog | PendingAck = await create_uac(
            self, uri, local_sdp=local_sdp, headers=headers, calling_number=calling_number,
            calling_name=calling_name, called_number=called_number, method=method, auth=auth,
            proxy=proxy, follow_redirects=follow_redirects,
            keep_uri_on_redirect=keep_uri_on_redirect, no_ack=no_ack, on_request=on_request,
            on_provisional=on_provisional, dialog_state_emitter=dialog_state_emitter,
        )
        return out

    # -- dialogs ----------------------------------------------------------------------------------
    def find_dialog_by_id(self, dialog_id: str) -> _Dialog | None:
        return self._dialogs.get(dialog_id)

    def find_dialog_by_call_id_and_from_tag(self, call_id: str, tag: str) -> _Dialog | None:
        """Relies on the engine's dialog id format ``<Call-ID>;from-tag=<tag>``."""
        return self._dialogs.get(f"{call_id};from-tag={tag}")

    def add_dialog(self, dialog: _Dialog) -> None:
        self._dialogs[dialog.id] = dialog

    def remove_dialog(self, dialog: _Dialog) -> None:
        if self._dialogs.get(dialog.id) is dialog:
            del self._dialogs[dialog.id]

    @property
    def dialogs(self) -> dict[str, _Dialog]:
        """The live dialogs by id (a copy)."""
        return dict(self._dialogs)

    # -- B2BUA, proxy, outbound connections (drachtio.srf.b2bua / .proxy / .listen) ----------
    async def create_b2bua(self, req: Request, res: Response, uri: str | None = None,
                           **opts: Any) -> Any:
        """Bridge the incoming INVITE to ``uri``: ``uas, uac = await srf.create_b2bua(...)``.

        Options: see ``drachtio.srf.b2bua.create_b2bua``.
        """
        return await _create_b2bua(self, req, res, uri, **opts)

    def proxy_request(self, req: Request, destinations: str | Sequence[str] | None = None,
                      **opts: Any) -> Any:
        """Proxy ``req``; a future of the ``ProxyResult`` (``drachtio.srf.proxy``)."""
        from drachtio.srf.proxy import proxy_request

        return proxy_request(self, req, destinations, **opts)

    async def listen(self, host: str = "0.0.0.0", port: int | None = None, secret: str = "",
                     **opts: Any) -> Any:
        """Accept outbound connections from engines (``drachtio.srf.listen``)."""
        from drachtio.srf.listen import listen

        return await listen(self, host, port, secret, **opts)
