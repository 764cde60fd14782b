"""Header container and typed header views (Via, name-addr, CSeq, auth, RFC 3262/4028/6665).

Header values are stored as text on arrival; a typed view is built on first use and cached
by the container (``Headers.parsed``). Views remember their original text, so an unmodified
view prints exactly what arrived. Parse failures raise ``SipParseError`` only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from drachtio.sip.errors import SipParseError
from drachtio.sip.grammar import (
    _KEY_CACHE,
    LIST_HEADERS,
    PARAMS,
    PVALUE,
    SIMPLE_PARAMS,
    TOKEN,
    URI_CHAR,
    URI_CHAR_ASCII,
    _scan_quoted,
    canonical_key,
    format_params,
    is_token,
    params_from_text,
    parse_params,
    quote_string,
    simple_params,
    split_hostport,
    split_list,
    unquote_string,
    valid_host,
)
from drachtio.sip.uri import SipURI

__all__ = [
    "AuthChallenge",
    "CSeq",
    "Credentials",
    "Event",
    "Headers",
    "MediaType",
    "NameAddr",
    "RAck",
    "SessionExpires",
    "SubscriptionState",
    "Via",
    "parse_challenge",
    "parse_header",
    "parse_int_header",
    "parse_option_tags",
]

_Params = dict[str, str | None]


# ---------------------------------------------------------------------------------------
# Parameter dicts: built lazily from validated text, snapshotted so edits are noticed
# ---------------------------------------------------------------------------------------
class _HasParams:
    """Mixin for views whose ``params`` dict is built on first access from ``_ptext``."""

    __slots__ = ("_params", "_psnap", "_ptext")

    _ptext: str
    _params: _Params | None
    _psnap: tuple[tuple[str, str | None], ...] | None

    @property
    def params(self) -> _Params:
        p = self._params
        if p is None:
            p = self._params = simple_params(self._ptext) if self._ptext else {}
            self._psnap = tuple(p.items())
        return p

    @params.setter
    def params(self, value: _Params) -> None:
        if not isinstance(value, dict):
            raise TypeError(f"params must be a dict, got {type(value).__name__}")
        self._params = value

    def _params_unchanged(self) -> bool:
        p = self._params
        return p is None or tuple(p.items()) == self._psnap


# ---------------------------------------------------------------------------------------
# Via
# ---------------------------------------------------------------------------------------
_VIA_FAST_RE = re.compile(
    rf"[ \t]*({TOKEN})[ \t]*/[ \t]*({TOKEN})[ \t]*/[ \t]*({TOKEN})[ \t]++"
    rf"(\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9\-_.]++)(?:[ \t]*+:[ \t]*+([0-9]{{1,5}}+))?+"
    rf"({PARAMS})[ \t]*+"
)
#: The common shape, no optional whitespace: ``SIP/2.0/UDP host[:port][;params]``; a
#: leading ``;branch=`` is captured too, so the hot path never scans the parameters. (The
#: CR a value keeps in the parser's split block is allowed at the end, see parser.py.)
_VIA_QUICK_RE = re.compile(
    rf"SIP/2\.0/([A-Za-z]++) ([A-Za-z0-9][A-Za-z0-9\-_.]*+)(?::([0-9]{{1,5}}+))?+"
    rf"((?:;branch=({PVALUE}+))?+{SIMPLE_PARAMS})\r?"
)
#: Port text -> int for the ports seen (bounded): ``int()`` on text is slow.
_PORTS: dict[str, int] = {}
_VIA_SLOW_RE = re.compile(
    r"[ \t]*([^\s/]+)[ \t]*/[ \t]*([^\s/]+)[ \t]*/[ \t]*([^\s/;]+)[ \t]+([^;]+?)[ \t]*(;.*)?",
    re.S,
)
_HOST_FAST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9_.])?")


class Via(_HasParams):
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;rport;received=...``."""

    __slots__ = ("_branch", "_raw", "_snap", "host", "port", "protocol", "transport")

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: _Params | None = None,
        protocol: str = "SIP/2.0",
    ) -> None:
        if not isinstance(transport, str) or not is_token(transport):
            raise ValueError(f"Via transport must be a token, got {transport!r}")
        if not isinstance(host, str) or not host:
            raise ValueError(f"Via host must be a non-empty str, got {host!r}")
        if port is not None and (not isinstance(port, int) or not 0 <= port <= 65535):
            raise ValueError(f"Via port must be an int 0..65535 or None, got {port!r}")
        self.protocol = protocol
        self.transport = transport.upper()
        self.host = host
        self.port = port
        self._params = dict(params) if params else {}
        self._psnap = None
        self._ptext = ""
        self._branch: str | None = None
        self._raw: str | None = None
        self._snap: tuple[str, str, str, int | None] | None = None

    @classmethod
    def parse(cls, text: str) -> Via:
        via = cls.__new__(cls)
        m = _VIA_QUICK_RE.fullmatch(text)
        if m is not None:
            transport, host, port, ptext, via._branch = m.groups()
            if not transport.isupper():
                transport = transport.upper()
            via.protocol = "SIP/2.0"
            via.transport = transport
            via.host = host
            if port is not None:
                p = _PORTS.get(port)
                if p is None:
                    p = int(port)
                    if p > 65535:
                        raise SipParseError(f"Via port {p} out of range")
                    if len(_PORTS) < 1024:
                        _PORTS[port] = p
                port = p
            via.port = port
            via._ptext = ptext
            via._params = None
            via._psnap = None
            via._raw = text
            via._snap = ("SIP/2.0", transport, host, port)
            return via
        via._branch = None
        text = text.strip()  # the parser may hand over a value with its line's CR
        m = _VIA_FAST_RE.fullmatch(text)
        if m is not None:
            name, version, transport, host, port, ptext = m.groups()
            if host[0] == "[":
                if not valid_host(host):
                    raise SipParseError(f"invalid Via host {host!r}")
            elif _HOST_FAST_RE.fullmatch(host) is None:
                raise SipParseError(f"invalid Via host {host!r}")
            if port is None:
                via.port = None
            else:
                p = int(port)
                if p > 65535:
                    raise SipParseError(f"Via port {p} out of range")
                via.port = p
            via.host = host
            via._ptext = ""
            via._params = params_from_text(ptext)
            via._psnap = tuple(via._params.items())
        else:
            # Slow path: find out exactly what is wrong, or accept what the fast path
            # does not cover (none expected).
            sm = _VIA_SLOW_RE.fullmatch(text)
            if sm is None:
                raise SipParseError(f"malformed Via {text[:80]!r}")
            name, version, transport, sent_by, ptext = sm.groups()
            if not is_token(name) or not is_token(version) or not is_token(transport):
                raise SipParseError(f"malformed Via protocol in {text[:80]!r}")
            via.host, via.port = split_hostport(sent_by)
            via._params = parse_params(ptext, "Via") if ptext else {}
            via._ptext = ""
            via._psnap = tuple(via._params.items())
        via.protocol = (name if name.isupper() else name.upper()) + "/" + version
        via.transport = transport if transport.isupper() else transport.upper()
        via._raw = text
        via._snap = (via.protocol, via.transport, via.host, via.port)
        return via

    @property
    def branch(self) -> str | None:
        p = self._params
        if p is None:
            # Hot path: read the branch without building the params dict.
            b = self._branch
            if b is not None:
                return b
            t = self._ptext
            i = t.find(";branch=")
            if i >= 0:
                j = t.find(";", i + 8)
                return t[i + 8 :] if j < 0 else t[i + 8 : j]
            p = self.params
        return p.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def has_rport(self) -> bool:
        """``rport`` is present, as a flag (request) or with a value (response)."""
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        """The rport value; ``None`` when absent *or* a bare flag (see ``has_rport``)."""
        v = self.params.get("rport")
        return int(v) if v is not None and v.isdigit() and v.isascii() else None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        v = self.params.get("ttl")
        return int(v) if v is not None and v.isdigit() and v.isascii() else None

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def version(self) -> str:
        return self.protocol.partition("/")[2]

    def copy(self) -> Via:
        new = Via(self.transport, self.host, self.port, self.params, self.protocol)
        return new

    def __str__(self) -> str:
        if (
            self._raw is not None
            and self._snap == (self.protocol, self.transport, self.host, self.port)
            and self._params_unchanged()
        ):
            return self._raw.strip()
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


# ---------------------------------------------------------------------------------------
# name-addr / addr-spec (From, To, Contact, Route, Record-Route, Refer-To, P-Asserted-Id...)
# ---------------------------------------------------------------------------------------
_URI_TEXT = rf"[A-Za-z][A-Za-z0-9+\-.]*+:{URI_CHAR}++"
_NA_FAST_RE = re.compile(
    rf"[ \t]*+(?:\"((?:[^\"\\\r\n]|\\[^\r\n])*+)\"[ \t]*+|({TOKEN}(?:[ \t]++{TOKEN})*+)?+[ \t]*+)"
    rf"<({_URI_TEXT})>({PARAMS})[ \t]*+"
)
#: The common shape; when ``;tag=`` is the only parameter its value is captured too.
#: (A trailing CR is allowed as in ``_VIA_QUICK_RE``.)
_NA_QUICK_RE = re.compile(
    rf"(?:\"([^\"\\\r\n]*+)\" ?|({TOKEN}+(?: {TOKEN}+)*+) ?)?"
    rf"<([A-Za-z][A-Za-z0-9+\-.]*+:{URI_CHAR_ASCII}++)>(;tag=({PVALUE}+)|{SIMPLE_PARAMS})\r?"
)
_ADDR_SPEC_QUICK_RE = re.compile(
    rf"([A-Za-z][A-Za-z0-9+\-.]*+:[^\s<>\";,?]++)({SIMPLE_PARAMS})"
)
_ADDR_SPEC_FAST_RE = re.compile(
    rf"[ \t]*+([A-Za-z][A-Za-z0-9+\-.]*+:[^\s<>\";,?]++)({PARAMS})[ \t]*+"
)
_URI_TEXT_RE = re.compile(_URI_TEXT)
_DISPLAY_TOKENS_RE = re.compile(rf"{TOKEN}(?:[ \t]++{TOKEN})*+")
_QPAIR_RE = re.compile(r"\\(.)", re.S)


class NameAddr(_HasParams):
    """``"Display" <uri>;params`` or ``uri;params``; also the ``*`` Contact (``is_wildcard``).

    ``display`` is unquoted (``None`` when absent); ``params`` are the header parameters
    (``tag``, ``expires``, ``q`` ...), lower-case names, values as written. ``uri`` is parsed
    on first access.
    """

    __slots__ = ("_dsnap", "_raw", "_tag", "_uri", "_uri_text", "display", "is_wildcard")

    def __init__(
        self,
        uri: SipURI | str,
        display: str | None = None,
        params: _Params | None = None,
    ) -> None:
        if isinstance(uri, SipURI):
            self._uri: SipURI | None = uri
            self._uri_text = str(uri)
        elif isinstance(uri, str):
            self._uri = SipURI.parse(uri)
            self._uri_text = uri
        else:
            raise TypeError(f"uri must be SipURI or str, got {type(uri).__name__}")
        if display is not None and not isinstance(display, str):
            raise TypeError(f"display must be str or None, got {type(display).__name__}")
        self.display = display
        self._params = dict(params) if params else {}
        self._psnap = None
        self._ptext = ""
        self._tag: str | None = None
        self.is_wildcard = False
        self._raw: str | None = None
        self._dsnap: str | None = None

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        na = cls.__new__(cls)
        na._uri = None
        na.is_wildcard = False
        na._raw = text
        na._psnap = None
        na._params = None
        m = _NA_QUICK_RE.fullmatch(text)
        if m is not None:
            qdisp, tdisp, na._uri_text, na._ptext, na._tag = m.groups()
            na.display = qdisp if qdisp is not None else tdisp
        else:
            na._tag = None
            na._raw = text = text.strip()  # as for Via.parse
            m = _ADDR_SPEC_QUICK_RE.fullmatch(text)
            if m is not None:
                na._uri_text, na._ptext = m.groups()
                na.display = None
            else:
                m = _NA_FAST_RE.fullmatch(text)
                if m is not None:
                    qdisp, tdisp, na._uri_text, ptext = m.groups()
                    if qdisp is not None:
                        na.display = _QPAIR_RE.sub(r"\1", qdisp) if "\\" in qdisp else qdisp
                    else:
                        na.display = tdisp
                    na._ptext = ""
                    na._params = params_from_text(ptext)
                    na._psnap = tuple(na._params.items())
                else:
                    m = _ADDR_SPEC_FAST_RE.fullmatch(text)
                    if m is not None:
                        na._uri_text, ptext = m.groups()
                        na.display = None
                        na._ptext = ""
                        na._params = params_from_text(ptext)
                        na._psnap = tuple(na._params.items())
                    else:
                        _parse_name_addr_slow(na, text)
        na._dsnap = na.display
        return na

    @property
    def uri(self) -> SipURI:
        u = self._uri
        if u is None:
            if self.is_wildcard:
                raise SipParseError("the '*' Contact has no URI")
            u = self._uri = SipURI.parse(self._uri_text)
        return u

    @uri.setter
    def uri(self, value: SipURI) -> None:
        if not isinstance(value, SipURI):
            raise TypeError(f"uri must be SipURI, got {type(value).__name__}")
        self._uri = value

    @property
    def uri_text(self) -> str:
        """The URI as text, without parsing it."""
        u = self._uri
        return self._uri_text if u is None else str(u)

    @property
    def tag(self) -> str | None:
        p = self._params
        if p is None:
            t = self._tag
            if t is not None:
                return t
            t = self._ptext
            if not t:
                return None
            i = t.find(";tag=")
            if i >= 0 and '"' not in t:
                j = t.find(";", i + 5)
                return t[i + 5 :] if j < 0 else t[i + 5 : j]
            p = self.params
        return p.get("tag")

    @property
    def expires(self) -> int | None:
        v = self.params.get("expires")
        return int(v) if v is not None and v.isdigit() and v.isascii() else None

    @property
    def q(self) -> float | None:
        v = self.params.get("q")
        try:
            return float(v) if v is not None else None
        except ValueError:
            return None

    def with_tag(self, tag: str) -> NameAddr:
        """A copy with ``;tag=`` set (To tags are added by the UAS)."""
        if not isinstance(tag, str) or not is_token(tag):
            raise ValueError(f"tag must be a token str, got {tag!r}")
        new = self.copy()
        new.params["tag"] = tag
        return new

    def copy(self) -> NameAddr:
        new = NameAddr.__new__(NameAddr)
        new._raw = self._raw
        new._dsnap = self._dsnap
        new._uri = self._uri.copy() if self._uri is not None else None
        new._uri_text = self._uri_text
        new.display = self.display
        new._ptext = self._ptext
        new._tag = self._tag
        new._params = dict(self._params) if self._params is not None else None
        new._psnap = self._psnap
        new.is_wildcard = self.is_wildcard
        return new

    def __str__(self) -> str:
        if self.is_wildcard:
            return "*"
        u = self._uri
        uri_text = self._uri_text if u is None else str(u)
        if (
            self._raw is not None
            and uri_text == self._uri_text
            and self.display == self._dsnap
            and self._params_unchanged()
        ):
            return self._raw.strip()
        disp = f"{quote_string(self.display)} " if self.display else ""
        return f"{disp}<{uri_text}>{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def _parse_name_addr_slow(na: NameAddr, text: str) -> None:
    """General name-addr / addr-spec parser: precise errors for what the fast path refused."""
    s = text.strip()
    if not s:
        raise SipParseError("empty address")
    display: str | None
    if s[0] == '"':
        end = _scan_quoted(s, 0)
        display = unquote_string(s[:end])
        rest = s[end:].lstrip()
        if not rest.startswith("<"):
            raise SipParseError(f"expected '<' after display name in {s[:80]!r}")
        gt = rest.find(">")
        if gt < 0:
            raise SipParseError(f"unterminated '<' in {s[:80]!r}")
        uri_text = rest[1:gt]
        ptext = rest[gt + 1 :]
    else:
        lt = s.find("<")
        if lt >= 0:
            d = s[:lt].strip()
            if d and _DISPLAY_TOKENS_RE.fullmatch(d) is None:
                raise SipParseError(f"invalid display name {d[:80]!r}")
            display = d or None
            gt = s.find(">", lt)
            if gt < 0:
                raise SipParseError(f"unterminated '<' in {s[:80]!r}")
            uri_text = s[lt + 1 : gt]
            ptext = s[gt + 1 :]
        else:
            display = None
            if s == "*":
                na.is_wildcard = True
                na._uri_text = "*"
                na.display = None
                na._params = {}
                na._ptext = ""
                na._psnap = ()
                return
            semi = s.find(";")
            if semi >= 0:
                uri_text = s[:semi].rstrip()
                ptext = s[semi:]
            else:
                uri_text = s
                ptext = ""
            if "?" in uri_text or "," in uri_text or ">" in uri_text:
                raise SipParseError(
                    f"URI with '?', ',' or '>' must be enclosed in <>: {s[:80]!r}")
    if uri_text != uri_text.strip(" \t"):
        raise SipParseError(f"whitespace inside <...> around {uri_text.strip()[:80]!r}")
    if _URI_TEXT_RE.fullmatch(uri_text) is None:
        raise SipParseError(f"malformed URI {uri_text[:80]!r}")
    na._uri_text = uri_text
    na.display = display
    ptext = ptext.strip()
    if ptext and ptext[0] != ";":
        raise SipParseError(f"junk after address: {ptext[:80]!r}")
    na._params = parse_params(ptext) if ptext else {}
    na._psnap = tuple(na._params.items())
    na._ptext = ""


# ---------------------------------------------------------------------------------------
# CSeq, RAck, numbers, option tags
# ---------------------------------------------------------------------------------------
_MAX_CSEQ = 2**31 - 1
_CSEQ_FAST_RE = re.compile(rf"[ \t]*([0-9]{{1,10}})[ \t]++({TOKEN})[ \t]*")


class CSeq:
    """``CSeq: <seq> <method>``; seq is below 2**31 (RFC 3261 8.1.1.5)."""

    __slots__ = ("method", "seq")

    def __init__(self, seq: int, method: str) -> None:
        if not isinstance(seq, int) or not 0 <= seq <= _MAX_CSEQ:
            raise ValueError(f"CSeq number must be an int 0..2**31-1, got {seq!r}")
        if not isinstance(method, str) or not is_token(method):
            raise ValueError(f"CSeq method must be a token, got {method!r}")
        self.seq = seq
        self.method = method

    @classmethod
    def parse(cls, text: str) -> CSeq:
        num, sp, method = text.partition(" ")
        if (sp and num.isdigit() and num.isascii() and len(num) <= 10 and method.isalpha()
                and method.isascii()):
            seq = int(num)
            if seq <= _MAX_CSEQ:
                c = cls.__new__(cls)
                c.seq = seq
                c.method = method
                return c
        m = _CSEQ_FAST_RE.fullmatch(text)
        if m is not None:
            num, method = m.groups()
            seq = int(num)
            if seq <= _MAX_CSEQ:
                c = cls.__new__(cls)
                c.seq = seq
                c.method = method
                return c
        parts = text.split()
        if len(parts) != 2:
            raise SipParseError(f"malformed CSeq {text[:80]!r}")
        num, method = parts
        if not num.isdigit() or not num.isascii() or len(num) > 10:
            raise SipParseError(f"malformed CSeq number {num[:80]!r}")
        seq = int(num)
        if seq > _MAX_CSEQ:
            raise SipParseError(f"CSeq number {num} out of range")
        if not is_token(method):
            raise SipParseError(f"malformed CSeq method {method[:80]!r}")
        c = cls.__new__(cls)
        c.seq = seq
        c.method = method
        return c

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"

    def __repr__(self) -> str:
        return f"CSeq({self.seq}, {self.method!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CSeq):
            return NotImplemented
        return self.seq == other.seq and self.method == other.method

    def __hash__(self) -> int:
        return hash((self.seq, self.method))


class RAck:
    """``RAck: <rseq> <cseq> <method>`` (RFC 3262)."""

    __slots__ = ("cseq", "method", "rseq")

    def __init__(self, rseq: int, cseq: int, method: str) -> None:
        self.rseq = rseq
        self.cseq = cseq
        self.method = method

    @classmethod
    def parse(cls, text: str) -> RAck:
        parts = text.split()
        if (len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit()
                or not parts[0].isascii() or not parts[1].isascii() or not is_token(parts[2])
                or len(parts[0]) > 10 or len(parts[1]) > 10):
            raise SipParseError(f"malformed RAck {text[:80]!r}")
        return cls(int(parts[0]), int(parts[1]), parts[2])

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"

    def __repr__(self) -> str:
        return f"RAck({self.rseq}, {self.cseq}, {self.method!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RAck):
            return NotImplemented
        return (self.rseq, self.cseq, self.method) == (other.rseq, other.cseq, other.method)

    def __hash__(self) -> int:
        return hash((self.rseq, self.cseq, self.method))


def parse_int_header(text: str, name: str = "header", maximum: int = 2**32 - 1) -> int:
    """A header that is a plain decimal number (Max-Forwards, Expires, RSeq...)."""
    t = text.strip()
    if not t.isdigit() or not t.isascii() or len(t) > 20:
        raise SipParseError(f"malformed {name} {t[:80]!r}")
    v = int(t)
    if v > maximum:
        raise SipParseError(f"{name} {t} out of range")
    return v


def parse_option_tags(text: str) -> list[str]:
    """Supported / Require / Allow style lists of tokens."""
    tags = split_list(text)
    for t in tags:
        if not is_token(t):
            raise SipParseError(f"malformed option tag {t[:80]!r}")
    return tags


# ---------------------------------------------------------------------------------------
# Parameterised single-token headers
# ---------------------------------------------------------------------------------------
def _token_and_params(text: str, what: str) -> tuple[str, _Params]:
    head, semi, rest = text.partition(";")
    head = head.strip()
    if not head:
        raise SipParseError(f"malformed {what} {text[:80]!r}")
    return head, (parse_params(rest, what) if semi else {})


class MediaType:
    """``Content-Type``: ``type/subtype;params``; ``mime`` is ``type/subtype`` lower case."""

    __slots__ = ("params", "subtype", "type")

    def __init__(self, type: str, subtype: str, params: _Params | None = None) -> None:
        self.type = type.lower()
        self.subtype = subtype.lower()
        self.params: _Params = dict(params) if params else {}

    @classmethod
    def parse(cls, text: str) -> MediaType:
        head, params = _token_and_params(text, "Content-Type")
        t, slash, sub = head.partition("/")
        t, sub = t.strip(), sub.strip()
        if not slash or not is_token(t) or not is_token(sub):
            raise SipParseError(f"malformed media type {head[:80]!r}")
        return cls(t, sub, params)

    @property
    def mime(self) -> str:
        return f"{self.type}/{self.subtype}"

    def __str__(self) -> str:
        return self.mime + format_params(self.params)

    def __repr__(self) -> str:
        return f"MediaType({str(self)!r})"


class SessionExpires:
    """``Session-Expires: <delta>;refresher=uac|uas`` (RFC 4028); also used for Min-SE."""

    __slots__ = ("delta", "params")

    def __init__(self, delta: int, params: _Params | None = None) -> None:
        self.delta = delta
        self.params: _Params = dict(params) if params else {}

    @classmethod
    def parse(cls, text: str) -> SessionExpires:
        head, params = _token_and_params(text, "Session-Expires")
        return cls(parse_int_header(head, "Session-Expires"), params)

    @property
    def refresher(self) -> str | None:
        r = self.params.get("refresher")
        return r.lower() if r else None

    def __str__(self) -> str:
        return f"{self.delta}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"SessionExpires({str(self)!r})"


class Event:
    """``Event: <package>[.template];id=...`` (RFC 6665)."""

    __slots__ = ("package", "params")

    def __init__(self, package: str, params: _Params | None = None) -> None:
        self.package = package
        self.params: _Params = dict(params) if params else {}

    @classmethod
    def parse(cls, text: str) -> Event:
        head, params = _token_and_params(text, "Event")
        if not is_token(head):
            raise SipParseError(f"malformed Event package {head[:80]!r}")
        return cls(head, params)

    @property
    def id(self) -> str | None:
        return self.params.get("id")

    def __str__(self) -> str:
        return f"{self.package}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"Event({str(self)!r})"


class SubscriptionState:
    """``Subscription-State: active|pending|terminated;expires=..;reason=..``."""

    __slots__ = ("params", "state")

    def __init__(self, state: str, params: _Params | None = None) -> None:
        self.state = state
        self.params: _Params = dict(params) if params else {}

    @classmethod
    def parse(cls, text: str) -> SubscriptionState:
        head, params = _token_and_params(text, "Subscription-State")
        if not is_token(head):
            raise SipParseError(f"malformed Subscription-State {head[:80]!r}")
        return cls(head.lower(), params)

    def _int(self, name: str) -> int | None:
        v = self.params.get(name)
        return int(v) if v is not None and v.isdigit() else None

    @property
    def expires(self) -> int | None:
        return self._int("expires")

    @property
    def retry_after(self) -> int | None:
        return self._int("retry-after")

    @property
    def reason(self) -> str | None:
        return self.params.get("reason")

    def __str__(self) -> str:
        return f"{self.state}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"SubscriptionState({str(self)!r})"


# ---------------------------------------------------------------------------------------
# WWW-Authenticate / Proxy-Authenticate / Authorization / Proxy-Authorization
# ---------------------------------------------------------------------------------------
_AUTH_PARAM_RE = re.compile(
    r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*=[ \t]*(\"(?:[^\"\\]|\\.)*\"|[^\s,\"]*)[ \t]*(?:,|$)",
    re.S,
)
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_NOT_QUOTED_BY_DEFAULT = frozenset({"algorithm", "stale", "nc"})


class AuthChallenge:
    """A challenge or credentials: ``scheme`` plus ``params`` (lower-case names, values
    unquoted). ``token68`` holds a bare token form such as ``Basic dXNlcjpw``.

    ``str()`` quotes every value except ``algorithm``, ``stale`` and ``nc`` unless
    ``quoted`` names the parameters to quote (parsing records what arrived quoted).
    """

    __slots__ = ("params", "quoted", "scheme", "token68")

    def __init__(
        self,
        scheme: str,
        params: dict[str, str] | None = None,
        *,
        token68: str | None = None,
        quoted: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(scheme, str) or not is_token(scheme):
            raise ValueError(f"auth scheme must be a token, got {scheme!r}")
        self.scheme = scheme
        self.params: dict[str, str] = dict(params) if params else {}
        self.token68 = token68
        self.quoted: frozenset[str] | None = (
            frozenset(q.lower() for q in quoted) if quoted is not None else None)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def nonce(self) -> str | None:
        return self.params.get("nonce")

    @property
    def algorithm(self) -> str | None:
        return self.params.get("algorithm")

    @property
    def qop_options(self) -> list[str]:
        q = self.params.get("qop")
        return [x.strip() for x in q.split(",") if x.strip()] if q else []

    def __str__(self) -> str:
        if self.token68 is not None:
            return f"{self.scheme} {self.token68}"
        parts = []
        for k, v in self.params.items():
            quote = k in self.quoted if self.quoted is not None else (
                k not in _NOT_QUOTED_BY_DEFAULT)
            parts.append(f"{k}={quote_string(v)}" if quote else f"{k}={v}")
        return f"{self.scheme} " + ", ".join(parts)

    def __repr__(self) -> str:
        return f"AuthChallenge({self.scheme!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AuthChallenge):
            return NotImplemented
        return (self.scheme.lower(), self.params, self.token68) == (
            other.scheme.lower(), other.params, other.token68)

    def __hash__(self) -> int:
        return hash((self.scheme.lower(), self.token68, tuple(sorted(self.params.items()))))


#: Credentials (Authorization / Proxy-Authorization) share the challenge grammar.
Credentials = AuthChallenge


def parse_challenge(value: str) -> AuthChallenge:
    """Parse ``Digest realm="a", nonce="b", algorithm=MD5`` (challenge or credentials)."""
    if not isinstance(value, str):
        raise TypeError(f"value must be str, got {type(value).__name__}")
    text = value.strip()
    scheme, _, rest = text.partition(" ")
    if not is_token(scheme):
        raise SipParseError(f"malformed auth scheme in {text[:80]!r}")
    rest = rest.strip()
    if rest and "=" not in rest.rstrip("="):
        if _TOKEN68_RE.fullmatch(rest) is None:
            raise SipParseError(f"malformed auth token in {text[:80]!r}")
        return AuthChallenge(scheme, token68=rest)
    params: dict[str, str] = {}
    quoted: set[str] = set()
    pos = 0
    n = len(rest)
    while pos < n:
        if rest[pos] in " \t,":
            pos += 1
            continue
        m = _AUTH_PARAM_RE.match(rest, pos)
        if m is None:
            raise SipParseError(f"malformed auth parameters in {text[:80]!r}")
        name = m.group(1).lower()
        raw = m.group(2)
        if raw.startswith('"'):
            quoted.add(name)
        params[name] = unquote_string(raw)
        pos = m.end()
    return AuthChallenge(scheme, params, quoted=quoted)


# ---------------------------------------------------------------------------------------
# Dispatch: canonical header name -> (is a list, value parser)
# ---------------------------------------------------------------------------------------
def _call_id(text: str) -> str:
    if not text or " " in text or "\t" in text:
        t = text.strip()
        if not t or " " in t or "\t" in t:
            raise SipParseError(f"malformed Call-ID {t[:80]!r}")
        return t
    return text


def _max_forwards(text: str) -> int:
    if text.isdigit() and text.isascii() and len(text) <= 3:
        v = int(text)
        if v <= 255:
            return v
    return parse_int_header(text, "Max-Forwards", 255)


def _content_length(text: str) -> int:
    return parse_int_header(text, "Content-Length", 2**32 - 1)


def _expires(text: str) -> int:
    return parse_int_header(text, "Expires", 2**32 - 1)


def _rseq(text: str) -> int:
    return parse_int_header(text, "RSeq", 2**32 - 1)


def _min_se(text: str) -> int:
    return parse_int_header(text.partition(";")[0], "Min-SE", 2**32 - 1)


_Parser = Callable[[str], Any]

#: canonical name -> (multi-valued, parser). Multi-valued views are lists, one per value.
PARSERS: dict[str, tuple[bool, _Parser]] = {
    "via": (True, Via.parse),
    "from": (False, NameAddr.parse),
    "to": (False, NameAddr.parse),
    "contact": (True, NameAddr.parse),
    "route": (True, NameAddr.parse),
    "record-route": (True, NameAddr.parse),
    "path": (True, NameAddr.parse),
    "service-route": (True, NameAddr.parse),
    "refer-to": (False, NameAddr.parse),
    "referred-by": (False, NameAddr.parse),
    "reply-to": (False, NameAddr.parse),
    "p-asserted-identity": (True, NameAddr.parse),
    "p-preferred-identity": (True, NameAddr.parse),
    "cseq": (False, CSeq.parse),
    "call-id": (False, _call_id),
    "max-forwards": (False, _max_forwards),
    "content-length": (False, _content_length),
    "expires": (False, _expires),
    "min-expires": (False, _expires),
    "content-type": (False, MediaType.parse),
    "www-authenticate": (True, parse_challenge),
    "proxy-authenticate": (True, parse_challenge),
    "authorization": (True, parse_challenge),
    "proxy-authorization": (True, parse_challenge),
    "rseq": (False, _rseq),
    "rack": (False, RAck.parse),
    "session-expires": (False, SessionExpires.parse),
    "min-se": (False, _min_se),
    "event": (False, Event.parse),
    "subscription-state": (False, SubscriptionState.parse),
    "supported": (False, parse_option_tags),
    "require": (False, parse_option_tags),
    "proxy-require": (False, parse_option_tags),
    "unsupported": (False, parse_option_tags),
    "allow": (False, parse_option_tags),
    "allow-events": (False, parse_option_tags),
}

#: Headers that carry one value per message: a second occurrence is an error (TC_MULTI01).
SINGLE_HEADERS: frozenset[str] = frozenset({
    "call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type",
    "expires", "min-expires", "rseq", "rack", "session-expires", "min-se", "event",
    "subscription-state", "refer-to", "referred-by", "reply-to",
})

#: Option-tag / method lists: the view joins every line of the header.
_TAG_LISTS = frozenset({"supported", "require", "proxy-require", "unsupported", "allow",
                        "allow-events"})

#: Headers whose value, when split, must not be split on commas at all.
_NO_SPLIT = frozenset({"www-authenticate", "proxy-authenticate", "authorization",
                       "proxy-authorization"})


def parse_header(name: str, value: str) -> object:
    """The typed view of one header value (``value`` is one line's value)."""
    key = canonical_key(name)
    entry = PARSERS.get(key)
    if entry is None:
        return value
    multi, fn = entry
    if multi and key not in _NO_SPLIT:
        return [fn(v) for v in split_list(value)]
    if multi:
        return [fn(value)]
    return fn(value)


# ---------------------------------------------------------------------------------------
# The container
# ---------------------------------------------------------------------------------------
_BAD_VALUE_RE = re.compile(r"[\r\n]")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not is_token(name):
        raise ValueError(f"header name must be a token str, got {name!r}")
    return name


def _check_value(value: object) -> str:
    if not isinstance(value, str):
        if isinstance(value, int | SipURI | NameAddr | Via | CSeq | RAck | AuthChallenge
                      | MediaType | SessionExpires | Event | SubscriptionState):
            return str(value)
        raise ValueError(f"header value must be str, got {type(value).__name__}")
    if _BAD_VALUE_RE.search(value):
        raise ValueError(f"header value must not contain CR or LF: {value[:80]!r}")
    return value.strip()


class Headers:
    """Ordered SIP headers with case-insensitive, compact-form-aware access.

    Every header line is kept as ``(name, value)`` with the name as spelled on arrival, so
    output keeps order and spelling. ``get_all`` splits comma lists (Via, Contact, Route,
    Supported...) correctly around quoted strings and ``<...>``. ``parsed`` builds typed
    views lazily and caches them until the header is changed.

    Storage: ``_keys`` (canonical names), ``_names`` (as spelled), ``_values`` (stripped),
    parallel lists (see ``_LazyHeaders`` for what the parser makes).
    """

    __slots__ = ("_cache", "_dirty", "_keys", "_names", "_parts", "_values")

    #: The split header block of a ``_LazyHeaders`` (``None`` once the lists are built).
    _parts: list[str] | None

    def __init__(self, items: Iterable[tuple[str, str]] | Headers | None = None) -> None:
        self._names: list[str] = []
        self._values: list[str] = []
        self._keys: list[str] = []
        self._cache: dict[str, object] = {}
        self._dirty = False
        if items is None:
            return
        if isinstance(items, Headers):
            self._names = list(items._names)
            self._values = list(items._values)
            self._keys = list(items._keys)
            return
        if isinstance(items, str | bytes) or not isinstance(items, Iterable):
            raise TypeError("headers must be a list of (name, value) pairs or Headers")
        for item in items:
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise TypeError(f"each header must be a (name, value) pair, got {item!r}")
            name, value = item
            self._names.append(_check_name(name))
            self._values.append(_check_value(value))
            self._keys.append(canonical_key(name))

    @classmethod
    def _from_lists(cls, names: list[str], values: list[str], keys: list[str]) -> Headers:
        h = cls.__new__(cls)
        h._names = names
        h._values = values
        h._keys = keys
        h._cache = {}
        h._dirty = False
        return h

    # -- reading -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(zip(self._names, self._values, strict=True))

    def items(self) -> list[tuple[str, str]]:
        return list(zip(self._names, self._values, strict=True))

    def names(self) -> list[str]:
        return list(self._names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_key(name) in self._keys

    def has(self, name: str) -> bool:
        return (_KEY_CACHE.get(name) or canonical_key(name)) in self._keys

    def count(self, name: str) -> int:
        """How many header lines carry ``name``."""
        return self._keys.count(canonical_key(name))

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value (the first list element for list headers such as Via)."""
        key = _KEY_CACHE.get(name) or canonical_key(name)
        try:
            i = self._keys.index(key)
        except ValueError:
            return default
        v = self._values[i]
        if key in LIST_HEADERS and ("," in v):
            try:
                parts = split_list(v)
            except SipParseError:
                return v
            return parts[0] if parts else v
        return v

    def get_lines(self, name: str) -> list[str]:
        """Every line's value as it arrived, not split on commas."""
        key = _KEY_CACHE.get(name) or canonical_key(name)
        return [v for k, v in zip(self._keys, self._values, strict=True) if k == key]

    def get_all(self, name: str) -> list[str]:
        """Every value; list headers are split on commas (quotes and ``<>`` respected)."""
        key = _KEY_CACHE.get(name) or canonical_key(name)
        lines = [v for k, v in zip(self._keys, self._values, strict=True) if k == key]
        if key in LIST_HEADERS:
            out: list[str] = []
            for v in lines:
                out.extend(split_list(v))
            return out
        return lines

    def parsed(self, name: str) -> Any:
        """Typed view of a header, parsed once and cached.

        Multi-valued headers (Via, Contact, Route, Record-Route, Path, P-Asserted-Identity,
        *-Authenticate, *-Authorization) give a list with one view per value; single
        headers give one view of their first occurrence (``None`` when absent). Headers
        without a typed view give their first value as ``str``.
        """
        key = _KEY_CACHE.get(name) or canonical_key(name)
        cache = self._cache
        if key in cache:
            return cache[key]
        entry = PARSERS.get(key)
        view: object
        if entry is None:
            view = self.get(key)
        elif key in _TAG_LISTS:
            lines = self.get_lines(key)
            view = parse_option_tags(", ".join(lines)) if lines else None
        else:
            multi, fn = entry
            if multi:
                values = (self.get_lines(key) if key in _NO_SPLIT else self.get_all(key))
                view = [fn(v) for v in values]
            else:
                try:
                    i = self._keys.index(key)
                except ValueError:
                    view = None
                else:
                    view = fn(self._values[i])
        cache[key] = view
        return view

    # -- writing -----------------------------------------------------------------------
    def _changed(self, key: str) -> None:
        self._dirty = True
        self._cache.pop(key, None)
        if key == "via":
            self._cache.pop("_top_via", None)

    def set(self, name: str, value: object) -> None:
        """Replace every occurrence by one line (at the first one's place, or at the end)."""
        name = _check_name(name)
        text = _check_value(value)
        key = canonical_key(name)
        keys = self._keys
        try:
            i = keys.index(key)
        except ValueError:
            self._names.append(name)
            self._values.append(text)
            keys.append(key)
        else:
            self._values[i] = text
            self._names[i] = name
            j = len(keys) - 1
            while j > i:
                if keys[j] == key:
                    del keys[j], self._names[j], self._values[j]
                j -= 1
        self._changed(key)

    def append(self, name: str, value: object) -> None:
        """Add a line after every other header."""
        name = _check_name(name)
        text = _check_value(value)
        key = canonical_key(name)
        self._names.append(name)
        self._values.append(text)
        self._keys.append(key)
        self._changed(key)

    def prepend(self, name: str, value: object) -> None:
        """Add a line above the first line of the same header (a proxy's new Via,
        Record-Route), or at the very top when the header is absent."""
        name = _check_name(name)
        text = _check_value(value)
        key = canonical_key(name)
        try:
            i = self._keys.index(key)
        except ValueError:
            i = 0
        self._names.insert(i, name)
        self._values.insert(i, text)
        self._keys.insert(i, key)
        self._changed(key)

    def remove(self, name: str) -> int:
        """Remove every occurrence; returns how many lines were removed."""
        key = canonical_key(name)
        keys = self._keys
        n = 0
        j = len(keys) - 1
        while j >= 0:
            if keys[j] == key:
                del keys[j], self._names[j], self._values[j]
                n += 1
            j -= 1
        if n:
            self._changed(key)
        return n

    def pop_first(self, name: str) -> str | None:
        """Remove and return the first value (e.g. the top Via of a response), keeping the
        rest of a comma list on its line."""
        key = canonical_key(name)
        try:
            i = self._keys.index(key)
        except ValueError:
            return None
        v = self._values[i]
        parts = split_list(v) if key in LIST_HEADERS else [v]
        if len(parts) > 1:
            self._values[i] = ", ".join(parts[1:])
        else:
            del self._keys[i], self._names[i], self._values[i]
        self._changed(key)
        return parts[0] if parts else v

    def replace_first(self, name: str, value: object) -> None:
        """Replace the first value (e.g. the top Via after adding ``received``/``rport``),
        keeping the rest of a comma list on its line; appends when absent.

        Typed views are snapshots: after changing one (``via.params[...] = ...``) write it
        back with this (or ``set``) for the change to reach ``to_bytes()``.
        """
        text = _check_value(value)
        key = canonical_key(name)
        if self._swap_first(key, text) is None:
            self.append(name, text)
            return
        self._changed(key)

    def _swap_first(self, key: str, text: str) -> str | None:
        """Put ``text`` in place of the first value of ``key`` (the rest of a comma list
        stays on its line); returns the old value, None when absent. Marks nothing changed:
        callers decide (``Message.replace_top_via`` keeps the received bytes valid)."""
        try:
            i = self._keys.index(key)
        except ValueError:
            return None
        v = self._values[i]
        if key in LIST_HEADERS and "," in v:
            parts = split_list(v)
            old = parts[0]
            parts[0] = text
            self._values[i] = ", ".join(parts)
            return old
        self._values[i] = text
        return v

    def copy(self) -> Headers:
        return Headers(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._keys == other._keys and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


# the slot descriptors, reachable under the properties below
_NAMES_SLOT: Any = Headers.__dict__["_names"]
_VALUES_SLOT: Any = Headers.__dict__["_values"]


class _LazyHeaders(Headers):
    """The headers of a parsed message, before anything reads their names or values.

    The parser's fast path keeps the split header block in ``_parts`` (``[start line,
    "\\x00" + name, raw value, ...]``) and sets only ``_keys`` and ``_cache``; most
    messages are answered or relayed without reading most of their headers. The first
    use of ``_names`` or ``_values`` builds both lists and turns the object into a plain
    ``Headers`` (same slots), so later reads are ordinary slot reads.
    """

    __slots__ = ()

    def _build(self) -> None:
        parts = self._parts
        assert parts is not None
        _NAMES_SLOT.__set__(self, [n[1:] for n in parts[1::2]])
        _VALUES_SLOT.__set__(self, list(map(str.strip, parts[2::2])))
        self._parts = None
        self.__class__ = Headers  # type: ignore[assignment]

    @property
    def _names(self) -> list[str]:
        self._build()
        return self._names

    @_names.setter
    def _names(self, value: list[str]) -> None:
        self._build()
        self._names = value

    @property
    def _values(self) -> list[str]:
        self._build()
        return self._values

    @_values.setter
    def _values(self, value: list[str]) -> None:
        self._build()
        self._values = value
