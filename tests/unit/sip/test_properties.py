"""Property tests: round-trips of generated messages, and no exception but
SipParseError out of the parser (or of the lazy views) whatever the bytes."""

from __future__ import annotations

import string
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drachtio.sip import (
    Headers,
    NameAddr,
    Request,
    Response,
    SipParseError,
    SipURI,
    StreamParser,
    Via,
    canonical_key,
    parse_challenge,
    parse_message,
    parse_uri,
)
from drachtio.sip import parser as sip_parser
from drachtio.sip.errors import DEFAULT_LIMITS
from drachtio.sip.headers import PARSERS, CSeq

SEEDS = [p.read_bytes() for p in sorted((Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "rfc4475").glob("*.dat"))]
SEEDS.append(
    b"INVITE sip:bob@[2001:db8::10]:5070;transport=tcp SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP [2001:db8::9:1]:5060;branch=z9hG4bK1;rport;received=[2001:db8::9:255]\r\n"
    b"Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\n"
    b'From: "A \\"q\\"" <sip:a@example.com>;tag=1\r\nCall-ID: c@h\r\nCSeq: 1 INVITE\r\n'
    b"Contact: <sip:a@h;ob>;expires=60, *\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\n"
    b'WWW-Authenticate: Digest realm="r", nonce="n", qop="auth"\r\n'
    b"Session-Expires: 90;refresher=uac\r\nEvent: dialog;id=1\r\nRAck: 1 1 INVITE\r\n"
    b"Subscription-State: active;expires=10\r\nSupported: timer\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"
)

ACCESSORS = ("call_id", "cseq", "vias", "top_via", "from_", "to", "contacts", "routes",
             "record_routes", "max_forwards", "expires", "content_length", "content_type",
             "media_type", "supported", "require")


def exercise(m: Request | Response) -> None:
    """Touch every lazy view; each may only fail with SipParseError."""
    for attr in ACCESSORS:
        try:
            view = getattr(m, attr)
        except SipParseError:
            continue
        items = view if isinstance(view, list) else [view]
        for item in items:
            if isinstance(item, NameAddr):
                try:
                    str(item.uri)
                except SipParseError:
                    pass
                _ = (item.params, item.tag, item.expires, item.q, str(item))
            elif isinstance(item, Via):
                _ = (item.branch, item.rport, item.ttl, item.params, str(item))
    for name in PARSERS:
        try:
            m.parsed(name)
        except SipParseError:
            pass
    try:
        m.validate()
    except SipParseError:
        pass
    if isinstance(m, Request):
        try:
            _ = m.parsed_uri
        except SipParseError:
            pass
    m.to_bytes()
    str(m)
    m.set("X-Touched", "1")
    m.to_bytes()


def parse_or_none(data: bytes) -> Request | Response | None:
    try:
        return parse_message(data)
    except SipParseError as e:
        assert isinstance(e.reason, str) and e.reason
        assert e.status in (400, 505, 513)
        if e.message is not None:
            exercise(e.message)  # type: ignore[arg-type]
        return None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_only_raise_sip_parse_error(data: bytes) -> None:
    m = parse_or_none(data)
    if m is not None:
        exercise(m)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup", "cut", "crlf"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(
                [b" ", b"\t", b";", b",", b":", b"<", b">", b'"', b"\\", b"%", b"@", b"\r\n",
                 b"\r\n ", b"\x00", b"=", b"[", b"]", b"\xff", b"/", b"?", b"*", b"9" * 12]))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "dup" and data:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 40))]
        elif op == "cut":
            del data[pos:]
        elif op == "crlf":
            data[pos:pos] = b"\r\n\r\n"
    return bytes(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_messages_only_raise_sip_parse_error(data: bytes) -> None:
    m = parse_or_none(data)
    if m is not None:
        exercise(m)


@settings(max_examples=300, deadline=None)
@given(mutated(), st.lists(st.integers(1, 200), min_size=1, max_size=20))
def test_stream_parser_on_mutated_input_only_raises_sip_parse_error(
    data: bytes, cuts: list[int]
) -> None:
    sp = StreamParser()
    pos = 0
    for n in [*cuts, len(data)]:
        try:
            for m in sp.feed(data[pos : pos + n]):
                exercise(m)
        except SipParseError as e:
            for m in e.preceding:  # type: ignore[attr-defined]
                exercise(m)
            return
        pos += n


# ---------------------------------------------------------------------------------------
# Generated, well-formed messages round-trip
# ---------------------------------------------------------------------------------------
TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
hosts = st.one_of(
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}[a-z0-9](\.[a-z][a-z0-9]{0,8}){0,3}", fullmatch=True),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.sampled_from(["[2001:db8::10]", "[::1]", "[::ffff:192.0.2.10]"]),
)
ports = st.one_of(st.none(), st.integers(1, 65535))
value_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_characters="\x7f"),
    min_size=1, max_size=30,
).map(str.strip).filter(bool)
uri_params = st.dictionaries(tokens.map(str.lower), st.one_of(st.none(), tokens), max_size=3)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipURI:
    user = draw(st.one_of(st.none(), st.text(min_size=1, max_size=12)))
    password = draw(st.one_of(st.none(), st.text(min_size=1, max_size=6))) if user else None
    return SipURI(draw(st.sampled_from(["sip", "sips"])), user, draw(hosts), draw(ports),
                  draw(uri_params), draw(st.dictionaries(tokens, st.text(max_size=8), max_size=2)),
                  password)


@settings(max_examples=300, deadline=None)
@given(sip_uris())
def test_uri_round_trip(uri: SipURI) -> None:
    text = str(uri)
    back = parse_uri(text)
    assert back == uri
    assert (back.user, back.password, back.host, back.port) == (
        uri.user, uri.password, uri.host, uri.port)
    assert back.params == uri.params and back.headers == uri.headers
    assert str(back) == text


@settings(max_examples=300, deadline=None)
@given(sip_uris(), st.one_of(st.none(), st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7FF), max_size=20)),
       st.dictionaries(tokens.map(str.lower), st.one_of(st.none(), tokens), max_size=3))
def test_name_addr_round_trip(uri: SipURI, display: str | None,
                              params: dict[str, str | None]) -> None:
    na = NameAddr(uri.copy(), display, params)
    text = str(na)
    back = NameAddr.parse(text)
    assert back.display == (display if display else None)
    assert back.uri == uri
    assert back.params == params
    assert str(back) == text


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(tokens.map(str.lower),
                       st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=15),
                       min_size=1, max_size=5))
def test_challenge_round_trip(params: dict[str, str]) -> None:
    ch = parse_challenge(str(parse_challenge("Digest " + ", ".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in params.items()))))
    assert ch.params == params


@st.composite
def messages(draw: st.DrawFn) -> Request | Response:
    n = draw(st.integers(0, 2**31 - 1))
    method = draw(st.one_of(st.sampled_from(["INVITE", "BYE", "OPTIONS", "REGISTER"]), tokens))
    vias = [f"SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP', 'TLS', 'WS']))} {draw(hosts)}"
            f";branch=z9hG4bK{draw(tokens)}" for _ in range(draw(st.integers(1, 3)))]
    headers: list[tuple[str, str]] = [("Via", v) for v in vias]
    headers += [
        ("From", str(NameAddr(draw(sip_uris()), None, {"tag": draw(tokens)}))),
        ("To", str(NameAddr(draw(sip_uris())))),
        ("Call-ID", draw(tokens) + "@" + draw(hosts)),
        ("CSeq", f"{n} {method}"),
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
    ]
    for _ in range(draw(st.integers(0, 4))):
        headers.insert(draw(st.integers(0, len(headers))), ("X-" + draw(tokens), draw(value_text)))
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        ruri = draw(sip_uris())
        ruri.headers.clear()  # not allowed in a Request-URI
        return Request(method, str(ruri), headers, body)
    return Response(draw(st.integers(100, 699)), draw(value_text), headers, body)


@settings(max_examples=300, deadline=None)
@given(messages())
def test_generated_messages_round_trip(m: Request | Response) -> None:
    wire = m.to_bytes()
    back = parse_message(wire)
    back.validate()
    assert type(back) is type(m)
    assert back.headers.items()[: len(m.headers)] == m.headers.items()
    assert back.body == m.body
    if isinstance(m, Request):
        assert isinstance(back, Request)
        assert (back.method, back.uri) == (m.method, m.uri)
    else:
        assert isinstance(back, Response)
        assert (back.status, back.reason) == (m.status, m.reason)
    assert back.to_bytes() == wire
    assert back.call_id == m.get("call-id")
    assert back.from_.tag == NameAddr.parse(m.get("from") or "").tag
    assert [str(v) for v in back.vias] == m.get_all("via")


@settings(max_examples=100, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=4), st.lists(st.integers(1, 300), max_size=10))
def test_stream_chunking_does_not_matter(msgs: list[Request | Response], cuts: list[int]) -> None:
    wire = b"".join(m.to_bytes() + b"\r\n\r\n" for m in msgs)  # keep-alives in between
    sp = StreamParser()
    out: list[Request | Response] = []
    pos = 0
    for n in [*cuts, len(wire)]:
        out.extend(sp.feed(wire[pos : pos + n]))
        pos += n
    assert [o.to_bytes() for o in out] == [m.to_bytes() for m in msgs]
    assert sp.pings == len(msgs)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(tokens, value_text), max_size=6), tokens, value_text)
def test_headers_set_append_remove_model(items: list[tuple[str, str]], name: str,
                                         value: str) -> None:
    key = canonical_key(name)
    others = [(n, v) for n, v in items if canonical_key(n) != key]
    h = Headers(items)
    h.set(name, value)
    assert h.get_lines(name) == [value]
    assert [(n, v) for n, v in h.items() if canonical_key(n) != key] == others
    h.append(name, value)
    assert h.count(name) == 2
    assert h.remove(name) == 2
    assert h.items() == others


# ---------------------------------------------------------------------------------------
# The parser's fast path makes exactly what the general path makes
# ---------------------------------------------------------------------------------------
def view_state(v: object) -> object:
    if isinstance(v, list):
        return [view_state(x) for x in v]
    if isinstance(v, Via):
        return ("via", v.protocol, v.transport, v.host, v.port, v.branch, dict(v.params),
                str(v))
    if isinstance(v, NameAddr):
        return ("addr", v.display, v.uri_text, v.tag, dict(v.params), str(v), v.is_wildcard)
    if isinstance(v, CSeq):
        return ("cseq", v.seq, v.method)
    return v


def message_state(m: Request | Response) -> tuple[object, ...]:
    h = m.headers
    start = ((m.method, m.uri, m.version) if isinstance(m, Request)
             else (m.status, m.reason, m.version))
    views = {k: view_state(v) for k, v in h._cache.items()}
    return (type(m).__name__, start, list(h._names), list(h._values), list(h._keys), views,
            m.body, m.extra, m.to_bytes(), m.modified, len(h), h.items())


def outcome(parse: object, data: bytes) -> tuple[object, ...]:
    try:
        m = parse(data, DEFAULT_LIMITS)  # type: ignore[operator]
    except SipParseError as e:
        return ("error", e.reason, e.status, e.message is not None)
    return ("message", message_state(m))


def check_fast_path_agrees(data: bytes) -> bool:
    """The fast path either declines or makes what the general path makes; and
    parse_message (fast path first) gives what the general path alone gives."""
    general = outcome(sip_parser._general_datagram, data)
    fast = sip_parser._fast_datagram(data, DEFAULT_LIMITS)
    if fast is not None:
        assert ("message", message_state(fast)) == general
    assert outcome(sip_parser.parse_message, data) == general
    return fast is not None


CORE_LINES = {
    "via": [
        "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
        "v: SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport",
        "Via: SIP/2.0/tcp [2001:db8::1]:5061;branch=z9hG4bKx;received=192.0.2.1",
        "Via: SIP/2.0/UDP a;branch=z9hG4bKa, SIP/2.0/UDP b;branch=z9hG4bKb",
        "Via: SIP/2.0/UDP a;branch=z9hG4bKa,SIP/2.0/UDP b",
        "VIA : SIP/2.0/UDP h;branch=z9hG4bK2",
        "Via: SIP / 2.0 / UDP h ;branch=z9hG4bK3",
        "Via: SIP/2.0/UDP h;rport;branch=z9hG4bK4",
        'Via: SIP/2.0/UDP h;branch="quoted";x=1',
        "Via: SIP/2.0/UDP h;;branch=x",
        "Via: SIP/2.0/UDP h:99999;branch=x",
        "Via: SIP/2.0/UDP h:05060;branch=x",
        "Via:SIP/2.0/UDP h;branch=x",
        "Via:  SIP/2.0/UDP h;branch=x \t",
        "Via: sip/2.0/udp h;Branch=X;branch=y",
        "Via: SIP/2.0/UDP h-;branch=x",
        "Via: SIP/2.0/UDP h;branch=a=b;maddr=[::1]",
        "Via: ,",
        "Via: SIP/2.0/UDP \xc3\xa9;branch=x",
    ],
    "from": [
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        'From: "Alice" <sip:alice@atlanta.example.com>;tag=19',
        'f: "A \\"q\\"" <sip:a@b>;tag=1',
        "From: <sip:a@b>;tag=1;x=y",
        "From: <sip:a@b>;x=y;tag=1",
        "From: sip:a@b;tag=1",
        "From: <sip:a@b>",
        "From:  <sip:a@b> ;tag=1",
        "From: Bell, Alexander <sip:a@b>;tag=1",
        "From: < sip:a@b>;tag=1",
        'From: "unterminated <sip:a@b>;tag=1',
        "From: <sip:caf\xc3\xa9@b>;tag=1",
        "From: <sip:a@b>;tag=",
        "From: <sip:a@b>;tag=a;tag=b",
        "FROM: <tel:+1234>;TAG=up",
    ],
    "to": [
        "To: Bob <sip:bob@biloxi.example.com>",
        "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
        "t: <sip:b@b>;tag=2",
        "To: sip:b@b",
        'To: "" <sip:b@b>',
        "To: <sip:b@b>;tag=\"q\"",
        "To: Bob  <sip:b@b>",
    ],
    "call-id": ["Call-ID: a84b4c76e66710@pc33.atlanta.example.com", "i: x", "Call-ID: a b",
                "Call-ID:", "Call-ID:  spaced  ", "call-id: c\x00d"],
    "cseq": ["CSeq: 314159 {m}", "CSeq: 1 {m}", "CSeq: 0 {m}", "CSeq: 2147483648 {m}",
             "CSeq: 99999999999 {m}", "CSeq: x {m}", "CSeq: 1 OTHER", "CSeq: 1  {m}",
             "CSeq:  7 {m} ", "CSeq: \xef\xbc\x91 {m}", "CSeq: 5", "CSEQ: 2 {m}"],
    "max-forwards": ["Max-Forwards: 70", "Max-Forwards: 0", "Max-Forwards: 255",
                     "Max-Forwards: 256", "Max-Forwards: 070", "Max-Forwards: -1",
                     "Max-Forwards: 7 0"],
}
USUAL_EXTRA_LINES = [
    "Contact: <sip:alice@pc33.atlanta.example.com>", "User-Agent: x/1",
    "Date: Sat, 13 Nov 2010 23:29:00 GMT", "Route: <sip:p;lr>, <sip:q;lr>",
    "Supported: timer, 100rel", "Via: SIP/2.0/UDP lower;branch=z9hG4bKlow",
    "Content-Type: application/sdp", "X-Utf8: caf\xc3\xa9", "Allow: INVITE, ACK",
]
ODD_EXTRA_LINES = [
    "Subject: Re: hello", "X-Empty:", "X-Empty2: ", "X-Fold: a\r\n b", "X-Fold2: a\r\n\tb",
    "X-Bad: \xff", "Bad Name: x", "NoColon", "X-Colon:value", "X-Ctl: \x0bx\x0c",
    "X-CR: a\rb", "X-Trail: v  ", "X-Lead:    v", ": nameless", "Via: SIP/2.0/UDP lower;;bad",
    "v: x", "X-Nul: a\x00b", "\x85Weird: x", "X-Dup: a", "X-Dup: b",
]
START_LINES = [
    "{m} sip:bob@biloxi.example.com SIP/2.0", "SIP/2.0 200 OK", "SIP/2.0 180 Ringing",
    "{m} sips:b@b;transport=tls SIP/2.0", "{m} tel:+1234 SIP/2.0", "{m} foo:bar SIP/2.0",
    "{m}  sip:x SIP/2.0", "{m} <sip:x> SIP/2.0", "{m} sip:x SIP/2.1", "{m} sip:x sip/2.0",
    "{m} sip:caf\xc3\xa9@x SIP/2.0", "{m} sip:x SIP/2.0 ", "SIP/2.0 200", "SIP/2.0 099 x",
    "SIP/2.0 700 Odd", "SIP/2.0 200 Reason: colon", "sip/2.0 200 OK", "SIP/2.0 200  OK",
    "SIP/2.0 4294967301 Big",
]
METHODS = ["INVITE", "ACK", "BYE", "OPTIONS", "REGISTER", "X-Ext.1", "IN(VITE"]


@st.composite
def wire_messages(draw: st.DrawFn) -> bytes:
    """Datagrams around the common shape: the usual spelling of everything with a few
    (often no) odd parts: a core header spelt otherwise, repeated or missing, an odd
    extra line, odd line ends, Content-Length variants, bodies."""
    odd = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))
    odd_keys = draw(st.lists(st.sampled_from(["start", *CORE_LINES, "extra", "ends", "cl"]),
                             min_size=odd, max_size=odd))
    method = draw(st.sampled_from(METHODS[:5] if "start" not in odd_keys else METHODS))
    start = draw(st.sampled_from(START_LINES if "start" in odd_keys else START_LINES[:3]))
    start = start.replace("{m}", method)
    lines: list[str] = []
    for key, choices in CORE_LINES.items():
        if key in odd_keys:
            for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
                lines.append(draw(st.sampled_from(choices)))
        else:
            lines.append(choices[0])
    lines = [line.replace("{m}", method) for line in lines]
    lines += draw(st.lists(st.sampled_from(USUAL_EXTRA_LINES), max_size=4))
    if "extra" in odd_keys:
        lines += draw(st.lists(st.sampled_from(ODD_EXTRA_LINES), min_size=1, max_size=2))
    lines = draw(st.permutations(lines))
    body = draw(st.sampled_from([b"", b"v=0\r\n", b"a\r\n\r\nb", b"\r\n\r\n"]))
    cl = draw(st.sampled_from(["ok", "ok", "none", "short", "long", "bad", "twice", "l"])
              if "cl" in odd_keys else st.sampled_from(["ok", "none", "l"]))
    if cl == "ok":
        lines.append(f"Content-Length: {len(body)}")
    elif cl == "short" and body:
        lines.append(f"Content-Length: {len(body) - 1}")
    elif cl == "long":
        lines.append(f"Content-Length: {len(body) + 1}")
    elif cl == "bad":
        lines.append("Content-Length: 0x1")
    elif cl == "twice":
        lines += [f"Content-Length: {len(body)}", f"l: {len(body)}"]
    elif cl == "l":
        lines.insert(draw(st.integers(0, len(lines))), f"l: {len(body)}")
    text = "\r\n".join([start, *lines]) + "\r\n\r\n"
    data = text.encode("latin-1") + body
    if "ends" in odd_keys:
        ends = draw(st.sampled_from(["lf", "lead", "trail", "noblank"]))
        if ends == "lf":
            data = data.replace(b"\r\n", b"\n", draw(st.integers(1, 3)))
        elif ends == "lead":
            data = b"\r\n" + data
        elif ends == "trail":
            data += b"TRAILING"
        else:
            data = data[: data.index(b"\r\n\r\n") + 2]
    return data


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire_messages())
def test_fast_path_agrees_with_general_path(data: bytes) -> None:
    check_fast_path_agrees(data)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fast_path_agrees_on_mutated_messages(data: bytes) -> None:
    check_fast_path_agrees(data)


def test_fast_path_takes_the_usual_messages() -> None:
    """The agreement tests above would pass with a fast path that always declines."""
    usual = [s for s in SEEDS if check_fast_path_agrees(s)]
    assert len(usual) >= 10
    for m in ("INVITE", "ACK", "OPTIONS"):
        data = (f"{m} sip:bob@biloxi.example.com SIP/2.0\r\n"
                "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
                "Max-Forwards: 70\r\nTo: Bob <sip:bob@biloxi.example.com>\r\n"
                "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
                f"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\nCSeq: 1 {m}\r\n"
                "Content-Length: 0\r\n\r\n").encode()
        assert check_fast_path_agrees(data)
        assert check_fast_path_agrees(data.replace(b"\r\n\r\n", b"\r\nX: a: b\r\n\r\n")) \
            is False  # a second ": " on a line: the general path


def stream_outcome(data: bytes, cuts: list[int]) -> list[object]:
    sp = StreamParser()
    got: list[object] = []
    pos = 0
    for n in [*cuts, len(data)]:
        try:
            got += [message_state(m) for m in sp.feed(data[pos : pos + n])]
        except SipParseError as e:
            got += [message_state(m) for m in e.preceding]  # type: ignore[attr-defined]
            got.append(("error", e.reason, e.status, e.message is not None))
            return got
        pos += n
    return got


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(wire_messages(), min_size=1, max_size=3), st.lists(st.integers(1, 400),
                                                                   max_size=4))
def test_stream_fast_path_agrees_with_general_path(msgs: list[bytes], cuts: list[int]) -> None:
    data = b"".join(msgs)
    fast = stream_outcome(data, cuts)
    with mock.patch.object(sip_parser, "_fast_head", lambda head, limits: None):
        general = stream_outcome(data, cuts)
    assert fast == general
