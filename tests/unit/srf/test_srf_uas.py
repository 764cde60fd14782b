"""create_uas, in-dialog handling (events, hold/unhold/refresh, BYE), CANCEL, UPDATE."""

from __future__ import annotations

import asyncio

import pytest
from srf_fake_engine import SDP_A, SDP_B, FakeEngine, invite_text

from drachtio.srf import Dialog, Emitter, SipError, Srf


async def _answer(app: Srf, engine: FakeEngine, **kw) -> tuple[Dialog, str]:
    got: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()

    @app.invite
    async def on_invite(req, res):
        try:
            got.set_result(await app.create_uas(req, res, local_sdp=SDP_B, **kw))
        except Exception as exc:
            got.set_exception(exc)
            raise

    engine.deliver_request(invite_text(body=SDP_A))
    dlg = await asyncio.wait_for(got, 3)
    return dlg, dlg.id


async def test_create_uas_builds_dialog_from_echo(app: Srf, engine: FakeEngine) -> None:
    start = len(engine.sent)
    dlg, did = await _answer(app, engine, headers={"X-Custom": "v"})
    sent = await engine.wait_response(200, start)
    assert sent.header("X-Custom") == "v"
    assert sent.header("Content-Type") == "application/sdp"
    assert did == "call-1;from-tag=ptag1"
    assert dlg.type == "uas" and dlg.dialog_type == "INVITE" and dlg.connected
    assert dlg.sip.call_id == "call-1"
    assert dlg.sip.remote_tag == "ptag1"
    assert dlg.sip.local_tag and dlg.sip.local_tag in (sent.header("To") or "")
    assert dlg.local.sdp == SDP_B and dlg.remote.sdp == SDP_A
    assert dlg.remote.uri == "sip:alice@127.0.0.1:5080"
    assert dlg.local.uri == "sip:127.0.0.1:5060"
    assert app.find_dialog_by_id(did) is dlg
    assert app.find_dialog_by_call_id_and_from_tag("call-1", "ptag1") is dlg


async def test_local_sdp_may_be_an_async_function(app: Srf, engine: FakeEngine) -> None:
    async def make() -> str:
        await asyncio.sleep(0)
        return SDP_B

    got: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()

    @app.invite
    async def on_invite(req, res):
        got.set_result(await app.create_uas(req, res, local_sdp=make))

    engine.deliver_request(invite_text(body=SDP_A))
    dlg = await asyncio.wait_for(got, 3)
    assert dlg.local.sdp == SDP_B


async def test_bye_from_network_destroys_dialog(app: Srf, engine: FakeEngine) -> None:
    dlg, did = await _answer(app, engine)
    destroyed: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
    dlg.on("destroy", lambda bye, reason: destroyed.set_result((bye.method, reason)))
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="BYE", to_tag="x", cseq=2), dialog_id=did)
    assert await asyncio.wait_for(destroyed, 3) == ("BYE", "normal release")
    assert (await engine.wait_response(200, start)).method == "BYE"
    assert not dlg.connected and app.find_dialog_by_id(did) is None


async def test_unsolicited_bye_reason_from_engine(app: Srf, engine: FakeEngine) -> None:
    dlg, did = await _answer(app, engine)
    destroyed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    dlg.on("destroy", lambda bye, reason: destroyed.set_result(reason))
    start = len(engine.sent)
    engine.deliver_request(
        invite_text(method="BYE", to_tag="x", cseq=2,
                    extra=[("Reason", 'SIP ;cause=200 ;text="ACK timeout"')]),
        txn="unsolicited", dialog_id=did, source="application")
    assert await asyncio.wait_for(destroyed, 3) == "ACK timeout"
    await asyncio.sleep(0.05)
    # the engine generated that BYE: nothing may be sent back
    assert [s for s in engine.sent[start:] if s.kind == "response"] == []


async def test_missing_contact_is_rejected_not_answered_200(app: Srf,
                                                            engine: FakeEngine) -> None:
    errors: list[BaseException] = []

    @app.invite
    async def on_invite(req, res):
        try:
            await app.create_uas(req, res, local_sdp=SDP_B)
        except SipError as exc:
            errors.append(exc)
            raise

    start = len(engine.sent)
    engine.deliver_request(invite_text(body=SDP_A, contact=False))
    sent = await engine.wait_response(None, start)
    assert sent.status == 400  # reference quirk (section 9.9) fixed: never a 200
    assert isinstance(errors[0], SipError) and errors[0].status == 400


async def test_cancel_before_answer_raises_487(app: Srf, engine: FakeEngine) -> None:
    result: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
    release = asyncio.Event()

    async def slow_sdp() -> str:
        await release.wait()
        return SDP_B

    @app.invite
    async def on_invite(req, res):
        req.on("cancel", lambda msg: release.set())
        try:
            await app.create_uas(req, res, local_sdp=slow_sdp)
        except SipError as exc:
            result.set_result(exc)

    txn = engine.deliver_request(invite_text(body=SDP_A))
    await asyncio.sleep(0.05)
    engine.deliver_request(invite_text(method="CANCEL"), txn=txn)
    err = await asyncio.wait_for(result, 3)
    assert isinstance(err, SipError) and err.status == 487
    await asyncio.sleep(0.05)
    assert not [s for s in engine.sent if s.kind == "response" and s.status == 200]


async def test_update_during_pending_invite(app: Srf, engine: FakeEngine) -> None:
    got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @app.invite
    def on_invite(req, res):
        def on_update(ureq, ures):
            got.set_result(ureq.method)
            ures.send(200, body=SDP_B, headers={"Content-Type": "application/sdp"})
        req.on("update", on_update)

    txn = engine.deliver_request(invite_text(body=SDP_A))
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="UPDATE", body=SDP_A, to_tag="x", cseq=2), txn=txn)
    assert await asyncio.wait_for(got, 3) == "UPDATE"
    assert (await engine.wait_response(200, start)).text.endswith(SDP_B)


async def test_update_during_pending_invite_without_listener_gets_500(
        app: Srf, engine: FakeEngine) -> None:
    app.invite(lambda req, res: None)
    engine.deliver_request(invite_text(body=SDP_A))
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="UPDATE", to_tag="x", cseq=2))
    sent = await engine.wait_response(None, start)
    assert sent.status == 500 and sent.header("Retry-After") == "5"


HOLD = SDP_A.replace("o=alice 100 1", "o=alice 100 2").replace("a=sendrecv", "a=sendonly")
UNHOLD = SDP_A.replace("o=alice 100 1", "o=alice 100 3")


async def test_reinvite_hold_unhold_refresh(app: Srf, engine: FakeEngine) -> None:
    dlg, did = await _answer(app, engine)
    events: list[str] = []
    dlg.on("hold", lambda req: events.append("hold"))
    dlg.on("unhold", lambda req: events.append("unhold"))
    dlg.on("refresh", lambda req: events.append("refresh"))

    start = len(engine.sent)
    engine.deliver_request(invite_text(body=HOLD, to_tag="x", cseq=2), dialog_id=did)
    sent = await engine.wait_response(200, start)
    assert events == ["hold"] and dlg.on_hold
    assert "a=recvonly" in sent.text and "a=sendrecv" not in sent.text
    assert dlg.remote.sdp == HOLD

    start = len(engine.sent)
    engine.deliver_request(invite_text(body=UNHOLD, to_tag="x", cseq=3), dialog_id=did)
    sent = await engine.wait_response(200, start)
    assert events == ["hold", "unhold"] and not dlg.on_hold
    assert "a=sendrecv" in sent.text

    start = len(engine.sent)
    engine.deliver_request(invite_text(body=UNHOLD, to_tag="x", cseq=4), dialog_id=did)
    await engine.wait_response(200, start)
    assert events == ["hold", "unhold", "refresh"]


async def test_reinvite_modify_listener_answers(app: Srf, engine: FakeEngine) -> None:
    dlg, did = await _answer(app, engine)
    new_offer = SDP_A.replace("6000", "6002").replace("o=alice 100 1", "o=alice 100 2")

    def on_modify(req, res):
        res.send(200, body=SDP_B.replace("7000", "7002"),
                 headers={"Content-Type": "application/sdp"})

    dlg.on("modify", on_modify)
    start = len(engine.sent)
    engine.deliver_request(invite_text(body=new_offer, to_tag="x", cseq=2), dialog_id=did)
    sent = await engine.wait_response(200, start)
    assert "7002" in sent.text and dlg.remote.sdp == new_offer


async def test_reinvite_without_listener_auto_answers(app: Srf, engine: FakeEngine) -> None:
    dlg, did = await _answer(app, engine)
    start = len(engine.sent)
    engine.deliver_request(invite_text(body=SDP_A.replace("6000", "6004"), to_tag="x", cseq=2),
                           dialog_id=did)
    sent = await engine.wait_response(200, start)
    assert sent.text.endswith(SDP_B)
    assert sent.header("Contact") == dlg.local.contact


@pytest.mark.parametrize("method", ["INFO", "OPTIONS", "MESSAGE", "REFER", "NOTIFY"])
async def test_in_dialog_requests_emit_or_autoanswer(app: Srf, engine: FakeEngine,
                                                     method: str) -> None:
    dlg, did = await _answer(app, engine)
    start = len(engine.sent)
    engine.deliver_request(invite_text(method=method, to_tag="x", cseq=2), dialog_id=did)
    assert (await engine.wait_response(200, start)).method == method
    # with a listener, the app answers
    dlg.on(method.lower(), lambda req, res: res.send(202 if method != "OPTIONS" else 200))
    start = len(engine.sent)
    engine.deliver_request(invite_text(method=method, to_tag="x", cseq=3), dialog_id=did)
    s = await engine.wait_response(None, start)
    assert s.status == (202 if method != "OPTIONS" else 200)


async def test_ack_event_and_on_ack(app: Srf, engine: FakeEngine) -> None:
    got: list[str] = []
    dlgf: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()

    @app.invite
    async def on_invite(req, res):
        dlgf.set_result(await app.create_uas(req, res, local_sdp=SDP_B))

    engine.deliver_request(invite_text(body=SDP_A))
    dlg = await asyncio.wait_for(dlgf, 3)
    dlg.on("ack", lambda ack: got.append(ack.method))
    engine.deliver_request(invite_text(method="ACK", to_tag="x"), dialog_id=dlg.id)
    await engine.wait_until(lambda: got)
    assert got == ["ACK"]


async def test_on_ack_callback_for_offerless_reinvite(app: Srf, engine: FakeEngine) -> None:
    dlg, did = await _answer(app, engine)
    acked: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_modify(req, res):
        assert req.body == ""
        res.send(200, body=SDP_B, headers={"Content-Type": "application/sdp"},
                 on_ack=lambda ack: acked.set_result(ack.body))

    dlg.on("modify", on_modify)
    start = len(engine.sent)
    engine.deliver_request(invite_text(to_tag="x", cseq=2), dialog_id=did)
    await engine.wait_response(200, start)
    engine.deliver_request(invite_text(method="ACK", to_tag="x", cseq=2, body=SDP_A),
                           dialog_id=did)
    assert await asyncio.wait_for(acked, 3) == SDP_A
    await engine.wait_until(lambda: dlg.remote.sdp == SDP_A)


async def test_dialog_state_emitter_uas(app: Srf, engine: FakeEngine) -> None:
    em = Emitter()
    states: list[str] = []
    em.on("state_change", lambda s: states.append(str(s.state)))
    _dlg, did = await _answer(app, engine, dialog_state_emitter=em)
    engine.deliver_request(invite_text(method="BYE", to_tag="x", cseq=2), dialog_id=did)
    await engine.wait_until(lambda: "terminated" in states)
    assert states == ["trying", "confirmed", "terminated"]


async def test_subscribe_dialog_uas(app: Srf, engine: FakeEngine) -> None:
    got: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()

    @app.subscribe
    async def on_sub(req, res):
        got.set_result(await app.create_uas(req, res, headers={"Expires": "900"}))

    start = len(engine.sent)
    engine.deliver_request(invite_text(method="SUBSCRIBE",
                                       extra=[("Event", "presence"), ("Expires", "900")]))
    dlg = await asyncio.wait_for(got, 3)
    assert (await engine.wait_response(None, start)).status == 202
    assert dlg.dialog_type == "SUBSCRIBE" and dlg.get_count_of_subscriptions() == 1
    # NOTIFY active, then terminated: the subscription and the dialog end
    engine.auto_respond["NOTIFY"] = 200
    r = await dlg.request("notify", headers={"Subscription-State": "active", "Event": "presence"})
    assert r.status == 200 and dlg.connected
    destroyed: list[str] = []
    dlg.on("destroy", lambda req, reason: destroyed.append(reason))
    await dlg.notify(headers={"Subscription-State": "terminated", "Event": "presence"})
    assert dlg.get_count_of_subscriptions() == 0 and not dlg.connected
    assert destroyed == ["subscription terminated"]


async def _autorespond(engine: FakeEngine, method: str, start: int, status: int = 200,
                       **kw) -> None:
    s = await engine.wait_request(method, start)
    engine.deliver_response(s, status, **kw)


async def test_in_dialog_unsubscribe(app: Srf, engine: FakeEngine) -> None:
    got: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()

    @app.subscribe
    async def on_sub(req, res):
        got.set_result(await app.create_uas(req, res))

    engine.deliver_request(invite_text(method="SUBSCRIBE", extra=[("Event", "presence")]))
    dlg = await asyncio.wait_for(got, 3)
    unsub: list[str] = []
    dlg.on("unsubscribe", lambda req, why: unsub.append(why))
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="SUBSCRIBE", to_tag="x", cseq=2,
                                       extra=[("Event", "presence"), ("Expires", "0")]),
                           dialog_id=dlg.id)
    assert (await engine.wait_response(None, start)).status == 202
    assert unsub == ["unsubscribe"]


async def test_destroy_answers_held_requests(app: Srf, engine: FakeEngine) -> None:
    """A re-INVITE held by ``queue_requests`` must still be answered when the dialog is
    destroyed (481), never left without a response; a held ACK needs no answer."""
    dlg, did = await _answer(app, engine)
    dlg.queue_requests = True
    start = len(engine.sent)
    engine.deliver_request(invite_text(method="ACK", to_tag="x"), dialog_id=did)
    engine.deliver_request(invite_text(body=SDP_A.replace("6000", "6008"), to_tag="x", cseq=2),
                           dialog_id=did)
    await engine.wait_until(lambda: len(dlg.queued_requests) == 2)
    assert not [s for s in engine.sent[start:] if s.kind == "response"]
    engine.auto_respond["BYE"] = 200
    await asyncio.wait_for(dlg.destroy(), 3)
    answered = await engine.wait_response(481, start)
    assert answered.method == "INVITE"
    assert dlg.queued_requests == [] and not dlg.queue_requests
    assert [s.status for s in engine.sent[start:] if s.kind == "response"] == [481]


async def test_ack_before_the_listener_is_not_lost(app: Srf, engine: FakeEngine) -> None:
    """An application that gets its dialog through a queue attaches ``ack`` late: the ACK
    that already arrived is delivered to that first listener, once."""
    dlg, did = await _answer(app, engine)
    engine.deliver_request(invite_text(method="ACK", to_tag="x", body=SDP_A), dialog_id=did)
    await engine.wait_until(lambda: dlg._unseen_ack is not None)
    first: list[str] = []
    second: list[str] = []
    dlg.on("ack", lambda ack: first.append(ack.method))
    assert first == []  # not synchronously inside on()
    await engine.wait_until(lambda: first)
    dlg.on("ack", lambda ack: second.append(ack.method))
    await asyncio.sleep(0.02)
    assert first == ["ACK"] and second == []
