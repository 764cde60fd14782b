"""Outbound connections (wire-protocol.md 6.2): the engine dials the app for each new
request (``tcp://`` handler), or asks an HTTP request handler what to do."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from enginekit import SDP, SECRET, AppClient, invite
from test_engine_sipp import free_udp_port, run_sipp

from drachtio.engine import Engine, EngineConfig
from drachtio.engine.config import RequestHandler, load_xml_config
from drachtio.sip import Response
from drachtio.srf import Srf
from drachtio.srf.listen import end_session

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture
async def handler_engine() -> AsyncIterator[Callable[..., Any]]:
    engines: list[Engine] = []

    async def make(handlers: dict[str, RequestHandler], **cfg: Any) -> Engine:
        eng = Engine(EngineConfig(contacts=["sip:127.0.0.1:0;transport=udp,tcp"],
                                  admin_port=0, secret=SECRET, request_handlers=handlers,
                                  **cfg))
        await eng.start()
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        await eng.stop()


def uas_srf() -> tuple[Srf, list[str]]:
    """An Srf app answering INVITEs; each call's connection is closed when the call ends."""
    srf = Srf()
    seen: list[str] = []

    @srf.invite
    async def on_invite(req: Any, res: Any) -> None:
        seen.append(req.get("Call-ID"))
        uas = await srf.create_uas(req, res, local_sdp=SDP)
        uas.on("destroy", lambda *_: end_session(req))

    return srf, seen


@pytest.mark.sipp
@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")
async def test_engine_dials_listening_srf_per_call_sipp(handler_engine) -> None:
    srf, seen = uas_srf()
    server = await srf.listen(host="127.0.0.1", port=0, secret=SECRET)
    try:
        engine = await handler_engine({"INVITE": RequestHandler(
            f"tcp://127.0.0.1:{server.port}")})
        port = engine.sip_port()
        rc, out = await run_sipp(
            "-sf", str(SCENARIOS / "uac.xml"), f"127.0.0.1:{port}", "-i", "127.0.0.1",
            "-p", str(free_udp_port()), "-m", "4", "-r", "10", "-l", "4", "-d", "200")
        assert rc == 0, out[-2000:]
        assert len(seen) == 4 and len(set(seen)) == 4
        # one connection per call, each closed by the app when its call ended
        for _ in range(50):
            if not server.connections and engine.stats["app_connections"] == 0:
                break
            await asyncio.sleep(0.05)
        assert not server.connections
        assert engine.stats["app_connections"] == 0
    finally:
        server.close(connections=True)
        await server.wait_closed()


async def test_nobody_listening_gets_480(handler_engine, peer) -> None:
    dead = free_udp_port()  # nothing listens on TCP there either (ephemeral, just freed)
    engine = await handler_engine({"*": RequestHandler(f"tcp://127.0.0.1:{dead}")})
    port = engine.sip_port()
    peer.send(invite(peer.port, port, call_id="ob-480", body=SDP), port)
    trying = await peer.recv()
    assert isinstance(trying, Response) and trying.status == 100
    final = await peer.recv()
    assert isinstance(final, Response) and final.status == 480


async def test_wrong_secret_gets_480_and_in_dialog_requests_follow_the_connection(
        handler_engine, peer) -> None:
    bad = Srf()
    bad_server = await bad.listen(host="127.0.0.1", port=0, secret="wrong")
    srf, seen = uas_srf()
    server = await srf.listen(host="127.0.0.1", port=0, secret=SECRET)
    try:
        engine = await handler_engine({"INVITE": RequestHandler(
            f"tcp://127.0.0.1:{bad_server.port}")})
        port = engine.sip_port()
        peer.send(invite(peer.port, port, call_id="ob-bad", body=SDP), port)
        final = await peer.recv_until(lambda m: isinstance(m, Response) and m.status >= 200)
        assert final.status == 480
        # the same engine, now dialing the right app: call, then BYE from the caller
        assert engine.outbound is not None
        engine.outbound.handlers["INVITE"] = RequestHandler(f"tcp://127.0.0.1:{server.port}")
        peer.send(invite(peer.port, port, call_id="ob-ok", body=SDP, branch="z9hG4bKob2",
                         from_tag="obf"), port)
        ok = await peer.recv_until(lambda m: isinstance(m, Response) and m.status >= 200)
        assert ok.status == 200 and seen == ["ob-ok"]
        to = ok.get("To")
        for method, cseq, branch in (("ACK", 1, "z9hG4bKob3"), ("BYE", 2, "z9hG4bKob4")):
            peer.send(invite(peer.port, port, call_id="ob-ok", method=method, cseq=cseq,
                             branch=branch, from_tag="obf").replace(
                f"To: <sip:service@127.0.0.1:{port}>", f"To: {to}"), port)
        bye_ok = await peer.recv_until(
            lambda m: isinstance(m, Response) and m.cseq.method == "BYE")
        assert bye_ok.status == 200
    finally:
        for s in (server, bad_server):
            s.close(connections=True)
            await s.wait_closed()


# -- HTTP request handlers ---------------------------------------------------------------

class HttpHandler:
    """A tiny HTTP server: answers each request with the next JSON (or raw) answer."""

    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.requests: list[tuple[str, str, dict[str, list[str]], bytes]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/sip"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode()
        method, target, _ = line.split(" ", 2)
        headers: dict[str, str] = {}
        while (h := (await reader.readline()).decode()) not in ("\r\n", ""):
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        parts = urlsplit(target)
        self.requests.append((method, parts.path, parse_qs(parts.query), body))
        answer = self.answers.pop(0)
        if answer == "redirect-me":  # an HTTP redirect first: followed
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: /moved/\r\nContent-Length: 0\r\n\r\n")
        else:
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            # chunked, as many frameworks answer
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         + f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_http_handler_actions(handler_engine, peer, make_peer) -> None:
    http = HttpHandler()
    url = await http.start()
    srf, seen = uas_srf()
    server = await srf.listen(host="127.0.0.1", port=0, secret=SECRET)
    target = await make_peer()
    app = AppClient()
    try:
        engine = await handler_engine({"INVITE": RequestHandler(url)})
        port = engine.sip_port()
        assert engine.admin_port is not None
        await app.connect(engine.admin_port)
        await app.call(["authenticate", SECRET, "blue,green"])
        await app.route("invite")

        async def call(call_id: str, answer: Any) -> Response:
            http.answers.append(answer)
            peer.send(invite(peer.port, port, call_id=call_id, body=SDP, branch=f"z9hG4bK{call_id}",
                             extra="X-Anything: 1\r\n", uri=f"sip:alice@127.0.0.1:{port};foo=bar"),
                      port)
            return await peer.recv_until(  # type: ignore[return-value]
                lambda m: isinstance(m, Response) and m.status >= 200 and m.call_id == call_id)

        r = await call("h-reject", {"action": "reject", "data": {"status": 486, "reason": "Busy Here"}})
        assert (r.status, r.reason) == (486, "Busy Here")
        method, path, q, body = http.requests[-1]
        assert (method, path, body) == ("GET", "/sip/", b"")
        assert q["method"] == ["INVITE"] and q["uriUser"] == ["alice"]
        assert q["fromUser"] == ["caller"] and q["toUser"] == ["service"]
        assert q["domain"] == ["127.0.0.1"] and q["protocol"] == ["udp"]
        assert q["source_address"] == ["127.0.0.1"] and q["foo"] == ["bar"]
        assert q["contentType"] == ["application/sdp"]

        r = await call("h-redirect", {"action": "redirect",
                                      "data": {"contact": ["sip:a@10.0.0.1", "sip:b@10.0.0.2"]}})
        assert r.status == 302 and r.get_all("Contact") == ["<sip:a@10.0.0.1>", "<sip:b@10.0.0.2>"]

        r = await call("h-uri", {"action": "route",
                                 "data": {"uri": f"127.0.0.1:{server.port};transport=tcp"}})
        assert r.status == 200 and seen == ["h-uri"]

        # tag routing: a connected app with that tag that routed invite
        http.answers.append({"action": "route", "data": {"tag": "green"}})
        peer.send(invite(peer.port, port, call_id="h-tag", body=SDP, branch="z9hG4bKhtag"), port)
        ev = await app.next("sip")
        assert "h-tag" in ev.sip
        r = await call("h-notag", {"action": "route", "data": {"tag": "red"}})
        assert r.status == 480

        # proxy without any app (redirect of the HTTP request followed on the way)
        http.answers.extend(["redirect-me"])
        http.answers.append({"action": "proxy", "data": {
            "destination": [f"sip:bob@127.0.0.1:{target.port}"], "recordRoute": True}})
        peer.send(invite(peer.port, port, call_id="h-proxy", body=SDP, branch="z9hG4bKhprx"),
                  port)
        fwd = await target.recv_until(lambda m: getattr(m, "method", "") == "INVITE")
        assert fwd.uri == f"sip:bob@127.0.0.1:{target.port}" and fwd.has("Record-Route")
        assert http.requests[-1][1] == "/moved/"
        reply = (f"SIP/2.0 486 Busy Here\r\nVia: {', '.join(fwd.get_all('Via'))}\r\n"
                 f"From: {fwd.get('From')}\r\nTo: {fwd.get('To')};tag=t1\r\n"
                 f"Call-ID: {fwd.call_id}\r\nCSeq: {fwd.get('CSeq')}\r\nContent-Length: 0\r\n\r\n")
        target.send(reply, port)
        up = await peer.recv_until(lambda m: isinstance(m, Response) and m.status >= 200)
        assert up.status == 486

        r = await call("h-garbage", b"this is not json")
        assert r.status == 500
        r = await call("h-unknown", {"action": "dance"})
        assert r.status == 500

        http.answers.append({"action": "reject", "data": {"status": 403}})
        http_post = RequestHandler(url, "POST")
        assert engine.outbound is not None
        engine.outbound.handlers["INVITE"] = http_post
        peer.send(invite(peer.port, port, call_id="h-post", body=SDP, branch="z9hG4bKhpost"),
                  port)
        r2 = await peer.recv_until(lambda m: isinstance(m, Response) and m.status >= 200)
        assert r2.status == 403
        method, _, _, body = http.requests[-1]
        assert method == "POST" and body.startswith(b"INVITE sip:service@") and b"h-post" in body
    finally:
        await app.close()
        http.close()
        server.close(connections=True)
        await server.wait_closed()


def test_request_handlers_from_xml(tmp_path: Path) -> None:
    conf = tmp_path / "drachtio.conf.xml"
    conf.write_text(
        "<drachtio><admin port='9022' secret='cymru'>127.0.0.1</admin>"
        "<request-handlers>"
        "<request-handler sip-method='INVITE' http-method='POST' verify-peer='true'>"
        "https://h.example/route</request-handler>"
        "<request-handler sip-method='*'>tcp://127.0.0.1:9031</request-handler>"
        "</request-handlers></drachtio>")
    fields = load_xml_config(str(conf))
    handlers = fields["request_handlers"]
    assert handlers == {
        "INVITE": RequestHandler("https://h.example/route", "POST", True),
        "*": RequestHandler("tcp://127.0.0.1:9031"),
    }
    with pytest.raises(ValueError, match="tcp://"):
        RequestHandler("ftp://x")
