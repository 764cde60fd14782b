"""Multipart MIME bodies (RFC 2046 section 5.1) as SIP uses them, sans-IO.

SIP carries ``multipart/mixed`` (SDP plus ISUP, S/MIME, RFC 4475 TC_MPART01) and
``multipart/mixed`` / ``multipart/related`` in SIPREC (SDP plus ``rs-metadata+xml``).
:func:`split_multipart` cuts a body into :class:`Part` objects (headers plus *bytes*: a part
may be binary); :func:`build_multipart` does the reverse. Tolerant of what real peers send:
a quoted boundary, a preamble before the first delimiter, an epilogue, LF instead of CRLF,
white space after a delimiter, a missing close delimiter.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping

__all__ = [
    "MultipartError",
    "Part",
    "PartHeaders",
    "build_multipart",
    "content_type_params",
    "find_part",
    "get_boundary",
    "split_multipart",
]


class MultipartError(ValueError):
    """The body is not a multipart body with the announced boundary."""


class PartHeaders(Mapping[str, str]):
    """Headers of one part: ordered, original spelling kept, looked up case-insensitively.

    Mapping access gives the first value of a name; :meth:`get_all` gives every value.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: list[tuple[str, str]] = []
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        if not name or any(c in name for c in ":\r\n \t"):
            raise ValueError(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} value must not contain CR or LF")
        self._items.append((name, value))

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        for n, v in self._items:
            if n.lower() == key:
                return v
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for n, _ in self._items:
            if n.lower() not in seen:
                seen.add(n.lower())
                yield n

    def __len__(self) -> int:
        return len({n.lower() for n, _ in self._items})

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for n, v in self._items if n.lower() == key]

    def raw_items(self) -> list[tuple[str, str]]:
        """Every (name, value) in order, duplicates included."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PartHeaders):
            return self._items == other._items
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PartHeaders({self._items!r})"


class Part:
    """One body part: its MIME headers and its content, byte-exact."""

    __slots__ = ("body", "headers")

    def __init__(
        self,
        body: bytes | str = b"",
        headers: PartHeaders | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        content_type: str | None = None,
    ) -> None:
        self.body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if isinstance(headers, PartHeaders):
            self.headers = headers
        else:
            self.headers = PartHeaders(headers or ())
        if content_type is not None:
            if "Content-Type" in self.headers:
                raise ValueError("content_type given twice")
            self.headers.add("Content-Type", content_type)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Part):
            return NotImplemented
        return self.body == other.body and self.headers == other.headers

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Part(body={self.body[:40]!r}{'...' if len(self.body) > 40 else ''}, headers={self.headers!r})"

    @property
    def content_type(self) -> str:
        """Media type, lower-case, without parameters (RFC 2046 default ``text/plain``)."""
        value = self.headers.get("Content-Type")
        if value is None:
            return "text/plain"
        return value.split(";", 1)[0].strip().lower()

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")


def content_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    """``'multipart/mixed; boundary="x"'`` -> ``('multipart/mixed', {'boundary': 'x'})``.

    Parameter names are lower-cased; quoted values unquoted (backslash escapes resolved).
    """
    text = content_type
    i = text.find(";")
    media = (text if i < 0 else text[:i]).strip().lower()
    params: dict[str, str] = {}
    pos = len(text) if i < 0 else i + 1
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in " \t;":
            pos += 1
        if pos >= n:
            break
        eq = text.find("=", pos)
        semi = text.find(";", pos)
        if eq < 0 or (0 <= semi < eq):
            # a parameter without a value: skip it
            pos = n if semi < 0 else semi + 1
            continue
        name = text[pos:eq].strip().lower()
        pos = eq + 1
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == '"':
            pos += 1
            chars: list[str] = []
            while pos < n and text[pos] != '"':
                if text[pos] == "\\" and pos + 1 < n:
                    pos += 1
                chars.append(text[pos])
                pos += 1
            if pos >= n:
                raise MultipartError(f"unterminated quoted parameter in {content_type!r}")
            pos += 1
            value = "".join(chars)
        else:
            end = text.find(";", pos)
            end = n if end < 0 else end
            value = text[pos:end].strip()
            pos = end
        if name:
            params.setdefault(name, value)
    return media, params


def get_boundary(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type; MultipartError if absent."""
    media, params = content_type_params(content_type)
    if not media.startswith("multipart/"):
        raise MultipartError(f"not a multipart content type: {media!r}")
    boundary = params.get("boundary")
    if not boundary:
        raise MultipartError(f"multipart content type without boundary: {content_type!r}")
    if len(boundary) > 200:
        raise MultipartError("boundary longer than 200 characters")
    return boundary


def _parse_part(raw: bytes) -> Part:
    """Headers up to the first empty line, the rest is the body (RFC 2046 body-part)."""
    if raw.startswith(b"\r\n"):
        return Part(raw[2:])
    if raw.startswith(b"\n"):
        return Part(raw[1:])
    end = raw.find(b"\r\n\r\n")
    lf_end = raw.find(b"\n\n")
    if end >= 0 and (lf_end < 0 or end < lf_end):
        head, body = raw[:end], raw[end + 4 :]
    elif lf_end >= 0:
        head, body = raw[:lf_end], raw[lf_end + 2 :]
    else:
        head, body = raw, b""
    first_line = head.split(b"\n", 1)[0]
    if b":" not in first_line:
        # no header block at all (a sloppy peer omitted the empty line): all body
        return Part(raw)
    headers = PartHeaders()
    logical: list[str] = []
    for line in head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and logical:
            logical[-1] += " " + line.strip()  # folded continuation
        elif line:
            logical.append(line)
    for line in logical:
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t"):
            raise MultipartError(f"malformed part header line {line[:60]!r}")
        try:
            headers.add(name, value.strip())
        except ValueError as exc:  # e.g. a lone CR inside the name
            raise MultipartError(f"malformed part header line {line[:60]!r}: {exc}") from None
    return Part(body, headers)


def _find_delimiter(data: bytes, dash: bytes, start: int) -> tuple[int, int, bool] | None:
    """Next delimiter line at or after ``start``.

    Returns (where the preceding part ends, where the next part starts, is_close).
    A delimiter is ``--boundary`` at the start of the data or of a line, followed by
    ``--`` (close) or optional white space and a line end.
    """
    pos = start
    n = len(data)
    while True:
        i = data.find(dash, pos)
        if i < 0:
            return None
        at_line_start = i == 0 or data[i - 1 : i] == b"\n"
        j = i + len(dash)
        if at_line_start:
            close = data[j : j + 2] == b"--"
            k = j + 2 if close else j
            while k < n and data[k : k + 1] in (b" ", b"\t"):
                k += 1
            if k >= n or data[k : k + 1] in (b"\r", b"\n") or close:
                # after a close delimiter the rest (epilogue) is ignored
                nxt = n if close else (k + 2 if data[k : k + 2] == b"\r\n" else k + 1)
                # the line end before the delimiter belongs to the delimiter
                part_end = i
                if i >= 2 and data[i - 2 : i] == b"\r\n":
                    part_end = i - 2
                elif i >= 1 and data[i - 1 : i] == b"\n":
                    part_end = i - 1
                return part_end, min(nxt, n), close
        pos = i + 1


def split_multipart(body: bytes | str, content_type: str) -> list[Part]:
    """Cut a multipart ``body`` into its parts, byte-exact.

    ``content_type`` is the message's Content-Type value (it carries the boundary).
    Raises :class:`MultipartError` (a ValueError) if the boundary is missing or never
    occurs, or a part's headers are malformed. A missing close delimiter is tolerated:
    the last part then runs to the end of the body.
    """
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    dash = b"--" + get_boundary(content_type).encode("utf-8")
    first = _find_delimiter(data, dash, 0)
    if first is None:
        raise MultipartError("boundary delimiter not found in body")
    _, pos, close = first
    parts: list[Part] = []
    while not close:
        nxt = _find_delimiter(data, dash, pos)
        if nxt is None:
            parts.append(_parse_part(data[pos:]))
            break
        part_end, next_pos, close = nxt
        parts.append(_parse_part(data[pos:part_end]))
        pos = next_pos
    return parts


def find_part(parts: Iterable[Part], content_type: str) -> Part | None:
    """First part whose media type is ``content_type`` (case-insensitive)."""
    wanted = content_type.lower()
    for part in parts:
        if part.content_type == wanted:
            return part
    return None


def _quote_boundary(boundary: str) -> str:
    # RFC 2045 tspecials (and space) require a quoted-string
    if any(c in '()<>@,;:\\"/[]?= ' for c in boundary):
        return '"' + boundary + '"'
    return boundary


_BCHARS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "
)


def build_multipart(
    parts: Iterable[Part],
    boundary: str | None = None,
    subtype: str = "mixed",
) -> tuple[bytes, str]:
    """Serialise ``parts``; returns (body, Content-Type header value).

    A random boundary is chosen when none is given; a boundary that occurs inside a part
    raises ValueError (the body could not be split again).
    """
    plist = list(parts)
    if not plist:
        raise ValueError("a multipart body needs at least one part")
    if boundary is None:
        boundary = "drachtio-" + secrets.token_hex(12)
    if not 1 <= len(boundary) <= 70 or not set(boundary) <= _BCHARS or boundary.endswith(" "):
        raise ValueError(f"invalid boundary {boundary!r} (RFC 2046: 1-70 bchars)")
    if not subtype or any(c in subtype for c in ";/ \t\r\n"):
        raise ValueError(f"invalid multipart subtype {subtype!r}")
    dash = b"--" + boundary.encode("ascii")
    out = bytearray()
    for part in plist:
        if not isinstance(part, Part):
            raise TypeError(f"expected Part, got {type(part).__name__}")
        if dash in part.body:
            raise ValueError(f"boundary {boundary!r} occurs inside a part")
        out += dash + b"\r\n"
        for name, value in part.headers.raw_items():
            out += f"{name}: {value}\r\n".encode()
        out += b"\r\n" + part.body + b"\r\n"
    out += dash + b"--\r\n"
    return bytes(out), f"multipart/{subtype};boundary={_quote_boundary(boundary)}"
