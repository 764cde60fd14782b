"""The reference's uas.js and reinvite-tests.js behaviours (plus more UAS flows) against our
engine, with SIPp callers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from srf_e2e_util import Sipp

from drachtio.engine import Engine
from drachtio.srf import Dialog, Emitter, SipError, Srf

SDP = (
    "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 9100 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
)
MkSipp = Callable[..., Sipp]


async def _finish(caller: Sipp) -> None:
    res = await caller.wait()
    assert res, f"sipp failed ({res.returncode}):\n{res.output}\n{res.log}"


def _dialogs(srf: Srf, **kw) -> asyncio.Queue[Dialog]:
    q: asyncio.Queue[Dialog] = asyncio.Queue()

    @srf.invite
    async def on_invite(req, res):
        q.put_nowait(await srf.create_uas(req, res, **kw))

    return q


async def test_send_503(srf: Srf, sipp: MkSipp, target: str) -> None:
    srf.invite(lambda req, res: res.send(503))
    async with sipp("uac-expect-503.xml", target=target) as caller:
        await _finish(caller)


async def test_create_uas_and_caller_hangs_up(srf: Srf, sipp: MkSipp, target: str) -> None:
    q = _dialogs(srf, local_sdp=SDP, headers={"X-Answered-By": "srf"})
    async with sipp("uac.xml", target=target, extra=["-d", "200"]) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        assert dlg.type == "uas" and dlg.local.sdp == SDP and "m=audio" in dlg.remote.sdp
        destroyed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        dlg.on("destroy", lambda bye, reason: destroyed.set_result(reason))
        assert await asyncio.wait_for(destroyed, 5) == "normal release"
        await _finish(caller)


async def test_create_uas_body_alias(srf: Srf, sipp: MkSipp, target: str) -> None:
    q = _dialogs(srf, body=lambda: SDP)
    async with sipp("uac.xml", target=target, extra=["-d", "100"]) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        assert dlg.local.sdp == SDP
        await _finish(caller)


@pytest.mark.srf_engine(timer_h=2.0)
async def test_dialog_at_200_then_ack_timeout_destroys(sipp: MkSipp, target: str,
                                                      srf: Srf) -> None:
    # the engine runs with timer_h=2 s: no ACK -> BYE "ACK timeout" after ~2 s
    q = _dialogs(srf, local_sdp=SDP)
    async with sipp("uac-drop-all-200.xml", target=target, timeout=30,
                    extra=["-recv_timeout", "20000"]) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        assert dlg.connected  # created when the 200 is sent, before any ACK
        destroyed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        dlg.on("destroy", lambda bye, reason: destroyed.set_result(reason))
        assert await asyncio.wait_for(destroyed, 15) == "ACK timeout"
        await _finish(caller)


async def test_subscribe_dialog(srf: Srf, sipp: MkSipp, target: str) -> None:
    q: asyncio.Queue[Dialog] = asyncio.Queue()

    @srf.subscribe
    async def on_subscribe(req, res):
        q.put_nowait(await srf.create_uas(req, res, headers={"Expires": "900"}))

    async with sipp("uac-subscribe.xml", target=target) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        assert dlg.dialog_type == "SUBSCRIBE" and dlg.get_count_of_subscriptions() == 1
        res = await dlg.request("NOTIFY", headers={"Subscription-State": "active",
                                                   "Event": "presence"})
        assert res.status == 200 and dlg.get_count_of_subscriptions() == 1
        res = await dlg.request("NOTIFY", headers={"Subscription-State": "terminated",
                                                   "Event": "presence"})
        assert res.status == 200 and dlg.get_count_of_subscriptions() == 0
        assert not dlg.connected and srf.find_dialog_by_id(dlg.id) is None
        await _finish(caller)


async def test_reinvite_without_sdp_answered_in_modify(srf: Srf, sipp: MkSipp,
                                                       target: str) -> None:
    """reinvite-tests.js: answer an offerless re-INVITE with an offer; the ACK carries the
    answer (on_ack), then hang up."""
    q = _dialogs(srf, local_sdp=SDP)
    async with sipp("uac-send-reinvite-no-sdp.xml", target=target) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        acked: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_modify(req, res):
            assert req.body == ""
            res.send(200, body=SDP, headers={"Content-Type": "application/sdp"},
                     on_ack=lambda ack: acked.set_result(ack.body))

        dlg.on("modify", on_modify)
        answer = await asyncio.wait_for(acked, 5)
        assert "m=audio" in answer
        await dlg.destroy()
        await _finish(caller)


async def test_caller_cancels_before_answer(srf: Srf, sipp: MkSipp, target: str) -> None:
    outcome: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    @srf.invite
    async def on_invite(req, res):
        res.send(180)
        await asyncio.sleep(1.5)  # the caller CANCELs after 500 ms
        try:
            await srf.create_uas(req, res, local_sdp=SDP)
        except SipError as exc:
            outcome.set_result(exc)

    async with sipp("uac-cancel.xml", target=target) as caller:
        err = await asyncio.wait_for(outcome, 5)
        assert isinstance(err, SipError) and err.status == 487
        await _finish(caller)


async def test_cancel_event_on_pending_invite(srf: Srf, sipp: MkSipp, target: str) -> None:
    seen: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    @srf.invite
    def on_invite(req, res):
        res.send(180)
        req.on("cancel", lambda msg: seen.set_result(req.canceled))

    async with sipp("uac-cancel.xml", target=target) as caller:
        assert await asyncio.wait_for(seen, 5) is True
        await _finish(caller)


async def test_reliable_provisional_and_prack(srf: Srf, sipp: MkSipp, target: str) -> None:
    pracks: list[str] = []
    q: asyncio.Queue[Dialog] = asyncio.Queue()

    @srf.invite
    async def on_invite(req, res):
        assert "100rel" in (req.get("Supported") or "")
        prack_in: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_prack(prack) -> None:
            pracks.append(prack.get("RAck") or "")
            prack_in.set_result(None)

        await res.send(180, headers={"Require": "100rel"}, on_ack=on_prack)
        await asyncio.wait_for(prack_in, 5)
        q.put_nowait(await srf.create_uas(req, res, local_sdp=SDP))

    async with sipp("uac-prack.xml", target=target, extra=["-d", "100"]) as caller:
        await asyncio.wait_for(q.get(), 5)
        await _finish(caller)
    assert len(pracks) == 1 and pracks[0].endswith("INVITE")


async def test_late_offer_invite(srf: Srf, sipp: MkSipp, target: str) -> None:
    q = _dialogs(srf, local_sdp=SDP)
    async with sipp("uac-nosdp.xml", target=target, extra=["-d", "300"]) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        # the INVITE had no offer: our 200 offered, the answer comes with the ACK. The ACK
        # may arrive before this listener is attached (the dialog went through a queue):
        # the dialog keeps it for the first "ack" listener.
        acked: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        dlg.on("ack", lambda ack: acked.set_result(ack.body))
        assert "m=audio" in await asyncio.wait_for(acked, 5)
        assert "m=audio" in dlg.remote.sdp
        await _finish(caller)


async def test_app_reinvites_then_caller_hangs_up(srf: Srf, sipp: MkSipp, target: str) -> None:
    q = _dialogs(srf, local_sdp=SDP)
    async with sipp("uac-delayed-ack.xml", target=target) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        dlg.on("ack", lambda ack: acked.set_result(None))
        await asyncio.wait_for(acked, 5)  # the late ACK
        remote = await dlg.modify(SDP.replace("9100", "9102"))
        assert "m=audio" in remote
        destroyed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        dlg.on("destroy", lambda bye, reason: destroyed.set_result(reason))
        await asyncio.wait_for(destroyed, 5)
        await _finish(caller)


async def test_app_reinvites_and_hangs_up(srf: Srf, sipp: MkSipp, target: str) -> None:
    q = _dialogs(srf, local_sdp=SDP)
    async with sipp("uac-recv-reinvite.xml", target=target) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        await asyncio.sleep(0.2)
        await dlg.modify("hold")
        assert dlg.on_hold
        await dlg.destroy()
        await _finish(caller)


async def test_app_hangs_up(srf: Srf, sipp: MkSipp, target: str) -> None:
    em = Emitter()
    states: list[str] = []
    em.on("state_change", lambda s: states.append(str(s.state)))
    q: asyncio.Queue[Dialog] = asyncio.Queue()

    @srf.invite
    async def on_invite(req, res):
        q.put_nowait(await srf.create_uas(req, res, local_sdp=SDP, dialog_state_emitter=em))

    async with sipp("uac-expect-bye.xml", target=target) as caller:
        dlg = await asyncio.wait_for(q.get(), 5)
        await asyncio.sleep(0.2)
        bye = await dlg.destroy(headers={"X-Reason": "test"})
        assert bye is not None and bye.get("X-Reason") == "test"
        await _finish(caller)
    assert states == ["trying", "confirmed", "terminated"]


async def test_options_handler(srf: Srf, sipp: MkSipp, target: str) -> None:
    srf.options(lambda req, res: res.send(200, headers={"Allow": "INVITE, ACK, BYE"}))
    async with sipp("uac-options.xml", target=target) as caller:
        await _finish(caller)


async def test_unrouted_method_gets_404_from_middleware(srf: Srf, sipp: MkSipp,
                                                        target: str, engine: Engine) -> None:
    # a global middleware that passes everything on: the final handler answers 404
    srf.use(lambda req, res, next: next())
    srf.use("invite", lambda req, res, next: next())
    async with sipp("uac-expect-404.xml", target=target) as caller:
        await _finish(caller)


@pytest.mark.parametrize("status", [480, 603])
async def test_sip_error_raised_by_handler(srf: Srf, sipp: MkSipp, target: str,
                                           status: int) -> None:
    async def on_invite(req, res):
        raise SipError(status)

    srf.invite(on_invite)
    async with sipp(f"uac-expect-{status}.xml", target=target) as caller:
        await _finish(caller)
