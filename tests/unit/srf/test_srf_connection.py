"""Connection lifecycle through Srf: wrong secret, reconnect (routes re-sent), CDRs, idle."""

from __future__ import annotations

import asyncio

import pytest
from srf_fake_engine import FakeEngine, invite_text

from drachtio.srf import AuthenticationError, NotConnectedError, ReconnectPolicy, Srf

FAST = ReconnectPolicy(initial=0.05, factor=1.5, max_delay=0.2)


async def test_wrong_secret_raises(engine: FakeEngine) -> None:
    srf = Srf()
    with pytest.raises(AuthenticationError, match="incorrect secret"):
        await srf.connect(port=engine.port, secret="nope")
    assert not srf.connected and srf.agents == []


async def test_refused_connection_raises() -> None:
    eng = FakeEngine()
    await eng.start()
    port = eng.port
    await eng.stop()
    srf = Srf()
    with pytest.raises(OSError):
        await srf.connect(port=port, secret="cymru")


async def test_reconnect_resends_routes_and_serves_again(engine: FakeEngine) -> None:
    srf = Srf()
    events: list[str] = []
    srf.on("connect", lambda hp, ver, local: events.append("connect"))
    srf.on("close", lambda: events.append("close"))
    srf.on("reconnecting", lambda delay, attempt: events.append(f"reconnecting:{attempt}"))
    srf.on("cdr:stop", lambda *a: None)
    srf.options(lambda req, res: res.send(200, headers={"X-Gen": "1"}))
    await srf.connect(port=engine.port, secret="cymru", reconnect=FAST)
    assert engine.conn.routes == ["cdr:stop", "options"]

    # a pending request fails when the connection goes
    req = await srf.request("sip:x@127.0.0.1:5080", method="OPTIONS")
    port = engine.port
    await engine.stop()
    with pytest.raises(NotConnectedError):
        await asyncio.wait_for(req.response(), 3)
    await asyncio.sleep(0.3)  # a few failed attempts while the server is down
    assert not srf.connected
    with pytest.raises(NotConnectedError):
        await srf.request("sip:x@127.0.0.1:5080", method="OPTIONS")

    await engine.start(port)
    conn = await asyncio.wait_for(engine.connected(routes=("cdr:stop", "options")), 5)
    assert conn.routes == ["cdr:stop", "options"]
    await engine.wait_until(lambda: events.count("connect") == 2)
    assert events[0] == "connect" and "close" in events
    assert any(e.startswith("reconnecting:") for e in events)
    assert srf.connected

    start = len(engine.sent)
    engine.deliver_request(invite_text(method="OPTIONS"))
    assert (await engine.wait_response(200, start)).header("X-Gen") == "1"
    await srf.disconnect()


async def test_disconnect_stops_reconnecting(engine: FakeEngine) -> None:
    srf = Srf()
    await srf.connect(port=engine.port, secret="cymru", reconnect=FAST)
    await srf.disconnect()
    await asyncio.sleep(0.3)
    assert engine.conns == [] and not srf.connected


async def test_cdr_events(app: Srf, engine: FakeEngine) -> None:
    got: list[tuple] = []
    app.on("cdr:attempt", lambda source, time, msg: got.append(("attempt", source, msg.method)))
    app.on("cdr:stop", lambda source, time, reason, msg: got.append(("stop", reason,
                                                                     msg.call_id)))
    # a second listener for the same CDR is fine (the reference throws)
    app.on("cdr:stop", lambda *a: got.append(("stop2",)))
    await engine.wait_until(lambda: {"cdr:attempt", "cdr:stop"} <= set(engine.conn.routes))
    assert engine.conn.routes.count("cdr:stop") == 1
    engine.deliver_cdr("cdr:attempt", invite_text(call_id="cdr-1"))
    engine.deliver_cdr("cdr:stop", invite_text(call_id="cdr-1", method="BYE"), "normal-release")
    await engine.wait_until(lambda: len(got) == 3)
    assert got[0] == ("attempt", "network", "INVITE")
    assert got[1] == ("stop", "normal-release", "cdr-1") and got[2] == ("stop2",)
    with pytest.raises(ValueError):
        app.on("cdr:end", lambda *a: None)


async def test_idle_and_locals(app: Srf, engine: FakeEngine) -> None:
    assert app.idle
    app.locals["x"] = 1
    engine.silent = True
    fut = app.request("sip:x@127.0.0.1:5080", method="OPTIONS")
    await asyncio.sleep(0.02)
    assert not app.idle
    engine.silent = False
    fut.cancel()


async def test_unregister_and_reregister(app: Srf, engine: FakeEngine) -> None:
    app.invite(lambda req, res: res.send(486))
    await engine.wait_until(lambda: "invite" in engine.conn.routes)
    app.unregister_for_messages("invite")
    await engine.wait_until(lambda: any(c.tokens[1] == "remove_route"
                                        for _, c in engine.commands))
    with pytest.raises(ValueError):
        app.unregister_for_messages("invite")
    app.reregister_for_messages("invite")
    await engine.wait_until(lambda: "invite" in engine.conn.routes)
    with pytest.raises(ValueError):
        app.reregister_for_messages("invite")


async def test_error_event_without_listener_does_not_crash(srf: Srf) -> None:
    srf.emit("error", RuntimeError("x"))  # the reference would throw here


async def test_async_listener_exception_is_logged(srf: Srf, caplog) -> None:
    async def bad(*a):
        raise RuntimeError("listener failed")

    srf.on("custom", bad)
    srf.emit("custom")
    await asyncio.sleep(0.01)
    assert "listener failed" in caplog.text
