"""RFC 3261 section 12 dialog state: creation on both sides, routing, CSeq, target refresh."""

from __future__ import annotations

import pytest

from drachtio.sip import Request, Response, parse_message
from drachtio.sip.dialog import (
    Dialog,
    DialogState,
    DialogTable,
    dialog_id,
)
from drachtio.sip.transaction import make_response

CRLF = "\r\n"
CALL_ID = "c7dce987675047568fd758fec786ed3e"


def parse(lines: list[str]) -> Request | Response:
    return parse_message(CRLF.join([*lines, "Content-Length: 0", "", ""]).encode())


def invite(
    *,
    method: str = "INVITE",
    uri: str = "sip:bob@biloxi.example.com",
    record_route: tuple[str, ...] = ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"),
    cseq: int = 1,
    contact: str | None = "<sip:alice@192.0.2.1:5060>",
) -> Request:
    lines = [
        f"{method} {uri} SIP/2.0",
        "Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bKp2",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKuac",
        "Max-Forwards: 68",
        *(f"Record-Route: {rr}" for rr in record_route),
        "From: Alice <sip:alice@atlanta.example.com>;tag=ptag2",
        "To: Bob <sip:bob@biloxi.example.com>",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {cseq} {method}",
    ]
    if contact:
        lines.append(f"Contact: {contact}")
    msg = parse(lines)
    assert isinstance(msg, Request)
    return msg


def answer(
    req: Request,
    status: int = 200,
    *,
    to_tag: str | None = "btag9",
    contact: str | None = "<sip:bob@198.51.100.7:5062;transport=udp>",
) -> Response:
    """The response as it arrives at the UAC: Record-Route copied (12.1.1)."""
    headers = [("Record-Route", rr) for rr in req.get_all("Record-Route")]
    if contact:
        headers.append(("Contact", contact))
    resp = parse_message(make_response(req, status, to_tag=to_tag, headers=headers).to_bytes())
    assert isinstance(resp, Response)
    return resp


def in_dialog(
    method: str,
    cseq: int,
    *,
    to_tag: str = "btag9",
    from_tag: str = "ptag2",
    contact: str | None = None,
) -> Request:
    lines = [
        f"{method} sip:bob@198.51.100.7:5062 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKin" + str(cseq),
        "From: Alice <sip:alice@atlanta.example.com>;tag=" + from_tag,
        "To: Bob <sip:bob@biloxi.example.com>;tag=" + to_tag,
        f"Call-ID: {CALL_ID}",
        f"CSeq: {cseq} {method}",
    ]
    if contact:
        lines.append(f"Contact: {contact}")
    msg = parse(lines)
    assert isinstance(msg, Request)
    return msg


# ---------------------------------------------------------------------------------------------
# Creation


def test_uas_dialog_from_invite_and_200() -> None:
    req = invite()
    d = Dialog.from_uas(req, answer(req))
    assert d.id == f"{CALL_ID};from-tag=ptag2" == dialog_id(CALL_ID, "ptag2")
    assert d.is_uas and d.state is DialogState.CONFIRMED and d.confirmed
    assert (d.call_id, d.local_tag, d.remote_tag) == (CALL_ID, "btag9", "ptag2")
    assert d.tags == (CALL_ID, "btag9", "ptag2")
    assert d.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]  # as is
    assert d.remote_target == "sip:alice@192.0.2.1:5060"
    assert d.remote_seq == 1 and d.local_seq == 1
    assert d.local_uri == "sip:bob@biloxi.example.com"
    assert d.remote_uri == "sip:alice@atlanta.example.com"
    assert d.local_target == "<sip:bob@198.51.100.7:5062;transport=udp>"
    assert not d.secure


def test_uac_dialog_from_invite_and_200() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req))
    assert d.id == f"{CALL_ID};from-tag=ptag2"  # the same id as the UAS side
    assert not d.is_uas and d.state is DialogState.CONFIRMED
    assert (d.local_tag, d.remote_tag) == ("ptag2", "btag9")
    assert d.route_set == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]  # reversed
    assert d.remote_target == "sip:bob@198.51.100.7:5062;transport=udp"
    assert d.local_seq == 1 and d.remote_seq is None and d.invite_seq == 1
    assert d.local_uri == "sip:alice@atlanta.example.com"
    assert d.remote_uri == "sip:bob@biloxi.example.com"


def test_both_sides_agree_on_the_id() -> None:
    req = invite()
    resp = answer(req)
    assert Dialog.from_uas(req, resp).id == Dialog.from_uac(req, resp).id


def test_early_dialogs() -> None:
    req = invite()
    uac = Dialog.from_uac(req, answer(req, 180))
    assert uac.state is DialogState.EARLY and uac.early
    uas = Dialog.from_uas(req, answer(req, 183))
    assert uas.early
    uas.send_response(answer(req, 180))
    assert uas.early
    uas.send_response(answer(req, 200))
    assert uas.confirmed


def test_secure_flag() -> None:
    req = invite(uri="sips:bob@biloxi.example.com")
    assert Dialog.from_uas(req, answer(req)).secure
    assert Dialog.from_uac(req, answer(req)).secure
    assert not Dialog.from_uac(req, answer(req), secure=False).secure
    plain = invite()
    assert Dialog.from_uas(plain, answer(plain), secure=True).secure


def test_rfc2543_response_without_to_tag() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req, to_tag=None))
    assert d.remote_tag == "" and d.id == f"{CALL_ID};from-tag=ptag2"


def test_missing_contact_falls_back() -> None:
    req = invite(contact=None)
    uas = Dialog.from_uas(req, answer(req))
    assert uas.remote_target == "sip:alice@atlanta.example.com"
    uac = Dialog.from_uac(req, answer(req, contact=None))
    assert uac.remote_target == req.uri


def test_creation_errors() -> None:
    req = invite()
    with pytest.raises(ValueError, match="To tag"):
        Dialog.from_uas(req, answer(req, to_tag=None))
    with pytest.raises(ValueError):
        Dialog.from_uas(req, answer(req, 100, to_tag=None))
    with pytest.raises(ValueError):
        Dialog.from_uac(req, answer(req, 486))
    opt = invite(method="OPTIONS")
    with pytest.raises(ValueError, match="OPTIONS"):
        Dialog.from_uac(opt, answer(opt))
    with pytest.raises(TypeError):
        Dialog.from_uas(answer(req), req)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Dialog(
            call_id=None,  # type: ignore[arg-type]
            local_tag="a",
            remote_tag="b",
            local_party="",
            remote_party="",
            remote_target="sip:x",
            is_uas=True,
        )


def test_subscribe_dialog() -> None:
    sub = invite(method="SUBSCRIBE")
    d = Dialog.from_uac(sub, answer(sub, 202))
    assert d.confirmed and d.method == "SUBSCRIBE" and d.invite_seq is None


# ---------------------------------------------------------------------------------------------
# Building requests (12.2.1.1)


def test_uac_requests_loose_routing_and_cseq() -> None:
    req = invite(cseq=101)
    d = Dialog.from_uac(req, answer(req))
    ack = d.create_request("ACK")
    assert ack.uri == "sip:bob@198.51.100.7:5062;transport=udp"
    assert ack.get_all("Route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert (ack.cseq.seq, ack.cseq.method) == (101, "ACK")
    assert ack.from_.tag == "ptag2" and ack.to.tag == "btag9" and ack.call_id == CALL_ID
    assert ack.get("Max-Forwards") == "70" and ack.get("Via") is None
    info = d.create_request("INFO", headers=[("Content-Type", "application/x")], body=b"hi")
    assert (info.cseq.seq, info.cseq.method) == (102, "INFO")
    assert info.get("Contact") is None  # not a target refresh
    assert info.get("Content-Type") == "application/x" and info.body == b"hi"
    bye = d.create_request("BYE")
    assert bye.cseq.seq == 103 and d.local_seq == 103
    # the built request is a valid message on the wire
    bye.prepend("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbye")
    parsed = parse_message(bye.to_bytes())
    assert isinstance(parsed, Request) and parsed.cseq.seq == 103


def test_reinvite_sets_the_seq_for_its_ack_and_cancel() -> None:
    req = invite(cseq=5)
    d = Dialog.from_uac(req, answer(req))
    reinv = d.create_request("INVITE", body=b"v=0\r\n")
    assert reinv.cseq.seq == 6 and d.invite_seq == 6
    assert reinv.get("Contact") == "<sip:alice@192.0.2.1:5060>"  # target refresh carries ours
    assert d.create_request("CANCEL").cseq.seq == 6
    assert d.create_request("ACK").cseq.seq == 6
    assert d.create_request("UPDATE", headers={"Contact": "<sip:alt@h>"}).get_all("Contact") == [
        "<sip:alt@h>"
    ]
    assert d.create_request("NOTIFY").cseq.seq == 8


def test_uas_first_request_uses_remote_seq_plus_one() -> None:
    req = invite(cseq=1)
    d = Dialog.from_uas(req, answer(req))
    bye = d.create_request("BYE")
    assert bye.cseq.seq == 2  # drachtio: "CSeq: 2 BYE on a UAS leg whose INVITE had CSeq 1"
    assert bye.uri == "sip:alice@192.0.2.1:5060"
    assert bye.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert bye.from_.tag == "btag9" and bye.to.tag == "ptag2"
    assert bye.get("From") == d.local_party and bye.get("To") == d.remote_party
    with pytest.raises(ValueError, match="no INVITE"):
        d.create_request("ACK")  # the UAS never sent an INVITE
    explicit = Dialog.from_uas(req, answer(req), local_seq=1000)
    assert explicit.create_request("BYE").cseq.seq == 1001


def test_no_route_set() -> None:
    req = invite(record_route=())
    d = Dialog.from_uac(req, answer(req))
    bye = d.create_request("BYE")
    assert d.route_set == [] and bye.get("Route") is None
    assert bye.uri == d.remote_target


def test_strict_routing() -> None:
    req = invite(
        record_route=("<sip:strict.example.com;maddr=10.0.0.1>", "<sip:loose.example.com;lr>")
    )
    d = Dialog.from_uas(req, answer(req))
    assert d.route_set[0] == "<sip:strict.example.com;maddr=10.0.0.1>"
    bye = d.create_request("BYE")
    assert bye.uri == "sip:strict.example.com;maddr=10.0.0.1"
    assert bye.get_all("Route") == ["<sip:loose.example.com;lr>", "<sip:alice@192.0.2.1:5060>"]
    assert d.request_target() == (bye.uri, bye.get_all("Route"))


def test_strict_routing_strips_disallowed_uri_parts() -> None:
    req = invite(record_route=("<sip:strict.example.com;method=INVITE?X-H=1>",))
    d = Dialog.from_uas(req, answer(req))
    uri, routes = d.request_target()
    assert uri == "sip:strict.example.com"
    assert routes == ["<sip:alice@192.0.2.1:5060>"]


def test_create_request_errors() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req))
    for bad in ("", "B YE", 5):
        with pytest.raises(ValueError):
            d.create_request(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        d.create_request("BYE", cseq=2**31)
    with pytest.raises(TypeError):
        d.create_request("BYE", headers=[("X", None)])  # type: ignore[list-item]
    assert d.create_request("BYE", cseq=50).cseq.seq == 50
    assert d.create_request("INFO").cseq.seq == 51
    d.terminate()
    assert d.state is DialogState.TERMINATED
    with pytest.raises(ValueError, match="terminated"):
        d.create_request("BYE")


# ---------------------------------------------------------------------------------------------
# Receiving requests (12.2.2)


def test_remote_cseq_ordering() -> None:
    req = invite(cseq=10)
    d = Dialog.from_uas(req, answer(req))
    assert d.receive_request(in_dialog("INFO", 12)) is None
    assert d.remote_seq == 12
    assert d.receive_request(in_dialog("INFO", 11)) == 500  # out of order
    assert d.remote_seq == 12
    assert d.receive_request(in_dialog("INFO", 12)) is None  # not lower: accepted
    assert d.receive_request(in_dialog("ACK", 10)) is None  # ACK carries the INVITE's number
    assert d.remote_seq == 12
    assert d.receive_request(in_dialog("BYE", 40)) is None  # gaps are fine
    assert d.remote_seq == 40


def test_uac_side_remote_seq_starts_empty() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req))
    theirs = in_dialog("BYE", 7, to_tag="ptag2", from_tag="btag9")
    assert d.receive_request(theirs) is None and d.remote_seq == 7
    assert d.receive_request(in_dialog("INFO", 3, to_tag="ptag2", from_tag="btag9")) == 500


def test_receive_request_for_another_dialog() -> None:
    req = invite()
    d = Dialog.from_uas(req, answer(req))
    assert d.receive_request(in_dialog("BYE", 2, to_tag="nope")) == 481
    assert d.receive_request(in_dialog("BYE", 2, from_tag="nope")) == 481
    d.terminate()
    assert d.receive_request(in_dialog("BYE", 2)) == 481
    with pytest.raises(TypeError):
        d.receive_request(answer(req))  # type: ignore[arg-type]


def test_target_refresh_by_request() -> None:
    req = invite()
    d = Dialog.from_uas(req, answer(req))
    d.receive_request(in_dialog("INFO", 2, contact="<sip:alice@203.0.113.9>"))
    assert d.remote_target == "sip:alice@192.0.2.1:5060"  # INFO is not a target refresh
    d.receive_request(in_dialog("INVITE", 3, contact="<sip:alice@203.0.113.9>"))
    assert d.remote_target == "sip:alice@203.0.113.9"
    d.receive_request(in_dialog("UPDATE", 4, contact='"A" <sip:alice@203.0.113.10:5070>;expires=3'))
    assert d.remote_target == "sip:alice@203.0.113.10:5070"
    d.receive_request(in_dialog("UPDATE", 5))  # no Contact: unchanged
    assert d.remote_target == "sip:alice@203.0.113.10:5070"
    assert d.create_request("BYE").uri == "sip:alice@203.0.113.10:5070"


def test_rejected_request_does_not_refresh_target() -> None:
    req = invite(cseq=9)
    d = Dialog.from_uas(req, answer(req))
    assert d.receive_request(in_dialog("INVITE", 8, contact="<sip:evil@h>")) == 500
    assert d.remote_target == "sip:alice@192.0.2.1:5060"


# ---------------------------------------------------------------------------------------------
# Following responses


def test_uac_early_dialog_confirmed_by_2xx_recomputes_route_set() -> None:
    req = invite(record_route=("<sip:p1.example.com;lr>",))
    early = answer(req, 180, contact="<sip:bob@early.example.com>")
    d = Dialog.from_uac(req, early)
    assert d.early and d.route_set == ["<sip:p1.example.com;lr>"]
    assert d.remote_target == "sip:bob@early.example.com"
    d.receive_response(answer(req, 183, contact="<sip:bob@early2.example.com>"))
    assert d.early and d.remote_target == "sip:bob@early2.example.com"
    ok = answer(req, 200, contact="<sip:bob@final.example.com>")
    ok.set("Record-Route", "<sip:a.example.com;lr>, <sip:b.example.com;lr>")
    d.receive_response(ok)
    assert d.confirmed
    assert d.route_set == ["<sip:b.example.com;lr>", "<sip:a.example.com;lr>"]
    assert d.remote_target == "sip:bob@final.example.com"


def test_uac_target_refresh_by_2xx_only() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req))
    upd = d.create_request("UPDATE")
    upd.prepend("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKupd")
    rejected = parse_message(
        make_response(upd, 491, headers=[("Contact", "<sip:no@h>")]).to_bytes()
    )
    assert isinstance(rejected, Response)
    d.receive_response(rejected)
    assert d.remote_target == "sip:bob@198.51.100.7:5062;transport=udp"
    ok = parse_message(make_response(upd, 200, headers=[("Contact", "<sip:yes@h>")]).to_bytes())
    assert isinstance(ok, Response)
    d.receive_response(ok)
    assert d.remote_target == "sip:yes@h"
    assert d.route_set == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]  # unchanged
    info = d.create_request("INFO")
    info.prepend("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKinfo")
    info_ok = parse_message(make_response(info, 200, headers=[("Contact", "<sip:i@h>")]).to_bytes())
    assert isinstance(info_ok, Response)
    d.receive_response(info_ok)
    assert d.remote_target == "sip:yes@h"  # INFO is not a target refresh


def test_receive_response_from_elsewhere() -> None:
    req = invite()
    d = Dialog.from_uac(req, answer(req))
    other = invite()
    other.set("Call-ID", "different")
    with pytest.raises(ValueError):
        d.receive_response(answer(other))
    with pytest.raises(TypeError):
        d.receive_response(req)  # type: ignore[arg-type]


def test_send_response_only_confirms_on_2xx_to_creating_method() -> None:
    req = invite()
    d = Dialog.from_uas(req, answer(req, 180))
    d.send_response(answer(req, 486))
    assert d.early
    with pytest.raises(TypeError):
        d.send_response(req)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# DialogTable


def test_table_lookup_both_directions() -> None:
    req = invite()
    resp = answer(req)
    uas = Dialog.from_uas(req, resp)
    table = DialogTable()
    table.add(uas)
    assert len(table) == 1 and uas in table and list(table) == [uas]
    assert table.get(uas.id) is uas
    assert table.lookup(CALL_ID, "btag9", "ptag2") is uas
    assert table.match_request(in_dialog("BYE", 2)) is uas
    assert table.match_request(in_dialog("BYE", 2, to_tag="zzz")) is None
    assert table.get("nope") is None and table.lookup(CALL_ID, "ptag2", "btag9") is None
    uac = Dialog.from_uac(req, resp)
    other_side = DialogTable()
    other_side.add(uac)
    assert other_side.match_response(resp) is uac
    assert other_side.match_request(in_dialog("BYE", 2, to_tag="ptag2", from_tag="btag9")) is uac
    table.remove(uas)
    assert len(table) == 0 and table.get(uas.id) is None and uas not in table
    table.remove(uas)  # idempotent
    with pytest.raises(TypeError):
        table.add("dialog")  # type: ignore[arg-type]


def test_table_forked_early_dialogs_share_an_id() -> None:
    req = invite()
    a = Dialog.from_uac(req, answer(req, 180, to_tag="forkA"))
    b = Dialog.from_uac(req, answer(req, 180, to_tag="forkB"))
    table = DialogTable()
    table.add(a)
    table.add(b)
    assert a.id == b.id and len(table) == 2
    assert table.get(a.id) is b  # most recent early one
    assert table.get_all(a.id) == [a, b]
    a.receive_response(answer(req, 200, to_tag="forkA"))
    assert table.get(a.id) is a  # a confirmed one wins
    table.remove(a)
    assert table.get(a.id) is b and table.get_all(a.id) == [b]


def test_table_add_replaces_same_tags() -> None:
    req = invite()
    first = Dialog.from_uas(req, answer(req))
    second = Dialog.from_uas(req, answer(req))
    table = DialogTable()
    table.add(first)
    table.add(second)
    assert len(table) == 1 and table.get_all(first.id) == [second]
    assert table.lookup(*first.tags) is second


def test_repr_mentions_role_and_state() -> None:
    req = invite()
    assert "uac confirmed" in repr(Dialog.from_uac(req, answer(req)))
