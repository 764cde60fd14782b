"""The one exception the parser lets out, and the limits that bound its work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.sip.message import Message

__all__ = ["DEFAULT_LIMITS", "Limits", "SipParseError"]


class SipParseError(ValueError):
    """Bytes that are not a usable SIP message.

    ``reason`` says precisely what is wrong (fit for a 400 reason phrase), ``status`` is the
    response the engine owes (400, 505 bad version, 513 too large) and ``message`` is the
    partially parsed Request/Response when there is enough of it to answer, else ``None``.
    """

    def __init__(
        self, reason: str, *, status: int = 400, message: Message | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"SipParseError({self.reason!r}, status={self.status})"


@dataclass(frozen=True, slots=True)
class Limits:
    """Upper bounds that keep a hostile peer from making the parser work without end."""

    #: Largest message (start line + headers + body) in bytes; beyond it: 513.
    max_message_size: int = 65535
    #: Most header lines in one message; beyond it: 513.
    max_headers: int = 256
    #: Largest header block: a stream buffers at most this much while waiting for the
    #: blank line; a datagram whose header block is larger is refused without parsing it.
    max_head_size: int = 65535

    def __post_init__(self) -> None:
        for name in ("max_message_size", "max_headers", "max_head_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")


DEFAULT_LIMITS = Limits()
