"""WireClient against a mock control server: framing, auth, reconnect (TLS kept), ping."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from drachtio.wire.client import AuthenticationError, ReconnectPolicy, WireClient
from drachtio.wire.codec import ControlMessage, FrameDecoder, encode, new_id

FAST = ReconnectPolicy(initial=0.02, factor=2.0, max_delay=0.1)


class MockServer:
    """Accepts connections, answers authenticate; records everything else."""

    def __init__(self, secret: str = "cymru", ssl_ctx: ssl.SSLContext | None = None) -> None:
        self.secret = secret
        self.ssl_ctx = ssl_ctx
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.received: list[ControlMessage] = []
        self.auths: list[list[str]] = []
        self.answer_pings = True
        self.on_msg: Callable[[asyncio.StreamWriter, ControlMessage], None] | None = None

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=self.ssl_ctx)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()

    def push(self, data: bytes) -> None:
        for w in self.writers:
            w.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        dec = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for msg in dec.feed(data):
                    t = msg.tokens
                    if t[1] == "authenticate":
                        self.auths.append(t)
                        if t[2] == self.secret:
                            writer.write(encode(ControlMessage(
                                [new_id(), "response", t[0], "OK", "udp/127.0.0.1:5060",
                                 "v0.9.10", "udp/127.0.0.1:5060"])))
                        else:
                            writer.write(encode(ControlMessage(
                                [new_id(), "response", t[0], "NO", "incorrect secret"])))
                            writer.close()
                        continue
                    self.received.append(msg)
                    if t[1] == "ping" and self.answer_pings:
                        writer.write(encode(ControlMessage(
                            [new_id(), "response", t[0], "OK", "pong"])))
                    if self.on_msg is not None:
                        self.on_msg(writer, msg)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)


async def eventually(pred: Callable[[], object], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
async def server():
    s = MockServer()
    await s.start()
    yield s
    if s.server is not None and s.server.is_serving():
        await s.stop()


async def test_authenticate_and_receive(server: MockServer) -> None:
    client = WireClient("127.0.0.1", server.port, "cymru", ["t1", "t2"], reconnect=FAST)
    got: list[ControlMessage] = []
    ready: list[tuple[str, str, str]] = []
    client.on_message = got.append
    client.on_ready = lambda *a: ready.append(a)
    info = await client.start()
    assert info.version == "v0.9.10" and client.ready
    assert ready == [("udp/127.0.0.1:5060", "v0.9.10", "udp/127.0.0.1:5060")]
    assert server.auths[0][2:] == ["cymru", "t1,t2"]
    # frames split anywhere, several per write, UTF-8 payloads, '#' inside payloads
    msgs = [ControlMessage([new_id(), "sip", "network", "x"], "MESSAGE 😀 ### é\r\n\r\n")
            for _ in range(300)]
    blob = b"".join(encode(m) for m in msgs)
    for i in range(0, len(blob), 777):
        server.push(blob[i:i + 777])
        await asyncio.sleep(0)
    await eventually(lambda: len(got) == 300)
    assert got == msgs
    client.close()


async def test_send_frames(server: MockServer) -> None:
    client = WireClient("127.0.0.1", server.port, "cymru")
    await client.start()
    client.send(ControlMessage([new_id(), "route", "invite"]))
    client.send(ControlMessage([new_id(), "sip", "", ""], "OPTIONS sip:x SIP/2.0\r\n\r\né"))
    await eventually(lambda: len(server.received) == 2)
    assert server.received[0].tokens[1:] == ["route", "invite"]
    assert server.received[1].sip == "OPTIONS sip:x SIP/2.0\r\n\r\né"
    assert client.frames_sent == 3  # authenticate + 2
    client.close()
    await client.wait_closed()
    with pytest.raises(ConnectionError):
        client.send(ControlMessage([new_id(), "ping"]))


async def test_wrong_secret(server: MockServer) -> None:
    client = WireClient("127.0.0.1", server.port, "bad")
    with pytest.raises(AuthenticationError):
        await client.start()
    assert not client.ready


async def test_reconnect_after_server_restart(server: MockServer) -> None:
    client = WireClient("127.0.0.1", server.port, "cymru", reconnect=FAST)
    events: list[str] = []
    lost: list[object] = []
    ready: list[object] = []
    client.on_event = lambda name, *a: events.append(name)
    client.on_lost = lost.append
    client.on_ready = lambda *a: ready.append(a)
    await client.start()
    port = server.port
    await server.stop()
    await eventually(lambda: lost and "reconnecting" in events)
    assert not client.ready
    await asyncio.sleep(0.2)
    await server.start(port)
    await eventually(lambda: len(ready) == 2, 5)
    assert client.ready and len(server.auths) == 2
    assert events[:2] == ["connect", "close"] and events[-1] == "connect"
    client.close()


async def test_reconnect_gives_up_after_max_attempts(server: MockServer) -> None:
    policy = ReconnectPolicy(initial=0.01, factor=1.0, max_delay=0.01, max_attempts=3)
    client = WireClient("127.0.0.1", server.port, "cymru", reconnect=policy)
    attempts: list[int] = []
    errors: list[BaseException] = []

    def on_event(name: str, *a: object) -> None:
        if name == "reconnecting":
            attempts.append(a[1])  # type: ignore[arg-type]
        if name == "error":
            errors.append(a[0])  # type: ignore[arg-type]

    client.on_event = on_event
    await client.start()
    await server.stop()
    await eventually(lambda: any("gave up" in str(e) for e in errors))
    assert attempts == [1, 2, 3]
    client.close()


def test_backoff_is_capped() -> None:
    p = ReconnectPolicy()
    delays = [p.delay(n) for n in range(1, 30)]
    assert delays[0] == pytest.approx(0.15)
    assert delays[1] == pytest.approx(0.255)
    assert max(delays) == p.max_delay == 10.0
    assert delays == sorted(delays)
    with pytest.raises(ValueError):
        ReconnectPolicy(initial=0)
    with pytest.raises(ValueError):
        ReconnectPolicy(max_attempts=0)


def test_argument_validation() -> None:
    with pytest.raises(ValueError):
        WireClient("127.0.0.1", 0, "x")
    with pytest.raises(TypeError):
        WireClient("", 9022, "x")
    with pytest.raises(TypeError):
        WireClient("127.0.0.1", 9022, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        WireClient("127.0.0.1", 9022, "x", tls="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WireClient("127.0.0.1", 9022, "x", ping_interval=1)
    with pytest.raises(ValueError):
        WireClient("127.0.0.1", 9022, "x", ping_interval=301)


async def test_ping_and_dead_connection_detection(server: MockServer) -> None:
    client = WireClient("127.0.0.1", server.port, "cymru", reconnect=FAST, ping_interval=5)
    client.ping_interval = 0.05  # below the public minimum, for the test only
    got: list[ControlMessage] = []
    client.on_message = got.append
    await client.start()
    await eventually(lambda: sum(m.tokens[1] == "ping" for m in server.received) >= 2)
    assert got == []  # pongs are the client's own business
    lost: list[object] = []
    client.on_lost = lost.append
    server.answer_pings = False
    await eventually(lambda: lost, 2)  # unanswered ping: connection declared dead
    await eventually(lambda: client.ready, 3)  # and re-established
    client.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )
    return key, cert


async def test_tls_kept_on_reconnect(tls_files: tuple[Path, Path]) -> None:
    key, cert = tls_files
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    server = MockServer(ssl_ctx=sctx)
    await server.start()
    cctx = ssl.create_default_context(cafile=str(cert))
    client = WireClient("127.0.0.1", server.port, "cymru", reconnect=FAST, tls=cctx)
    ready: list[object] = []
    client.on_ready = lambda *a: ready.append(a)
    await client.start()
    assert client.tls
    port = server.port
    await server.stop()
    await asyncio.sleep(0.1)
    await server.start(port)
    # a plain-TCP reconnect (the reference bug) would never authenticate with a TLS server
    await eventually(lambda: len(ready) == 2, 5)
    assert len(server.auths) == 2
    client.close()
    await server.stop()


def test_connects_under_uvloop() -> None:
    """uvloop's transports are not asyncio.Transport subclasses: the client must not care."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[str, list[str]]:
        s = MockServer()
        await s.start()
        client = WireClient("127.0.0.1", s.port, "cymru", reconnect=FAST)
        try:
            info = await client.start()
            client.send(ControlMessage([new_id(), "route", "invite"]))
            await eventually(lambda: len(s.received) == 1)
            return info.version, s.received[0].tokens[1:]
        finally:
            client.close()
            await client.wait_closed()
            await s.stop()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        version, tokens = runner.run(asyncio.wait_for(scenario(), 10))
    assert version == "v0.9.10" and tokens == ["route", "invite"]


async def test_frames_of_one_loop_iteration_go_out_in_one_write(server: MockServer) -> None:
    client = WireClient("127.0.0.1", server.port, "cymru")
    await client.start()
    proto = client._proto
    assert proto is not None and proto.transport is not None
    writes: list[bytes] = []
    real_write = proto.transport.write
    proto.transport.write = lambda data: (writes.append(bytes(data)), real_write(data))[1]
    msgs = [ControlMessage([new_id(), "route", f"m{i}"]) for i in range(5)]
    for m in msgs:
        client.send(m)
    assert writes == []  # queued until the loop gets to the flush
    await eventually(lambda: writes)
    assert writes == [b"".join(encode(m) for m in msgs)]
    await eventually(lambda: len(server.received) == 5)
    assert [m.tokens[2] for m in server.received] == [f"m{i}" for i in range(5)]
    # while busy (a write just went out), what follows within FLUSH_INTERVAL is gathered
    # into one write, over several loop iterations
    await asyncio.sleep(0.01)
    client.send(ControlMessage([new_id(), "route", "a0"]))
    await asyncio.sleep(0)  # idle before: written at once
    assert len(writes) == 2
    client.send(ControlMessage([new_id(), "route", "b1"]))
    await asyncio.sleep(0)
    client.send(ControlMessage([new_id(), "route", "b2"]))
    await eventually(lambda: len(writes) == 3)
    assert writes[2].count(b"|route|b") == 2
    client.send(ControlMessage([new_id(), "route", "last"]))
    client.close()  # what was sent before close() still goes out
    await eventually(lambda: len(server.received) == 9)
