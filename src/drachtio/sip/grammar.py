"""Small RFC 3261 grammar helpers shared by the URI, header and message modules.

Everything here is linear in its input and raises only ``SipParseError``.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from drachtio.sip.errors import SipParseError

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "canonical_key",
    "escape",
    "format_params",
    "is_token",
    "parse_params",
    "quote_string",
    "split_hostport",
    "split_list",
    "unescape",
    "unquote_string",
    "valid_host",
]

#: Compact header names (RFC 3261 7.3.3 and later registrations) -> long name, lower case.
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

#: Headers whose grammar is a comma separated list: ``get_all`` splits these. Other headers
#: (Date, WWW-Authenticate, unknown extensions...) may carry commas inside one value.
LIST_HEADERS: frozenset[str] = frozenset(
    {
        "via", "contact", "route", "record-route", "path", "service-route",
        "p-asserted-identity", "p-preferred-identity", "p-associated-uri", "history-info",
        "allow", "supported", "require", "proxy-require", "unsupported", "allow-events",
        "accept", "accept-encoding", "accept-language", "content-encoding", "content-language",
        "alert-info", "call-info", "error-info", "in-reply-to", "warning", "reason",
        "security-client", "security-server", "security-verify", "accept-contact",
        "reject-contact", "request-disposition", "diversion", "accept-resource-priority",
        "resource-priority", "permission-missing", "trigger-consent", "recv-info",
    }
)

_KEY_CACHE: dict[str, str] = {}


def canonical_key(name: str) -> str:
    """Lower-case long form of a header name (``"i"`` -> ``"call-id"``)."""
    key = _KEY_CACHE.get(name)
    if key is None:
        low = name.strip().lower()
        key = COMPACT_FORMS.get(low, low)
        if len(_KEY_CACHE) < 4096:
            _KEY_CACHE[name] = key
    return key


#: Regex fragments of the RFC 3261 grammar, shared by the fast-path matchers.
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
QUOTED = r'"(?:[^"\\\r\n]|\\[^\r\n])*+"'
PVALUE = r"[A-Za-z0-9\-.!%*_+`'~:\[\]/&$?@=]+"
#: Exactly what ``\s`` matches in a str pattern (``str.isspace``), spelled out: sre tests
#: a character class faster than the whitespace category (a unit test keeps them equal).
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003"
              "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
#: The characters of an absolute URI as the fast paths take it: anything but whitespace,
#: ``<``, ``>`` and ``"`` (the same set as ``[^\s<>"]``).
URI_CHAR = "[^" + re.escape(WHITESPACE) + '<>"]'
#: The printable ASCII part of ``URI_CHAR``, for first-try matchers (faster still); text
#: they refuse goes on to one that uses ``URI_CHAR``.
URI_CHAR_ASCII = "[!#-;=?-~]"
#: ``*( SEMI generic-param )``, validated without backtracking.
PARAMS = rf"(?:[ \t]*+;[ \t]*+{TOKEN}(?:[ \t]*+=[ \t]*+(?:{PVALUE}|{QUOTED}))?+)*+"
#: ``*( ";" name [ "=" value ] )`` with no whitespace: the shape nearly every peer sends.
#: (Possessive throughout: a name or value never gives back characters to what follows,
#: which cannot use them, so this matches what the greedy form does, in fewer steps.)
SIMPLE_PARAMS = rf"(?:;{TOKEN}+(?:=(?:{PVALUE}+|{QUOTED}))?+)*+"
PARAM_ITEM_RE = re.compile(rf";[ \t]*({TOKEN})(?:[ \t]*(=)[ \t]*({PVALUE}|{QUOTED}))?")

_TOKEN_RE = re.compile(TOKEN)


def is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None


_NEEDS_QPAIR_RE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def quote_string(text: str) -> str:
    """``text`` as a quoted-string: ``"``, ``\\`` and control characters become quoted
    pairs; CR and LF, which no quoted-pair can carry, become spaces."""
    if "\r" in text or "\n" in text:
        text = text.replace("\r", " ").replace("\n", " ")
    return '"' + _NEEDS_QPAIR_RE.sub(lambda m: "\\" + m.group(0), text) + '"'


_QPAIR_RE = re.compile(r"\\(.)", re.S)


def unquote_string(text: str) -> str:
    """Remove the quotes and quoted-pair escapes of a quoted-string; other text as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        return _QPAIR_RE.sub(r"\1", inner) if "\\" in inner else inner
    return text


def _scan_quoted(text: str, start: int) -> int:
    """Index just past the quoted-string that opens at ``text[start]``."""
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        i += 1
    raise SipParseError("unterminated quoted string")


def split_list(value: str) -> list[str]:
    """Split a comma separated header value, honouring quoted strings and ``<...>``.

    Empty elements are dropped (RFC 7.3.1 allows ``a,,b``); each element is stripped.
    """
    if '"' not in value and "<" not in value:
        if "," not in value:
            v = value.strip()
            return [v] if v else []
        return [p for p in (s.strip() for s in value.split(",")) if p]
    out: list[str] = []
    start = 0
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == '"':
            i = _scan_quoted(value, i)
            continue
        if c == "<":
            j = value.find(">", i + 1)
            if j < 0:
                raise SipParseError("unterminated '<' in header value")
            i = j + 1
            continue
        if c == ",":
            part = value[start:i].strip()
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = value[start:].strip()
    if part:
        out.append(part)
    return out


def split_semicolons(text: str) -> list[str]:
    """Split on ``;`` outside quoted strings."""
    if '"' not in text:
        return text.split(";")
    out: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = _scan_quoted(text, i)
            continue
        if c == ";":
            out.append(text[start:i])
            start = i + 1
        i += 1
    out.append(text[start:])
    return out


_PARAM_VALUE_RE = re.compile(rf"{PVALUE}|{QUOTED}")


def parse_params(text: str, what: str = "header") -> dict[str, str | None]:
    """Parse ``;a=b;c`` (leading ``;`` optional) into a dict with lower-case names.

    A flag parameter maps to ``None``; values keep their quotes so they round-trip.
    """
    params: dict[str, str | None] = {}
    parts = split_semicolons(text)
    if parts and not parts[0].strip():
        parts = parts[1:]
    for part in parts:
        name, eq, val = part.partition("=")
        name = name.strip()
        if not name or not _TOKEN_RE.fullmatch(name):
            raise SipParseError(f"malformed {what} parameter {part.strip()!r}")
        if eq:
            val = val.strip()
            if not val or _PARAM_VALUE_RE.fullmatch(val) is None:
                raise SipParseError(f"malformed value of {what} parameter {name!r}")
            params[name.lower()] = val
        else:
            params[name.lower()] = None
    return params


def params_from_text(text: str) -> dict[str, str | None]:
    """Params from text already validated against ``PARAMS`` (fast path, no checks)."""
    return {
        (n if n.islower() else n.lower()): (v if e else None)
        for n, e, v in PARAM_ITEM_RE.findall(text)
    }


def simple_params(text: str) -> dict[str, str | None]:
    """Params from text that matched ``SIMPLE_PARAMS`` (no whitespace; leading ``;``)."""
    if '"' in text:
        return params_from_text(text)
    out: dict[str, str | None] = {}
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        out[name if name.islower() else name.lower()] = value if eq else None
    return out


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def unescape(text: str) -> str:
    """Undo %-escapes (bytes beyond UTF-8 survive as surrogates so they re-escape exactly)."""
    if "%" not in text:
        return text
    return unquote(text, errors="surrogateescape")


def escape(text: str, safe: str) -> str:
    """%-escape every character of ``text`` that is not alphanumeric, ``-_.~`` or in ``safe``."""
    return quote(text, safe=safe, errors="surrogateescape")


_HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-_.]*[A-Za-z0-9_.])?")
_IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]")


def valid_host(host: str) -> bool:
    """A hostname, IPv4address or bracketed IPv6reference (RFC 3261/5118)."""
    if not host:
        return False
    if host[0] == "[":
        if not _IPV6_RE.fullmatch(host):
            return False
        import ipaddress

        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return _HOSTNAME_RE.fullmatch(host) is not None


def split_hostport(text: str) -> tuple[str, int | None]:
    """``host[:port]`` -> (host, port); raises ``SipParseError`` when malformed."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference in {text!r}")
        host = text[: end + 1]
        rest = text[end + 1 :].strip()
        if rest and rest[0] != ":":
            raise SipParseError(f"junk after IPv6 reference in {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_ = text.partition(":")
        host = host.strip()
        port_text = port_text_ if colon else None
    if not valid_host(host):
        raise SipParseError(f"invalid host {host!r}")
    if port_text is None:
        return host, None
    port_text = port_text.strip()
    if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
        raise SipParseError(f"invalid port {port_text!r}")
    port = int(port_text)
    if port > 65535:
        raise SipParseError(f"port {port} out of range")
    return host, port
