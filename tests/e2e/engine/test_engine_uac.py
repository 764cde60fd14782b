"""Requests an app originates (UAC side), with a raw UDP peer as the far end."""

from __future__ import annotations

import asyncio

from enginekit import SDP

from drachtio.sip import Request


def reply(req: Request, status: int, to_tag: str | None = "rtag1", contact: str | None = None,
          body: str = "", extra: list[tuple[str, str]] | None = None) -> bytes:
    headers = list(extra or [])
    if contact:
        headers.append(("Contact", contact))
    if body:
        headers.append(("Content-Type", "application/sdp"))
    resp = req.create_response(status, to_tag=to_tag, headers=headers, body=body.encode())
    return resp.to_bytes()


async def test_app_options_defaults(engine, make_app, peer):
    app = await make_app(engine)
    port = engine.sip_port()
    r = await app.call(["sip", "", ""],
                       f"OPTIONS sip:someone@127.0.0.1:{peer.port} SIP/2.0\r\nX-Probe: out\r\n\r\n")
    t = r.tokens
    assert t[3] == "OK" and t[4] == "application" and t[6] == "udp"
    assert t[7] == "127.0.0.1" and t[8] == str(port) and t[11] == "Msg sent:" and t[12] == ""
    txn = t[10]
    req = await peer.recv()
    assert isinstance(req, Request) and req.method == "OPTIONS"
    assert r.sip == req.to_bytes().decode()
    v = req.top_via
    assert v.host == "127.0.0.1" and v.port == port and v.has_rport
    assert v.branch.startswith("z9hG4bK")
    assert req.get("Max-Forwards") == "70"
    assert str(req.from_.uri) == f"sip:127.0.0.1:{port}" and len(req.from_.tag) == 13
    assert req.get("To") == f"<sip:someone@127.0.0.1:{peer.port}>"
    assert req.cseq.method == "OPTIONS" and req.cseq.seq > 0
    assert not req.has("Contact")
    names = [n for n, _ in req.headers]
    assert names[-1] == "X-Probe" and names[-2] == "Content-Length"
    peer.send(reply(req, 200), port)
    ev = await app.next("sip")
    assert ev.tokens[2] == "network" and ev.tokens[8] == txn and ev.tokens[9] == ""
    assert ev.sip.startswith("SIP/2.0 200 OK")


async def test_app_invite_ack_bye(engine, make_app, peer):
    app = await make_app(engine)
    port = engine.sip_port()
    r = await app.call(["sip", "", ""],
                       f"INVITE sip:callee@127.0.0.1:{peer.port} SIP/2.0\r\n"
                       f"from: <sip:caller@localhost>\r\ncontact: <sip:caller@localhost>\r\n"
                       f"\r\n{SDP}")
    assert r.tokens[3] == "OK", r.tokens
    txn = r.tokens[10]
    inv = await peer.recv()
    assert inv.method == "INVITE"
    assert str(inv.from_.uri) == f"sip:caller@127.0.0.1:{port}"
    assert inv.get("Contact") == f"<sip:caller@127.0.0.1:{port}>"
    assert inv.content_type == "application/sdp"
    did = f"{inv.call_id};from-tag={inv.from_.tag}"
    peer.send(reply(inv, 180), port)
    ev = await app.next("sip")
    assert ev.tokens[8] == txn and ev.tokens[9] == did and ev.sip.startswith("SIP/2.0 180")
    peer.send(reply(inv, 200, contact=f"<sip:callee@127.0.0.1:{peer.port}>", body=SDP), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 200") and ev.tokens[9] == did
    # a retransmitted 200 before the app's ACK is absorbed
    peer.send(reply(inv, 200, contact=f"<sip:callee@127.0.0.1:{peer.port}>", body=SDP), port)
    await app.expect_none(0.2)
    r = await app.call(["sip", "", did], f"ACK {inv.uri} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK"
    ack = await peer.recv()
    assert ack.method == "ACK" and ack.cseq.seq == inv.cseq.seq
    assert ack.uri == f"sip:callee@127.0.0.1:{peer.port}"
    assert ack.to.tag == "rtag1"
    # 2xx retransmitted after the ACK: the engine re-sends the ACK
    peer.send(reply(inv, 200, contact=f"<sip:callee@127.0.0.1:{peer.port}>", body=SDP), port)
    ack2 = await peer.recv()
    assert ack2.method == "ACK"
    r = await app.call(["sip", "", did], "BYE sip:placeholder SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK"
    bye = await peer.recv()
    assert bye.method == "BYE" and bye.cseq.seq == inv.cseq.seq + 1
    peer.send(reply(bye, 200, to_tag=None), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 200") and ev.tokens[9] == did
    # dialog gone
    r = await app.call(["sip", "", did], "INFO sip:placeholder SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK"


async def test_app_invite_rejected_is_acked_by_engine(engine, make_app, peer):
    app = await make_app(engine)
    port = engine.sip_port()
    r = await app.call(["sip", "", ""], f"INVITE sip:callee@127.0.0.1:{peer.port} SIP/2.0\r\n\r\n")
    inv = await peer.recv()
    did = f"{inv.call_id};from-tag={inv.from_.tag}"
    peer.send(reply(inv, 486), port)
    ack = await peer.recv()
    assert ack.method == "ACK" and ack.top_via.branch == inv.top_via.branch
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 486") and ev.tokens[8] == r.tokens[10]
    r = await app.call(["sip", "", did], f"ACK {inv.uri} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK" and "automatically generated" in r.tokens[4]


async def test_app_cancel(engine, make_app, peer):
    app = await make_app(engine)
    port = engine.sip_port()
    r = await app.call(["sip", "", ""], f"INVITE sip:callee@127.0.0.1:{peer.port} SIP/2.0\r\n\r\n")
    txn = r.tokens[10]
    inv = await peer.recv()
    peer.send(reply(inv, 180), port)
    await app.next("sip")
    r = await app.call(["sip", txn, ""],
                       f"CANCEL {inv.uri} SIP/2.0\r\nReason: SIP;cause=200;text=\"done\"\r\n\r\n")
    assert r.tokens[3] == "OK"
    cancel = await peer.recv()
    assert cancel.method == "CANCEL" and cancel.top_via.branch == inv.top_via.branch
    assert cancel.cseq.seq == inv.cseq.seq and cancel.get("Reason")
    assert cancel.to.tag is None
    peer.send(reply(cancel, 200), port)
    peer.send(reply(inv, 487), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 487") and ev.tokens[8] == txn  # the 200/CANCEL is not relayed
    ack = await peer.recv()
    assert ack.method == "ACK"


async def test_cancel_before_provisional_waits(engine, make_app, peer):
    app = await make_app(engine)
    port = engine.sip_port()
    r = await app.call(["sip", "", ""], f"INVITE sip:callee@127.0.0.1:{peer.port} SIP/2.0\r\n\r\n")
    txn = r.tokens[10]
    inv = await peer.recv()
    r = await app.call(["sip", txn, ""], f"CANCEL {inv.uri} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK"
    await peer.expect_none(0.2)  # RFC 3261 9.1: no CANCEL before a provisional
    peer.send(reply(inv, 100, to_tag=None), port)
    cancel = await peer.recv_until(lambda m: isinstance(m, Request) and m.method == "CANCEL")
    assert cancel.cseq.seq == inv.cseq.seq


async def test_unknown_dialog_and_txn_nok(engine, make_app):
    app = await make_app(engine)
    r = await app.call(["sip", "", "nope;from-tag=x"], "BYE sip:placeholder SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK" and "unable to find dialog" in r.tokens[4]
    r = await app.call(["sip", "no-such-txn", ""], "SIP/2.0 200 OK\r\n\r\n")
    assert r.tokens[3] == "NOK" and "unknown transaction" in r.tokens[4]
    r = await app.call(["sip", "no-such-txn", ""], "CANCEL sip:x@127.0.0.1 SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK" and "unable to cancel" in r.tokens[4]
    r = await app.call(["sip", "", ""], "MESSAGE sip:x@127.0.0.1:5999 SIP/2.0\r\n\r\nhello")
    assert r.tokens[3] == "NOK" and r.tokens[4] == "missing content-type"


async def test_request_to_myself_refused(engine, make_app):
    app = await make_app(engine)
    port = engine.sip_port()
    r = await app.call(["sip", "", ""], f"OPTIONS sip:x@127.0.0.1:{port} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK" and r.tokens[4] == "can not send request to myself"


async def test_request_timeout_synthesizes_408(make_engine, make_app, peer):
    engine = await make_engine(t1=0.02, t2=0.08, timer_h=0.3)
    app = await make_app(engine)
    r = await app.call(["sip", "", ""], f"OPTIONS sip:x@127.0.0.1:{peer.port} SIP/2.0\r\n\r\n")
    txn = r.tokens[10]
    ev = await app.next("sip", timeout=3)
    assert ev.tokens[8] == txn and ev.sip.startswith("SIP/2.0 408")
    n = 0
    while not peer.queue.empty():
        peer.queue.get_nowait()
        n += 1
    assert n >= 3  # retransmitted over UDP (timer E)
    await asyncio.sleep(0)


async def test_app_prack_for_reliable_provisional(engine, make_app, peer):
    app = await make_app(engine)
    port = engine.sip_port()
    r = await app.call(["sip", "", ""], f"INVITE sip:callee@127.0.0.1:{peer.port} SIP/2.0\r\n"
                                        f"Supported: 100rel\r\n\r\n")
    txn = r.tokens[10]
    inv = await peer.recv()
    did = f"{inv.call_id};from-tag={inv.from_.tag}"
    peer.send(reply(inv, 183, contact=f"<sip:callee@127.0.0.1:{peer.port}>",
                    extra=[("Require", "100rel"), ("RSeq", "7")]), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 183") and ev.tokens[8] == txn and ev.tokens[9] == did
    r = await app.call(["sip", "", did],
                       f"PRACK {inv.uri} SIP/2.0\r\nRAck: 7 {inv.cseq.seq} INVITE\r\n\r\n")
    assert r.tokens[3] == "OK", r.tokens
    prack = await peer.recv()
    assert prack.method == "PRACK" and prack.get("RAck") == f"7 {inv.cseq.seq} INVITE"
    assert prack.uri == f"sip:callee@127.0.0.1:{peer.port}" and prack.to.tag == "rtag1"
    assert prack.cseq.seq == inv.cseq.seq + 1
    peer.send(reply(prack, 200, to_tag=None), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 200") and "PRACK" in ev.sip
    peer.send(reply(inv, 200, contact=f"<sip:callee@127.0.0.1:{peer.port}>"), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 200") and ev.tokens[8] == txn
    r = await app.call(["sip", "", did], f"ACK {inv.uri} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK"
    ack = await peer.recv()
    assert ack.method == "ACK" and ack.cseq.seq == inv.cseq.seq
