"""Control-protocol framing, sans-IO.

Every frame on the app <-> engine TCP connection is ``<decimal utf-8 byte length>#<payload>``,
concatenated with no terminator. The payload is a meta line of ``|``-separated tokens
(token 0 is the sender's message id), optionally followed by ``\\r\\n`` and a SIP message.

This module never touches sockets: ``FrameDecoder.feed(bytes)`` returns the messages that are
complete, ``encode(msg)`` returns the bytes to write. Embedded mode skips it entirely and hands
``ControlMessage`` objects across in-process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

__all__ = [
    "ControlMessage",
    "FrameDecoder",
    "FramingError",
    "encode",
    "new_id",
    "DEFAULT_MAX_FRAME",
]

#: Largest frame accepted by default. The C++ server wedges above ~12 KB (a bug, see
#: wire-protocol.md section 8); we accept anything up to this bound and refuse beyond it
#: with a clear error instead of hanging.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
_MAX_LENGTH_DIGITS = len(str(DEFAULT_MAX_FRAME)) + 1


class FramingError(ValueError):
    """The byte stream is not ``<length>#<payload>``; the connection must be closed."""


@dataclass(slots=True)
class ControlMessage:
    """One control-protocol message: meta tokens plus an optional raw SIP message."""

    tokens: list[str]
    sip: str | None = None
    #: In embedded mode the engine may attach the already parsed SIP message here so the
    #: framework does not parse the text again. Never serialised.
    parsed: object | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.tokens[0] if self.tokens else ""

    @property
    def kind(self) -> str:
        """Token 1: the command (``sip``, ``route`` ...) or ``response``."""
        return self.tokens[1] if len(self.tokens) > 1 else ""

    def payload(self) -> str:
        meta = "|".join(self.tokens)
        if self.sip is None:
            return meta
        return meta + "\r\n" + self.sip

    @classmethod
    def from_payload(cls, payload: str) -> ControlMessage:
        meta, sep, sip = payload.partition("\r\n")
        return cls(meta.split("|"), sip if sep else None)


def new_id() -> str:
    """A fresh message or transaction id (UUID v4 text, as both reference peers use)."""
    return str(uuid.uuid4())


def encode(msg: ControlMessage) -> bytes:
    data = msg.payload().encode("utf-8")
    return b"%d#" % len(data) + data


class FrameDecoder:
    """Incremental decoder: bytes in, complete ``ControlMessage`` objects out.

    Copes with frames split anywhere (inside the length digits too) and many frames per read.
    Invalid UTF-8 inside a payload is replaced, not fatal, so one bad frame does not lose the
    ones after it.
    """

    __slots__ = ("_buf", "_max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max_frame = max_frame

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[ControlMessage]:
        buf = self._buf
        buf += data
        out: list[ControlMessage] = []
        pos = 0
        n = len(buf)
        while pos < n:
            hash_at = buf.find(b"#", pos, min(n, pos + _MAX_LENGTH_DIGITS + 1))
            if hash_at < 0:
                if n - pos > _MAX_LENGTH_DIGITS or not buf[pos:n].isdigit():
                    raise FramingError(
                        f"frame does not start with <length>#: {bytes(buf[pos:pos + 20])!r}"
                    )
                break
            digits = bytes(buf[pos:hash_at])
            if not digits.isdigit():
                raise FramingError(f"frame does not start with <length>#: {digits[:20]!r}")
            length = int(digits)
            if length > self._max_frame:
                raise FramingError(f"frame of {length} bytes exceeds limit {self._max_frame}")
            end = hash_at + 1 + length
            if end > n:
                break
            payload = bytes(buf[hash_at + 1 : end]).decode("utf-8", errors="replace")
            out.append(ControlMessage.from_payload(payload))
            pos = end
        if pos:
            del buf[:pos]
        return out
