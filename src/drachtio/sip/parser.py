"""Framing and start-line/header splitting: bytes in, ``Request``/``Response`` out.

Datagrams go through ``parse_message`` (the body is the rest of the datagram, or
Content-Length bytes of it); streams through ``StreamParser`` (Content-Length mandatory).
Both parse eagerly only what a transaction layer cannot work without: the top Via, From,
To, Call-ID, CSeq (whose method must match the request's), Max-Forwards and
Content-Length. Everything else, lower Vias included, is parsed on first access
(``Message.validate()`` checks it all).

Two paths make the same messages. The fast path (``_fast_head``) takes the shape nearly
every peer sends (CRLF line ends, ``Name: value`` lines, the usual spelling of the core
headers) in a few whole-block operations, memoises what depends only on the sequence of
header names (``_SHAPES``) and leaves the name and value lists to be built on first use
(``headers._LazyHeaders``). Anything else, and every error, goes to the general path,
which also words the errors. ``tests/unit/sip/test_properties.py`` checks that the two
agree on generated and mutated messages.

Whatever the input, the only exception that leaves this module is ``SipParseError``.
Its ``message`` is set whenever the start line and header lines could be read, so the
engine can answer 400/505/513; for a request whose top Via is what is broken, the answer
has to go to the packet's source address.
"""

from __future__ import annotations

import re

from drachtio.sip.errors import DEFAULT_LIMITS, Limits, SipParseError
from drachtio.sip.grammar import (
    TOKEN,
    URI_CHAR,
    URI_CHAR_ASCII,
    canonical_key,
    is_token,
    split_list,
)
from drachtio.sip.headers import PARSERS, CSeq, Headers, NameAddr, Via, _LazyHeaders
from drachtio.sip.message import _MISSING, Message, Request, Response

__all__ = ["StreamParser", "parse_message"]

_LINE_SPLIT_RE = re.compile(r"\r?\n")
_VERSION_RE = re.compile(r"SIP/\d+\.\d+", re.I)
_REQ_URI_RE = re.compile(rf"[A-Za-z][A-Za-z0-9+\-.]*+:{URI_CHAR}++")
_NAME_OK_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


class _Refold(Exception):
    """Internal: the header block has folded lines; take the slow path."""


class _KeyMap(dict[str, str]):
    """Header name as spelled -> canonical key; misses validated, computed, remembered."""

    def __missing__(self, name: str) -> str:
        if name[:1] in (" ", "\t"):
            raise _Refold
        stripped = name.rstrip(" \t")
        if _NAME_OK_RE.fullmatch(stripped) is None:
            raise SipParseError(f"malformed header name {name[:80]!r}")
        key = canonical_key(stripped)
        if len(self) < 4096:
            self[name] = key
        return key


_KEYS = _KeyMap()


def _normalise(head: str) -> list[str]:
    """Lines of a head with bare-LF line ends and folded header lines joined."""
    out: list[str] = []
    for line in _LINE_SPLIT_RE.split(head):
        if line and line[0] in " \t":
            if len(out) < 2:
                raise SipParseError("continuation line before the first header")
            out[-1] = out[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            out.append(line)
    return out


def _split_headers(lines: list[str], limits: Limits) -> Headers:
    """Header lines (``lines[0]`` is the start line) -> Headers."""
    if len(lines) > limits.max_headers + 1:
        raise SipParseError(f"more than {limits.max_headers} header lines", status=513)
    names: list[str] = []
    values: list[str] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            if line[:1] in (" ", "\t"):
                raise _Refold
            raise SipParseError(f"header line without ':' {line[:80]!r}")
        names.append(name)
        values.append(value.strip())
    h = Headers.__new__(Headers)
    h._names = names
    h._values = values
    h._keys = list(map(_KEYS.__getitem__, names))
    h._cache = {}
    h._dirty = False
    return h


def _bad_version(version: str, first: str, what: str) -> SipParseError:
    if _VERSION_RE.fullmatch(version):
        return SipParseError(f"unsupported SIP version {version}", status=505)
    return SipParseError(f"malformed {what} {first[:80]!r}")


def _parse_head(head: str, limits: Limits) -> tuple[Message, SipParseError | None]:
    """Start line and header lines (``head`` excludes the blank line).

    A start line that is wrong but still readable (extra spaces, bad Request-URI, other
    SIP version) gives a message *and* the error to raise once the headers are in, so the
    engine can answer it.
    """
    lines = head.split("\r\n")
    if head.count("\n") != len(lines) - 1:
        lines = _normalise(head)  # bare LF line ends
    first = lines[0]
    err: SipParseError | None = None
    msg: Message
    if first.startswith("SIP/") or first[:4].upper() == "SIP/":
        version, _, rest = first.partition(" ")
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] == "0":
            raise SipParseError(f"malformed status line {first[:80]!r}")
        if version != "SIP/2.0" and version.upper() != "SIP/2.0":
            raise _bad_version(version, first, "status line")
        resp = Response.__new__(Response)
        resp._status = int(code)
        resp._reason = reason
        resp._version = version
        msg = resp
    else:
        parts = first.split(" ")
        if len(parts) != 3:
            # RFC 4475 lwsstart / trws / lwsruri: refuse, but keep what can be read so
            # the engine can answer 400.
            parts = first.split()
            if len(parts) < 3 or not _VERSION_RE.fullmatch(parts[-1]):
                raise SipParseError(f"malformed request line {first[:80]!r}")
            parts = [parts[0], " ".join(parts[1:-1]), parts[-1]]
            err = SipParseError(f"malformed request line {first[:80]!r}")
        method, uri, version = parts
        if not (method.isalpha() and method.isascii()) and not is_token(method):
            raise SipParseError(f"malformed method {method[:80]!r}")
        if version != "SIP/2.0" and version.upper() != "SIP/2.0":
            if not _VERSION_RE.fullmatch(version):
                raise SipParseError(f"malformed request line {first[:80]!r}")
            err = SipParseError(f"unsupported SIP version {version}", status=505)
        elif err is None and _REQ_URI_RE.fullmatch(uri) is None:
            err = SipParseError(f"malformed Request-URI {uri[:80]!r}")
        req = Request.__new__(Request)
        req._method = method
        req._uri = uri
        req._version = version
        req._parsed_uri = _MISSING
        msg = req
    try:
        h = _split_headers(lines, limits)
    except _Refold:
        try:
            h = _split_headers(_normalise(head), limits)
        except _Refold:  # a continuation of an empty line
            raise SipParseError("header line starts with whitespace") from None
    msg._headers = h
    msg.extra = b""
    msg._body = b""
    msg._raw = None
    return msg, err


def _content_length(msg: Message) -> int | None:
    keys = msg._headers._keys
    n = keys.count("content-length")
    if n == 0:
        return None
    if n > 1:
        raise SipParseError("multiple Content-Length headers", message=msg)
    value = msg._headers._values[keys.index("content-length")]
    if not value.isdigit() or not value.isascii() or len(value) > 10:
        raise SipParseError(f"malformed Content-Length {value[:40]!r}", message=msg)
    return int(value)


_parse_call_id = PARSERS["call-id"][1]
_parse_max_forwards = PARSERS["max-forwards"][1]
_parse_cseq = CSeq.parse
_parse_addr = NameAddr.parse
_parse_via = Via.parse


def _one(keys: list[str], key: str, name: str) -> int:
    """Index of the only ``key`` line; raises when it is missing or repeated."""
    try:
        i = keys.index(key)
    except ValueError:
        raise SipParseError(f"missing {name} header") from None
    if keys.count(key) != 1:
        raise SipParseError(f"multiple {name} headers")
    return i


def _check_core(msg: Message) -> None:
    """Parse now what a transaction layer needs, so a broken one is a 400 at the door.

    Views land in the header cache, so the accessors used next cost nothing more.
    """
    h = msg._headers
    keys = h._keys
    values = h._values
    cache = h._cache
    try:
        try:
            i = keys.index("via")
        except ValueError:
            raise SipParseError("missing Via header") from None
        v = values[i]
        if "," in v:
            parts = split_list(v)
            if not parts:
                raise SipParseError("empty Via header")
            cache["_top_via"] = _parse_via(parts[0])
        elif keys.count("via") == 1:
            top = cache["_top_via"] = _parse_via(v)
            cache["via"] = [top]
        else:
            cache["_top_via"] = _parse_via(v)
        count = keys.count
        if count("call-id") == count("cseq") == count("from") == count("to") == 1:
            index = keys.index
            cache["call-id"] = _parse_call_id(values[index("call-id")])
            cseq = cache["cseq"] = _parse_cseq(values[index("cseq")])
            cache["from"] = _parse_addr(values[index("from")])
            cache["to"] = _parse_addr(values[index("to")])
        else:
            cache["call-id"] = _parse_call_id(values[_one(keys, "call-id", "Call-ID")])
            cseq = cache["cseq"] = _parse_cseq(values[_one(keys, "cseq", "CSeq")])
            cache["from"] = _parse_addr(values[_one(keys, "from", "From")])
            cache["to"] = _parse_addr(values[_one(keys, "to", "To")])
        if "max-forwards" in keys:
            cache["max-forwards"] = _parse_max_forwards(
                values[_one(keys, "max-forwards", "Max-Forwards")])
        if isinstance(msg, Request) and cseq.method != msg._method:
            raise SipParseError(f"CSeq method {cseq.method} does not match request method "
                                f"{msg._method}")
    except SipParseError as e:
        e.message = msg
        raise


# ---------------------------------------------------------------------------------------
# Fast path: the shape nearly every peer sends
# ---------------------------------------------------------------------------------------
#: "100".."999" -> int: the status codes the general path accepts, checked and converted in
#: one lookup.
_STATUS_CODES: dict[str, int] = {str(i): i for i in range(100, 1000)}
#: Status lines seen ("SIP/2.0 200 OK\r") -> (status, reason): a peer sends a handful.
_STATUS_LINES: dict[str, tuple[int, str]] = {}
#: The method part of a CSeq value as it sits in the split block ("INVITE\r") -> the
#: method, for methods already checked to be tokens.
_CSEQ_METHODS: dict[str, str] = {}
#: Max-Forwards values as the general parser reads them ("70" -> 70), also as they sit
#: in the split block (with the line's CR).
_MAX_FORWARDS: dict[str, int] = {
    **{str(i): i for i in range(256)}, **{f"{i}\r": i for i in range(256)}}
#: Request line of the common shape (the CR is the line's, see _fast_head).
_REQUEST_LINE_RE = re.compile(
    rf"({TOKEN}+) ([A-Za-z][A-Za-z0-9+\-.]*+:{URI_CHAR_ASCII}++) SIP/2\.0\r?")
#: ``CSeq`` of the common shape, as it sits in the split block.
_CSEQ_RE = re.compile(rf"([0-9]{{1,10}}+) ({TOKEN}+)\r?")
_DIGITS_RE = re.compile(r"[0-9]{1,10}+\r?")
#: Decimal text -> int for CSeq and Content-Length values (bounded; a response repeats
#: its request's CSeq and most Content-Lengths recur): ``int()`` on text is slow.
_NUMBERS: dict[str, int] = {}


def _number(text: str) -> int:
    """``text`` (1-10 ASCII digits, maybe a trailing CR) as an int, remembered."""
    n = int(text)
    if len(_NUMBERS) >= 4096:
        _NUMBERS.clear()
    _NUMBERS[text] = n
    return n


class _Slow(Exception):
    """Internal: the fast path declines; the general path takes the message."""


class _MarkedKeyMap(dict[str, str]):
    """``"\\x00" + name`` as spelled -> canonical key, for names the fast path takes.

    Anything else (no marker, leading or inner whitespace, not a token) raises ``_Slow``
    and is left to the general path, which also words the error.
    """

    def __missing__(self, marked: str) -> str:
        name = marked[1:].rstrip(" \t")
        if marked[:1] != "\x00" or _NAME_OK_RE.fullmatch(name) is None:
            raise _Slow
        key = canonical_key(name)
        if len(self) < 4096 and len(marked) <= 64:
            self[marked] = key
        return key


_MARKED_KEYS = _MarkedKeyMap()

#: What the fast path needs to know about one sequence of header names: the canonical
#: keys, how many lines, where the core values sit in the split block (0: absent) and
#: whether the top Via has Via lines below it.
_Shape = tuple[tuple[str, ...], int, int, int, int, int, int, int, int, bool]
#: Joined marked names -> _Shape. Peers send the same header names in the same order
#: message after message, so this is nearly always a hit.
_SHAPES: dict[str, _Shape] = {}


def _new_shape(marked: list[str], joined: str) -> _Shape | None:
    """The ``_Shape`` of a header block (``None``: the general path must look at it)."""
    keys = list(map(_MARKED_KEYS.__getitem__, marked))  # _Slow for a bad name
    count = keys.count
    if (count("call-id") != 1 or count("cseq") != 1 or count("from") != 1
            or count("to") != 1 or count("max-forwards") > 1 or count("content-length") > 1
            or "via" not in keys):
        return None
    index = keys.index
    shape = (tuple(keys), len(keys), 2 * index("via") + 2, 2 * index("call-id") + 2,
             2 * index("cseq") + 2, 2 * index("from") + 2, 2 * index("to") + 2,
             2 * index("max-forwards") + 2 if "max-forwards" in keys else 0,
             2 * index("content-length") + 2 if "content-length" in keys else 0,
             count("via") > 1)
    if len(_SHAPES) < 1024 and len(joined) <= 2048:
        _SHAPES[joined] = shape
    return shape


def _fast_head(head: bytes, limits: Limits) -> tuple[Request | Response, int] | None:
    """Parse a header block (blank line excluded) of the common shape into a message
    and its Content-Length (-1: none), or return ``None`` for the general path.

    Common shape: a well formed ``SIP/2.0`` start line, header lines ``name: value`` with
    no other ``": "`` in them and no folding, valid core headers. It makes the message the
    general path would (the tests compare them) in fewer steps; anything unusual,
    malformed or too large is left to the general path, which also words the errors.

    The block is split in one pass: each LF becomes ``": \\x00"`` (the block holds no NUL)
    and the text is split on ``": "``, giving ``[start line, "\\x00" + name, value, ...]``;
    values keep the line's CR (the general path splits on the CRLF), which the stripping
    every value gets removes, and the quick matchers allow. The marker proves the
    alignment: a line with no ``": "`` or with two leaves a marked piece at a value
    position or an unmarked one (or one ending in CR) at a name position, and
    ``_MARKED_KEYS`` refuses those names (and the empty name of a blank line). A
    ``_SHAPES`` hit needs no look at single names: the joined names hold one marker per
    marked piece, so an equal string with as many pieces as the cached shape is that same
    list of names.
    """
    if b"\x00" in head:
        return None
    parts = head.replace(b"\n", b": \x00").decode("utf-8", "surrogateescape").split(": ")
    n = len(parts)
    if not n & 1 or n >> 1 > limits.max_headers:
        return None
    first = parts[0]
    msg: Message
    method: str | None
    if first[:8] == "SIP/2.0 ":
        line = _STATUS_LINES.get(first)
        if line is None:
            code, _, reason = first[8:].partition(" ")
            status = _STATUS_CODES.get(code)
            if status is None:
                return None
            if reason[-1:] == "\r":
                reason = reason[:-1]
            line = status, reason
            if len(_STATUS_LINES) < 256 and len(first) <= 64:
                _STATUS_LINES[first] = line
        status, reason = line
        resp = Response.__new__(Response)
        resp._status = status
        resp._reason = reason
        resp._version = "SIP/2.0"
        msg = resp
        method = None
    else:
        m = _REQUEST_LINE_RE.fullmatch(first)
        if m is None:
            return None
        req = Request.__new__(Request)
        req._method, req._uri = method, _ = m.groups()
        req._version = "SIP/2.0"
        req._parsed_uri = _MISSING
        msg = req
    try:
        marked = parts[1::2]
        joined = "".join(marked)
        shape = _SHAPES.get(joined)
        if shape is None:
            shape = _new_shape(marked, joined)
            if shape is None:
                return None
        elif shape[1] != n >> 1:
            return None
        keys_t, _, iv, icid, icseq, ifrom, ito, imf, icl, top_only = shape
        v = parts[iv]  # the quick Via matcher takes the line's CR
        if "," in v:
            vias = split_list(v)
            if not vias:
                return None
            top = _parse_via(vias[0])
            cache: dict[str, object] = {"_top_via": top}
        else:
            top = _parse_via(v)
            cache = {"_top_via": top} if top_only else {"_top_via": top, "via": [top]}
        call_id = parts[icid].strip()
        if not call_id or " " in call_id or "\t" in call_id:
            return None
        cache["call-id"] = call_id
        num, _, cmethod = parts[icseq].partition(" ")
        cm = _CSEQ_METHODS.get(cmethod)
        if cm is None:
            m = _CSEQ_RE.fullmatch(parts[icseq])
            if m is None:
                return None
            num, cm = m.groups()
            if len(_CSEQ_METHODS) < 1024 and len(cm) <= 32:
                _CSEQ_METHODS[cmethod] = cm
        if method is not None and cm != method:
            return None
        seq = _NUMBERS.get(num)
        if seq is None:
            if not num.isdigit() or not num.isascii() or len(num) > 10:
                return None
            seq = _number(num)
        if seq > 0x7FFFFFFF:
            return None
        cseq = CSeq.__new__(CSeq)
        cseq.seq = seq
        cseq.method = cm
        cache["cseq"] = cseq
        cache["from"] = _parse_addr(parts[ifrom])
        cache["to"] = _parse_addr(parts[ito])
        if imf:
            mf = _MAX_FORWARDS.get(parts[imf])
            if mf is None:
                return None
            cache["max-forwards"] = mf
    except (SipParseError, _Slow):
        return None
    h = _LazyHeaders.__new__(_LazyHeaders)
    h._keys = list(keys_t)
    h._parts = parts
    h._cache = cache
    h._dirty = False
    msg._headers = h
    msg.extra = b""
    if not icl:
        return msg, -1
    cl_text = parts[icl]
    cl = _NUMBERS.get(cl_text)
    if cl is None:
        if _DIGITS_RE.fullmatch(cl_text) is None:
            return None
        cl = _number(cl_text)
    return msg, cl


def _fast_datagram(data: bytes, limits: Limits) -> Request | Response | None:
    """``_fast_head`` and the body of a datagram, or ``None`` for the general path.

    The blank line is searched from the end: it is the last one unless the body holds
    one too (multipart), and then the header block holds a blank line and is refused.
    """
    end = data.rfind(b"\r\n\r\n")
    if end <= 0 or len(data) > limits.max_message_size:
        return None
    fast = _fast_head(data[:end], limits)
    if fast is None:
        return None
    msg, cl = fast
    body_start = end + 4
    if cl < 0:
        msg._raw = data
        msg._body = data[body_start:]
        return msg
    avail = len(data) - body_start
    if cl == avail:
        msg._raw = data
        msg._body = data[body_start:] if cl else b""
    elif cl < avail:
        stop = body_start + cl
        msg._raw = data[:stop]
        msg._body = data[body_start:stop]
        msg.extra = data[stop:]
    else:
        return None
    return msg


def _guard(e: Exception) -> SipParseError:
    return SipParseError(f"malformed message ({type(e).__name__}: {e})"[:200])


def parse_message(
    data: bytes | bytearray | memoryview, limits: Limits | None = None
) -> Request | Response:
    """Parse one datagram.

    Without Content-Length the body is the rest of the datagram; with it, the body is that
    many bytes and anything after is kept in ``msg.extra`` (RFC 4475 TC_DBLREQ). A datagram
    that ends right after its last header line (no blank line) is read as having no body.
    Raises ``SipParseError`` (see the module docs) and nothing else.
    """
    if data.__class__ is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        data = bytes(data)
    if limits is None:
        limits = DEFAULT_LIMITS
    elif not isinstance(limits, Limits):
        raise TypeError(f"limits must be Limits or None, got {type(limits).__name__}")
    try:
        msg = _fast_datagram(data, limits)
        if msg is None:
            msg = _general_datagram(data, limits)
        return msg
    except SipParseError:
        raise
    except Exception as e:  # the contract: only SipParseError escapes
        raise _guard(e) from None


def _general_datagram(data: bytes, limits: Limits) -> Request | Response:
    start = 0
    if data.startswith((b"\r", b"\n")):
        start = len(data) - len(data.lstrip(b"\r\n"))
        if start >= len(data):
            raise SipParseError("empty message")
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        body_start = end + 4
    else:
        end = data.find(b"\n\n", start)
        if end >= 0:
            body_start = end + 2
        elif data.endswith(b"\r\n"):
            end = len(data) - 2
            body_start = len(data)
        else:
            raise SipParseError("no blank line after the headers")
    size = len(data) - start
    if size > limits.max_message_size and end - start > limits.max_head_size:
        raise SipParseError("message too large", status=513)
    msg, err = _parse_head(data[start:end].decode("utf-8", "surrogateescape"), limits)
    avail = len(data) - body_start
    cl = _content_length(msg)
    if cl is None:
        cl = avail
    elif cl > avail:
        msg._body = data[body_start:]
        msg._raw = None
        raise SipParseError(
            f"Content-Length {cl} larger than the {avail} body bytes received", message=msg)
    stop = body_start + cl
    if start == 0 and stop == len(data):
        msg._raw = data
        msg._body = data[body_start:] if cl else b""
    else:
        msg._raw = data[start:stop]
        msg._body = data[body_start:stop]
        msg.extra = data[stop:]
    if err is not None:
        err.message = msg
        raise err
    if size > limits.max_message_size:
        raise SipParseError("message too large", status=513, message=msg)
    _check_core(msg)
    return msg  # type: ignore[return-value]


class StreamParser:
    """Frames SIP messages out of a byte stream (TCP, TLS) by Content-Length.

    ``feed(data)`` returns every message completed by ``data``; CRLFs between messages
    (RFC 5626 keep-alives) are skipped and double-CRLF pings counted in ``pings``.

    Errors: unframeable input (bad start line, no Content-Length, too large) raises
    ``SipParseError``; the connection should then be closed. Messages completed before
    the bad one in the same ``feed`` are on ``err.preceding``. A framed message that
    breaks the grammar of a core header also raises (``.message`` set, answer 400); the
    stream is still in sync after it, so ``feed(b"")`` goes on with what is buffered.
    """

    __slots__ = ("_buf", "_ka", "_limits", "_pending", "_scan", "pings")

    def __init__(self, limits: Limits | None = None) -> None:
        if limits is not None and not isinstance(limits, Limits):
            raise TypeError(f"limits must be Limits or None, got {type(limits).__name__}")
        self._limits = limits or DEFAULT_LIMITS
        self._buf = bytearray()
        # (message, body offset, Content-Length, start-line error, core headers checked)
        self._pending: tuple[Message, int, int, SipParseError | None, bool] | None = None
        self._scan = 0
        self._ka = b""
        self.pings = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a returned message."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Request | Response]:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        self._buf += data
        out: list[Request | Response] = []
        try:
            self._drain(out)
        except SipParseError as e:
            e.preceding = out  # type: ignore[attr-defined]
            raise
        except Exception as e:  # the contract: only SipParseError escapes
            err = _guard(e)
            err.preceding = out  # type: ignore[attr-defined]
            raise err from None
        return out

    def _drain(self, out: list[Request | Response]) -> None:
        buf = self._buf
        limits = self._limits
        pos = 0
        msg: Message
        cl: int
        err: SipParseError | None
        try:
            while True:
                pending = self._pending
                if pending is None:
                    n = len(buf)
                    i = pos
                    while i < n and buf[i] in (13, 10):
                        i += 1
                    if i != pos:
                        run = self._ka + bytes(buf[pos:i])
                        c = run.count(b"\r\n\r\n")
                        self.pings += c
                        # keep a partial run so a ping split across reads still counts
                        self._ka = (run[run.rfind(b"\r\n\r\n") + 4 :] if c else run)[-3:]
                        pos = i
                        self._scan = pos
                    if pos >= n:
                        return
                    self._ka = b""
                    end = buf.find(b"\r\n\r\n", max(self._scan, pos))
                    if end < 0:
                        self._scan = max(pos, n - 3)
                        if n - pos > limits.max_head_size:
                            raise SipParseError("header block too large", status=513)
                        return
                    if end - pos > limits.max_head_size:
                        raise SipParseError("header block too large", status=513)
                    head = bytes(buf[pos:end])
                    fast = _fast_head(head, limits)
                    if fast is not None and fast[1] >= 0:
                        msg, cl = fast
                        err = None
                        checked = True
                    else:
                        msg, err = _parse_head(head.decode("utf-8", "surrogateescape"), limits)
                        length = _content_length(msg)
                        if length is None:
                            raise SipParseError("missing Content-Length on a stream transport",
                                                message=msg)
                        cl = length
                        checked = False
                    if end + 4 - pos + cl > limits.max_message_size:
                        raise SipParseError("message too large", status=513, message=msg)
                    pending = self._pending = (msg, end + 4 - pos, cl, err, checked)
                msg, body_off, cl, err, checked = pending
                total = body_off + cl
                if len(buf) - pos < total:
                    return
                raw = bytes(buf[pos : pos + total])
                pos += total
                self._pending = None
                self._scan = pos
                msg._raw = raw
                msg._body = raw[body_off:] if cl else b""
                if err is not None:
                    err.message = msg
                    raise err
                if not checked:
                    _check_core(msg)
                out.append(msg)  # type: ignore[arg-type]
        finally:
            if pos:
                del buf[:pos]
                self._scan = max(0, self._scan - pos)
