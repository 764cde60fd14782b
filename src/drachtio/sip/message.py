"""Requests and responses: a start line, ``Headers`` and a body.

A parsed message keeps the bytes it came from; until something is changed ``to_bytes()``
returns them unchanged. Once changed (or when built in code) it is serialised from its
parts with CRLF line ends and a Content-Length recomputed from the body.
"""

from __future__ import annotations

from typing import Any

from drachtio.sip.errors import SipParseError
from drachtio.sip.grammar import is_token
from drachtio.sip.headers import (
    PARSERS,
    SINGLE_HEADERS,
    CSeq,
    Headers,
    MediaType,
    NameAddr,
    Via,
)
from drachtio.sip.uri import SipURI

__all__ = ["REASON_PHRASES", "Message", "Request", "Response", "reason_phrase"]

REASON_PHRASES: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated", 200: "OK", 202: "Accepted",
    204: "No Notification", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority", 420: "Bad Extension",
    421: "Extension Required", 422: "Session Interval Too Small", 423: "Interval Too Brief",
    428: "Use Identity Header", 429: "Provide Referrer Identity", 433: "Anonymity Disallowed",
    436: "Bad Identity-Info", 437: "Unsupported Certificate", 438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support", 440: "Max-Breadth Exceeded",
    469: "Bad Info Package", 470: "Consent Needed", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    494: "Security Agreement Required", 500: "Server Internal Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 555: "Push Notification Service Not Supported",
    580: "Precondition Failure", 600: "Busy Everywhere", 603: "Decline",
    604: "Does Not Exist Anywhere", 606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
}


def reason_phrase(status: int) -> str:
    """The usual reason phrase for a status code (by class when the code is unknown)."""
    phrase = REASON_PHRASES.get(status)
    if phrase is not None:
        return phrase
    return {1: "Trying", 2: "OK", 3: "Redirect", 4: "Client Error", 5: "Server Error",
            6: "Global Failure"}.get(status // 100, "Unknown")


_MISSING = object()


def _to_body(body: object) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    raise TypeError(f"body must be bytes or str, got {type(body).__name__}")


def _to_headers(headers: object) -> Headers:
    if headers is None:
        return Headers()
    if isinstance(headers, Headers):
        return headers
    return Headers(headers)  # type: ignore[arg-type]


class Message:
    """What requests and responses share: headers, body and the parsed-view accessors.

    Views (``top_via``, ``from_``, ``parsed(...)``) are parsed once and cached; they are
    snapshots of the header text, so a changed view is written back with ``set`` or
    ``replace_first`` before it shows in ``to_bytes()``.
    """

    __slots__ = ("_body", "_headers", "_raw", "extra")

    _headers: Headers
    _body: bytes
    _raw: bytes | None
    #: Bytes that followed this message in the same datagram (see RFC 4475 TC_DBLREQ).
    extra: bytes

    # -- identity ----------------------------------------------------------------------
    @property
    def is_request(self) -> bool:
        return isinstance(self, Request)

    @property
    def is_response(self) -> bool:
        return isinstance(self, Response)

    def _start_line(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- storage -----------------------------------------------------------------------
    @property
    def headers(self) -> Headers:
        return self._headers

    @headers.setter
    def headers(self, value: Headers) -> None:
        if not isinstance(value, Headers):
            raise TypeError(f"headers must be Headers, got {type(value).__name__}")
        self._headers = value
        self._raw = None

    @property
    def body(self) -> bytes:
        return self._body

    @body.setter
    def body(self, value: bytes | bytearray | str) -> None:
        self._body = _to_body(value)
        self._raw = None

    @property
    def modified(self) -> bool:
        """True when ``to_bytes()`` must serialise rather than return the received bytes."""
        return self._raw is None or self._headers._dirty

    # -- header access (delegates to Headers) ------------------------------------------
    def get(self, name: str) -> str | None:
        return self._headers.get(name)

    def get_all(self, name: str) -> list[str]:
        return self._headers.get_all(name)

    def get_lines(self, name: str) -> list[str]:
        return self._headers.get_lines(name)

    def has(self, name: str) -> bool:
        return self._headers.has(name)

    def set(self, name: str, value: object) -> None:
        self._headers.set(name, value)

    def append(self, name: str, value: object) -> None:
        self._headers.append(name, value)

    def prepend(self, name: str, value: object) -> None:
        self._headers.prepend(name, value)

    def remove(self, name: str) -> int:
        return self._headers.remove(name)

    def replace_first(self, name: str, value: object) -> None:
        """See ``Headers.replace_first``: write back a changed view (top Via...)."""
        self._headers.replace_first(name, value)

    def parsed(self, name: str) -> Any:
        """Typed view of a header (see ``Headers.parsed``); raises ``SipParseError`` when
        the header breaks its grammar."""
        return self._headers.parsed(name)

    def _required(self, key: str) -> Any:
        view = self._headers.parsed(key)
        if view is None or view == []:
            raise SipParseError(f"missing {key} header", message=self)
        return view

    # -- hot-path accessors (parsed once, cached) --------------------------------------
    @property
    def call_id(self) -> str:
        v = self._headers._cache.get("call-id")
        if v is None:
            v = self._required("call-id")
        return v  # type: ignore[return-value]

    @property
    def cseq(self) -> CSeq:
        v = self._headers._cache.get("cseq")
        if v is None:
            v = self._required("cseq")
        return v  # type: ignore[return-value]

    @property
    def vias(self) -> list[Via]:
        v = self._headers._cache.get("via")
        if v is None:
            v = self._headers.parsed("via")
        return v  # type: ignore[return-value]

    @property
    def top_via(self) -> Via:
        cache = self._headers._cache
        top = cache.get("_top_via")
        if top is not None:
            return top  # type: ignore[return-value]
        v = cache.get("via")
        if v:
            return v[0]  # type: ignore[no-any-return,index]
        vias = self.vias
        if not vias:
            raise SipParseError("missing Via header", message=self)
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        v = self._headers._cache.get("from")
        if v is None:
            v = self._required("from")
        return v  # type: ignore[return-value]

    @property
    def to(self) -> NameAddr:
        v = self._headers._cache.get("to")
        if v is None:
            v = self._required("to")
        return v  # type: ignore[return-value]

    @property
    def contacts(self) -> list[NameAddr]:
        return self._headers.parsed("contact")  # type: ignore[no-any-return]

    @property
    def routes(self) -> list[NameAddr]:
        return self._headers.parsed("route")  # type: ignore[no-any-return]

    @property
    def record_routes(self) -> list[NameAddr]:
        return self._headers.parsed("record-route")  # type: ignore[no-any-return]

    @property
    def max_forwards(self) -> int | None:
        return self._headers.parsed("max-forwards")  # type: ignore[no-any-return]

    @property
    def expires(self) -> int | None:
        return self._headers.parsed("expires")  # type: ignore[no-any-return]

    @property
    def content_length(self) -> int | None:
        """The Content-Length header's value (``None`` when absent); see ``body``."""
        return self._headers.parsed("content-length")  # type: ignore[no-any-return]

    @property
    def media_type(self) -> MediaType | None:
        return self._headers.parsed("content-type")  # type: ignore[no-any-return]

    @property
    def content_type(self) -> str | None:
        """``type/subtype`` of the body, lower case, without parameters."""
        mt = self._headers.parsed("content-type")
        return mt.mime if mt is not None else None

    @property
    def supported(self) -> list[str]:
        return self._headers.parsed("supported") or []

    @property
    def require(self) -> list[str]:
        return self._headers.parsed("require") or []

    # -- validation --------------------------------------------------------------------
    def validate(self) -> None:
        """Check what parsing leaves lazy; raise ``SipParseError`` (status 400, ``message``
        set to this message) with a reason fit for a 400 response on the first problem.

        Checks: the mandatory headers are present; every header with a known grammar
        parses (all Vias, Contact, Route, Expires, Content-Type, auth...); single-valued
        headers occur once; the CSeq method matches the request method; a sip/sips/tel
        Request-URI is well formed and carries no headers; Content-Length matches the body.
        """
        try:
            self._validate()
        except SipParseError as e:
            if e.message is None:
                e.message = self
            raise
        except Exception as e:  # parsers must only ever raise SipParseError
            raise SipParseError(f"malformed message: {e}", message=self) from None

    def _validate(self) -> None:
        h = self._headers
        for key in ("via", "from", "to", "call-id", "cseq"):
            if not h.has(key):
                raise SipParseError(f"missing {key} header")
        seen: dict[str, str] = {}
        for key, value in zip(h._keys, h._values, strict=True):
            if key in SINGLE_HEADERS:
                prev = seen.get(key)
                if prev is not None:
                    raise SipParseError(f"multiple {key} headers")
                seen[key] = value
            if key in PARSERS:
                h.parsed(key)
        if not self.vias:
            raise SipParseError("missing Via header")
        if isinstance(self, Request):
            if self.cseq.method != self.method:
                raise SipParseError(
                    f"CSeq method {self.cseq.method} does not match request method "
                    f"{self.method}")
            ruri = self.parsed_uri
            if ruri is not None and ruri.headers:
                raise SipParseError("escaped headers in the Request-URI are not allowed")
        cl = self.content_length
        if cl is not None and cl != len(self._body):
            raise SipParseError(f"Content-Length {cl} does not match body length "
                                f"{len(self._body)}")

    # -- output ------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The message on the wire: the received bytes when unmodified, else serialised
        with CRLFs and ``Content-Length`` set to the body's length in bytes."""
        raw = self._raw
        if raw is not None and not self._headers._dirty:
            return raw
        return self._serialise()

    __bytes__ = to_bytes

    def freeze(self) -> bytes:
        """``to_bytes()``, remembered: a message sent and retransmitted (or echoed) many
        times is encoded once. A later change to the headers or body re-serialises."""
        data = self.to_bytes()
        if not self._headers._dirty:
            self._raw = data
        return data

    def replace_top_via(self, via: Via) -> None:
        """Write back a changed top Via view (``received``/``rport`` stamped on arrival).

        A received, unmodified message keeps its bytes: the new Via text is spliced into
        them, so relaying it does not re-serialise the whole message (this runs for every
        request a server receives)."""
        h = self._headers
        new_text = str(via)
        old = h._swap_first("via", new_text)
        if old is None:
            raise SipParseError("missing Via header", message=self)
        raw = self._raw
        if raw is not None and not h._dirty:
            old_b = old.encode("utf-8", "surrogateescape")
            pos = raw.find(old_b)
            if pos > 0:
                new_b = new_text.encode("utf-8", "surrogateescape")
                self._raw = raw[:pos] + new_b + raw[pos + len(old_b):]
                return
        h._dirty = True

    def _serialise(self) -> bytes:
        body = self._body
        h = self._headers
        lines = [self._start_line()]
        lines += [f"{n}: {v}" for n, v in zip(h._names, h._values, strict=True)]
        keys = h._keys
        if "content-length" in keys:
            # the first one carries the body's real length; repeats are dropped
            at = [i for i, k in enumerate(keys) if k == "content-length"]
            lines[at[0] + 1] = f"{h._names[at[0]]}: {len(body)}"
            for i in reversed(at[1:]):
                del lines[i + 1]
        else:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body

    def __str__(self) -> str:
        return self.to_bytes().decode("utf-8", "replace")

    def copy(self) -> Message:  # pragma: no cover - overridden
        raise NotImplementedError


class Request(Message):
    """A SIP request. ``uri`` is the Request-URI text; ``parsed_uri`` its parsed form."""

    __slots__ = ("_method", "_parsed_uri", "_uri", "_version")

    def __init__(
        self,
        method: str,
        uri: str | SipURI,
        headers: list[tuple[str, str]] | Headers | None = None,
        body: bytes | bytearray | str = b"",
        version: str = "SIP/2.0",
    ) -> None:
        if not isinstance(method, str) or not is_token(method):
            raise ValueError(f"method must be a token str, got {method!r}")
        if isinstance(uri, SipURI):
            self._parsed_uri: SipURI | object | None = uri
            uri = str(uri)
        elif isinstance(uri, str) and uri and not any(c in uri for c in " \t\r\n"):
            self._parsed_uri = _MISSING
        else:
            raise ValueError(f"uri must be SipURI or a URI str without spaces, got {uri!r}")
        self._method = method
        self._uri = uri
        self._version = version
        self._headers = _to_headers(headers)
        self._body = _to_body(body)
        self._raw = None
        self.extra = b""

    @property
    def method(self) -> str:
        return self._method

    @method.setter
    def method(self, value: str) -> None:
        if not isinstance(value, str) or not is_token(value):
            raise ValueError(f"method must be a token str, got {value!r}")
        self._method = value
        self._raw = None

    @property
    def uri(self) -> str:
        return self._uri

    @uri.setter
    def uri(self, value: str | SipURI) -> None:
        if isinstance(value, SipURI):
            self._parsed_uri = value
            value = str(value)
        elif isinstance(value, str) and value and not any(c in value for c in " \t\r\n"):
            self._parsed_uri = _MISSING
        else:
            raise ValueError(f"uri must be SipURI or a URI str without spaces, got {value!r}")
        self._uri = value
        self._raw = None

    @property
    def version(self) -> str:
        return self._version

    @property
    def parsed_uri(self) -> SipURI | None:
        """The Request-URI parsed (``None`` for schemes other than sip/sips/tel); raises
        ``SipParseError`` when a sip/sips/tel URI is malformed."""
        p = self._parsed_uri
        if p is _MISSING:
            scheme = self._uri.partition(":")[0].lower()
            p = SipURI.parse(self._uri) if scheme in ("sip", "sips", "tel") else None
            self._parsed_uri = p
        return p  # type: ignore[return-value]

    def _start_line(self) -> str:
        return f"{self._method} {self._uri} {self._version}"

    def create_response(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | bytearray | str = b"",
    ) -> Response:
        """A response per RFC 3261 8.2.6: Via lines, From, To (plus ``to_tag`` when it has
        none), Call-ID and CSeq copied from this request."""
        copied: list[tuple[str, str]] = []
        for name, key, value in zip(self._headers._names, self._headers._keys,
                                    self._headers._values, strict=True):
            if key in ("via", "from", "call-id", "cseq"):
                copied.append((name, value))
            elif key == "to":
                if to_tag is not None and status != 100:
                    to = NameAddr.parse(value)
                    if to.tag is None:
                        value = str(to.with_tag(to_tag))
                copied.append((name, value))
        resp = Response(status, reason, copied, body)
        for name, value in headers or ():
            resp.append(name, value)
        return resp

    def copy(self) -> Request:
        r = Request(self._method, self._uri, self._headers.copy(), self._body, self._version)
        return r

    def __repr__(self) -> str:
        return f"<Request {self._method} {self._uri}>"


class Response(Message):
    """A SIP response."""

    __slots__ = ("_reason", "_status", "_version")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | Headers | None = None,
        body: bytes | bytearray | str = b"",
        version: str = "SIP/2.0",
    ) -> None:
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 699:
            raise ValueError(f"status must be an int 100..699, got {status!r}")
        if reason is None:
            reason = reason_phrase(status)
        elif not isinstance(reason, str) or any(c in reason for c in "\r\n"):
            raise ValueError(f"reason must be a single-line str, got {reason!r}")
        self._status = status
        self._reason = reason
        self._version = version
        self._headers = _to_headers(headers)
        self._body = _to_body(body)
        self._raw = None
        self.extra = b""

    @property
    def status(self) -> int:
        return self._status

    @status.setter
    def status(self, value: int) -> None:
        if not isinstance(value, int) or not 100 <= value <= 699:
            raise ValueError(f"status must be an int 100..699, got {value!r}")
        self._status = value
        self._raw = None

    @property
    def reason(self) -> str:
        return self._reason

    @reason.setter
    def reason(self, value: str) -> None:
        if not isinstance(value, str) or any(c in value for c in "\r\n"):
            raise ValueError(f"reason must be a single-line str, got {value!r}")
        self._reason = value
        self._raw = None

    @property
    def version(self) -> str:
        return self._version

    @property
    def status_class(self) -> int:
        return self._status // 100

    def _start_line(self) -> str:
        return f"{self._version} {self._status} {self._reason}"

    def copy(self) -> Response:
        return Response(self._status, self._reason, self._headers.copy(), self._body,
                        self._version)

    def __repr__(self) -> str:
        return f"<Response {self._status} {self._reason}>"
