"""Read-side view of a SIP message shared by requests, responses and CDR records.

Wraps a ``drachtio.sip`` message (parsed when first needed, see ``SipMessage``) and adds
the conveniences applications use: ``get``/``has``, ``get_parsed_header``, the body
as text, and calling/called numbers. Also the helpers that format the partial SIP text the
framework sends to the engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from drachtio.sip import Message as _SipMsg
from drachtio.sip import Request as _SipRequest
from drachtio.sip import Response as _SipResponse
from drachtio.sip import SipParseError, parse_message
from drachtio.sip.grammar import LIST_HEADERS, canonical_key
from drachtio.wire.codec import ControlMessage

__all__ = [
    "HeadersArg",
    "SipMessage",
    "format_request",
    "format_response",
    "normalize_headers",
    "parse_sip",
]

#: What ``headers=`` accepts: a mapping name -> value (a list/tuple value gives one header
#: line per item), or a sequence of ``(name, value)`` pairs.
HeadersArg: TypeAlias = (
    Mapping[str, str | int | Sequence[str]] | Sequence[tuple[str, str | int]] | None
)

_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_USER_RE = re.compile(r"(?:sips?|tel):([^@;>?\s]+)(@)?", re.IGNORECASE)
_QUOTED_NAME_RE = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"')
_TOKEN_NAME_RE = re.compile(r"^\s*([^<\"]+?)\s*<")
_ESCAPED_RE = re.compile(r"\\(.)")
#: header names already checked against ``_TOKEN_RE`` (applications use a few, many times)
_VALID_NAMES: set[str] = set()


def normalize_headers(headers: HeadersArg, what: str = "headers") -> list[tuple[str, str]]:
    """Validate and flatten a ``headers=`` argument into ``(name, value)`` pairs."""
    if headers is None:
        return []
    items: Iterable[tuple[Any, Any]]
    # exact types first: the Mapping check of a list goes through the (slow) ABC machinery
    if type(headers) is list:
        items = headers
    elif type(headers) is dict:
        items = headers.items()
    elif isinstance(headers, (list, tuple)):
        items = headers
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        raise TypeError(
            f"{what} must be a dict of name -> value or a list of (name, value) pairs, "
            f"got {type(headers).__name__}"
        )
    out: list[tuple[str, str]] = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"{what}: expected (name, value) pairs, got {item!r}")
        name, value = item
        if type(name) is not str or name not in _VALID_NAMES:
            if not isinstance(name, str) or not _TOKEN_RE.match(name):
                raise ValueError(f"{what}: invalid header name {name!r}")
            if len(_VALID_NAMES) < 1024:
                _VALID_NAMES.add(name)
        if type(value) is str:  # the common case: one line
            if "\r" in value or "\n" in value:
                raise ValueError(f"{what}: value of {name!r} must not contain CR or LF")
            out.append((name, value))
            continue
        values: Sequence[Any]
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                raise TypeError(f"{what}: value of {name!r} must be a str or int, got {v!r}")
            text = str(v)
            if "\r" in text or "\n" in text:
                raise ValueError(f"{what}: value of {name!r} must not contain CR or LF")
            out.append((name, text))
    return out


def _body_text(body: str | bytes | None, what: str = "body") -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "surrogateescape")
    if not isinstance(body, str):
        raise TypeError(f"{what} must be a str, bytes or None, got {type(body).__name__}")
    return body


def _assemble(start: str, headers: list[tuple[str, str]], body: str) -> str:
    parts = [start]
    for name, value in headers:
        if name.lower() not in ("content-length", "l"):  # ours replaces the caller's
            parts.append(f"{name}: {value}")
    blen = len(body) if body.isascii() else len(body.encode("utf-8", "surrogateescape"))
    parts.append(f"Content-Length: {blen}")
    parts.append("")
    parts.append(body)
    return "\r\n".join(parts)


def format_request(method: str, uri: str, headers: list[tuple[str, str]], body: str) -> str:
    """A partial SIP request as the engine expects it; Content-Length counts UTF-8 bytes."""
    return _assemble(f"{method} {uri} SIP/2.0", headers, body)


def format_response(
    status: int, reason: str, headers: list[tuple[str, str]], body: str
) -> str:
    return _assemble(f"SIP/2.0 {status} {reason}", headers, body)


def parse_sip(msg: ControlMessage) -> _SipMsg:
    """The parsed SIP part of a control message (embedded mode may have parsed it already)."""
    parsed = msg.parsed
    if isinstance(parsed, (_SipRequest, _SipResponse)):
        return parsed
    if msg.sip is None:
        raise ValueError("control message carries no SIP message")
    return _parse_text(msg.sip)


def _parse_text(text: str) -> _SipMsg:
    try:
        return parse_message(text.encode("utf-8", "surrogateescape"))
    except SipParseError as exc:
        # framed, but a header the transaction layer needs is off: still readable
        if exc.message is not None:
            return exc.message
        raise


#: the headers a response copies from its request: (canonical key, name), in order
_DIALOG_NAMES = (("call-id", "Call-ID"), ("cseq", "CSeq"), ("from", "From"), ("to", "To"))
_DIALOG_KEYS = frozenset(k for k, _ in _DIALOG_NAMES)
#: header name as written on a line -> canonical key (``_index`` reads every line of a
#: message; the names a peer writes are few)
_LINE_KEYS: dict[str, str] = {}


def _status_of(first: str) -> int | None:
    """The status code of a ``SIP/2.0 NNN ...`` start line (None when it is not one)."""
    code = first[8:11]
    if first[:8] == "SIP/2.0 " and code.isascii() and code.isdigit() and (
            first[11:12] in ("", " ")):
        return int(code)
    return None


def _user_of(value: str | None) -> str | None:
    if not value:
        return None
    m = _USER_RE.search(value)
    if m is None:
        return None
    scheme_is_tel = value[m.start() : m.start() + 4].lower() == "tel:"
    if not scheme_is_tel and m.group(2) is None:
        return None  # sip:host (no user part)
    return m.group(1).split(":", 1)[0] if not scheme_is_tel else m.group(1)


def _display_name(value: str | None) -> str | None:
    if not value:
        return None
    m = _QUOTED_NAME_RE.match(value)
    if m:
        name = m.group(1)
        return _ESCAPED_RE.sub(r"\1", name) if "\\" in name else name
    m = _TOKEN_NAME_RE.match(value)
    if m and m.group(1).strip():
        return m.group(1).strip()
    return None


class SipMessage:
    """A received (or echoed) SIP message with read accessors.

    Built from a parsed ``drachtio.sip`` message, or from the control frame that carries
    one: then the text is parsed on first use only (``msg``), and the engine's parsed
    message (``ControlMessage.parsed``, embedded mode) is taken as it is. Most echoes of
    what the application sent are never read; the start line, the body (when
    Content-Length describes it exactly) and the first value of non-list headers are read
    from the text. A bridged call through ``create_b2bua`` parses none of its messages.
    """

    _msg: _SipMsg | None
    _text: str | None

    def __init__(self, msg: _SipMsg | ControlMessage) -> None:
        self._body_text: str | None = None
        self._headers_index: dict[str, str] | None = None
        if isinstance(msg, ControlMessage):
            parsed = msg.parsed
            if parsed is not None and isinstance(parsed, (_SipRequest, _SipResponse)):
                self._msg, self._text = parsed, None
            elif msg.sip is None:
                raise ValueError("control message carries no SIP message")
            else:
                self._msg, self._text = None, msg.sip
        else:
            self._msg, self._text = msg, None

    @property
    def msg(self) -> _SipMsg:
        """The parsed message (``drachtio.sip``), parsed now if it was not yet."""
        m = self._msg
        if m is None:
            text = self._text
            assert text is not None
            try:
                m = _parse_text(text)
            except (SipParseError, ValueError) as exc:
                from drachtio.srf.errors import EngineError

                raise EngineError(f"unparseable SIP message from the engine: {exc}") from None
            self._msg, self._text = m, None
        return m

    @msg.setter
    def msg(self, value: _SipMsg) -> None:
        self._msg, self._text, self._body_text = value, None, None
        self._headers_index = None

    def _index(self) -> dict[str, str] | None:
        """Header name (canonical) -> first raw value, read once from the unparsed text;
        None when that is not possible (parsed already, or folded lines, which only the
        parser unfolds). Enough for ``get``/``has`` of most headers without parsing."""
        idx = self._headers_index
        if idx is not None or self._text is None:
            return idx
        text = self._text
        end = text.find("\r\n\r\n")
        block = text[:end] if end >= 0 else text
        if "\r\n " in block or "\r\n\t" in block:
            return None
        idx = {}
        keys = _LINE_KEYS
        for line in block.split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                key = keys.get(name)
                if key is None:
                    key = canonical_key(name)
                    if len(keys) < 1024:
                        keys[name] = key
                if key not in idx:
                    idx[key] = value.strip()
        self._headers_index = idx
        return idx

    def _dialog_header_values(self) -> dict[str, str]:
        """Call-ID, CSeq, From and To (those present, first values, in this order): what a
        response copies from its request. Read from the text when it is unparsed."""
        idx = self._index()
        if idx is None:
            out: dict[str, str] = {}
            for name in ("Call-ID", "CSeq", "From", "To"):
                v = self.msg.get(name)
                if v is not None:
                    out[name] = v
            return out
        return {name: idx[key] for key, name in _DIALOG_NAMES if key in idx}

    def _first_line(self) -> str | None:
        """The start line while the text is unparsed (None once parsed)."""
        text = self._text
        if text is None:
            return None
        end = text.find("\r\n")
        return text[:end] if end >= 0 else text

    # -- headers ---------------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive, compact forms allowed)."""
        if self._text is not None:
            idx = self._headers_index
            if idx is None:
                idx = self._index()
            if idx is not None:
                key = canonical_key(name)
                if key not in idx:
                    return None
                if key not in LIST_HEADERS:  # a list header's first element needs parsing
                    return idx[key]
        return self.msg.get(name)

    def get_all(self, name: str) -> list[str]:
        return self.msg.get_all(name)

    def has(self, name: str) -> bool:
        if self._text is not None:
            idx = self._headers_index
            if idx is None:
                idx = self._index()
            if idx is not None:
                return canonical_key(name) in idx
        return self.msg.has(name)

    def get_parsed_header(self, name: str) -> Any:
        """Typed view of a header (NameAddr for From/To/Contact..., Via, CSeq...).

        Raises ``KeyError`` naming the header and the Call-ID when it is absent.
        """
        if not self.msg.has(name):
            raise KeyError(f"header {name!r} not available in SIP message with Call-ID: "
                           f"{self.msg.get('Call-ID')}")
        return self.msg.parsed(name)

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Every header line as ``(name, value)``, in order."""
        return list(self.msg.headers.items())

    # -- body and raw text -----------------------------------------------------------------
    @property
    def body(self) -> str:
        b = self._body_text
        if b is None:
            b = self._text_body()
            if b is None:
                b = self.msg.body.decode("utf-8", "surrogateescape")
            self._body_text = b
        return b

    def _text_body(self) -> str | None:
        """The body read from the unparsed text: what follows the header block, when
        Content-Length says exactly that (None: parse to be sure)."""
        text = self._text
        if text is None:
            return None
        end = text.find("\r\n\r\n")
        if end < 0:
            return None
        body = text[end + 4:]
        idx = self._index()
        if idx is None:
            return None
        length = idx.get("content-length")
        if length is None:
            return body if not body else None
        size = len(body) if body.isascii() else len(body.encode("utf-8", "surrogateescape"))
        return body if length.isdigit() and int(length) == size else None

    @property
    def raw(self) -> str:
        text = self._text
        if text is not None:
            return text  # exactly what the engine sent or received
        return self.msg.to_bytes().decode("utf-8", "surrogateescape")

    def __str__(self) -> str:
        return self.raw

    # -- shortcuts ---------------------------------------------------------------------------
    @property
    def type(self) -> str:
        first = self._first_line()
        if first is not None:
            return "response" if first.startswith("SIP/2.0 ") else "request"
        return "request" if isinstance(self.msg, _SipRequest) else "response"

    @property
    def method(self) -> str | None:
        """Request method; for a response, the method of its CSeq."""
        first = self._first_line()
        if first is not None and not first.startswith("SIP/2.0 "):
            return first.split(" ", 1)[0]
        m = getattr(self.msg, "method", None)
        if m is not None:
            return str(m)
        cseq = self.msg.get("CSeq")
        return cseq.split()[-1] if cseq else None

    @property
    def uri(self) -> str | None:
        u = getattr(self.msg, "uri", None)
        return str(u) if u is not None else None

    @property
    def status(self) -> int | None:
        first = self._first_line()
        if first is not None:
            code = _status_of(first)
            if code is not None:
                return code
            if not first.startswith("SIP/2.0 "):
                return None  # a request
        st = getattr(self.msg, "status", None)
        return int(st) if st is not None else None

    @property
    def reason(self) -> str | None:
        return self._reason()

    def _reason(self) -> str | None:
        first = self._first_line()
        if first is not None and _status_of(first) is not None:
            return first[12:]
        r = getattr(self.msg, "reason", None)
        return str(r) if r is not None else None

    @property
    def call_id(self) -> str | None:
        return self.get("Call-ID")

    @property
    def calling_number(self) -> str | None:
        """User part of P-Asserted-Identity if present, else of From."""
        user = _user_of(self.get("P-Asserted-Identity")) if self.has(
            "P-Asserted-Identity") else None
        if user is not None:
            return user
        return _user_of(self.get("From"))

    @property
    def calling_name(self) -> str | None:
        """Display name from P-Asserted-Identity if it has one, else from From."""
        name = _display_name(self.get("P-Asserted-Identity")) if self.has(
            "P-Asserted-Identity") else None
        return name if name is not None else _display_name(self.get("From"))

    @property
    def called_number(self) -> str | None:
        """User part of the request-URI (requests only)."""
        first = self._first_line()
        if first is not None:
            if first.startswith("SIP/2.0 "):
                return None
            parts = first.split(" ")
            if len(parts) == 3:
                return _user_of(parts[1])
        uri = getattr(self.msg, "uri", None)
        return _user_of(uri) if isinstance(uri, str) else None
