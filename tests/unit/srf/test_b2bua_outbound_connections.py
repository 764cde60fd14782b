"""Outbound connections (``listen``): the engine dials the app, one connection per call.

The test plays the engine's side of each connection: it connects to the app's listening
port, checks the app's ``authenticate``, answers, and pushes the request it dialed for.
Also: a B2BUA call on such a connection keeps its B leg on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from srf_fake_engine import SDP_A, SDP_B, invite_text, join_sip, split_sip

from drachtio.srf import Srf
from drachtio.srf.b2bua import create_b2bua
from drachtio.srf.listen import ListenServer, end_session, listen
from drachtio.wire.codec import ControlMessage, FrameDecoder, encode, new_id


class Dialer:
    """The engine's end of one outbound connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.inbox: list[ControlMessage] = []

    @classmethod
    async def dial(cls, port: int) -> Dialer:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    async def next(self, timeout: float = 3.0) -> ControlMessage:
        while not self.inbox:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("the app closed the connection")
            self.inbox.extend(self.decoder.feed(data))
        return self.inbox.pop(0)

    def send(self, msg: ControlMessage) -> None:
        self.writer.write(encode(msg))

    async def accept(self, secret: str = "cymru") -> ControlMessage:
        auth = await self.next()
        assert auth.tokens[1] == "authenticate"
        if auth.tokens[2] == secret:
            hp = "udp/127.0.0.1:5072,tcp/127.0.0.1:5072"
            self.send(ControlMessage([new_id(), "response", auth.tokens[0], "OK", hp,
                                      "v0.9.10-test", hp]))
        else:
            self.send(ControlMessage([new_id(), "response", auth.tokens[0], "NO",
                                      "incorrect secret"]))
        return auth

    def request(self, text: str, txn: str | None = None, dialog_id: str = "") -> str:
        txn = txn or new_id()
        toks = [new_id(), "sip", "network", str(len(text)), "udp", "127.0.0.1", "5084",
                "12:00:00.000000", txn, dialog_id]
        toks += ["127.0.0.1", "5072", ""] if not dialog_id else [""]
        self.send(ControlMessage(toks, text))
        return txn

    def ok(self, cmd: ControlMessage, text: str, txn: str, dialog_id: str = "") -> None:
        """Answer a ``sip`` command as the engine does (``OK`` + the message as sent)."""
        self.send(ControlMessage(
            [new_id(), "response", cmd.tokens[0], "OK", "application", str(len(text)), "udp",
             "127.0.0.1", "5084", "12:00:00.000000", txn, dialog_id, "", "Msg sent:"], text))

    async def closed(self, timeout: float = 3.0) -> bool:
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not data:
                    return True
                self.inbox.extend(self.decoder.feed(data))
        except (TimeoutError, ConnectionError):
            return False

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def listening() -> AsyncIterator[tuple[Srf, ListenServer]]:
    srf = Srf(["edge"])
    server = await srf.listen("127.0.0.1", 0, "cymru")
    try:
        yield srf, server
    finally:
        server.close(connections=True)
        await server.wait_closed()
        await srf.disconnect()


async def test_authenticates_then_serves_the_dialed_request(
        listening: tuple[Srf, ListenServer]) -> None:
    srf, server = listening
    events: list[tuple[Any, ...]] = []
    srf.on("connect", lambda *a: events.append(("connect", *a)))
    srf.on("close", lambda *a: events.append(("close",)))
    srf.options(lambda req, res: res.send(200, headers={"X-Edge": req.server.address}))
    d = await Dialer.dial(server.port)
    auth = await d.accept()
    assert auth.tokens[2:] == ["cymru", "edge"]
    txn = d.request(invite_text("opt-1", method="OPTIONS"))
    answer = await d.next()
    assert answer.tokens[1:4] == ["sip", txn, ""]  # sip|<txn>|
    start, headers, _ = split_sip(answer.sip or "")
    assert start == "SIP/2.0 200 OK" and ("X-Edge", "127.0.0.1") in headers
    # no route commands on an outbound connection: the engine already chose this app
    assert not [m for m in d.inbox if m.tokens[1] == "route"]
    assert len(srf.agents) == 1 and srf.connected
    assert events[0][:2] == ("connect", "udp/127.0.0.1:5072,tcp/127.0.0.1:5072")
    d.close()
    for _ in range(100):
        if not srf.agents:
            break
        await asyncio.sleep(0.01)
    assert srf.agents == [] and ("close",) in events


async def test_wrong_secret_closes_the_connection(listening: tuple[Srf, ListenServer]) -> None:
    srf, server = listening
    errors: list[BaseException] = []
    srf.on("error", errors.append)
    d = await Dialer.dial(server.port)
    await d.accept(secret="other")
    assert await d.closed()
    assert errors and "authenticate" in str(errors[0])
    await asyncio.sleep(0.02)
    assert srf.agents == []


async def test_framing_error_closes_only_that_connection(
        listening: tuple[Srf, ListenServer]) -> None:
    srf, server = listening
    srf.options(lambda req, res: res.send(200))
    good = await Dialer.dial(server.port)
    await good.accept()
    bad = await Dialer.dial(server.port)
    await bad.accept()
    bad.writer.write(b"xyz#garbage")
    assert await bad.closed()
    txn = good.request(invite_text("opt-2", method="OPTIONS"))
    answer = await good.next()
    assert answer.tokens[2] == txn


async def test_end_session_closes_an_outbound_connection(
        listening: tuple[Srf, ListenServer]) -> None:
    srf, server = listening

    def on_options(req, res):
        res.send(200)
        end_session(req)

    srf.options(on_options)
    d = await Dialer.dial(server.port)
    await d.accept()
    d.request(invite_text("opt-3", method="OPTIONS"))
    assert (await d.next()).tokens[1] == "sip"
    assert await d.closed()


async def test_each_call_on_its_own_connection_b2bua(listening: tuple[Srf, ListenServer]
                                                     ) -> None:
    """Two engine connections at once; each B2BUA's B leg goes out on its own one."""
    srf, server = listening
    bridged: dict[str, Any] = {}

    @srf.invite
    async def on_invite(req, res):
        uas, uac = await create_b2bua(srf, req, res, "sip:bob@127.0.0.1:5090")
        bridged[req.call_id] = (uas, uac)

    d1, d2 = await Dialer.dial(server.port), await Dialer.dial(server.port)
    await d1.accept()
    await d2.accept()
    assert len(srf.agents) == 2
    for d, cid in ((d1, "call-a"), (d2, "call-b")):
        a_txn = d.request(invite_text(cid, body=SDP_A))
        cmd = await d.next()
        assert cmd.tokens[1] == "sip" and (cmd.sip or "").startswith("INVITE sip:bob@")
        b_txn, b_did = new_id(), f"b-{cid};from-tag=btag"
        sent = join_sip("INVITE sip:bob@127.0.0.1:5090 SIP/2.0", [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bK1"),
            ("From", "<sip:+15083084809@127.0.0.1:5072>;tag=btag"),
            ("To", "<sip:bob@127.0.0.1:5090>"), ("Call-ID", f"b-{cid}"),
            ("CSeq", "1 INVITE"), ("Contact", "<sip:127.0.0.1:5072>")], SDP_A)
        d.ok(cmd, sent, b_txn)
        ok = join_sip("SIP/2.0 200 OK", [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bK1"),
            ("From", "<sip:+15083084809@127.0.0.1:5072>;tag=btag"),
            ("To", "<sip:bob@127.0.0.1:5090>;tag=bobtag"), ("Call-ID", f"b-{cid}"),
            ("CSeq", "1 INVITE"), ("Contact", "<sip:bob@127.0.0.1:5090>"),
            ("Content-Type", "application/sdp")], SDP_B)
        d.send(ControlMessage([new_id(), "sip", "network", str(len(ok)), "udp", "127.0.0.1",
                               "5090", "12:00:00.000000", b_txn, b_did, ""], ok))
        ack = await d.next()
        assert ack.tokens[1:4] == ["sip", "", b_did] and (ack.sip or "").startswith("ACK")
        a200 = await d.next()
        assert a200.tokens[1:3] == ["sip", a_txn] and (a200.sip or "").startswith("SIP/2.0 200")
        a_did = f"{cid};from-tag=ptag1"
        d.ok(a200, (a200.sip or "").replace("To: <sip:callee@127.0.0.1:5060>",
                                            "To: <sip:callee@127.0.0.1:5060>;tag=edge1"),
             a_txn, a_did)
    for _ in range(100):
        if len(bridged) == 2:
            break
        await asyncio.sleep(0.01)
    (uas_a, uac_a), (uas_b, uac_b) = bridged["call-a"], bridged["call-b"]
    assert uas_a.agent is uac_a.agent and uas_b.agent is uac_b.agent
    assert uas_a.agent is not uas_b.agent


async def test_listen_argument_validation() -> None:
    srf = Srf()
    with pytest.raises(TypeError):
        await listen(srf, "127.0.0.1")
    with pytest.raises(ValueError):
        await listen(srf, "127.0.0.1", 70000)
    with pytest.raises(TypeError):
        await listen(srf, "127.0.0.1", 0, secret=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await listen(object(), "127.0.0.1", 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await listen(srf, "127.0.0.1", 0, tls=True)  # type: ignore[arg-type]


def test_listen_works_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> list[str]:
        srf = Srf()
        srf.options(lambda req, res: res.send(200))
        server = await srf.listen("127.0.0.1", 0, "cymru")
        try:
            d = await Dialer.dial(server.port)
            await d.accept()
            txn = d.request(invite_text("opt-uv", method="OPTIONS"))
            answer = await d.next()
            d.close()
            return [answer.tokens[2], txn]
        finally:
            server.close(connections=True)
            await server.wait_closed()
            await srf.disconnect()

    loop = uvloop.new_event_loop()
    try:
        got, txn = loop.run_until_complete(asyncio.wait_for(scenario(), 10))
    finally:
        loop.close()
    assert got == txn
