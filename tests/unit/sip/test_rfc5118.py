"""RFC 5118 (SIP torture tests for IPv6), messages written from the RFC's descriptions."""

from __future__ import annotations

import pytest

from drachtio.sip import Request, SipParseError, parse_message, parse_uri


def crlf(text: str) -> bytes:
    body = ""
    if "\n\n" in text:
        text, body = text.split("\n\n", 1)
        body = body.replace("\n", "\r\n")
        text = text.replace("Content-Length: 0", f"Content-Length: {len(body.encode())}")
    return (text.replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


def register(ruri: str, extra: str = "") -> bytes:
    return crlf(
        f"REGISTER {ruri} SIP/2.0\n"
        "To: sip:user@example.com\n"
        "From: sip:user@example.com;tag=81x2\n"
        "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111\n"
        "Call-ID: SSG9559905523997077@hlau_4100\n"
        "Max-Forwards: 70\n"
        'Contact: "Caller" <sip:caller@[2001:db8::1]>\n'
        f"{extra}"
        "CSeq: 98176 REGISTER\n"
        "Content-Length: 0"
    )


def parse_req(data: bytes) -> Request:
    m = parse_message(data)
    assert isinstance(m, Request)
    return m


def test_4_1_valid_ipv6_reference() -> None:
    m = parse_req(register("sip:[2001:db8::10]"))
    m.validate()
    uri = m.parsed_uri
    assert uri is not None and uri.host == "[2001:db8::10]" and uri.port is None
    assert m.top_via.host == "[2001:db8::9:1]"
    assert m.top_via.branch == "z9hG4bKas3-111"
    assert m.contacts[0].uri.host == "[2001:db8::1]"
    assert m.contacts[0].display == "Caller"


def test_4_2_ipv6_without_brackets_is_refused() -> None:
    m = parse_req(register("sip:2001:db8::10"))
    with pytest.raises(SipParseError) as info:
        m.validate()  # the engine answers 400
    assert info.value.status == 400
    with pytest.raises(SipParseError):
        parse_uri("sip:user@2001:db8::10")


def test_4_3_port_ambiguous_reads_as_address() -> None:
    m = parse_req(register("sip:[2001:db8::10:5070]"))
    m.validate()
    uri = m.parsed_uri
    assert uri is not None and (uri.host, uri.port) == ("[2001:db8::10:5070]", None)


def test_4_4_port_unambiguous() -> None:
    m = parse_req(register("sip:[2001:db8::10]:5070"))
    m.validate()
    uri = m.parsed_uri
    assert uri is not None and (uri.host, uri.port) == ("[2001:db8::10]", 5070)


@pytest.mark.parametrize("received", ["[2001:db8::9:255]", "2001:db8::9:255"])
def test_4_5_ipv6_in_via_received(received: str) -> None:
    data = crlf(
        "BYE sip:[2001:db8::10] SIP/2.0\n"
        "To: sip:user@example.com;tag=bd76ya\n"
        "From: sip:user@example.com;tag=81x2\n"
        f"Via: SIP/2.0/UDP [2001:db8::9:1];received={received};branch=z9hG4bKas3-111\n"
        "Call-ID: SSG9559905523997077@hlau_4100\n"
        "Max-Forwards: 70\n"
        "CSeq: 321 BYE\n"
        "Content-Length: 0"
    )
    m = parse_req(data)
    m.validate()
    assert m.top_via.received == received
    assert m.top_via.host == "[2001:db8::9:1]"
    assert m.to_bytes() == data


SDP6 = """v=0
o=assistant 971731711378798081 0 IN IP6 2001:db8::20
s=Live video feed
c=IN IP6 2001:db8::20
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""


def test_4_6_ipv6_in_sdp_body() -> None:
    data = crlf(
        "INVITE sip:user@[2001:db8::10] SIP/2.0\n"
        "To: sip:user@[2001:db8::10]\n"
        "From: sip:user@example.com;tag=81x2\n"
        "Via: SIP/2.0/UDP [2001:db8::20];branch=z9hG4bKas3-111\n"
        "Call-ID: SSG9559905523997077@hlau_4100\n"
        "Contact: <sip:user@[2001:db8::20]>\n"
        "CSeq: 8612 INVITE\n"
        "Max-Forwards: 70\n"
        "Content-Type: application/sdp\n"
        "Content-Length: 0\n\n" + SDP6
    )
    m = parse_req(data)
    m.validate()
    assert b"c=IN IP6 2001:db8::20" in m.body
    assert m.content_length == len(m.body)
    assert m.to.uri.host == "[2001:db8::10]"


def test_4_7_mixed_ipv4_and_ipv6_headers() -> None:
    data = crlf(
        "BYE sip:user@host.example.net SIP/2.0\n"
        "Via: SIP/2.0/UDP [2001:db8::9:ffff]:5060;branch=z9hG4bKas3-111\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144\n"
        "Via: SIP/2.0/TCP [2001:db8::9:255];branch=z9hG4bK451jj;received=192.0.2.200\n"
        "Call-ID: 997077@lau_4100\n"
        "Max-Forwards: 70\n"
        "CSeq: 89187 BYE\n"
        "To: sip:user@example.net;tag=9817--94\n"
        "From: sip:user@example.com;tag=81x2\n"
        "Content-Length: 0"
    )
    m = parse_req(data)
    m.validate()
    assert [(v.host, v.port) for v in m.vias] == [
        ("[2001:db8::9:ffff]", 5060), ("192.0.2.1", None), ("[2001:db8::9:255]", None)]
    assert m.vias[2].received == "192.0.2.200"


def test_4_9_ipv4_mapped_ipv6() -> None:
    data = crlf(
        "INVITE sip:user@[::ffff:192.0.2.128] SIP/2.0\n"
        "To: sip:user@[::ffff:192.0.2.128]\n"
        "From: sip:user@example.com;tag=628\n"
        "Via: SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh19\n"
        "Call-ID: SSG95523997077@hlau_4100\n"
        "Contact: \"T. desk phone\" <sip:ted@[::ffff:192.0.2.10]:19823>\n"
        "CSeq: 921 INVITE\n"
        "Max-Forwards: 70\n"
        "Content-Length: 0"
    )
    m = parse_req(data)
    m.validate()
    assert (m.top_via.host, m.top_via.port) == ("[::ffff:192.0.2.10]", 19823)
    assert m.contacts[0].uri.port == 19823
    assert m.contacts[0].display == "T. desk phone"


@pytest.mark.parametrize(
    "host",
    ["[2001:db8:0:0:0:0:0:10]", "[2001:db8::192.0.2.1]", "[::1]", "[2001:DB8::A]"],
)
def test_ipv6_reference_forms(host: str) -> None:
    uri = parse_uri(f"sip:user@{host}:5060")
    assert (uri.host, uri.port) == (host, 5060)


@pytest.mark.parametrize(
    "host", ["[2001:db8::10::1]", "[2001:db8:::10]", "[12345::1]", "[::ffff:192.0.2.300]", "[]"])
def test_invalid_ipv6_references(host: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(f"sip:user@{host}")
