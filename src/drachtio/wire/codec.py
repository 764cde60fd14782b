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
    "DEFAULT_MAX_FRAME",
    "ControlMessage",
    "FrameDecoder",
    "FramingError",
    "encode",
    "new_id",
]

#: Largest frame accepted by default. The C++ server wedges above ~12 KB (a bug, see
#: wire-protocol.md section 8); we accept anything up to this bound and refuse beyond it
#: with a clear error instead of hanging.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024


class FramingError(ValueError):
    """The byte stream is not ``<length>#<payload>``; the connection must be closed.

    ``messages`` holds the messages of the same ``feed()`` call that were complete before
    the bad bytes, so a caller may still act on them.
    """

    messages: list[ControlMessage]

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.messages = []


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
    """``<utf-8 length>#<payload>``. Tokens are not escaped (neither peer does): a token
    holding ``|`` or CR LF would be read back as different tokens."""
    data = msg.payload().encode("utf-8")
    return b"%d#" % len(data) + data


class FrameDecoder:
    """Incremental decoder: bytes in, complete ``ControlMessage`` objects out.

    Copes with frames split anywhere (inside the length digits too) and many frames per read.
    Invalid UTF-8 inside a payload is replaced, not fatal, so one bad frame does not lose the
    ones after it. On a framing error the messages decoded before the bad bytes are on the
    exception (``FramingError.messages``); the connection must then be closed.
    """

    __slots__ = ("_buf", "_max_digits", "_max_frame", "_need")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 0:
            raise ValueError(f"max_frame must not be negative, got {max_frame}")
        self._buf = bytearray()
        self._max_frame = max_frame
        # leading zeros are legal, so allow one digit more than the largest length needs
        self._max_digits = len(str(max_frame)) + 1
        #: bytes the buffer must hold before the pending frame can complete (0: unknown)
        self._need = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[ControlMessage]:
        buf = self._buf
        src: bytes | bytearray
        if buf:
            buf += data
            src = buf
        else:  # nothing pending (the usual case): read the frames from data, copy no bytes
            src = data
        n = len(src)
        if n < self._need:  # still inside a frame whose length we know: nothing to do
            return []
        out: list[ControlMessage] = []
        pos = 0
        max_digits = self._max_digits
        try:
            while pos < n:
                hash_at = src.find(b"#", pos, pos + max_digits + 1)  # (end is clamped to n)
                if hash_at < 0:
                    if n - pos > max_digits or not src[pos:n].isdigit():
                        raise FramingError(
                            f"frame does not start with <length>#: {bytes(src[pos:pos + 20])!r}"
                        )
                    if int(src[pos:n]) > self._max_frame:
                        raise FramingError(
                            f"frame of {int(src[pos:n])}+ bytes exceeds limit {self._max_frame}"
                        )
                    self._need = 0
                    break
                digits = src[pos:hash_at]
                if not digits.isdigit():
                    raise FramingError(
                        f"frame does not start with <length>#: {bytes(digits[:20])!r}"
                    )
                length = int(digits)
                if length > self._max_frame:
                    raise FramingError(f"frame of {length} bytes exceeds limit {self._max_frame}")
                end = hash_at + 1 + length
                if end > n:
                    self._need = end - pos
                    break
                payload = src[hash_at + 1 : end].decode("utf-8", errors="replace")
                # (ControlMessage.from_payload, inlined: this runs for every frame)
                meta, sep, sip = payload.partition("\r\n")
                out.append(ControlMessage(meta.split("|"), sip if sep else None))
                pos = end
            else:
                self._need = 0
        except FramingError as exc:
            exc.messages = out
            self._need = 0  # the bad bytes stay first in the buffer: every feed fails again
            raise
        finally:
            if src is buf:
                if pos:
                    del buf[:pos]
            elif pos < n:
                buf += src[pos:]  # the start of a frame: kept for the next feed
        return out
