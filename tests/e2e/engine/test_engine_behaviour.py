"""Automatic behaviours: CANCEL, ACK timeout, 100rel, malformed input, app routing rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from enginekit import SDP, TcpPeer, deliver_invite, invite
from test_engine_uas import answer

from drachtio.sip import Request, Response

RFC4475 = (Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "rfc4475")


async def test_network_cancel(engine, make_app, peer):
    app = await make_app(engine, "invite", "cdr:stop")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="cancel-1", branch="z9hG4bKc1")
    txn = await deliver_invite(app, peer, port, inv, trying=True)
    cancel = (f"CANCEL sip:service@127.0.0.1:{port} SIP/2.0\r\n"
              f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bKc1\r\n"
              f"From: <sip:caller@127.0.0.1:{peer.port}>;tag=ftag1\r\n"
              f"To: <sip:service@127.0.0.1:{port}>\r\nCall-ID: cancel-1\r\nCSeq: 1 CANCEL\r\n"
              f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    peer.send(cancel, port)
    got = {(await peer.recv()).cseq.method: None for _ in range(2)}
    assert set(got) == {"CANCEL", "INVITE"}
    ev = await app.next("sip")
    assert ev.sip.startswith("CANCEL ") and ev.tokens[8] == txn
    assert ev.tokens[9] == "cancel-1;from-tag=ftag1"
    cdr = await app.next("cdr:stop")
    assert cdr.tokens[4] == "call-canceled"
    # the app's late answer is refused
    r = await app.call(["sip", txn, ""], answer(txn, 200, "OK", inv))
    assert r.tokens[3] == "NOK" and "unknown transaction" in r.tokens[4]


async def test_cancel_unknown_gets_481(engine, peer):
    port = engine.sip_port()
    peer.send(invite(peer.port, port, method="CANCEL", call_id="nope"), port)
    resp = await peer.recv()
    assert resp.status == 481 and resp.cseq.method == "CANCEL"


async def test_ack_timeout_sends_bye_and_unsolicited(make_engine, make_app, peer):
    engine = await make_engine(t1=0.02, t2=0.08, timer_h=0.4)
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="ackto-1", body=SDP)
    txn = await deliver_invite(app, peer, port, inv)
    r = await app.call(["sip", txn, ""], answer(txn, 200, "OK", inv, body=SDP))
    did = r.tokens[11]
    oks = 0
    while True:
        m = await peer.recv(2)
        if isinstance(m, Response):
            assert m.status == 200
            oks += 1
            continue
        assert m.method == "BYE"
        assert m.get("Reason") == 'SIP ;cause=200 ;text="ACK timeout"'
        break
    assert oks >= 3  # retransmitted (timer G) before giving up
    ev = await app.next("sip")
    t = ev.tokens
    assert t[2] == "application" and t[8] == "unsolicited" and t[9] == did
    assert ev.sip.startswith("BYE ")


async def test_wrong_secret_closes(engine, make_app):
    app = await make_app(engine, secret="wrong")
    await asyncio.wait_for(app.closed.wait(), 2)


async def test_wrong_secret_reply(engine):
    from enginekit import AppClient

    app = AppClient()
    await app.connect(engine.admin_port)
    r = await app.call(["authenticate", "nope", ""])
    assert r.tokens[3:] == ["NO", "incorrect secret"]
    await asyncio.wait_for(app.closed.wait(), 2)
    await app.close()


async def test_commands_before_authenticate_refused(engine):
    from enginekit import AppClient

    app = AppClient()
    await app.connect(engine.admin_port)
    r = await app.call(["route", "invite"])
    assert r.tokens[3] == "NO"
    assert not engine.routes.has("invite")
    r = await app.call(["ping"])
    assert r.tokens[3:] == ["OK", "pong"]
    await app.close()


async def test_authenticate_reply_and_ping(engine, make_app):
    app = await make_app(engine)
    r = await app.authenticate()
    t = r.tokens
    assert t[3] == "OK"
    assert t[4] == ",".join(engine.sip_hostports) == t[6]
    assert t[5].startswith("v0.9.10")
    r = await app.call(["ping"])
    assert r.tokens[3:] == ["OK", "pong"]


async def test_unknown_command_and_bad_frame_close_only_that_app(engine, make_app, peer):
    good = await make_app(engine, "options")
    bad = await make_app(engine)
    r = await bad.call(["frobnicate"])
    assert r.tokens[3:] == ["NO", "Unknown message type"]
    await asyncio.wait_for(bad.closed.wait(), 2)
    bad2 = await make_app(engine)
    bad2.send_raw(b"xyz#garbage")
    await asyncio.wait_for(bad2.closed.wait(), 2)
    port = engine.sip_port()
    peer.send(invite(peer.port, port, method="OPTIONS", call_id="still-alive"), port)
    ev = await good.next("sip")
    assert "still-alive" in ev.sip


async def test_large_frame_accepted(engine, make_app, peer):
    app = await make_app(engine)
    body = "x" * 20000  # the reference wedges above ~12 KB
    r = await app.call(["sip", "", ""],
                       f"MESSAGE sip:a@127.0.0.1:{peer.port} SIP/2.0\r\n"
                       f"Content-Type: text/plain\r\n\r\n{body}")
    assert r.tokens[3] == "OK"
    assert r.tokens[6] == "udp"
    data = await peer.recv_raw()
    assert data.endswith(body.encode())


async def test_remove_route_only_that_verb(engine, make_app, peer):
    a1 = await make_app(engine, "options", "message")
    a2 = await make_app(engine, "options")
    # remove_route removes only that verb (the reference removes all of the app's routes)
    r = await a1.call(["remove_route", "options"])
    assert r.tokens[3] == "OK"
    port = engine.sip_port()
    for i in range(2):
        peer.send(invite(peer.port, port, method="OPTIONS", call_id=f"rm-{i}",
                         branch=f"z9hG4bKrm{i}"), port)
        ev = await a2.next("sip")
        assert f"rm-{i}" in ev.sip
    peer.send(invite(peer.port, port, method="MESSAGE", call_id="rm-msg", body="hi").replace(
        "application/sdp", "text/plain"), port)
    ev = await a1.next("sip")
    assert "rm-msg" in ev.sip
    await a1.expect_none(0.1)


async def test_round_robin_alternates(engine, make_app, peer):
    a1 = await make_app(engine, "options")
    a2 = await make_app(engine, "options")
    port = engine.sip_port()
    for i in range(4):
        peer.send(invite(peer.port, port, method="OPTIONS", call_id=f"alt-{i}",
                         branch=f"z9hG4bKalt{i}"), port)
        app = a1 if i % 2 == 0 else a2
        ev = await app.next("sip")
        assert f"alt-{i}" in ev.sip


@pytest.mark.parametrize("name,status", [
    ("TC_BADASPEC_I", 400), ("TC_BADDN_I", 400), ("TC_BADINV01_I", 400), ("TC_CLERR_I", 400),
    ("TC_INSUF_I", 400), ("TC_LTGTRURI_I", 400), ("TC_LWSRURI_I", 400), ("TC_MCL01_I", 400),
    ("TC_MULTI01_I", 400), ("TC_NCL_I", 400), ("TC_QUOTBAL_I", 400), ("TC_REGBADCT_I", 400),
    ("TC_TRWS_I", 400), ("TC_BADVERS_V", 505), ("TC_UNKSCM_V", 416), ("TC_NOVELSC_V", 416),
])
async def test_rfc4475_invalid_answered(engine, make_app, peer, name, status):
    app = await make_app(engine, "invite", "options", "register", "message")
    port = engine.sip_port()
    peer.send((RFC4475 / f"{name}.dat").read_bytes(), port)
    data = await peer.recv_raw()  # the answer copies the broken headers: check the text
    start = data.split(b"\r\n", 1)[0].decode()
    assert start.startswith(f"SIP/2.0 {status} "), start
    if status == 400:
        assert start != "SIP/2.0 400 Bad Request"  # the parser's reason is passed on
    await app.expect_none(0.1)
    # the engine keeps serving
    peer.send(invite(peer.port, port, method="OPTIONS", call_id=f"after-{name}"), port)
    ev = await app.next("sip")
    assert f"after-{name}" in ev.sip


async def test_garbage_never_crashes(engine, make_app, peer):
    app = await make_app(engine, "options")
    port = engine.sip_port()
    for junk in (b"\x00\xff" * 50, b"INVITE\r\n\r\n", b"SIP/2.0 200\r\n\r\n", b"\r\n\r\n",
                 b"OPTIONS sip:x SIP/2.0\r\nVia: bogus\r\n\r\n", b"A" * 70000):
        peer.send(junk, port)
    peer.send(invite(peer.port, port, method="OPTIONS", call_id="after-junk"), port)
    ev = await app.next("sip")
    assert "after-junk" in ev.sip


async def test_app_disconnect_dialog_gets_481(engine, make_app, peer):
    app = await make_app(engine, "invite")
    other = await make_app(engine, "options")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="gone-1", body=SDP)
    txn = await deliver_invite(app, peer, port, inv)
    await app.call(["sip", txn, ""], answer(txn, 200, "OK", inv, body=SDP))
    ok = await peer.recv()
    ack = invite(peer.port, port, method="ACK", call_id="gone-1", branch="z9hG4bKack",
                 to_tag=ok.to.tag)
    peer.send(ack, port)
    await app.next("sip")
    await app.close()
    await asyncio.sleep(0.1)
    bye = invite(peer.port, port, method="BYE", call_id="gone-1", branch="z9hG4bKbye", cseq=2,
                 to_tag=ok.to.tag)
    peer.send(bye, port)
    resp = await peer.recv()
    assert resp.status == 481
    # the other app is undisturbed
    peer.send(invite(peer.port, port, method="OPTIONS", call_id="other-ok"), port)
    ev = await other.next("sip")
    assert "other-ok" in ev.sip


async def test_pending_request_answered_503_when_app_leaves(engine, make_app, peer):
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    peer.send(invite(peer.port, port, call_id="left-1"), port)
    assert (await peer.recv()).status == 100
    await app.next("sip")
    await app.close()
    resp = await peer.recv()
    assert resp.status == 503


async def test_reliable_provisional_and_prack(engine, make_app, peer):
    app = await make_app(engine, "invite", "prack")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="rel-1", extra="Supported: 100rel\r\n", body=SDP)
    txn = await deliver_invite(app, peer, port, inv)
    r = await app.call(["sip", txn, ""], answer(txn, 183, "Session Progress", inv,
                                                "Require: 100rel", body=SDP))
    assert r.tokens[3] == "OK"
    did = r.tokens[11]
    p1 = await peer.recv()
    assert p1.status == 183 and p1.get("RSeq") and p1.get("Contact")
    p2 = await peer.recv(2)  # retransmitted until PRACK
    assert p2.status == 183 and p2.get("RSeq") == p1.get("RSeq")
    prack = invite(peer.port, port, method="PRACK", call_id="rel-1", branch="z9hG4bKpr",
                   cseq=2, to_tag=p1.to.tag, extra=f"RAck: {p1.get('RSeq')} 1 INVITE\r\n")
    peer.send(prack, port)
    ev = await app.next("sip")
    assert ev.sip.startswith("PRACK") and ev.tokens[9] == did
    r = await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", prack))
    assert r.tokens[3] == "OK"
    m = await peer.recv()
    assert m.status == 200 and m.cseq.method == "PRACK"
    await peer.expect_none(1.2)  # no more 183 retransmissions


async def test_100rel_refused_without_support(engine, make_app, peer):
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="rel-2")
    peer.send(inv, port)
    await peer.recv()
    ev = await app.next("sip")
    r = await app.call(["sip", ev.tokens[8], ""],
                       answer(ev.tokens[8], 183, "Session Progress", inv, "Require: 100rel"))
    assert r.tokens[3:] == ["NOK", "Remote endpoint does not support 100rel"]


async def test_reinvite_from_network(engine, make_app, peer):
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="re-1", body=SDP)
    txn = await deliver_invite(app, peer, port, inv)
    r = await app.call(["sip", txn, ""], answer(txn, 200, "OK", inv, body=SDP))
    did = r.tokens[11]
    ok = await peer.recv()
    peer.send(invite(peer.port, port, method="ACK", call_id="re-1", branch="z9hG4bKa1",
                     to_tag=ok.to.tag), port)
    await app.next("sip")
    reinv = invite(peer.port, port, call_id="re-1", branch="z9hG4bKre", cseq=2,
                   to_tag=ok.to.tag, body=SDP)
    peer.send(reinv, port)
    trying = await peer.recv()
    assert trying.status == 100
    ev = await app.next("sip")
    assert ev.sip.startswith("INVITE") and ev.tokens[9] == did and len(ev.tokens) == 11
    rtxn = ev.tokens[8]
    r = await app.call(["sip", rtxn, ""], answer(rtxn, 200, "OK", reinv, body=SDP))
    assert r.tokens[3] == "OK" and r.tokens[11] == did
    ok2 = await peer.recv()
    assert ok2.status == 200 and ok2.to.tag == ok.to.tag and ok2.get("Contact")
    peer.send(invite(peer.port, port, method="ACK", call_id="re-1", branch="z9hG4bKa2", cseq=2,
                     to_tag=ok.to.tag), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("ACK") and ev.tokens[8] == rtxn


async def test_merged_request_482(engine, make_app, peer):
    app = await make_app(engine, "options")
    port = engine.sip_port()
    peer.send(invite(peer.port, port, method="OPTIONS", call_id="m-1", branch="z9hG4bKm1"), port)
    await app.next("sip")
    peer.send(invite(peer.port, port, method="OPTIONS", call_id="m-1", branch="z9hG4bKm2"), port)
    resp = await peer.recv()
    assert resp.status == 482


async def test_retransmission_absorbed_and_final_resent(engine, make_app, peer):
    app = await make_app(engine, "options")
    port = engine.sip_port()
    req = invite(peer.port, port, method="OPTIONS", call_id="rt-1", branch="z9hG4bKrt")
    peer.send(req, port)
    ev = await app.next("sip")
    peer.send(req, port)
    await app.expect_none(0.2)
    await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", req))
    first = await peer.recv()
    peer.send(req, port)
    again = await peer.recv()
    assert again.to_bytes() == first.to_bytes()


async def test_cdrs(engine, make_app, peer):
    app = await make_app(engine, "invite", "cdr:attempt", "cdr:start", "cdr:stop")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="cdr-1", body=SDP)
    peer.send(inv, port)
    await peer.recv()
    ev = await app.next("sip")
    a = await app.next("cdr:attempt")
    assert a.tokens[2] == "network" and len(a.tokens) == 4 and a.sip.startswith("INVITE")
    txn = ev.tokens[8]
    await app.call(["sip", txn, ""], answer(txn, 200, "OK", inv, body=SDP))
    s = await app.next("cdr:start")
    assert s.tokens[2] == "application" and s.tokens[4] == "uas"
    ok = await peer.recv()
    bye = invite(peer.port, port, method="BYE", call_id="cdr-1", branch="z9hG4bKby", cseq=2,
                 to_tag=ok.to.tag)
    peer.send(bye, port)
    st = await app.next("cdr:stop")
    assert st.tokens[4] == "normal-release" and st.sip.startswith("BYE")


async def test_tcp_options_and_keepalive(engine, make_app):
    app = await make_app(engine, "options")
    port = engine.sip_port("tcp")
    tcp = TcpPeer()
    await tcp.connect(port)
    tcp.send(b"\r\n\r\n")
    req = invite(tcp.local_port, port, method="OPTIONS", call_id="tcp-1").replace(
        "SIP/2.0/UDP", "SIP/2.0/TCP")
    tcp.send(req)
    ev = await app.next("sip")
    assert ev.tokens[4] == "tcp"
    await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", req))
    resp = await tcp.recv()
    assert resp.status == 200
    assert bytes(tcp.raw).startswith(b"\r\n")  # pong
    # malformed over TCP: 400 then the connection is closed
    tcp.send(b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bKq\r\n"
             b"Content-Length: 0\r\n\r\n")
    await asyncio.wait_for(tcp.eof.wait(), 3)
    assert b"SIP/2.0 400 missing Call-ID header\r\n" in bytes(tcp.raw)
    await tcp.close()


async def test_app_request_over_tcp(engine, make_app):
    """An app's request with ;transport=tcp opens a connection to the far end."""
    app = await make_app(engine)
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(65536)
        got.put_nowait(data)
        req = Request.__new__(Request)  # noqa: F841 - only the bytes matter here
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    sport = server.sockets[0].getsockname()[1]
    r = await app.call(["sip", "", ""],
                       f"OPTIONS sip:x@127.0.0.1:{sport};transport=tcp SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK" and r.tokens[6] == "tcp"
    data = await asyncio.wait_for(got.get(), 3)
    assert data.startswith(b"OPTIONS sip:x@127.0.0.1") and b"SIP/2.0/TCP" in data
    server.close()


async def test_update_in_early_dialog_relayed(engine, make_app, peer):
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="early-1", body=SDP)
    txn = await deliver_invite(app, peer, port, inv)
    await app.call(["sip", txn, ""], answer(txn, 180, "Ringing", inv))
    ringing = await peer.recv()
    upd = invite(peer.port, port, method="UPDATE", call_id="early-1", branch="z9hG4bKup", cseq=2,
                 to_tag=ringing.to.tag, body=SDP)
    peer.send(upd, port)
    ev = await app.next("sip")
    assert ev.sip.startswith("UPDATE") and ev.tokens[9] == "early-1;from-tag=ftag1"
    utxn = ev.tokens[8]
    assert utxn != txn
    r = await app.call(["sip", utxn, ""], answer(utxn, 200, "OK", upd, body=SDP))
    assert r.tokens[3] == "OK"
    resp = await peer.recv()
    assert resp.status == 200 and resp.cseq.method == "UPDATE"
    # the INVITE can still be answered
    r = await app.call(["sip", txn, ""], answer(txn, 200, "OK", inv, body=SDP))
    assert r.tokens[3] == "OK"
    ok = await peer.recv()
    assert ok.status == 200 and ok.cseq.method == "INVITE" and ok.to.tag == ringing.to.tag


async def test_bye_for_unknown_dialog_481(engine, peer):
    port = engine.sip_port()
    peer.send(invite(peer.port, port, method="BYE", call_id="nodialog", to_tag="x"), port)
    resp = await peer.recv()
    assert resp.status == 481


async def test_session_timer_uas_refresh_and_expiry(make_engine, make_app, peer):
    """INVITE asks Session-Expires with refresher=uas: the 200 echoes it, the engine
    re-INVITEs at half the interval (ACKing the 200 itself), and when the far end stops
    answering it hangs up with an unsolicited BYE."""
    engine = await make_engine(min_se=1, t1=0.05, t2=0.2, timer_h=0.6)
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="st-1", body=SDP,
                 extra="Supported: timer\r\nSession-Expires: 2;refresher=uas\r\n")
    txn = await deliver_invite(app, peer, port, inv)
    r = await app.call(["sip", txn, ""], answer(txn, 200, "OK", inv, body=SDP))
    did = r.tokens[11]
    ok = await peer.recv()
    assert ok.get("Session-Expires") == "2;refresher=uas" and ok.get("Require") == "timer"
    peer.send(invite(peer.port, port, method="ACK", call_id="st-1", branch="z9hG4bKsa",
                     to_tag=ok.to.tag), port)
    await app.next("sip")  # ACK
    refresh = await peer.recv(3)
    assert refresh.method == "INVITE" and refresh.to.tag == "ftag1"
    assert refresh.get("Session-Expires") == "2;refresher=uac" and refresh.body == SDP.encode()
    peer.send(refresh.create_response(
        200, headers=[("Contact", f"<sip:caller@127.0.0.1:{peer.port}>"),
                      ("Session-Expires", "2;refresher=uac"),
                      ("Content-Type", "application/sdp")], body=SDP.encode()).to_bytes(), port)
    ack = await peer.recv()
    assert ack.method == "ACK" and ack.cseq.seq == refresh.cseq.seq
    await app.expect_none(0.2)  # the app never sees the refresh
    refresh2 = await peer.recv(3)
    assert refresh2.method == "INVITE" and refresh2.cseq.seq > refresh.cseq.seq
    # no answer this time: the refresh times out and the call is hung up
    bye = await peer.recv_until(lambda m: isinstance(m, Request) and m.method == "BYE", 5)
    assert bye.get("Reason") == 'SIP ;cause=200 ;text="Session timer expired"'
    ev = await app.next("sip", timeout=3)
    assert ev.tokens[8] == "unsolicited" and ev.tokens[9] == did


async def test_session_interval_too_small(engine, make_app, peer):
    await make_app(engine, "invite")
    port = engine.sip_port()
    peer.send(invite(peer.port, port, call_id="st-2", extra="Session-Expires: 30\r\n"), port)
    assert (await peer.recv()).status == 100
    resp = await peer.recv()
    assert resp.status == 422 and resp.get("Min-SE") == "90"


async def test_register_over_tcp_binds_connection(engine, make_app):
    """After a REGISTER over TCP answered 200, requests to its Contact reuse the connection
    (the Contact host is unreachable, as for a WebRTC or NATed client)."""
    app = await make_app(engine, "register")
    port = engine.sip_port("tcp")
    tcp = TcpPeer()
    await tcp.connect(port)
    contact = "<sip:alice@df7jal23ls0d.invalid;transport=tcp>"
    reg = (f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/TCP df7jal23ls0d.invalid;branch=z9hG4bKreg1\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=r1\r\n"
           f"To: <sip:alice@example.com>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\n"
           f"Contact: {contact};expires=300\r\nContent-Length: 0\r\n\r\n")
    tcp.send(reg)
    ev = await app.next("sip")
    r = await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", reg,
                                                         f"Contact: {contact};expires=300"))
    assert r.tokens[3] == "OK"
    assert (await tcp.recv()).status == 200
    r = await app.call(["sip", "", ""],
                       "OPTIONS sip:alice@df7jal23ls0d.invalid;transport=tcp SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK", r.tokens
    req = await tcp.recv()
    assert isinstance(req, Request) and req.method == "OPTIONS"
    await tcp.close()


async def test_rfc2543_retransmission_matched(engine, make_app, peer):
    """A request without the magic cookie in its branch (RFC 2543) is matched by the old
    rules: its retransmission is absorbed, not handed to the app twice."""
    app = await make_app(engine, "options")
    port = engine.sip_port()
    req = invite(peer.port, port, method="OPTIONS", call_id="2543-1", branch="oldbranch1")
    peer.send(req, port)
    ev = await app.next("sip")
    peer.send(req, port)
    await app.expect_none(0.2)
    await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", req))
    assert (await peer.recv()).status == 200
    peer.send(req, port)
    assert (await peer.recv()).status == 200
