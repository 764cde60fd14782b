"""The trace hook on real sockets: UDP datagrams and TCP stream messages, both directions."""

from __future__ import annotations

from enginekit import TcpPeer, UdpPeer, invite, sip_port

from drachtio.engine import Engine

Address = tuple[str, int]


async def test_trace_udp_and_tcp(engine: Engine, peer: UdpPeer) -> None:
    seen: list[tuple[str, str, Address, Address, bytes]] = []
    engine.on_trace(lambda *a: seen.append(a))  # type: ignore[arg-type]
    port = sip_port(engine)
    req = invite(peer.port, port, method="OPTIONS", call_id="trace-udp").encode()
    peer.send(req, port)
    raw = await peer.recv_raw()
    assert seen == [
        ("in", "udp", ("127.0.0.1", port), ("127.0.0.1", peer.port), req),
        ("out", "udp", ("127.0.0.1", port), ("127.0.0.1", peer.port), raw),
    ]

    seen.clear()
    tcp = TcpPeer()
    tport = sip_port(engine, "tcp")
    await tcp.connect(tport)
    try:
        req = invite(tcp.local_port, tport, method="OPTIONS", call_id="trace-tcp",
                     branch="z9hG4bKtcp1").replace("SIP/2.0/UDP", "SIP/2.0/TCP").encode()
        tcp.send(req)
        resp = await tcp.recv()
        assert resp.status == 503  # type: ignore[union-attr]
        assert seen[0] == ("in", "tcp", ("127.0.0.1", tport), ("127.0.0.1", tcp.local_port), req)
        assert seen[1][:4] == ("out", "tcp", ("127.0.0.1", tport), ("127.0.0.1", tcp.local_port))
        assert bytes(tcp.raw) == seen[1][4]
    finally:
        await tcp.close()
