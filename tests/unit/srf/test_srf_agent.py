"""The agent's pending maps and frame parsing, over an in-memory channel (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from srf_fake_engine import SDP_A, invite_text

from drachtio.srf import EngineChannel, NotConnectedError, Srf
from drachtio.wire.codec import ControlMessage, new_id


class MemoryChannel:
    """An EngineChannel whose far end is the test."""

    def __init__(self) -> None:
        self.on_message: Callable[[ControlMessage], None] | None = None
        self.on_ready: Callable[[str, str, str], None] | None = None
        self.on_lost: Callable[[BaseException | None], None] | None = None
        self.out: list[ControlMessage] = []
        self._ready = False
        self.auto_ok_routes = True

    @property
    def ready(self) -> bool:
        return self._ready

    def send(self, msg: ControlMessage) -> None:
        if not self._ready:
            raise ConnectionError("down")
        self.out.append(msg)
        if self.auto_ok_routes and msg.tokens[1] == "route":
            self.push([new_id(), "response", msg.tokens[0], "OK"])

    def close(self) -> None:
        self._ready = False

    # test side
    def up(self) -> None:
        self._ready = True
        assert self.on_ready is not None
        self.on_ready("udp/127.0.0.1:5060", "v1", "udp/127.0.0.1:5060")

    def down(self) -> None:
        self._ready = False
        assert self.on_lost is not None
        self.on_lost(ConnectionResetError("gone"))

    def push(self, tokens: list[str], sip: str | None = None) -> None:
        assert self.on_message is not None
        self.on_message(ControlMessage(tokens, sip))

    def network_request(self, text: str, txn: str, dialog_id: str = "",
                        extra: list[str] | None = None) -> None:
        toks = [new_id(), "sip", "network", str(len(text)), "udp", "10.0.0.9", "5099",
                "12:00:00.000000", txn, dialog_id]
        self.push(toks + (extra if extra is not None else ["10.0.0.1", "5060", "tok1"]), text)

    def last(self, kind: str = "sip") -> ControlMessage:
        return [m for m in self.out if m.tokens[1] == kind][-1]


@pytest.fixture
async def mem() -> tuple[Srf, MemoryChannel]:
    srf = Srf()
    ch = MemoryChannel()
    assert isinstance(ch, EngineChannel)
    srf.attach(ch, server_address="10.0.0.1")
    ch.up()
    await srf.wait_ready()
    return srf, ch


def test_attach_rejects_non_channel() -> None:
    with pytest.raises(TypeError):
        Srf().attach(object())  # type: ignore[arg-type]


async def test_request_meta_from_frame(mem) -> None:
    srf, ch = mem
    seen = []
    srf.options(lambda req, res: seen.append(req))
    ch.network_request(invite_text(method="OPTIONS"), "txn-1")
    await asyncio.sleep(0)
    req = seen[0]
    assert (req.source, req.source_address, req.source_port, req.protocol) == (
        "network", "10.0.0.9", 5099, "udp")
    assert req.transaction_id == "txn-1" and req.dialog_id == ""
    assert req.received_on == "10.0.0.1:5060" and req.session_token == "tok1"
    assert req.server is not None and req.server.address == "10.0.0.1"
    assert req.server.hostport == "udp/127.0.0.1:5060"
    assert req.calling_number == "+15083084809" and req.called_number == "callee"
    assert req.calling_name == "Alice" and req.call_id == "call-1"
    assert req.get_parsed_header("CSeq").seq == 1
    with pytest.raises(KeyError, match="Call-ID: call-1"):
        req.get_parsed_header("Refer-To")


async def test_malformed_frames_never_crash(mem, caplog) -> None:
    srf, ch = mem
    seen = []
    srf.options(lambda req, res: seen.append(req))
    ch.push([new_id(), "sip", "network", "1", "udp"], "OPTIONS x")  # too few tokens
    ch.network_request("this is not SIP at all", "txn-x")
    ch.push([new_id(), "bogus"])  # unknown type: the reference throws
    ch.push([new_id(), "response", "unknown-id", "OK"])  # answer to nothing
    ch.push([new_id(), "cdr:attempt", "network", "t"], "garbage")
    ch.network_request(invite_text(method="OPTIONS"), "txn-2")
    await asyncio.sleep(0)
    assert [r.transaction_id for r in seen] == ["txn-2"]


async def test_response_frames_with_continue_stay_pending(mem) -> None:
    srf, ch = mem
    agent = srf.agents[0]
    got: list[list[str]] = []
    mid = agent.command(["proxy", "txn"], "INVITE sip:x SIP/2.0\r\n\r\n",
                        lambda m: got.append(m.tokens))
    cont = [new_id(), "response", mid, "OK", "network", "1", "udp", "h", "p", "t", "", "",
            "continue"]
    ch.push(cont, "SIP/2.0 486 Busy Here\r\n\r\n")
    assert mid in agent.pending
    ch.push([new_id(), "response", mid, "OK", "done"])
    assert mid not in agent.pending and len(got) == 2


async def test_pending_invite_by_txn_and_cancel(mem) -> None:
    srf, ch = mem
    agent = srf.agents[0]
    reqs = []
    srf.invite(lambda req, res: reqs.append(req))
    ch.network_request(invite_text(body=SDP_A), "inv-txn")
    await asyncio.sleep(0)
    inv = reqs[0]
    assert agent.pending_invites == {"inv-txn": inv}
    assert agent.invites_by_call_id == {"call-1": inv}
    cancels = []
    inv.on("cancel", cancels.append)
    # the engine relays the CANCEL with the INVITE's transaction id
    ch.network_request(invite_text(method="CANCEL", call_id="other-call-id"), "inv-txn")
    assert inv.canceled and cancels[0].method == "CANCEL"
    assert agent.pending_invites == {} and agent.invites_by_call_id == {}
    # a CANCEL for nothing is dropped (never reaches middleware)
    ch.network_request(invite_text(method="CANCEL", call_id="zzz"), "nope")
    await asyncio.sleep(0)
    assert len(reqs) == 1


async def test_final_response_forgets_pending_invite(mem) -> None:
    srf, ch = mem
    agent = srf.agents[0]
    srf.invite(lambda req, res: res.send(486))
    ch.network_request(invite_text(), "t1")
    await asyncio.sleep(0)
    assert agent.pending_invites == {}
    sent = ch.last()
    assert sent.tokens[1:4] == ["sip", "t1", ""]
    assert sent.sip is not None
    lines = sent.sip.split("\r\n")
    assert lines[0] == "SIP/2.0 486 Busy Here"
    assert "Call-ID: call-1" in lines and "CSeq: 1 INVITE" in lines
    assert "Content-Length: 0" in lines


async def test_to_tag_chosen_by_app(mem) -> None:
    srf, ch = mem
    srf.invite(lambda req, res: res.send(486, headers={"To": "<sip:x@y>;tag=mytag"}))
    ch.network_request(invite_text(), "t1")
    await asyncio.sleep(0)
    sip = ch.last().sip or ""
    assert "To: <sip:callee@127.0.0.1:5060>;tag=mytag\r\n" in sip


async def test_on_ack_then_middleware(mem) -> None:
    srf, ch = mem
    agent = srf.agents[0]
    acks = []
    mw_saw = []
    srf.use("ack", lambda req, res, next: (mw_saw.append(req.method), next()))

    def on_invite(req, res):
        res.send(200, body=SDP_A, headers={"Content-Type": "application/sdp"},
                 on_ack=lambda ack: acks.append(ack.method))

    srf.invite(on_invite)
    ch.network_request(invite_text(body=SDP_A), "t1")
    await asyncio.sleep(0)
    out = ch.last()
    echo = (out.sip or "").replace("To: <sip:callee@127.0.0.1:5060>",
                                   "To: <sip:callee@127.0.0.1:5060>;tag=abc")
    echo = echo.replace("Content-Length", "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK1\r\n"
                        "Content-Length", 1)
    ch.push([new_id(), "response", out.tokens[0], "OK", "application", "1", "udp", "10.0.0.9",
             "5099", "t", "t1", "call-1;from-tag=ptag1", "", "Msg sent:"], echo)
    assert agent.pending_ack.keys() == {"call-1;from-tag=ptag1"}
    ch.network_request(invite_text(method="ACK", to_tag="abc"), "t1", "call-1;from-tag=ptag1",
                       extra=[""])
    await asyncio.sleep(0)
    assert acks == ["ACK"] and mw_saw == ["ACK"] and agent.pending_ack == {}


async def test_lost_channel_fails_everything_pending(mem) -> None:
    srf, ch = mem
    agent = srf.agents[0]
    fut = srf.request("sip:x@10.0.0.9", method="OPTIONS")
    out = ch.last()
    echo = "OPTIONS sip:x@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\n" \
           "From: <sip:h>;tag=1\r\nTo: <sip:x@10.0.0.9>\r\nCall-ID: c9\r\nCSeq: 1 OPTIONS\r\n" \
           "Content-Length: 0\r\n\r\n"
    ch.push([new_id(), "response", out.tokens[0], "OK", "application", "1", "udp", "h", "p",
             "t", "new-txn", "Msg sent:"], echo)
    req = await fut
    assert agent.pending_sip == {"new-txn": req}
    fut2 = srf.request("sip:y@10.0.0.9", method="OPTIONS")
    assert len(agent.pending) == 1
    ch.down()
    with pytest.raises(NotConnectedError):
        await fut2
    with pytest.raises(NotConnectedError):
        await req.response()
    assert agent.idle and agent.pending_sip == {}
    with pytest.raises(NotConnectedError):
        srf.request("sip:z@10.0.0.9", method="OPTIONS")


async def test_responses_routed_by_transaction_id(mem) -> None:
    srf, ch = mem
    agent = srf.agents[0]
    fut = srf.request("sip:x@10.0.0.9", method="OPTIONS")
    out = ch.last()
    echo = "OPTIONS sip:x@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\n" \
           "From: <sip:h>;tag=1\r\nTo: <sip:x@10.0.0.9>\r\nCall-ID: c9\r\nCSeq: 1 OPTIONS\r\n" \
           "Content-Length: 0\r\n\r\n"
    ch.push([new_id(), "response", out.tokens[0], "OK", "application", "1", "udp", "h", "p",
             "t", "T1", "Msg sent:"], echo)
    req = await fut
    resp = echo.replace("OPTIONS sip:x@10.0.0.9 SIP/2.0", "SIP/2.0 200 OK")
    # a response for another transaction is ignored
    ch.push([new_id(), "sip", "network", "1", "udp", "10.0.0.9", "5099", "t", "T2", "", ""], resp)
    assert "T1" in agent.pending_sip
    ch.push([new_id(), "sip", "network", "1", "udp", "10.0.0.9", "5099", "t", "T1", "", ""], resp)
    res = await req.response()
    assert res.status == 200 and res.source_address == "10.0.0.9" and res.source_port == 5099
    assert agent.pending_sip == {}


async def test_content_length_counts_utf8_bytes(mem) -> None:
    srf, ch = mem
    srf.request("sip:x@10.0.0.9", method="MESSAGE", body="héllo 😀",
                headers={"Content-Type": "text/plain"})
    sip = ch.last().sip or ""
    assert "Content-Length: 11\r\n" in sip  # 'héllo 😀' is 11 bytes (the reference said 8)
    assert sip.endswith("\r\n\r\nhéllo 😀")


async def test_multibyte_body_received_whole(mem) -> None:
    srf, ch = mem
    seen = []
    srf.message(lambda req, res: seen.append(req.body))
    body = "ünïcödé body 😀"
    text = invite_text(method="MESSAGE").replace(
        "Content-Length: 0", f"Content-Type: text/plain\r\nContent-Length: {len(body.encode())}"
    ) + body
    ch.network_request(text, "t-mb")
    await asyncio.sleep(0)
    assert seen == [body]


CAPTURED_INVITE = (
    "INVITE sip:probe@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-c1;rport=5080\r\n"
    "From: <sip:peer@127.0.0.1:5080>;tag=ptag2\r\n"
    "To: <sip:probe@127.0.0.1:5070>\r\n"
    "Call-ID: c7dce987675047568fd758fec786ed3e\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:peer@127.0.0.1:5080>\r\n"
    "Content-Type: application/sdp\r\n"
    f"Content-Length: {len(SDP_A)}\r\n\r\n{SDP_A}"
)


async def test_captured_frames_uas_flow(mem) -> None:
    """The INVITE / 200 / ACK / BYE exchange of wire-protocol.md section 9, frame by frame."""
    srf, ch = mem
    dialogs = []

    @srf.invite
    async def on_invite(req, res):
        dialogs.append(await srf.create_uas(req, res, local_sdp=SDP_A))

    ch.push(["e1", "sip", "network", "476", "udp", "127.0.0.1", "5080", "12:46:41.262207",
             "32aa471b-1", "", "127.0.0.1", "5070", ""], CAPTURED_INVITE)
    await asyncio.sleep(0.01)
    ok = ch.last()
    assert ok.tokens[1:4] == ["sip", "32aa471b-1", ""]
    assert (ok.sip or "").startswith("SIP/2.0 200 OK\r\n")
    echo = (ok.sip or "").replace(
        "To: <sip:probe@127.0.0.1:5070>",
        "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-c1;rport=5080\r\n"
        "To: <sip:probe@127.0.0.1:5070>;tag=aZHcD3vc2gSep\r\nContact: <sip:127.0.0.1:5070>")
    did = "c7dce987675047568fd758fec786ed3e;from-tag=ptag2"
    ch.push(["e2", "response", ok.tokens[0], "OK", "application", "434", "udp", "127.0.0.1",
             "5080", "12:46:41.263470", "32aa471b-1", did, "", "Msg sent:", ""], echo)
    ch.push(["e3", "cdr:start", "application", "12:46:41.263535", "uas"], echo)
    ack = CAPTURED_INVITE.replace("INVITE sip", "ACK sip").replace("CSeq: 1 INVITE",
                                                                   "CSeq: 1 ACK")
    # the relayed ACK: protocol token empty, the INVITE's transaction id
    ch.push(["e4", "sip", "network", "286", "", "127.0.0.1", "5080", "12:46:41.263806",
             "32aa471b-1", did, ""], ack)
    await asyncio.sleep(0.01)
    dlg = dialogs[0]
    assert dlg.id == did and dlg.sip.local_tag == "aZHcD3vc2gSep"
    assert dlg.sip.remote_tag == "ptag2" and dlg.local.uri == "sip:127.0.0.1:5070"
    destroy = asyncio.ensure_future(dlg.destroy(headers={"X-Reason": "probe"}))
    await asyncio.sleep(0)
    bye = ch.last()
    assert bye.tokens[1:] == ["sip", "", did]
    assert (bye.sip or "").startswith("BYE sip:placeholder SIP/2.0\r\nX-Reason: probe\r\n")
    bye_echo = ("BYE sip:peer@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;"
                "branch=z9hG4bK-b\r\nFrom: <sip:probe@127.0.0.1:5070>;tag=aZHcD3vc2gSep\r\n"
                "To: <sip:peer@127.0.0.1:5080>;tag=ptag2\r\nCall-ID: c7dce987675047568fd758"
                "fec786ed3e\r\nCSeq: 2 BYE\r\nX-Reason: probe\r\nContent-Length: 0\r\n\r\n")
    ch.push(["e5", "response", bye.tokens[0], "OK", "application", "300", "udp", "127.0.0.1",
             "5070", "12:46:45.000000", "6d152ba8-1", "Msg sent:", ""], bye_echo)
    ch.push(["e6", "sip", "network", "253", "udp", "127.0.0.1", "5080", "12:46:45.001",
             "6d152ba8-1", did, ""],
            bye_echo.replace("BYE sip:peer@127.0.0.1:5080 SIP/2.0", "SIP/2.0 200 OK"))
    sent_bye = await asyncio.wait_for(destroy, 1)
    assert sent_bye is not None and sent_bye.get("CSeq") == "2 BYE"
    assert srf.idle and srf.dialogs == {}
