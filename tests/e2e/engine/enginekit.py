"""Helpers for engine end-to-end tests: a minimal control-protocol client acting as the
app, raw UDP/TCP SIP peers, and request templates."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from drachtio.engine import Engine
from drachtio.sip import Request, Response, StreamParser, parse_message
from drachtio.wire.codec import ControlMessage, FrameDecoder, encode, new_id

SECRET = "cymru"


class AppClient:
    """The app side of the control protocol, just enough to drive the engine in tests."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.decoder = FrameDecoder()
        self.responses: dict[str, asyncio.Future[ControlMessage]] = {}
        self.events: asyncio.Queue[ControlMessage] = asyncio.Queue()
        self.continued: dict[str, list[ControlMessage]] = {}
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def connect(self, port: int, host: str = "127.0.0.1") -> None:
        self.reader, self.writer = await asyncio.open_connection(host, port)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.reader is not None
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for msg in self.decoder.feed(data):
                    if msg.kind == "response":
                        rid = msg.tokens[2]
                        if len(msg.tokens) > 12 and msg.tokens[12] == "continue":
                            self.continued.setdefault(rid, []).append(msg)
                            continue
                        fut = self.responses.pop(rid, None)
                        if fut is not None and not fut.done():
                            fut.set_result(msg)
                    else:
                        self.events.put_nowait(msg)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()

    def send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    def send(self, tokens: list[str], sip: str | None = None) -> str:
        msg_id = new_id()
        self.send_raw(encode(ControlMessage([msg_id, *tokens], sip)))
        return msg_id

    def start(self, tokens: list[str], sip: str | None = None
              ) -> tuple[str, asyncio.Future[ControlMessage]]:
        """Send a command; the future gets its final (non-``continue``) response."""
        msg_id = new_id()
        fut: asyncio.Future[ControlMessage] = asyncio.get_running_loop().create_future()
        self.responses[msg_id] = fut
        self.send_raw(encode(ControlMessage([msg_id, *tokens], sip)))
        return msg_id, fut

    async def call(self, tokens: list[str], sip: str | None = None,
                   timeout: float = 5.0) -> ControlMessage:
        msg_id = new_id()
        fut: asyncio.Future[ControlMessage] = asyncio.get_running_loop().create_future()
        self.responses[msg_id] = fut
        self.send_raw(encode(ControlMessage([msg_id, *tokens], sip)))
        return await asyncio.wait_for(fut, timeout)

    async def authenticate(self, secret: str = SECRET) -> ControlMessage:
        return await self.call(["authenticate", secret, ""])

    async def route(self, *verbs: str) -> None:
        for verb in verbs:
            r = await self.call(["route", verb])
            assert r.tokens[3] == "OK", r.tokens

    async def next(self, kind: str | None = None, timeout: float = 5.0) -> ControlMessage:
        while True:
            msg = await asyncio.wait_for(self.events.get(), timeout)
            if kind is None or msg.kind == kind:
                return msg

    async def expect_none(self, delay: float = 0.3) -> None:
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            msg = await asyncio.wait_for(self.events.get(), delay)
            raise AssertionError(f"unexpected message {msg.tokens}")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


class UdpPeer(asyncio.DatagramProtocol):
    """A raw SIP endpoint on a UDP socket: send text, receive parsed messages."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))

    def send(self, data: bytes | str, port: int, host: str = "127.0.0.1") -> None:
        if isinstance(data, str):
            data = data.encode()
        assert self.transport is not None
        self.transport.sendto(data, (host, port))

    async def recv_raw(self, timeout: float = 5.0) -> bytes:
        data, _ = await asyncio.wait_for(self.queue.get(), timeout)
        return data

    async def recv(self, timeout: float = 5.0) -> Request | Response:
        return parse_message(await self.recv_raw(timeout))

    async def recv_until(self, pred: Callable[[Request | Response], bool],
                         timeout: float = 5.0) -> Request | Response:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.01, end - loop.time()))
            if pred(msg):
                return msg

    async def expect_none(self, delay: float = 0.3) -> None:
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            data = await self.recv_raw(delay)
            raise AssertionError(f"unexpected datagram {data[:200]!r}")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TcpPeer:
    """A raw SIP endpoint on a TCP connection to the engine."""

    def __init__(self) -> None:
        self.parser = StreamParser()
        self.queue: asyncio.Queue[Request | Response] = asyncio.Queue()
        self.raw = bytearray()
        self.writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.eof = asyncio.Event()

    async def connect(self, port: int) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)

        async def run() -> None:
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    self.raw += data
                    for m in self.parser.feed(data):
                        self.queue.put_nowait(m)
            except Exception:
                pass
            finally:
                self.eof.set()

        self._task = asyncio.create_task(run())

    @property
    def local_port(self) -> int:
        assert self.writer is not None
        return int(self.writer.get_extra_info("sockname")[1])

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        assert self.writer is not None
        self.writer.write(data)

    async def recv(self, timeout: float = 5.0) -> Request | Response:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


def sip_port(engine: Engine, proto: str = "udp") -> int:
    return engine.sip_port(proto)


def invite(peer_port: int, engine_port: int, *, call_id: str = "call-1@test",
           branch: str = "z9hG4bKtest1", from_tag: str = "ftag1", cseq: int = 1,
           extra: str = "", body: str = "", method: str = "INVITE", to_tag: str = "",
           uri: str | None = None) -> str:
    """A request from a UDP peer at 127.0.0.1:peer_port to the engine."""
    uri = uri or f"sip:service@127.0.0.1:{engine_port}"
    to = f"<sip:service@127.0.0.1:{engine_port}>" + (f";tag={to_tag}" if to_tag else "")
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer_port};branch={branch}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:caller@127.0.0.1:{peer_port}>;tag={from_tag}\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Contact: <sip:caller@127.0.0.1:{peer_port}>\r\n"
        f"{extra}{ctype}"
        f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    )


async def deliver_invite(app: AppClient, peer: UdpPeer, port: int, inv: str, *,
                         trying: bool = False) -> str:
    """``peer`` sends ``inv`` to the engine on ``port``; returns the transaction id of the
    request frame ``app`` receives. The engine's first answer (100 Trying) is read; with
    ``trying`` it must be that."""
    peer.send(inv, port)
    first = await peer.recv()
    if trying:
        assert isinstance(first, Response) and first.status == 100, first
    ev = await app.next("sip")
    return ev.tokens[8]


async def invite_peer(app: AppClient, peer: UdpPeer, body: str = "") -> tuple[str, Request]:
    """``app`` sends an INVITE (``body`` as SDP) to ``peer`` through the engine; returns the
    transaction id the engine gave it and the INVITE as ``peer`` received it."""
    r = await app.call(["sip", "", ""], f"INVITE sip:callee@127.0.0.1:{peer.port} SIP/2.0\r\n"
                                        f"Contact: <sip:app@localhost>\r\n\r\n{body}")
    assert r.tokens[3] == "OK", r.tokens
    inv = await peer.recv()
    assert isinstance(inv, Request), inv
    return r.tokens[10], inv


SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
