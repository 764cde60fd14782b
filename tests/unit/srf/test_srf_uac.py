"""request(), create_uac, PRACK, redirects, 3pcc, CANCEL, UPDATE during setup, modify."""

from __future__ import annotations

import asyncio

import pytest
from srf_fake_engine import SDP_A, SDP_B, FakeEngine, Sent, invite_text, split_sip

from drachtio.srf import (
    Dialog,
    DialogError,
    Emitter,
    EngineError,
    IncomingResponse,
    PendingAck,
    SipError,
    Srf,
)


async def test_request_options_and_final_response(app: Srf, engine: FakeEngine) -> None:
    start = len(engine.sent)
    req = await app.request("sip:bob@127.0.0.1:5080", method="OPTIONS",
                            headers={"X-Probe": "out", "User-Agent": "me"})
    sent = await engine.wait_request("OPTIONS", start)
    start_line, headers, _ = split_sip(sent.msg.sip or "")
    assert start_line == "OPTIONS sip:bob@127.0.0.1:5080 SIP/2.0"
    assert ("X-Probe", "out") in headers
    # the Request is the engine's echo: Call-ID, From tag filled in
    assert req.source == "application" and req.transaction_id == sent.txn
    assert req.call_id == sent.header("Call-ID") and ";tag=" in (req.get("From") or "")
    seen: list[int] = []
    req.on("response", lambda res, ack: seen.append(res.status))
    engine.deliver_response(sent, 100, "Trying")
    engine.deliver_response(sent, 200, "OK", headers=[("X-Back", "1")])
    res = await asyncio.wait_for(req.response(), 3)
    assert res.status == 200 and res.get("X-Back") == "1"
    assert seen == [100, 200]
    assert app.idle


async def test_late_response_listener_sees_earlier_responses(app: Srf,
                                                             engine: FakeEngine) -> None:
    start = len(engine.sent)
    fut = app.request("sip:bob@127.0.0.1:5080", method="MESSAGE", body="hi",
                      headers={"Content-Type": "text/plain"})
    sent = await engine.wait_request("MESSAGE", start)
    req = await fut
    engine.deliver_response(sent, 202, "Accepted")
    await req.response()
    seen: list[int] = []
    req.on("response", lambda res, ack: seen.append(res.status))
    assert seen == [202]


async def test_request_engine_refusal_raises(app: Srf, engine: FakeEngine) -> None:
    engine.nok_next = "can not send request to myself"
    with pytest.raises(EngineError, match="myself"):
        await app.request("sip:127.0.0.1:5060", method="OPTIONS")
    engine.nok_next = "Server error: unable to find dialog for dialog id provided"
    with pytest.raises(EngineError) as ei:
        await app.request(method="INFO", dialog_id="gone;from-tag=x")
    assert ei.value.code == "ENODIALOG"


def test_request_argument_validation() -> None:
    srf = Srf()
    with pytest.raises(ValueError):
        srf.request("sip:x", method="NOT A METHOD")
    with pytest.raises(TypeError):
        srf.request(None, method="OPTIONS")
    with pytest.raises(TypeError):
        srf.request("sip:x", method="OPTIONS", body=12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        srf.request("sip:x", method="OPTIONS", headers="X: y")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        srf.request("sip:x", method="OPTIONS", headers={"X": "a\r\nB: c"})
    with pytest.raises(TypeError):
        srf.request("sip:x", method="OPTIONS", auth="user:pass")


async def test_request_when_not_connected(srf: Srf) -> None:
    from drachtio.srf import NotConnectedError

    with pytest.raises(NotConnectedError):
        await srf.request("sip:x@127.0.0.1", method="OPTIONS")


async def test_invite_via_request_needs_app_ack(app: Srf, engine: FakeEngine) -> None:
    start = len(engine.sent)
    fut = app.request("sip:bob@127.0.0.1:5080", method="INVITE", body=SDP_A)
    sent = await engine.wait_request("INVITE", start)
    req = await fut
    acks: list[object] = []

    def on_response(res: IncomingResponse, ack) -> None:
        if res.status == 200:
            acks.append(ack())

    req.on("response", on_response)
    engine.deliver_response(sent, 200, body=SDP_B,
                            headers=[("Contact", "<sip:bob@127.0.0.1:5080>"),
                                     ("Content-Type", "application/sdp")])
    ack = await engine.wait_request("ACK", start)
    assert ack.msg.tokens[2:4] == ["", sent.dialog_id]  # sip||<dialogId>
    assert len(acks) == 1


async def _uac(app: Srf, engine: FakeEngine, **kw) -> tuple[asyncio.Task, Sent]:
    start = len(engine.sent)
    task = asyncio.ensure_future(app.create_uac("sip:bob@127.0.0.1:5080", **kw))
    sent = await engine.wait_request(kw.get("method", "INVITE"), start)
    return task, sent


CONTACT_B = [("Contact", "<sip:bob@127.0.0.1:5080>"), ("Content-Type", "application/sdp")]


async def test_create_uac_success(app: Srf, engine: FakeEngine) -> None:
    provisional: list[int] = []
    requests: list[str] = []
    task, sent = await _uac(app, engine, local_sdp=SDP_A, calling_number="+15083084809",
                            calling_name="Dave H", headers={"Subject": "call"},
                            on_request=lambda r: requests.append(r.method),
                            on_provisional=lambda r: provisional.append(r.status))
    frm = sent.header("From") or ""
    assert frm.startswith('"Dave H" <sip:+15083084809@127.0.0.1:5060>')
    assert sent.header("Contact") == "<sip:+15083084809@127.0.0.1:5060>"
    assert sent.header("Subject") == "call"
    engine.deliver_response(sent, 180, "Ringing")
    engine.deliver_response(sent, 200, body=SDP_B, headers=CONTACT_B)
    dlg = await asyncio.wait_for(task, 3)
    assert isinstance(dlg, Dialog) and dlg.type == "uac"
    assert provisional == [180] and requests == ["INVITE"]
    assert dlg.id == sent.dialog_id and app.find_dialog_by_id(dlg.id) is dlg
    assert dlg.remote.sdp == SDP_B and dlg.local.sdp == SDP_A
    assert dlg.remote.uri == "sip:bob@127.0.0.1:5080"
    assert dlg.remote.contact == "<sip:bob@127.0.0.1:5080>"
    assert dlg.sip.remote_tag == "remote1"
    await engine.wait_request("ACK")


async def test_create_uac_failure_raises_sip_error(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, local_sdp=SDP_A)
    engine.deliver_response(sent, 486, "Busy Here")
    with pytest.raises(SipError) as ei:
        await asyncio.wait_for(task, 3)
    assert ei.value.status == 486 and ei.value.res is not None
    assert ei.value.res.status == 486
    await asyncio.sleep(0.02)
    assert not [s for s in engine.sent if s.method == "ACK"]  # engine ACKs non-2xx


async def test_create_uac_200_without_contact(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, local_sdp=SDP_A)
    engine.deliver_response(sent, 200, body=SDP_B)
    with pytest.raises(SipError) as ei:
        await asyncio.wait_for(task, 3)
    assert ei.value.status == 500


async def test_reliable_provisional_is_pracked(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, local_sdp=SDP_A, headers={"Supported": "100rel"})
    engine.deliver_response(sent, 183, "Session Progress",
                            headers=[("Require", "100rel"), ("RSeq", "1"), *CONTACT_B],
                            body=SDP_B)
    prack = await engine.wait_request("PRACK")
    assert prack.header("RAck") == f"1 {sent.header('CSeq')}"
    assert prack.msg.tokens[3] == sent.dialog_id
    engine.deliver_response(sent, 200, body=SDP_B, headers=CONTACT_B)
    assert isinstance(await asyncio.wait_for(task, 3), Dialog)


async def test_follow_redirects(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, local_sdp=SDP_A, follow_redirects=True)
    start = len(engine.sent)
    engine.deliver_response(sent, 302, "Moved Temporarily",
                            headers=[("Contact", "<sip:carol@127.0.0.1:5090>")])
    second = await engine.wait_request("INVITE", start)
    assert second.text.startswith("INVITE sip:carol@127.0.0.1:5090 SIP/2.0")
    engine.deliver_response(second, 200, body=SDP_B, headers=CONTACT_B)
    assert isinstance(await asyncio.wait_for(task, 3), Dialog)


async def test_keep_uri_on_redirect_uses_proxy(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, local_sdp=SDP_A, follow_redirects=True,
                            keep_uri_on_redirect=True)
    start = len(engine.sent)
    engine.deliver_response(sent, 302, headers=[("Contact", "<sip:127.0.0.1:5090>")])
    second = await engine.wait_request("INVITE", start)
    assert second.text.startswith("INVITE sip:bob@127.0.0.1:5080 SIP/2.0")
    assert second.msg.tokens[4] == "sip:127.0.0.1:5090"  # routeUrl token
    engine.deliver_response(second, 486)
    with pytest.raises(SipError):
        await asyncio.wait_for(task, 3)


async def test_redirect_not_followed_by_default(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, local_sdp=SDP_A)
    engine.deliver_response(sent, 302, headers=[("Contact", "<sip:127.0.0.1:5090>")])
    with pytest.raises(SipError) as ei:
        await asyncio.wait_for(task, 3)
    assert ei.value.status == 302


async def test_3pcc_default_acks_with_recvonly(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine)
    assert "Content-Type" not in sent.text and sent.text.endswith("\r\n\r\n")
    engine.deliver_response(sent, 200, body=SDP_B, headers=CONTACT_B)
    dlg = await asyncio.wait_for(task, 3)
    ack = await engine.wait_request("ACK")
    assert "a=recvonly" in ack.text and "a=sendrecv" not in ack.text
    assert isinstance(dlg, Dialog) and dlg.remote.sdp == SDP_B


async def test_3pcc_no_ack(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, no_ack=True)
    engine.deliver_response(sent, 200, body=SDP_B, headers=CONTACT_B)
    pending = await asyncio.wait_for(task, 3)
    assert isinstance(pending, PendingAck) and pending.sdp == SDP_B
    await asyncio.sleep(0.02)
    assert not [s for s in engine.sent if s.method == "ACK"]
    dlg = await pending.ack(SDP_A)
    ack = await engine.wait_request("ACK")
    assert ack.text.endswith(SDP_A)
    assert dlg.local.sdp == SDP_A and app.find_dialog_by_id(dlg.id) is dlg


async def test_cancel_via_request_gives_487(app: Srf, engine: FakeEngine) -> None:
    inv: asyncio.Future = asyncio.get_running_loop().create_future()
    task, sent = await _uac(app, engine, local_sdp=SDP_A, on_request=inv.set_result)
    engine.deliver_response(sent, 180, "Ringing")
    req = await inv
    cancel = await req.cancel(headers={"Reason": 'SIP;cause=200;text="hung up"'})
    c = await engine.wait_request("CANCEL")
    assert c.msg.tokens[2:4] == [sent.txn, ""]  # sip|<INVITE txn>|
    assert cancel.method == "CANCEL" and c.header("Reason") == 'SIP;cause=200;text="hung up"'
    engine.deliver_response(sent, 487, "Request Terminated")
    with pytest.raises(SipError) as ei:
        await asyncio.wait_for(task, 3)
    assert ei.value.status == 487


async def test_cancelling_the_task_sends_cancel(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, local_sdp=SDP_A)
    task.cancel()
    c = await engine.wait_request("CANCEL")
    assert c.msg.tokens[2] == sent.txn
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_update_during_setup_answered_with_offer(app: Srf, engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, local_sdp=SDP_A)
    engine.deliver_response(sent, 180, "Ringing")
    start = len(engine.sent)
    engine.deliver_request(invite_text(call_id=sent.header("Call-ID") or "", method="UPDATE",
                                       body=SDP_B, to_tag="x", cseq=5))
    answered = await engine.wait_response(200, start)
    assert answered.text.endswith(SDP_A)
    engine.deliver_response(sent, 200, body=SDP_B, headers=CONTACT_B)
    await asyncio.wait_for(task, 3)


async def test_uac_dialog_state_events(app: Srf, engine: FakeEngine) -> None:
    em = Emitter()
    states: list[str] = []
    em.on("state_change", lambda s: states.append(f"{s.state}/{s.direction}"))
    task, sent = await _uac(app, engine, local_sdp=SDP_A, dialog_state_emitter=em)
    engine.deliver_response(sent, 100, "Trying", to_tag=None)
    engine.deliver_response(sent, 180, "Ringing")
    engine.deliver_response(sent, 200, body=SDP_B, headers=CONTACT_B)
    dlg = await asyncio.wait_for(task, 3)
    engine.auto_respond["BYE"] = 200
    await dlg.destroy()
    assert states == ["trying/recipient", "proceeding/recipient", "early/recipient",
                      "confirmed/recipient", "terminated/recipient"]


async def _dialog(app: Srf, engine: FakeEngine) -> Dialog:
    task, sent = await _uac(app, engine, local_sdp=SDP_A)
    engine.deliver_response(sent, 200, body=SDP_B, headers=CONTACT_B)
    dlg = await asyncio.wait_for(task, 3)
    assert isinstance(dlg, Dialog)
    return dlg


async def test_destroy_sends_bye_and_waits(app: Srf, engine: FakeEngine) -> None:
    dlg = await _dialog(app, engine)
    start = len(engine.sent)
    task = asyncio.ensure_future(dlg.destroy(headers={"X-Reason": "done"}))
    bye = await engine.wait_request("BYE", start)
    assert bye.msg.tokens[2:4] == ["", dlg.id]
    assert bye.msg.sip is not None and bye.msg.sip.startswith("BYE sip:placeholder SIP/2.0")
    assert bye.header("X-Reason") == "done"
    await asyncio.sleep(0.02)
    assert not task.done()  # waits for the BYE response
    engine.deliver_response(bye, 200)
    sent_bye = await asyncio.wait_for(task, 3)
    assert sent_bye is not None and sent_bye.method == "BYE"
    assert not dlg.connected and app.find_dialog_by_id(dlg.id) is None
    assert await dlg.destroy() is None  # idempotent


async def test_dialog_request_and_shortcuts(app: Srf, engine: FakeEngine) -> None:
    dlg = await _dialog(app, engine)
    engine.auto_respond.update({"INFO": 200, "MESSAGE": 202})
    res = await dlg.request("info", headers={"Content-Type": "application/x"}, body="x=1")
    assert res.status == 200
    res = await dlg.info(body="y", headers={"Content-Type": "text/plain"})
    assert res.status == 200
    res = await dlg.message(body="hi", headers={"Content-Type": "text/plain"})
    assert res.status == 202
    with pytest.raises(ValueError):
        await dlg.request("not a method")
    with pytest.raises(ValueError):
        await dlg.request("ACK")


async def test_modify_serialised_and_failure_does_not_block(app: Srf,
                                                            engine: FakeEngine) -> None:
    dlg = await _dialog(app, engine)
    start = len(engine.sent)
    t1 = asyncio.ensure_future(dlg.modify(SDP_A.replace("6000", "6001")))
    t2 = asyncio.ensure_future(dlg.modify(SDP_A.replace("6000", "6002")))
    t3 = asyncio.ensure_future(dlg.modify(SDP_A.replace("6000", "6003")))
    first = await engine.wait_request("INVITE", start)
    await asyncio.sleep(0.05)
    assert len([s for s in engine.sent[start:] if s.method == "INVITE"]) == 1  # one at a time
    engine.deliver_response(first, 491, "Request Pending")
    with pytest.raises(SipError):
        await asyncio.wait_for(t1, 3)
    second = await engine.next_sent(start, lambda s: s.method == "INVITE" and s is not first)
    assert "6002" in second.text
    engine.deliver_response(second, 200, body=SDP_B.replace("7000", "7002"), headers=CONTACT_B)
    assert "7002" in await asyncio.wait_for(t2, 3)
    third = await engine.next_sent(start, lambda s: s.method == "INVITE" and "6003" in s.text)
    engine.deliver_response(third, 200, body=SDP_B, headers=CONTACT_B)
    await asyncio.wait_for(t3, 3)
    await engine.wait_until(lambda: len([s for s in engine.sent[start:]
                                         if s.method == "ACK"]) == 2)
    assert dlg.local.sdp == SDP_A.replace("6000", "6003")


async def test_modify_hold_and_unhold(app: Srf, engine: FakeEngine) -> None:
    dlg = await _dialog(app, engine)
    with pytest.raises(DialogError):
        await dlg.modify("unhold")
    engine.auto_respond["INVITE"] = 200
    # auto-response lacks a body: fine for a re-INVITE
    await dlg.modify("hold")
    reinv = [s for s in engine.sent if s.method == "INVITE"][-1]
    assert "a=inactive" in reinv.text and dlg.on_hold
    assert "o=alice 100 2" in reinv.text  # version bumped
    await dlg.modify("unhold")
    reinv = [s for s in engine.sent if s.method == "INVITE"][-1]
    assert "a=sendrecv" in reinv.text and not dlg.on_hold
    assert "o=alice 100 3" in reinv.text


async def test_modify_on_destroyed_dialog(app: Srf, engine: FakeEngine) -> None:
    dlg = await _dialog(app, engine)
    engine.auto_respond["BYE"] = 200
    await dlg.destroy()
    with pytest.raises(DialogError):
        await dlg.modify(SDP_A)


async def test_subscribe_uac_dialog_ends_on_terminated_notify(app: Srf,
                                                              engine: FakeEngine) -> None:
    task, sent = await _uac(app, engine, method="SUBSCRIBE",
                            headers={"Event": "presence", "Expires": "60"})
    engine.deliver_response(sent, 202, "Accepted", headers=[("Contact", "<sip:res@127.0.0.1>")])
    dlg = await asyncio.wait_for(task, 3)
    assert isinstance(dlg, Dialog) and dlg.dialog_type == "SUBSCRIBE"
    await asyncio.sleep(0.02)
    assert not [s for s in engine.sent if s.method == "ACK"]
    destroyed: list[str] = []
    dlg.on("destroy", lambda req, reason: destroyed.append(req.method))
    notify = (
        "NOTIFY sip:127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-n1\r\n"
        f"From: <sip:bob@127.0.0.1:5080>;tag=remote1\r\nTo: {sent.header('From')}\r\n"
        f"Call-ID: {sent.header('Call-ID')}\r\nCSeq: 1 NOTIFY\r\nEvent: presence\r\n"
        "Subscription-State: terminated;reason=timeout\r\nContent-Length: 0\r\n\r\n"
    )
    start = len(engine.sent)
    engine.deliver_request(notify, dialog_id=dlg.id)
    assert (await engine.wait_response(200, start)).method == "NOTIFY"
    await engine.wait_until(lambda: destroyed)
    assert destroyed == ["NOTIFY"] and not dlg.connected


def test_create_uac_argument_validation() -> None:
    srf = Srf()

    async def go(**kw):
        await srf.create_uac("sip:x@127.0.0.1", **kw)

    with pytest.raises(ValueError):
        asyncio.run(go(method="OPTIONS"))
    with pytest.raises(TypeError):
        asyncio.run(go(calling_number=5083084809))
    with pytest.raises(TypeError):
        asyncio.run(go(on_request="nope"))
    with pytest.raises(TypeError):
        asyncio.run(go(auth=["u", "p"]))


def test_normalize_uri() -> None:
    from drachtio.srf.uac import normalize_uri

    assert normalize_uri("127.0.0.1:5080") == "sip:127.0.0.1:5080"
    assert normalize_uri("10.0.0.1", "1234") == "sip:1234@10.0.0.1"
    assert normalize_uri("bob@example.com") == "sip:bob@example.com"
    assert normalize_uri("sips:bob@example.com") == "sips:bob@example.com"
    assert normalize_uri("tel:+15551234") == "tel:+15551234"
    with pytest.raises(ValueError):
        normalize_uri("")


async def test_request_right_after_final_reaches_new_dialog(app: Srf,
                                                            engine: FakeEngine) -> None:
    """A NOTIFY sent right behind the 202 (same read) must find the dialog, and wait until
    the application holds it to be dispatched."""
    got: list[str] = []

    async def subscriber() -> Dialog:
        dlg = await app.create_uac("sip:bob@127.0.0.1:5080", method="SUBSCRIBE",
                                   headers={"Event": "presence"})
        # attached right after the await, as an application does
        dlg.on("notify", lambda req, res: (got.append(req.method), res.send(200)))
        return dlg

    start = len(engine.sent)
    task = asyncio.ensure_future(subscriber())
    sent = await engine.wait_request("SUBSCRIBE", start)
    notify = (
        "NOTIFY sip:127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-n9\r\n"
        f"From: <sip:bob@127.0.0.1:5080>;tag=remote1\r\nTo: {sent.header('From')}\r\n"
        f"Call-ID: {sent.header('Call-ID')}\r\nCSeq: 1 NOTIFY\r\nEvent: presence\r\n"
        "Subscription-State: active\r\nContent-Length: 0\r\n\r\n"
    )
    start = len(engine.sent)
    engine.deliver_response(sent, 202, "Accepted", headers=[("Contact", "<sip:r@127.0.0.1>")])
    engine.deliver_request(notify, dialog_id=sent.dialog_id)
    await asyncio.wait_for(task, 3)
    answer = await engine.wait_response(None, start)
    assert answer.status == 200 and got == ["NOTIFY"]


async def test_ack_right_after_200_reaches_uas_dialog(app: Srf, engine: FakeEngine) -> None:
    from srf_fake_engine import invite_text

    def on_command(conn, msg) -> bool:
        # answer the app's 200 and send the ACK in the same write
        if msg.tokens[1] == "sip" and (msg.sip or "").startswith("SIP/2.0 200"):
            engine._echo(conn, msg)
            engine.deliver_request(invite_text(method="ACK", to_tag="x", body=SDP_A),
                                   dialog_id="call-1;from-tag=ptag1")
            return True
        return False

    engine.on_command = on_command
    got: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()
    acks: list[str] = []

    @app.invite
    async def on_invite(req, res):
        dlg = await app.create_uas(req, res, local_sdp=SDP_B)
        dlg.on("ack", lambda ack: acks.append(ack.body))
        got.set_result(dlg)

    engine.deliver_request(invite_text())  # late offer: the ACK carries the answer
    dlg = await asyncio.wait_for(got, 3)
    await engine.wait_until(lambda: acks)
    assert acks == [SDP_A] and dlg.remote.sdp == SDP_A


async def test_modify_late_offer_no_ack(app: Srf, engine: FakeEngine) -> None:
    from drachtio.srf import ModifyOffer

    dlg = await _dialog(app, engine)
    start = len(engine.sent)
    task = asyncio.ensure_future(dlg.modify(no_ack=True))
    reinv = await engine.wait_request("INVITE", start)
    assert reinv.text.endswith("\r\n\r\n")  # no offer
    engine.deliver_response(reinv, 200, body=SDP_B, headers=CONTACT_B)
    offer = await asyncio.wait_for(task, 3)
    assert isinstance(offer, ModifyOffer) and offer.sdp == SDP_B
    # the re-INVITE queue stays taken until the ACK is sent
    nxt = asyncio.ensure_future(dlg.modify(SDP_A))
    await asyncio.sleep(0.05)
    assert len([s for s in engine.sent[start:] if s.method == "INVITE"]) == 1
    offer.ack(SDP_A.replace("6000", "6100"))
    assert "6100" in dlg.local.sdp
    # (the dialog's first ACK may reach the engine after ``start``: look for this one)
    ack = await engine.next_sent(start, lambda s: s.method == "ACK" and "m=audio" in s.text)
    assert "6100" in ack.text
    second = await engine.next_sent(start, lambda s: s.method == "INVITE" and s is not reinv)
    engine.deliver_response(second, 200, body=SDP_B, headers=CONTACT_B)
    await asyncio.wait_for(nxt, 3)


async def test_request_uri_and_proxy_get_a_scheme(app: Srf, engine: FakeEngine) -> None:
    start = len(engine.sent)
    await app.request("127.0.0.1:5080", method="options", proxy="10.0.0.1:5060")
    sent = await engine.wait_request("OPTIONS", start)
    assert (sent.msg.sip or "").startswith("OPTIONS sip:127.0.0.1:5080 SIP/2.0\r\n")
    assert sent.msg.tokens[1:] == ["sip", "", "", "sip:10.0.0.1:5060"]


async def test_cancelled_task_consumes_a_refused_cancel(app: Srf, engine: FakeEngine) -> None:
    """The engine refuses the CANCEL (the INVITE just completed): the cancelled task has
    awaited that answer, nothing is left behind as an unretrieved future exception."""
    import gc

    errors: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(str(ctx.get("message"))))
    try:
        task, sent = await _uac(app, engine, local_sdp=SDP_A)
        engine.nok_next = "unknown transaction"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the cancelled task waited for the engine's answer to its CANCEL (so the future
        # was consumed there, not left to a callback a closing loop may never run)
        cancels = [cmd for _conn, cmd in engine.commands if (cmd.sip or "").startswith("CANCEL")]
        assert len(cancels) == 1 and cancels[0].tokens[2] == sent.txn
        del task
        gc.collect()
        await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(None)
    assert not [e for e in errors if "never retrieved" in e], errors


async def test_task_cancelled_before_the_echo_still_cancels(app: Srf,
                                                             engine: FakeEngine) -> None:
    """Cancelled while the INVITE is on its way to the engine: the CANCEL follows the echo."""
    held: list = []

    def hold(conn, cmd) -> bool:
        if cmd.sip and cmd.sip.startswith("INVITE") and not held:
            held.append((conn, cmd))
            return True
        return False

    engine.on_command = hold
    task = asyncio.ensure_future(app.create_uac("sip:bob@127.0.0.1:5080", local_sdp=SDP_A))
    await engine.wait_until(lambda: held)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    engine.on_command = None
    conn, cmd = held[0]
    engine._echo(conn, cmd)  # the engine sends the INVITE after all
    c = await engine.wait_request("CANCEL")
    invite = next(s for s in engine.sent if s.method == "INVITE")
    assert c.msg.tokens[2] == invite.txn
