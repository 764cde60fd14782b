"""Just enough SDP (RFC 4566 / 8866) for a signalling framework, sans-IO.

Not a media stack: we read the origin, connection addresses, media lines and the
direction attributes, decide whether an offer puts the call on hold, and produce
hold / unhold re-offers. Everything else is kept verbatim: :func:`parse_sdp` keeps every
line with its own line ending, so ``str(parse_sdp(text)) == text`` for any input that
parses, and an edit touches only the lines it must.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "DIRECTIONS",
    "Connection",
    "Line",
    "Media",
    "Origin",
    "SdpError",
    "Section",
    "SessionDescription",
    "hold_offer",
    "is_hold",
    "parse_sdp",
    "unhold_offer",
]

#: The four direction attributes of RFC 3264 section 6.1.
DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})
_HOLD_ADDRESSES = frozenset({"0.0.0.0"})


class SdpError(ValueError):
    """The SDP text cannot be read (a line is not ``<letter>=<value>``, bad o=/m=/c=)."""


def _is_number(text: str) -> bool:
    # str.isdigit() alone accepts superscripts and other scripts' digits
    return text.isascii() and text.isdigit()


_ORIGIN_VERSION = re.compile(r"^(\s*\S+\s+\S+\s+)(\S+)")


@dataclass(slots=True)
class Line:
    """One SDP line: its type letter, its value, and the line ending it had."""

    type: str
    value: str
    eol: str = "\r\n"

    def __str__(self) -> str:
        if not self.type:  # a blank line kept verbatim
            return self.value + self.eol
        return f"{self.type}={self.value}{self.eol}"

    @property
    def attribute(self) -> tuple[str, str | None] | None:
        """``a=name:value`` -> (name, value); ``a=flag`` -> (flag, None); else None."""
        if self.type != "a":
            return None
        name, sep, val = self.value.partition(":")
        return name, (val if sep else None)


@dataclass(frozen=True, slots=True)
class Origin:
    username: str
    session_id: str
    version: int
    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    nettype: str
    addrtype: str  # "IP4" / "IP6" (as written)
    address: str  # multicast TTL / count suffixes (``/127``) removed

    @property
    def is_ipv6(self) -> bool:
        return self.addrtype.upper() == "IP6"

    @property
    def is_hold_address(self) -> bool:
        """``c=IN IP4 0.0.0.0``: RFC 2543-style hold."""
        return self.address in _HOLD_ADDRESSES


def _parse_origin(value: str) -> Origin:
    fields = value.split()
    if len(fields) != 6:
        raise SdpError(f"o= needs 6 fields, got {len(fields)}: {value!r}")
    if not _is_number(fields[2]):
        raise SdpError(f"o= session version is not a number: {fields[2]!r}")
    return Origin(fields[0], fields[1], int(fields[2]), fields[3], fields[4], fields[5])


def _parse_connection(value: str) -> Connection:
    fields = value.split()
    if len(fields) != 3:
        raise SdpError(f"c= needs 3 fields, got {len(fields)}: {value!r}")
    return Connection(fields[0], fields[1], fields[2].split("/", 1)[0])


class Section:
    """Lines of the session part or of one media description, in order."""

    __slots__ = ("lines",)

    def __init__(self, lines: list[Line] | None = None) -> None:
        self.lines: list[Line] = lines if lines is not None else []

    def __str__(self) -> str:
        return "".join(str(line) for line in self.lines)

    def __iter__(self) -> Iterator[Line]:
        return iter(self.lines)

    def first(self, type_: str) -> Line | None:
        for line in self.lines:
            if line.type == type_:
                return line
        return None

    def attributes(self, name: str) -> list[str | None]:
        """Values of every ``a=name[:value]`` line (None for a flag)."""
        out: list[str | None] = []
        for line in self.lines:
            attr = line.attribute
            if attr is not None and attr[0] == name:
                out.append(attr[1])
        return out

    def has_attribute(self, name: str) -> bool:
        return bool(self.attributes(name))

    @property
    def connection(self) -> Connection | None:
        """This section's own ``c=`` (the first one), not inherited."""
        line = self.first("c")
        return _parse_connection(line.value) if line is not None else None

    @property
    def direction(self) -> str | None:
        """The direction attribute written in this section, None when absent."""
        for line in self.lines:
            if line.type == "a" and line.value in DIRECTIONS:
                return line.value
        return None

    def set_direction(self, direction: str) -> None:
        """Replace this section's direction attributes by ``a=<direction>``.

        The first existing direction line is rewritten in place (others dropped); without
        one, the attribute goes after the last line of the section.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {sorted(DIRECTIONS)}, got {direction!r}")
        placed = False
        kept: list[Line] = []
        for line in self.lines:
            if line.type == "a" and line.value in DIRECTIONS:
                if placed:
                    continue
                line.value = direction
                placed = True
            kept.append(line)
        if not placed:
            eol = next((ln.eol for ln in reversed(kept) if ln.eol), "\r\n")
            if kept and not kept[-1].eol:  # text ended without a newline: end that line first
                kept[-1].eol = eol
            kept.append(Line("a", direction, eol))
        self.lines = kept

    def remove_direction(self) -> None:
        self.lines = [ln for ln in self.lines if not (ln.type == "a" and ln.value in DIRECTIONS)]


class Media(Section):
    """One ``m=`` section; its first line is the ``m=`` line."""

    __slots__ = ("session",)

    def __init__(self, lines: list[Line], session: Section) -> None:
        super().__init__(lines)
        self.session = session
        self._fields()  # validate early so accessors never raise on parsed input

    def _fields(self) -> list[str]:
        fields = self.lines[0].value.split()
        if len(fields) < 3:
            raise SdpError(f"m= needs at least 3 fields: {self.lines[0].value!r}")
        port = fields[1].split("/", 1)
        if not all(_is_number(p) for p in port) or int(port[0]) > 65535:
            raise SdpError(f"m= port is not a valid number: {fields[1]!r}")
        return fields

    @property
    def type(self) -> str:
        """``audio``, ``video``, ``application``, ``image`` ..."""
        return self._fields()[0]

    @property
    def port(self) -> int:
        return int(self._fields()[1].split("/", 1)[0])

    @port.setter
    def port(self, value: int) -> None:
        if not 0 <= value <= 65535:
            raise ValueError(f"port must be within 0..65535, got {value}")
        fields = self._fields()
        count = fields[1].partition("/")[2]
        fields[1] = f"{value}/{count}" if count else str(value)
        self.lines[0].value = " ".join(fields)

    @property
    def port_count(self) -> int:
        count = self._fields()[1].partition("/")[2]
        return int(count) if count else 1

    @property
    def proto(self) -> str:
        return self._fields()[2]

    @property
    def formats(self) -> list[str]:
        return self._fields()[3:]

    @property
    def is_disabled(self) -> bool:
        """Port 0: the stream is rejected or removed (RFC 3264 section 8.2), not held."""
        return self.port == 0

    @property
    def effective_direction(self) -> str:
        """Media direction, else the session's, else ``sendrecv`` (RFC 3264 section 5.1)."""
        return self.direction or self.session.direction or "sendrecv"

    @property
    def effective_connection(self) -> Connection | None:
        """Media ``c=``, else the session's."""
        own = self.connection
        return own if own is not None else self.session.connection

    def rtpmap(self) -> dict[str, str]:
        """``a=rtpmap`` values by payload type: ``{'0': 'PCMU/8000'}``."""
        out: dict[str, str] = {}
        for value in self.attributes("rtpmap"):
            if value:
                pt, _, enc = value.partition(" ")
                out[pt] = enc.strip()
        return out


class SessionDescription:
    """A parsed SDP body: the session section plus the media sections, in order."""

    __slots__ = ("media", "session")

    def __init__(self, session: Section, media: list[Media]) -> None:
        self.session = session
        self.media = media

    def __str__(self) -> str:
        return str(self.session) + "".join(str(m) for m in self.media)

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def copy(self) -> SessionDescription:
        return parse_sdp(str(self))

    # -- origin
    @property
    def origin(self) -> Origin:
        line = self.session.first("o")
        if line is None:
            raise SdpError("SDP has no o= line")
        return _parse_origin(line.value)

    @property
    def session_id(self) -> str:
        return self.origin.session_id

    @property
    def version(self) -> int:
        return self.origin.version

    @version.setter
    def version(self, value: int) -> None:
        if value < 0:
            raise ValueError("session version must not be negative")
        line = self.session.first("o")
        if line is None:
            raise SdpError("SDP has no o= line")
        _parse_origin(line.value)
        # replace only the third field, keeping the original spacing
        line.value = _ORIGIN_VERSION.sub(lambda m: m.group(1) + str(value), line.value, count=1)

    def bump_version(self) -> int:
        """Increment the o= session version (RFC 3264 section 8: every new offer)."""
        self.version = self.version + 1
        return self.version

    # -- connection / direction
    @property
    def connection(self) -> Connection | None:
        """The session-level ``c=``."""
        return self.session.connection

    @property
    def direction(self) -> str:
        """Session-level direction, ``sendrecv`` when absent."""
        return self.session.direction or "sendrecv"

    def set_direction(self, direction: str) -> None:
        """Set ``direction`` on every media stream that is not disabled (port 0)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {sorted(DIRECTIONS)}, got {direction!r}")
        self.session.remove_direction()
        for m in self.media:
            if not m.is_disabled:
                m.set_direction(direction)


def parse_sdp(text: str | bytes) -> SessionDescription:
    """Parse an SDP body; ``str()`` of the result gives back ``text`` exactly.

    Raises :class:`SdpError` (a ValueError) for a line that is neither ``<x>=...`` nor
    blank, a missing or malformed ``o=``, or a malformed ``m=`` / ``c=``.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "surrogateescape")
    elif not isinstance(text, str):
        raise TypeError(f"expected SDP as str or bytes, got {type(text).__name__}")
    session = Section()
    media: list[Media] = []
    current: list[Line] = session.lines
    sections: list[list[Line]] = []
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        eol = raw[len(body) :]
        if not body.strip():
            current.append(Line("", body, eol))
            continue
        if len(body) < 2 or body[1] != "=" or not body[0].isalpha():
            raise SdpError(f"not an SDP line: {body[:40]!r}")
        line = Line(body[0], body[2:], eol)
        if line.type == "m":
            current = [line]
            sections.append(current)
        else:
            current.append(line)
    for lines in sections:
        media.append(Media(lines, session))
    sdp = SessionDescription(session, media)
    origin = session.first("o")
    if origin is None:
        raise SdpError("SDP has no o= line")
    _parse_origin(origin.value)
    for sec in (session, *media):
        for line in sec.lines:
            if line.type == "c":
                _parse_connection(line.value)
    return sdp


def _as_sdp(sdp: str | bytes | SessionDescription) -> SessionDescription:
    return sdp if isinstance(sdp, SessionDescription) else parse_sdp(sdp)


def is_hold(sdp: str | bytes | SessionDescription) -> bool:
    """Does this offer put the call on hold?

    Common practice (RFC 3264 section 8.4 and the older RFC 2543 style): every active
    stream is ``sendonly`` or ``inactive`` (written on the stream or inherited from the
    session), or its connection address is ``0.0.0.0``. Streams with port 0 are removed,
    not held, and are ignored; an SDP whose streams are all removed is not a hold.
    """
    desc = _as_sdp(sdp)
    active = [m for m in desc.media if not m.is_disabled]
    if not active:
        return False
    for m in active:
        conn = m.effective_connection
        if conn is not None and conn.is_hold_address:
            continue
        if m.effective_direction in ("sendonly", "inactive"):
            continue
        return False
    return True


def hold_offer(sdp: str | bytes | SessionDescription, *, inactive: bool = False) -> str:
    """A re-offer putting the call on hold, derived from our last offer/answer ``sdp``.

    Each active stream becomes ``sendonly`` (we keep sending, e.g. music on hold), or
    ``inactive`` when asked or when it was already ``recvonly``/``inactive`` (the other
    side holds us too). The o= version is incremented. ``sdp`` itself is not modified.
    """
    desc = _as_sdp(sdp).copy()
    session_dir = desc.session.direction
    desc.session.remove_direction()
    for m in desc.media:
        if m.is_disabled:
            continue
        current = m.direction or session_dir or "sendrecv"
        m.set_direction(
            "inactive" if inactive or current in ("recvonly", "inactive") else "sendonly"
        )
    desc.bump_version()
    return str(desc)


def unhold_offer(sdp: str | bytes | SessionDescription, *, direction: str = "sendrecv") -> str:
    """A re-offer taking the call off hold: active streams set to ``direction``.

    The o= version is incremented. RFC 2543-style ``c=0.0.0.0`` is not repaired here: the
    caller must supply an SDP with the real address (normally our last sendrecv offer).
    """
    desc = _as_sdp(sdp).copy()
    desc.set_direction(direction)
    desc.bump_version()
    return str(desc)
