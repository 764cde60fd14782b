"""EmbeddedChannel: ControlMessage objects in and out of an in-process engine, in order,
asynchronously, without recursion; lifecycle of the channel and of an owned engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from drachtio import Srf, embedded
from drachtio.embedded import EmbeddedChannel
from drachtio.engine import Engine, EngineConfig
from drachtio.srf import EngineChannel
from drachtio.wire.codec import ControlMessage


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    eng = Engine(EngineConfig(contacts=["sip:127.0.0.1:0;transport=udp"], admin_port=None))
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()


async def test_is_an_engine_channel(engine: Engine) -> None:
    assert isinstance(EmbeddedChannel(engine), EngineChannel)


def test_needs_an_engine() -> None:
    with pytest.raises(TypeError, match="Engine"):
        EmbeddedChannel("not an engine")  # type: ignore[arg-type]


async def test_open_reports_ready_with_hostports(engine: Engine) -> None:
    ch = EmbeddedChannel(engine)
    ready: list[tuple[str, str, str]] = []
    ch.on_ready = lambda *a: ready.append(a)
    with pytest.raises(ConnectionError):
        ch.send(ControlMessage(["1", "ping"]))  # not open yet
    info = ch.open()
    assert ch.ready
    assert ready == [(info.hostports, info.version, info.local_hostports)]
    assert info.hostports == ",".join(engine.sip_hostports)
    assert info.version.startswith("v0.9")
    ch.close()


async def test_messages_are_passed_as_objects_in_order_and_later(engine: Engine) -> None:
    ch = EmbeddedChannel(engine)
    got: list[ControlMessage] = []
    ch.on_message = got.append
    ch.open()
    sent = [ControlMessage([f"id{i}", "ping"]) for i in range(50)]
    for m in sent:
        ch.send(m)
    assert got == []  # never delivered on the sender's stack
    for _ in range(5):
        await asyncio.sleep(0)
    assert [m.tokens[2] for m in got] == [f"id{i}" for i in range(50)]
    assert all(m.tokens[1] == "response" and m.tokens[3] == "OK" for m in got)
    assert ch.messages_out == 50 and ch.messages_in == 50
    ch.close()


async def test_ping_pong_does_not_recurse(engine: Engine) -> None:
    """An app that answers every engine message with a new command: each round trip goes
    through the loop, so 5,000 of them use no stack depth."""
    ch = EmbeddedChannel(engine)
    rounds = 0
    done = asyncio.get_running_loop().create_future()

    def on_message(msg: ControlMessage) -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 5000:
            done.set_result(None)
        else:
            ch.send(ControlMessage([f"p{rounds}", "ping"]))

    ch.on_message = on_message
    ch.open()
    ch.send(ControlMessage(["p0", "ping"]))
    await asyncio.wait_for(done, 20)
    ch.close()


async def test_close_reports_lost_and_detaches(engine: Engine) -> None:
    ch = EmbeddedChannel(engine)
    lost: list[BaseException | None] = []
    ch.on_lost = lost.append
    ch.open()
    session = ch.session
    assert session is not None and session in engine.sessions
    ch.close()
    ch.close()  # idempotent
    assert lost == [None]
    assert not ch.ready and session.closed and session not in engine.sessions
    with pytest.raises(ConnectionError):
        ch.send(ControlMessage(["x", "ping"]))
    with pytest.raises(ConnectionError):
        ch.open()


async def test_engine_stopping_drops_the_app(engine: Engine) -> None:
    ch = EmbeddedChannel(engine)
    lost: list[BaseException | None] = []
    ch.on_lost = lost.append
    ch.open()
    await engine.stop()
    await asyncio.sleep(0)
    assert lost == [None] and not ch.ready


async def test_start_stop_owned_engine() -> None:
    srf = Srf(tags=["embedded-test"])
    info = await embedded.start(srf, contacts="sip:127.0.0.1:0;transport=udp", t1=0.2)
    eng = embedded.engine_of(srf)
    assert eng is not None and eng.config.admin_port is None and eng.config.t1 == 0.2
    assert srf.connected and info.hostports.startswith("udp/127.0.0.1:")
    assert eng.sessions and next(iter(eng.sessions)).tags == ["embedded-test"]
    await embedded.stop(srf)
    assert not srf.connected and embedded.engine_of(srf) is None
    assert eng.transports is not None and not eng.sessions
    assert not eng._started  # the engine went with the app


async def test_attach_to_a_running_engine_leaves_it_running(engine: Engine) -> None:
    a, b = Srf(), Srf()
    await embedded.start(a, engine=engine)
    await embedded.start(b, engine=engine)
    assert len(engine.sessions) == 2
    await a.disconnect()
    assert len(engine.sessions) == 1 and engine._started
    await b.disconnect()


async def test_start_argument_errors(engine: Engine) -> None:
    with pytest.raises(TypeError, match="Srf"):
        await embedded.start("srf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="contacts"):
        await embedded.start(Srf(), contacts=[])
    with pytest.raises(TypeError, match="not both"):
        await embedded.start(Srf(), engine=engine, t1=0.1)
    with pytest.raises(TypeError):
        await embedded.start(Srf(), contacts=["sip:127.0.0.1:0"], no_such_option=1)


async def test_srf_start_is_embedded_start() -> None:
    srf = Srf()
    seen: list[tuple[str, ...]] = []
    srf.on("connect", lambda *a: seen.append(a))
    info = await srf.start(contacts=["sip:127.0.0.1:0;transport=udp,tcp"])
    try:
        eng = embedded.engine_of(srf)
        assert eng is not None and set(info.hostports.split(",")) == set(eng.sip_hostports)
        assert seen and seen[0][0] == info.hostports  # the usual 'connect' event
    finally:
        await srf.disconnect()
    assert eng is not None and eng.transports is not None and not eng._started


async def test_srf_stop_stops_the_owned_engine() -> None:
    srf = Srf()
    await srf.start(contacts="sip:127.0.0.1:0;transport=udp")
    eng = embedded.engine_of(srf)
    assert eng is not None and eng._started
    await srf.stop()
    assert not srf.connected and not srf.agents and not eng._started
