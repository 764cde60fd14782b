"""create_b2bua against the fake engine, at the control-message level.

A's INVITE is pushed to the app as the engine would; the B leg is the INVITE the app sends;
B's responses are pushed back; what the app sends towards A (relayed responses, the 200)
and towards B (ACK, PRACK, CANCEL, BYE) is read from the fake engine's log.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from srf_fake_engine import SDP_A, SDP_B, FakeEngine, Sent, invite_text, split_sip

from drachtio.srf import Dialog, Emitter, EngineError, SipError, Srf
from drachtio.srf.b2bua import B2BUA, copy_headers, create_b2bua, parse_copy_spec

B_URI = "sip:bob@127.0.0.1:5090"
CONTACT_B = [("Contact", "<sip:bob@127.0.0.1:5090>"), ("Content-Type", "application/sdp")]
SDP_C = SDP_B.replace("7000", "7002").replace("bob 200 1", "bob 200 2")


class Bridge:
    """One bridged call: A's INVITE delivered, the app running create_b2bua in its handler."""

    def __init__(self, app: Srf, engine: FakeEngine, uri: str = B_URI, **kw: Any) -> None:
        self.app = app
        self.engine = engine
        self.fut: asyncio.Future[B2BUA] = asyncio.get_running_loop().create_future()
        # calls still ringing when a test ends fail at teardown: nobody awaits that
        self.fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.req: Any = None
        self.res: Any = None
        self.task: asyncio.Task[Any] | None = None

        @app.invite
        async def on_invite(req, res):
            self.req, self.res = req, res
            self.task = asyncio.current_task()
            try:
                out = await create_b2bua(app, req, res, uri, **kw)
            except BaseException as exc:
                if not self.fut.done():
                    self.fut.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return  # the application handled it (no default answer from the framework)
            self.fut.set_result(out)

    async def start(self, *, body: str = SDP_A, call_id: str = "call-1", contact: bool = True,
                    extra: list[tuple[str, str]] | None = None) -> Sent:
        """Deliver A's INVITE; returns the B-leg INVITE the app sent."""
        self.call_id = call_id
        start = len(self.engine.sent)
        self.a_txn = self.engine.deliver_request(
            invite_text(call_id, body=body, contact=contact, extra=extra))
        self.b = await self.engine.wait_request("INVITE", start)
        return self.b

    async def result(self) -> B2BUA:
        return await asyncio.wait_for(self.fut, 3)

    async def a_response(self, status: int | None = None, start: int = 0) -> Sent:
        """The next response the app sent on A's transaction."""
        return await self.engine.next_sent(
            start, lambda s: s.kind == "response" and s.txn == self.a_txn
            and (status is None or s.status == status))

    def a_ack(self, a200: Sent, body: str = "") -> None:
        to_tag = (a200.header("To") or "").split(";tag=")[1]
        self.engine.deliver_request(
            invite_text(self.call_id, method="ACK", to_tag=to_tag, body=body),
            dialog_id=a200.dialog_id)

    def answer_b(self, status: int = 200, body: str = SDP_B,
                 headers: list[tuple[str, str]] | None = None) -> None:
        self.engine.deliver_response(self.b, status, body=body,
                                     headers=CONTACT_B + (headers or []))


def a_responses(engine: FakeEngine, txn: str) -> list[Sent]:
    return [s for s in engine.sent if s.kind == "response" and s.txn == txn]


# -- the basic call -----------------------------------------------------------------------------

async def test_bridges_a_call_and_links_the_legs(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, proxy_request_headers=["Subject"], headers={"X-B2B": "yes"})
    b = await call.start(extra=[("Subject", "hello"), ("X-Not-Copied", "1")])
    # B's INVITE: A's offer, the copied Subject, the app's header, A's caller id
    assert b.text.startswith(f"INVITE {B_URI} SIP/2.0")
    assert b.text.endswith(SDP_A)
    assert b.header("Subject") == "hello" and b.header("X-B2B") == "yes"
    assert b.header("X-Not-Copied") is None
    assert (b.header("From") or "").startswith('"Alice" <sip:+15083084809@127.0.0.1:5060>')
    assert b.header("Call-ID") != "call-1"
    engine.deliver_response(b, 180, "Ringing")
    ringing = await call.a_response(180)
    assert ringing.text.startswith("SIP/2.0 180 Ringing")
    start = len(engine.sent)
    call.answer_b(200)
    uas, uac = await call.result()
    ack_b = await engine.wait_request("ACK", start)
    assert ack_b.msg.tokens[3] == b.dialog_id
    ok = await call.a_response(200)
    assert ok.text.endswith(SDP_B) and ok.header("Content-Type") == "application/sdp"
    assert isinstance(uas, Dialog) and isinstance(uac, Dialog)
    assert uas.type == "uas" and uac.type == "uac"
    assert uas.other is uac and uac.other is uas
    assert uas.id == "call-1;from-tag=ptag1" and uac.id == b.dialog_id
    assert app.find_dialog_by_id(uas.id) is uas and app.find_dialog_by_id(uac.id) is uac
    assert uas.local.sdp == SDP_B and uac.local.sdp == SDP_A
    # the ACK from A is consumed by the B2BUA (no handler needed)
    call.a_ack(ok)
    await asyncio.sleep(0.02)


async def test_result_is_a_named_tuple(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    await call.start()
    call.answer_b(200)
    out = await call.result()
    assert out.uas is out[0] and out.uac is out[1]


async def test_caller_hangup_and_callee_hangup_events(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    b = await call.start()
    call.answer_b(200)
    uas, uac = await call.result()
    ok = await call.a_response(200)
    call.a_ack(ok)
    engine.auto_respond["BYE"] = 200
    gone: list[str] = []
    uas.on("destroy", lambda *_: gone.append("uas"))
    uac.on("destroy", lambda *_: gone.append("uac"))
    start = len(engine.sent)
    engine.deliver_request(invite_text("call-1", method="BYE", to_tag="x", cseq=2),
                           dialog_id=uas.id)
    await engine.wait_response(200, start)
    assert gone == ["uas"] and not uas.connected and uac.connected
    await uac.destroy()
    bye = await engine.wait_request("BYE", start)
    assert bye.msg.tokens[3] == b.dialog_id


# -- header copying -------------------------------------------------------------------------------

async def test_proxy_all_headers_with_exclusions(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, proxy_request_headers=["all", "-X-Secret", "-user-agent"],
                  proxy_response_headers=["all", "-Server"])
    b = await call.start(extra=[("X-Secret", "pw"), ("X-Keep", "1"), ("User-Agent", "phone"),
                                ("Subject", "s"), ("Supported", "timer")])
    names = [n.lower() for n, _ in split_sip(b.text)[1]]
    assert b.header("X-Keep") == "1" and b.header("Subject") == "s"
    assert b.header("Supported") == "timer"
    assert b.header("X-Secret") is None and b.header("User-Agent") is None
    assert b.header("Max-Forwards") == "69"  # copied, decremented
    assert names.count("via") == 1 and names.count("from") == 1 and names.count("to") == 1
    assert "ptag1" not in (b.header("From") or "")
    call.answer_b(200, headers=[("X-Answer", "42"), ("Server", "sipp")])
    await call.result()
    ok = await call.a_response(200)
    assert ok.header("X-Answer") == "42" and ok.header("Server") is None
    assert (ok.header("Contact") or "") != "<sip:bob@127.0.0.1:5090>"


async def test_named_headers_only(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, proxy_request_headers=["x-keep"],
                  proxy_response_headers=["X-Answer"])
    b = await call.start(extra=[("X-Keep", "1"), ("X-Drop", "2")])
    assert b.header("X-Keep") == "1" and b.header("X-Drop") is None
    assert b.header("Max-Forwards") is None
    engine.deliver_response(b, 183, "Session Progress", body=SDP_B,
                            headers=[("X-Answer", "early"), ("X-Other", "o"), *CONTACT_B])
    early = await call.a_response(183)
    assert early.header("X-Answer") == "early" and early.header("X-Other") is None
    assert early.text.endswith(SDP_B)


async def test_app_headers_override_copied_ones(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, proxy_request_headers=["all"],
                  headers={"Subject": "mine", "From": "<sip:b2b@localhost>"})
    b = await call.start(extra=[("Subject", "theirs")])
    assert b.header("Subject") == "mine"
    assert (b.header("From") or "").startswith("<sip:b2b@127.0.0.1:5060>")


def test_copy_spec_parsing_and_copy() -> None:
    spec = parse_copy_spec(["all", "-X-Secret"], "x")
    assert spec is not None and spec.all and "x-secret" in spec.exclude
    with pytest.raises(TypeError):
        parse_copy_spec("all", "proxy_request_headers")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_copy_spec([1], "proxy_request_headers")  # type: ignore[list-item]
    with pytest.raises(ValueError, match="need 'all'"):
        parse_copy_spec(["-X-Secret"], "proxy_request_headers")
    with pytest.raises(ValueError, match="invalid header name"):
        parse_copy_spec(["Bad Name"], "proxy_request_headers")
    with pytest.raises(ValueError, match="cannot be copied"):
        parse_copy_spec(["Call-ID"], "proxy_request_headers")
    assert parse_copy_spec(None, "x") is None
    assert copy_headers(None, spec) == []


# -- responses to A -------------------------------------------------------------------------------

async def test_response_headers_dict_and_to_tag(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, response_headers={"X-Color": "green", "To": "<sip:x>;tag=mytag"})
    b = await call.start()
    engine.deliver_response(b, 180, "Ringing")
    ringing = await call.a_response(180)
    assert ringing.header("X-Color") == "green"
    call.answer_b(200)
    await call.result()
    ok = await call.a_response(200)
    assert ok.header("X-Color") == "green"
    assert (ok.header("To") or "").endswith(";tag=mytag")


async def test_response_headers_async_function(app: Srf, engine: FakeEngine) -> None:
    seen: list[tuple[int, dict[str, str]]] = []

    async def hdrs(res_b, so_far):
        seen.append((res_b.status, so_far))
        await asyncio.sleep(0)
        return {"X-Status": str(res_b.status)}

    call = Bridge(app, engine, response_headers=hdrs, proxy_response_headers=["X-Answer"])
    await call.start()
    call.answer_b(200, headers=[("X-Answer", "a")])
    await call.result()
    ok = await call.a_response(200)
    assert ok.header("X-Status") == "200"
    assert seen == [(200, {"X-Answer": "a"})]


async def test_provisional_relay_can_be_turned_off(app: Srf, engine: FakeEngine) -> None:
    got: list[int] = []
    call = Bridge(app, engine, pass_provisional_responses=False,
                  on_provisional=lambda r: got.append(r.status))
    b = await call.start()
    engine.deliver_response(b, 180, "Ringing")
    engine.deliver_response(b, 100, "Trying")
    call.answer_b(200)
    await call.result()
    await call.a_response(200)
    assert [s.status for s in a_responses(engine, call.a_txn)] == [200]
    assert got == [180, 100]


async def test_100_is_never_relayed(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    b = await call.start()
    engine.deliver_response(b, 100, "Trying")
    engine.deliver_response(b, 183, "Session Progress", body=SDP_B, headers=CONTACT_B)
    call.answer_b(200)
    await call.result()
    await call.a_response(200)
    assert [s.status for s in a_responses(engine, call.a_txn)] == [183, 200]


# -- SDP ----------------------------------------------------------------------------------------

async def test_local_sdp_strings(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, local_sdp_a=SDP_C, local_sdp_b=SDP_C.replace("7002", "7004"))
    b = await call.start()
    assert "m=audio 7004" in b.text and SDP_A not in b.text
    call.answer_b(200)
    uas, _uac = await call.result()
    ok = await call.a_response(200)
    assert ok.text.endswith(SDP_C) and uas.local.sdp == SDP_C


async def test_local_sdp_a_function_runs_once_per_sdp(app: Srf, engine: FakeEngine) -> None:
    calls: list[str] = []

    async def translate(sdp: str, res: Any) -> str:
        calls.append(sdp)
        await asyncio.sleep(0.01)
        return sdp.replace("7000", "9000")

    call = Bridge(app, engine, local_sdp_a=translate)
    b = await call.start()
    engine.deliver_response(b, 183, "Session Progress", body=SDP_B, headers=CONTACT_B)
    call.answer_b(200)  # same SDP as the 183: translated once, from the cache
    await call.result()
    early = await call.a_response(183)
    ok = await call.a_response(200)
    assert "m=audio 9000" in early.text and "m=audio 9000" in ok.text
    assert calls == [SDP_B]


async def test_local_sdp_a_plain_function_one_argument(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, local_sdp_a=lambda sdp: sdp.replace("7000", "9100"))
    await call.start()
    call.answer_b(200)
    await call.result()
    assert "m=audio 9100" in (await call.a_response(200)).text


async def test_local_sdp_b_function_transforms_a_offer(app: Srf, engine: FakeEngine) -> None:
    seen: list[str] = []

    async def to_b(sdp: str) -> str:
        seen.append(sdp)
        return sdp.replace("6000", "6100")

    call = Bridge(app, engine, local_sdp_b=to_b)
    b = await call.start()
    assert "m=audio 6100" in b.text and seen == [SDP_A]


async def test_late_offer_3pcc(app: Srf, engine: FakeEngine) -> None:
    acked: list[str] = []

    def to_b(answer: str) -> str:
        acked.append(answer)
        return answer.replace("6000", "6200")

    call = Bridge(app, engine, local_sdp_b=to_b)
    b = await call.start(body="")
    assert b.text.endswith("\r\n\r\n") and b.header("Content-Type") is None
    start = len(engine.sent)
    call.answer_b(200, body=SDP_B)  # B offers in its 200
    ok = await call.a_response(200)
    assert ok.text.endswith(SDP_B)  # ...which A gets as its offer
    await asyncio.sleep(0.02)
    assert not [s for s in engine.sent[start:] if s.method == "ACK"]  # B waits for A
    assert not call.fut.done()
    call.a_ack(ok, body=SDP_A)  # A answers in its ACK
    uas, uac = await call.result()
    ack_b = await engine.wait_request("ACK", start)
    assert "m=audio 6200" in ack_b.text and acked == [SDP_A]
    assert uac.local.sdp.endswith(SDP_A.replace("6000", "6200")[-20:])
    assert uas.remote.sdp == SDP_A and uas.other is uac


async def test_3pcc_ack_without_sdp_tears_down(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    await call.start(body="")
    start = len(engine.sent)
    call.answer_b(200, body=SDP_B)
    ok = await call.a_response(200)
    call.a_ack(ok, body="")
    with pytest.raises(SipError) as ei:
        await call.result()
    assert ei.value.status == 488
    byes = []
    for _ in range(2):
        byes.append(await engine.next_sent(
            start, lambda s: s.method == "BYE" and s not in byes))
    assert {s.msg.tokens[3] for s in byes} == {ok.dialog_id, call.b.dialog_id}


async def test_3pcc_caller_gone_before_ack(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    await call.start(body="")
    start = len(engine.sent)
    call.answer_b(200, body=SDP_B)
    ok = await call.a_response(200)
    # the engine gave up waiting for A's ACK and hung A up (unsolicited BYE)
    engine.deliver_request(
        invite_text("call-1", method="BYE", to_tag="x", cseq=2,
                    extra=[("Reason", 'SIP ;cause=200 ;text="ACK timeout"')]),
        dialog_id=ok.dialog_id, txn="unsolicited", source="application")
    with pytest.raises(SipError) as ei:
        await call.result()
    assert ei.value.status == 487
    ack = await engine.wait_request("ACK", start)  # B's offer is ACKed, then B hung up
    bye = await engine.wait_request("BYE", start)
    assert ack.msg.tokens[3] == bye.msg.tokens[3] == call.b.dialog_id


# -- failures ---------------------------------------------------------------------------------

async def test_failure_is_passed_to_a(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, proxy_response_headers=["X-Why"],
                  response_headers={"X-B2B": "1"})
    b = await call.start()
    engine.deliver_response(b, 404, "Nobody Here", headers=[("X-Why", "gone")])
    with pytest.raises(SipError) as ei:
        await call.result()
    assert ei.value.status == 404 and ei.value.res is not None and ei.value.res.status == 404
    failed = await call.a_response(404)
    assert failed.text.startswith("SIP/2.0 404 Nobody Here")
    assert failed.header("X-Why") == "gone" and failed.header("X-B2B") == "1"
    assert call.res.finished


async def test_pass_failure_false_leaves_a_to_the_app(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine, pass_failure=False)
    b = await call.start()
    engine.deliver_response(b, 486, "Busy Here")
    with pytest.raises(SipError):
        await call.result()
    await asyncio.sleep(0.02)
    assert len(a_responses(engine, call.a_txn)) == 0 and not call.res.finished
    call.res.send(480)
    await call.a_response(480)


async def test_b_refused_by_engine_gives_500(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    engine.nok_next = "can not send request to myself"
    engine.deliver_request(invite_text("call-1", body=SDP_A))
    with pytest.raises(EngineError, match="myself"):
        await call.result()
    failed = await engine.wait_response(500)
    assert failed.txn and call.res.finished


async def test_b_200_without_contact(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    b = await call.start()
    engine.deliver_response(b, 200, body=SDP_B)
    with pytest.raises(SipError) as ei:
        await call.result()
    assert ei.value.status == 500
    await call.a_response(500)


async def test_a_without_contact_is_rejected_before_b(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    engine.deliver_request(invite_text("call-1", body=SDP_A, contact=False))
    with pytest.raises(SipError) as ei:
        await call.result()
    assert ei.value.status == 400
    await engine.wait_response(400)
    assert not [s for s in engine.sent if s.kind == "request"]


def _no_media_server(sdp: str) -> str:
    raise RuntimeError("no media server")


def _app_bug(uac: Dialog) -> None:
    raise ValueError("app bug")


@pytest.mark.parametrize(("option", "hook", "error", "message"), [
    ("local_sdp_a", _no_media_server, RuntimeError, "no media server"),
    ("on_finalized_uac", _app_bug, ValueError, "app bug"),
])
async def test_failing_hook_after_b_answers_tears_b_down(
        app: Srf, engine: FakeEngine, option: str, hook: Any, error: type[Exception],
        message: str) -> None:
    call = Bridge(app, engine, **{option: hook})
    b = await call.start()
    start = len(engine.sent)
    call.answer_b(200)
    with pytest.raises(error, match=message):
        await call.result()
    bye = await engine.wait_request("BYE", start)
    assert bye.msg.tokens[3] == b.dialog_id
    await call.a_response(500)
    assert app.find_dialog_by_id(b.dialog_id) is None


async def test_cancelling_the_task_cancels_b_and_answers_a(app: Srf, engine: FakeEngine
                                                          ) -> None:
    call = Bridge(app, engine)
    b = await call.start()
    engine.deliver_response(b, 180, "Ringing")
    await call.a_response(180)
    assert call.task is not None
    call.task.cancel()
    cancel = await engine.wait_request("CANCEL")
    assert cancel.msg.tokens[2] == b.txn
    failed = await call.a_response(480)
    assert failed.status == 480
    with pytest.raises(asyncio.CancelledError):
        await call.fut


# -- CANCEL ---------------------------------------------------------------------------------

def _cancel_text(reason: str | None = 'SIP ;cause=16 ;text="Normal call clearing"') -> str:
    extra = [("Reason", reason), ("X-Reason", "caller hung up")] if reason else []
    return invite_text("call-1", method="CANCEL", extra=extra)


async def test_cancel_from_a_propagates_to_b_with_reason(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    b = await call.start()
    engine.deliver_response(b, 180, "Ringing")
    await call.a_response(180)
    engine.deliver_request(_cancel_text(), txn=call.a_txn)
    cancel = await engine.wait_request("CANCEL")
    assert cancel.msg.tokens[2:4] == [b.txn, ""]
    assert cancel.header("Reason") == 'SIP ;cause=16 ;text="Normal call clearing"'
    assert cancel.header("X-Reason") == "caller hung up"
    engine.deliver_response(b, 487, "Request Terminated")
    with pytest.raises(SipError) as ei:
        await call.result()
    assert ei.value.status == 487
    await asyncio.sleep(0.02)
    # the engine answered A's CANCEL and sent the 487: the app sends nothing more to A
    assert [s.status for s in a_responses(engine, call.a_txn)] == [180]


async def test_cancel_before_b_invite_is_echoed(app: Srf, engine: FakeEngine) -> None:
    held: list[Any] = []

    def hold_invite(conn, msg) -> bool:
        if msg.tokens[1] == "sip" and (msg.sip or "").startswith("INVITE") and not held:
            held.append((conn, msg))
            return True
        return False

    engine.on_command = hold_invite
    call = Bridge(app, engine)
    a_txn = engine.deliver_request(invite_text("call-1", body=SDP_A))
    await engine.wait_until(lambda: held)
    engine.deliver_request(_cancel_text(None), txn=a_txn)
    await engine.wait_until(lambda: call.req is not None and call.req.canceled)
    engine.on_command = None
    engine._echo(*held[0])  # now the INVITE is "sent": the B2BUA CANCELs it at once
    b = await engine.wait_request("INVITE")
    cancel = await engine.wait_request("CANCEL")
    assert cancel.msg.tokens[2] == b.txn
    engine.deliver_response(b, 487, "Request Terminated")
    with pytest.raises(SipError) as ei:
        await call.result()
    assert ei.value.status == 487


async def test_cancel_crossing_b_200_hangs_up_b(app: Srf, engine: FakeEngine) -> None:
    gate = asyncio.Event()

    async def finalized(uac: Dialog) -> None:
        await gate.wait()

    call = Bridge(app, engine, on_finalized_uac=finalized)
    b = await call.start()
    start = len(engine.sent)
    call.answer_b(200)
    await engine.wait_request("ACK", start)
    engine.deliver_request(_cancel_text(), txn=call.a_txn)
    await engine.wait_until(lambda: call.req.canceled)
    gate.set()
    with pytest.raises(SipError) as ei:
        await call.result()
    assert ei.value.status == 487
    assert (await engine.wait_request("BYE", start)).msg.tokens[3] == b.dialog_id
    assert not a_responses(engine, call.a_txn)


async def test_a_already_cancelled(app: Srf, engine: FakeEngine) -> None:
    got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @app.invite
    async def on_invite(req, res):
        req.canceled = True  # as if the CANCEL was seen before the handler ran
        try:
            await create_b2bua(app, req, res, B_URI)
        except SipError as exc:
            got.set_result(exc.status)

    engine.deliver_request(invite_text("call-1", body=SDP_A))
    assert await asyncio.wait_for(got, 3) == 487
    assert not [s for s in engine.sent if s.kind == "request"]


# -- UPDATE and PRACK during setup -------------------------------------------------------------------

async def test_update_from_a_during_setup(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    b = await call.start()
    start = len(engine.sent)
    upd = invite_text("call-1", method="UPDATE", body=SDP_A, to_tag="x", cseq=2)
    txn = engine.deliver_request(upd)
    refused = await engine.next_sent(start, lambda s: s.txn == txn)
    assert refused.status == 500 and refused.header("Retry-After") == "5"  # no SDP yet
    engine.deliver_response(b, 183, "Session Progress", body=SDP_B, headers=CONTACT_B)
    await call.a_response(183)
    start = len(engine.sent)
    txn = engine.deliver_request(upd.replace("CSeq: 2", "CSeq: 3"))
    answered = await engine.next_sent(start, lambda s: s.txn == txn)
    assert answered.status == 200 and answered.text.endswith(SDP_B)
    txn = engine.deliver_request(invite_text("call-1", method="UPDATE", to_tag="x", cseq=4))
    plain = await engine.next_sent(start, lambda s: s.txn == txn)
    assert plain.status == 200 and plain.text.endswith("\r\n\r\n")


def _reliable_echo(engine: FakeEngine):
    """The fake echoes responses as given; the real engine adds RSeq to a reliable 1xx."""

    def hook(conn, msg) -> bool:
        sip = msg.sip or ""
        if msg.tokens[1] == "sip" and sip.startswith("SIP/2.0 1") and "100rel" in sip:
            head, sep, body = sip.partition("\r\n\r\n")
            msg.sip = head + "\r\nRSeq: 1" + sep + body
            engine._echo(conn, msg)
            return True
        return False

    return hook


async def test_reliable_18x_relay_prack_on_both_legs(app: Srf, engine: FakeEngine) -> None:
    engine.on_command = _reliable_echo(engine)
    call = Bridge(app, engine, proxy_request_headers=["all"], proxy_response_headers=["all"])
    b = await call.start(extra=[("Supported", "100rel")])
    assert b.header("Supported") == "100rel"
    start = len(engine.sent)
    engine.deliver_response(b, 183, "Session Progress", body=SDP_B,
                            headers=[("Require", "100rel"), ("RSeq", "7"), *CONTACT_B])
    prack_b = await engine.wait_request("PRACK", start)  # B's 183 PRACKed at once
    assert prack_b.header("RAck") == f"7 {b.header('CSeq')}"
    early = await call.a_response(183)  # relayed reliably to A
    assert early.header("Require") == "100rel" and early.text.endswith(SDP_B)
    call.answer_b(200)
    await asyncio.sleep(0.1)
    assert not call.fut.done()  # A's 200 waits for A's PRACK
    prack_txn = engine.deliver_request(
        invite_text("call-1", method="PRACK", to_tag="x", cseq=2, extra=[("RAck", "1 1 INVITE")]),
        dialog_id=early.dialog_id)
    prack_ok = await engine.next_sent(start, lambda s: s.txn == prack_txn)
    assert prack_ok.status == 200
    await call.result()
    await call.a_response(200)


async def test_reliable_relay_falls_back_when_a_lacks_100rel(app: Srf, engine: FakeEngine
                                                             ) -> None:
    def refuse_reliable(conn, msg) -> bool:
        sip = msg.sip or ""
        if msg.tokens[1] == "sip" and sip.startswith("SIP/2.0 1") and "100rel" in sip:
            engine._reply(conn, msg, "NOK", "Remote endpoint does not support 100rel")
            return True
        return False

    engine.on_command = refuse_reliable
    call = Bridge(app, engine, proxy_response_headers=["all"])
    b = await call.start()
    engine.deliver_response(b, 183, "Session Progress", body=SDP_B,
                            headers=[("Require", "100rel"), ("RSeq", "1"), *CONTACT_B])
    early = await call.a_response(183)
    assert early.header("Require") is None and early.text.endswith(SDP_B)
    call.answer_b(200)
    await call.result()


# -- B's requests before A's ACK ----------------------------------------------------------------------

def _b_reinvite(b: Sent, cseq: int = 10) -> str:
    return invite_text(b.header("Call-ID") or "", from_tag_="remote1", to_tag="x",
                       body=SDP_C, cseq=cseq)


async def test_b_reinvite_held_until_a_acks(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    b = await call.start()
    call.answer_b(200)
    _uas, uac = await call.result()
    ok = await call.a_response(200)
    modified: list[str] = []

    def on_modify(req, res) -> None:
        modified.append(req.body)
        res.send(200, body=SDP_A)

    uac.on("modify", on_modify)
    start = len(engine.sent)
    txn = engine.deliver_request(_b_reinvite(b), dialog_id=uac.id)
    await asyncio.sleep(0.05)
    assert not modified and not [s for s in engine.sent[start:] if s.txn == txn]
    assert uac.queue_requests and len(uac.queued_requests) == 1
    call.a_ack(ok)
    answered = await engine.next_sent(start, lambda s: s.txn == txn)
    assert answered.status == 200 and modified == [SDP_C]
    assert not uac.queue_requests


async def test_queued_request_answered_when_a_never_acks(app: Srf, engine: FakeEngine) -> None:
    call = Bridge(app, engine)
    b = await call.start()
    call.answer_b(200)
    uas, uac = await call.result()
    start = len(engine.sent)
    txn = engine.deliver_request(_b_reinvite(b), dialog_id=uac.id)
    await engine.wait_until(lambda: uac.queued_requests)
    engine.deliver_request(
        invite_text("call-1", method="BYE", to_tag="x", cseq=2,
                    extra=[("Reason", 'SIP ;cause=200 ;text="ACK timeout"')]),
        dialog_id=uas.id, txn="unsolicited", source="application")
    answered = await engine.next_sent(start, lambda s: s.txn == txn)
    assert answered.kind == "response"  # handled (default answer), not dropped


async def test_ack_before_the_app_resumes_still_releases(app: Srf, engine: FakeEngine) -> None:
    """A's ACK can arrive in the same read as the 200's echo: caught via on_ack."""

    def ack_with_echo(conn, msg) -> bool:
        sip = msg.sip or ""
        answered = engine.delivered.get(msg.tokens[2], "") if len(msg.tokens) > 2 else ""
        if msg.tokens[1] == "sip" and sip.startswith("SIP/2.0 200") and (
                answered.startswith("INVITE ")):
            engine.on_command = None
            engine._echo(conn, msg)
            a200 = engine.sent[-1]
            to_tag = (a200.header("To") or "").split(";tag=")[1]
            engine.deliver_request(invite_text("call-1", method="ACK", to_tag=to_tag),
                                   dialog_id=a200.dialog_id)
            return True
        return False

    call = Bridge(app, engine)
    b = await call.start()
    engine.on_command = ack_with_echo
    start = len(engine.sent)
    call.answer_b(200)
    _uas, uac = await call.result()
    seen: list[str] = []
    uac.on("info", lambda req, res: (seen.append(req.method), res.send(200)))
    txn = engine.deliver_request(
        invite_text(b.header("Call-ID") or "", from_tag_="remote1", to_tag="x", cseq=11,
                    method="INFO"), dialog_id=uac.id)
    await engine.next_sent(start, lambda s: s.txn == txn)
    assert seen == ["INFO"] and not uac.queue_requests


# -- callbacks and state events --------------------------------------------------------------

async def test_progress_callbacks(app: Srf, engine: FakeEngine) -> None:
    events: list[str] = []

    async def finalized(uac: Dialog) -> None:
        events.append(f"finalized:{uac.type}")

    call = Bridge(app, engine, on_request=lambda r: events.append(f"request:{r.method}"),
                  on_provisional=lambda r: events.append(f"provisional:{r.status}"),
                  on_finalized_uac=finalized)
    b = await call.start()
    engine.deliver_response(b, 180, "Ringing")
    call.answer_b(200)
    await call.result()
    assert events == ["request:INVITE", "provisional:180", "finalized:uac"]
    # A's 200 goes out only after on_finalized_uac
    assert [s.status for s in a_responses(engine, call.a_txn)] == [180, 200]


async def test_dialog_state_emitter(app: Srf, engine: FakeEngine) -> None:
    emitter = Emitter()
    states: list[str] = []
    emitter.on("state_change", lambda info: states.append(str(info.state)))
    call = Bridge(app, engine, dialog_state_emitter=emitter)
    b = await call.start()
    engine.deliver_response(b, 180, "Ringing")
    call.answer_b(200)
    uas, _uac = await call.result()
    engine.auto_respond["BYE"] = 200
    await uas.destroy()
    assert states == ["trying", "early", "confirmed", "terminated"]


async def test_dialog_state_rejected(app: Srf, engine: FakeEngine) -> None:
    emitter = Emitter()
    states: list[str] = []
    emitter.on("state_change", lambda info: states.append(str(info.state)))
    call = Bridge(app, engine, dialog_state_emitter=emitter)
    b = await call.start()
    engine.deliver_response(b, 486, "Busy Here")
    with pytest.raises(SipError):
        await call.result()
    assert states == ["trying", "rejected"]


# -- several engines -----------------------------------------------------------------------------

async def test_b_leg_goes_out_on_the_engine_a_came_from(app: Srf, engine: FakeEngine) -> None:
    other = FakeEngine()
    await other.start()
    try:
        await app.connect(host="127.0.0.1", port=other.port, secret="cymru")
        call = Bridge(app, engine)
        await other.connected(routes=("invite",))
        a_txn = other.deliver_request(invite_text("call-9", body=SDP_A))
        b = await other.wait_request("INVITE")
        assert not [s for s in engine.sent if s.kind == "request"]
        other.deliver_response(b, 200, body=SDP_B, headers=CONTACT_B)
        uas, uac = await call.result()
        await other.wait_request("ACK")
        ok = await other.next_sent(0, lambda s: s.txn == a_txn and s.status == 200)
        assert ok.dialog_id == uas.id
        assert uas.agent is uac.agent and uas.agent is not app.agents[0]
    finally:
        await app.disconnect()
        await other.stop()


# -- argument checking -----------------------------------------------------------------------------

async def test_argument_validation(app: Srf, engine: FakeEngine) -> None:
    results: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    @app.invite
    async def on_invite(req, res):
        bad: list[dict[str, Any]] = [
            {"uri": None},
            {"uri": ""},
            {"proxy_request_headers": "all"},
            {"proxy_response_headers": ["-X-Foo"]},
            {"response_headers": "X-Color: green"},
            {"response_headers": {"X-Bad": "a\r\nb"}},
            {"local_sdp_a": 42},
            {"local_sdp_b": b"v=0"},
            {"pass_failure": "yes"},
            {"on_provisional": "nope"},
            {"auth": "user:pass"},
            {"headers": "X: y"},
            {"calling_number": 5},
        ]
        out = []
        for kw in bad:
            uri = kw.pop("uri", B_URI)
            try:
                await create_b2bua(app, req, res, uri, **kw)
            except (TypeError, ValueError) as exc:
                out.append(type(exc).__name__)
        with pytest.raises(TypeError):
            await create_b2bua(object(), req, res, B_URI)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await create_b2bua(app, req, object(), B_URI)  # type: ignore[arg-type]
        results.set_result(out)
        res.send(480)

    engine.deliver_request(invite_text("call-1", body=SDP_A))
    out = await asyncio.wait_for(results, 3)
    assert len(out) == 13
    assert not [s for s in engine.sent if s.kind == "request"]  # nothing reached B


async def test_only_invites_and_unanswered(app: Srf, engine: FakeEngine) -> None:
    results: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    @app.options
    async def on_options(req, res):
        out = []
        try:
            await create_b2bua(app, req, res, B_URI)
        except ValueError as exc:
            out.append(str(exc))
        res.send(200)
        try:
            await create_b2bua(app, req, res, B_URI)
        except ValueError as exc:
            out.append(str(exc))
        results.set_result(out)

    engine.deliver_request(invite_text("call-2", method="OPTIONS"))
    out = await asyncio.wait_for(results, 3)
    assert "INVITE" in out[0] and len(out) == 2


async def test_srf_method_form(app: Srf, engine: FakeEngine) -> None:
    got: asyncio.Future[B2BUA] = asyncio.get_running_loop().create_future()

    @app.invite
    async def on_invite(req, res):
        got.set_result(await app.create_b2bua(req, res, B_URI, headers={"X-M": "1"}))

    engine.deliver_request(invite_text("call-1", body=SDP_A))
    b = await engine.wait_request("INVITE")
    assert b.header("X-M") == "1"
    engine.deliver_response(b, 200, body=SDP_B, headers=CONTACT_B)
    uas, uac = await asyncio.wait_for(got, 3)
    assert uas.other is uac


async def test_failing_local_sdp_b_answers_a_and_sends_nothing(app: Srf, engine: FakeEngine
                                                               ) -> None:
    async def broken(sdp: str) -> str:
        raise RuntimeError("allocation failed")

    call = Bridge(app, engine, local_sdp_b=broken)
    engine.deliver_request(invite_text("call-1", body=SDP_A))
    with pytest.raises(RuntimeError, match="allocation failed"):
        await call.result()
    await engine.wait_response(500)
    assert not [s for s in engine.sent if s.kind == "request"]
