"""Mid-dialog features through our engine with npm drachtio-srf apps: PRACK (RFC 3262),
re-INVITE (late offer both ways), UPDATE, SUBSCRIBE/NOTIFY, and the B2BUA variants of the
reference test suite (late offer, fast re-INVITE before the A-leg ACK, PRACK on both legs).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from interop_harness import Engine, NodeApp, Sipp, header, sip_messages

pytestmark = [pytest.mark.sipp, pytest.mark.node]


def _ok(res_sipp: Sipp, timeout: float = 15) -> str:
    res = res_sipp.result(timeout=timeout)
    assert res.rc == 0 and res.successful == 1, res.explain()
    return res.messages


def test_uas_reliable_provisional(start_engine: Callable[..., Engine],
                                  start_app: Callable[..., NodeApp],
                                  start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    app = start_app("uas.js", engine, reliable=True)
    caller = start_sipp("uac-prack.xml", remote=engine.sip_target, pause_ms=200)
    trace = _ok(caller)
    sent = app.wait_for("reliable-sent")
    assert sent["error"] is None and sent["rseq"], sent
    assert app.wait_for("prack")["rack"].split()[0] == sent["rseq"]
    app.wait_for("dialog")
    rel = sip_messages(trace, "SIP/2.0 183")[0]
    assert "100rel" in (header(rel, "Require") or "")
    assert header(rel, "Contact") is not None


def test_uac_sends_prack(start_engine: Callable[..., Engine],
                         start_app: Callable[..., NodeApp],
                         start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    callee = start_sipp("uas-prack.xml")
    app = start_app("uac.js", engine, uri=f"sip:p@127.0.0.1:{callee.port}", hold=200,
                    headers={"Supported": "100rel"})
    prov = app.wait_for("provisional", where=lambda e: e["status"] == 180)
    assert prov["rseq"] == "1"
    app.wait_for("dialog")
    app.wait_for("hungup")
    trace = _ok(callee)
    prack = sip_messages(trace, "PRACK ")[0]
    invite_cseq = (header(sip_messages(trace, "INVITE ")[0], "CSeq") or "").split()[0]
    assert (header(prack, "RAck") or "").split() == ["1", invite_cseq, "INVITE"]


def test_reinvite_without_sdp_answered_in_modify(start_engine: Callable[..., Engine],
                                                 start_app: Callable[..., NodeApp],
                                                 start_sipp: Callable[..., Sipp]) -> None:
    """Reference reinvite-tests: the app offers in the 200, gets the answer in the ACK."""
    engine = start_engine()
    app = start_app("uas.js", engine, answerReinvite=True)
    caller = start_sipp("uac-send-reinvite-no-sdp.xml", remote=engine.sip_target)
    trace = _ok(caller)
    assert app.wait_for("modify")["hasSdp"] is False
    assert app.wait_for("reinvite-ack")["hasSdp"] is True
    app.wait_for("hungup")
    oks = [m for m in sip_messages(trace, "SIP/2.0 200") if "INVITE" in (header(m, "CSeq") or "")]
    assert any("o=app 1234 2" in m for m in oks), oks


def test_uas_sends_reinvite(start_engine: Callable[..., Engine],
                            start_app: Callable[..., NodeApp],
                            start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    app = start_app("uas.js", engine, reinviteAfter=100, hangupAfter=1000)
    caller = start_sipp("uac-recv-reinvite.xml", remote=engine.sip_target)
    trace = _ok(caller)
    assert app.wait_for("modified")["remoteSdp"] is True
    app.wait_for("hungup")
    reinvite = [m for m in sip_messages(trace, "INVITE ")
                if "o=app 1234 2" in m]
    assert reinvite, trace[-3000:]
    assert ";tag=" in (header(reinvite[0], "To") or "")


def test_uac_gets_update_with_sdp(start_engine: Callable[..., Engine],
                                  start_app: Callable[..., NodeApp],
                                  start_sipp: Callable[..., Sipp]) -> None:
    """Reference uac test 17: a far-end UPDATE after connect gets an automatic 200 + SDP."""
    engine = start_engine()
    callee = start_sipp("uas-update-with-sdp.xml")
    app = start_app("uac.js", engine, uri=f"sip:u@127.0.0.1:{callee.port}", hold=1000)
    app.wait_for("dialog")
    app.wait_for("hungup")
    trace = _ok(callee)
    ok = [m for m in sip_messages(trace, "SIP/2.0 200") if "UPDATE" in (header(m, "CSeq") or "")]
    assert ok and "o=app 1234" in ok[0], trace[-3000:]


def test_subscribe_notify(start_engine: Callable[..., Engine],
                          start_app: Callable[..., NodeApp],
                          start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    app = start_app("subscribe.js", engine)
    subscriber = start_sipp("uac-subscribe.xml", remote=engine.sip_target, service="resource")
    trace = _ok(subscriber)
    dialog = app.wait_for("dialog")
    assert dialog["dialogType"] == "SUBSCRIBE" and dialog["subscriptions"] == 1
    r1 = app.wait_for("notify-response")
    assert r1["status"] == 200 and r1["subscriptions"] == 1
    r2 = app.wait_for("notify-response")
    assert r2["status"] == 200 and r2["subscriptions"] == 0
    accepted = sip_messages(trace, "SIP/2.0 202")[0]
    assert header(accepted, "Contact") is not None
    notifies = sip_messages(trace, "NOTIFY ")
    assert len(notifies) == 2
    assert all(header(n, "Call-ID") == header(accepted, "Call-ID") for n in notifies)


def test_b2bua_late_offer(start_engine: Callable[..., Engine],
                          start_app: Callable[..., NodeApp],
                          start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    b = start_sipp("uas.xml")
    app = start_app("b2bua.js", engine, uri=f"sip:b@127.0.0.1:{b.port}")
    a = start_sipp("uac-nosdp.xml", remote=engine.sip_target, service="b", pause_ms=200)
    a_trace = _ok(a, timeout=30)
    app.wait_for("bridged")
    b_trace = _ok(b)
    b_invite = sip_messages(b_trace, "INVITE ")[0]
    assert "v=0" not in b_invite
    # A's answer (in its ACK) reached B in the B2BUA's ACK
    assert "o=user1" in sip_messages(b_trace, "ACK ")[0]
    assert "o=user2" in next(m for m in sip_messages(a_trace, "SIP/2.0 200")
                             if "INVITE" in (header(m, "CSeq") or ""))


def test_b2bua_fast_reinvite_before_ack(start_engine: Callable[..., Engine],
                                        start_app: Callable[..., NodeApp],
                                        start_sipp: Callable[..., Sipp]) -> None:
    """Reference b2b test 17: B re-INVITEs before A's (late) ACK; it is relayed afterwards."""
    engine = start_engine()
    b = start_sipp("uas-reinvite.xml")
    app = start_app("b2bua.js", engine, uri=f"sip:b@127.0.0.1:{b.port}")
    a = start_sipp("uac-delayed-ack.xml", remote=engine.sip_target, service="b")
    a_trace = _ok(a, timeout=30)
    assert app.wait_for("modify")["leg"] == "uac"
    assert app.wait_for("relayed")["leg"] == "uac"
    _ok(b)
    a_reinvite = [m for m in sip_messages(a_trace, "INVITE ") if "o=user2" in m]
    assert a_reinvite, a_trace[-3000:]


def test_b2bua_prack_both_legs(start_engine: Callable[..., Engine],
                               start_app: Callable[..., NodeApp],
                               start_sipp: Callable[..., Sipp]) -> None:
    """Reference b2b test 1: reliable 180 from B relayed reliably to A (headers passed)."""
    engine = start_engine()
    b = start_sipp("uas-prack.xml")
    app = start_app("b2bua.js", engine, uri=f"sip:b@127.0.0.1:{b.port}", passHeaders="all")
    a = start_sipp("uac-prack.xml", remote=engine.sip_target, service="b", pause_ms=200)
    _ok(a, timeout=30)
    app.wait_for("bridged")
    _ok(b)
