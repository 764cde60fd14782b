"""Control-protocol command handling through an in-process link (embedded mode)."""

from __future__ import annotations

import asyncio
import re

import pytest

from drachtio.engine import Engine, EngineConfig, frames
from drachtio.engine.apps import AppSession, RouteTable
from drachtio.wire.codec import ControlMessage


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[ControlMessage] = []
        self.closed = False

    def send(self, msg: ControlMessage) -> None:
        self.sent.append(msg)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
async def engine():
    eng = Engine(EngineConfig(contacts=["sip:127.0.0.1:0;transport=udp"], admin_port=None,
                              secret="cymru"))
    await eng.start()
    yield eng
    await eng.stop()


def cmd(session: AppSession, link: FakeLink, *tokens: str, sip: str | None = None) -> ControlMessage:
    link.sent.clear()
    session.receive(ControlMessage(["m1", *tokens], sip))
    assert link.sent, "no answer"
    return link.sent[-1]


async def test_authenticate(engine: Engine) -> None:
    link = FakeLink()
    s = engine.attach(link, authenticated=False)
    r = cmd(s, link, "authenticate", "cymru", "a,b")
    assert r.tokens[1:4] == ["response", "m1", "OK"]
    assert r.tokens[4] == ",".join(engine.sip_hostports) and r.tokens[4].startswith("udp/127.0.0.1:")
    assert re.match(r"v\d+\.\d+\.\d+", r.tokens[5])
    assert s.tags == ["a", "b"] and s.authenticated


async def test_wrong_secret(engine: Engine) -> None:
    link = FakeLink()
    s = engine.attach(link, authenticated=False)
    r = cmd(s, link, "authenticate", "cymruX", "")
    assert r.tokens[3:] == ["NO", "incorrect secret"]
    assert link.closed and s.closed


async def test_unauthenticated_commands_refused(engine: Engine) -> None:
    link = FakeLink()
    s = engine.attach(link, authenticated=False)
    assert cmd(s, link, "route", "invite").tokens[3] == "NO"
    assert not engine.routes.has("invite")
    assert cmd(s, link, "ping").tokens[3:] == ["OK", "pong"]


async def test_route_remove_route_only_that_verb(engine: Engine) -> None:
    link = FakeLink()
    s = engine.attach(link)
    assert cmd(s, link, "route", "INVITE").tokens[3] == "OK"
    assert cmd(s, link, "route", "options").tokens[3] == "OK"
    assert engine.routes.pick("invite") is s
    assert cmd(s, link, "remove_route", "invite").tokens[3] == "OK"
    assert engine.routes.pick("invite") is None
    assert engine.routes.pick("options") is s


async def test_unknown_command_closes(engine: Engine) -> None:
    link = FakeLink()
    s = engine.attach(link)
    r = cmd(s, link, "bogus")
    assert r.tokens[3:] == ["NO", "Unknown message type"] and link.closed


async def test_sip_command_errors(engine: Engine) -> None:
    link = FakeLink()
    s = engine.attach(link)
    assert cmd(s, link, "sip", "", "").tokens[3] == "NOK"  # no SIP part
    r = cmd(s, link, "sip", "", "", sip="garbage\r\n\r\n")
    assert r.tokens[3] == "NOK" and "invalid SIP message" in r.tokens[4]
    r = cmd(s, link, "sip", "", "", sip="SIP/2.0 200 OK\r\n\r\n")
    assert r.tokens[3:] == ["NOK", "Response not sent due to unknown transaction"]
    r = cmd(s, link, "sip", "", "", sip="OPTIONS foo:bar SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK" and "invalid request-uri" in r.tokens[4]
    r = cmd(s, link, "sip", "", "", sip="OPTIONS sip:x@1.2.3.4;transport=tls SIP/2.0\r\n\r\n")
    assert r.tokens[3:] == ["NOK", "requested protocol/transport not available"]
    r = cmd(s, link, "sip", "", "", sip="ACK sip:x@1.2.3.4 SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK"
    r = cmd(s, link, "proxy", "nope")
    assert r.tokens[3] == "NOK"


async def test_request_sent_embedded(engine: Engine) -> None:
    link = FakeLink()
    s = engine.attach(link)
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    class P(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            got.put_nowait(data)

    t, _ = await loop.create_datagram_endpoint(P, local_addr=("127.0.0.1", 0))
    port = t.get_extra_info("sockname")[1]
    r = cmd(s, link, "sip", "", "", sip=f"OPTIONS sip:x@127.0.0.1:{port} SIP/2.0\r\n\r\n")
    assert r.tokens[3:5] == ["OK", "application"] and r.tokens[11] == "Msg sent:"
    assert len(r.tokens) == 13
    data = await asyncio.wait_for(got.get(), 2)
    assert r.sip == data.decode()
    t.close()


async def test_exception_in_handler_is_contained(engine: Engine, monkeypatch) -> None:
    link = FakeLink()
    s = engine.attach(link)

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "app_request", boom)
    r = cmd(s, link, "sip", "", "", sip="OPTIONS sip:x@1.2.3.4 SIP/2.0\r\n\r\n")
    assert r.tokens[3] == "NOK" and not s.closed


def test_route_table_round_robin_skips_closed() -> None:
    rt = RouteTable()
    sessions = [AppSession(FakeLink(), lambda s, m: None, lambda s: None) for _ in range(3)]
    for s in sessions:
        rt.add("options", s)
    assert [rt.pick("options") for _ in range(4)] == [sessions[0], sessions[1], sessions[2],
                                                       sessions[0]]
    sessions[1].closed = True
    assert [rt.pick("options") for _ in range(3)] == [sessions[2], sessions[0], sessions[2]]
    rt.remove_session(sessions[0])
    assert rt.pick("options") is sessions[2]
    assert rt.pick("invite") is None


def test_frame_layouts() -> None:
    f = frames.sip_new_request(b"OPTIONS x", "udp", "1.2.3.4", 5080, "T", "5.6.7.8", 5060)
    assert f.tokens[1:] == ["sip", "network", "9", "udp", "1.2.3.4", "5080", f.tokens[7], "T", "",
                            "5.6.7.8", "5060", ""]
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6}", f.tokens[7])
    f = frames.sip_in_dialog(b"ACK", "network", "", "1.2.3.4", 5080, "T", "D")
    assert len(f.tokens) == 11 and f.tokens[8:] == ["T", "D", ""]
    f = frames.ok_response_sent("M", b"SIP", "udp", "h", 1, "T", "D")
    assert f.tokens[2:] == ["M", "OK", "application", "3", "udp", "h", "1", f.tokens[9], "T", "D",
                            "", "Msg sent:", ""]
    f = frames.ok_proxy_response("M", b"SIP", "udp", "h", 1)
    assert f.tokens[12] == "continue" and f.tokens[10:12] == ["", ""]
    f = frames.cdr("start", "application", b"x", "uas")
    assert f.tokens[1:3] == ["cdr:start", "application"] and f.tokens[4] == "uas"
    assert frames.nok("M", "a|b").tokens[4] == "a/b"


async def test_hop_for_uri(engine: Engine) -> None:
    assert engine.hop_for_uri("sip:a@1.2.3.4") == ("udp", "1.2.3.4", 5060)
    assert engine.hop_for_uri("1.2.3.4:5080") == ("udp", "1.2.3.4", 5080)
    assert engine.hop_for_uri("<sip:b@10.0.0.1:5070;lr>") == ("udp", "10.0.0.1", 5070)
    assert engine.hop_for_uri("sip:b@h;maddr=10.1.1.1") == ("udp", "10.1.1.1", 5060)
    with pytest.raises(ValueError, match="transport not available"):
        engine.hop_for_uri("sip:b@1.2.3.4;transport=tcp")  # this engine is udp only
    with pytest.raises(ValueError, match="invalid request-uri"):
        engine.hop_for_uri("tel:+15551234")


async def test_several_contacts() -> None:
    eng = Engine(EngineConfig(contacts=["sip:127.0.0.1:0;transport=udp",
                                        "sip:127.0.0.1:0;transport=tcp"], admin_port=None))
    await eng.start()
    try:
        hp = eng.sip_hostports
        assert len(hp) == 2 and hp[0].startswith("udp/127.0.0.1:") and hp[1].startswith("tcp/")
        assert eng.sip_port("udp") > 0 and eng.sip_port("tcp") > 0
    finally:
        await eng.stop()
