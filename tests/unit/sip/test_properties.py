"""Property tests: round-trips of generated messages, and no exception but
SipParseError out of the parser (or of the lazy views) whatever the bytes."""

from __future__ import annotations

import string
from pathlib import Path

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
from drachtio.sip.headers import PARSERS

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
