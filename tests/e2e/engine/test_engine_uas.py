"""Requests from the network to an app (UAS side) over UDP, with a control-protocol app."""

from __future__ import annotations

import re

from enginekit import SDP, invite

from drachtio.sip import Request, Response, parse_message


def answer(txn_id: str, status: int, reason: str, req_text: str, extra: str = "",
           body: str = "") -> str:
    """An srf-style response: dialog headers copied from the request (lower-case names)."""
    req = parse_message(req_text.encode())
    lines = [f"SIP/2.0 {status} {reason}",
             f"call-id: {req.call_id}", f"cseq: {req.get('CSeq')}",
             f"from: {req.get('From')}", f"to: {req.get('To')}"]
    if extra:
        lines.append(extra.rstrip("\r\n"))
    if body:
        lines.append("content-type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


async def test_options_relayed_and_answered(engine, make_app, peer):
    app = await make_app(engine, "options")
    port = engine.sip_port()
    peer.send(invite(peer.port, port, method="OPTIONS", call_id="opt-1"), port)
    ev = await app.next("sip")
    t = ev.tokens
    assert len(t) == 13
    assert t[2] == "network" and t[4] == "udp" and t[5] == "127.0.0.1" and t[6] == str(peer.port)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6}", t[7])
    assert t[9] == "" and t[10] == "127.0.0.1" and t[11] == str(port) and t[12] == ""
    assert int(t[3]) == len(ev.sip.encode())
    assert ev.sip.startswith("OPTIONS sip:service@")
    assert f";rport={peer.port}" in ev.sip
    txn = t[8]
    r = await app.call(["sip", txn, ""], answer(txn, 200, "OK", ev.sip,
                                                "X-Probe: yes\r\nAllow: INVITE, ACK, OPTIONS"))
    rt = r.tokens
    assert rt[3] == "OK" and rt[4] == "application"
    assert rt[7] == "127.0.0.1" and rt[8] == str(peer.port) and rt[10] == txn
    assert rt[11] == "" and rt[12] == "" and rt[13] == "Msg sent:"
    resp = await peer.recv()
    assert isinstance(resp, Response) and resp.status == 200
    assert resp.to.tag  # the engine adds a To tag
    assert resp.get("X-Probe") == "yes"
    assert resp.headers.get_lines("Allow") == ["INVITE, ACK, OPTIONS"]
    # custom header after Content-Length, as the reference does
    names = [n.lower() for n, _ in resp.headers]
    assert names.index("x-probe") > names.index("content-length")
    assert resp.top_via.params.get("rport") == str(peer.port)
    assert r.sip == resp.to_bytes().decode()


async def test_no_app_gets_503(engine, peer):
    port = engine.sip_port()
    peer.send(invite(peer.port, port, method="OPTIONS", call_id="opt-503"), port)
    resp = await peer.recv()
    assert resp.status == 503 and resp.to.tag


async def test_invite_answered_and_ack_relayed_then_app_bye(engine, make_app, peer):
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="inv-1", body=SDP, from_tag="ptag2")
    peer.send(inv, port)
    trying = await peer.recv()
    assert trying.status == 100 and trying.to.tag is None
    ev = await app.next("sip")
    txn = ev.tokens[8]
    r = await app.call(["sip", txn, ""], answer(txn, 180, "Ringing", ev.sip))
    assert r.tokens[3] == "OK"
    ringing = await peer.recv()
    assert ringing.status == 180 and ringing.to.tag and not ringing.has("Contact")
    r = await app.call(["sip", txn, ""], answer(txn, 200, "OK", ev.sip, body=SDP))
    assert r.tokens[3] == "OK"
    did = r.tokens[11]
    assert did == "inv-1;from-tag=ptag2"
    ok = await peer.recv()
    assert ok.status == 200 and ok.to.tag == ringing.to.tag
    assert ok.get("Contact") == f"<sip:127.0.0.1:{port}>"
    assert ok.content_type == "application/sdp" and ok.body == SDP.encode()
    ack = (f"ACK sip:127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bKack1\r\n"
           f"From: <sip:caller@127.0.0.1:{peer.port}>;tag=ptag2\r\n"
           f"To: {ok.get('To')}\r\nCall-ID: inv-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
           f"Content-Length: 0\r\n\r\n")
    peer.send(ack, port)
    ev = await app.next("sip")
    assert ev.tokens[8] == txn and ev.tokens[9] == did and ev.sip.startswith("ACK ")
    assert len(ev.tokens) == 11
    # no 2xx retransmission after the ACK
    await peer.expect_none(0.7)
    # the app hangs up with the placeholder URI
    r = await app.call(["sip", "", did], "BYE sip:placeholder SIP/2.0\r\nX-Reason: probe\r\n\r\n")
    assert r.tokens[3] == "OK"
    bye = await peer.recv()
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.uri == f"sip:caller@127.0.0.1:{peer.port}"
    assert bye.cseq.seq == 2 and bye.from_.tag == ok.to.tag and bye.to.tag == "ptag2"
    assert bye.get("X-Reason") == "probe"
    peer.send(bye.create_response(200).to_bytes(), port)
    ev = await app.next("sip")
    assert ev.tokens[8] == r.tokens[10] and ev.tokens[9] == did
    assert ev.sip.startswith("SIP/2.0 200")
