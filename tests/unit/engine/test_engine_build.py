"""Default-header building (wire-protocol.md 5.1-5.6) and the app SIP splitter."""

from __future__ import annotations

import pytest

from drachtio.engine.appmsg import AppSipError, canonical_name, parse_app_sip, substitute_localhost
from drachtio.engine.build import (
    BuildError,
    build_in_dialog_request,
    build_new_request,
    build_response,
    contact_for,
)
from drachtio.sip import Request, Response, parse_message
from drachtio.sip.dialog import Dialog

VIA = "SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bKabc"
HP = "127.0.0.1:5070"
SDP = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"


def new(text: str) -> Request:
    return build_new_request(parse_app_sip(text), via=VIA, hostport=HP, proto="udp")


class TestAppSip:
    def test_request_split_and_header_kinds(self) -> None:
        m = parse_app_sip("INVITE sip:b@x SIP/2.0\r\nfrom: <sip:a@y>\r\nVia: v\r\nroute: <sip:r>\r\n"
                          "x-foo: 1\r\np-charge-info: a\r\nrseq: 1\r\ncontent-length: 99\r\n\r\nv=0")
        assert (m.method, m.uri, m.is_response) == ("INVITE", "sip:b@x", False)
        assert m.known == [("From", "<sip:a@y>")]  # Via/Route/RSeq/Content-Length dropped
        assert m.custom == [("x-foo", "1"), ("P-Charge-Info", "a")]
        assert m.body == b"v=0"  # the app's Content-Length is ignored

    def test_response_and_utf8_body(self) -> None:
        m = parse_app_sip("SIP/2.0 486 Busy Here\r\ncall-id: 1\r\n\r\nhé")
        assert (m.status, m.reason, m.is_response) == (486, "Busy Here", True)
        assert m.body == "hé".encode()

    def test_no_blank_line_and_bad_lines(self) -> None:
        m = parse_app_sip("ACK sip:x SIP/2.0\r\nbad line\r\nX-Ok: 1")
        assert m.method == "ACK" and m.custom == [("X-Ok", "1")]

    @pytest.mark.parametrize("text", ["", "garbage", "SIP/2.0 99 x\r\n\r\n", "INVITE sip:x\r\n\r\n"])
    def test_bad_start_line(self, text: str) -> None:
        with pytest.raises(AppSipError):
            parse_app_sip(text)

    def test_canonical_names(self) -> None:
        assert canonical_name("call-id") == ("Call-ID", True)
        assert canonical_name("i") == ("Call-ID", True)
        assert canonical_name("www-authenticate") == ("WWW-Authenticate", True)
        assert canonical_name("x-my-header") == ("x-my-header", False)
        assert canonical_name("p-charge-info") == ("P-Charge-Info", False)

    def test_localhost_substitution(self) -> None:
        assert substitute_localhost("<sip:caller@localhost>;tag=1", HP) == f"<sip:caller@{HP}>;tag=1"
        assert substitute_localhost("sip:localhost:5080", HP) == f"sip:{HP}"
        assert substitute_localhost('"x" <sip:a@example.com>', HP) == '"x" <sip:a@example.com>'


class TestNewRequest:
    def test_defaults_like_the_reference(self) -> None:
        r = new("OPTIONS sip:someone@127.0.0.1:5080 SIP/2.0\r\nX-Probe: out\r\n\r\n")
        names = [n for n, _ in r.headers]
        assert names == ["Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq",
                         "Content-Length", "X-Probe"]
        assert r.get("Max-Forwards") == "70"
        assert str(r.from_.uri) == f"sip:{HP}" and len(r.from_.tag) == 13
        assert r.get("To") == "<sip:someone@127.0.0.1:5080>"
        assert r.cseq.method == "OPTIONS" and 0 < r.cseq.seq < 2**27
        assert len(r.call_id) == 36
        parse_message(r.to_bytes()).validate()

    def test_app_values_kept_and_contact_for_invite(self) -> None:
        r = new("INVITE sip:b@1.2.3.4 SIP/2.0\r\nfrom: <sip:caller@localhost>\r\nto: <sip:b@x>\r\n"
                "call-id: abc\r\ncseq: 7 INVITE\r\nmax-forwards: 10\r\n\r\n" + SDP)
        assert str(r.from_.uri) == f"sip:caller@{HP}" and r.from_.tag
        assert r.get("To") == "<sip:b@x>" and r.call_id == "abc" and r.cseq.seq == 7
        assert r.get("Max-Forwards") == "10"
        assert r.get("Contact") == f"<sip:{HP}>"
        assert r.get("Content-Type") == "application/sdp"
        assert r.get("Content-Length") == str(len(SDP))

    def test_contact_transport_param(self) -> None:
        assert contact_for(HP, "tcp") == f"<sip:{HP};transport=tcp>"
        r = build_new_request(parse_app_sip("SUBSCRIBE sip:b@x SIP/2.0\r\n\r\n"), via=VIA,
                              hostport=HP, proto="tcp")
        assert r.get("Contact") == f"<sip:{HP};transport=tcp>"

    def test_given_contact_localhost(self) -> None:
        r = new("INVITE sip:b@x SIP/2.0\r\ncontact: <sip:caller@localhost>\r\n\r\n")
        assert r.get("Contact") == f"<sip:caller@{HP}>"

    def test_missing_content_type(self) -> None:
        with pytest.raises(BuildError, match="missing content-type"):
            new("MESSAGE sip:b@x SIP/2.0\r\n\r\nhello")

    def test_no_contact_for_options(self) -> None:
        assert not new("OPTIONS sip:b@x SIP/2.0\r\n\r\n").has("Contact")


def _invite() -> Request:
    return parse_message(
        b"INVITE sip:svc@127.0.0.1:5070 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK1;rport=5080\r\n"
        b"Record-Route: <sip:proxy.example.com;lr>\r\n"
        b"From: <sip:peer@127.0.0.1:5080>;tag=ptag2\r\nTo: <sip:svc@127.0.0.1:5070>\r\n"
        b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: <sip:peer@127.0.0.1:5080>\r\n"
        b"Supported: 100rel\r\nContent-Length: 0\r\n\r\n"
    )


class TestResponse:
    def test_dialog_headers_from_request(self) -> None:
        req = _invite()
        app = parse_app_sip("SIP/2.0 200 OK\r\nfrom: wrong\r\nto: <sip:svc@127.0.0.1:5070>\r\n"
                            "call-id: wrong\r\nX-A: 1\r\n\r\n" + SDP)
        r = build_response(req, app, to_tag="T1", hostport=HP, proto="udp", add_contact=True,
                           copy_record_route=True)
        assert isinstance(r, Response) and r.status == 200
        assert r.get("From") == req.get("From") and r.call_id == "c1"
        assert r.to.tag == "T1" and r.cseq.seq == 1
        assert r.get("Record-Route") == "<sip:proxy.example.com;lr>"
        assert r.get("Contact") == f"<sip:{HP}>"
        assert r.get("Content-Type") == "application/sdp"
        names = [n for n, _ in r.headers]
        assert names[-1] == "X-A" and names[-2] == "Content-Length"

    def test_provisional_without_contact_and_100_without_tag(self) -> None:
        req = _invite()
        r = build_response(req, parse_app_sip("SIP/2.0 180 Ringing\r\n\r\n"), to_tag="T1",
                           hostport=HP, proto="udp", add_contact=False, copy_record_route=False)
        assert not r.has("Contact") and r.to.tag == "T1"
        r = build_response(req, parse_app_sip("SIP/2.0 100 Trying\r\n\r\n"), to_tag="T1",
                           hostport=HP, proto="udp", add_contact=False, copy_record_route=False)
        assert r.to.tag is None

    def test_rseq_and_app_contact(self) -> None:
        r = build_response(_invite(), parse_app_sip(
            "SIP/2.0 183 Session Progress\r\nRequire: 100rel\r\nContact: <sip:me@localhost>\r\n\r\n"),
            to_tag="T", hostport=HP, proto="udp", add_contact=True, copy_record_route=True, rseq=5)
        assert r.get("RSeq") == "5" and r.get("Contact") == f"<sip:me@{HP}>"


class TestInDialog:
    def _dialog(self) -> Dialog:
        req = _invite()
        resp = req.create_response(200, to_tag="mytag", headers=[("Contact", f"<sip:{HP}>")])
        return Dialog.from_uas(req, resp)

    def test_placeholder_and_cseq(self) -> None:
        d = self._dialog()
        r = build_in_dialog_request(d, parse_app_sip("BYE sip:placeholder SIP/2.0\r\nX-R: 1\r\n\r\n"),
                                    via=VIA, hostport=HP, proto="udp")
        assert r.uri == "sip:peer@127.0.0.1:5080"
        assert r.get("Route") == "<sip:proxy.example.com;lr>"
        assert r.cseq.seq == 2 and r.cseq.method == "BYE"
        assert r.from_.tag == "mytag" and r.to.tag == "ptag2" and r.call_id == "c1"
        assert r.get("X-R") == "1" and not r.has("Contact")

    def test_reinvite_gets_contact_ack_reuses_cseq(self) -> None:
        d = self._dialog()
        inv = build_in_dialog_request(d, parse_app_sip("INVITE sip:placeholder SIP/2.0\r\n\r\n" + SDP),
                                      via=VIA, hostport=HP, proto="udp")
        assert inv.get("Contact") and inv.get("Content-Type") == "application/sdp"
        ack = build_in_dialog_request(d, parse_app_sip("ACK sip:whatever SIP/2.0\r\n\r\n"),
                                      via=VIA, hostport=HP, proto="udp")
        assert ack.cseq.seq == inv.cseq.seq and ack.cseq.method == "ACK"
        assert ack.uri == "sip:peer@127.0.0.1:5080"
