"""Load shedding: past its capacity the engine refuses new INVITEs (503 + Retry-After)
while calls it accepted keep working."""

from __future__ import annotations

import asyncio
import time

from enginekit import SDP, invite
from test_engine_uas import answer

from drachtio.engine.overload import LoadMonitor
from drachtio.sip import Request, Response


def _blocker(loop: asyncio.AbstractEventLoop, block: float, every: float,
             until: float) -> list[bool]:
    """Hog the loop: ``block`` seconds of busy callback every ``every`` seconds, until
    ``until`` (monotonic) or until the returned flag is set (``flag[0] = True``)."""
    stop = [False]

    def hog() -> None:
        time.sleep(block)
        if time.monotonic() < until and not stop[0]:
            loop.call_later(every, hog)
    loop.call_soon(hog)
    return stop


async def test_monitor_sheds_on_sustained_lag_only() -> None:
    loop = asyncio.get_running_loop()
    mon = LoadMonitor(loop, 0.04, interval=0.01)
    try:
        # one stall (a GC pause): a single late tick does not start shedding
        mon.traffic()
        loop.call_soon(time.sleep, 0.08)
        for _ in range(10):
            await asyncio.sleep(0.01)
            mon.traffic()
        assert not mon.shedding and mon.transitions == 0
        # sustained lag: shedding, then over once the loop is responsive again
        _blocker(loop, 0.06, 0.001, time.monotonic() + 0.4)
        deadline = time.monotonic() + 2
        while not mon.shedding and time.monotonic() < deadline:
            mon.traffic()
            await asyncio.sleep(0.005)
        assert mon.shedding and mon.delay > 0.04
        await asyncio.sleep(0.45)
        deadline = time.monotonic() + 2
        while mon.shedding and time.monotonic() < deadline:
            mon.traffic()
            await asyncio.sleep(0.005)
        assert not mon.shedding and mon.transitions == 1
        # idle: the tick stops re-arming itself
        await asyncio.sleep(0.05)
        assert mon._handle is None
    finally:
        mon.stop()


async def test_overloaded_engine_refuses_new_calls_keeps_old_ones(make_engine, make_app, peer):
    engine = await make_engine(overload_delay=0.05, overload_retry_after=7)
    assert engine.monitor is not None and engine.transports is not None
    app = await make_app(engine, "invite", "bye")
    port = engine.sip_port()
    # an established call
    peer.send(invite(peer.port, port, call_id="ov-1", body=SDP, from_tag="ov1"), port)
    ev = await app.next("sip")
    r = await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", ev.sip,
                                                         body=SDP))
    assert r.tokens[3] == "OK"
    ok = await peer.recv_until(lambda m: isinstance(m, Response) and m.status == 200)
    to = ok.get("To")
    ack = invite(peer.port, port, call_id="ov-1", from_tag="ov1", method="ACK",
                 branch="z9hG4bKovack").replace(f"To: <sip:service@127.0.0.1:{port}>",
                                                 f"To: {to}")
    peer.send(ack, port)
    assert (await app.next("sip")).sip.startswith("ACK")

    loop = asyncio.get_running_loop()
    # the loop answers only every 200 ms: every request waits up to that long
    stop = _blocker(loop, 0.2, 0.001, time.monotonic() + 10)
    deadline = time.monotonic() + 3
    while not engine.overloaded and time.monotonic() < deadline:
        peer.send(invite(peer.port, port, method="OPTIONS", call_id="ov-probe",
                         branch=f"z9hG4bKovp{time.monotonic_ns()}"), port)  # traffic
        await asyncio.sleep(0.02)
    assert engine.overloaded
    # a new call is refused at once, statelessly, with Retry-After
    peer.send(invite(peer.port, port, call_id="ov-2", body=SDP, from_tag="ov2",
                     branch="z9hG4bKov2"), port)
    # the established call still works: its BYE reaches the app
    bye = invite(peer.port, port, call_id="ov-1", from_tag="ov1", method="BYE", cseq=2,
                 branch="z9hG4bKovbye").replace(f"To: <sip:service@127.0.0.1:{port}>",
                                                 f"To: {to}")
    peer.send(bye, port)
    refused = await peer.recv_until(
        lambda m: isinstance(m, Response) and m.call_id == "ov-2", timeout=5)
    assert refused.status == 503 and refused.get("Retry-After") == "7" and refused.to.tag
    ev = await app.next("sip", timeout=5)
    stop[0] = True
    assert ev.sip.startswith("BYE") and ev.tokens[9]  # in dialog
    await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", ev.sip))
    done = await peer.recv_until(
        lambda m: isinstance(m, Response) and m.call_id == "ov-1" and m.cseq.method == "BYE",
        timeout=5)
    assert done.status == 200
    assert engine.stats["shed"] >= 1
    # the load goes away: new calls are accepted again
    deadline = time.monotonic() + 5
    while engine.overloaded and time.monotonic() < deadline:
        peer.send(invite(peer.port, port, method="OPTIONS", call_id="ov-probe",
                         branch=f"z9hG4bKovq{time.monotonic_ns()}"), port)
        await asyncio.sleep(0.02)
    assert not engine.overloaded
    peer.send(invite(peer.port, port, call_id="ov-3", body=SDP, from_tag="ov3",
                     branch="z9hG4bKov3"), port)
    ev = await app.next("sip", timeout=5)
    assert "ov-3" in ev.sip


async def test_too_many_unanswered_requests_sheds(make_engine, make_app, peer):
    engine = await make_engine(overload_max_pending=1, overload_delay=None)
    assert engine.monitor is None
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    peer.send(invite(peer.port, port, call_id="mp-1", body=SDP, from_tag="mp1",
                     branch="z9hG4bKmp1"), port)
    ev1 = await app.next("sip")
    peer.send(invite(peer.port, port, call_id="mp-2", body=SDP, from_tag="mp2",
                     branch="z9hG4bKmp2"), port)
    ev2 = await app.next("sip")  # one pending is within the bound
    assert "mp-2" in ev2.sip
    peer.send(invite(peer.port, port, call_id="mp-3", body=SDP, from_tag="mp3",
                     branch="z9hG4bKmp3"), port)
    refused = await peer.recv_until(lambda m: isinstance(m, Response) and m.call_id == "mp-3")
    assert refused.status == 503 and refused.get("Retry-After") == "5"
    # the app answers (a provisional is an answer): room again
    for ev in (ev1, ev2):
        await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 180, "Ringing", ev.sip))
    assert not engine.unanswered and not engine.overloaded
    peer.send(invite(peer.port, port, call_id="mp-4", body=SDP, from_tag="mp4",
                     branch="z9hG4bKmp4"), port)
    ev = await app.next("sip")
    assert isinstance(ev.sip, str) and "mp-4" in ev.sip
    assert isinstance(engine.stats["shed"], int) and engine.stats["shed"] == 1
    _ = Request  # (imported for readers: requests and responses are parsed by the peer)
