"""WebSocket framing for SIP over WebSocket (RFC 7118 on RFC 6455), server side, sans-IO.

A SIP client (a browser phone) opens ``GET /`` with ``Upgrade: websocket`` and
``Sec-WebSocket-Protocol: sip``; after our ``101`` every WebSocket message carries exactly one
SIP message, so no Content-Length framing is needed. Clients mask their frames; the server's
are unmasked. Only what a SIP server needs: text/binary messages (fragmented or not), ping,
pong, close.
"""

from __future__ import annotations

import base64
import hashlib
import struct

__all__ = ["WsDecoder", "WsError", "encode_frame", "handshake"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WsError(ValueError):
    """The peer broke the WebSocket protocol: close the connection (``code``: close status)."""

    def __init__(self, reason: str, code: int = 1002) -> None:
        super().__init__(reason)
        self.code = code


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode()


def handshake(request: bytes) -> tuple[bytes, bool]:
    """The answer to an opening handshake (the bytes up to the blank line) and whether the
    connection is now a SIP WebSocket (False: send the answer, then close)."""
    try:
        text = request.decode("latin-1")
        start, *lines = text.split("\r\n")
        method, _target, version = start.split(" ", 2)
    except ValueError:
        return _refuse(400, "Bad Request"), False
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if method != "GET" or not version.startswith("HTTP/1.1"):
        return _refuse(400, "Bad Request"), False
    upgrade = headers.get("upgrade", "").lower()
    connection = [t.strip().lower() for t in headers.get("connection", "").split(",")]
    key = headers.get("sec-websocket-key", "")
    if upgrade != "websocket" or "upgrade" not in connection or not key:
        return _refuse(426, "Upgrade Required", [("Upgrade", "websocket")]), False
    if headers.get("sec-websocket-version") != "13":
        return _refuse(426, "Upgrade Required", [("Sec-WebSocket-Version", "13")]), False
    protocols = [p.strip().lower() for p in headers.get("sec-websocket-protocol", "").split(",")]
    if "sip" not in protocols:  # RFC 7118 5.1: the client must ask for "sip"
        return _refuse(400, "Bad Request"), False
    answer = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept_key(key)}\r\n"
              "Sec-WebSocket-Protocol: sip\r\n\r\n")
    return answer.encode("ascii"), True


def _refuse(status: int, reason: str, extra: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Length: 0", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in extra or ()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def encode_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame (``mask``: 4 bytes, for a client)."""
    n = len(payload)
    first = 0x80 | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", first, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mbit | 127, n)
    if mask:
        return head + mask + _xor(payload, mask)
    return head + payload


def _xor(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


class WsDecoder:
    """Bytes from a client -> complete messages ``(opcode, payload)`` (control frames
    included, data messages reassembled)."""

    __slots__ = ("_buf", "_frag", "_frag_op", "max_message", "require_mask")

    def __init__(self, max_message: int = 65535, *, require_mask: bool = True) -> None:
        self._buf = bytearray()
        self._frag: list[bytes] = []
        self._frag_op = 0
        self.max_message = max_message
        self.require_mask = require_mask

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        out: list[tuple[int, bytes]] = []
        while True:
            if len(buf) < 2:
                break
            b0, b1 = buf[0], buf[1]
            fin, opcode = b0 & 0x80, b0 & 0x0F
            if b0 & 0x70:
                raise WsError("reserved bits set (no extension was negotiated)")
            masked, n = b1 & 0x80, b1 & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n = struct.unpack_from("!H", buf, 2)[0]
                pos = 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n = struct.unpack_from("!Q", buf, 2)[0]
                pos = 10
            if self.require_mask and not masked:
                raise WsError("client frames must be masked")
            if n > self.max_message:
                raise WsError("message too big", 1009)
            mask = b""
            if masked:
                if len(buf) < pos + 4:
                    break
                mask = bytes(buf[pos:pos + 4])
                pos += 4
            if len(buf) < pos + n:
                break
            payload = bytes(buf[pos:pos + n])
            del buf[:pos + n]
            if mask:
                payload = _xor(payload, mask)
            if opcode >= 0x8:  # control frame: never fragmented, at most 125 bytes
                if not fin or n > 125:
                    raise WsError("bad control frame")
                if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise WsError(f"unknown opcode {opcode}")
                out.append((opcode, payload))
                continue
            if opcode == OP_CONT:
                if not self._frag_op:
                    raise WsError("continuation without a first fragment")
                self._frag.append(payload)
            elif opcode in (OP_TEXT, OP_BINARY):
                if self._frag_op:
                    raise WsError("new message inside a fragmented one")
                self._frag_op = opcode
                self._frag = [payload]
            else:
                raise WsError(f"unknown opcode {opcode}")
            if sum(len(p) for p in self._frag) > self.max_message:
                raise WsError("message too big", 1009)
            if fin:
                out.append((self._frag_op, b"".join(self._frag)))
                self._frag_op = 0
                self._frag = []
        return out
