"""RFC 4475 torture messages, read byte-exact from the shared test data.

Each case is handled as RFC 4475 describes. How an invalid (``_I``) or refusable case is
reported is part of the contract with the engine, so it is asserted:

* ``RAISE``: ``parse_message`` raises ``SipParseError`` (status and, where the engine must
  answer, ``err.message`` set so a 400/505 can be built).
* ``VALIDATE``: the message parses (it is framed and its transaction-layer headers are
  fine) and ``msg.validate()`` raises ``SipParseError`` with a reason for the 400.
* ``OK``: parses and validates; the semantic answer (416, 420, 415, 483, 406 ...) is the
  engine's or application's job and the values it needs are asserted.

Per-case decisions (section numbers of RFC 4475):

=================  ========  =============================================================
case               outcome   why
=================  ========  =============================================================
BADINV01 3.1.2.1   RAISE     top Via ``;;,;,,`` breaks Via grammar -> 400
CLERR    3.1.2.2   RAISE     Content-Length 9999 beyond the datagram -> 400
NCL      3.1.2.3   RAISE     negative Content-Length -> 400
SCALAR02 3.1.2.4   RAISE     CSeq number beyond 2**31 -> 400 (file says _V; RFC says 400)
SCALARLG 3.1.2.5   RAISE     response: CSeq out of range -> dropped by the engine
QUOTBAL  3.1.2.6   RAISE     unterminated quoted display name in To -> 400
LTGTRURI 3.1.2.7   RAISE     ``<...>`` around the Request-URI -> 400
LWSRURI  3.1.2.8   RAISE     LWS inside the Request-URI -> 400
LWSSTART 3.1.2.9   RAISE     extra SP in the request line: RFC allows refusing -> 400
TRWS     3.1.2.10  RAISE     SP after the version: RFC allows refusing -> 400
ESCRURI  3.1.2.11  VALIDATE  escaped headers in the Request-URI: RFC allows 400
BADDATE  3.1.2.12  OK        Date not needed; ignored as the RFC allows
REGBADCT 3.1.2.13  VALIDATE  Contact URI with ``?`` not in ``<>`` -> 400
BADASPEC 3.1.2.14  RAISE     spaces inside ``< sip:... >`` of To -> 400
BADDN    3.1.2.15  RAISE     ``Bell, Alexander`` is not a token display name -> 400
BADVERS  3.1.2.16  RAISE     SIP/7.0 -> 505 with the message (file says _V: it parses)
MISMATCH01 3.1.2.17 RAISE    CSeq method INVITE vs OPTIONS -> 400
MISMATCH02 3.1.2.18 RAISE    CSeq method mismatch with unknown method -> 400 (allowed)
BIGCODE  3.1.2.19  RAISE     status 4294967301 -> response dropped
INSUF    3.3.1     RAISE     no Call-ID/From/To -> 400
MULTI01  3.3.7     RAISE     several Call-ID/CSeq/From/To -> 400
MCL01    3.3.8     RAISE     several Content-Length -> 400
INV2543  3.4.1     OK        RFC 2543 syntax: the RFC asks backwards-compatible elements to
                             accept it (no branch, no From tag, no Content-Length)
TEST_I   (extra)   RAISE     request line without a version, header line without ':'
=================  ========  =============================================================
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drachtio.sip import (
    NameAddr,
    Request,
    Response,
    SipParseError,
    parse_challenge,
    parse_message,
)

DATA = (Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "rfc4475")


def load(name: str) -> bytes:
    return (DATA / f"{name}.dat").read_bytes()


def parse_req(name: str) -> Request:
    msg = parse_message(load(name))
    assert isinstance(msg, Request)
    return msg


def parse_resp(name: str) -> Response:
    msg = parse_message(load(name))
    assert isinstance(msg, Response)
    return msg


def test_all_fifty_files_are_covered() -> None:
    names = {p.stem for p in DATA.glob("*.dat")}
    covered = set(OK_CASES) | set(RAISE_CASES) | set(VALIDATE_CASES)
    assert len(names) == 50
    assert names == covered


# ---------------------------------------------------------------------------------------
# Outcome tables
# ---------------------------------------------------------------------------------------
OK_CASES = [
    "TC_WSINV", "TC_INTMETH", "TC_ESC01_V", "TC_ESCNULL_V", "TC_ESC02_V", "TC_LWSDISP_V",
    "TC_LONGREQ_V", "TC_DBLREQ", "TC_SEMIURI_V", "TC_TRANSPORTS_V", "TC_MPART01",
    "TC_UNREASON_V", "TC_NOREASON_V", "TC_BADDATE_V", "TC_BADBRANCH_V", "TC_UNKSCM_V",
    "TC_NOVELSC_V", "TC_UNKSM2_V", "TC_BEXT01_V", "TC_INVUT_V", "TC_REGAUT01_V",
    "TC_BCAST_V", "TC_ZEROMF_V", "TC_CPARAM01_V", "TC_CPARAM02_V", "TC_REGESCRT_V",
    "TC_SDP01_V", "TC_INV2543_I",
]

# name -> (status, message expected?, fragment of the reason)
RAISE_CASES: dict[str, tuple[int, bool, str]] = {
    "TC_BADINV01_I": (400, True, "Via"),
    "TC_CLERR_I": (400, True, "Content-Length 9999 larger"),
    "TC_NCL_I": (400, True, "malformed Content-Length '-999'"),
    "TC_SCALAR02_V": (400, True, "CSeq number"),
    "TC_SCALARLG_V": (400, True, "CSeq number"),
    "TC_QUOTBAL_I": (400, True, "unterminated quoted string"),
    "TC_LTGTRURI_I": (400, True, "malformed Request-URI"),
    "TC_LWSRURI_I": (400, True, "malformed request line"),
    "TC_LWSSTART_V": (400, True, "malformed request line"),
    "TC_TRWS_I": (400, True, "malformed request line"),
    "TC_BADASPEC_I": (400, True, "whitespace"),
    "TC_BADDN_I": (400, True, "invalid display name 'Bell, Alexander'"),
    "TC_BADVERS_V": (505, True, "unsupported SIP version SIP/7.0"),
    "TC_MISMATCH01_V": (400, True, "CSeq method INVITE does not match request method OPTIONS"),
    "TC_MISMATCH02_V": (400, True, "does not match request method NEWMETHOD"),
    "TC_BIGCODE_V": (400, False, "malformed status line"),
    "TC_INSUF_I": (400, True, "missing Call-ID header"),
    "TC_MULTI01_I": (400, True, "multiple"),
    "TC_MCL01_I": (400, True, "multiple Content-Length headers"),
    "TC_TEST_I": (400, False, "malformed request line"),
}

VALIDATE_CASES: dict[str, str] = {
    "TC_ESCRURI_V": "headers in the Request-URI are not allowed",
    "TC_REGBADCT_I": "must be enclosed in <>",
}


@pytest.mark.parametrize("name", OK_CASES)
def test_valid_cases_parse_validate_and_round_trip(name: str) -> None:
    data = load(name)
    msg = parse_message(data)
    msg.validate()
    if name == "TC_DBLREQ":
        assert msg.to_bytes() + msg.extra == data
    else:
        assert msg.to_bytes() == data
        assert msg.extra == b""


@pytest.mark.parametrize("name", sorted(RAISE_CASES))
def test_refused_cases_raise_with_reason(name: str) -> None:
    status, has_message, fragment = RAISE_CASES[name]
    with pytest.raises(SipParseError) as info:
        parse_message(load(name))
    err = info.value
    assert err.status == status
    assert fragment in err.reason
    assert (err.message is not None) is has_message


@pytest.mark.parametrize("name", sorted(VALIDATE_CASES))
def test_cases_refused_by_validate(name: str) -> None:
    msg = parse_message(load(name))
    with pytest.raises(SipParseError) as info:
        msg.validate()
    assert VALIDATE_CASES[name] in info.value.reason
    assert info.value.status == 400
    assert info.value.message is msg


# ---------------------------------------------------------------------------------------
# Values of the valid cases
# ---------------------------------------------------------------------------------------
def test_wsinv() -> None:
    m = parse_req("TC_WSINV")
    assert m.method == "INVITE"
    assert m.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert m.to.tag == "1918181833n"
    assert str(m.to.uri) == "sip:vivekg@chair-dnrc.example.com"
    assert m.from_.display == 'J Rosenberg \\"'
    assert m.from_.tag == "98asjd8"
    assert m.max_forwards == 68
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert (m.cseq.seq, m.cseq.method) == (9, "INVITE")
    vias = m.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.top_via.protocol == "SIP/2.0"
    assert m.get("Subject") == ""
    assert m.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert [str(r.uri) for r in m.routes] == [
        "sip:services.example.com;lr;unknownwith=value;unknown-no-value"]
    (contact,) = m.contacts
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert contact.q == 0.33
    assert m.content_type == "application/sdp"
    assert m.content_length == 150 == len(m.body)


def test_intmeth() -> None:
    m = parse_req("TC_INTMETH")
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.method == method
    assert m.cseq.method == method
    assert m.cseq.seq == 139122385
    uri = m.parsed_uri
    assert uri is not None
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    assert m.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.to.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.from_.display == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.max_forwards == 255
    assert m.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"
    # the engine can answer it: the odd bytes survive into the response
    resp = m.create_response(200, to_tag="x")
    back = parse_message(resp.to_bytes())
    assert back.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert back.to.tag == "x"
    assert back.call_id == m.call_id


def test_esc01_unescapes_uri_parts() -> None:
    m = parse_req("TC_ESC01_V")
    uri = m.parsed_uri
    assert uri is not None
    assert uri.user == "sips:user@example.com"
    assert uri.host == "example.net"
    assert m.to.uri.user == "user"
    assert m.from_.uri.user == "I have spaces"
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234"  # compact 'i'
    assert m.content_type == "application/sdp"  # compact 'C' in upper case
    (contact,) = m.contacts
    assert contact.uri.user == "caller"
    assert contact.uri.params == {"lr": None, "name": "value%41"}
    assert str(contact.uri) == "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"


def test_escnull() -> None:
    m = parse_req("TC_ESCNULL_V")
    assert m.to.uri.user == "null-\x00-null"
    assert m.from_.uri.user == "null-\x00-null"
    assert [c.uri.user for c in m.contacts] == ["\x00", "\x00\x00"]


def test_esc02_percent_is_not_an_escape_outside_uris() -> None:
    m = parse_req("TC_ESC02_V")
    assert m.method == "RE%47IST%45R"
    assert m.cseq.method == "RE%47IST%45R"
    assert m.to.display == "%Z%45"
    assert m.top_via.branch == "z9hG4bK209%fzsnel234"
    # C%6Fntact is an extension header, not a Contact.
    assert [c.uri.host for c in m.contacts] == ["host1.example.com", "host3.example.com"]
    assert m.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_lwsdisp() -> None:
    m = parse_req("TC_LWSDISP_V")
    assert m.from_.display == "caller"
    assert m.from_.tag == "323"
    assert str(m.from_.uri) == "sip:caller@example.com"


def test_longreq() -> None:
    m = parse_req("TC_LONGREQ_V")
    assert m.to.display is not None and m.to.display.startswith("I have a user name of extreme")
    assert m.to.display.endswith("proportion")
    assert m.to.uri.port == 6000
    assert m.from_.tag is not None and len(m.from_.tag) > 100
    assert m.from_.uri.user is not None and m.from_.uri.user.startswith("amazinglylong")
    assert m.call_id.startswith("longreq.onereallyreally")
    assert len(m.vias) == 34
    assert m.vias[0].host == "sip33.example.com" and m.vias[0].branch is None
    last = m.vias[-1]
    assert last.received == "192.0.2.5"
    assert last.branch is not None and last.branch.startswith("verylonglong")
    assert m.content_length == len(m.body)


def test_dblreq_keeps_first_and_reports_rest() -> None:
    data = load("TC_DBLREQ")
    m = parse_req("TC_DBLREQ")
    assert m.method == "REGISTER"
    assert m.body == b""
    assert m.extra.lstrip(b"\r\n").startswith(b"INVITE sip:joe@example.com SIP/2.0")
    assert m.to_bytes() + m.extra == data


def test_semiuri() -> None:
    m = parse_req("TC_SEMIURI_V")
    uri = m.parsed_uri
    assert uri is not None
    assert uri.user == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert uri.params == {}
    assert m.get_all("Accept") == [
        "application/sdp", "application/pkcs7-mime", "multipart/mixed", "multipart/signed",
        "message/sip", "message/sipfrag"]


def test_transports() -> None:
    m = parse_req("TC_TRANSPORTS_V")
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert m.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_mpart01() -> None:
    m = parse_req("TC_MPART01")
    assert m.content_type == "multipart/mixed"
    mt = m.media_type
    assert mt is not None and mt.params == {"boundary": "7a9cbec02ceef655"}
    assert len(m.body) == 553
    assert m.get("Date") == "Sat, 15 Oct 2005 04:44:56 GMT"  # comma kept: not a list header


def test_unreason_and_noreason() -> None:
    r = parse_resp("TC_UNREASON_V")
    assert r.status == 200
    assert r.reason.startswith("= 2**3 * 5**2 \u043d\u043e")
    assert r.reason.endswith("\u043f\u0440\u043e\u0441\u0442\u043e\u0435")
    n = parse_resp("TC_NOREASON_V")
    assert n.status == 100
    assert n.reason == ""


def test_baddate_is_accepted() -> None:
    m = parse_req("TC_BADDATE_V")
    assert m.get("Date") is not None


def test_badbranch() -> None:
    m = parse_req("TC_BADBRANCH_V")
    assert m.top_via.branch == "z9hG4bK"


def test_unknown_schemes() -> None:
    m = parse_req("TC_UNKSCM_V")
    assert m.uri == "nobodyKnowsThisScheme:totallyopaquecontent"
    assert m.parsed_uri is None  # the engine answers 416
    n = parse_req("TC_NOVELSC_V")
    assert n.uri == "soap.beep://192.0.2.103:3002"
    assert n.parsed_uri is None
    u = parse_req("TC_UNKSM2_V")
    assert u.to.uri.scheme == "isbn" and u.to.uri.opaque == "2983792873"
    assert str(u.from_.uri) == "http://www.example.com" and u.from_.tag == "3234233"
    assert str(u.contacts[0].uri) == "name:John_Smith"


def test_bext01_requires() -> None:
    m = parse_req("TC_BEXT01_V")
    assert m.require == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert m.parsed("Proxy-Require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    assert m.top_via.transport == "TLS"


def test_invut_and_sdp01() -> None:
    assert parse_req("TC_INVUT_V").content_type == "application/unknownformat"
    m = parse_req("TC_SDP01_V")
    assert m.get("Accept") == "text/nobodyKnowsThis"


def test_regaut01_unknown_auth_scheme() -> None:
    m = parse_req("TC_REGAUT01_V")
    (cred,) = m.parsed("Authorization")
    assert cred.scheme == "NoOneKnowsThisScheme"
    assert cred.params == {"opaque-data": "here"}
    assert parse_challenge(m.get("Authorization") or "") == cred


def test_bcast_and_zeromf() -> None:
    r = parse_resp("TC_BCAST_V")
    assert [v.host for v in r.vias] == ["192.0.2.198", "255.255.255.255"]
    assert parse_req("TC_ZEROMF_V").max_forwards == 0


def test_cparams() -> None:
    c1 = parse_req("TC_CPARAM01_V").contacts[0]
    # addr-spec form: ;unknownparam is a header parameter, not a URI parameter
    assert c1.params == {"unknownparam": None}
    assert c1.uri.params == {}
    assert c1.uri.user == "+19725552222"
    c2 = parse_req("TC_CPARAM02_V").contacts[0]
    assert c2.params == {}
    assert c2.uri.params == {"unknownparam": None}


def test_regescrt() -> None:
    c = parse_req("TC_REGESCRT_V").contacts[0]
    assert c.uri.headers == {"Route": "<sip:sip.example.com>"}


def test_inv2543_backwards_compatible() -> None:
    m = parse_req("TC_INV2543_I")
    assert m.top_via.branch is None
    assert m.from_.tag is None
    assert m.max_forwards is None
    assert m.content_length is None
    assert m.body.startswith(b"v=0")
    assert m.record_routes[0].uri.maddr == "ss1.example.com"


# ---------------------------------------------------------------------------------------
# Details of refused cases the engine relies on
# ---------------------------------------------------------------------------------------
def test_badvers_message_can_be_answered() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load("TC_BADVERS_V"))
    msg = info.value.message
    assert isinstance(msg, Request)
    assert msg.version == "SIP/7.0"
    assert msg.get("Call-ID") == "badvers.31417@c.example.com"


def test_lwsstart_message_keeps_what_was_readable() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load("TC_LWSSTART_V"))
    msg = info.value.message
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri) == ("INVITE", "sip:user@example.com")


def test_quotbal_message_has_its_via_for_the_400() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load("TC_QUOTBAL_I"))
    msg = info.value.message
    assert msg is not None
    assert msg.top_via.branch == "z9hG4bKkdjuw39234"
    resp = msg.create_response(400, info.value.reason) if isinstance(msg, Request) else None
    assert resp is not None and resp.get("Via") == msg.get("Via")


def test_badinv01_contact_is_also_invalid() -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse('"Joe" <sip:joe@example.org>;;;;')
