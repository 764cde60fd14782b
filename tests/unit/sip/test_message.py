"""Request/Response construction, header access, serialisation, validation."""

from __future__ import annotations

import pytest

from drachtio.sip import (
    Headers,
    Request,
    Response,
    SipParseError,
    SipURI,
    Via,
    parse_message,
    reason_phrase,
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def test_built_request_serialises_with_crlf_and_utf8_length() -> None:
    req = Request(
        "MESSAGE",
        "sip:bob@example.com",
        [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("Max-Forwards", "70"),
         ("From", "<sip:a@example.com>;tag=1"), ("To", "<sip:bob@example.com>"),
         ("Call-ID", "c1"), ("CSeq", "1 MESSAGE"), ("Content-Type", "text/plain")],
        body="h\u00e9llo \u2603",
    )
    data = req.to_bytes()
    assert data.startswith(b"MESSAGE sip:bob@example.com SIP/2.0\r\nVia: ")
    assert len("h\u00e9llo \u2603") == 7
    assert b"\r\nContent-Length: 10\r\n\r\n" in data  # UTF-8 bytes, not characters
    assert data.endswith("h\u00e9llo \u2603".encode())
    assert bytes(req) == data
    back = parse_message(data)
    assert isinstance(back, Request)
    assert back.body.decode() == "h\u00e9llo \u2603"
    assert back.call_id == "c1"
    back.validate()


def test_built_response_and_default_reason() -> None:
    resp = Response(180, headers=[("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")])
    assert resp.reason == "Ringing"
    assert resp.to_bytes() == (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                               b"Content-Length: 0\r\n\r\n")
    assert Response(299).reason == "OK"
    assert reason_phrase(799) == "Unknown"
    assert Response(200, "Fine").status_class == 2


def test_unmodified_parsed_message_is_byte_identical() -> None:
    msg = parse_message(INVITE)
    assert not msg.modified
    assert msg.to_bytes() is INVITE or msg.to_bytes() == INVITE
    # reading views does not modify
    _ = (msg.top_via.params, msg.from_.params, msg.to.uri, msg.contacts, msg.content_type)
    assert msg.to_bytes() == INVITE


def test_modified_message_recomputes_content_length() -> None:
    msg = parse_message(INVITE)
    msg.body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    assert msg.modified
    out = msg.to_bytes()
    assert b"\r\nContent-Length: 31\r\n" in out
    assert out.endswith(b"\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n")
    assert parse_message(out).body == msg.body


def test_header_changes_are_serialised_in_place() -> None:
    msg = parse_message(INVITE)
    msg.set("Max-Forwards", "69")
    msg.prepend("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1")
    msg.append("X-Test", "yes")
    msg.remove("Contact")
    out = parse_message(msg.to_bytes())
    assert out.max_forwards == 69
    assert [v.host for v in out.vias] == ["proxy.example.com", "pc33.atlanta.example.com"]
    assert out.get("x-test") == "yes"
    assert not out.has("contact")
    assert out.headers.names()[0] == "Via"
    assert msg.top_via.host == "proxy.example.com"  # caches follow the change


def test_changed_view_is_written_back_with_replace_first() -> None:
    two_vias = INVITE.replace(b"Via: SIP/2.0/UDP pc33",
                              b"Via: SIP/2.0/UDP a;branch=z9hG4bKa, SIP/2.0/UDP pc33")
    msg = parse_message(two_vias)
    via = msg.top_via
    via.params["received"] = "192.0.2.1"
    via.params["rport"] = "5062"
    assert msg.to_bytes() == msg.to_bytes() and not msg.modified  # views are snapshots
    msg.replace_first("Via", via)
    out = parse_message(msg.to_bytes())
    assert [str(v) for v in out.vias] == [
        "SIP/2.0/UDP a;branch=z9hG4bKa;received=192.0.2.1;rport=5062",
        "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport"]
    assert msg.top_via.received == "192.0.2.1"
    msg.replace_first("Subject", "absent before")
    assert msg.get("subject") == "absent before"


def test_duplicate_content_length_is_collapsed_on_output() -> None:
    req = Request("OPTIONS", "sip:a@b.com", [("Content-Length", "9"), ("l", "8")])
    assert req.to_bytes().count(b"Content-Length") == 1
    assert b"Content-Length: 0" in req.to_bytes()
    assert b"\r\nl:" not in req.to_bytes()


def test_start_line_changes() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    msg.uri = SipURI.parse("sip:bob@192.0.2.4:5060")
    assert msg.to_bytes().startswith(b"INVITE sip:bob@192.0.2.4:5060 SIP/2.0\r\n")
    parsed_uri = msg.parsed_uri
    assert parsed_uri is not None and parsed_uri.port == 5060
    msg.method = "OPTIONS"
    assert msg.to_bytes().startswith(b"OPTIONS ")
    with pytest.raises(ValueError):
        msg.method = "BAD METHOD"
    with pytest.raises(ValueError):
        msg.uri = "sip:a b"
    resp = parse_message(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
                         b"From: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: x\r\n"
                         b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(resp, Response)
    resp.status = 183
    resp.reason = "Session Progress"
    assert resp.to_bytes().startswith(b"SIP/2.0 183 Session Progress\r\n")
    with pytest.raises(ValueError):
        resp.status = 700
    with pytest.raises(ValueError):
        resp.reason = "a\r\nb"


def test_accessors() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request)
    assert msg.is_request and not msg.is_response
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert (msg.cseq.seq, msg.cseq.method) == (314159, "INVITE")
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert msg.top_via.has_rport
    assert msg.from_.tag == "1928301774"
    assert msg.to.tag is None
    assert msg.to.display == "Bob"
    assert msg.max_forwards == 70
    assert msg.content_length == 4
    assert msg.content_type == "application/sdp"
    assert msg.expires is None
    assert msg.supported == [] and msg.require == []
    assert msg.routes == [] and msg.record_routes == []
    assert msg.contacts[0].uri.user == "alice"
    assert msg.get_all("via") == ["SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport"]
    assert msg.get_lines("from") == ["Alice <sip:alice@atlanta.example.com>;tag=1928301774"]
    assert msg.parsed("i") == msg.call_id
    assert repr(msg) == "<Request INVITE sip:bob@biloxi.example.com>"
    assert "Call-ID" in str(msg)


def test_missing_core_headers_on_built_messages_raise_parse_error() -> None:
    req = Request("OPTIONS", "sip:a@b.com")
    for name in ("call_id", "cseq", "from_", "to", "top_via"):
        with pytest.raises(SipParseError, match="missing"):
            getattr(req, name)
    assert req.vias == []
    assert req.max_forwards is None


def test_create_response() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    ringing = req.create_response(180, to_tag="as83kd9bs")
    assert ringing.reason == "Ringing"
    assert ringing.to.tag == "as83kd9bs"
    assert ringing.from_.tag == "1928301774"
    assert ringing.call_id == req.call_id
    assert ringing.cseq == req.cseq
    assert ringing.get_all("via") == req.get_all("via")
    assert not ringing.has("contact")
    trying = req.create_response(100, to_tag="ignored")
    assert trying.to.tag is None
    ok = req.create_response(200, "OK", to_tag="x", headers=[("Contact", "<sip:b@h>")],
                             body=b"v=0\r\n")
    assert ok.get("contact") == "<sip:b@h>"
    wire = ok.to_bytes()
    assert b"Content-Length: 5\r\n" in wire
    again = parse_message(wire)
    again.validate()
    # an existing To tag is kept
    tagged = ringing.copy()
    assert isinstance(tagged, Response)
    req2 = Request("BYE", "sip:a@b", [("Via", "SIP/2.0/UDP h;branch=z9hG4bK2"),
                                     ("To", "<sip:b@b>;tag=old"), ("From", "<sip:a@b>;tag=f"),
                                     ("Call-ID", "c"), ("CSeq", "2 BYE")])
    assert req2.create_response(200, to_tag="new").to.tag == "old"


def test_copy_is_deep_enough() -> None:
    req = parse_message(INVITE)
    assert isinstance(req, Request)
    c = req.copy()
    c.set("Max-Forwards", "1")
    assert req.max_forwards == 70
    assert c.max_forwards == 1
    assert c.body == req.body


def test_constructor_argument_checks() -> None:
    with pytest.raises(ValueError, match="method"):
        Request("IN VITE", "sip:a@b")
    with pytest.raises(ValueError, match="uri"):
        Request("INVITE", "")
    with pytest.raises(ValueError, match="uri"):
        Request("INVITE", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="body"):
        Request("INVITE", "sip:a@b", body=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="status"):
        Response(99)
    with pytest.raises(ValueError, match="status"):
        Response(True)
    with pytest.raises(ValueError, match="reason"):
        Response(200, "a\nb")
    with pytest.raises(TypeError):
        Request("INVITE", "sip:a@b").headers = [("a", "b")]  # type: ignore[assignment]
    h = Headers([("Subject", "x")])
    r = Request("INVITE", SipURI.parse("sip:a@b"), h, bytearray(b"xy"))
    assert r.headers is h
    assert r.body == b"xy"
    assert r.uri == "sip:a@b"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (b"Expires: soon\r\n", "malformed Expires"),
        (b"Contact: sip:a@b?x=y\r\n", "must be enclosed in <>"),
        (b"Content-Type: nonsense\r\n", "malformed media type"),
        (b"Route: <sip:r;lr>, junk\r\n", "malformed URI"),
        (b"Subject: a\r\nSubject: b\r\nCSeq: 1 INVITE\r\n", "multiple"),
        (b"Via: SIP/2.0/UDP second;;\r\n", "Via parameter"),
        (b"Supported: a b\r\n", "option tag"),
        (b"Session-Expires: x\r\n", "Session-Expires"),
        (b"RAck: 1\r\n", "RAck"),
    ],
)
def test_validate_reports_lazy_grammar_errors(extra: bytes, fragment: str) -> None:
    data = INVITE.replace(b"Content-Type:", extra + b"Content-Type:")
    try:
        msg = parse_message(data)
    except SipParseError as e:  # some of these are core headers: refused at parse time
        assert fragment in e.reason or "multiple" in e.reason
        return
    with pytest.raises(SipParseError) as info:
        msg.validate()
    assert fragment in info.value.reason
    assert info.value.message is msg
    assert info.value.status == 400


def test_validate_other_checks() -> None:
    msg = parse_message(INVITE)
    msg.validate()
    msg.body = b"longer body"
    msg.set("Content-Length", "4")
    msg.headers._dirty = False  # simulate a peer that lied about the length
    with pytest.raises(SipParseError, match="does not match body length"):
        msg.validate()
    bad = Request("INVITE", "sip:a@b", [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
                                      ("From", "<sip:a@b>;tag=1"), ("To", "<sip:b@b>"),
                                      ("Call-ID", "c"), ("CSeq", "1 BYE")])
    with pytest.raises(SipParseError, match="does not match request method"):
        bad.validate()
    nocid = Request("INVITE", "sip:a@b", [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")])
    with pytest.raises(SipParseError, match="missing from header"):
        nocid.validate()
    ruri = Request("INVITE", "sip:a@-x-", [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
                                         ("From", "<sip:a@b>;tag=1"), ("To", "<sip:b@b>"),
                                         ("Call-ID", "c"), ("CSeq", "1 INVITE")])
    with pytest.raises(SipParseError, match="invalid host"):
        ruri.validate()


# -- freeze / replace_top_via (what a server does to every request it relays) ----------------

_RECEIVED = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
             b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport,"
             b" SIP/2.0/TCP proxy.example:5060;branch=z9hG4bK0\r\n"
             b"v: SIP/2.0/UDP third.example;branch=z9hG4bK2\r\n"
             b"f: <sip:alice@example.com>;tag=1\r\nt: <sip:bob@example.com>\r\n"
             b"i: abc\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n")


def test_replace_top_via_splices_into_the_received_bytes() -> None:
    req = parse_message(_RECEIVED)
    via = req.top_via
    via.params["rport"] = "5070"
    via.params["received"] = "192.0.2.1"
    req.replace_top_via(via)
    assert not req.modified  # still the received bytes, with the one Via changed
    out = req.to_bytes()
    assert out == _RECEIVED.replace(
        b"branch=z9hG4bK1;rport,", b"branch=z9hG4bK1;rport=5070;received=192.0.2.1,")
    assert req.vias[1].host == "proxy.example" and len(req.get_all("Via")) == 3
    assert parse_message(out).top_via.params["received"] == "192.0.2.1"


def test_replace_top_via_on_a_modified_message_reserialises() -> None:
    req = parse_message(_RECEIVED)
    req.set("Subject", "hi")
    via = req.top_via
    via.params["received"] = "192.0.2.9"
    req.replace_top_via(via)
    out = req.to_bytes()
    assert b"Subject: hi\r\n" in out
    assert out.count(b"received=192.0.2.9") == 1
    assert b"SIP/2.0/TCP proxy.example:5060;branch=z9hG4bK0" in out


def test_replace_top_via_without_via_is_a_parse_error() -> None:
    req = Request("OPTIONS", "sip:a@b", [("Call-ID", "x")])
    with pytest.raises(SipParseError, match="missing Via"):
        req.replace_top_via(Via.parse("SIP/2.0/UDP h;branch=z9hG4bKx"))


def test_freeze_encodes_once_until_changed() -> None:
    req = Request("OPTIONS", "sip:a@b", [("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"),
                                          ("Call-ID", "x"), ("CSeq", "1 OPTIONS")])
    first = req.freeze()
    assert req.to_bytes() is first  # the same object: not serialised again
    req.set("Subject", "changed")
    assert b"Subject: changed" in req.to_bytes() and req.to_bytes() is not first


def test_serialise_sets_the_first_content_length_and_drops_repeats() -> None:
    req = Request("MESSAGE", "sip:a@b", [("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"),
                                          ("l", "99"), ("Call-ID", "x"),
                                          ("Content-Length", "7"), ("CSeq", "1 MESSAGE")],
                  b"hello")
    wire = req.to_bytes()
    head, _, body = wire.partition(b"\r\n\r\n")
    assert body == b"hello"
    assert head.split(b"\r\n")[1:] == [b"Via: SIP/2.0/UDP h;branch=z9hG4bKx", b"l: 5",
                                       b"Call-ID: x", b"CSeq: 1 MESSAGE"]
