"""Framing: datagrams (parse_message) and streams (StreamParser); errors and limits."""

from __future__ import annotations

import time

import pytest

from drachtio.sip import Limits, Request, Response, SipParseError, StreamParser, parse_message


def msg(method: str = "OPTIONS", body: bytes = b"", *, cl: bool = True, n: int = 1,
        extra: bytes = b"") -> bytes:
    head = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK{n}\r\n"
        "Max-Forwards: 70\r\n"
        "To: <sip:bob@example.com>\r\n"
        f"From: <sip:alice@example.com>;tag={n}\r\n"
        f"Call-ID: call-{n}\r\n"
        f"CSeq: {n} {method}\r\n"
    ).encode() + extra
    if cl:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


RESPONSE = (b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\n"
            b"t: <sip:b@b>;tag=2\r\ni: x\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n")


# ---------------------------------------------------------------------------------------
# Datagrams
# ---------------------------------------------------------------------------------------
def test_request_and_response() -> None:
    req = parse_message(msg(body=b"hello"))
    assert isinstance(req, Request)
    assert (req.method, req.uri, req.version, req.body) == (
        "OPTIONS", "sip:bob@example.com", "SIP/2.0", b"hello")
    resp = parse_message(RESPONSE)
    assert isinstance(resp, Response)
    assert (resp.status, resp.reason) == (200, "OK")
    assert resp.to.tag == "2"
    assert resp.to_bytes() == RESPONSE


def test_accepts_bytearray_and_memoryview() -> None:
    data = msg()
    assert parse_message(bytearray(data)).to_bytes() == data
    assert parse_message(memoryview(data)).call_id == "call-1"
    with pytest.raises(TypeError):
        parse_message(data.decode())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_message(data, limits=5)  # type: ignore[arg-type]


def test_datagram_without_content_length_takes_the_rest() -> None:
    m = parse_message(msg(body=b"v=0\r\n", cl=False))
    assert m.body == b"v=0\r\n"
    assert m.content_length is None


def test_datagram_with_shorter_content_length_reports_extra() -> None:
    data = msg(body=b"abc") + b"TRAILING"
    m = parse_message(data)
    assert m.body == b"abc"
    assert m.extra == b"TRAILING"
    assert m.to_bytes() == data[: -len(b"TRAILING")]


def test_datagram_content_length_beyond_data() -> None:
    data = msg(body=b"abcdef").replace(b"Content-Length: 6", b"Content-Length: 60")
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.status == 400
    assert "Content-Length 60 larger than the 6 body bytes" in info.value.reason
    assert info.value.message is not None
    assert info.value.message.call_id == "call-1"


def test_leading_crlf_and_bare_lf_and_no_blank_line() -> None:
    data = msg()
    m = parse_message(b"\r\n\r\n" + data)
    assert m.to_bytes() == data
    lf = data.replace(b"\r\n", b"\n")
    assert parse_message(lf).cseq.seq == 1
    # a datagram that stops right after its last header line
    assert parse_message(data[:-2]).body == b""


def test_folded_headers_are_unfolded() -> None:
    data = msg(extra=b"Subject: first\r\n  second\r\n\tthird\r\n")
    m = parse_message(data)
    assert m.get("subject") == "first second third"
    assert m.to_bytes() == data


@pytest.mark.parametrize(
    ("data", "status", "fragment", "has_message"),
    [
        (b"", 400, "no blank line", False),
        (b"\r\n\r\n", 400, "empty message", False),
        (b"garbage", 400, "no blank line", False),
        (b"\r\n\r\nINVITE", 400, "no blank line", False),
        (b"INVITE\r\n\r\n", 400, "malformed request line", False),
        (b"SIP/2.0 20 OK\r\n\r\n", 400, "malformed status line", False),
        (b"SIP/2.0 099 X\r\n\r\n", 400, "malformed status line", False),
        (b"SIP/3.0 200 OK\r\n\r\n", 505, "unsupported SIP version SIP/3.0", False),
        (b"HTTP/1.1 200 OK\r\n\r\n", 400, "malformed method", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed request line", False),
        (b"IN(VITE sip:a@b SIP/2.0\r\n\r\n", 400, "malformed method", False),
        (b"\r\nINVITE sip:a@b SIP/2.0\r\n", 400, "missing Via header", True),
        (b"INVITE sip:a@b SIP/2.0\r\nVia x\r\n\r\n", 400, "header line without ':'", False),
        (b"INVITE sip:a@b SIP/2.0\r\nV ia: x\r\n\r\n", 400, "malformed header name", False),
        (b"INVITE sip:a@b SIP/2.0\r\n x: y\r\n\r\n", 400, "continuation line", False),
    ],
)
def test_datagram_errors(data: bytes, status: int, fragment: str, has_message: bool) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.status == status
    assert fragment in info.value.reason
    assert (info.value.message is not None) is has_message


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        (b"Call-ID: call-1\r\n", b"", "missing Call-ID header"),
        (b"CSeq: 1 OPTIONS\r\n", b"", "missing CSeq header"),
        (b"To: <sip:bob@example.com>\r\n", b"", "missing To header"),
        (b"From: <sip:alice@example.com>;tag=1\r\n", b"", "missing From header"),
        (b"Call-ID: call-1\r\n", b"Call-ID: call-1\r\ni: again\r\n", "multiple Call-ID"),
        (b"Max-Forwards: 70\r\n", b"Max-Forwards: 300\r\n", "Max-Forwards 300 out of range"),
        (b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nMax-Forwards: 69\r\n", "multiple Max"),
        (b"CSeq: 1 OPTIONS\r\n", b"CSeq: 1 INVITE\r\n", "does not match request method"),
        (b"CSeq: 1 OPTIONS\r\n", b"CSeq: x OPTIONS\r\n", "CSeq"),
        (b"Call-ID: call-1\r\n", b"Call-ID: a b\r\n", "malformed Call-ID"),
        (b"Content-Length: 0\r\n", b"Content-Length: 0\r\nl: 0\r\n", "multiple Content-Length"),
        (b"Content-Length: 0\r\n", b"Content-Length: zero\r\n", "malformed Content-Length"),
    ],
)
def test_core_header_errors_carry_the_message(old: bytes, new: bytes, fragment: str) -> None:
    data = msg().replace(old, new)
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert fragment in info.value.reason
    assert info.value.status == 400
    m = info.value.message
    assert m is not None
    assert m.top_via.branch == "z9hG4bK1"


def test_broken_top_via_still_gives_the_message() -> None:
    data = msg().replace(b"branch=z9hG4bK1", b";;")
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert "Via" in info.value.reason
    assert isinstance(info.value.message, Request)


def test_lower_vias_are_lazy_and_checked_by_validate() -> None:
    data = msg(extra=b"Via: SIP/2.0/UDP lower;;bad\r\n")
    m = parse_message(data)
    assert m.top_via.branch == "z9hG4bK1"
    with pytest.raises(SipParseError):
        _ = m.vias
    with pytest.raises(SipParseError, match="Via"):
        m.validate()


def test_limits() -> None:
    small = Limits(max_message_size=300, max_head_size=400)
    with pytest.raises(SipParseError) as info:
        parse_message(msg(body=b"x" * 100), small)
    assert info.value.status == 513
    assert info.value.message is not None  # still answerable
    assert info.value.message.call_id == "call-1"
    with pytest.raises(SipParseError) as info:
        parse_message(msg(extra=b"X-Pad: " + b"p" * 300 + b"\r\n"), small)
    assert info.value.status == 513
    assert info.value.message is None  # the header block alone is beyond reason
    few = Limits(max_headers=5)
    with pytest.raises(SipParseError) as info:
        parse_message(msg(), few)
    assert info.value.status == 513
    assert "more than 5 header lines" in info.value.reason
    with pytest.raises(ValueError):
        Limits(max_message_size=0)
    with pytest.raises(ValueError):
        Limits(max_headers=-1)
    with pytest.raises(ValueError):
        Limits(max_head_size="x")  # type: ignore[arg-type]


def test_linear_time_on_long_inputs() -> None:
    big = Limits(max_message_size=4_000_000, max_head_size=4_000_000, max_headers=100_000)
    cases = [
        msg(extra=b"X-Long: " + b"a" * 1_000_000 + b"\r\n"),
        msg(extra=b"X-Many: x\r\n" * 50_000),
        msg(extra=b"Contact: " + b'"' + b"\\\"" * 200_000 + b'" <sip:a@b>\r\n'),
        msg(extra=b"Route: " + b"<sip:a@b>, " * 50_000 + b"<sip:a@b>\r\n"),
        msg().replace(b"To: <sip:bob@example.com>", b"To: " + b"a " * 300_000 + b"<sip:b@b>"),
        msg().replace(b"branch=z9hG4bK1", b"branch=z9hG4bK1" + b";p=v" * 100_000),
        msg().replace(b"To: <sip:bob@example.com>", b"To: <sip:b@b>" + b";p" * 200_000 + b" x"),
    ]
    for data in cases:
        start = time.perf_counter()
        try:
            m = parse_message(data, big)
            m.validate()
        except SipParseError:
            pass
        assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------
def test_stream_pipelined_messages() -> None:
    sp = StreamParser()
    data = msg(n=1) + msg(n=2, body=b"body") + RESPONSE
    out = sp.feed(data)
    assert [m.call_id for m in out] == ["call-1", "call-2", "x"]
    assert out[1].body == b"body"
    assert out[1].to_bytes() == msg(n=2, body=b"body")
    assert sp.buffered == 0


def test_stream_byte_by_byte() -> None:
    sp = StreamParser()
    data = msg(n=1, body=b"abc") + msg(n=2)
    got = []
    for i in range(len(data)):
        got.extend(sp.feed(data[i : i + 1]))
    assert [m.call_id for m in got] == ["call-1", "call-2"]
    assert got[0].body == b"abc"


def test_stream_split_body_and_keepalives() -> None:
    sp = StreamParser()
    first = msg(n=1, body=b"0123456789")
    assert sp.feed(b"\r\n\r\n" + first[:-5]) == []
    assert sp.pings == 1
    out = sp.feed(first[-5:] + b"\r\n\r\n\r\n\r\n" + msg(n=2)[:10])
    assert len(out) == 1 and out[0].body == b"0123456789"
    assert sp.pings == 3
    assert sp.buffered == 10
    assert [m.call_id for m in sp.feed(msg(n=2)[10:])] == ["call-2"]
    assert sp.feed(b"\r\n") == [] and sp.buffered == 0
    assert sp.pings == 3
    assert sp.feed(b"\r\n") == [] and sp.pings == 4  # a ping split across two reads
    assert sp.feed(b"\r") == [] and sp.feed(b"\n\r") == [] and sp.pings == 4
    assert sp.feed(b"\n\r") == [] and sp.pings == 5
    assert sp.feed(b"\n") == [] and sp.pings == 5
    assert [m.call_id for m in sp.feed(msg(n=3))] == ["call-3"] and sp.pings == 5


def test_stream_requires_content_length() -> None:
    sp = StreamParser()
    with pytest.raises(SipParseError) as info:
        sp.feed(msg(n=1) + msg(n=2, cl=False))
    assert "missing Content-Length on a stream" in info.value.reason
    assert [m.call_id for m in info.value.preceding] == ["call-1"]  # type: ignore[attr-defined]
    assert info.value.message is not None


def test_stream_bad_core_header_keeps_sync() -> None:
    sp = StreamParser()
    bad = msg(n=2).replace(b"CSeq: 2 OPTIONS", b"CSeq: 2 INVITE")
    with pytest.raises(SipParseError) as info:
        sp.feed(msg(n=1) + bad + msg(n=3))
    assert [m.call_id for m in info.value.preceding] == ["call-1"]  # type: ignore[attr-defined]
    assert info.value.message is not None and info.value.message.call_id == "call-2"
    assert [m.call_id for m in sp.feed(b"")] == ["call-3"]


def test_stream_unframeable_and_limits() -> None:
    with pytest.raises(SipParseError, match="malformed request line"):
        StreamParser().feed(b"hello world\r\n\r\n")
    sp = StreamParser(Limits(max_head_size=100, max_message_size=150))
    with pytest.raises(SipParseError) as info:
        sp.feed(b"X" * 101)
    assert info.value.status == 513
    sp = StreamParser(Limits(max_message_size=300))
    with pytest.raises(SipParseError) as info:
        sp.feed(msg(body=b"b" * 200))
    assert info.value.status == 513
    with pytest.raises(TypeError):
        StreamParser().feed("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StreamParser(limits={})  # type: ignore[arg-type]


def test_stream_many_small_chunks_is_linear() -> None:
    # A header block arriving a few bytes at a time must not be rescanned from the start.
    # (62,500 reads of 16 bytes: rescanning would mean ~30 GB of searching.)
    sp = StreamParser(Limits(max_head_size=2_000_000, max_message_size=2_000_000))
    pad = b"X-Pad: " + b"y" * 1_000_000 + b"\r\n"
    data = msg(extra=pad)
    start = time.perf_counter()
    out = []
    for i in range(0, len(data), 16):
        out.extend(sp.feed(data[i : i + 16]))
    assert len(out) == 1
    assert out[0].get("x-pad") == "y" * 1_000_000
    assert time.perf_counter() - start < 3.0


# ---------------------------------------------------------------------------------------
# The fast path (parser._fast_datagram) and the general path agree on the tricky cases
# ---------------------------------------------------------------------------------------
def both_paths(data: bytes) -> tuple[object, object]:
    from drachtio.sip import parser

    def run(parse: object) -> object:
        try:
            m = parse(data, Limits())  # type: ignore[operator]
        except SipParseError as e:
            return ("error", e.reason, e.status, e.message is not None)
        if m is None:
            return None
        return (type(m), m.headers.items(), m.headers._keys, m.body, m.extra, m.to_bytes())

    return run(parser._fast_datagram), run(parser._general_datagram)


@pytest.mark.parametrize(
    "extra",
    [
        b"X-Last: a: bc: d\r\n",  # last line split into an unmarked name: must be refused
        b"X-Last: a: \x00Y: c\r\n",  # a NUL that would forge a line marker
        b"Bad Name: x\r\n",
        b"NoColon\r\n",
        b"X-Colon:value\r\n",
        b"X-Fold: a\r\n b\r\n",
        b"Subject: Re: hello\r\n",
    ],
)
def test_fast_path_declines_what_it_cannot_split(extra: bytes) -> None:
    data = msg(extra=extra, cl=False)  # the extra line comes last
    fast, general = both_paths(data)
    assert fast is None
    assert general is not None


def test_fast_path_shape_cache_is_not_fooled_by_equal_joined_names() -> None:
    one = msg(extra=b"AB: x\r\n", cl=False)
    two = msg(extra=b"A: x: B: y\r\n", cl=False)  # joined names equal those of `one`
    fast, general = both_paths(one)
    assert fast == general
    fast, general = both_paths(two)
    assert fast is None
    assert general is not None and general[0] is Request


def test_fast_path_message_builds_header_lists_on_first_use() -> None:
    data = msg(extra=b"Contact: <sip:a@b>\r\nX-A: 1\r\n")
    m = parse_message(data)
    h = m.headers
    assert h._keys[:2] == ["via", "max-forwards"]
    assert len(h) == 9
    # the engine's way of stamping the top Via: straight into the value list
    i = h._keys.index("via")
    assert h._values[i] == "SIP/2.0/TCP client.example.com;branch=z9hG4bK1"
    h._values[i] += ";received=192.0.2.1"
    assert h.get("via") == "SIP/2.0/TCP client.example.com;branch=z9hG4bK1;received=192.0.2.1"
    assert h.names()[:2] == ["Via", "Max-Forwards"]
    m2 = parse_message(data)
    m2.remove("X-A")
    m2.append("X-B", "2")
    assert m2.headers.items()[-2:] == [("Content-Length", "0"), ("X-B", "2")]
    assert parse_message(m2.to_bytes()).get("x-b") == "2"
    assert parse_message(data).headers == parse_message(data).headers.copy()


def test_continuation_of_an_empty_line_is_a_clean_error() -> None:
    data = msg(extra=b"X-A: a\n\n b\r\n")
    with pytest.raises(SipParseError, match="header line starts with whitespace"):
        parse_message(data)
    with pytest.raises(SipParseError, match="header line starts with whitespace"):
        StreamParser().feed(data)


def test_fast_path_memos_stay_bounded() -> None:
    from drachtio.sip import parser

    for i in range(1200):
        m = parse_message(msg(n=i, extra=b"X-H%d: v\r\nX-%s: w\r\n" % (i, b"L" * 100)))
        assert m.cseq.seq == i and m.get(f"x-h{i}") == "v"
    assert len(parser._SHAPES) <= 1024
    assert len(parser._NUMBERS) <= 4096
    assert all(len(k) <= 64 for k in parser._MARKED_KEYS)
    long_names = msg(extra=b"X-" + b"N" * 3000 + b": v\r\n")
    assert parse_message(long_names).get("x-" + "n" * 3000) == "v"
    assert all(len(k) <= 2048 for k in parser._SHAPES)
