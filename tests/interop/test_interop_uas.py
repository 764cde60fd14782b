"""npm drachtio-srf apps as UAS behind our engine, driven by SIPp callers."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from interop_harness import Engine, EngineConfig, NodeApp, Sipp, header, sip_messages

pytestmark = [pytest.mark.sipp, pytest.mark.node]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_uas_answers_invite_caller_hangs_up(
        transport: str, start_engine: Callable[..., Engine],
        start_app: Callable[..., NodeApp], start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine(EngineConfig(cdrs=True))
    app = start_app("uas.js", engine, cdrs=True)
    extra = ["-t", "t1"] if transport == "tcp" else []
    caller = start_sipp("uac.xml", remote=engine.sip_target, service="alice", pause_ms=300,
                        extra=extra)
    res = caller.result()
    assert res.rc == 0 and res.successful == 1, res.explain()

    invite = app.wait_for("invite")
    assert invite["source"] == "network"
    assert invite["protocol"] == transport
    assert invite["hasSdp"] is True
    dialog = app.wait_for("dialog")
    assert dialog["type"] == "uas"
    assert dialog["callId"] == invite["callId"]
    app.wait_for("ack")
    assert app.wait_for("destroy")["reason"] == "normal release"
    assert app.wait_for("cdr:attempt")["source"] == "network"
    assert app.wait_for("cdr:start")["role"] == "uas"
    assert app.wait_for("cdr:stop")["reason"] == "normal-release"

    # what the caller got: the app's SDP and header, a Contact, a To-tag
    ok = [m for m in sip_messages(res.messages, "SIP/2.0 200") if "INVITE" in m]
    assert ok, res.explain()
    assert "o=app 1234" in ok[0]
    assert re.search(r"^X-App: uas", ok[0], re.M | re.I)
    assert re.search(r"^(Contact|m):", ok[0], re.M | re.I)
    assert re.search(r"^(To|t):.*;tag=", ok[0], re.M | re.I)


def test_uas_app_hangs_up(start_engine: Callable[..., Engine],
                          start_app: Callable[..., NodeApp],
                          start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    app = start_app("uas.js", engine, hangupAfter=300)
    caller = start_sipp("uac-expect-bye.xml", remote=engine.sip_target, service="bob")
    res = caller.result()
    assert res.rc == 0 and res.successful == 1, res.explain()
    assert app.wait_for("hungup")["method"] == "BYE"
    byes = sip_messages(res.messages, "BYE ")
    assert byes, res.explain()
    # 'sip:placeholder' from srf was replaced by the caller's Contact
    assert byes[0].startswith(f"BYE sip:sipp@127.0.0.1:{caller.port}")
    assert re.search(r"^X-Reason: app hangup", byes[0], re.M | re.I)


def test_cancel_before_answer(start_engine: Callable[..., Engine],
                              start_app: Callable[..., NodeApp],
                              start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    app = start_app("cancel.js", engine, answerAfter=4000)
    caller = start_sipp("uac-cancel.xml", remote=engine.sip_target, service="carol")
    res = caller.result()
    assert res.rc == 0 and res.successful == 1, res.explain()
    assert app.wait_for("cancel")["method"] == "CANCEL"
    # the engine answered 200 (CANCEL) and 487 itself and forgot the INVITE transaction:
    # a late 200 from the app is refused
    late = app.wait_for("late-answer")
    assert late["error"], late
    oks = sip_messages(res.messages, "SIP/2.0 200")
    assert all((header(m, "CSeq") or "").endswith("CANCEL") for m in oks), res.explain()


def test_503_when_no_app_is_connected(start_engine: Callable[..., Engine],
                                      start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    caller = start_sipp("uac-expect-503.xml", remote=engine.sip_target)
    res = caller.result()
    assert res.rc == 0 and res.successful == 1, res.explain()


def test_503_when_no_app_routes_invite(start_engine: Callable[..., Engine],
                                       start_app: Callable[..., NodeApp],
                                       start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    app = start_app("connect.js", engine, routes=["options"])
    caller = start_sipp("uac-expect-503.xml", remote=engine.sip_target)
    res = caller.result()
    assert res.rc == 0 and res.successful == 1, res.explain()
    assert app.alive()


def test_caller_never_acks(start_engine: Callable[..., Engine],
                           start_app: Callable[..., NodeApp],
                           start_sipp: Callable[..., Sipp]) -> None:
    """No ACK for the 200: after 64*T1 (shortened to 3.2 s here) the engine sends BYE."""
    engine = start_engine(EngineConfig(t1_ms=50, t1x64_ms=3200, cdrs=True))
    app = start_app("uas.js", engine, cdrs=True)
    caller = start_sipp("uac-drop-all-200.xml", remote=engine.sip_target, timeout=30,
                        recv_timeout_ms=20000)
    res = caller.result()
    assert res.rc == 0 and res.successful == 1, res.explain()
    destroy = app.wait_for("destroy", timeout=10)
    assert destroy["reason"] == "ACK timeout"
    byes = sip_messages(res.messages, "BYE ")
    assert byes, res.explain()
    assert re.search(r'^Reason:.*ACK timeout', byes[0], re.M | re.I), byes[0]
    # the 200 was retransmitted (timer G) before the engine gave up
    assert len(sip_messages(res.messages, "SIP/2.0 200")) >= 2, res.explain()
    # the BYE came after about 64*T1, not after the 32 s default
    call_length = res.stats.get("CallLength(C)", "")
    assert call_length, res.explain()
    h, m, s, _us = (int(x) for x in call_length.split(":"))
    assert h == 0 and m == 0 and 2 <= s <= 12, call_length
