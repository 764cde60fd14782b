"""examples/b2bua_*.py and examples/proxy_*.py against our engine with SIPp peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from srf_e2e_util import (  # remote_srf_mode: these examples run in remote mode only
    HOST,
    SECRET,
    Sipp,
    example,
    remote_srf_mode,  # noqa: F401
    wait_for,
)

from drachtio.engine import Engine
from drachtio.srf import Srf

MkSipp = Callable[..., Sipp]


@pytest.fixture
async def connect(engine: Engine) -> AsyncIterator[Callable[[Srf], object]]:
    apps: list[Srf] = []

    async def go(app: Srf) -> Srf:
        await app.connect(HOST, engine.admin_port or 0, SECRET)
        apps.append(app)
        return app

    yield go
    for app in apps:
        await app.disconnect()


async def finish(proc: Sipp) -> str:
    res = await proc.wait()
    assert res, f"sipp {proc.scenario} failed ({res.returncode}):\n{res.output}\n{res.log}"
    return res.log


async def callee(sipp: MkSipp, scenario: str, **kw: object) -> Sipp:
    b = await sipp(scenario, **kw).start()
    await asyncio.sleep(0.2)
    return b


async def test_b2bua_simple_caller_hangs_up(connect, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas.xml")
    app = await connect(example("b2bua_simple").create_app(f"sip:bob@{HOST}:{b.port}"))
    async with sipp("uac.xml", target=target, service="b", extra=["-d", "200"]) as a:
        await finish(a)
    b_log = await finish(b)
    assert "X-Bridged-By: drachtio-python" in b_log and "Subject: uac" in b_log
    await wait_for(lambda: app.locals["calls"], 5)
    assert app.locals["calls"][0][2] == "caller"


async def test_b2bua_simple_relays_reinvite(connect, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas-reinvite.xml")
    await connect(example("b2bua_simple").create_app(f"sip:bob@{HOST}:{b.port}"))
    async with sipp("uac-delayed-ack.xml", target=target, service="b") as a:
        await finish(a)
    await finish(b)


async def test_b2bua_simple_outbound_connection_mode(sipp: MkSipp, tmp_path: Path) -> None:
    """``--listen``: the app accepts the engine's connection (here a stand-in engine that
    only checks the handshake; our engine has no request-handler dialing yet)."""
    app = example("b2bua_simple").create_app("sip:bob@127.0.0.1:5090")
    server = await app.listen(host=HOST, port=0, secret=SECRET)
    try:
        reader, writer = await asyncio.open_connection(HOST, server.port)
        data = await asyncio.wait_for(reader.read(1000), 3)
        assert b"|authenticate|cymru|" in data
        writer.close()
    finally:
        server.close(connections=True)
        await server.wait_closed()
        await app.disconnect()


async def test_b2bua_media_anchor(connect, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas.xml")
    await connect(example("b2bua_media_anchor").create_app(f"sip:bob@{HOST}:{b.port}",
                                                           "127.0.0.2"))
    async with sipp("uac.xml", target=target, service="b", extra=["-d", "200"]) as a:
        a_log = await finish(a)
    b_log = await finish(b)
    assert "c=IN IP4 127.0.0.2" in a_log and "X-Callee-Status: 200" in a_log
    assert "c=IN IP4 127.0.0.2" in b_log


async def test_b2bua_media_anchor_late_offer(connect, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas.xml")
    await connect(example("b2bua_media_anchor").create_app(f"sip:bob@{HOST}:{b.port}",
                                                           "127.0.0.2"))
    async with sipp("uac-nosdp.xml", target=target, service="b", extra=["-d", "200"]) as a:
        await finish(a)
    b_log = await finish(b)
    assert "c=IN IP4 127.0.0.2" in b_log  # the caller's answer, anchored, in B's ACK


async def test_proxy_failover(connect, sipp: MkSipp, target: str) -> None:
    busy = await callee(sipp, "uas-404.xml")
    b = await callee(sipp, "uas.xml")
    app = await connect(example("proxy_failover").create_app(
        [f"sip:busy@{HOST}:{busy.port}", f"sip:bob@{HOST}:{b.port}"]))
    async with sipp("uac-proxy.xml", target=target, service="b", extra=["-d", "200"]) as a:
        await finish(a)
    await finish(busy)
    b_log = await finish(b)
    assert "X-Proxied-By: drachtio-python" in b_log and "Record-Route:" in b_log
    await wait_for(lambda: app.locals["results"], 5)
    result = app.locals["results"][0]
    assert result.connected and [t.msgs[0].status for t in result.responses] == [404, 200]
