"""The ``proxy`` command: forwarding, forking, record-routing, CANCEL fan-out, best response."""

from __future__ import annotations

import asyncio

from enginekit import SDP, invite

from drachtio.sip import Request, Response


def proxy_cmd(txn: str, *targets: str, rr: bool = True, parallel: bool = False,
              follow: bool = False, prov: str = "", final: str = "") -> list[str]:
    return ["proxy", txn, "remainInDialog" if rr else "", "fullResponse",
            "followRedirects" if follow else "", "simultaneous" if parallel else "serial",
            prov, final, *targets]


def resp_for(req: Request, status: int, tag: str = "btag", contact: str | None = None,
             body: str = "") -> bytes:
    headers = [("Record-Route", v) for v in req.headers.get_lines("Record-Route")]
    if contact:
        headers.append(("Contact", contact))
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return req.create_response(status, to_tag=tag if status > 100 else None, headers=headers,
                               body=body.encode()).to_bytes()


async def setup_call(engine, make_app, make_peer, call_id: str, **extra: str):
    app = await make_app(engine, "invite")
    a = await make_peer()
    port = engine.sip_port()
    inv = invite(a.port, port, call_id=call_id, body=SDP, **extra)
    a.send(inv, port)
    assert (await a.recv()).status == 100
    ev = await app.next("sip")
    return app, a, port, ev.tokens[8]


async def test_proxy_record_route_and_in_dialog(engine, make_app, make_peer):
    app, a, port, txn = await setup_call(engine, make_app, make_peer, "px-1")
    b = await make_peer()
    r_id, fut = app.start(proxy_cmd(txn, f"sip:b@127.0.0.1:{b.port}"),
                    f"INVITE sip:b@127.0.0.1:{b.port} SIP/2.0\r\nX-Proxied: yes\r\n\r\n")
    fwd = await b.recv()
    assert isinstance(fwd, Request) and fwd.method == "INVITE"
    assert fwd.uri == f"sip:b@127.0.0.1:{b.port}"  # our own R-URI was replaced
    vias = fwd.vias
    assert len(vias) == 2 and vias[0].port == port and vias[0].has_rport
    assert vias[1].port == a.port
    assert fwd.get("Record-Route") == f"<sip:127.0.0.1:{port};lr>"
    assert fwd.get("Max-Forwards") == "69"
    assert fwd.get("X-Proxied") == "yes"
    assert fwd.body == SDP.encode()
    b.send(resp_for(fwd, 100), port)
    b.send(resp_for(fwd, 180), port)
    ringing = await a.recv()
    assert ringing.status == 180 and len(ringing.vias) == 1
    b.send(resp_for(fwd, 200, contact=f"<sip:b@127.0.0.1:{b.port}>", body=SDP), port)
    ok = await a.recv()
    assert ok.status == 200 and ok.get("Record-Route") == f"<sip:127.0.0.1:{port};lr>"
    # the app saw the 200 as a continue frame, then done
    await asyncio.sleep(0.1)
    cont = app.continued[r_id]
    assert len(cont) == 1 and cont[0].tokens[4] == "network" and cont[0].sip.startswith("SIP/2.0 200")
    assert cont[0].tokens[8] == str(b.port)
    done = await asyncio.wait_for(fut, 2)
    assert done.tokens[3:] == ["OK", "done"]
    # ACK and BYE from A follow the Route through us, without the app
    route = f"Route: <sip:127.0.0.1:{port};lr>\r\n"
    ack = invite(a.port, port, method="ACK", call_id="px-1", branch="z9hG4bKpa", to_tag="btag",
                 uri=f"sip:b@127.0.0.1:{b.port}", extra=route)
    a.send(ack, port)
    fack = await b.recv()
    assert fack.method == "ACK" and not fack.has("Route") and len(fack.vias) == 2
    bye = invite(a.port, port, method="BYE", call_id="px-1", branch="z9hG4bKpb", cseq=2,
                 to_tag="btag", uri=f"sip:b@127.0.0.1:{b.port}", extra=route)
    a.send(bye, port)
    fbye = await b.recv()
    assert fbye.method == "BYE" and fbye.get("Max-Forwards") == "69"
    b.send(resp_for(fbye, 200, tag=""), port)
    r = await a.recv()
    assert r.status == 200 and r.cseq.method == "BYE"
    await app.expect_none(0.2)


async def test_proxy_serial_failover_and_best_response(engine, make_app, make_peer):
    app, a, port, txn = await setup_call(engine, make_app, make_peer, "px-2")
    b1 = await make_peer()
    b2 = await make_peer()
    r_id, fut = app.start(proxy_cmd(txn, f"sip:b1@127.0.0.1:{b1.port}", f"sip:b2@127.0.0.1:{b2.port}"),
                    f"INVITE sip:b1@127.0.0.1:{b1.port} SIP/2.0\r\n\r\n")
    f1 = await b1.recv()
    b1.send(resp_for(f1, 486, tag="t1"), port)
    ack = await b1.recv()
    assert ack.method == "ACK"  # hop-by-hop ACK for the failure
    f2 = await b2.recv()
    assert f2.method == "INVITE"
    b2.send(resp_for(f2, 480, tag="t2"), port)
    final = await a.recv()
    assert final.status in (480, 486)  # 4xx: the lowest class; one of them goes upstream
    done = await asyncio.wait_for(fut, 2)
    assert done.tokens[3:] == ["OK", "done"]
    assert [m.sip.split(" ")[1] for m in app.continued[r_id]] == ["486", "480"]


async def test_proxy_parallel_cancels_losers(engine, make_app, make_peer):
    app, a, port, txn = await setup_call(engine, make_app, make_peer, "px-3")
    b1 = await make_peer()
    b2 = await make_peer()
    app.send(proxy_cmd(txn, f"sip:b1@127.0.0.1:{b1.port}", f"sip:b2@127.0.0.1:{b2.port}",
                       parallel=True, rr=False),
             f"INVITE sip:b1@127.0.0.1:{b1.port} SIP/2.0\r\n\r\n")
    f1 = await b1.recv()
    f2 = await b2.recv()
    b1.send(resp_for(f1, 180, tag="t1"), port)
    b2.send(resp_for(f2, 180, tag="t2"), port)
    assert (await a.recv()).status == 180
    assert (await a.recv()).status == 180
    b2.send(resp_for(f2, 200, tag="t2", contact=f"<sip:b2@127.0.0.1:{b2.port}>"), port)
    assert (await a.recv()).status == 200
    cancel = await b1.recv()
    assert cancel.method == "CANCEL" and cancel.top_via.branch == f1.top_via.branch
    b1.send(resp_for(cancel, 200, tag="t1"), port)
    b1.send(resp_for(f1, 487, tag="t1"), port)
    ack = await b1.recv()
    assert ack.method == "ACK"
    await a.expect_none(0.3)  # the 487 is not forwarded after a 2xx


async def test_proxy_upstream_cancel(engine, make_app, make_peer):
    app, a, port, txn = await setup_call(engine, make_app, make_peer, "px-4", branch="z9hG4bKx4")
    b = await make_peer()
    app.send(proxy_cmd(txn, f"sip:b@127.0.0.1:{b.port}"),
             f"INVITE sip:b@127.0.0.1:{b.port} SIP/2.0\r\n\r\n")
    f = await b.recv()
    b.send(resp_for(f, 180), port)
    assert (await a.recv()).status == 180
    a.send(invite(a.port, port, method="CANCEL", call_id="px-4", branch="z9hG4bKx4"), port)
    ok = await a.recv()
    assert ok.status == 200 and ok.cseq.method == "CANCEL"
    cancel = await b.recv()
    assert cancel.method == "CANCEL"
    b.send(resp_for(cancel, 200), port)
    b.send(resp_for(f, 487), port)
    final = await a.recv()
    assert final.status == 487


async def test_proxy_max_forwards_zero(engine, make_app, make_peer):
    app = await make_app(engine, "invite")
    a = await make_peer()
    port = engine.sip_port()
    inv = invite(a.port, port, call_id="px-5").replace("Max-Forwards: 70", "Max-Forwards: 0")
    a.send(inv, port)
    await a.recv()
    ev = await app.next("sip")
    r = await app.call(proxy_cmd(ev.tokens[8], "sip:b@127.0.0.1:9"),
                       "INVITE sip:b@127.0.0.1:9 SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK" and "483" in r.tokens[4]
    assert (await a.recv()).status == 483


async def test_proxy_follow_redirect(engine, make_app, make_peer):
    app, a, port, txn = await setup_call(engine, make_app, make_peer, "px-6")
    b1 = await make_peer()
    b2 = await make_peer()
    app.send(proxy_cmd(txn, f"sip:b1@127.0.0.1:{b1.port}", follow=True),
             f"INVITE sip:b1@127.0.0.1:{b1.port} SIP/2.0\r\n\r\n")
    f1 = await b1.recv()
    b1.send(resp_for(f1, 302, contact=f"<sip:b2@127.0.0.1:{b2.port}>"), port)
    await b1.recv()  # ACK
    f2 = await b2.recv()
    assert f2.method == "INVITE"
    b2.send(resp_for(f2, 200, contact=f"<sip:b2@127.0.0.1:{b2.port}>"), port)
    final = await a.recv()
    assert final.status == 200


async def test_proxy_unreachable_target_nok(engine, make_app, make_peer):
    app, a, _port, txn = await setup_call(engine, make_app, make_peer, "px-7")
    r = await app.call(proxy_cmd(txn, "sip:b@127.0.0.1:5099;transport=sctp"),
                       "INVITE sip:b@127.0.0.1:5099 SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK" and r.tokens[4].startswith("error proxying request to")
    final = await a.recv()
    assert isinstance(final, Response) and final.status == 500


async def test_proxy_provisional_timeout_tries_next(engine, make_app, make_peer):
    app, a, port, txn = await setup_call(engine, make_app, make_peer, "px-8")
    b1 = await make_peer()
    b2 = await make_peer()
    app.send(proxy_cmd(txn, f"sip:b1@127.0.0.1:{b1.port}", f"sip:b2@127.0.0.1:{b2.port}",
                       prov="300ms"),
             f"INVITE sip:b1@127.0.0.1:{b1.port} SIP/2.0\r\n\r\n")
    await b1.recv()  # never answered
    f2 = await b2.recv_until(lambda m: isinstance(m, Request) and m.method == "INVITE", 3)
    b2.send(resp_for(f2, 200, contact=f"<sip:b2@127.0.0.1:{b2.port}>"), port)
    final = await a.recv_until(lambda m: isinstance(m, Response) and m.status >= 200, 3)
    assert final.status == 200
