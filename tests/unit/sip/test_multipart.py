"""Multipart bodies: RFC 4475 TC_MPART01, SIPREC SDP + rs-metadata, tolerance, building."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drachtio.sip.multipart import (
    MultipartError,
    Part,
    PartHeaders,
    build_multipart,
    content_type_params,
    find_part,
    get_boundary,
    split_multipart,
)

TESTDATA = (Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "rfc4475")

SIPREC_SDP = (
    "v=0\r\n"
    "o=SRC 2890844526 2890844526 IN IP4 198.51.100.1\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.1\r\n"
    "t=0 0\r\n"
    "m=audio 12240 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=label:96\r\n"
    "a=sendonly\r\n"
    "m=audio 12242 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=label:97\r\n"
    "a=sendonly\r\n"
)

SIPREC_METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?>\r\n'
    '<recording xmlns="urn:ietf:params:xml:ns:recording:1">\r\n'
    "  <datamode>complete</datamode>\r\n"
    '  <session session_id="hVpd7YQgRW2nD22h7q60JQ==">\r\n'
    "    <sipSessionID>ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2</sipSessionID>\r\n"
    "  </session>\r\n"
    '  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">\r\n'
    "    <nameID aor=\"sip:alice@example.com\"><name xml:lang=\"it\">Alice</name></nameID>\r\n"
    "  </participant>\r\n"
    '  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ==">\r\n'
    "    <label>96</label>\r\n"
    "  </stream>\r\n"
    "</recording>\r\n"
)

# RFC 7866-style INVITE body (boundary "foobar"), as a recording server receives it
SIPREC_BODY = (
    "--foobar\r\n"
    "Content-Type: application/sdp\r\n"
    "\r\n"
    + SIPREC_SDP
    + "\r\n--foobar\r\n"
    "Content-Type: application/rs-metadata+xml\r\n"
    "Content-Disposition: recording-session\r\n"
    "\r\n"
    + SIPREC_METADATA
    + "\r\n--foobar--\r\n"
).encode()


def tc_mpart01() -> tuple[bytes, str]:
    raw = (TESTDATA / "TC_MPART01.dat").read_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep
    content_type = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-type:")
    )
    return body, content_type


# --------------------------------------------------------------------------- RFC 4475


def test_tc_mpart01_split_byte_exact() -> None:
    body, content_type = tc_mpart01()
    assert len(body) == 553  # the message's Content-Length
    assert get_boundary(content_type) == "7a9cbec02ceef655"
    parts = split_multipart(body, content_type)
    assert len(parts) == 2
    text, binary = parts
    assert text.content_type == "text/plain"
    assert text.headers["content-transfer-encoding"] == "binary"
    assert text.body == b"Hello"
    assert binary.content_type == "application/octet-stream"
    # the binary part: from after its blank line to before the CRLF of the close delimiter
    start = body.index(b"application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n")
    start = body.index(b"\r\n\r\n", start) + 4
    end = body.index(b"\r\n--7a9cbec02ceef655--")
    assert binary.body == body[start:end]
    assert len(binary.body) == 342
    assert b"\n" in binary.body and b"\r" in binary.body and b"\x00" in binary.body  # raw bytes kept
    assert binary.body.startswith(b"0\x82\x01R\x06\t*\x86H\x86")


def test_tc_mpart01_rebuild_identical() -> None:
    body, content_type = tc_mpart01()
    parts = split_multipart(body, content_type)
    rebuilt, ct = build_multipart(parts, boundary="7a9cbec02ceef655")
    assert rebuilt == body
    assert ct == "multipart/mixed;boundary=7a9cbec02ceef655"


# --------------------------------------------------------------------------- SIPREC


def test_siprec_sdp_and_metadata() -> None:
    parts = split_multipart(SIPREC_BODY, 'multipart/mixed;boundary="foobar"')
    assert [p.content_type for p in parts] == ["application/sdp", "application/rs-metadata+xml"]
    sdp = find_part(parts, "application/sdp")
    meta = find_part(parts, "Application/RS-Metadata+XML")
    assert sdp is not None and meta is not None
    assert sdp.text == SIPREC_SDP
    assert meta.text == SIPREC_METADATA
    assert meta.headers.get("content-disposition") == "recording-session"
    assert find_part(parts, "text/plain") is None


def test_siprec_build_then_split() -> None:
    parts = [
        Part(SIPREC_SDP, content_type="application/sdp"),
        Part(
            SIPREC_METADATA,
            [("Content-Type", "application/rs-metadata+xml"), ("Content-Disposition", "recording-session")],
        ),
    ]
    body, ct = build_multipart(parts, boundary="foobar")
    assert body == SIPREC_BODY
    assert ct == "multipart/mixed;boundary=foobar"
    assert split_multipart(body, ct) == parts


def test_build_random_boundary_roundtrip() -> None:
    parts = [Part(b"one", content_type="text/plain"), Part(b"\x00\xff\r\n--x\r\n", content_type="application/octet-stream")]
    body, ct = build_multipart(parts, subtype="related")
    assert ct.startswith("multipart/related;boundary=drachtio-")
    assert split_multipart(body, ct) == parts
    _, ct2 = build_multipart(parts)
    assert get_boundary(ct) != get_boundary(ct2)


# --------------------------------------------------------------------------- tolerance


def test_lf_line_ends() -> None:
    body = SIPREC_BODY.replace(b"\r\n", b"\n")
    parts = split_multipart(body, "multipart/mixed; boundary=foobar")
    assert [p.content_type for p in parts] == ["application/sdp", "application/rs-metadata+xml"]
    assert parts[0].body == SIPREC_SDP.replace("\r\n", "\n").encode()


def test_preamble_epilogue_and_transport_padding() -> None:
    body = (
        b"This is the preamble.  It is to be ignored.\r\n"
        b"\r\n"
        b"--simple boundary   \r\n"
        b"\r\n"
        b"This is implicitly typed plain US-ASCII text.\r\n"
        b"It does NOT end with a linebreak.\r\n"
        b"--simple boundary\t\r\n"
        b"Content-type: text/plain; charset=us-ascii\r\n"
        b"\r\n"
        b"This is explicitly typed plain US-ASCII text.\r\n"
        b"It DOES end with a linebreak.\r\n"
        b"\r\n"
        b"--simple boundary--  \r\n"
        b"\r\n"
        b"This is the epilogue.  It is also to be ignored.\r\n"
    )
    parts = split_multipart(body, 'multipart/mixed; boundary="simple boundary"')
    assert len(parts) == 2
    assert parts[0].headers == PartHeaders()
    assert parts[0].content_type == "text/plain"  # the default
    assert parts[0].body == b"This is implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak."
    assert parts[1].headers["Content-Type"] == "text/plain; charset=us-ascii"
    assert parts[1].body.endswith(b"It DOES end with a linebreak.\r\n")


def test_whitespace_before_first_boundary() -> None:
    body = b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"
    (part,) = split_multipart(body, "multipart/mixed;boundary=b")
    assert part.body == b"x"


def test_boundary_prefix_inside_content_is_not_a_delimiter() -> None:
    body = (
        b"--abc\r\nContent-Type: text/plain\r\n\r\n"
        b"--abcdef is not ours\r\nnor is x--abc\r\n"
        b"--abc--\r\n"
    )
    (part,) = split_multipart(body, "multipart/mixed;boundary=abc")
    assert part.body == b"--abcdef is not ours\r\nnor is x--abc"


def test_missing_close_delimiter_runs_to_end() -> None:
    body = b"--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\n\r\nsecond, truncated"
    parts = split_multipart(body, "multipart/mixed;boundary=b")
    assert [p.body for p in parts] == [b"first", b"second, truncated"]


def test_empty_part_and_header_only_part() -> None:
    body = b"--b\r\n\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b--\r\n"
    parts = split_multipart(body, "multipart/mixed;boundary=b")
    assert parts[0].body == b"" and len(parts[0].headers) == 0
    assert parts[1].body == b"" and parts[1].content_type == "text/plain"


def test_folded_part_header_and_case_insensitive_lookup() -> None:
    body = (
        b"--b\r\nCONTENT-TYPE: application/sdp\r\nX-Long: one\r\n two\r\n"
        b"X-Long: again\r\n\r\nv=0\r\n--b--"
    )
    (part,) = split_multipart(body, "multipart/mixed;boundary=b")
    assert part.content_type == "application/sdp"
    assert part.headers["content-type"] == "application/sdp"
    assert part.headers["x-long"] == "one two"
    assert part.headers.get_all("X-LONG") == ["one two", "again"]
    assert "Content-Type" in part.headers and "nope" not in part.headers
    assert list(part.headers) == ["CONTENT-TYPE", "X-Long"]
    assert len(part.headers) == 2
    assert part.headers.raw_items()[0] == ("CONTENT-TYPE", "application/sdp")


def test_part_without_header_block_is_all_body() -> None:
    (part,) = split_multipart(b"--b\r\njust text\r\n--b--", "multipart/mixed;boundary=b")
    assert part.body == b"just text"


# --------------------------------------------------------------------------- content type


def test_content_type_params() -> None:
    assert content_type_params('Multipart/Mixed; Boundary="a;b=c"; charset=utf-8') == (
        "multipart/mixed",
        {"boundary": "a;b=c", "charset": "utf-8"},
    )
    assert content_type_params("multipart/mixed;boundary=7a9cbec02ceef655")[1] == {
        "boundary": "7a9cbec02ceef655"
    }
    assert content_type_params('x/y; flag; q="a\\"b"') == ("x/y", {"q": 'a"b'})
    assert content_type_params("application/sdp") == ("application/sdp", {})


@pytest.mark.parametrize(
    "content_type",
    [
        "application/sdp",
        "multipart/mixed",
        "multipart/mixed; boundary=",
        'multipart/mixed; boundary=""',
        'multipart/mixed; boundary="unterminated',
    ],
)
def test_bad_content_type(content_type: str) -> None:
    with pytest.raises(MultipartError):
        split_multipart(SIPREC_BODY, content_type)


def test_boundary_not_in_body() -> None:
    with pytest.raises(MultipartError, match="not found"):
        split_multipart(SIPREC_BODY, "multipart/mixed;boundary=other")


def test_malformed_part_header() -> None:
    with pytest.raises(MultipartError):
        split_multipart(b"--b\r\nContent-Type: a/b\r\nbad header line\r\n\r\nx\r\n--b--", "multipart/mixed;boundary=b")
    with pytest.raises(ValueError):
        split_multipart(b"--b\r\nBad Name: v\r\n\r\nx\r\n--b--", "multipart/mixed;boundary=b")


# --------------------------------------------------------------------------- building


def test_build_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        build_multipart([])
    with pytest.raises(ValueError, match="occurs inside"):
        build_multipart([Part(b"a\r\n--xyz\r\n")], boundary="xyz")
    with pytest.raises(ValueError):
        build_multipart([Part(b"a")], boundary="")
    with pytest.raises(ValueError):
        build_multipart([Part(b"a")], boundary="x" * 71)
    with pytest.raises(ValueError):
        build_multipart([Part(b"a")], boundary="bad\r\nboundary")
    with pytest.raises(ValueError):
        build_multipart([Part(b"a")], subtype="mixed; x=1")
    with pytest.raises(TypeError):
        build_multipart([b"raw"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        Part(b"", {"Content-Type": "a/b"}, content_type="c/d")
    with pytest.raises(ValueError):
        PartHeaders([("X-Bad", "a\r\nInjected: 1")])


def test_build_quotes_boundary_with_specials() -> None:
    body, ct = build_multipart([Part(b"x", content_type="text/plain")], boundary="a b:c")
    assert ct == 'multipart/mixed;boundary="a b:c"'
    assert split_multipart(body, ct)[0].body == b"x"


def test_part_equality_and_repr() -> None:
    a = Part("x", content_type="text/plain")
    assert a == Part(b"x", [("Content-Type", "text/plain")])
    assert a != Part(b"y", [("Content-Type", "text/plain")])
    assert "text/plain" in repr(a)


# --------------------------------------------------------------------------- property

_header_name = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,15}\Z")
_header_value = st.from_regex(r"\A[ -~]{0,30}\Z").map(str.strip)
_part = st.builds(
    Part,
    st.binary(max_size=200),
    st.lists(st.tuples(_header_name, _header_value), min_size=1, max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(_part, min_size=1, max_size=5))
def test_build_split_roundtrip(parts: list[Part]) -> None:
    body, ct = build_multipart(parts)
    assert split_multipart(body, ct) == parts


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), boundary=st.sampled_from(["b", "xyz", "7a9cbec02ceef655"]))
def test_arbitrary_bytes_never_crash(body: bytes, boundary: str) -> None:
    for data in (body, b"--" + boundary.encode() + b"\r\n" + body):
        try:
            parts = split_multipart(data, f"multipart/mixed;boundary={boundary}")
        except MultipartError:
            continue
        assert all(isinstance(p.body, bytes) for p in parts)


def test_control_characters_in_part_header_name_are_a_multipart_error() -> None:
    # found by hypothesis: a lone CR inside a header name used to escape as a bare ValueError
    body = b"--b\r\n\x00\r\x00: x\r\n\r\nbody\r\n--b--"
    with pytest.raises(MultipartError, match="malformed part header line"):
        split_multipart(body, "multipart/mixed;boundary=b")
