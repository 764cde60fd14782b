"""A small event emitter shared by Srf, Request, Response and Dialog.

Listeners may be plain functions or coroutine functions. A coroutine listener is scheduled as
a task on the running loop; its exception is logged (never silently lost). A plain listener
that raises is logged too and does not stop the other listeners: one faulty handler must not
break SIP processing for the rest of the application.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from types import CoroutineType
from typing import Any, Self, TypeVar, overload

__all__ = ["Emitter", "Listener", "spawn"]

log = logging.getLogger("drachtio.srf")

Listener = Callable[..., Any]
L = TypeVar("L", bound=Callable[..., Any])

#: Tasks started for async listeners: kept referenced until done so the loop cannot drop them.
_background: set[asyncio.Task[Any]] = set()


def _log_task_error(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("unhandled exception in async handler %r", task.get_name(), exc_info=exc)


def spawn(aw: Any, name: str | None = None,
          loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[Any]:
    """Run an awaitable as a background task whose failure is logged, never lost.

    ``loop``: the running loop when the caller has it at hand (finding it costs a
    system call on Python 3.11).
    """
    task: asyncio.Task[Any]
    if loop is not None and type(aw) is CoroutineType:
        task = loop.create_task(aw, name=name)
    else:
        task = asyncio.ensure_future(aw)
        if name is not None and isinstance(task, asyncio.Task):
            task.set_name(name)
    _background.add(task)
    task.add_done_callback(_log_task_error)
    return task


class Emitter:
    """``on`` / ``once`` / ``off`` / ``emit`` / ``listener_count``."""

    #: created on the first ``on``/``once`` (subclasses need not call ``Emitter.__init__``;
    #: most requests and responses never get a listener)
    _emitter_listeners: dict[str, list[tuple[Listener, bool]]] | None = None

    @overload
    def on(self, event: str, listener: L) -> Self: ...

    @overload
    def on(self, event: str, listener: None = None) -> Callable[[L], L]: ...

    def on(self, event: str, listener: Listener | None = None) -> Any:
        """Add a listener; usable as ``obj.on("x", fn)`` or as a decorator ``@obj.on("x")``."""
        return self._add(event, listener, False)

    @overload
    def once(self, event: str, listener: L) -> Self: ...

    @overload
    def once(self, event: str, listener: None = None) -> Callable[[L], L]: ...

    def once(self, event: str, listener: Listener | None = None) -> Any:
        """Like ``on``, but the listener is removed after its first call."""
        return self._add(event, listener, True)

    def _add(self, event: str, listener: Listener | None, once: bool) -> Any:
        if not isinstance(event, str) or not event:
            raise TypeError(f"event name must be a non-empty str, got {event!r}")
        if listener is None:

            def deco(fn: L) -> L:
                self._add(event, fn, once)
                return fn

            return deco
        if not callable(listener):
            raise TypeError(f"listener for {event!r} must be callable, got {listener!r}")
        self._listener_added(event)
        m = self._emitter_listeners
        if m is None:
            m = self._emitter_listeners = {}
        entries = m.get(event)
        if entries is None:
            m[event] = [(listener, once)]
        else:
            entries.append((listener, once))
        self._listener_attached(event, listener)
        return self

    def _listener_added(self, event: str) -> None:
        """Hook for subclasses: a listener for ``event`` is about to be added."""

    def _listener_attached(self, event: str, listener: Listener) -> None:
        """Hook for subclasses: a listener for ``event`` was added."""

    def off(self, event: str, listener: Listener | None = None) -> Any:
        """Remove one listener, or every listener of ``event`` when none is given."""
        m = self._emitter_listeners
        if m is None:
            return self
        if listener is None:
            m.pop(event, None)
            return self
        entries = m.get(event)
        if entries:
            for i, (fn, _once) in enumerate(entries):
                # ==, not is: obj.method makes a new bound method object on every access
                if fn is listener or fn == listener:
                    del entries[i]
                    break
            if not entries:
                m.pop(event, None)
        return self

    def remove_all_listeners(self, event: str | None = None) -> None:
        m = self._emitter_listeners
        if m is None:
            return
        if event is None:
            m.clear()
        else:
            m.pop(event, None)

    def listener_count(self, event: str) -> int:
        m = self._emitter_listeners
        return len(m.get(event, ())) if m else 0

    def listeners(self, event: str) -> list[Listener]:
        m = self._emitter_listeners
        return [fn for fn, _ in m.get(event, ())] if m else []

    def emit(self, event: str, *args: Any) -> bool:
        """Call every listener of ``event``; returns whether there was any."""
        m = self._emitter_listeners
        if not m:
            return False
        entries = m.get(event)
        if not entries:
            return False
        if len(entries) == 1:  # the common case
            fn, once = entries[0]
            if once:
                del m[event]
            _call(self, event, fn, args)
            return True
        snapshot = list(entries)
        if any(once for _, once in snapshot):
            entries[:] = [e for e in entries if not e[1]]
            if not entries:
                m.pop(event, None)
        for fn, _once in snapshot:
            _call(self, event, fn, args)
        return True


def _call(emitter: Emitter, event: str, fn: Listener, args: tuple[Any, ...]) -> None:
    try:
        result = fn(*args)
    except Exception:
        log.exception("listener for %r raised", event)
        return
    if result is None or isinstance(result, asyncio.Future):
        return  # a plain listener; a returned future (res.send()) runs on its own
    if isinstance(result, CoroutineType) or inspect.isawaitable(result):
        spawn(result, name=f"{type(emitter).__name__}:{event}")
