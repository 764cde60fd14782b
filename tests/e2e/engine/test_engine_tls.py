"""SIP over TLS: a tls contact serving requests, and requests the app sends to sips: targets.

The certificate is self-signed, made with the ``openssl`` command for the test session (the
``cryptography`` package is not a dependency)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from enginekit import SDP, SECRET, AppClient
from test_engine_uas import answer

from drachtio.engine import Engine, EngineConfig
from drachtio.sip import Request, Response, StreamParser

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return str(crt), str(key)


@pytest.fixture
async def tls_engine(cert: tuple[str, str]) -> Any:
    eng = Engine(EngineConfig(
        contacts=["sip:127.0.0.1:0;transport=udp", "sips:127.0.0.1:0;transport=tls"],
        admin_port=0, secret=SECRET, tls_cert_file=cert[0], tls_key_file=cert[1]))
    await eng.start()
    yield eng
    await eng.stop()


def no_verify() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TlsPeer:
    """One TLS stream carrying SIP; parsed messages in a queue."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.queue: asyncio.Queue[Request | Response] = asyncio.Queue()
        self.parser = StreamParser()
        self.task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(65536):
            for m in self.parser.feed(data):
                self.queue.put_nowait(m)

    def send(self, text: str) -> None:
        self.writer.write(text.encode())

    async def recv(self) -> Request | Response:
        return await asyncio.wait_for(self.queue.get(), 5)

    def close(self) -> None:
        self.task.cancel()
        self.writer.close()


async def test_requests_over_tls_reach_the_app(tls_engine: Engine) -> None:
    assert "tls/127.0.0.1:" in " ".join(tls_engine.sip_hostports)
    app = AppClient()
    assert tls_engine.admin_port is not None
    await app.connect(tls_engine.admin_port)
    await app.authenticate()
    await app.route("options")
    port = tls_engine.sip_port("tls")
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=no_verify())
    peer = TlsPeer(reader, writer)
    try:
        lport = writer.get_extra_info("sockname")[1]
        peer.send(
            f"OPTIONS sips:svc@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS 127.0.0.1:{lport};branch=z9hG4bKtls1\r\nMax-Forwards: 70\r\n"
            f"From: <sips:peer@127.0.0.1>;tag=t1\r\nTo: <sips:svc@127.0.0.1:{port}>\r\n"
            "Call-ID: tls-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        ev = await app.next("sip")
        assert ev.tokens[4:7] == ["tls", "127.0.0.1", str(lport)]
        await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", ev.sip))
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.status == 200 and resp.call_id == "tls-1"
    finally:
        peer.close()
        await app.close()


async def test_app_requests_to_sips_targets_go_over_tls(tls_engine: Engine,
                                                         cert: tuple[str, str]) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(*cert)
    peers: asyncio.Queue[TlsPeer] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.put_nowait(TlsPeer(reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=server_ctx)
    tport = server.sockets[0].getsockname()[1]
    app = AppClient()
    assert tls_engine.admin_port is not None
    await app.connect(tls_engine.admin_port)
    await app.authenticate()
    peer: TlsPeer | None = None
    try:
        r = await app.call(["sip", "", ""],
                           f"INVITE sips:bob@127.0.0.1:{tport} SIP/2.0\r\n"
                           f"Content-Type: application/sdp\r\n\r\n{SDP}")
        assert r.tokens[3] == "OK" and r.tokens[6] == "tls"
        peer = await asyncio.wait_for(peers.get(), 5)
        inv = await peer.recv()
        assert isinstance(inv, Request) and inv.method == "INVITE"
        assert inv.top_via.transport == "TLS"
        assert (inv.get("Contact") or "").startswith("<sips:")
        busy = (f"SIP/2.0 486 Busy Here\r\nVia: {inv.get('Via')}\r\nFrom: {inv.get('From')}\r\n"
                f"To: {inv.get('To')};tag=b1\r\nCall-ID: {inv.call_id}\r\n"
                f"CSeq: {inv.get('CSeq')}\r\nContent-Length: 0\r\n\r\n")
        peer.send(busy)
        ev = await app.next("sip")
        assert ev.sip.startswith("SIP/2.0 486") and ev.tokens[4] == "tls"
        ack = await peer.recv()  # the engine ACKs the failure on the same connection
        assert isinstance(ack, Request) and ack.method == "ACK"
    finally:
        if peer is not None:
            peer.close()
        await app.close()
        server.close()


async def test_tls_contact_configuration_errors(cert: tuple[str, str]) -> None:
    eng = Engine(EngineConfig(contacts=["sips:127.0.0.1:0;transport=tls"], admin_port=None))
    with pytest.raises(ValueError, match="certificate"):
        await eng.start()
    eng = Engine(EngineConfig(contacts=["sip:127.0.0.1:0;transport=tcp,tls"], admin_port=None,
                              tls_cert_file=cert[0], tls_key_file=cert[1]))
    with pytest.raises(ValueError, match="cannot share a port"):
        await eng.start()
    eng = Engine(EngineConfig(contacts=["sips:127.0.0.1:0"], admin_port=None,
                              tls_cert_file=cert[0], tls_key_file=str(Path(cert[0]))))
    with pytest.raises(ValueError, match="cannot load"):
        await eng.start()


async def test_wss_carries_sip(cert: tuple[str, str]) -> None:
    ws_client = pytest.importorskip("websockets.asyncio.client")
    eng = Engine(EngineConfig(contacts=["sips:127.0.0.1:0;transport=wss"], admin_port=0,
                              secret=SECRET, tls_cert_file=cert[0], tls_key_file=cert[1]))
    await eng.start()
    app = AppClient()
    try:
        assert eng.admin_port is not None
        await app.connect(eng.admin_port)
        await app.authenticate()
        await app.route("options")
        port = eng.sip_port("wss")
        async with ws_client.connect(f"wss://127.0.0.1:{port}", subprotocols=["sip"],
                                     ssl=no_verify()) as ws:
            await ws.send(
                f"OPTIONS sip:svc@127.0.0.1:{port} SIP/2.0\r\n"
                "Via: SIP/2.0/WSS x.invalid;branch=z9hG4bKwss1\r\nMax-Forwards: 70\r\n"
                "From: <sip:peer@x.invalid>;tag=s1\r\nTo: <sip:svc@127.0.0.1>\r\n"
                "Call-ID: wss-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            ev = await app.next("sip")
            assert ev.tokens[4] == "wss"
            await app.call(["sip", ev.tokens[8], ""], answer(ev.tokens[8], 200, "OK", ev.sip))
            from drachtio.sip import parse_message

            resp = parse_message((await asyncio.wait_for(ws.recv(), 5)).encode())
            assert isinstance(resp, Response) and resp.status == 200
    finally:
        await app.close()
        await eng.stop()
