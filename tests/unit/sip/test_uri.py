"""SIP/SIPS/tel URIs: parsing, escaping, round-trip and canonical output."""

from __future__ import annotations

import pytest

from drachtio.sip import SipParseError, SipURI, parse_uri


def test_full_sip_uri() -> None:
    u = parse_uri("sip:alice:secret@atlanta.example.com:5061;transport=TCP;lr?subject=hi&x=1")
    assert u.scheme == "sip"
    assert u.user == "alice"
    assert u.password == "secret"
    assert u.host == "atlanta.example.com"
    assert u.port == 5061
    assert u.params == {"transport": "TCP", "lr": None}
    assert u.transport == "tcp"
    assert u.lr is True
    assert u.headers == {"subject": "hi", "x": "1"}
    assert u.hostport == "atlanta.example.com:5061"
    assert u.is_sip


def test_minimal_forms() -> None:
    u = parse_uri("sips:example.com")
    assert (u.scheme, u.user, u.host, u.port, u.params) == ("sips", None, "example.com", None, {})
    assert parse_uri("SIP:Bob@EXAMPLE.com").scheme == "sip"
    assert parse_uri("sip:192.0.2.4").host == "192.0.2.4"


def test_param_names_lower_case_values_kept() -> None:
    u = parse_uri("sip:a@b.com;Transport=UDP;MADDR=239.255.255.1")
    assert u.params == {"transport": "UDP", "maddr": "239.255.255.1"}
    assert u.maddr == "239.255.255.1"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "[2001:db8::10]", None),
        ("sip:user@[2001:db8::10]:5070", "[2001:db8::10]", 5070),
        ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),
        ("sip:[::ffff:192.0.2.10]:5060;transport=udp", "[::ffff:192.0.2.10]", 5060),
    ],
)
def test_ipv6_hosts(text: str, host: str, port: int | None) -> None:
    u = parse_uri(text)
    assert (u.host, u.port) == (host, port)
    assert str(u) == text


def test_escapes_are_undone_and_redone() -> None:
    u = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert u.user == "sips:user@example.com"
    assert str(u) == "sip:sips%3Auser%40example.com@example.net"  # unmodified: exact
    u.port = 5060
    # modified: canonical escaping of the user part
    assert str(u) == "sip:sips%3Auser%40example.com@example.net:5060"


def test_user_part_with_reserved_characters() -> None:
    u = parse_uri("sip:user;par=u%40example.net@example.com")
    assert u.user == "user;par=u@example.net"
    assert u.params == {}
    u.host = "example.org"
    assert str(u) == "sip:user;par=u%40example.net@example.org"


def test_non_utf8_escapes_survive_round_trip() -> None:
    u = parse_uri("sip:%FF%00x@example.com")
    assert u.user == "\udcff\x00x"
    u.port = 1
    assert str(u) == "sip:%FF%00x@example.com:1"


def test_unmodified_round_trip_is_exact() -> None:
    text = "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"
    u = parse_uri(text)
    assert u.params == {"lr": None, "name": "value%41"}
    assert str(u) == text


def test_modified_uri_is_canonical() -> None:
    u = parse_uri("sip:Bob@Example.COM;Transport=udp")
    u.params["lr"] = None
    assert str(u) == "sip:Bob@Example.COM;transport=udp;lr"
    u.params.pop("lr")
    assert str(u) == "sip:Bob@Example.COM;Transport=udp"  # back to the original: raw again


def test_built_uri() -> None:
    u = SipURI("sip", "alice", "192.0.2.1", 5080, {"transport": "tcp"}, {"h": "a b"})
    assert str(u) == "sip:alice@192.0.2.1:5080;transport=tcp?h=a%20b"
    assert parse_uri(str(u)) == u


def test_tel_uri() -> None:
    u = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert u.scheme == "tel"
    assert u.user == "+1-201-555-0123"
    assert u.host == ""
    assert u.params == {"phone-context": "example.com"}
    assert u.is_sip is False
    u.params["ext"] = "12"
    assert str(u) == "tel:+1-201-555-0123;phone-context=example.com;ext=12"


@pytest.mark.parametrize(
    "text", ["http://www.example.com/x?y=z", "urn:uuid:f81d4fae-7dec", "name:John_Smith",
             "nobodyKnowsThisScheme:totallyopaquecontent"])
def test_unknown_schemes_are_opaque(text: str) -> None:
    u = parse_uri(text)
    assert u.opaque == text.partition(":")[2]
    assert u.host == ""
    assert str(u) == text


def test_equality_follows_rfc3261_spirit() -> None:
    assert parse_uri("SIP:alice@ATLANTA.example.com") == parse_uri("sip:alice@atlanta.example.com")
    assert parse_uri("sip:alice@a.com;transport=TCP;lr") == parse_uri("sip:alice@a.com;lr;transport=tcp")
    assert parse_uri("sip:Alice@a.com") != parse_uri("sip:alice@a.com")
    assert parse_uri("sip:a@a.com:5060") != parse_uri("sip:a@a.com")
    assert len({parse_uri("sip:a@B.com"), parse_uri("sip:a@b.com")}) == 1
    assert parse_uri("sip:a@b.com") != "sip:a@b.com"


def test_copy_is_independent() -> None:
    u = parse_uri("sip:a@b.com;lr")
    c = u.copy()
    c.params["x"] = "1"
    c.host = "c.com"
    assert str(u) == "sip:a@b.com;lr"
    assert str(c) == "sip:a@c.com;lr;x=1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("alice@example.com", "without a scheme"),
        ("sip:", "malformed URI"),
        ("sip:a b@example.com", "malformed URI"),
        ("sip:<a@example.com>", "malformed URI"),
        ("sip:@example.com", "empty user part"),
        ("sip:user@", "invalid host"),
        ("sip:user@exa mple.com", "malformed URI"),
        ("sip:user@example.com:99999", "out of range"),
        ("sip:user@example.com:50a", "invalid port"),
        ("sip:user@2001:db8::10", "invalid port"),
        ("sip:user@[2001:db8::zz]", "invalid host"),
        ("sip:user@[2001:db8::10", "unterminated IPv6"),
        ("sip:user@example.com;;lr", "empty URI parameter"),
        ("sip:user@example.com?novalue", "malformed URI header"),
        ("sip:user@-bad-.com", "invalid host"),
        ("tel:;x=1", "without a number"),
        ("1sip:x", "without a scheme"),
    ],
)
def test_malformed_uris(text: str, fragment: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert fragment in info.value.reason


def test_wrong_argument_types() -> None:
    with pytest.raises(TypeError):
        parse_uri(b"sip:a@b.com")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port"):
        SipURI("sip", "a", "b.com", 70000)
    with pytest.raises(ValueError, match="scheme"):
        SipURI("1x", "a", "b.com")
