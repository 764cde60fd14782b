"""Headers container and typed header views."""

from __future__ import annotations

import pytest

from drachtio.sip import (
    COMPACT_FORMS,
    AuthChallenge,
    CSeq,
    Event,
    Headers,
    MediaType,
    NameAddr,
    RAck,
    SessionExpires,
    SipParseError,
    SipURI,
    SubscriptionState,
    Via,
    parse_challenge,
    parse_header,
    split_list,
)
from drachtio.sip.headers import parse_int_header, parse_option_tags


# ---------------------------------------------------------------------------------------
# Headers container
# ---------------------------------------------------------------------------------------
def make() -> Headers:
    return Headers([
        ("v", "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com;branch=z9hG4bK2"),
        ("Via", "SIP/2.0/UDP c.example.com;branch=z9hG4bK3"),
        ("TO", "<sip:bob@example.com>"),
        ("f", '"Smith, Alice" <sip:alice@example.com>;tag=1'),
        ("i", "abc@host"),
        ("Contact", '"A, B" <sip:a@h1;x=1,2>, <sip:b@h2>;q=0.5'),
        ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
        ("X-Custom", "one, two"),
    ])


def test_case_insensitive_and_compact_access() -> None:
    h = make()
    assert h.get("call-id") == h.get("I") == h.get("Call-ID") == "abc@host"
    assert h.get("from") == '"Smith, Alice" <sip:alice@example.com>;tag=1'
    assert h.get("to") == "<sip:bob@example.com>"
    assert h.has("FROM") and "f" in h and "Subject" not in h
    assert h.get("subject") is None
    assert h.get("subject", "dflt") == "dflt"


def test_every_compact_form_maps_to_its_long_name() -> None:
    for short, long in COMPACT_FORMS.items():
        h = Headers([(short.upper(), "x")])
        assert h.get(long) == "x", short
        assert h.get(short) == "x"


def test_get_all_splits_lists_around_quotes_and_angles() -> None:
    h = make()
    assert h.get_all("via") == [
        "SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
        "SIP/2.0/TCP b.example.com;branch=z9hG4bK2",
        "SIP/2.0/UDP c.example.com;branch=z9hG4bK3",
    ]
    assert h.get_all("m") == ['"A, B" <sip:a@h1;x=1,2>', "<sip:b@h2>;q=0.5"]
    # not list headers: commas stay
    assert h.get_all("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]
    assert h.get_all("X-Custom") == ["one, two"]
    assert h.get("via") == "SIP/2.0/UDP a.example.com;branch=z9hG4bK1"
    assert h.get_lines("via")[0].count("SIP/2.0") == 2
    assert h.count("via") == 2


def test_order_and_spelling_are_kept() -> None:
    h = make()
    assert h.names() == ["v", "Via", "TO", "f", "i", "Contact", "Date", "X-Custom"]
    assert h.items()[2] == ("TO", "<sip:bob@example.com>")
    assert list(h)[4] == ("i", "abc@host")
    assert len(h) == 8


def test_set_replaces_all_in_place() -> None:
    h = make()
    h.set("VIA", "SIP/2.0/UDP z.example.com;branch=z9hG4bKz")
    assert h.names()[0] == "VIA"
    assert h.get_all("via") == ["SIP/2.0/UDP z.example.com;branch=z9hG4bKz"]
    h.set("Subject", "new")
    assert h.names()[-1] == "Subject"


def test_append_prepend_remove_pop_first() -> None:
    h = make()
    h.append("Route", "<sip:r2;lr>")
    h.prepend("Route", "<sip:r1;lr>")
    assert h.get_all("route") == ["<sip:r1;lr>", "<sip:r2;lr>"]
    h.prepend("Via", "SIP/2.0/UDP top.example.com;branch=z9hG4bKtop")
    assert h.names()[0] == "Via"
    assert h.pop_first("via") == "SIP/2.0/UDP top.example.com;branch=z9hG4bKtop"
    assert h.pop_first("via") == "SIP/2.0/UDP a.example.com;branch=z9hG4bK1"
    assert h.get_all("via")[0] == "SIP/2.0/TCP b.example.com;branch=z9hG4bK2"
    assert h.pop_first("x-none") is None
    assert h.remove("via") == 2
    assert not h.has("via")
    assert h.remove("via") == 0
    h.prepend("Max-Forwards", "70")
    assert h.names()[0] == "Max-Forwards"


def test_parsed_views_are_cached_and_invalidated() -> None:
    h = make()
    vias = h.parsed("via")
    assert [v.host for v in vias] == ["a.example.com", "b.example.com", "c.example.com"]
    assert h.parsed("v") is vias
    h.append("Via", "SIP/2.0/UDP d.example.com;branch=z9hG4bK4")
    assert h.parsed("via") is not vias
    assert len(h.parsed("via")) == 4
    assert h.parsed("from").tag == "1"
    assert h.parsed("from").display == "Smith, Alice"
    assert h.parsed("X-Custom") == "one, two"
    assert h.parsed("Expires") is None
    contacts = h.parsed("contact")
    assert [c.uri.host for c in contacts] == ["h1", "h2"]
    assert contacts[0].uri.params == {"x": "1,2"}


def test_option_tags_join_every_line() -> None:
    h = Headers([("Supported", "timer, 100rel"), ("k", "path"), ("Require", "")])
    assert h.parsed("supported") == ["timer", "100rel", "path"]
    assert h.parsed("require") == []
    assert h.parsed("unsupported") is None
    with pytest.raises(SipParseError):
        Headers([("Supported", "a b")]).parsed("supported")


def test_value_checks() -> None:
    h = Headers()
    with pytest.raises(ValueError, match="CR or LF"):
        h.set("Subject", "a\r\nVia: injected")
    with pytest.raises(ValueError, match="token"):
        h.append("Bad Name", "x")
    with pytest.raises(ValueError, match="must be str"):
        h.append("X", 1.5)
    with pytest.raises(TypeError):
        Headers("Subject: x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Headers([("a", "b", "c")])  # type: ignore[list-item]
    h.set("Max-Forwards", 70)  # ints and views are turned into text
    h.append("To", NameAddr.parse("<sip:a@b>"))
    assert h.get("max-forwards") == "70"
    assert h.get("to") == "<sip:a@b>"


def test_values_may_hold_nul_and_get_never_raises() -> None:
    h = Headers([("To", '"NUL:\\\x00" <sip:a@b>'), ("Contact", '"unterminated, <sip:a@b>')])
    assert "\x00" in (h.get("to") or "")
    assert h.get("contact") == '"unterminated, <sip:a@b>'
    with pytest.raises(SipParseError):
        h.get_all("contact")


def test_copy_and_equality() -> None:
    h = make()
    c = h.copy()
    assert c == h
    c.set("i", "other")
    assert c != h
    assert h.get("call-id") == "abc@host"
    assert (h == 1) is False


def test_split_list_edge_cases() -> None:
    assert split_list("") == []
    assert split_list(" a ,, b ,") == ["a", "b"]
    assert split_list('"x,\\"y" <a,b>, c') == ['"x,\\"y" <a,b>', "c"]
    with pytest.raises(SipParseError, match="unterminated quoted"):
        split_list('"abc, def')
    with pytest.raises(SipParseError, match="unterminated '<'"):
        split_list("<sip:a, b")


# ---------------------------------------------------------------------------------------
# Via
# ---------------------------------------------------------------------------------------
def test_via_fields() -> None:
    v = Via.parse("SIP/2.0/udp 10.0.0.1:5062;branch=z9hG4bKabc;rport;received=192.0.2.9;"
                  "maddr=239.1.1.1;ttl=16;X-Y=Z")
    assert (v.protocol, v.transport, v.host, v.port) == ("SIP/2.0", "UDP", "10.0.0.1", 5062)
    assert v.branch == "z9hG4bKabc"
    assert v.has_rport and v.rport is None
    assert v.received == "192.0.2.9"
    assert v.maddr == "239.1.1.1"
    assert v.ttl == 16
    assert v.params["x-y"] == "Z"
    assert v.sent_by == "10.0.0.1:5062"
    assert v.version == "2.0"


def test_via_rport_value_and_absence() -> None:
    assert Via.parse("SIP/2.0/UDP h;rport=5070;branch=z9hG4bK1").rport == 5070
    v = Via.parse("SIP/2.0/TCP h")
    assert not v.has_rport and v.rport is None and v.branch is None and v.params == {}


def test_via_branch_read_without_materialising_params() -> None:
    v = Via.parse("SIP/2.0/UDP h;branch=z9hG4bKx;rport")
    assert v.branch == "z9hG4bKx"
    v2 = Via.parse("SIP/2.0/UDP h;BRANCH=z9hG4bKy")
    assert v2.branch == "z9hG4bKy"


@pytest.mark.parametrize(
    "text",
    [
        "SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw",
        "SIP/2.0/UDP 192.0.2.2 ; branch = 390skdjuw",
        "sip/2.0/udp 192.0.2.2;branch=390skdjuw",
        "SIP/2.0/UDP 192.0.2.2 : 5060;branch=390skdjuw",
    ],
)
def test_via_whitespace_variants(text: str) -> None:
    v = Via.parse(text)
    assert v.host == "192.0.2.2"
    assert v.branch == "390skdjuw"
    assert v.transport == "UDP"
    assert str(v) == text.strip()


def test_via_ipv6() -> None:
    v = Via.parse("SIP/2.0/UDP [2001:db8::9:1]:5060;received=[2001:db8::9:255];branch=z9hG4bKas3")
    assert v.host == "[2001:db8::9:1]"
    assert v.port == 5060
    assert v.received == "[2001:db8::9:255]"
    v2 = Via.parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
    assert v2.received == "2001:db8::9:255"


def test_via_modification_is_serialised() -> None:
    v = Via.parse("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport")
    assert str(v) == "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport"
    v.params["rport"] = "5060"
    v.params["received"] = "192.0.2.1"
    assert str(v) == ("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport=5060;"
                      "received=192.0.2.1")
    built = Via("tcp", "10.1.1.1", 5060, {"branch": "z9hG4bKn", "rport": None})
    assert str(built) == "SIP/2.0/TCP 10.1.1.1:5060;branch=z9hG4bKn;rport"
    assert Via.parse(str(built)) == built
    assert built.copy() == built and built.copy() is not built


@pytest.mark.parametrize(
    "text",
    ["", "SIP/2.0/UDP", "SIP/2.0 192.0.2.1", "SIP/2.0/UDP 192.0.2.15;;", "SIP/2.0/UDP h;=x",
     "SIP/2.0/UDP h:99999", "SIP/2.0/UDP h;branch=", "SIP/2.0/UDP bad_host!", "garbage",
     "SIP/2.0/UDP [zz::1]", "SIP/2.0/U DP h"],
)
def test_via_invalid(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


def test_via_constructor_checks() -> None:
    with pytest.raises(ValueError):
        Via("bad transport", "h")
    with pytest.raises(ValueError):
        Via("UDP", "")
    with pytest.raises(ValueError):
        Via("UDP", "h", 70000)


# ---------------------------------------------------------------------------------------
# name-addr / addr-spec
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ('"Alice" <sip:alice@a.com>;tag=9', "Alice", "sip:alice@a.com", {"tag": "9"}),
        ("Bob Smith <sip:bob@b.com>", "Bob Smith", "sip:bob@b.com", {}),
        ("<sip:c@c.com;transport=tcp>;expires=60;q=0.7", None, "sip:c@c.com;transport=tcp",
         {"expires": "60", "q": "0.7"}),
        ("sip:d@d.com;tag=x", None, "sip:d@d.com", {"tag": "x"}),
        ('"Q \\"quoted\\" \\\\" <sip:e@e.com>', 'Q "quoted" \\', "sip:e@e.com", {}),
        ("caller<sip:caller@example.com>;tag=323", "caller", "sip:caller@example.com",
         {"tag": "323"}),
        ('  "x"   <sip:f@f.com>  ;  tag = 1  ; flag ', "x", "sip:f@f.com",
         {"tag": "1", "flag": None}),
        ('<sip:g@g.com>;+sip.instance="<urn:uuid:1;x>"', None, "sip:g@g.com",
         {"+sip.instance": '"<urn:uuid:1;x>"'}),
        ('"" <sip:h@h.com>', "", "sip:h@h.com", {}),
        ("<tel:+1555>", None, "tel:+1555", {}),
    ],
)
def test_name_addr_forms(text: str, display: str | None, uri: str, params: dict[str, str]) -> None:
    na = NameAddr.parse(text)
    assert na.display == display
    assert str(na.uri) == uri
    assert na.uri_text == uri
    assert na.params == params
    assert na.tag == params.get("tag")
    assert str(na) == text.strip()


def test_name_addr_wildcard() -> None:
    star = NameAddr.parse(" * ")
    assert star.is_wildcard
    assert str(star) == "*"
    with pytest.raises(SipParseError):
        _ = star.uri


def test_with_tag_and_modification() -> None:
    to = NameAddr.parse("Bob <sip:bob@b.com>")
    tagged = to.with_tag("abc")
    assert to.tag is None
    assert tagged.tag == "abc"
    assert str(tagged) == '"Bob" <sip:bob@b.com>;tag=abc'
    to.uri.port = 5080
    assert str(to) == '"Bob" <sip:bob@b.com:5080>'
    to.uri = SipURI.parse("sip:x@y.com")
    assert str(to) == '"Bob" <sip:x@y.com>'
    with pytest.raises(ValueError):
        to.with_tag("bad tag")
    built = NameAddr("sip:a@b.com", "A", {"tag": "1"})
    assert str(built) == '"A" <sip:a@b.com>;tag=1'
    assert NameAddr.parse(str(built)) == built
    assert NameAddr.parse("<sip:a@b.com>").expires is None
    assert NameAddr.parse("<sip:a@b.com>;expires=30;q=x").expires == 30
    assert NameAddr.parse("<sip:a@b.com>;q=x").q is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', "unterminated quoted string"),
        ("Bell, Alexander <sip:a.g.bell@example.com>;tag=43", "invalid display name"),
        ('"W" < sip:t.watson@example.org >', "whitespace inside"),
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E", "must be enclosed in <>"),
        ('"Joe" <sip:joe@example.org>;;;;', "parameter"),
        ("<sip:a@b.com> junk", "junk after address"),
        ("<sip:a@b.com", "unterminated '<'"),
        ('"x" sip:a@b.com', "expected '<'"),
        ("", "empty address"),
        ("<nocolon>", "malformed URI"),
        ("<sip:a@b.com>;tag=", "parameter"),
    ],
)
def test_name_addr_invalid(text: str, fragment: str) -> None:
    with pytest.raises(SipParseError) as info:
        NameAddr.parse(text)
    assert fragment in info.value.reason


# ---------------------------------------------------------------------------------------
# CSeq, RAck, numbers
# ---------------------------------------------------------------------------------------
def test_cseq() -> None:
    c = CSeq.parse("314159 INVITE")
    assert (c.seq, c.method, str(c)) == (314159, "INVITE", "314159 INVITE")
    assert CSeq.parse("0009\t INVITE") == CSeq(9, "INVITE")
    assert CSeq.parse("2147483647 X-Y.z").seq == 2**31 - 1
    assert hash(CSeq(1, "BYE")) == hash(CSeq(1, "BYE"))
    for bad in ("", "1", "INVITE", "2147483648 INVITE", "-1 INVITE", "1 IN VITE", "1x INVITE",
                "36893488147419103232 REGISTER", "\u0661 INVITE"):
        with pytest.raises(SipParseError):
            CSeq.parse(bad)
    with pytest.raises(ValueError):
        CSeq(-1, "INVITE")
    with pytest.raises(ValueError):
        CSeq(1, "BAD METHOD")


def test_rack_and_numbers() -> None:
    r = RAck.parse("776656 1 INVITE")
    assert (r.rseq, r.cseq, r.method) == (776656, 1, "INVITE")
    assert str(r) == "776656 1 INVITE"
    assert r == RAck(776656, 1, "INVITE")
    with pytest.raises(SipParseError):
        RAck.parse("1 INVITE")
    assert parse_int_header(" 70 ", "Max-Forwards", 255) == 70
    with pytest.raises(SipParseError, match="out of range"):
        parse_int_header("300", "Max-Forwards", 255)
    with pytest.raises(SipParseError):
        parse_int_header("-1")
    assert parse_header("Max-Forwards", "0068") == 68
    assert parse_header("Expires", "3600") == 3600
    assert parse_header("l", "0") == 0
    with pytest.raises(SipParseError):
        parse_header("Expires", "1" * 100)
    assert parse_header("RSeq", "988789") == 988789
    assert parse_header("Min-SE", "90;x=1") == 90
    assert parse_header("X-Unknown", "v") == "v"
    vias = parse_header("v", "SIP/2.0/UDP a, SIP/2.0/UDP b")
    assert isinstance(vias, list)
    assert [str(v) for v in vias] == [
        "SIP/2.0/UDP a", "SIP/2.0/UDP b"]
    assert parse_option_tags("timer, 100rel") == ["timer", "100rel"]


# ---------------------------------------------------------------------------------------
# Parameterised single-token headers
# ---------------------------------------------------------------------------------------
def test_media_type() -> None:
    mt = MediaType.parse("Application/SDP ; charset=utf-8")
    assert mt.mime == "application/sdp"
    assert mt.params == {"charset": "utf-8"}
    assert str(mt) == "application/sdp;charset=utf-8"
    with pytest.raises(SipParseError):
        MediaType.parse("application")
    with pytest.raises(SipParseError):
        MediaType.parse("")


def test_session_expires_event_subscription_state() -> None:
    se = SessionExpires.parse("1800;refresher=UAC")
    assert (se.delta, se.refresher, str(se)) == (1800, "uac", "1800;refresher=UAC")
    assert SessionExpires.parse("90").refresher is None
    with pytest.raises(SipParseError):
        SessionExpires.parse("soon")
    ev = Event.parse("presence;id=42")
    assert (ev.package, ev.id, str(ev)) == ("presence", "42", "presence;id=42")
    with pytest.raises(SipParseError):
        Event.parse("a b")
    ss = SubscriptionState.parse("Terminated;reason=timeout;retry-after=30")
    assert (ss.state, ss.reason, ss.retry_after, ss.expires) == ("terminated", "timeout", 30, None)
    assert SubscriptionState.parse("active;expires=600").expires == 600
    assert str(SubscriptionState.parse("active;expires=600")) == "active;expires=600"
    with pytest.raises(SipParseError):
        SubscriptionState.parse(";x")


# ---------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------
def test_parse_challenge_digest() -> None:
    ch = parse_challenge('Digest realm="atlanta.com", domain="sip:ss1.carrier.com", '
                         'qop="auth,auth-int", nonce="f84f1cec41e6cbe5aea9c8e88d359", '
                         'opaque="", stale=FALSE, algorithm=MD5')
    assert isinstance(ch, AuthChallenge)
    assert ch.scheme == "Digest"
    assert ch.params == {
        "realm": "atlanta.com", "domain": "sip:ss1.carrier.com", "qop": "auth,auth-int",
        "nonce": "f84f1cec41e6cbe5aea9c8e88d359", "opaque": "", "stale": "FALSE",
        "algorithm": "MD5"}
    assert ch.realm == "atlanta.com"
    assert ch.nonce == "f84f1cec41e6cbe5aea9c8e88d359"
    assert ch.algorithm == "MD5"
    assert ch.qop_options == ["auth", "auth-int"]
    again = parse_challenge(str(ch))
    assert again == ch
    assert 'qop="auth,auth-int"' in str(ch) and "stale=FALSE" in str(ch)


def test_parse_challenge_quoted_escapes_and_case() -> None:
    ch = parse_challenge('Digest Realm="a\\"b, c", NONCE=abc,,  username="x"')
    assert ch.params == {"realm": 'a"b, c', "nonce": "abc", "username": "x"}


def test_parse_challenge_token68_and_errors() -> None:
    basic = parse_challenge("Basic dXNlcjpwYXNz")
    assert basic.token68 == "dXNlcjpwYXNz"
    assert basic.params == {}
    assert str(basic) == "Basic dXNlcjpwYXNz"
    assert parse_challenge("Basic YWxhZGRpbjpvcGVuc2VzYW1l==").token68 == "YWxhZGRpbjpvcGVuc2VzYW1l=="
    assert parse_challenge("Custom realm").token68 == "realm"
    for bad in ('Digest realm="unterminated', "Dig e@st", '"x" a=b', "Digest a=b c=d"):
        with pytest.raises(SipParseError):
            parse_challenge(bad)
    with pytest.raises(TypeError):
        parse_challenge(None)  # type: ignore[arg-type]


def test_credentials_serialisation_controls_quoting() -> None:
    cred = AuthChallenge("Digest", {"username": "bob", "qop": "auth", "nc": "00000001",
                                    "algorithm": "MD5"})
    assert str(cred) == 'Digest username="bob", qop="auth", nc=00000001, algorithm=MD5'
    cred2 = AuthChallenge("Digest", {"username": "bob", "qop": "auth"}, quoted=["username"])
    assert str(cred2) == 'Digest username="bob", qop=auth'
    parsed = parse_challenge('Digest username="bob", qop=auth, nc=00000001')
    assert str(parsed) == 'Digest username="bob", qop=auth, nc=00000001'


def test_auth_headers_through_container() -> None:
    h = Headers([("WWW-Authenticate", 'Digest realm="a", nonce="1"'),
                 ("WWW-Authenticate", 'Digest realm="b", nonce="2", algorithm=SHA-256')])
    chs = h.parsed("www-authenticate")
    assert [c.realm for c in chs] == ["a", "b"]
    assert chs[1].algorithm == "SHA-256"


# ---------------------------------------------------------------------------------------
# What the quick matchers capture, and the character classes they use
# ---------------------------------------------------------------------------------------
def test_whitespace_and_uri_char_classes_match_their_definitions() -> None:
    import re

    from drachtio.sip.grammar import URI_CHAR, URI_CHAR_ASCII, WHITESPACE

    every = "".join(map(chr, range(0x110000)))
    assert "".join(re.findall(r"\s", every)) == WHITESPACE
    assert re.findall(URI_CHAR, every) == re.findall(r'[^\s<>"]', every)
    ascii_part = re.findall(URI_CHAR_ASCII, every)
    assert "".join(ascii_part) == "".join(
        c for c in map(chr, range(0x21, 0x7F)) if c not in '"<>')


def test_via_branch_captured_or_found() -> None:
    first = Via.parse("SIP/2.0/UDP h;branch=z9hG4bKa=b;rport")
    assert first.branch == "z9hG4bKa=b" and first._branch == "z9hG4bKa=b"
    later = Via.parse("SIP/2.0/UDP h;rport;branch=z9hG4bKb")
    assert later._branch is None and later.branch == "z9hG4bKb"
    first.params["branch"] = "z9hG4bKnew"  # the params dict wins once it exists
    assert first.branch == "z9hG4bKnew"
    assert "branch=z9hG4bKnew" in str(first)
    assert Via("UDP", "h").branch is None


def test_via_and_name_addr_take_a_trailing_cr_like_stripped_text() -> None:
    for text in ("SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport", "SIP/2.0/UDP h ;branch=x"):
        a, b = Via.parse(text + "\r"), Via.parse(text)
        assert (a.protocol, a.transport, a.host, a.port, a.branch, a.params, str(a)) == (
            b.protocol, b.transport, b.host, b.port, b.branch, b.params, str(b))
    for text in ('"A" <sip:a@b>;tag=1', "<sip:a@b>;x=1;tag=2", "sip:a@b;tag=3",
                 "A  <sip:a@b>"):
        c, d = NameAddr.parse(text + "\r"), NameAddr.parse(text)
        assert (c.display, c.uri_text, c.tag, c.params, str(c)) == (
            d.display, d.uri_text, d.tag, d.params, str(d))


def test_name_addr_tag_captured_when_it_is_the_only_parameter() -> None:
    only = NameAddr.parse("<sip:a@b>;tag=abc")
    assert only._tag == "abc" and only.tag == "abc"
    assert NameAddr.parse("<sip:a@b>;tag=abc;x=1")._tag is None
    assert NameAddr.parse("<sip:a@b>;tag=abc;x=1").tag == "abc"
    assert NameAddr.parse("<sip:a@b>;x=1;tag=abc").tag == "abc"
    assert NameAddr.parse("<sip:a@b>;TAG=abc").tag == "abc"
    copy = only.copy()
    assert copy.tag == "abc"
    copy.params["tag"] = "new"
    assert (copy.tag, only.tag) == ("new", "abc")
    assert only.with_tag("t2").tag == "t2"
    del only.params["tag"]
    assert only.tag is None and str(only) == "<sip:a@b>"
