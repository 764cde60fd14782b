"""SIPp as the far end: calls into an app through the engine, and app calls out to SIPp."""

from __future__ import annotations

import asyncio
import shutil
import socket

import pytest
from enginekit import SDP

from drachtio.sip import parse_message

pytestmark = [pytest.mark.sipp,
              pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")]


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


async def run_sipp(*args: str, timeout: float = 30.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout + 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


def srf_response(status: int, reason: str, req_text: str, body: str = "") -> str:
    req = parse_message(req_text.encode())
    lines = [f"SIP/2.0 {status} {reason}", f"call-id: {req.call_id}",
             f"cseq: {req.get('CSeq')}", f"from: {req.get('From')}", f"to: {req.get('To')}"]
    if body:
        lines.append("content-type: application/sdp")
    return "\r\n".join(lines) + "\r\n\r\n" + body


async def uas_app(app, calls: int) -> int:
    """Answer INVITEs 180/200, wait for ACK, answer BYE 200: an srf createUAS in miniature."""
    answered = 0
    while answered < calls:
        ev = await app.next("sip", timeout=20)
        text = ev.sip
        txn = ev.tokens[8]
        method = text.split(" ", 1)[0]
        if method == "INVITE":
            r = await app.call(["sip", txn, ""], srf_response(180, "Ringing", text))
            assert r.tokens[3] == "OK"
            r = await app.call(["sip", txn, ""], srf_response(200, "OK", text, SDP))
            assert r.tokens[3] == "OK"
        elif method == "BYE":
            r = await app.call(["sip", txn, ""], srf_response(200, "OK", text))
            assert r.tokens[3] == "OK"
            answered += 1
    return answered


async def test_sipp_calls_into_app(engine, make_app):
    app = await make_app(engine, "invite", "bye")
    port = engine.sip_port()
    sipp_port = free_udp_port()
    sipp = asyncio.create_task(run_sipp(
        "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(sipp_port),
        "-m", "5", "-r", "10", "-l", "5"))
    n = await asyncio.wait_for(uas_app(app, 5), 30)
    rc, out = await sipp
    assert rc == 0, out[-2000:]
    assert n == 5


async def test_sipp_tcp_calls_into_app(engine, make_app):
    app = await make_app(engine, "invite", "bye")
    port = engine.sip_port("tcp")
    sipp_port = free_udp_port()
    sipp = asyncio.create_task(run_sipp(
        "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(sipp_port), "-t", "t1",
        "-m", "3", "-r", "10"))
    n = await asyncio.wait_for(uas_app(app, 3), 30)
    rc, out = await sipp
    assert rc == 0, out[-2000:]
    assert n == 3


async def test_app_calls_sipp_uas(engine, make_app):
    app = await make_app(engine)
    sipp_port = free_udp_port()
    sipp = asyncio.create_task(run_sipp("-sn", "uas", "-i", "127.0.0.1", "-p", str(sipp_port),
                                        "-m", "1"))
    await asyncio.sleep(0.5)
    # OPTIONS first: SIPp's uas scenario ignores it, so expect a timeout-free NOK-less send
    r = await app.call(["sip", "", ""],
                       f"INVITE sip:sipp@127.0.0.1:{sipp_port} SIP/2.0\r\n"
                       f"from: <sip:app@localhost>\r\ncontact: <sip:app@localhost>\r\n\r\n{SDP}")
    assert r.tokens[3] == "OK", r.tokens
    txn = r.tokens[10]
    final = None
    while final is None:
        ev = await app.next("sip", timeout=10)
        assert ev.tokens[8] == txn
        status = int(ev.sip.split(" ", 2)[1])
        if status >= 200:
            final = ev
    assert final.sip.startswith("SIP/2.0 200")
    did = final.tokens[9]
    r = await app.call(["sip", "", did], "ACK sip:placeholder SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK", r.tokens
    r = await app.call(["sip", "", did], "BYE sip:placeholder SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK"
    ev = await app.next("sip", timeout=10)
    assert ev.sip.startswith("SIP/2.0 200") and "BYE" in ev.sip
    rc, out = await sipp
    assert rc == 0, out[-2000:]


async def test_app_options_to_sipp(engine, make_app, tmp_path):
    """An OPTIONS from the app answered by a SIPp scenario."""
    scenario = tmp_path / "options_uas.xml"
    scenario.write_text("""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options uas">
  <recv request="OPTIONS"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>""")
    app = await make_app(engine)
    sipp_port = free_udp_port()
    sipp = asyncio.create_task(run_sipp("-sf", str(scenario), "-i", "127.0.0.1", "-p",
                                        str(sipp_port), "-m", "1"))
    await asyncio.sleep(0.5)
    r = await app.call(["sip", "", ""], f"OPTIONS sip:sipp@127.0.0.1:{sipp_port} SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "OK"
    ev = await app.next("sip", timeout=10)
    assert ev.sip.startswith("SIP/2.0 200") and ev.tokens[8] == r.tokens[10]
    rc, out = await sipp
    assert rc == 0, out[-2000:]


async def test_sipp_cancel(engine, make_app, tmp_path):
    """SIPp sends INVITE then CANCEL; the engine answers 200/487 and relays the CANCEL."""
    scenario = tmp_path / "cancel_uac.xml"
    scenario.write_text("""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="cancel uac">
  <send><![CDATA[
INVITE sip:service@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:service@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="100"/>
  <recv response="180"/>
  <send><![CDATA[
CANCEL sip:service@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:service@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
  <recv response="487"/>
  <send><![CDATA[
ACK sip:service@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>""")
    app = await make_app(engine, "invite")
    port = engine.sip_port()
    sipp = asyncio.create_task(run_sipp("-sf", str(scenario), f"127.0.0.1:{port}", "-i",
                                        "127.0.0.1", "-p", str(free_udp_port()), "-m", "1"))
    ev = await app.next("sip", timeout=10)
    txn = ev.tokens[8]
    await app.call(["sip", txn, ""], srf_response(180, "Ringing", ev.sip))
    cancel = await app.next("sip", timeout=10)
    assert cancel.sip.startswith("CANCEL") and cancel.tokens[8] == txn
    rc, out = await sipp
    assert rc == 0, out[-2000:]
