"""UPDATE in the early dialog of an INVITE the app sent (RFC 3311; wire-protocol.md 5.6, 3.2).

The callee answers 183 with a To tag, then sends UPDATE with SDP before its 200: the engine
must relay it to the app that owns the INVITE, with a fresh transaction id and the INVITE's
dialog id, and send the app's answer on the UPDATE's server transaction.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from enginekit import SDP, invite, invite_peer
from test_engine_sipp import free_udp_port, run_sipp, srf_response
from test_engine_uas import answer

from drachtio.sip import Request, parse_message

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "srf-uas-update-early.xml"


def reply(req: Request, status: int, to_tag: str | None = "rtag1", contact: str | None = None,
          body: str = "") -> bytes:
    headers = [("Contact", contact)] if contact else []
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return req.create_response(status, to_tag=to_tag, headers=headers,
                               body=body.encode()).to_bytes()


def update_from_callee(inv: Request, peer_port: int, *, branch: str, cseq: int,
                       to_tag: str = "rtag1") -> str:
    """An UPDATE from the callee in the early dialog of ``inv`` (From/To swapped)."""
    return (
        f"UPDATE {inv.contacts[0].uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer_port};branch={branch}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:callee@127.0.0.1:{peer_port}>;tag={to_tag}\r\n"
        f"To: {inv.get('From')}\r\n"
        f"Call-ID: {inv.call_id}\r\n"
        f"CSeq: {cseq} UPDATE\r\n"
        f"Contact: <sip:callee@127.0.0.1:{peer_port}>\r\n"
        f"Content-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n{SDP}"
    )


async def test_update_in_uac_early_dialog_relayed(engine, make_app, peer):
    app = await make_app(engine)
    port = engine.sip_port()
    txn, inv = await invite_peer(app, peer, SDP)
    did = f"{inv.call_id};from-tag={inv.from_.tag}"
    contact = f"<sip:callee@127.0.0.1:{peer.port}>"
    peer.send(reply(inv, 183, contact=contact), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 183") and ev.tokens[8] == txn and ev.tokens[9] == did

    upd = update_from_callee(inv, peer.port, branch="z9hG4bKupd1", cseq=1)
    peer.send(upd, port)
    ev = await app.next("sip")
    # an in-dialog request frame: network source, fresh transaction id, the INVITE's dialog
    assert len(ev.tokens) == 11 and ev.tokens[2] == "network"
    assert ev.sip.startswith("UPDATE ")
    utxn = ev.tokens[8]
    assert utxn not in (txn, "") and ev.tokens[9] == did
    assert parse_message(ev.sip.encode()).call_id == inv.call_id
    r = await app.call(["sip", utxn, ""], srf_response(200, "OK", ev.sip, SDP))
    assert r.tokens[3] == "OK", r.tokens
    assert r.tokens[10] == utxn and r.tokens[11] == did
    resp = await peer.recv_until(lambda m: not isinstance(m, Request))
    assert resp.status == 200 and resp.cseq.method == "UPDATE" and resp.cseq.seq == 1
    assert resp.top_via.branch == "z9hG4bKupd1" and resp.to.tag == inv.from_.tag
    assert resp.body.decode() == SDP
    # a retransmitted UPDATE is answered from the transaction, not relayed again
    peer.send(upd, port)
    again = await peer.recv()
    assert again.status == 200 and again.cseq.method == "UPDATE"
    await app.expect_none(0.2)

    # the call then completes as usual in the same dialog
    peer.send(reply(inv, 200, contact=contact, body=SDP), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 200") and ev.tokens[8] == txn and ev.tokens[9] == did
    r = await app.call(["sip", "", did], f"ACK {inv.uri} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK", r.tokens
    ack = await peer.recv()
    assert ack.method == "ACK" and ack.cseq.seq == inv.cseq.seq and ack.to.tag == "rtag1"
    r = await app.call(["sip", "", did], f"BYE {inv.uri} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK", r.tokens
    bye = await peer.recv()
    assert bye.method == "BYE" and bye.cseq.seq == inv.cseq.seq + 1


async def test_update_after_failed_uac_invite_481(engine, make_app, peer):
    """The early dialog ends with the INVITE's failure: a later UPDATE in it gets 481."""
    app = await make_app(engine)
    port = engine.sip_port()
    _, inv = await invite_peer(app, peer, SDP)
    peer.send(reply(inv, 183, contact=f"<sip:callee@127.0.0.1:{peer.port}>"), port)
    await app.next("sip")
    peer.send(reply(inv, 486), port)
    ev = await app.next("sip")
    assert ev.sip.startswith("SIP/2.0 486")
    ack = await peer.recv()
    assert ack.method == "ACK"
    peer.send(update_from_callee(inv, peer.port, branch="z9hG4bKupd2", cseq=1), port)
    resp = await peer.recv()
    assert resp.status == 481 and resp.cseq.method == "UPDATE"
    await app.expect_none(0.2)


async def test_update_from_unknown_fork_481(engine, make_app, peer):
    """An UPDATE whose From tag matches no provisional response creates no dialog."""
    app = await make_app(engine)
    port = engine.sip_port()
    txn, inv = await invite_peer(app, peer, SDP)
    peer.send(reply(inv, 183, contact=f"<sip:callee@127.0.0.1:{peer.port}>"), port)
    await app.next("sip")
    peer.send(update_from_callee(inv, peer.port, branch="z9hG4bKupd3", cseq=1,
                                 to_tag="othertag"), port)
    resp = await peer.recv()
    assert resp.status == 481 and resp.cseq.method == "UPDATE"
    await app.expect_none(0.2)
    r = await app.call(["sip", txn, ""], f"CANCEL {inv.uri} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK", r.tokens


@pytest.mark.sipp
@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")
async def test_sipp_callee_updates_during_setup(engine, make_app):
    """SIPp (tests/scenarios/srf-uas-update-early.xml): 183, UPDATE with SDP, expects 200 with SDP."""
    app = await make_app(engine)
    sipp_port = free_udp_port()
    sipp = asyncio.create_task(run_sipp(
        "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(sipp_port), "-m", "1",
        timeout=10))
    await asyncio.sleep(0.3)
    r = await app.call(["sip", "", ""],
                       f"INVITE sip:sipp@127.0.0.1:{sipp_port} SIP/2.0\r\n"
                       f"from: <sip:app@localhost>\r\ncontact: <sip:app@localhost>\r\n\r\n{SDP}")
    assert r.tokens[3] == "OK", r.tokens
    txn = r.tokens[10]
    sent = parse_message(r.sip.encode())
    did = f"{sent.call_id};from-tag={sent.from_.tag}"
    seen: list[str] = []
    while True:
        ev = await app.next("sip", timeout=5)
        first = ev.sip.split("\r\n", 1)[0]
        seen.append(first)
        if first.startswith("UPDATE "):
            utxn = ev.tokens[8]
            assert utxn != txn and ev.tokens[9] == did
            r = await app.call(["sip", utxn, ""], srf_response(200, "OK", ev.sip, SDP))
            assert r.tokens[3] == "OK", r.tokens
            continue
        assert ev.tokens[8] == txn, ev.tokens
        if first.startswith("SIP/2.0 200"):
            break
    assert any(s.startswith("SIP/2.0 183") for s in seen), seen
    assert any(s.startswith("UPDATE ") for s in seen), seen
    r = await app.call(["sip", "", did], "ACK sip:placeholder SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK", r.tokens
    r = await app.call(["sip", "", did], "BYE sip:placeholder SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK", r.tokens
    ev = await app.next("sip", timeout=5)
    assert ev.sip.startswith("SIP/2.0 200") and "BYE" in ev.sip
    rc, out = await sipp
    assert rc == 0, out[-3000:]


async def test_uas_second_update_during_setup(engine, make_app, peer):
    """The caller's side (the symmetric case): an UPDATE in the early dialog of an incoming
    INVITE reaches the app (own transaction id, the INVITE's dialog id, engine.md
    deviation); a second UPDATE while the first is unanswered gets 500 (RFC 3311 5.2)."""
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    inv = invite(peer.port, port, call_id="early-uas-2", body=SDP)
    peer.send(inv, port)
    await peer.recv()  # 100 Trying
    ev = await app.next("sip")
    txn = ev.tokens[8]
    await app.call(["sip", txn, ""], answer(txn, 183, "Session Progress", inv))
    progress = await peer.recv()
    assert progress.status == 183 and progress.to.tag
    upd1 = invite(peer.port, port, method="UPDATE", call_id="early-uas-2", branch="z9hG4bKu1",
                  cseq=2, to_tag=progress.to.tag, body=SDP)
    peer.send(upd1, port)
    ev = await app.next("sip")
    assert ev.sip.startswith("UPDATE") and ev.tokens[9] == "early-uas-2;from-tag=ftag1"
    utxn = ev.tokens[8]
    assert utxn != txn
    upd2 = invite(peer.port, port, method="UPDATE", call_id="early-uas-2", branch="z9hG4bKu2",
                  cseq=3, to_tag=progress.to.tag, body=SDP)
    peer.send(upd2, port)
    resp = await peer.recv()
    assert resp.status == 500 and resp.cseq.seq == 3 and resp.has("Retry-After")
    await app.expect_none(0.2)
    r = await app.call(["sip", utxn, ""], answer(utxn, 200, "OK", upd1, body=SDP))
    assert r.tokens[3] == "OK", r.tokens
    resp = await peer.recv()
    assert resp.status == 200 and resp.cseq.seq == 2
