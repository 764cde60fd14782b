"""Middleware ordering, method scoping, error middleware, default final handling."""

from __future__ import annotations

import asyncio

import pytest
from srf_fake_engine import FakeEngine, invite_text

from drachtio import SipError, Srf


async def test_connect_sends_routes_once_per_method(srf: Srf, engine: FakeEngine) -> None:
    srf.invite(lambda req, res: None)
    srf.use("invite", lambda req, res, next: next())
    srf.use("register", lambda req, res, next: next())
    srf.use(lambda req, res, next: next())  # global: no route
    info = await srf.connect(port=engine.port, secret="cymru")
    assert info.hostports.startswith("udp/127.0.0.1:5060")
    assert engine.conn.routes == ["invite", "register"]
    # a method added after connecting is routed at once
    srf.options(lambda req, res: res.send(200))
    await engine.wait_until(lambda: "options" in engine.conn.routes)
    await srf.disconnect()


async def test_tags_sent_in_authenticate(engine: FakeEngine) -> None:
    srf = Srf(["a", "b-1"])
    await srf.connect(port=engine.port, secret="cymru")
    assert engine.conn.tags == ["a", "b-1"]
    await srf.disconnect()


async def test_middleware_order_and_method_scope(app: Srf, engine: FakeEngine) -> None:
    order: list[str] = []

    def g1(req, res, next):
        order.append("g1")
        next()

    async def reg_only(req, res, next):
        order.append("register-mw")
        await next()

    async def g2(req, res, next):
        order.append("g2")
        req.locals["seen"] = True
        await next()

    app.use(g1)
    app.use("register", reg_only)
    app.use(g2)

    @app.invite
    async def on_invite(req, res):
        order.append(f"invite:{req.locals.get('seen')}")
        await res.send(486)

    start = len(engine.sent)
    engine.deliver_request(invite_text())
    sent = await engine.wait_response(486, start)
    assert order == ["g1", "g2", "invite:True"]
    assert sent.status == 486
    assert "486 Busy Here" in sent.text.split("\r\n")[0]


async def test_error_in_sync_middleware_skips_to_error_handler(app: Srf,
                                                               engine: FakeEngine) -> None:
    seen: list[str] = []

    def boom(req, res, next):
        raise RuntimeError("kaboom")

    def skipped(req, res, next):
        seen.append("skipped")
        next()

    def on_error(err, req, res, next):
        seen.append(f"error:{err}")
        res.send(503)

    app.use(boom)
    app.use(skipped)
    app.use(on_error)
    app.invite(lambda req, res: seen.append("handler"))
    start = len(engine.sent)
    engine.deliver_request(invite_text())
    await engine.wait_response(503, start)
    assert seen == ["error:kaboom"]


async def test_async_error_passed_via_next_and_default_status(app: Srf,
                                                              engine: FakeEngine) -> None:
    async def fails(req, res, next):
        await asyncio.sleep(0)
        raise SipError(480)

    app.use("invite", fails)
    start = len(engine.sent)
    engine.deliver_request(invite_text())
    sent = await engine.wait_response(None, start)
    assert sent.status == 480  # the default final handler uses err.status


async def test_next_with_error_and_plain_exception_gives_500(app: Srf,
                                                             engine: FakeEngine) -> None:
    app.use(lambda req, res, next: next(ValueError("bad")))
    start = len(engine.sent)
    engine.deliver_request(invite_text())
    sent = await engine.wait_response(None, start)
    assert sent.status == 500


async def test_unhandled_method_gets_404_and_prack_200(app: Srf, engine: FakeEngine) -> None:
    app.use(lambda req, res, next: next())
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="MESSAGE"))
    assert (await engine.wait_response(None, start)).status == 404
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="PRACK", to_tag="x"))
    assert (await engine.wait_response(None, start)).status == 200
    # an ACK is never answered
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="ACK", to_tag="x"))
    engine.deliver_request(invite_text(method="OPTIONS"))
    s = await engine.wait_response(None, start)
    assert s.status == 404 and "OPTIONS" in s.text


async def test_stack_stops_after_final_response(app: Srf, engine: FakeEngine) -> None:
    later: list[str] = []

    def answer(req, res, next):
        res.send(403)
        next()

    app.use(answer)
    app.invite(lambda req, res: later.append("reached"))
    start = len(engine.sent)
    engine.deliver_request(invite_text())
    await engine.wait_response(403, start)
    await asyncio.sleep(0.05)
    assert later == []
    assert len([s for s in engine.sent[start:] if s.kind == "response"]) == 1


async def test_await_next_waits_for_downstream(app: Srf, engine: FakeEngine) -> None:
    marks: list[str] = []

    async def outer(req, res, next):
        marks.append("before")
        await next()
        marks.append("after")

    async def inner(req, res):
        await asyncio.sleep(0.01)
        marks.append("inner")
        res.send(200)

    app.use(outer)
    app.options(inner)
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="OPTIONS"))
    await engine.wait_response(200, start)
    await engine.wait_until(lambda: len(marks) == 3)
    assert marks == ["before", "inner", "after"]


def test_use_argument_validation() -> None:
    srf = Srf()
    with pytest.raises(TypeError):
        srf.use()
    with pytest.raises(TypeError):
        srf.use("invite")
    with pytest.raises(TypeError):
        srf.use(42)
    with pytest.raises(TypeError, match="positional"):
        srf.use(lambda a: None)
    with pytest.raises(TypeError, match="positional"):
        srf.use(lambda a, b, c, d, e: None)
    with pytest.raises(ValueError):
        srf.use("in vite", lambda req, res: None)
    with pytest.raises(ValueError, match="CANCEL"):
        srf.use("cancel", lambda req, res: None)
    assert not hasattr(srf, "cancel")
    with pytest.raises(TypeError):
        srf.invite()
    # decorator form returns the function
    def h(req, res):
        return None

    assert srf.invite(h) is h


def test_tag_validation() -> None:
    assert Srf("one").tags == ["one"]
    Srf(["x"] * 20)
    with pytest.raises(ValueError):
        Srf(["x"] * 21)
    Srf(["a" * 32])
    with pytest.raises(ValueError):
        Srf(["a" * 33])
    with pytest.raises(ValueError):
        Srf(["a,b"])
    with pytest.raises(ValueError):
        Srf(["a b"])
    Srf(["a-_+@:Z9"])
    with pytest.raises(TypeError):
        Srf([1])  # type: ignore[list-item]


def test_sip_error() -> None:
    e = SipError(486)
    assert e.status == 486 and e.reason == "Busy Here" and e.res is None
    assert "486" in str(e)
    assert SipError(480, "Gone fishing").reason == "Gone fishing"
    with pytest.raises(TypeError):
        SipError("486")  # type: ignore[arg-type]
