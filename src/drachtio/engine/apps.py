"""Connected applications: the ``AppLink`` seam, sessions, and method routing.

An application reaches the engine through an ``AppLink`` (engine -> app ``send``) and hands
its own messages to ``AppSession.receive``. The TCP control server wraps each connection in
a link that frames messages; embedded mode passes ``ControlMessage`` objects in-process. Both
go through exactly this module, so the two modes share every line of protocol handling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from drachtio.wire.codec import ControlMessage

__all__ = ["AppLink", "AppSession", "RouteTable"]

log = logging.getLogger("drachtio.engine")


@runtime_checkable
class AppLink(Protocol):
    """How the engine reaches one application."""

    def send(self, msg: ControlMessage) -> None: ...

    def close(self) -> None: ...


class AppSession:
    """One connected application (a TCP connection or an in-process link)."""

    __slots__ = (
        "_on_close",
        "_on_message",
        "authenticated",
        "closed",
        "link",
        "name",
        "on_authenticated",
        "routes",
        "tags",
    )

    def __init__(
        self,
        link: AppLink,
        on_message: Callable[[AppSession, ControlMessage], None],
        on_close: Callable[[AppSession], None],
        name: str = "",
    ) -> None:
        self.link = link
        self._on_message = on_message
        self._on_close = on_close
        self.authenticated = False
        self.closed = False
        self.tags: list[str] = []
        self.routes: set[str] = set()
        self.name = name or f"app@{id(self):x}"
        #: called once ``authenticate`` succeeded and was answered (outbound connections
        #: send their pending request then)
        self.on_authenticated: Callable[[AppSession], None] | None = None

    # app -> engine ---------------------------------------------------------------------
    def receive(self, msg: ControlMessage) -> None:
        """Hand one app -> engine message to the engine."""
        if self.closed:
            return
        self._on_message(self, msg)

    def close(self) -> None:
        """The app went away (or must be dropped): forget its routes; its calls see 481."""
        if self.closed:
            return
        self.closed = True
        try:
            self._on_close(self)
        finally:
            try:
                self.link.close()
            except Exception:  # the link is going away anyway
                log.debug("error closing app link", exc_info=True)

    # engine -> app ---------------------------------------------------------------------
    def send(self, msg: ControlMessage) -> None:
        if self.closed:
            return
        try:
            self.link.send(msg)
        except Exception:
            log.exception("sending to %s failed; dropping the connection", self.name)
            self.close()

    def __repr__(self) -> str:
        return f"<AppSession {self.name}{' closed' if self.closed else ''}>"


class RouteTable:
    """Which sessions handle which verb; round robin per verb; dead sessions skipped lazily."""

    __slots__ = ("_next", "_next_tagged", "_routes")

    def __init__(self) -> None:
        self._routes: dict[str, list[AppSession]] = {}
        self._next: dict[str, int] = {}
        self._next_tagged: dict[tuple[str, str], int] = {}

    def add(self, verb: str, session: AppSession) -> None:
        verb = verb.lower()
        lst = self._routes.setdefault(verb, [])
        if session not in lst:
            lst.append(session)
        session.routes.add(verb)

    def remove(self, verb: str, session: AppSession) -> None:
        verb = verb.lower()
        lst = self._routes.get(verb)
        if lst and session in lst:
            lst.remove(session)
            if not lst:
                del self._routes[verb]
                self._next.pop(verb, None)
        session.routes.discard(verb)

    def remove_session(self, session: AppSession) -> None:
        for verb in list(session.routes):
            self.remove(verb, session)

    def has(self, verb: str) -> bool:
        return bool(self._routes.get(verb))

    def pick(self, verb: str) -> AppSession | None:
        """The next live session for ``verb`` (lower-case), or None."""
        lst = self._routes.get(verb)
        if not lst:
            return None
        n = len(lst)
        i = self._next.get(verb, 0)
        for _ in range(n):
            if i >= n:
                i = 0
            s = lst[i]
            i += 1
            if not s.closed:
                self._next[verb] = i
                return s
        return None

    def pick_tagged(self, verb: str, tag: str) -> AppSession | None:
        """The next live session for ``verb`` that authenticated with ``tag`` (round robin
        among those; ``{"action":"route","data":{"tag":...}}`` of an HTTP handler)."""
        cands = [s for s in self._routes.get(verb, ()) if not s.closed and tag in s.tags]
        if not cands:
            return None
        key = (verb, tag)
        i = self._next_tagged.get(key, 0) % len(cands)
        self._next_tagged[key] = i + 1
        return cands[i]

    def sessions(self, verb: str) -> list[AppSession]:
        return list(self._routes.get(verb, ()))
