"""The SIP text an app sends inside a ``sip``/``proxy`` command, and the header rules for it.

Apps write SIP loosely (srf lower-cases header names and computes Content-Length in UTF-16
units), so this is deliberately not the network parser: the text is split into start line,
header lines and body, the app's Content-Length is ignored, and each header is sorted into
one of three kinds (wire-protocol.md 5.2):

* immutable (Via, Route, Record-Route, RSeq, Content-Length): dropped, the engine owns them;
* well-known: canonical spelling (``call-id`` -> ``Call-ID``), placed among the stack's
  headers;
* custom: name re-cased (``p-charge-info`` -> ``P-Charge-Info``, ``X-`` names kept),
  appended after Content-Length in the order given.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

__all__ = [
    "IMMUTABLE",
    "AppSip",
    "AppSipError",
    "canonical_name",
    "parse_app_sip",
    "substitute_localhost",
]

log = logging.getLogger("drachtio.engine")

#: Headers the app may not set (lower-case canonical names).
IMMUTABLE = frozenset({"via", "route", "record-route", "rseq", "content-length"})

_WELL_KNOWN = [
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "History-Info",
    "Identity", "Identity-Info", "In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires",
    "Min-SE", "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority",
    "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
    "Record-Route", "Refer-Sub", "Refer-To", "Referred-By", "Reject-Contact", "Remote-Party-ID",
    "Replaces", "Reply-To", "Request-Disposition", "Require", "Retry-After", "Route", "RSeq",
    "Security-Client", "Security-Server", "Security-Verify", "Server", "Service-Route",
    "Session-Expires", "SIP-ETag", "SIP-If-Match", "Subject", "Subscription-State", "Supported",
    "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
]  # fmt: skip

_COMPACT = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via",
    "o": "Event", "r": "Refer-To", "b": "Referred-By", "u": "Allow-Events",
    "x": "Session-Expires", "a": "Accept-Contact", "j": "Reject-Contact",
    "d": "Request-Disposition", "y": "Identity", "n": "Identity-Info",
}  # fmt: skip

_CANON: dict[str, str] = {n.lower(): n for n in _WELL_KNOWN}
_CANON.update({k: v for k, v in _COMPACT.items()})
_WELL_KNOWN_LOWER = frozenset(n.lower() for n in _WELL_KNOWN)

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_name_cache: dict[str, tuple[str, bool]] = {}


def _preserved() -> frozenset[str]:
    raw = os.environ.get("DRACHTIO_PRESERVE_HEADER_NAMES", "")
    return frozenset(n.strip().lower() for n in raw.split(",") if n.strip())


_PRESERVE = _preserved()


def canonical_name(name: str) -> tuple[str, bool]:
    """``(spelling to send, is_well_known)`` for a header name as the app wrote it."""
    hit = _name_cache.get(name)
    if hit is not None:
        return hit
    low = name.lower()
    canon = _CANON.get(low)
    if canon is not None:
        out = (canon, True)
    elif low.startswith("x-") or low in _PRESERVE:
        out = (name, False)
    else:
        out = ("-".join(p[:1].upper() + p[1:] for p in name.split("-")), False)
    if len(_name_cache) < 4096:
        _name_cache[name] = out
    return out


#: header name as written -> (spelling to send, 0 well-known / 1 custom / 2 immutable)
_header_info: dict[str, tuple[str, int]] = {}


def _classify(raw: str) -> tuple[str, int] | None:
    """Classify a header name (None: not a token); results cached for names seen often."""
    name = raw.strip()
    if not _TOKEN_RE.fullmatch(name):
        return None
    canon, is_known = canonical_name(name)
    kind = (2 if canon.lower() in IMMUTABLE else 0) if is_known else 1
    if len(_header_info) < 4096:
        _header_info[raw] = (canon, kind)
    return canon, kind


class AppSipError(ValueError):
    """The app's SIP text has no usable start line."""


@dataclass(slots=True)
class AppSip:
    """An app's SIP message: start line, cleaned headers, body (bytes, UTF-8)."""

    is_response: bool
    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    #: well-known headers (canonical name, value), in the order given
    known: list[tuple[str, str]] = field(default_factory=list)
    #: custom headers (re-cased name, value), in the order given
    custom: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str) -> str | None:
        """First value of a well-known header (canonical spelling, case-insensitive)."""
        low = name.lower()
        for n, v in self.known:
            if n.lower() == low:
                return v
        for n, v in self.custom:
            if n.lower() == low:
                return v
        return None

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, in order."""
        low = name.lower()
        return [v for n, v in (*self.known, *self.custom) if n.lower() == low]

    def pop(self, name: str) -> str | None:
        """Remove every value of a header; return the first."""
        low = name.lower()
        first: str | None = None
        for lst in (self.known, self.custom):
            keep = []
            for n, v in lst:
                if n.lower() == low:
                    if first is None:
                        first = v
                else:
                    keep.append((n, v))
            lst[:] = keep
        return first


_STATUS_RE = re.compile(r"SIP/2\.0[ \t]+(\d{3})(?:[ \t]+(.*))?\Z", re.I)
_REQUEST_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(\S+)[ \t]+SIP/2\.0\Z", re.I)


def parse_app_sip(text: str) -> AppSip:
    """Split the SIP part of an app command; raises AppSipError on a bad start line."""
    head, sep, body_text = text.partition("\r\n\r\n")
    if not sep:
        # tolerate bare LF line ends and a missing blank line (ACK with no headers)
        if "\n\n" in text:
            head, _, body_text = text.partition("\n\n")
        else:
            head, body_text = text, ""
    lines = head.split("\r\n")
    if "\n" in head and head.count("\n") != len(lines) - 1:
        lines = head.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise AppSipError("empty SIP message")
    start = lines[0].strip()
    if start[:8].upper() == "SIP/2.0 ":
        m = _STATUS_RE.match(start)
        if not m:
            raise AppSipError(f"bad status line {start[:80]!r}")
        status = int(m.group(1))
        if not 100 <= status <= 699:
            raise AppSipError(f"bad status code in {start!r}")
        msg = AppSip(True, status=status, reason=(m.group(2) or "").strip())
    else:
        m = _REQUEST_RE.match(start)
        if not m:
            raise AppSipError(f"bad start line {start[:80]!r}")
        msg = AppSip(False, method=m.group(1), uri=m.group(2))
    known = msg.known
    custom = msg.custom
    info = _header_info
    last: list[tuple[str, str]] | None = None  # list the previous header went to
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t":  # folded continuation of the previous header
            if last:
                n, v = last[-1]
                last[-1] = (n, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        hit = info.get(name)
        if hit is None:
            hit = _classify(name)
            if hit is None or not colon:
                if log.isEnabledFor(logging.INFO):
                    log.info("dropping malformed header line from app: %r", line[:100])
                last = None
                continue
        canon, kind = hit
        if kind == 2:  # immutable
            last = None
            continue
        value = value.strip()
        if "\r" in value:
            value = value.replace("\r", "")
        last = known if kind == 0 else custom
        last.append((canon, value))
    msg.body = body_text.encode("utf-8") if body_text else b""
    return msg


_LOCALHOST_RE = re.compile(r"(sips?:(?:[^@<>;\s]*@)?)localhost(?::\d+)?(?=[>;?\s]|$)", re.I)
_LOCALHOST_HEADERS = frozenset({"from", "to", "contact", "p-asserted-identity"})


def substitute_localhost(value: str, hostport: str) -> str:
    """Replace a ``localhost`` URI host by the transport's ``host:port``."""
    if "localhost" not in value.lower():
        return value
    return _LOCALHOST_RE.sub(lambda m: m.group(1) + hostport, value)


def localhost_header(name: str) -> bool:
    return name.lower() in _LOCALHOST_HEADERS
