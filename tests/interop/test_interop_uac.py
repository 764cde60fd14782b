"""npm drachtio-srf apps sending requests through our engine to SIPp far ends."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from interop_harness import Engine, NodeApp, Sipp, header, sip_messages

pytestmark = [pytest.mark.sipp, pytest.mark.node]


def test_create_uac_app_hangs_up(start_engine: Callable[..., Engine],
                                 start_app: Callable[..., NodeApp],
                                 start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    callee = start_sipp("uas.xml")
    app = start_app("uac.js", engine, uri=f"sip:dave@127.0.0.1:{callee.port}", hold=300)
    assert app.wait_for("invite-sent")["err"] is None
    assert app.wait_for("provisional")["status"] == 180
    dialog = app.wait_for("dialog")
    assert dialog["type"] == "uac"
    assert dialog["remoteSdp"] is True
    app.wait_for("hungup")
    res = callee.result(timeout=15)
    assert res.rc == 0 and res.successful == 1, res.explain()

    invite = sip_messages(res.messages, "INVITE ")[0]
    assert invite.startswith(f"INVITE sip:dave@127.0.0.1:{callee.port} SIP/2.0")
    via = header(invite, "Via") or header(invite, "v")
    assert via and f"127.0.0.1:{engine.sip_port}" in via and "branch=z9hG4bK" in via
    assert header(invite, "Subject") == "uac 0"
    assert "o=app 1234" in invite
    contact = header(invite, "Contact") or header(invite, "m")
    assert contact and f"127.0.0.1:{engine.sip_port}" in contact
    # the ACK went to the callee's Contact with the INVITE's CSeq number
    ack = sip_messages(res.messages, "ACK ")[0]
    inv_cseq = (header(invite, "CSeq") or "").split()[0]
    assert (header(ack, "CSeq") or "").split() == [inv_cseq, "ACK"]


def test_create_uac_far_end_hangs_up(start_engine: Callable[..., Engine],
                                     start_app: Callable[..., NodeApp],
                                     start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    callee = start_sipp("uas-hangup.xml", pause_ms=300)
    app = start_app("uac.js", engine, uri=f"sip:erin@127.0.0.1:{callee.port}")
    app.wait_for("dialog")
    assert app.wait_for("destroy")["reason"] == "normal release"
    res = callee.result(timeout=15)
    assert res.rc == 0 and res.successful == 1, res.explain()


def test_create_uac_rejected(start_engine: Callable[..., Engine],
                             start_app: Callable[..., NodeApp],
                             start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    callee = start_sipp("uas-404.xml")
    app = start_app("uac.js", engine, uri=f"sip:nobody@127.0.0.1:{callee.port}")
    err = app.wait_for("uac-error")
    assert err["status"] == 404, err
    # the engine ACKed the 404 by itself
    res = callee.result(timeout=15)
    assert res.rc == 0 and res.successful == 1, res.explain()


def test_register_with_digest_auth(start_engine: Callable[..., Engine],
                                   start_app: Callable[..., NodeApp],
                                   start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    registrar = start_sipp("uas-auth-register.xml")
    app = start_app("register.js", engine, uri=f"sip:127.0.0.1:{registrar.port}",
                    username="foo", password="bar")
    assert "Digest" in (app.wait_for("authenticate")["authorization"] or "")
    final = app.wait_for("response", where=lambda e: e["status"] >= 200)
    assert final["status"] == 200, final
    assert final["authorization"] is True
    res = registrar.result(timeout=15)
    assert res.rc == 0 and res.successful == 1, res.explain()
    regs = sip_messages(res.messages, "REGISTER ")
    assert len(regs) == 2
    assert header(regs[0], "Authorization") is None
    assert re.search(r'username="foo"', header(regs[1], "Authorization") or "")
    # localhost in From/Contact was replaced by the engine's address
    assert f"127.0.0.1:{engine.sip_port}" in (header(regs[1], "Contact") or "")


def test_register_with_wrong_password(start_engine: Callable[..., Engine],
                                      start_app: Callable[..., NodeApp],
                                      start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    registrar = start_sipp("uas-auth-register.xml")
    app = start_app("register.js", engine, uri=f"sip:127.0.0.1:{registrar.port}",
                    username="foo", password="nope")
    final = app.wait_for("response", where=lambda e: e["status"] >= 200)
    assert final["status"] == 403, final
    res = registrar.result(timeout=15)
    assert res.failed == 1, res.explain()


def test_options_out_of_dialog(start_engine: Callable[..., Engine],
                               start_app: Callable[..., NodeApp],
                               start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    peer = start_sipp("uas-options.xml")
    app = start_app("options.js", engine, uri=f"sip:probe@127.0.0.1:{peer.port}")
    sent = app.wait_for("request-sent")
    assert f"127.0.0.1:{engine.sip_port}" in sent["via"]
    assert ";tag=" in sent["from"]
    assert app.wait_for("response")["status"] == 200
    res = peer.result(timeout=15)
    assert res.rc == 0 and res.successful == 1, res.explain()
    options = sip_messages(res.messages, "OPTIONS ")[0]
    assert header(options, "X-Probe") == "out"
    assert header(options, "Max-Forwards") == "70"
    assert header(options, "Call-ID") == sent["callId"]
