"""RFC 3261 section 17 transaction machines, driven with a fake clock (no sockets, no sleeps)."""

from __future__ import annotations

import pytest

from drachtio.sip import Message, Request, Response, parse_message
from drachtio.sip.transaction import (
    REASON_ACK_TIMEOUT,
    Ack2xxWaiter,
    Action,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    DeliverRequest,
    DeliverResponse,
    MergedRequestIndex,
    SendBye,
    SendMessage,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TimerConfig,
    TransactionEvent,
    TransactionKey,
    TransactionState,
    TransactionStateError,
    TransactionTerminated,
    TransactionTimeout,
    TransportError,
    cancelled_transaction_key,
    has_magic_cookie,
    is_merged_request,
    make_ack_for_non2xx,
    make_cancel,
    make_cancel_ok,
    make_request_terminated,
    make_response,
    make_trying,
    transaction_key_for_request,
    transaction_key_for_response,
)

S = TransactionState
CRLF = "\r\n"


def request(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKnashds8",
    sent_by: str = "pc33.atlanta.example.com",
    cseq: int = 314159,
    cseq_method: str | None = None,
    to_tag: str | None = None,
    from_tag: str = "1928301774",
    call_id: str = "a84b4c76e66710",
    uri: str = "sip:bob@biloxi.example.com",
    extra: tuple[str, ...] = (),
) -> Request:
    to = "Bob <sip:bob@biloxi.example.com>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {sent_by};branch={branch}",
        "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKup",
        "Max-Forwards: 70",
        "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
        f"To: {to}",
        f"From: Alice <sip:alice@atlanta.example.com>;tag={from_tag}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        "Contact: <sip:alice@pc33.atlanta.example.com>",
        *extra,
        "Content-Length: 0",
        "",
        "",
    ]
    msg = parse_message(CRLF.join(lines).encode())
    assert isinstance(msg, Request)
    return msg


def wire(msg: Request | Response) -> Request | Response:
    """Round-trip through bytes, as the peer would see it."""
    return parse_message(msg.to_bytes())


def response(req: Request, status: int, to_tag: str | None = "bobtag") -> Response:
    resp = wire(make_response(req, status, to_tag=to_tag))
    assert isinstance(resp, Response)
    return resp


def run_timers(machine: object, until: float) -> list[tuple[float, Action]]:
    """Fire every timer up to ``until`` exactly on time; return (when, action) pairs."""
    out: list[tuple[float, Action]] = []
    while (when := machine.next_timer()) is not None and when <= until:  # type: ignore[attr-defined]
        out.extend((when, a) for a in machine.handle_timer(when))  # type: ignore[attr-defined]
    return out


def sent_times(events: list[tuple[float, Action]]) -> list[float]:
    return [round(t, 9) for t, a in events if isinstance(a, SendMessage)]


# ---------------------------------------------------------------------------------------------
# Timer configuration


def test_timer_config_defaults_and_overrides() -> None:
    tc = TimerConfig()
    assert (tc.t1, tc.t2, tc.t4, tc.d, tc.timeout) == (0.5, 4.0, 5.0, 32.0, 32.0)
    assert TimerConfig(t1=0.25).timeout == 16.0
    assert TimerConfig(t1x64=10.0).timeout == 10.0


@pytest.mark.parametrize(
    "kwargs",
    [{"t1": 0}, {"t2": -1}, {"t4": "5"}, {"t1": True}, {"t1x64": 0}, {"t1": 5.0, "t2": 4.0}],
)
def test_timer_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TimerConfig(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Client INVITE (17.1.1)


def test_client_invite_timer_a_doubles_until_timer_b() -> None:
    inv = request()
    t = ClientInviteTransaction(inv)
    assert t.state is S.CALLING
    assert t.send(inv, 0.0) == [SendMessage(inv)]
    events = run_timers(t, 100.0)
    assert sent_times(events) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(a.retransmission and a.msg is inv for _, a in events if isinstance(a, SendMessage))
    assert [a for _, a in events[-2:]] == [TransactionTimeout("B"), TransactionTerminated()]
    assert events[-1][0] == 32.0
    assert t.state is S.TERMINATED and t.next_timer() is None


def test_client_invite_reliable_has_no_timer_a() -> None:
    inv = request()
    t = ClientInviteTransaction(inv, reliable=True)
    t.send(inv, 10.0)
    assert t.next_timer() == 42.0
    assert run_timers(t, 100.0) == [
        (42.0, TransactionTimeout("B")),
        (42.0, TransactionTerminated()),
    ]


def test_client_invite_custom_t1() -> None:
    inv = request()
    t = ClientInviteTransaction(inv, timers=TimerConfig(t1=0.1, t2=1.0))
    t.send(inv, 0.0)
    events = run_timers(t, 100.0)
    assert sent_times(events) == [0.1, 0.3, 0.7, 1.5, 3.1, 6.3]
    assert events[-1][0] == pytest.approx(6.4)


def test_client_invite_late_wakeup_fires_each_due_timer_once() -> None:
    inv = request()
    t = ClientInviteTransaction(inv)
    t.send(inv, 0.0)
    acts = t.handle_timer(100.0)
    assert acts == [SendMessage(inv, True), TransactionTimeout("B"), TransactionTerminated()]


def test_client_invite_handle_timer_before_due_does_nothing() -> None:
    inv = request()
    t = ClientInviteTransaction(inv)
    t.send(inv, 0.0)
    assert t.handle_timer(0.49) == []
    assert t.next_timer() == 0.5


def test_client_invite_provisional_stops_a_and_b() -> None:
    inv = request()
    t = ClientInviteTransaction(inv)
    t.send(inv, 0.0)
    run_timers(t, 0.6)  # one retransmission
    ringing = response(inv, 180)
    assert t.receive(ringing, 0.7) == [DeliverResponse(ringing)]
    assert t.state is S.PROCEEDING
    assert t.next_timer() is None  # no retransmission, no timeout while ringing
    again = response(inv, 183)
    assert t.receive(again, 50.0) == [DeliverResponse(again)]


def test_client_invite_2xx_accepted_absorbs_and_relays_retransmissions() -> None:
    inv = request()
    t = ClientInviteTransaction(inv)
    t.send(inv, 0.0)
    ok = response(inv, 200)
    assert t.receive(ok, 1.0) == [DeliverResponse(ok)]
    assert t.state is S.ACCEPTED
    assert t.next_timer() == 33.0  # timer M = 64*T1
    ok2 = response(inv, 200)
    assert t.receive(ok2, 2.0) == [DeliverResponse(ok2, retransmission=True)]
    forked = response(inv, 200, to_tag="other")
    assert t.receive(forked, 2.5) == [DeliverResponse(forked, retransmission=False)]
    assert t.receive(response(inv, 486), 3.0) == []  # late non-2xx absorbed
    assert t.receive(response(inv, 180), 3.0) == []
    assert run_timers(t, 40.0) == [(33.0, TransactionTerminated())]


def test_client_invite_2xx_from_proceeding() -> None:
    inv = request()
    t = ClientInviteTransaction(inv, reliable=True)
    t.send(inv, 0.0)
    t.receive(response(inv, 100, to_tag=None), 0.1)
    ok = response(inv, 202)
    assert t.receive(ok, 5.0) == [DeliverResponse(ok)]
    assert t.state is S.ACCEPTED and t.next_timer() == 37.0


def test_client_invite_non2xx_builds_ack_and_absorbs_retransmissions() -> None:
    inv = request()
    t = ClientInviteTransaction(inv)
    t.send(inv, 0.0)
    busy = response(inv, 486)
    acts = t.receive(busy, 2.0)
    ack = t.ack
    assert ack is not None
    assert acts == [SendMessage(ack), DeliverResponse(busy)]
    assert t.state is S.COMPLETED
    assert t.next_timer() == 34.0  # timer D = 32 s
    # the ACK is part of the transaction: same branch, only our Via
    parsed = wire(ack)
    assert isinstance(parsed, Request)
    assert parsed.method == "ACK" and parsed.uri == inv.uri
    assert [str(v) for v in parsed.vias] == [str(inv.top_via)]
    assert parsed.top_via.branch == "z9hG4bKnashds8"
    assert parsed.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert parsed.get("From") == inv.get("From")
    assert parsed.to.tag == "bobtag" and parsed.get("To") == busy.get("To")
    assert parsed.call_id == inv.call_id
    assert (parsed.cseq.seq, parsed.cseq.method) == (314159, "ACK")
    assert parsed.get("Contact") is None and parsed.body == b""
    # a retransmitted final is not delivered again: the ACK is re-sent
    assert t.receive(response(inv, 486), 3.0) == [SendMessage(ack, retransmission=True)]
    assert t.receive(response(inv, 200), 3.0) == []
    assert run_timers(t, 100.0) == [(34.0, TransactionTerminated())]


def test_client_invite_non2xx_reliable_terminates_at_once() -> None:
    inv = request()
    t = ClientInviteTransaction(inv, reliable=True)
    t.send(inv, 0.0)
    t.receive(response(inv, 180), 0.5)
    busy = response(inv, 603)
    acts = t.receive(busy, 1.0)
    assert t.ack is not None
    assert acts == [SendMessage(t.ack), DeliverResponse(busy), TransactionTerminated()]
    assert t.state is S.TERMINATED and t.next_timer() is None


@pytest.mark.parametrize("state_setup", ["calling", "proceeding", "completed"])
def test_client_invite_transport_error(state_setup: str) -> None:
    inv = request()
    t = ClientInviteTransaction(inv)
    t.send(inv, 0.0)
    if state_setup == "proceeding":
        t.receive(response(inv, 180), 0.1)
    elif state_setup == "completed":
        t.receive(response(inv, 500), 0.1)
    assert t.transport_error(0.2) == [TransportError(), TransactionTerminated()]
    assert t.terminated and t.next_timer() is None


def test_client_invite_usage_errors() -> None:
    inv = request()
    with pytest.raises(ValueError):
        ClientInviteTransaction(request("OPTIONS"))
    with pytest.raises(TypeError):
        ClientInviteTransaction("INVITE")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ClientInviteTransaction(inv, reliable="yes")  # type: ignore[arg-type]
    t = ClientInviteTransaction(inv)
    with pytest.raises(ValueError):
        t.send(request(), 0.0)  # a different request object
    t.send(inv, 0.0)
    with pytest.raises(TransactionStateError):
        t.send(inv, 0.1)
    with pytest.raises(TypeError):
        t.receive(inv, 0.1)


def test_client_transaction_key_matches_its_responses() -> None:
    inv = request()
    t = ClientInviteTransaction(inv)
    assert t.key == transaction_key_for_response(response(inv, 180))
    cancel = make_cancel(inv)
    ct = ClientNonInviteTransaction(cancel)
    cancel_ok = wire(make_cancel_ok(cancel))
    assert isinstance(cancel_ok, Response)
    assert ct.key == transaction_key_for_response(cancel_ok)
    assert ct.key != t.key  # same branch, different CSeq method


# ---------------------------------------------------------------------------------------------
# Client non-INVITE (17.1.2)


def test_client_non_invite_timer_e_capped_at_t2_then_f() -> None:
    opt = request("OPTIONS")
    t = ClientNonInviteTransaction(opt)
    assert t.state is S.TRYING
    assert t.send(opt, 0.0) == [SendMessage(opt)]
    events = run_timers(t, 100.0)
    assert sent_times(events) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [a for _, a in events[-2:]] == [TransactionTimeout("F"), TransactionTerminated()]
    assert events[-1][0] == 32.0


def test_client_non_invite_timer_e_is_t2_in_proceeding() -> None:
    opt = request("OPTIONS")
    t = ClientNonInviteTransaction(opt)
    t.send(opt, 0.0)
    assert sent_times(run_timers(t, 0.5)) == [0.5]  # next E at 1.5
    trying = response(opt, 100, to_tag=None)
    assert t.receive(trying, 0.7) == [DeliverResponse(trying)]
    assert t.state is S.PROCEEDING
    events = run_timers(t, 100.0)
    # the pending E fires at 1.5, then every T2 until F at 32
    assert sent_times(events) == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert [a for _, a in events[-2:]] == [TransactionTimeout("F"), TransactionTerminated()]


def test_client_non_invite_final_then_timer_k() -> None:
    opt = request("OPTIONS")
    t = ClientNonInviteTransaction(opt)
    t.send(opt, 0.0)
    ok = response(opt, 200)
    assert t.receive(ok, 1.0) == [DeliverResponse(ok)]
    assert t.state is S.COMPLETED
    assert t.next_timer() == 6.0  # timer K = T4
    assert t.receive(response(opt, 200), 2.0) == []  # retransmission absorbed
    assert run_timers(t, 100.0) == [(6.0, TransactionTerminated())]


def test_client_non_invite_final_from_proceeding() -> None:
    bye = request("BYE", to_tag="bobtag")
    t = ClientNonInviteTransaction(bye)
    t.send(bye, 0.0)
    t.receive(response(bye, 100, to_tag=None), 0.1)
    nf = response(bye, 481)
    assert t.receive(nf, 0.2) == [DeliverResponse(nf)]
    assert t.state is S.COMPLETED


def test_client_non_invite_reliable() -> None:
    opt = request("OPTIONS")
    t = ClientNonInviteTransaction(opt, reliable=True)
    t.send(opt, 0.0)
    assert t.next_timer() == 32.0  # F only, no E
    ok = response(opt, 404)
    assert t.receive(ok, 1.0) == [DeliverResponse(ok), TransactionTerminated()]  # K = 0
    assert t.next_timer() is None


def test_client_non_invite_transport_error_and_usage() -> None:
    opt = request("OPTIONS")
    t = ClientNonInviteTransaction(opt)
    t.send(opt, 0.0)
    assert t.transport_error(0.1) == [TransportError(), TransactionTerminated()]
    for method in ("INVITE", "ACK"):
        with pytest.raises(ValueError):
            ClientNonInviteTransaction(request(method))


def test_client_ignores_status_outside_range() -> None:
    opt = request("OPTIONS")
    t = ClientNonInviteTransaction(opt)
    t.send(opt, 0.0)
    odd = response(opt, 200)
    object.__setattr__(odd, "_status", 799)  # a peer sent garbage the parser let through
    assert t.receive(odd, 0.1) == []
    assert t.state is S.TRYING


# ---------------------------------------------------------------------------------------------
# Server INVITE (17.2.1)


def test_server_invite_delivers_once_and_replays_last_provisional() -> None:
    inv = request()
    t = ServerInviteTransaction(inv)
    assert t.state is S.PROCEEDING
    assert t.receive(inv, 0.0) == [DeliverRequest(inv)]
    assert t.receive(request(), 0.1) == []  # nothing sent yet: absorbed
    trying = make_trying(inv)
    assert t.send(trying, 0.0) == [SendMessage(trying)]
    assert t.receive(request(), 0.2) == [SendMessage(trying, retransmission=True)]
    ringing = make_response(inv, 180, to_tag="uas1")
    assert t.send(ringing, 0.3) == [SendMessage(ringing)]
    assert t.receive(request(), 0.4) == [SendMessage(ringing, retransmission=True)]
    assert t.last_response is ringing
    assert t.next_timer() is None  # no timers in Proceeding


def test_server_invite_non2xx_timer_g_capped_then_h() -> None:
    inv = request()
    t = ServerInviteTransaction(inv)
    t.receive(inv, 0.0)
    busy = make_response(inv, 486, to_tag="uas1")
    assert t.send(busy, 0.0) == [SendMessage(busy)]
    assert t.state is S.COMPLETED
    events = run_timers(t, 100.0)
    assert sent_times(events) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(a.msg is busy for _, a in events if isinstance(a, SendMessage))
    assert [a for _, a in events[-2:]] == [TransactionTimeout("H"), TransactionTerminated()]
    assert events[-1][0] == 32.0


def test_server_invite_ack_confirms_then_timer_i() -> None:
    inv = request()
    t = ServerInviteTransaction(inv)
    t.receive(inv, 0.0)
    busy = make_response(inv, 486, to_tag="uas1")
    t.send(busy, 0.0)
    assert t.receive(request(), 0.2) == [SendMessage(busy, retransmission=True)]
    assert sent_times(run_timers(t, 2.0)) == [0.5, 1.5]
    ack = request("ACK", to_tag="uas1", cseq_method="ACK")
    assert transaction_key_for_request(ack) == t.key
    assert t.receive(ack, 2.0) == []  # ACK for non-2xx is absorbed, not delivered
    assert t.state is S.CONFIRMED
    assert t.next_timer() == 7.0  # timer I = T4; G and H stopped
    assert t.receive(ack, 3.0) == []
    assert t.receive(request(), 3.0) == []  # INVITE copies absorbed too
    assert run_timers(t, 100.0) == [(7.0, TransactionTerminated())]


def test_server_invite_reliable_non2xx() -> None:
    inv = request()
    t = ServerInviteTransaction(inv, reliable=True)
    t.receive(inv, 0.0)
    t.send(make_response(inv, 404, to_tag="x"), 1.0)
    assert t.next_timer() == 33.0  # H only, no G
    ack = request("ACK", to_tag="x", cseq_method="ACK")
    assert t.receive(ack, 2.0) == [TransactionTerminated()]  # I = 0


def test_server_invite_reliable_timer_h() -> None:
    inv = request()
    t = ServerInviteTransaction(inv, reliable=True)
    t.receive(inv, 0.0)
    t.send(make_response(inv, 404, to_tag="x"), 0.0)
    assert run_timers(t, 100.0) == [
        (32.0, TransactionTimeout("H")),
        (32.0, TransactionTerminated()),
    ]


def test_server_invite_2xx_accepted_state() -> None:
    inv = request()
    t = ServerInviteTransaction(inv)
    t.receive(inv, 0.0)
    ok = make_response(inv, 200, to_tag="uas1")
    assert t.send(ok, 1.0) == [SendMessage(ok)]
    assert t.state is S.ACCEPTED
    assert t.next_timer() == 33.0  # timer L, no retransmission timer here
    assert t.receive(request(), 1.5) == []  # INVITE copies absorbed, not answered
    assert t.send(ok, 2.0) == [SendMessage(ok)]  # the TU's (or a waiter's) 2xx retransmission
    ack = request("ACK", to_tag="uas1", cseq_method="ACK")
    assert t.receive(ack, 2.5) == [DeliverRequest(ack)]  # passed to the TU
    with pytest.raises(TransactionStateError):
        t.send(make_response(inv, 180, to_tag="uas1"), 3.0)
    with pytest.raises(TransactionStateError):
        t.send(make_response(inv, 486, to_tag="uas1"), 3.0)
    assert run_timers(t, 100.0) == [(33.0, TransactionTerminated())]


def test_server_invite_refuses_second_final() -> None:
    inv = request()
    t = ServerInviteTransaction(inv)
    t.receive(inv, 0.0)
    t.send(make_response(inv, 486, to_tag="a"), 0.0)
    with pytest.raises(TransactionStateError, match="cannot send 200"):
        t.send(make_response(inv, 200, to_tag="a"), 0.1)
    t.receive(request("ACK", to_tag="a", cseq_method="ACK"), 0.2)
    with pytest.raises(TransactionStateError):
        t.send(make_response(inv, 180, to_tag="a"), 0.3)


@pytest.mark.parametrize("after", ["proceeding", "completed"])
def test_server_invite_transport_error(after: str) -> None:
    inv = request()
    t = ServerInviteTransaction(inv)
    t.receive(inv, 0.0)
    if after == "completed":
        t.send(make_response(inv, 500, to_tag="a"), 0.0)
    assert t.transport_error(0.1) == [TransportError(), TransactionTerminated()]
    assert t.terminated


def test_server_invite_usage_errors() -> None:
    with pytest.raises(ValueError):
        ServerInviteTransaction(request("OPTIONS"))
    inv = request()
    t = ServerInviteTransaction(inv)
    with pytest.raises(TypeError):
        t.send(inv, 0.0)
    with pytest.raises(TypeError):
        t.receive(make_trying(inv), 0.0)
    with pytest.raises(TypeError):
        ServerInviteTransaction(inv, timers=0.5)  # type: ignore[arg-type]


def test_server_invite_ignores_other_methods() -> None:
    inv = request()
    t = ServerInviteTransaction(inv)
    t.receive(inv, 0.0)
    assert t.receive(request("OPTIONS"), 0.1) == []


def test_server_invite_rfc2543_ack_must_carry_our_to_tag() -> None:
    inv = request(branch="oldbranch1")
    t = ServerInviteTransaction(inv)
    t.receive(inv, 0.0)
    t.send(make_response(inv, 486, to_tag="mine"), 0.0)
    wrong = request("ACK", branch="oldbranch1", to_tag="theirs", cseq_method="ACK")
    assert t.receive(wrong, 0.1) == []
    assert t.state is S.COMPLETED
    right = request("ACK", branch="oldbranch1", to_tag="mine", cseq_method="ACK")
    assert transaction_key_for_request(right) == t.key
    assert t.receive(right, 0.2) == []
    assert t.state is S.CONFIRMED


# ---------------------------------------------------------------------------------------------
# Server non-INVITE (17.2.2)


def test_server_non_invite_trying_absorbs_then_final_and_timer_j() -> None:
    opt = request("OPTIONS")
    t = ServerNonInviteTransaction(opt)
    assert t.state is S.TRYING
    assert t.receive(opt, 0.0) == [DeliverRequest(opt)]
    assert t.receive(request("OPTIONS"), 0.5) == []  # Trying: absorbed
    ok = make_response(opt, 200, to_tag="t")
    assert t.send(ok, 1.0) == [SendMessage(ok)]
    assert t.state is S.COMPLETED
    assert t.next_timer() == 33.0  # J = 64*T1
    assert t.receive(request("OPTIONS"), 2.0) == [SendMessage(ok, retransmission=True)]
    with pytest.raises(TransactionStateError):
        t.send(make_response(opt, 500, to_tag="t"), 2.5)
    assert run_timers(t, 100.0) == [(33.0, TransactionTerminated())]


def test_server_non_invite_proceeding_replays_provisional() -> None:
    reg = request("REGISTER")
    t = ServerNonInviteTransaction(reg)
    t.receive(reg, 0.0)
    trying = make_trying(reg)
    assert t.send(trying, 0.1) == [SendMessage(trying)]
    assert t.state is S.PROCEEDING
    assert t.receive(request("REGISTER"), 0.2) == [SendMessage(trying, retransmission=True)]
    later = make_response(reg, 183, to_tag="t")
    t.send(later, 0.3)
    assert t.receive(request("REGISTER"), 0.4) == [SendMessage(later, retransmission=True)]
    final = make_response(reg, 401, to_tag="t")
    assert t.send(final, 0.5) == [SendMessage(final)]
    assert t.state is S.COMPLETED


def test_server_non_invite_reliable_terminates_on_final() -> None:
    opt = request("OPTIONS")
    t = ServerNonInviteTransaction(opt, reliable=True)
    t.receive(opt, 0.0)
    ok = make_response(opt, 200, to_tag="t")
    assert t.send(ok, 1.0) == [SendMessage(ok), TransactionTerminated()]  # J = 0
    assert t.next_timer() is None


def test_server_non_invite_custom_timeout_and_transport_error() -> None:
    opt = request("MESSAGE")
    t = ServerNonInviteTransaction(opt, timers=TimerConfig(t1x64=8.0))
    t.receive(opt, 0.0)
    t.send(make_response(opt, 202, to_tag="t"), 1.0)
    assert t.next_timer() == 9.0
    assert t.transport_error(2.0) == [TransportError(), TransactionTerminated()]
    with pytest.raises(ValueError):
        ServerNonInviteTransaction(request("INVITE"))


def test_server_non_invite_ignores_ack() -> None:
    opt = request("OPTIONS")
    t = ServerNonInviteTransaction(opt)
    t.receive(opt, 0.0)
    assert t.receive(request("ACK", cseq_method="ACK"), 0.1) == []


# ---------------------------------------------------------------------------------------------
# UAS 2xx retransmission until ACK (13.3.1.4)


def test_ack_waiter_retransmits_until_give_up() -> None:
    inv = request()
    ok = make_response(inv, 200, to_tag="uas1")
    w = Ack2xxWaiter(ok)
    assert w.start(0.0) == []
    events = run_timers(w, 100.0)
    assert sent_times(events) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(a.msg is ok and a.retransmission for _, a in events if isinstance(a, SendMessage))
    assert [a for _, a in events[-2:]] == [SendBye(REASON_ACK_TIMEOUT), TransactionTerminated()]
    assert events[-1][0] == 32.0
    assert REASON_ACK_TIMEOUT == 'SIP ;cause=200 ;text="ACK timeout"'
    assert w.state is S.TERMINATED


def test_ack_waiter_stops_on_matching_ack_only() -> None:
    inv = request()
    ok = make_response(inv, 200, to_tag="uas1")
    w = Ack2xxWaiter(ok)
    w.start(0.0)
    assert sent_times(run_timers(w, 2.0)) == [0.5, 1.5]
    stale = request("ACK", to_tag="uas1", cseq=314158, cseq_method="ACK", branch="z9hG4bKa1")
    assert w.receive(stale, 2.1) == []  # ACK of an older INVITE
    assert w.next_timer() == 3.5
    ack = request("ACK", to_tag="uas1", cseq_method="ACK", branch="z9hG4bKa2")
    assert w.receive(ack, 2.2) == [DeliverRequest(ack), TransactionTerminated()]
    assert w.state is S.CONFIRMED and w.next_timer() is None
    assert w.receive(ack, 2.3) == []  # copies absorbed
    assert run_timers(w, 100.0) == []


def test_ack_waiter_reliable_gives_up_without_retransmitting() -> None:
    inv = request()
    w = Ack2xxWaiter(make_response(inv, 200, to_tag="u"), reliable=True)
    w.start(5.0)
    assert run_timers(w, 100.0) == [
        (37.0, SendBye(REASON_ACK_TIMEOUT)),
        (37.0, TransactionTerminated()),
    ]


def test_ack_waiter_stop_and_usage() -> None:
    inv = request()
    w = Ack2xxWaiter(make_response(inv, 200, to_tag="u"))
    w.start(0.0)
    with pytest.raises(TransactionStateError):
        w.start(0.1)
    assert w.stop() == [TransactionTerminated()]
    assert w.next_timer() is None and w.stop() == []
    with pytest.raises(ValueError):
        Ack2xxWaiter(make_response(inv, 486, to_tag="u"))
    with pytest.raises(TypeError):
        Ack2xxWaiter(make_response(inv, 200, to_tag="u")).receive(inv, 0.0)


# ---------------------------------------------------------------------------------------------
# Both ends over a lossy in-memory link


class Link:
    """Carries messages between a client and a server machine as bytes; drops on request."""

    def __init__(self, drop: set[int]) -> None:
        self.drop = drop
        self.count = 0
        self.delivered: list[Request | Response] = []

    def carry(self, msg: Message) -> Request | Response | None:
        assert isinstance(msg, Request | Response)
        self.count += 1
        if self.count in self.drop:
            return None
        out = wire(msg)
        self.delivered.append(out)
        return out


def test_lossy_invite_rejected_call_converges() -> None:
    """INVITE #1 lost, 486 #1 lost: retransmissions still end in Confirmed + Completed."""
    inv = request()
    client = ClientInviteTransaction(inv)
    server: ServerInviteTransaction | None = None
    link = Link(drop={1, 3})  # the first INVITE and the first 486
    tu_client: list[Response] = []
    tu_server: list[Request] = []

    def to_server(actions: list[Action], now: float) -> None:
        nonlocal server
        for a in actions:
            if isinstance(a, SendMessage) and (m := link.carry(a.msg)) is not None:
                assert isinstance(m, Request)
                if server is None:
                    server = ServerInviteTransaction(m)
                assert transaction_key_for_request(m) == server.key
                to_client(server.receive(m, now), now)

    def to_client(actions: list[Action], now: float) -> None:
        for a in actions:
            if isinstance(a, DeliverRequest):
                tu_server.append(a.msg)
                assert server is not None
                to_client(server.send(make_response(a.msg, 486, to_tag="busy"), now), now)
            elif isinstance(a, SendMessage) and (m := link.carry(a.msg)) is not None:
                assert isinstance(m, Response)
                assert transaction_key_for_response(m) == client.key
                for b in client.receive(m, now):
                    if isinstance(b, DeliverResponse):
                        tu_client.append(b.msg)
                    else:
                        to_server([b], now)

    to_server(client.send(inv, 0.0), 0.0)
    now = 0.0
    while True:
        wakeups = [
            w
            for w in (client.next_timer(), server.next_timer() if server else None)
            if w is not None
        ]
        if not wakeups:
            break
        now = min(wakeups)
        to_server(client.handle_timer(now), now)
        if server is not None:
            to_client(server.handle_timer(now), now)
    assert [r.status for r in tu_client] == [486]
    assert len(tu_server) == 1
    assert client.state is S.TERMINATED and server is not None and server.terminated
    # INVITE #1 lost, A resends at 0.5; 486 #1 lost, G resends at 1.0; then the ACK
    methods = [m.method if isinstance(m, Request) else m.status for m in link.delivered]
    assert methods == ["INVITE", 486, "ACK"]
    assert link.count == 5
    assert now == 33.0  # the last wake-up is the client's timer D (1.0 + 32)


# ---------------------------------------------------------------------------------------------
# Matching (17.1.3, 17.2.3)


def test_server_keys_rfc3261() -> None:
    inv = request()
    key = transaction_key_for_request(inv)
    assert key == TransactionKey("z9hG4bKnashds8", "INVITE", "pc33.atlanta.example.com")
    assert transaction_key_for_request(request()) == key  # retransmission
    assert transaction_key_for_request(request("ACK", to_tag="x", cseq_method="ACK")) == key
    cancel_key = transaction_key_for_request(request("CANCEL"))
    assert cancel_key != key and cancel_key.method == "CANCEL"
    assert transaction_key_for_request(request(sent_by="PC33.atlanta.example.com")) == key
    assert transaction_key_for_request(request(sent_by="pc33.atlanta.example.com:5070")) != key
    assert transaction_key_for_request(request(branch="z9hG4bKother")) != key
    assert transaction_key_for_request(request("OPTIONS")).method == "OPTIONS"


def test_server_keys_rfc2543_fallback() -> None:
    inv = request(branch="1234")
    key = transaction_key_for_request(inv)
    assert key.branch == "" and key.legacy
    assert transaction_key_for_request(request(branch="1234")) == key
    ack = request("ACK", branch="1234", to_tag="new", cseq_method="ACK")
    assert transaction_key_for_request(ack) == key  # To tag ignored for INVITE/ACK
    assert transaction_key_for_request(request(branch="1234", call_id="x")) != key
    assert transaction_key_for_request(request(branch="1234", cseq=1)) != key
    assert transaction_key_for_request(request(branch="1234", from_tag="f")) != key
    assert transaction_key_for_request(request(branch="1234", uri="sip:c@d")) != key
    assert transaction_key_for_request(request(branch="1234", sent_by="h2")) != key
    bye1 = transaction_key_for_request(request("BYE", branch="1234", to_tag="a"))
    bye2 = transaction_key_for_request(request("BYE", branch="1234", to_tag="b"))
    assert bye1 != bye2  # To tag counts for other methods
    # a cookie-less branch never collides with an RFC 3261 one
    assert key != transaction_key_for_request(request(branch="z9hG4bK1234"))


def test_cancel_finds_the_invite() -> None:
    inv = request()
    cancel = wire(make_cancel(inv))
    assert isinstance(cancel, Request)
    assert cancelled_transaction_key(cancel) == transaction_key_for_request(inv)
    assert transaction_key_for_request(cancel) != transaction_key_for_request(inv)
    old = request(branch="abc")
    old_cancel = wire(make_cancel(old))
    assert isinstance(old_cancel, Request)
    assert cancelled_transaction_key(old_cancel) == transaction_key_for_request(old)
    with pytest.raises(ValueError):
        cancelled_transaction_key(inv)


def test_magic_cookie() -> None:
    assert has_magic_cookie("z9hG4bK776asdhds")
    assert not has_magic_cookie("776asdhds")
    assert not has_magic_cookie(None)
    assert not has_magic_cookie("Z9HG4BK1")


def test_response_key() -> None:
    inv = request()
    assert transaction_key_for_response(response(inv, 200)) == TransactionKey(
        "z9hG4bKnashds8", "INVITE"
    )


# ---------------------------------------------------------------------------------------------
# Builders


def test_make_response_copies_the_right_headers() -> None:
    inv = request(extra=("Subject: hi", "Record-Route: <sip:rr.example.com;lr>"))
    r = wire(make_response(inv, 180, to_tag="abc", headers=[("X-Foo", "1")], body=b"xyz"))
    assert isinstance(r, Response)
    assert (r.status, r.reason) == (180, "Ringing")
    assert [str(v) for v in r.vias] == [str(v) for v in inv.vias]
    assert r.get("From") == inv.get("From")
    assert r.to.tag == "abc" and r.call_id == inv.call_id
    assert (r.cseq.seq, r.cseq.method) == (314159, "INVITE")
    assert r.get("X-Foo") == "1" and r.get("Subject") is None and r.get("Route") is None
    assert r.body == b"xyz" and r.get("Content-Length") == "3"
    own = make_response(inv, 404, "Nobody Home", headers={"Retry-After": "5"})
    assert own.reason == "Nobody Home" and own.to.tag is None and own.get("Retry-After") == "5"


def test_make_response_keeps_existing_to_tag_and_checks_args() -> None:
    bye = request("BYE", to_tag="dlg")
    assert make_response(bye, 200, to_tag="new").to.tag == "dlg"
    with pytest.raises(ValueError):
        make_response(bye, 99)
    with pytest.raises(ValueError):
        make_response(bye, True)
    with pytest.raises(TypeError):
        make_response("BYE", 200)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        make_response(bye, 200, headers=[("X", 1)])  # type: ignore[list-item]


def test_make_trying() -> None:
    inv = request(extra=("Timestamp: 54.2",))
    t = wire(make_trying(inv))
    assert isinstance(t, Response)
    assert (t.status, t.reason) == (100, "Trying")
    assert t.to.tag is None
    assert len(t.vias) == 2 and t.get("Timestamp") == "54.2"
    assert make_trying(request()).get("Timestamp") is None


def test_make_ack_for_non2xx_directly() -> None:
    inv = request()
    ack = make_ack_for_non2xx(inv, response(inv, 404, to_tag="t404"))
    assert ack.to.tag == "t404" and ack.top_via.branch == inv.top_via.branch
    assert len(ack.vias) == 1


def test_make_cancel() -> None:
    inv = request()
    c = wire(make_cancel(inv, {"Reason": 'SIP;cause=200;text="Call completed elsewhere"'}))
    assert isinstance(c, Request)
    assert c.method == "CANCEL" and c.uri == inv.uri
    assert [str(v) for v in c.vias] == [str(inv.top_via)]
    assert c.get("From") == inv.get("From") and c.get("To") == inv.get("To")
    assert c.to.tag is None
    assert c.call_id == inv.call_id
    assert (c.cseq.seq, c.cseq.method) == (314159, "CANCEL")
    assert c.get_all("Route") == inv.get_all("Route")
    assert c.get("Reason") == 'SIP;cause=200;text="Call completed elsewhere"'
    assert c.get("Contact") is None
    with pytest.raises(ValueError):
        make_cancel(request("OPTIONS"))


def test_cancel_responses_share_the_to_tag() -> None:
    inv = request()
    cancel = make_cancel(inv)
    r487 = make_request_terminated(inv, to_tag="tt")
    r200 = make_cancel_ok(cancel, to_tag="tt")
    assert (r487.status, r487.reason, r487.cseq.method) == (487, "Request Terminated", "INVITE")
    assert (r200.status, r200.cseq.method) == (200, "CANCEL")
    assert r487.to.tag == r200.to.tag == "tt"
    # the 487 goes through the INVITE transaction, the 200 through the CANCEL's
    st = ServerInviteTransaction(inv)
    st.receive(inv, 0.0)
    ct = ServerNonInviteTransaction(cancel)
    ct.receive(cancel, 0.0)
    assert ct.send(r200, 0.1) == [SendMessage(r200)]
    assert st.send(r487, 0.1) == [SendMessage(r487)]
    assert st.state is S.COMPLETED


# ---------------------------------------------------------------------------------------------
# Merged requests (8.2.2.2)


def test_merged_request_detection() -> None:
    first = request()
    forked = request(branch="z9hG4bKviaother", sent_by="p2.example.com")
    assert is_merged_request(forked, first)
    assert not is_merged_request(request(), first)  # a retransmission, same transaction
    assert not is_merged_request(request(branch="z9hG4bKx", cseq=1), first)  # other CSeq
    assert not is_merged_request(request(branch="z9hG4bKx", to_tag="t"), first)  # in-dialog
    assert not is_merged_request(request(branch="z9hG4bKx", from_tag="f"), first)
    ack = request("ACK", branch="z9hG4bKx", cseq_method="ACK")
    assert not is_merged_request(ack, first)


def test_merged_request_index() -> None:
    idx = MergedRequestIndex()
    first = request("OPTIONS")
    idx.add(first)
    assert len(idx) == 1
    assert idx.is_merged(request("OPTIONS", branch="z9hG4bKloop"))
    assert not idx.is_merged(request("OPTIONS"))
    assert not idx.is_merged(request("INVITE", branch="z9hG4bKloop"))  # other CSeq method
    idx.discard(request("OPTIONS", branch="z9hG4bKloop"))  # not the owner: kept
    assert len(idx) == 1
    idx.discard(first)
    assert len(idx) == 0
    assert not idx.is_merged(request("OPTIONS", branch="z9hG4bKloop"))
    idx.add(request("BYE", to_tag="x"))  # requests with a To tag are never tracked
    assert len(idx) == 0


# ---------------------------------------------------------------------------------------------
# The transition tables are data


def test_transition_tables_cover_every_rfc_timer() -> None:
    def timers(
        cls: type[ClientInviteTransaction]
        | type[ClientNonInviteTransaction]
        | type[ServerInviteTransaction]
        | type[ServerNonInviteTransaction],
    ) -> set[str]:
        return {ev.value for (_, ev) in cls.TRANSITIONS if ev.value.startswith("timer_")}

    assert timers(ClientInviteTransaction) == {"timer_a", "timer_b", "timer_d", "timer_m"}
    assert timers(ClientNonInviteTransaction) == {"timer_e", "timer_f", "timer_k"}
    assert timers(ServerInviteTransaction) == {"timer_g", "timer_h", "timer_i", "timer_l"}
    assert timers(ServerNonInviteTransaction) == {"timer_j"}
    assert TransactionEvent.TIMER_A.value == "timer_a"
    for cls in (ClientInviteTransaction, ServerInviteTransaction, Ack2xxWaiter):
        for (state, _), handler in cls.TRANSITIONS.items():
            assert state is not S.TERMINATED and callable(handler)


def test_engine_stamped_via_params_do_not_change_keys() -> None:
    for branch in ("z9hG4bKnashds8", "legacy77"):
        plain = request(branch=branch)
        stamped = request(branch=f"{branch};received=203.0.113.1;rport=5099")
        assert transaction_key_for_request(stamped) == transaction_key_for_request(plain)
