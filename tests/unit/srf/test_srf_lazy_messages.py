"""Messages parsed on first use, header reads from unparsed text, and calls freed by
reference counting (no reference cycles left for the cycle collector)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from srf_fake_engine import SDP_A, SDP_B, FakeEngine, invite_text, join_sip

from drachtio.sip import parse_message
from drachtio.srf import Dialog, SentMessage, SipError, Srf
from drachtio.srf.emitter import spawn
from drachtio.srf.message import SipMessage
from drachtio.srf.request import Request
from drachtio.wire.codec import ControlMessage

RESPONSE = join_sip("SIP/2.0 180 Ringing", [
    ("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-2"),
    ("f", '"Alice" <sip:alice@example.com>;tag=abc'),
    ("t", "<sip:bob@example.com>;tag=xyz"),
    ("i", "cid-1"),
    ("CSeq", "7 INVITE"),
    ("Contact", "<sip:bob@10.0.0.2>, <sip:bob@10.0.0.3>"),
    ("RSeq", "1"),
    ("Supported", "100rel, timer"),
    ("X-Empty", ""),
], "")
FOLDED = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1\r\n"
          "From: <sip:a@example.com>\r\n ;tag=folded\r\nTo: <sip:b@example.com>;tag=t\r\n"
          "Call-ID: c2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def lazy(text: str) -> SipMessage:
    return SipMessage(ControlMessage(["id", "sip"], text))


@pytest.mark.parametrize("name", ["Via", "From", "f", "To", "t", "Call-ID", "i", "CSeq",
                                  "Contact", "m", "RSeq", "Supported", "k", "X-Empty",
                                  "X-Missing", "Content-Length", "l"])
@pytest.mark.parametrize("text", [
    RESPONSE, FOLDED, invite_text(body=SDP_A),
    invite_text(extra=[("P-Asserted-Identity", '"Bob" <sip:+1999@example.com>, <tel:+1999>')]),
    invite_text(body="v=0\r\nö\r\n")])
def test_reads_from_text_equal_the_parsed_message(text: str, name: str) -> None:
    parsed = parse_message(text.encode())
    msg = lazy(text)
    assert msg.get(name) == parsed.get(name)
    assert msg.has(name) == parsed.has(name)
    assert msg.call_id == parsed.get("Call-ID")
    assert msg.body == parsed.body.decode()
    assert msg.raw == text
    assert msg.status == getattr(parsed, "status", None)
    assert msg.reason == getattr(parsed, "reason", None)
    full = SipMessage(parsed)
    assert (msg.calling_number, msg.calling_name, msg.called_number) == (
        full.calling_number, full.calling_name, full.called_number)
    assert msg.method == (getattr(parsed, "method", None) or parsed.cseq.method)


def test_start_line_headers_and_empty_body_need_no_parse() -> None:
    msg = lazy(RESPONSE)
    assert (msg.status, msg.type, msg.body) == (180, "response", "")
    assert msg.get("To") == "<sip:bob@example.com>;tag=xyz" and msg.has("RSeq")
    assert msg._msg is None  # still unparsed
    assert msg.get("Contact") == "<sip:bob@10.0.0.2>"  # a list header: parsed for that
    assert msg._msg is not None
    req = Request(ControlMessage(["id", "sip"], invite_text(body=SDP_A)))
    assert (req.method, req.uri) == ("INVITE", "sip:callee@127.0.0.1:5060")
    assert (req.calling_number, req.calling_name, req.called_number) == (
        "+15083084809", "Alice", "callee")
    assert req.body == SDP_A and req.call_id == "call-1" and req.has("Contact")
    assert req._msg is None  # a B2BUA reads all that from an INVITE without parsing it
    # a body that Content-Length does not describe exactly: the parser decides
    odd = lazy(invite_text(body=SDP_A).replace(f"Content-Length: {len(SDP_A)}",
                                               f"Content-Length: {len(SDP_A) - 4}"))
    assert odd.body == SDP_A[:-4] and odd._msg is not None


def test_unparseable_text_fails_on_use_with_engine_error() -> None:
    from drachtio.srf import EngineError

    msg = lazy("SIP/2.0 200 OK\r\nnot a header line at all\r\n")
    assert msg.status == 200
    with pytest.raises(EngineError, match="unparseable"):
        _ = msg.msg


def test_engine_parsed_message_is_taken_as_is() -> None:
    parsed = parse_message(RESPONSE.encode())
    msg = SipMessage(ControlMessage(["id", "sip"], RESPONSE, parsed))
    assert msg.msg is parsed and msg.get("RSeq") == "1"


async def test_echoes_nobody_reads_are_never_parsed(app: Srf, engine: FakeEngine) -> None:
    sent: list[SentMessage | None] = []

    @app.invite
    async def on_invite(req, res):
        sent.append(await res.send(180))

    engine.deliver_request(invite_text(body=SDP_A))
    await engine.wait_until(lambda: sent)
    echo = sent[0]
    assert isinstance(echo, SentMessage) and echo.status == 180
    assert echo._msg is None


async def test_a_bridged_call_leaves_no_reference_cycles(app: Srf, engine: FakeEngine) -> None:
    """Everything a B2BUA call made is freed by reference counting when it ends: the cycle
    collector (pauses, CPU) has nothing of it to find."""
    loop = asyncio.get_running_loop()
    done: list[asyncio.Future[None]] = [loop.create_future()]

    @app.invite
    async def on_invite(req, res):
        try:
            uas, uac = await app.create_b2bua(req, res, "sip:b@127.0.0.1:5090")
        except SipError:
            return
        async def hang_up_b() -> None:
            await uac.destroy()
            done[0].set_result(None)

        uas.on("destroy", lambda *_: spawn(hang_up_b()))

    async def one_call(n: int) -> None:
        start = len(engine.sent)
        a_txn = engine.deliver_request(invite_text(f"gc-call-{n}", body=SDP_A))
        b = await engine.wait_request("INVITE", start)
        engine.deliver_response(b, 180, "Ringing")
        engine.deliver_response(b, 200, body=SDP_B, headers=[
            ("Contact", "<sip:b@127.0.0.1:5090>"), ("Content-Type", "application/sdp")])
        a200 = await engine.next_sent(start, lambda s: s.txn == a_txn and s.status == 200)
        tag = (a200.header("To") or "").split(";tag=")[1]
        engine.deliver_request(invite_text(f"gc-call-{n}", method="ACK", to_tag=tag),
                               dialog_id=a200.dialog_id)
        await asyncio.sleep(0.01)
        engine.deliver_request(invite_text(f"gc-call-{n}", method="BYE", to_tag=tag, cseq=2),
                               dialog_id=a200.dialog_id)
        bye_b = await engine.next_sent(start, lambda s: s.method == "BYE" and s.kind == "request")
        engine.deliver_response(bye_b, 200)
        await asyncio.wait_for(done[0], 3)
        for _ in range(5):
            await asyncio.sleep(0)

    await one_call(0)  # warm up (caches, first-use objects)
    done[0] = loop.create_future()
    gc.collect()
    gc.disable()
    try:
        await one_call(1)
        done.clear()
        await asyncio.sleep(0.05)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        ours: list[Any] = [o for o in gc.garbage
                           if type(o).__module__.startswith(("drachtio.srf", "drachtio.sip"))]
        kinds = sorted({type(o).__qualname__ for o in ours})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert kinds == [], f"reference cycles left by a call: {kinds}"
    assert app.dialogs == {} and app.idle
    assert isinstance(Dialog, type)
