"""Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760), sans-IO.

Three pieces, all working on header *values* (the text after ``WWW-Authenticate:`` etc.):

* parsing: :func:`parse_challenges` / :func:`parse_challenge` for ``WWW-Authenticate`` and
  ``Proxy-Authenticate``, :func:`parse_credentials` for ``Authorization`` and
  ``Proxy-Authorization``; :func:`choose_challenge` picks the strongest digest challenge
  we support when a 401/407 offers several.
* client: :class:`DigestClient` answers a challenge and counts ``nc`` per nonce.
* server: :class:`DigestServer` issues stateless, HMAC-signed, expiring nonces and verifies
  credentials, telling a wrong password apart from a stale nonce (so the caller re-challenges
  with ``stale=true`` and the client retries without asking the user again).

Time is always a parameter (``now``: seconds, any monotonic-enough clock the caller likes);
this module never reads a clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "AuthParseError",
    "Challenge",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "VerifyResult",
    "VerifyStatus",
    "build_authorization",
    "choose_challenge",
    "compute_ha1",
    "compute_response",
    "parse_challenge",
    "parse_challenges",
    "parse_credentials",
]


class AuthParseError(ValueError):
    """A challenge or credentials header value does not follow the auth-param grammar."""


# --------------------------------------------------------------------------- hashing

def _sha512_256() -> Callable[[bytes], str] | None:
    # FIPS 180-4 SHA-512/256 (distinct initial values, not SHA-512 truncated). It comes
    # from OpenSSL, so it may be missing on exotic builds; then we simply do not offer it.
    try:
        hashlib.new("sha512_256", b"")
    except ValueError:  # pragma: no cover - depends on the OpenSSL build
        return None
    return lambda data: hashlib.new("sha512_256", data).hexdigest()


_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
_h512 = _sha512_256()
if _h512 is not None:
    _HASHES["SHA-512-256"] = _h512

#: Upper-case algorithm names this module can compute, strongest first.
SUPPORTED_ALGORITHMS: tuple[str, ...] = tuple(
    name
    for base in ("SHA-512-256", "SHA-256", "MD5")
    if base in _HASHES
    for name in (base, base + "-SESS")
)
_STRENGTH = {name: len(SUPPORTED_ALGORITHMS) - i for i, name in enumerate(SUPPORTED_ALGORITHMS)}


def _split_algorithm(algorithm: str) -> tuple[Callable[[bytes], str], bool]:
    """``'sha-256-sess'`` -> (hash function, session variant?). ValueError if unknown."""
    name = algorithm.strip().upper()
    sess = name.endswith("-SESS")
    base = name[:-5] if sess else name
    hash_fn = _HASHES.get(base)
    if hash_fn is None:
        raise ValueError(
            f"unsupported digest algorithm {algorithm!r}; expected one of "
            + ", ".join(SUPPORTED_ALGORITHMS)
        )
    return hash_fn, sess


def _h(hash_fn: Callable[[bytes], str], text: str) -> str:
    return hash_fn(text.encode("utf-8"))


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(username:realm:password): what a server may store instead of the password.

    For ``-sess`` algorithms this is still the *base* HA1; the session HA1 also needs the
    nonce and cnonce and is derived in :func:`compute_response`.
    """
    hash_fn, _ = _split_algorithm(algorithm)
    return _h(hash_fn, f"{username}:{realm}:{password}")


def compute_response(
    *,
    ha1: str,
    algorithm: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (request-digest) of RFC 7616 section 3.4.1.

    ``qop=None`` is the RFC 2069 form ``KD(HA1, nonce:HA2)``. ``qop`` ``auth-int`` hashes
    ``body`` into A2.
    """
    hash_fn, sess = _split_algorithm(algorithm)
    if sess:
        if cnonce is None:
            raise ValueError(f"algorithm {algorithm} needs a cnonce")
        ha1 = _h(hash_fn, f"{ha1}:{nonce}:{cnonce}")
    if qop is None:
        a2 = f"{method}:{uri}"
        return _h(hash_fn, f"{ha1}:{nonce}:{_h(hash_fn, a2)}")
    qop_l = qop.lower()
    if qop_l == "auth":
        a2 = f"{method}:{uri}"
    elif qop_l == "auth-int":
        a2 = f"{method}:{uri}:{hash_fn(body)}"
    else:
        raise ValueError(f"unsupported qop {qop!r}; expected 'auth' or 'auth-int'")
    if nc is None or cnonce is None:
        raise ValueError("qop needs both nc and cnonce")
    return _h(hash_fn, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{_h(hash_fn, a2)}")


# --------------------------------------------------------------------------- grammar

_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_TOKEN68_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/"
)
_WS = " \t\r\n"


@dataclass(slots=True)
class _AuthItem:
    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None


class _Scanner:
    """Cursor over one header value; every read skips linear white space first."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        self.pos = pos

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self) -> str:
        self.skip_ws()
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] in _TOKEN_CHARS:
            self.pos += 1
        return text[start : self.pos]

    def quoted(self) -> str:
        """A quoted-string (opening quote at the cursor), backslash escapes resolved."""
        text = self.text
        pos = self.pos + 1
        out: list[str] = []
        while pos < len(text):
            ch = text[pos]
            if ch == '"':
                self.pos = pos + 1
                return "".join(out)
            if ch == "\\":
                pos += 1
                if pos >= len(text):
                    break
                ch = text[pos]
            out.append(ch)
            pos += 1
        raise AuthParseError(f"unterminated quoted string in {self.text!r}")


def _parse_auth_items(value: str) -> list[_AuthItem]:
    """Parse ``1#challenge`` / credentials: ``scheme [token68 | #auth-param]``, repeated.

    Tells a new challenge from another parameter of the current one by what follows the
    token: ``name=`` is a parameter, ``name`` followed by white space and something else is
    the next scheme (RFC 7235 section 4.1).
    """
    if not isinstance(value, str):
        raise TypeError(f"expected a header value str, got {type(value).__name__}")
    sc = _Scanner(value)
    items: list[_AuthItem] = []
    current: _AuthItem | None = None
    while True:
        # list elements may be empty: "a, , b"
        while sc.peek() == ",":
            sc.pos += 1
        if sc.at_end():
            break
        name = sc.token()
        if not name:
            raise AuthParseError(
                f"unexpected character {value[sc.pos]!r} at offset {sc.pos} in {value!r}"
            )
        if sc.peek() == "=":
            if current is None:
                raise AuthParseError(f"missing authentication scheme in {value!r}")
            sc.pos += 1
            if sc.peek() == '"':
                val = sc.quoted()
            else:
                val = sc.token()
                if not val:
                    raise AuthParseError(f"parameter {name!r} has no value in {value!r}")
            key = name.lower()
            if key in current.params:
                raise AuthParseError(f"parameter {name!r} repeated in {value!r}")
            current.params[key] = val
        else:
            # a bare token starts a new challenge (its scheme)
            current = _AuthItem(scheme=name)
            items.append(current)
            if name.lower() != "digest":
                # token68 form, e.g. "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
                sc.skip_ws()
                mark = sc.pos
                t68 = _read_token68(sc)
                if t68 and (sc.at_end() or sc.peek() == ","):
                    current.token68 = t68
                else:
                    sc.pos = mark
        nxt = sc.peek()
        if nxt not in ("", ","):
            # a new scheme may follow without a comma only right after the scheme name
            if current is not None and not current.params and current.token68 is None:
                continue
            raise AuthParseError(f"expected ',' at offset {sc.pos} in {value!r}")
    return items


def _read_token68(sc: _Scanner) -> str:
    text = sc.text
    start = sc.pos
    pos = start
    while pos < len(text) and text[pos] in _TOKEN68_CHARS:
        pos += 1
    if pos == start:
        return ""
    while pos < len(text) and text[pos] == "=":
        pos += 1
    sc.pos = pos
    return text[start:pos]


def _canonical_algorithm(raw: str | None) -> str:
    return "MD5" if raw is None else raw.strip().upper()


@dataclass(frozen=True, slots=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` / ``Proxy-Authenticate`` challenge."""

    scheme: str
    realm: str = ""
    nonce: str = ""
    algorithm: str | None = None  # as sent (None: absent, which means MD5)
    qop: tuple[str, ...] = ()  # lower-case options; () means RFC 2069 style
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    userhash: bool = False
    charset: str | None = None
    params: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    @property
    def algorithm_name(self) -> str:
        """Upper-case algorithm, ``MD5`` when absent."""
        return _canonical_algorithm(self.algorithm)

    @property
    def supported(self) -> bool:
        """Digest, an algorithm we can compute, and (if qop is offered) a qop we can do."""
        if not self.is_digest or self.algorithm_name not in _STRENGTH:
            return False
        return not self.qop or "auth" in self.qop or "auth-int" in self.qop


def _item_to_challenge(item: _AuthItem) -> Challenge:
    p = item.params
    if item.scheme.lower() != "digest":
        return Challenge(scheme=item.scheme, realm=p.get("realm", ""), params=dict(p))
    if "realm" not in p:
        raise AuthParseError("digest challenge without realm")
    nonce = p.get("nonce")
    if not nonce:
        raise AuthParseError("digest challenge without nonce" if nonce is None else
                             "digest challenge with an empty nonce")
    qop: tuple[str, ...] = ()
    if "qop" in p:
        qop = tuple(q.strip().lower() for q in p["qop"].split(",") if q.strip())
        if not qop:
            raise AuthParseError("digest challenge with an empty qop")
    return Challenge(
        scheme=item.scheme,
        realm=p["realm"],
        nonce=nonce,
        algorithm=p.get("algorithm"),
        qop=qop,
        opaque=p.get("opaque"),
        stale=p.get("stale", "").lower() == "true",
        domain=p.get("domain"),
        userhash=p.get("userhash", "").lower() == "true",
        charset=p.get("charset"),
        params=dict(p),
    )


def parse_challenges(value: str) -> list[Challenge]:
    """Every challenge in one header value (comma-joined challenges are allowed).

    Non-digest schemes come back with ``is_digest == False``. Raises
    :class:`AuthParseError` (a ValueError) when the value is malformed, including a
    digest challenge without ``realm`` or ``nonce`` (``realm=""`` is legal).
    """
    return [_item_to_challenge(item) for item in _parse_auth_items(value)]


def parse_challenge(value: str) -> Challenge:
    """The single digest challenge in ``value``; ValueError if there is none."""
    for ch in parse_challenges(value):
        if ch.is_digest:
            return ch
    raise AuthParseError(f"no Digest challenge in {value!r}")


def choose_challenge(values: Iterable[str | Challenge], realm: str | None = None) -> Challenge:
    """The challenge to answer among every ``WWW-Authenticate`` (or ``Proxy-...``) value.

    RFC 7616 section 3.7 says to use the strongest algorithm understood; RFC 8760 section
    2.4 has the server list them in preference order, so among equally strong challenges
    the first one wins. Values that do not parse, other schemes and algorithms we cannot
    compute are skipped. ``realm`` restricts the choice to one realm (several proxies may
    each challenge a request; answer each realm separately). ValueError if nothing fits.
    """
    best: Challenge | None = None
    best_rank = -1
    seen = 0
    for value in values:
        if isinstance(value, Challenge):
            candidates = [value]
        else:
            try:
                candidates = parse_challenges(value)
            except AuthParseError:
                continue
        for ch in candidates:
            seen += 1
            if not ch.supported or (realm is not None and ch.realm != realm):
                continue
            rank = _STRENGTH[ch.algorithm_name]
            if rank > best_rank:
                best, best_rank = ch, rank
    if best is None:
        raise ValueError(
            f"none of the {seen} challenge(s) is a digest challenge we support"
            + (f" for realm {realm!r}" if realm is not None else "")
        )
    return best


# --------------------------------------------------------------------------- credentials

@dataclass(frozen=True, slots=True)
class Credentials:
    """One parsed ``Authorization`` / ``Proxy-Authorization`` value (digest scheme)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None
    userhash: bool = False
    params: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def algorithm_name(self) -> str:
        return _canonical_algorithm(self.algorithm)


_HEX = frozenset("0123456789abcdefABCDEF")


def parse_credentials(value: str) -> Credentials:
    """Parse digest credentials; :class:`AuthParseError` when anything required is off."""
    items = _parse_auth_items(value)
    if len(items) != 1:
        raise AuthParseError(f"expected exactly one credentials item in {value!r}")
    item = items[0]
    if item.scheme.lower() != "digest":
        raise AuthParseError(f"not Digest credentials: scheme {item.scheme!r}")
    p = item.params
    for required in ("username", "realm", "nonce", "uri", "response"):
        if required not in p:
            raise AuthParseError(f"digest credentials without {required}")
    for nonempty in ("username", "nonce", "uri", "response"):
        if not p[nonempty]:
            raise AuthParseError(f"digest credentials with an empty {nonempty}")
    qop = p.get("qop")
    nc = p.get("nc")
    cnonce = p.get("cnonce")
    if qop is not None:
        if nc is None or cnonce is None:
            raise AuthParseError("digest credentials with qop but without nc/cnonce")
        if len(nc) != 8 or not set(nc) <= _HEX:
            raise AuthParseError(f"nc must be 8 hex digits, got {nc!r}")
        if not cnonce:
            raise AuthParseError("digest credentials with an empty cnonce")
    if not set(p["response"]) <= _HEX:
        raise AuthParseError("digest response is not hexadecimal")
    return Credentials(
        username=p["username"],
        realm=p["realm"],
        nonce=p["nonce"],
        uri=p["uri"],
        response=p["response"].lower(),
        algorithm=p.get("algorithm"),
        cnonce=cnonce,
        nc=nc,
        qop=qop,
        opaque=p.get("opaque"),
        userhash=p.get("userhash", "").lower() == "true",
        params=dict(p),
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _no_crlf(name: str, text: str) -> str:
    if "\r" in text or "\n" in text:
        raise ValueError(f"{name} must not contain CR or LF")
    return text


# --------------------------------------------------------------------------- client

def _pick_qop(challenge: Challenge) -> str | None:
    if not challenge.qop:
        return None
    if "auth" in challenge.qop:
        return "auth"
    if "auth-int" in challenge.qop:
        return "auth-int"
    raise ValueError(f"challenge offers no qop we support: {challenge.qop!r}")


def build_authorization(
    challenge: Challenge | str,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``.

    Pure function (no state): :class:`DigestClient` supplies the cnonce and nc. ``qop=auth``
    is used when offered, else ``auth-int`` (``body`` is then hashed), else the RFC 2069
    form without cnonce/nc. Parameter order follows RFC 3261's examples.
    """
    ch = parse_challenge(challenge) if isinstance(challenge, str) else challenge
    if not ch.is_digest:
        raise ValueError(f"cannot answer a {ch.scheme!r} challenge with digest")
    if not method or not uri:
        raise ValueError("method and uri are required")
    if not 0 < nc <= 0xFFFFFFFF:
        raise ValueError(f"nc must be within 1..0xffffffff, got {nc}")
    for name, text in (("method", method), ("uri", uri), ("username", username)):
        _no_crlf(name, text)
    algorithm = ch.algorithm_name
    hash_fn, sess = _split_algorithm(algorithm)
    qop = _pick_qop(ch)
    nc_text = f"{nc:08x}"
    ha1 = compute_ha1(username, ch.realm, password, algorithm)
    response = compute_response(
        ha1=ha1,
        algorithm=algorithm,
        method=method,
        uri=uri,
        nonce=ch.nonce,
        qop=qop,
        nc=nc_text if qop else None,
        cnonce=cnonce if (qop or sess) else None,
        body=body,
    )
    shown_user = _h(hash_fn, f"{username}:{ch.realm}") if ch.userhash else username
    parts = [
        f"username={_quote(shown_user)}",
        f"realm={_quote(ch.realm)}",
        f"nonce={_quote(ch.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
    ]
    if ch.algorithm is not None:
        parts.append(f"algorithm={ch.algorithm}")
    if qop or sess:
        parts.append(f"cnonce={_quote(cnonce)}")
    if ch.opaque is not None:
        parts.append(f"opaque={_quote(ch.opaque)}")
    if qop:
        parts.append(f"qop={qop}")
        parts.append(f"nc={nc_text}")
    if ch.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


def _default_cnonce() -> str:
    return secrets.token_hex(16)


class DigestClient:
    """Answers digest challenges for one set of credentials, counting nc per nonce.

    Reusing a nonce (the server accepted it and challenges are cached) sends nc
    00000001, 00000002, ... for that nonce; a new nonce restarts at 1. Only the most
    recent ``max_nonces`` nonces are remembered.
    """

    __slots__ = ("_cnonce", "_counts", "_max_nonces", "_password", "username")

    def __init__(
        self,
        username: str,
        password: str,
        *,
        cnonce_factory: Callable[[], str] | None = None,
        max_nonces: int = 64,
    ) -> None:
        if not isinstance(username, str) or not isinstance(password, str):
            raise TypeError("username and password must be str")
        if max_nonces < 1:
            raise ValueError("max_nonces must be at least 1")
        self.username = username
        self._password = password
        self._cnonce = cnonce_factory or _default_cnonce
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._max_nonces = max_nonces

    def next_nc(self, nonce: str) -> int:
        """Advance and return the nonce count for ``nonce``."""
        count = self._counts.pop(nonce, 0) + 1
        self._counts[nonce] = count
        while len(self._counts) > self._max_nonces:
            self._counts.popitem(last=False)
        return count

    def authorize(
        self,
        challenge: Challenge | str | Iterable[str],
        method: str,
        uri: str,
        body: bytes = b"",
    ) -> str:
        """Header value answering ``challenge`` (a parsed one, one value, or every value)."""
        if isinstance(challenge, Challenge):
            ch = challenge
        elif isinstance(challenge, str):
            ch = choose_challenge([challenge])
        else:
            ch = choose_challenge(challenge)
        if not ch.supported:
            raise ValueError(f"unsupported challenge: algorithm {ch.algorithm_name}, qop {ch.qop}")
        return build_authorization(
            ch,
            method=method,
            uri=uri,
            username=self.username,
            password=self._password,
            cnonce=self._cnonce(),
            nc=self.next_nc(ch.nonce),
            body=body,
        )


# --------------------------------------------------------------------------- server

class VerifyStatus(Enum):
    OK = "ok"
    #: wrong password, unknown user, other realm/algorithm, nonce not ours and digest wrong
    WRONG_CREDENTIALS = "wrong-credentials"
    #: digest right but nonce expired (or signed with an old key): re-challenge, stale=true
    STALE = "stale"
    #: unparseable or incomplete credentials: answer 400 (or re-challenge)
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    status: VerifyStatus
    reason: str = ""
    username: str | None = None
    credentials: Credentials | None = None

    @property
    def ok(self) -> bool:
        return self.status is VerifyStatus.OK

    def __bool__(self) -> bool:
        return self.ok


Lookup = Callable[[str], str | None]

_NONCE_RAW = struct.Struct(">Q8s")  # milliseconds, random
_MAC_LEN = 16
_NONCE_LEN = _NONCE_RAW.size + _MAC_LEN
#: Nonces dated this far in the future (clock steps between challenge and verify) still pass.
_CLOCK_SKEW = 5.0


class DigestServer:
    """Issues and checks digest challenges without keeping per-nonce state.

    The nonce is ``base64url(timestamp_ms | 8 random bytes | HMAC-SHA256(key, ...)[:16])``,
    so any worker sharing ``secret_key`` can check it and its age. Stateless means a
    captured request can be replayed while its nonce is fresh: keep ``nonce_ttl`` short,
    or track ``credentials.nc`` per nonce in the caller.
    """

    __slots__ = ("_key", "algorithm", "nonce_ttl", "opaque", "qop", "realm")

    def __init__(
        self,
        realm: str,
        secret_key: bytes,
        nonce_ttl: float = 300.0,
        algorithm: str = "MD5",
        qop: str | None = "auth",
        opaque: str | None = None,
    ) -> None:
        if not isinstance(realm, str):
            raise TypeError("realm must be str")
        _no_crlf("realm", realm)
        if not isinstance(secret_key, bytes | bytearray) or len(secret_key) < 16:
            raise ValueError("secret_key must be at least 16 bytes")
        if nonce_ttl <= 0:
            raise ValueError("nonce_ttl must be positive")
        _split_algorithm(algorithm)
        if algorithm.upper().endswith("-SESS") and qop is None:
            raise ValueError("-sess algorithms need a qop")
        qops = [] if qop is None else [q.strip().lower() for q in qop.split(",")]
        if qop is not None and (not qops or not set(qops) <= {"auth", "auth-int"}):
            raise ValueError(f"qop must be 'auth', 'auth-int', 'auth,auth-int' or None, got {qop!r}")
        self.realm = realm
        self._key = bytes(secret_key)
        self.nonce_ttl = float(nonce_ttl)
        self.algorithm = algorithm.upper().replace("-SESS", "-sess")
        self.qop = None if qop is None else ",".join(qops)
        self.opaque = opaque

    # -- nonces
    def _mac(self, raw: bytes) -> bytes:
        msg = raw + self.realm.encode("utf-8")
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:_MAC_LEN]

    def make_nonce(self, now: float) -> str:
        raw = _NONCE_RAW.pack(max(0, int(now * 1000)), secrets.token_bytes(8))
        return base64.urlsafe_b64encode(raw + self._mac(raw)).decode("ascii").rstrip("=")

    def nonce_age(self, nonce: str, now: float) -> float | None:
        """Seconds since ``nonce`` was issued, or None if it is not one of ours."""
        try:
            blob = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(blob) != _NONCE_LEN:
            return None
        raw, mac = blob[: _NONCE_RAW.size], blob[_NONCE_RAW.size :]
        if not hmac.compare_digest(mac, self._mac(raw)):
            return None
        millis: int = _NONCE_RAW.unpack(raw)[0]
        return now - millis / 1000.0

    # -- challenge
    def challenge(self, now: float, stale: bool = False) -> str:
        """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` value with a fresh nonce."""
        parts = [
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.make_nonce(now))}",
        ]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if stale:
            parts.append("stale=TRUE")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop is not None:
            parts.append(f"qop={_quote(self.qop)}")
        return "Digest " + ", ".join(parts)

    # -- verification
    def verify(
        self,
        authorization: str,
        method: str,
        now: float,
        *,
        password: str | Lookup | None = None,
        ha1: str | Lookup | None = None,
        body: bytes = b"",
        request_uri: str | None = None,
    ) -> VerifyResult:
        """Check ``Authorization`` credentials for a request with ``method``.

        Give exactly one of ``password`` / ``ha1``: a value, or a function of the
        username returning it (None for an unknown user). An ``ha1`` must be
        :func:`compute_ha1` for this server's realm and algorithm. ``request_uri``, when
        given, must equal the credentials' ``uri``. Compares digests in constant time.
        """
        if (password is None) == (ha1 is None):
            raise TypeError("give exactly one of password= or ha1=")
        try:
            cred = parse_credentials(authorization)
        except AuthParseError as exc:
            return VerifyResult(VerifyStatus.MALFORMED, str(exc))
        user = cred.username
        if cred.userhash:
            return VerifyResult(
                VerifyStatus.MALFORMED, "userhash credentials are not supported", user, cred
            )

        def wrong(reason: str) -> VerifyResult:
            return VerifyResult(VerifyStatus.WRONG_CREDENTIALS, reason, user, cred)

        if cred.realm != self.realm:
            return wrong(f"realm {cred.realm!r} is not {self.realm!r}")
        if cred.algorithm_name != self.algorithm.upper():
            return wrong(f"algorithm {cred.algorithm_name} is not {self.algorithm}")
        if self.qop is not None:
            if cred.qop is None:
                return VerifyResult(VerifyStatus.MALFORMED, "qop missing", user, cred)
            if cred.qop.lower() not in self.qop.split(","):
                return VerifyResult(
                    VerifyStatus.MALFORMED, f"qop {cred.qop!r} was not offered", user, cred
                )
        if request_uri is not None and cred.uri != request_uri:
            return VerifyResult(
                VerifyStatus.MALFORMED, "uri does not match the request-URI", user, cred
            )
        if self.opaque is not None and cred.opaque != self.opaque:
            return wrong("opaque does not match")

        if password is not None:
            secret = password(user) if callable(password) else password
            if secret is None:
                return wrong("unknown user")
            user_ha1 = compute_ha1(user, self.realm, secret, self.algorithm)
        else:
            assert ha1 is not None
            found = ha1(user) if callable(ha1) else ha1
            if found is None:
                return wrong("unknown user")
            user_ha1 = found.lower()
        try:
            expected = compute_response(
                ha1=user_ha1,
                algorithm=self.algorithm,
                method=method,
                uri=cred.uri,
                nonce=cred.nonce,
                qop=cred.qop,
                nc=cred.nc,
                cnonce=cred.cnonce,
                body=body,
            )
        except ValueError as exc:
            return VerifyResult(VerifyStatus.MALFORMED, str(exc), user, cred)
        if not hmac.compare_digest(expected.encode("ascii"), cred.response.encode("ascii")):
            return wrong("digest does not match")
        age = self.nonce_age(cred.nonce, now)
        if age is None:
            # right password, nonce not ours (e.g. issued under a previous key)
            return VerifyResult(VerifyStatus.STALE, "nonce not issued here", user, cred)
        if age > self.nonce_ttl or age < -_CLOCK_SKEW:
            return VerifyResult(VerifyStatus.STALE, f"nonce is {age:.1f}s old", user, cred)
        return VerifyResult(VerifyStatus.OK, "", user, cred)
