"""SIP over WebSocket (RFC 7118): a browser-style client registers over ws, and the app
reaches it over that connection. The client is the independent ``websockets`` package."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from enginekit import SECRET, AppClient
from test_engine_uas import answer

from drachtio.engine import Engine, EngineConfig
from drachtio.sip import Request, Response, parse_message

ws_client = pytest.importorskip("websockets.asyncio.client")
ws_exceptions = pytest.importorskip("websockets.exceptions")

HOST = "df7jal23ls0d.invalid"  # what a browser client puts in Via/Contact


@pytest.fixture
async def ws_engine() -> Any:
    eng = Engine(EngineConfig(
        contacts=["sip:127.0.0.1:0;transport=udp", "sip:127.0.0.1:0;transport=ws"],
        admin_port=0, secret=SECRET))
    await eng.start()
    yield eng
    await eng.stop()


async def test_register_over_ws_then_app_reaches_the_client(ws_engine: Engine) -> None:
    port = ws_engine.sip_port("ws")
    assert f"ws/127.0.0.1:{port}" in ws_engine.sip_hostports
    app = AppClient()
    assert ws_engine.admin_port is not None
    await app.connect(ws_engine.admin_port)
    await app.authenticate()
    await app.route("register")
    async with ws_client.connect(f"ws://127.0.0.1:{port}", subprotocols=["sip"]) as ws:
        assert ws.subprotocol == "sip"
        await ws.send(
            f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS {HOST};branch=z9hG4bKws1\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=w1\r\n"
            "To: <sip:alice@127.0.0.1>\r\nCall-ID: ws-reg\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:alice@{HOST};transport=ws>\r\nExpires: 600\r\n"
            "Content-Length: 0\r\n\r\n")
        ev = await app.next("sip")
        assert ev.tokens[4] == "ws" and ev.sip.startswith("REGISTER")
        await app.call(["sip", ev.tokens[8], ""],
                       answer(ev.tokens[8], 200, "OK", ev.sip,
                              f"Contact: <sip:alice@{HOST};transport=ws>;expires=600"))
        ok = parse_message((await asyncio.wait_for(ws.recv(), 5)).encode())
        assert isinstance(ok, Response) and ok.status == 200

        # the app calls the registered client: the request goes down the WebSocket
        r = await app.call(["sip", "", ""],
                           f"OPTIONS sip:alice@{HOST};transport=ws SIP/2.0\r\n\r\n")
        assert r.tokens[3] == "OK", r.tokens
        opt = parse_message((await asyncio.wait_for(ws.recv(), 5)).encode())
        assert isinstance(opt, Request) and opt.method == "OPTIONS"
        assert opt.top_via.transport == "WS"
        await ws.send(f"SIP/2.0 200 OK\r\nVia: {opt.get('Via')}\r\nFrom: {opt.get('From')}\r\n"
                      f"To: {opt.get('To')};tag=w2\r\nCall-ID: {opt.call_id}\r\n"
                      f"CSeq: {opt.get('CSeq')}\r\nContent-Length: 0\r\n\r\n")
        ev = await app.next("sip")
        assert ev.sip.startswith("SIP/2.0 200") and ev.tokens[4] == "ws"

        # garbage in one message is answered or dropped; the connection stays usable
        await ws.send("NOT SIP AT ALL\r\n\r\n")
        await ws.ping()
    await app.close()


async def test_ws_without_sip_subprotocol_is_refused(ws_engine: Engine) -> None:
    port = ws_engine.sip_port("ws")
    with pytest.raises(ws_exceptions.InvalidStatus):
        async with ws_client.connect(f"ws://127.0.0.1:{port}", subprotocols=["chat"]):
            pass
