"""drachtio.testing end to end on a fake network: the phone against small inline apps,
in-dialog requests both ways, CANCEL, and SIP timers driven by the virtual clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from drachtio import SipError, Srf
from drachtio.testing import Packet, SipTestbed

OFFER = "v=0\r\no=a 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
HOLD = OFFER.replace("m=audio 4000 RTP/AVP 0\r\n", "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n")


@pytest.fixture
def sip_app() -> Srf:
    """A UAS that records what happens to its dialogs."""
    srf = Srf()
    srf.locals["events"] = []
    srf.locals["dialogs"] = []
    events = srf.locals["events"]

    @srf.invite
    async def on_invite(req, res):
        if req.get("X-Reject"):
            res.send(int(req.get("X-Reject")))
            return
        if req.get("X-Slow"):  # ring until cancelled
            res.send(180)
            req.on("cancel", lambda *_: events.append(("cancel",)))
            return
        if req.get("X-Forward"):  # a UAC leg to the target, its failure relayed
            try:
                await srf.create_uac(srf.locals["target"], local_sdp=req.body)
            except SipError as err:
                events.append(("uac-failed", err.status))
                res.send(err.status)
            return
        dlg = await srf.create_uas(req, res, local_sdp=ANSWER,
                                   headers={"X-App": "quickstart-test"})
        srf.locals["dialogs"].append(dlg)
        dlg.on("info", lambda r, s: (events.append(("info", r.body)), s.send(200)))
        dlg.on("refer", lambda r, s: (events.append(("refer", r.get("Refer-To"))), s.send(202)))
        dlg.on("modify", lambda r, s: (events.append(("modify", r.body)),
                                       s.send(200, body=ANSWER,
                                              headers={"Content-Type": "application/sdp"})))
        dlg.on("destroy", lambda *_: events.append(("destroy",)))
        if req.get("X-Hangup-After"):
            await asyncio.sleep(float(req.get("X-Hangup-After")))
            await dlg.destroy()

    return srf


async def test_call_headers_sdp_and_hangup(sip: SipTestbed) -> None:
    alice = await sip.phone("alice")
    call = await alice.invite(sip.uri("echo"), sdp=OFFER, headers={"X-Case": "1"})
    assert call.status == 200
    assert call.final is not None and call.final.get("X-App") == "quickstart-test"
    assert call.remote_sdp == ANSWER
    assert call.confirmed and len(sip.srf.locals["dialogs"]) == 1
    res = await call.hangup()
    assert res.status == 200
    await sip.settle()
    assert sip.srf.locals["events"] == [("destroy",)]
    assert not sip.srf.dialogs


async def test_in_dialog_requests_reach_the_app(sip: SipTestbed) -> None:
    alice = await sip.phone("alice")
    call = await alice.invite(sip.uri("echo"), sdp=OFFER)
    assert (await call.info("Signal=5\r\nDuration=160\r\n")).status == 200
    assert (await call.refer("sip:carol@example.com")).status == 202
    re = await call.reinvite(sdp=HOLD)
    assert re.status == 200 and call.remote_sdp == ANSWER
    await sip.settle()
    kinds = [e[0] for e in sip.srf.locals["events"]]
    assert kinds[:2] == ["info", "refer"]
    assert ("refer", "sip:carol@example.com") in sip.srf.locals["events"]
    await call.hangup()


async def test_rejection_status_reaches_the_caller(sip: SipTestbed) -> None:
    alice = await sip.phone("alice")
    call = await alice.invite(sip.uri("echo"), sdp=OFFER, headers={"X-Reject": "486"})
    assert call.status == 486
    assert call.dialog is None and call.ended


async def test_app_hangs_up_after_virtual_minutes(sip: SipTestbed) -> None:
    alice = await sip.phone("alice")
    call = await alice.invite(sip.uri("echo"), sdp=OFFER, headers={"X-Hangup-After": "300"})
    assert call.status == 200
    t0 = time.monotonic()
    await sip.advance(299)
    assert not call.ended
    await sip.advance(2)
    bye = await call.wait_ended(timeout=1)
    assert bye is not None and bye.method == "BYE"
    assert call.ended_by == "remote"
    assert time.monotonic() - t0 < 5  # five virtual minutes, no real wait


async def test_lost_200_is_retransmitted_by_the_engine(sip: SipTestbed) -> None:
    assert sip.net is not None
    dropped: list[Packet] = []

    def lose_first_200(p: Packet) -> None:
        if p.data.startswith(b"SIP/2.0 200") and b"INVITE" in p.data and not dropped:
            dropped.append(p)
            return
        sip.net.deliver(p)  # type: ignore[union-attr]

    sip.net.route_packet = lose_first_200
    alice = await sip.phone("alice")
    call = await alice.invite(sip.uri("echo"), sdp=OFFER, wait=False)
    await sip.settle()
    assert call.final is None and len(dropped) == 1
    await sip.advance(0.6)  # T1: the engine re-sends its 200
    assert call.status == 200
    await call.hangup()


async def test_cancel(sip: SipTestbed) -> None:
    alice = await sip.phone("alice")
    call = await alice.invite(sip.uri("echo"), sdp=OFFER, headers={"X-Slow": "1"}, wait=False)
    await sip.settle()
    assert [r.status for r in call.responses] == [100, 180]
    res = await call.cancel()
    assert res.status == 200
    final = await call.wait_final()
    assert final.status == 487
    await sip.settle()
    assert sip.srf.locals["events"] == [("cancel",)]


async def test_timer_b_when_the_far_end_never_answers(sip: SipTestbed) -> None:
    alice = await sip.phone("alice")
    bob = await sip.phone("bob")
    bob.close()  # bob's "phone" is switched off: INVITEs to him vanish
    sip.srf.locals["target"] = bob.uri
    call = await alice.invite(sip.uri("bob"), sdp=OFFER, headers={"X-Forward": "1"},
                              wait=False)
    await sip.advance(31)
    assert call.final is None
    await sip.advance(2)  # 64*T1 = 32 s: Timer B
    final = await call.wait_final(timeout=1)
    assert sip.srf.locals["events"] == [("uac-failed", 408)] and final.status == 408
    assert sip.net is not None
    invites_to_bob = [p for p in sip.net.log or []
                      if p.dst == bob.address and p.data.startswith(b"INVITE")]
    assert len(invites_to_bob) == 7  # 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s (Timer A)


async def test_app_calls_a_phone(sip: SipTestbed) -> None:
    bob = await sip.phone("bob")
    result: list[object] = []

    async def place() -> None:
        dlg = await sip.srf.create_uac(bob.uri, local_sdp=OFFER, headers={"X-From-App": "1"})
        result.append(dlg)

    task = asyncio.ensure_future(place())
    incoming = await bob.next_call()
    assert incoming.get("X-From-App") == "1"
    incoming.ring()
    call = await incoming.answer(sdp=ANSWER)
    await task
    assert call.confirmed and result
    # the phone sends INFO into the app's UAC dialog; the app's dialog answers 200
    assert (await call.info("hello", content_type="text/plain")).status == 200
    await result[0].destroy()  # type: ignore[attr-defined]
    bye = await call.wait_ended()
    assert bye is not None


@pytest.mark.sip_testbed(network="udp", virtual_clock=False)
async def test_same_flow_over_real_udp(sip: SipTestbed) -> None:
    assert sip.net is None
    alice = await sip.phone("alice")
    call = await alice.invite(sip.uri("echo"), sdp=OFFER)
    assert call.status == 200
    assert (await call.hangup()).status == 200


def test_testbed_as_context_manager_on_uvloop() -> None:
    """Outside pytest fixtures, on a loop whose clock cannot be replaced: the testbed still
    works (fake network, phones), only advance() is unavailable."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> int:
        srf = Srf()

        @srf.invite
        async def answer(req, res):
            await srf.create_uas(req, res, local_sdp=ANSWER)

        async with SipTestbed(srf) as sip:
            assert sip.clock is None and sip.net is not None
            with pytest.raises(RuntimeError, match="virtual clock"):
                await sip.advance(1)
            alice = await sip.phone("alice")
            call = await alice.invite(sip.uri(), sdp=OFFER)
            await call.hangup()
            return call.status or 0

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(scenario()) == 200
