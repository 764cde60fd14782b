"""A scriptable fake drachtio server for framework unit tests.

An asyncio TCP server speaking the control-protocol framing. It answers ``authenticate``,
``route``, ``remove_route`` and ``ping`` like the C++ server, echoes ``sip`` commands with an
``OK`` frame shaped as in wire-protocol.md section 9 (filling Via/From tag/Call-ID/CSeq/
Contact the way the server does), and lets a test push ``sip`` frames (network requests,
responses to the app's requests, CDRs) to a connected app.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from drachtio.wire.codec import ControlMessage, FrameDecoder, encode, new_id

HOSTPORT = "127.0.0.1:5060"
VERSION = "v0.9.10-fake"

_tags = itertools.count(1)


def tag() -> str:
    return f"ftag{next(_tags)}"


def split_sip(text: str) -> tuple[str, list[tuple[str, str]], str]:
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers, body


def join_sip(start: str, headers: list[tuple[str, str]], body: str) -> str:
    hs = [(n, v) for n, v in headers if n.lower() != "content-length"]
    hs.append(("Content-Length", str(len(body.encode()))))
    return start + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in hs) + "\r\n" + body


def hget(headers: list[tuple[str, str]], name: str) -> str | None:
    for n, v in headers:
        if n.lower() == name.lower():
            return v
    return None


def hset(headers: list[tuple[str, str]], name: str, value: str) -> None:
    for i, (n, _v) in enumerate(headers):
        if n.lower() == name.lower():
            headers[i] = (n, value)
            return
    headers.append((name, value))


def from_tag(value: str | None) -> str:
    if not value or ";tag=" not in value:
        return ""
    return value.split(";tag=", 1)[1].split(";", 1)[0].strip()


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    authenticated: bool = False
    tags: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)

    def send(self, msg: ControlMessage) -> None:
        self.writer.write(encode(msg))


@dataclass
class Sent:
    """A ``sip`` command from the app, as the fake echoed it."""

    conn: Conn
    msg: ControlMessage
    kind: str  # "request" | "response"
    method: str
    txn: str  # request: the new txn id; response: the txn answered
    dialog_id: str
    text: str  # the echoed SIP text
    status: int = 0

    def header(self, name: str) -> str | None:
        return hget(split_sip(self.text)[1], name)


class FakeEngine:
    def __init__(self, secret: str = "cymru") -> None:
        self.secret = secret
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.conns: list[Conn] = []
        self.commands: list[tuple[Conn, ControlMessage]] = []
        self.sent: list[Sent] = []
        self._changed = asyncio.Event()
        self.delivered: dict[str, str] = {}  # txn id -> SIP text delivered to the app
        #: hook(conn, cmd) -> True when it answered the command itself
        self.on_command: Callable[[Conn, ControlMessage], bool] | None = None
        self.nok_next: str | None = None
        self.silent = False  # do not answer sip commands (test a lost answer)
        #: method -> status: answer requests the app sends as if from the network
        self.auto_respond: dict[str, int] = {}

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Kill the server and every connection (as a crashed drachtio would)."""
        if self.server is not None:
            self.server.close()
        for c in self.conns:
            c.writer.transport.abort()
        self.conns.clear()
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    # -- waiting helpers -----------------------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()

    async def wait_until(self, pred: Callable[[], object], timeout: float = 3.0) -> object:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            out = pred()
            if out:
                return out
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError("timed out waiting for the app")
            self._changed.clear()
            try:
                # woken by engine traffic, or poll: app-side state changes are silent
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.01))
            except TimeoutError:
                pass

    async def next_sent(self, start: int, pred: Callable[[Sent], bool] | None = None,
                        timeout: float = 3.0) -> Sent:
        def find() -> Sent | None:
            for s in self.sent[start:]:
                if pred is None or pred(s):
                    return s
            return None

        out = await self.wait_until(find, timeout)
        assert isinstance(out, Sent)
        return out

    async def wait_request(self, method: str, start: int = 0, timeout: float = 3.0) -> Sent:
        return await self.next_sent(start, lambda s: s.kind == "request" and s.method == method,
                                    timeout)

    async def wait_response(self, status: int | None = None, start: int = 0,
                            timeout: float = 3.0) -> Sent:
        return await self.next_sent(
            start, lambda s: s.kind == "response" and (status is None or s.status == status),
            timeout)

    async def connected(self, n: int = 1, routes: tuple[str, ...] = ()) -> Conn:
        def ok() -> Conn | None:
            live = [c for c in self.conns if c.authenticated and all(r in c.routes for r in routes)]
            return live[-1] if len(live) >= n else None

        out = await self.wait_until(ok)
        assert isinstance(out, Conn)
        return out

    # -- pushing to the app --------------------------------------------------------------------
    @property
    def conn(self) -> Conn:
        return [c for c in self.conns if c.authenticated][-1]

    def deliver_request(self, text: str, *, txn: str | None = None, dialog_id: str = "",
                        source: str = "network", conn: Conn | None = None) -> str:
        """A request from the network (or an ``unsolicited`` one) relayed to the app."""
        txn = txn or str(uuid.uuid4())
        self.delivered[txn] = text
        c = conn or self.conn
        size = str(len(text.encode()))
        toks = [new_id(), "sip", source, size, "udp", "127.0.0.1", "5080", "12:00:00.000000",
                txn, dialog_id]
        if not dialog_id and source == "network":
            toks += ["127.0.0.1", "5060", ""]
        else:
            toks += [""]
        c.send(ControlMessage(toks, text))
        return txn

    def deliver_response(self, sent: Sent, status: int, reason: str = "OK", *,
                         headers: list[tuple[str, str]] | None = None, body: str = "",
                         to_tag: str | None = "remote1", conn: Conn | None = None) -> None:
        """A response from the network to a request the app sent (``sent``)."""
        _start, hdrs, _ = split_sip(sent.text)
        out: list[tuple[str, str]] = []
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            v = hget(hdrs, name)
            if v is not None:
                if name == "To" and to_tag and ";tag=" not in v:
                    v = f"{v};tag={to_tag}"
                out.append((name, v))
        out += headers or []
        text = join_sip(f"SIP/2.0 {status} {reason}", out, body)
        c = conn or sent.conn
        toks = [new_id(), "sip", "network", str(len(text.encode())), "udp", "127.0.0.1", "5080",
                "12:00:00.000000", sent.txn, sent.dialog_id, ""]
        c.send(ControlMessage(toks, text))

    def deliver_cdr(self, kind: str, text: str, extra: str | None = None) -> None:
        toks = [new_id(), kind, "network", "12:00:00.000000"]
        if extra is not None:
            toks.append(extra)
        self.conn.send(ControlMessage(toks, text))

    # -- serving -------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        self.conns.append(conn)
        dec = FrameDecoder()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for msg in dec.feed(data):
                    self._handle(conn, msg)
                    self._notify()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if conn in self.conns:
                self.conns.remove(conn)
            writer.close()
            self._notify()

    def _reply(self, conn: Conn, msg: ControlMessage, *tokens: str, sip: str | None = None) -> None:
        conn.send(ControlMessage([new_id(), "response", msg.tokens[0], *tokens], sip))

    def _handle(self, conn: Conn, msg: ControlMessage) -> None:
        t = msg.tokens
        kind = t[1] if len(t) > 1 else ""
        if kind == "authenticate":
            if t[2] == self.secret:
                conn.authenticated = True
                conn.tags = [x for x in t[3].split(",") if x] if len(t) > 3 else []
                hp = f"udp/{HOSTPORT},tcp/{HOSTPORT}"
                self._reply(conn, msg, "OK", hp, VERSION, hp)
            else:
                self._reply(conn, msg, "NO", "incorrect secret")
                conn.writer.close()
            return
        self.commands.append((conn, msg))
        if self.on_command is not None and self.on_command(conn, msg):
            return
        if kind == "route":
            conn.routes.append(t[2])
            self._reply(conn, msg, "OK")
        elif kind == "remove_route":
            conn.routes.clear()
            self._reply(conn, msg, "OK")
        elif kind == "ping":
            self._reply(conn, msg, "OK", "pong")
        elif kind == "sip":
            if self.silent:
                return
            if self.nok_next is not None:
                reason, self.nok_next = self.nok_next, None
                self._reply(conn, msg, "NOK", reason)
                return
            self._echo(conn, msg)
        else:
            self._reply(conn, msg, "NO", "Unknown message type")

    def _echo(self, conn: Conn, msg: ControlMessage) -> None:
        t = msg.tokens
        txn_in, dialog_id = t[2], t[3]
        start, headers, body = split_sip(msg.sip or "")
        if start.startswith("SIP/2.0"):
            status = int(start.split()[1])
            req_text = self.delivered.get(txn_in, "")
            _rs, rh, _rb = split_sip(req_text) if req_text else ("", [], "")
            method = (hget(rh, "CSeq") or " ?").split()[-1]
            # as the real servers: Via, From, To, Call-ID, CSeq come from the request; the
            # app's To only chooses the To tag
            app_to = hget(headers, "To") or ""
            headers = [(n, v) for n, v in headers
                       if n.lower() not in ("via", "from", "to", "call-id", "cseq")]
            dialog = [(n, hget(rh, n) or "") for n in ("Via", "From", "To", "Call-ID", "CSeq")
                      if hget(rh, n) is not None]
            headers = dialog + headers
            to = hget(headers, "To") or ""
            if ";tag=" not in to and status > 100:
                chosen = from_tag(app_to.replace("; tag=", ";tag="))
                hset(headers, "To", f"{to};tag={chosen or tag()}")
            if method in ("INVITE", "SUBSCRIBE") and status >= 200 and not hget(headers, "Contact"):
                headers.append(("Contact", f"<sip:{HOSTPORT}>"))
            did = ""
            if method in ("INVITE", "SUBSCRIBE"):
                did = f"{hget(rh, 'Call-ID')};from-tag={from_tag(hget(rh, 'From'))}"
            text = join_sip(start, headers, body)
            self.sent.append(Sent(conn, msg, "response", method, txn_in, did, text, status))
            self._reply(conn, msg, "OK", "application", str(len(text)), "udp", "127.0.0.1",
                        "5080", "12:00:00.000000", txn_in, did, "", "Msg sent:", "", sip=text)
            return
        method, uri = start.split()[0], start.split()[1]
        if method in ("ACK", "CANCEL", "PRACK") or dialog_id:
            call_id = dialog_id.split(";from-tag=")[0] if dialog_id else None
        else:
            call_id = None
        if hget(headers, "Via") is None:
            headers.insert(0, ("Via", f"SIP/2.0/UDP {HOSTPORT};rport;branch=z9hG4bK{tag()}"))
        frm = (hget(headers, "From") or f"<sip:{HOSTPORT}>").replace("localhost", HOSTPORT)
        if ";tag=" not in frm:
            frm = f"{frm};tag={tag()}"
        hset(headers, "From", frm)
        if hget(headers, "To") is None:
            hset(headers, "To", f"<{uri}>")
        if hget(headers, "Call-ID") is None:
            hset(headers, "Call-ID", call_id or str(uuid.uuid4()))
        if hget(headers, "CSeq") is None:
            hset(headers, "CSeq", f"1 {method}")
        if method in ("INVITE", "SUBSCRIBE") and hget(headers, "Contact") is None:
            headers.append(("Contact", f"<sip:{HOSTPORT}>"))
        c = hget(headers, "Contact")
        if c:
            hset(headers, "Contact", c.replace("localhost", HOSTPORT))
        if uri == "sip:placeholder":
            uri = "sip:remote@127.0.0.1:5080"
        new_txn = str(uuid.uuid4())
        did = dialog_id
        if not did and method in ("INVITE", "SUBSCRIBE"):
            did = f"{hget(headers, 'Call-ID')};from-tag={from_tag(frm)}"
        text = join_sip(f"{method} {uri} SIP/2.0", headers, body)
        sent = Sent(conn, msg, "request", method, new_txn, did, text)
        self.sent.append(sent)
        self._reply(conn, msg, "OK", "application", str(len(text)), "udp", "127.0.0.1", "5060",
                    "12:00:00.000000", new_txn, "Msg sent:", "", sip=text)
        status = self.auto_respond.get(method)
        if status is not None:
            self.deliver_response(sent, status)


def invite_text(call_id: str = "call-1", from_tag_: str = "ptag1", *, body: str = "",
                to_tag: str | None = None, method: str = "INVITE", contact: bool = True,
                extra: list[tuple[str, str]] | None = None, cseq: int = 1) -> str:
    to = "<sip:callee@127.0.0.1:5060>" + (f";tag={to_tag}" if to_tag else "")
    headers = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1;rport=5080"),
        ("From", f'"Alice" <sip:+15083084809@127.0.0.1:5080>;tag={from_tag_}'),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
        ("Max-Forwards", "70"),
    ]
    if contact:
        headers.append(("Contact", "<sip:alice@127.0.0.1:5080>"))
    if body:
        headers.append(("Content-Type", "application/sdp"))
    headers += extra or []
    return join_sip(f"{method} sip:callee@127.0.0.1:5060 SIP/2.0", headers, body)


SDP_A = (
    "v=0\r\no=alice 100 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\na=sendrecv\r\n"
)
SDP_B = (
    "v=0\r\no=bob 200 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 7000 RTP/AVP 0\r\na=sendrecv\r\n"
)
