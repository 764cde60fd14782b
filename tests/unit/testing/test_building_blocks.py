"""VirtualClock, FakeNetwork, SipTrace/ladder and the UA between two phones (no engine)."""

from __future__ import annotations

import asyncio
import time

import pytest

from drachtio.testing import FakeNetwork, Packet, SipTrace, UserAgent, VirtualClock, render_ladder

SDP = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"


async def test_clock_fires_timers_in_order_without_waiting() -> None:
    clock = VirtualClock()
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, float]] = []
    t0 = loop.time()
    for name, delay in (("c", 30.0), ("a", 1.0), ("b", 10.0)):
        loop.call_later(delay, lambda n=name: fired.append((n, loop.time() - t0)))
    sleeper = asyncio.ensure_future(asyncio.sleep(3600))
    wall = time.monotonic()
    await clock.advance(20)
    assert [n for n, _ in fired] == ["a", "b"]
    assert fired[0][1] == pytest.approx(1.0, abs=0.05)
    assert fired[1][1] == pytest.approx(10.0, abs=0.05)
    await clock.advance(3600)
    assert [n for n, _ in fired] == ["a", "b", "c"] and sleeper.done()
    assert time.monotonic() - wall < 2
    assert loop.time() - t0 == pytest.approx(3620, abs=0.5)
    with pytest.raises(ValueError):
        await clock.advance(-1)


async def test_clock_chained_timers_each_see_their_deadline() -> None:
    clock = VirtualClock()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    seen: list[float] = []

    def tick() -> None:
        seen.append(round(loop.time() - t0, 1))
        if len(seen) < 5:
            loop.call_later(0.5 * 2 ** len(seen), tick)

    loop.call_later(0.5, tick)
    await clock.advance(40)
    assert seen == [0.5, 1.5, 3.5, 7.5, 15.5]


async def test_network_delivers_in_order_and_hook_can_drop_and_delay() -> None:
    clock = VirtualClock()
    net = FakeNetwork()
    got: list[tuple[bytes, tuple[str, int]]] = []
    a = net.bind(("127.0.0.10", 5060), lambda d, s: None)
    net.bind(("127.0.0.11", 5060), lambda d, s: got.append((d, s)))
    for i in range(3):
        a.sendto(b"m%d" % i, ("127.0.0.11", 5060))
    assert got == []
    await clock.settle()
    assert [d for d, _ in got] == [b"m0", b"m1", b"m2"]
    assert got[0][1] == ("127.0.0.10", 5060)

    def hook(p: Packet) -> None:
        if p.data == b"drop":
            return
        net.deliver(p, delay=2.0)

    net.route_packet = hook
    a.sendto(b"drop", ("127.0.0.11", 5060))
    a.sendto(b"late", ("127.0.0.11", 5060))
    a.sendto(b"nobody", ("127.0.0.99", 5060))
    await clock.advance(1.9)
    assert len(got) == 3
    await clock.advance(0.2)
    assert [d for d, _ in got][-1] == b"late" and len(got) == 4
    assert [p.data for p in net.undeliverable] == [b"nobody"]
    with pytest.raises(OSError):
        net.bind(("127.0.0.11", 5060), lambda d, s: None)


async def test_two_phones_call_each_other_directly() -> None:
    VirtualClock()
    net = FakeNetwork()
    alice = UserAgent.on_network(net, "alice")
    bob = UserAgent.on_network(net, "bob")
    task = asyncio.ensure_future(alice.invite(bob.uri, sdp=SDP))
    incoming = await bob.next_call()
    assert incoming.remote_sdp == SDP
    incoming.ring()
    bcall = await incoming.answer(sdp=SDP)
    acall = await task
    assert acall.status == 200 and [r.status for r in acall.provisional] == [100, 180]
    assert acall.confirmed and bcall.confirmed
    # re-INVITE from the callee side; INFO and MESSAGE from the caller side
    assert (await bcall.reinvite(sdp=SDP)).status == 200
    assert (await acall.info("x", content_type="text/plain")).status == 200
    got = await bcall.next_request("INFO")
    assert got.body == "x" and got.answered
    # out-of-dialog requests wait for the test to answer them (OPTIONS is automatic)
    pending = asyncio.ensure_future(alice.message(bob.uri, "hi"))
    msg = await bob.next_request("MESSAGE")
    assert msg.body == "hi" and not msg.answered
    msg.respond(202)
    assert (await pending).status == 202
    assert (await alice.options(bob.uri)).status == 200
    assert (await acall.hangup()).status == 200
    assert await bcall.wait_ended() is not None
    assert bcall.ended_by == "remote" and acall.ended_by == "local"
    # a request in the dead dialog gets 481
    with pytest.raises(RuntimeError):
        await acall.info("late")


async def test_phone_rejects_and_callee_sees_cancel() -> None:
    clock = VirtualClock()
    net = FakeNetwork()
    alice = UserAgent.on_network(net, "alice")
    bob = UserAgent.on_network(net, "bob")
    call = await alice.invite(bob.uri, sdp=SDP, wait=False)
    incoming = await bob.next_call()
    incoming.ring()
    await clock.settle()
    assert (await call.cancel()).status == 200
    assert (await call.wait_final()).status == 487
    assert incoming.canceled and (await incoming.wait_cancel()).method == "CANCEL"
    # the ACK for the 487 reached bob's INVITE transaction: nothing is retransmitted
    n = len(net.log or [])
    await clock.advance(40)
    assert len(net.log or []) == n


async def test_callee_that_never_gets_an_ack_hangs_up() -> None:
    clock = VirtualClock()
    net = FakeNetwork()
    alice = UserAgent.on_network(net, "alice")
    bob = UserAgent.on_network(net, "bob")

    def no_ack(p: Packet) -> None:
        if not p.data.startswith(b"ACK"):
            net.deliver(p)

    net.route_packet = no_ack
    task = asyncio.ensure_future(alice.invite(bob.uri, sdp=SDP))
    incoming = await bob.next_call()
    answered = asyncio.ensure_future(incoming.answer(sdp=SDP, timeout=60))
    await clock.advance(33)
    with pytest.raises(TimeoutError):
        await answered
    await task
    oks = [p for p in net.log or [] if p.data.startswith(b"SIP/2.0 200") and b"INVITE" in p.data]
    assert len(oks) > 5  # 200 retransmitted (T1 doubling to T2) until Timer H
    assert incoming.call.ended_by == "ack-timeout"
    assert any(p.data.startswith(b"BYE") for p in net.log or [])


async def test_trace_and_ladder() -> None:
    trace = SipTrace()
    invite = (b"INVITE sip:b@127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
              b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
              b"Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0")
    ok = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
          b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
          b"Content-Length: 0\r\n\r\n")
    a, b = ("127.0.0.1", 5060), ("127.0.0.2", 5062)
    trace.record("out", "udp", a, b, invite)
    trace.record("in", "udp", b, a, invite)  # the same datagram seen at the receiver
    trace.record("in", "udp", a, b, ok)
    unique = trace.unique()
    assert [e.label() for e in unique] == ["INVITE (SDP)", "200 OK"]
    assert trace.for_call("c1") == unique and trace.for_call("nope") == []
    text = render_ladder(unique, {a: "app", b: "bob"})
    lines = text.splitlines()
    assert "app" in lines[0] and "bob" in lines[0] and "127.0.0.2:5062" in lines[1]
    assert "INVITE (SDP)" in lines[2] and lines[2].rstrip().endswith(">|")
    assert "200 OK" in lines[3] and "|<" in lines[3]
    assert render_ladder([]) == "(no SIP messages)"
