"""The middleware stack: ``srf.use(...)`` layers run in order for each incoming request.

A layer is ``fn(req, res, next)`` (or ``fn(req, res)`` when it never passes on), sync or
async. ``next()`` runs the following layers; ``next(err)`` skips to the next error layer,
``fn(err, req, res, next)`` (four positional parameters). An exception raised by a layer
(or by its coroutine) is the same as ``next(err)``. When the stack runs out the final
handler answers whatever nobody answered (see ``Srf._final``).

``next()`` returns an awaitable, so ``await next()`` waits for the downstream layers'
coroutines; a plain ``next()`` call from a sync function is fine too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drachtio.srf.emitter import spawn

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf.request import Request
    from drachtio.srf.response import Response

__all__ = ["Layer", "MiddlewareStack", "arity"]

log = logging.getLogger("drachtio.srf")

FinalHandler = Callable[["Request", "Response", "BaseException | None"], None]


class _Done:
    """An already-finished awaitable (``await next()`` when nothing async ran)."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


DONE = _Done()


def arity(fn: Callable[..., Any]) -> int:
    """Number of positional parameters ``fn`` accepts (``*args`` counts as many as needed)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 3
    n = 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
        elif p.kind is p.VAR_POSITIONAL:
            return max(n, 3)
    return n


@dataclass(frozen=True, slots=True)
class Layer:
    method: str | None  # upper-case SIP method, None for every method
    fn: Callable[..., Any]
    n_args: int

    @property
    def is_error(self) -> bool:
        return self.n_args == 4


class MiddlewareStack:
    def __init__(self) -> None:
        self.layers: list[Layer] = []
        #: per method: the layers that apply to it, in order (built once, on first use)
        self._chains: dict[str, tuple[Layer, ...]] = {}

    def add(self, method: str | None, fn: Callable[..., Any]) -> Layer:
        if not callable(fn):
            raise TypeError(f"middleware must be callable, got {fn!r}")
        n = arity(fn)
        if n not in (2, 3, 4):
            raise TypeError(
                f"middleware {getattr(fn, '__name__', fn)!r} must take (req, res), "
                f"(req, res, next) or (err, req, res, next); it takes {n} positional arguments"
            )
        layer = Layer(method.upper() if method else None, fn, n)
        self.layers.append(layer)
        self._chains.clear()
        return layer

    def chain(self, method: str) -> tuple[Layer, ...]:
        """The layers that run for ``method`` (global ones and that method's), in order."""
        chain = self._chains.get(method)
        if chain is None:
            chain = tuple(la for la in self.layers if la.method is None or la.method == method)
            if len(self._chains) < 256:  # any method token can arrive; keep this bounded
                self._chains[method] = chain
        return chain

    def run(self, req: Request, res: Response, final: FinalHandler) -> Any:
        return _Run(self.chain(req.method), req, res, final).step(None)


class _Next:
    __slots__ = ("called", "run")

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.called = False

    def __call__(self, err: BaseException | None = None) -> Any:
        if self.called:
            log.warning("next() called more than once by the same middleware; ignored")
            return DONE
        if err is not None and not isinstance(err, BaseException):
            err = RuntimeError(str(err))
        self.called = True
        return self.run.step(err)


class _Run:
    __slots__ = ("final", "index", "layers", "req", "res")

    def __init__(self, layers: tuple[Layer, ...], req: Request, res: Response,
                 final: FinalHandler) -> None:
        self.layers = layers  # already filtered by method (MiddlewareStack.chain)
        self.req = req
        self.res = res
        self.final = final
        self.index = 0

    def step(self, err: BaseException | None) -> Any:
        layers = self.layers
        while True:
            if self.index >= len(layers) or self.res.finished:
                self.final(self.req, self.res, err)
                return DONE
            layer = layers[self.index]
            self.index += 1
            if (layer.n_args == 4) != (err is not None):
                continue
            nxt = _Next(self)
            try:
                if err is not None:
                    out = layer.fn(err, self.req, self.res, nxt)
                elif layer.n_args == 2:
                    out = layer.fn(self.req, self.res)
                else:
                    out = layer.fn(self.req, self.res, nxt)
            except Exception as exc:
                if nxt.called:
                    log.exception("middleware raised after calling next()")
                    return DONE
                nxt.called = True
                err = exc
                continue
            if out is None or isinstance(out, (_Done, asyncio.Future)):
                # plain function (a returned next() result or res.send() future needs no
                # task: the rest of the chain already ran or was scheduled)
                return out if isinstance(out, asyncio.Task) else DONE
            if inspect.isawaitable(out):
                agent = self.req.agent
                return spawn(self._await(out, nxt), name=f"middleware:{self.req.method}",
                             loop=agent.loop if agent is not None else None)
            return DONE

    async def _await(self, aw: Any, nxt: _Next) -> None:
        try:
            await aw
        except Exception as exc:
            if nxt.called:
                log.error("async middleware raised after calling next()", exc_info=exc)
                return
            nxt.called = True
            out = self.step(exc)
            if not isinstance(out, _Done):
                await out
