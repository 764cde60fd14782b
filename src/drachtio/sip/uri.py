"""SIP, SIPS and tel URIs (RFC 3261 19.1, RFC 3966); other schemes kept as opaque text.

A parsed URI remembers its text: ``str(uri)`` gives it back byte for byte until a field is
changed, after which the URI is serialised canonically from its fields.
"""

from __future__ import annotations

import re

from drachtio.sip.errors import SipParseError
from drachtio.sip.grammar import escape, split_hostport, unescape

__all__ = ["SipURI", "parse_uri"]

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_USER_SAFE = "!*'()&=+$,;?/"
_PASSWORD_SAFE = "!*'()&=+$,"
_PARAM_SAFE = "!*'()[]/:&+$"
_HEADER_SAFE = "!*'()[]/?:+$"
_BAD_URI_RE = re.compile(r"[\s<>\"]")

_Snap = tuple[object, ...]


class SipURI:
    """A ``sip:``/``sips:``/``tel:`` URI, or any other absolute URI kept in ``opaque``.

    ``user``/``password``/param and header values are unescaped; ``params`` keys are lower
    case and a flag parameter (``;lr``) maps to ``None``. For ``tel:`` the number is in
    ``user`` and ``host`` is empty. For unknown schemes only ``scheme`` and ``opaque`` (the
    text after the colon) are set.
    """

    __slots__ = ("_raw", "_snap", "headers", "host", "opaque", "params", "password", "port",
                 "scheme", "user")

    def __init__(
        self,
        scheme: str = "sip",
        user: str | None = None,
        host: str = "",
        port: int | None = None,
        params: dict[str, str | None] | None = None,
        headers: dict[str, str] | None = None,
        password: str | None = None,
        *,
        opaque: str | None = None,
    ) -> None:
        if not isinstance(scheme, str) or not _SCHEME_RE.fullmatch(scheme):
            raise ValueError(f"scheme must be a URI scheme name, got {scheme!r}")
        if port is not None and (not isinstance(port, int) or not 0 <= port <= 65535):
            raise ValueError(f"port must be an int 0..65535 or None, got {port!r}")
        self.scheme = scheme.lower()
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params: dict[str, str | None] = dict(params) if params else {}
        self.headers: dict[str, str] = dict(headers) if headers else {}
        self.opaque = opaque
        self._raw: str | None = None
        self._snap: _Snap | None = None

    # -- parsing -----------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> SipURI:
        """Parse an absolute URI; raises ``SipParseError`` when it is malformed."""
        if not isinstance(text, str):
            raise TypeError(f"URI text must be str, got {type(text).__name__}")
        scheme, colon, rest = text.partition(":")
        if not colon or not _SCHEME_RE.fullmatch(scheme):
            raise SipParseError(f"URI without a scheme: {text[:80]!r}")
        if not rest or _BAD_URI_RE.search(rest):
            raise SipParseError(f"malformed URI {text[:80]!r}")
        uri = cls.__new__(cls)
        low = scheme.lower()
        uri.scheme = low
        uri.user = uri.password = None
        uri.host = ""
        uri.port = None
        uri.opaque = None
        uri.headers = {}
        if low == "sip" or low == "sips":
            _parse_sip(uri, rest, text)
        elif low == "tel":
            number, _, ptext = rest.partition(";")
            if not number:
                raise SipParseError(f"tel URI without a number: {text[:80]!r}")
            uri.user = unescape(number)
            uri.params = _parse_uri_params(ptext) if ptext else {}
        else:
            uri.params = {}
            uri.opaque = rest
        uri._raw = text
        uri._snap = uri._snapshot()
        return uri

    # -- views -------------------------------------------------------------------------
    @property
    def is_sip(self) -> bool:
        """True for ``sip:`` and ``sips:`` URIs."""
        return self.scheme in ("sip", "sips")

    @property
    def transport(self) -> str | None:
        t = self.params.get("transport")
        return t.lower() if t else None

    @property
    def lr(self) -> bool:
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def copy(self) -> SipURI:
        new = SipURI.__new__(SipURI)
        for name in SipURI.__slots__:
            setattr(new, name, getattr(self, name))
        new.params = dict(self.params)
        new.headers = dict(self.headers)
        return new

    def _snapshot(self) -> _Snap:
        return (self.scheme, self.user, self.password, self.host, self.port,
                tuple(self.params.items()), tuple(self.headers.items()), self.opaque)

    def _canonical(self) -> str:
        scheme = self.scheme
        if self.opaque is not None:
            return f"{scheme}:{self.opaque}"
        out = [scheme, ":"]
        if scheme == "tel":
            out.append(escape(self.user or "", "+-.()*#;=&$,/?!'"))
        else:
            if self.user is not None:
                out.append(escape(self.user, _USER_SAFE))
                if self.password is not None:
                    out.append(":" + escape(self.password, _PASSWORD_SAFE))
                out.append("@")
            out.append(self.host)
            if self.port is not None:
                out.append(f":{self.port}")
        for k, v in self.params.items():
            out.append(";" + escape(k, _PARAM_SAFE))
            if v is not None:
                out.append("=" + escape(v, _PARAM_SAFE))
        if self.headers:
            out.append("?" + "&".join(
                f"{escape(k, _HEADER_SAFE)}={escape(v, _HEADER_SAFE)}"
                for k, v in self.headers.items()))
        return "".join(out)

    def __str__(self) -> str:
        raw = self._raw
        if raw is not None and self._snapshot() == self._snap:
            return raw
        return self._canonical()

    def __repr__(self) -> str:
        return f"SipURI({str(self)!r})"

    def _key(self) -> tuple[object, ...]:
        # RFC 3261 19.1.4 in spirit: scheme and host case-insensitive, user case-sensitive,
        # parameter names case-insensitive, transport/user/method/maddr/ttl values too.
        params = tuple(sorted(
            (k, v.lower() if v is not None and k in ("transport", "user", "method", "maddr",
                                                       "ttl") else v)
            for k, v in self.params.items()))
        return (self.scheme, self.user, self.password, self.host.lower(), self.port, params,
                tuple(sorted(self.headers.items())), self.opaque)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SipURI):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def _parse_uri_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not name:
            raise SipParseError("empty URI parameter")
        params[unescape(name).lower()] = unescape(value) if eq else None
    return params


def _parse_sip(uri: SipURI, rest: str, text: str) -> None:
    # The user part may hold ';' '?' and ',' but never an unescaped '@'; params and headers
    # never hold '@'. So userinfo ends at the last '@'.
    at = rest.rfind("@")
    if at >= 0:
        userinfo = rest[:at]
        hostpart = rest[at + 1 :]
        user, colon, password = userinfo.partition(":")
        if not user:
            raise SipParseError(f"empty user part in URI {text[:80]!r}")
        uri.user = unescape(user)
        uri.password = unescape(password) if colon else None
    else:
        hostpart = rest
    q = hostpart.find("?")
    if q >= 0:
        htext = hostpart[q + 1 :]
        hostpart = hostpart[:q]
        for item in htext.split("&"):
            hname, eq, hvalue = item.partition("=")
            if not hname or not eq:
                raise SipParseError(f"malformed URI header {item!r}")
            uri.headers[unescape(hname)] = unescape(hvalue)
    semi = hostpart.find(";")
    if semi >= 0:
        uri.params = _parse_uri_params(hostpart[semi + 1 :])
        hostpart = hostpart[:semi]
    else:
        uri.params = {}
    host, port = split_hostport(hostpart)
    if hostpart != hostpart.strip():
        raise SipParseError(f"whitespace in URI {text[:80]!r}")
    uri.host = host
    uri.port = port


def parse_uri(text: str) -> SipURI:
    """Parse a URI (``sip:``, ``sips:``, ``tel:`` or any other absolute URI)."""
    return SipURI.parse(text)
