"""The engine's test seams: in-memory transports (``transport_factory``) and the trace hook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from drachtio.engine import Engine, EngineConfig
from drachtio.engine.memtransport import memory_transports
from drachtio.sip import Request, Response, parse_message
from drachtio.wire.codec import ControlMessage

Address = tuple[str, int]


class MiniNet:
    """The smallest network ``memory_transports`` can bind on: delivery on the next turn."""

    def __init__(self) -> None:
        self.eps: dict[Address, MiniNet.Ep] = {}
        self.sent: list[tuple[Address, Address, bytes]] = []

    class Ep:
        def __init__(self, net: MiniNet, address: Address,
                     receiver: Callable[[bytes, Address], None]) -> None:
            self.net, self.address, self.receiver = net, address, receiver

        def sendto(self, data: bytes, dst: Address) -> None:
            self.net.sent.append((self.address, dst, data))
            ep = self.net.eps.get(dst)
            if ep is not None:
                asyncio.get_running_loop().call_soon(ep.receiver, data, self.address)

        def close(self) -> None:
            self.net.eps.pop(self.address, None)

    def bind(self, address: Address, receiver: Callable[[bytes, Address], None]) -> MiniNet.Ep:
        host, port = address
        if port == 0:
            port = 5060
            while (host, port) in self.eps:
                port += 1
        ep = MiniNet.Ep(self, (host, port), receiver)
        self.eps[(host, port)] = ep
        return ep


class Peer:
    def __init__(self, net: MiniNet, address: Address) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.ep = net.bind(address, lambda d, a: self.queue.put_nowait((d, a)))

    async def recv(self) -> Request | Response:
        data, _ = await asyncio.wait_for(self.queue.get(), 2)
        return parse_message(data)


class Link:
    def __init__(self) -> None:
        self.sent: asyncio.Queue[ControlMessage] = asyncio.Queue()
        self.skipped: list[ControlMessage] = []
        self.closed = False

    def send(self, msg: ControlMessage) -> None:
        self.sent.put_nowait(msg)

    def close(self) -> None:
        self.closed = True

    async def next(self, kind: str) -> ControlMessage:
        """The first message of ``kind`` (others are kept for later calls)."""
        for msg in self.skipped:
            if msg.kind == kind:
                self.skipped.remove(msg)
                return msg
        while True:
            msg = await asyncio.wait_for(self.sent.get(), 2)
            if msg.kind == kind:
                return msg
            self.skipped.append(msg)


def options(peer_port: int, engine: Address, branch: str = "z9hG4bKseam1") -> bytes:
    return (
        f"OPTIONS sip:svc@{engine[0]}:{engine[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.9:{peer_port};branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:peer@127.0.0.9:{peer_port}>;tag=p1\r\n"
        f"To: <sip:svc@{engine[0]}:{engine[1]}>\r\n"
        "Call-ID: seam-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture
async def net_engine():
    net = MiniNet()
    eng = Engine(EngineConfig(contacts=["sip:127.0.0.1:0;transport=udp,tcp"], admin_port=None),
                 transport_factory=memory_transports(net.bind))
    await eng.start()
    yield net, eng
    await eng.stop()


async def test_memory_transports_bind_on_the_network(net_engine) -> None:
    net, eng = net_engine
    assert eng.sip_hostports == ["udp/127.0.0.1:5060", "tcp/127.0.0.1:5060"]
    assert ("127.0.0.1", 5060) in net.eps
    assert eng.sip_port("tcp") == 5060
    await eng.stop()
    assert ("127.0.0.1", 5060) not in net.eps


async def test_request_and_answer_cross_the_memory_network(net_engine) -> None:
    net, eng = net_engine
    peer = Peer(net, ("127.0.0.9", 5070))
    peer.ep.sendto(options(5070, ("127.0.0.1", 5060)), ("127.0.0.1", 5060))
    resp = await peer.recv()
    assert isinstance(resp, Response) and resp.status == 503  # no app yet

    link = Link()
    session = eng.attach(link)
    session.receive(ControlMessage(["r1", "route", "options"]))
    assert (await link.next("response")).tokens[3] == "OK"
    peer.ep.sendto(options(5070, ("127.0.0.1", 5060), "z9hG4bKseam2"), ("127.0.0.1", 5060))
    frame = await link.next("sip")
    assert frame.tokens[4:7] == ["udp", "127.0.0.9", "5070"]
    txn = frame.tokens[8]
    session.receive(ControlMessage(
        ["a1", "sip", txn],
        "SIP/2.0 200 OK\r\nX-Seam: yes\r\nContent-Length: 0\r\n\r\n"))
    resp = await peer.recv()
    assert isinstance(resp, Response) and resp.status == 200 and resp.get("X-Seam") == "yes"


async def test_trace_hook_sees_every_message(net_engine) -> None:
    net, eng = net_engine
    seen: list[tuple[str, str, Address, Address, bytes]] = []

    def hook(direction: str, proto: str, local: Address, remote: Address, data: bytes) -> None:
        seen.append((direction, proto, local, remote, data))

    def broken(*args: object) -> None:
        raise RuntimeError("a broken hook must not break the engine")

    eng.on_trace(broken)
    eng.on_trace(hook)
    peer = Peer(net, ("127.0.0.9", 5071))
    sent = options(5071, ("127.0.0.1", 5060))
    peer.ep.sendto(sent, ("127.0.0.1", 5060))
    resp = await peer.recv()
    assert seen[0] == ("in", "udp", ("127.0.0.1", 5060), ("127.0.0.9", 5071), sent)
    assert seen[1][:4] == ("out", "udp", ("127.0.0.1", 5060), ("127.0.0.9", 5071))
    assert seen[1][4] == net.sent[-1][2] and parse_message(seen[1][4]).status == resp.status

    eng.off_trace(hook)
    eng.off_trace(hook)  # twice: no error
    eng.off_trace(broken)
    peer.ep.sendto(options(5071, ("127.0.0.1", 5060), "z9hG4bKseam3"), ("127.0.0.1", 5060))
    await peer.recv()
    assert len(seen) == 2
    with pytest.raises(TypeError):
        eng.on_trace("not callable")  # type: ignore[arg-type]


async def test_fake_network_of_drachtio_testing_fits_the_seam() -> None:
    from drachtio.testing.network import FakeNetwork

    net = FakeNetwork()
    eng = Engine(EngineConfig(contacts=["sip:127.0.0.1:0;transport=udp"], admin_port=None),
                 transport_factory=memory_transports(net.bind))
    await eng.start()
    try:
        addr = ("127.0.0.1", eng.sip_port("udp"))
        got: asyncio.Queue[bytes] = asyncio.Queue()
        ep = net.bind(("127.0.0.9", 0), lambda d, a: got.put_nowait(d))
        ep.sendto(options(ep.address[1], addr), addr)
        resp = parse_message(await asyncio.wait_for(got.get(), 2))
        assert isinstance(resp, Response) and resp.status == 503
        assert [p.dst for p in net.log or []] == [addr, ep.address]
        # attach_engine() finds the addresses bound already and reroutes nothing new
        assert net.attach_engine(eng) == []
    finally:
        await eng.stop()
        net.close()


def test_transport_factory_must_be_callable() -> None:
    with pytest.raises(TypeError, match="transport_factory"):
        Engine(EngineConfig(admin_port=None), transport_factory=42)  # type: ignore[arg-type]


# -- in-process fast path: frames carry the parsed message ---------------------------------

def _check_parsed(frame: ControlMessage, kind: type) -> Request | Response:
    msg = frame.parsed
    assert isinstance(msg, kind), (frame.tokens[:4], type(msg))
    assert frame.sip is not None and msg.to_bytes() == frame.sip.encode()
    return msg


async def test_frames_carry_parsed_messages(net_engine) -> None:
    net, eng = net_engine
    peer = Peer(net, ("127.0.0.9", 5072))
    link = Link()
    session = eng.attach(link)
    for verb in ("invite", "cdr:start"):
        session.receive(ControlMessage(["r-" + verb, "route", verb]))
        assert (await link.next("response")).tokens[3] == "OK"
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n"
    invite = (
        "INVITE sip:svc@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.9:5072;branch=z9hG4bKfp1\r\nMax-Forwards: 70\r\n"
        "From: <sip:peer@127.0.0.9:5072>;tag=pf\r\nTo: <sip:svc@127.0.0.1:5060>\r\n"
        "Call-ID: fast-1\r\nCSeq: 1 INVITE\r\nContact: <sip:peer@127.0.0.9:5072>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
    peer.ep.sendto(invite.encode(), ("127.0.0.1", 5060))
    assert (await peer.recv()).status == 100  # type: ignore[union-attr]
    frame = await link.next("sip")
    req = _check_parsed(frame, Request)
    assert req.method == "INVITE" and "received" not in req.top_via.params  # same host
    assert req.top_via.params.get("rport") == "5072"  # stamped before it was handed over
    txn = frame.tokens[8]

    session.receive(ControlMessage(["a1", "sip", txn],
                                   "SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n"
                                   f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"))
    echo = await link.next("response")
    resp = _check_parsed(echo, Response)
    assert resp.status == 200 and resp.to.tag
    cdr = await link.next("cdr:start")
    assert cdr.parsed is resp
    ok = await peer.recv()
    assert ok.to_bytes() == resp.to_bytes()
    did = echo.tokens[11]

    ack = (f"ACK sip:svc@127.0.0.1:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.9:5072;branch=z9hG4bKfp2\r\nMax-Forwards: 70\r\n"
           f"From: <sip:peer@127.0.0.9:5072>;tag=pf\r\nTo: {ok.get('To')}\r\n"
           "Call-ID: fast-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
    peer.ep.sendto(ack.encode(), ("127.0.0.1", 5060))
    assert _check_parsed(await link.next("sip"), Request).method == "ACK"

    session.receive(ControlMessage(["b1", "sip", "", did],
                                   "BYE sip:placeholder SIP/2.0\r\nContent-Length: 0\r\n\r\n"))
    bye = _check_parsed(await link.next("response"), Request)
    on_wire = await peer.recv()
    assert bye.method == "BYE" and on_wire.to_bytes() == bye.to_bytes()
    answer = (on_wire.to_bytes().decode()
              .replace("BYE sip:peer@127.0.0.9:5072 SIP/2.0", "SIP/2.0 200 OK", 1))
    peer.ep.sendto(answer.encode(), ("127.0.0.1", 5060))
    final = _check_parsed(await link.next("sip"), Response)
    assert final.status == 200 and final.cseq.method == "BYE"
