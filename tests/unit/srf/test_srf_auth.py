"""Digest retries on 401/407 (MD5, SHA-256), pinning, held CANCEL, give-up rules."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from srf_fake_engine import SDP_A, SDP_B, FakeEngine

from drachtio.sip.digest import parse_credentials
from drachtio.srf import Dialog, SipError, Srf
from drachtio.srf.auth import next_hop_is_literal

CHALLENGE = 'Digest realm="local", nonce="abc123", qop="auth", algorithm=MD5'
CHALLENGE_SHA = 'Digest realm="local", nonce="n256", qop="auth", algorithm=SHA-256'


def _verify(value: str, method: str, password: str = "bar") -> None:
    """Recompute the digest independently (RFC 7616 with qop=auth) and compare."""
    creds = parse_credentials(value)
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[creds.algorithm_name]

    def hx(text: str) -> str:
        return h(text.encode()).hexdigest()

    ha1 = hx(f"{creds.username}:{creds.realm}:{password}")
    ha2 = hx(f"{method}:{creds.uri}")
    expected = hx(f"{ha1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:{creds.qop}:{ha2}")
    assert creds.qop == "auth" and creds.response == expected


@pytest.mark.parametrize("challenge,algo", [(CHALLENGE, "MD5"), (CHALLENGE_SHA, "SHA-256")])
async def test_register_retried_with_credentials(app: Srf, engine: FakeEngine, challenge: str,
                                                 algo: str) -> None:
    start = len(engine.sent)
    req = await app.request("sip:127.0.0.1:5080", method="REGISTER",
                            headers={"To": "<sip:foo@127.0.0.1>", "Expires": "60"},
                            auth={"username": "foo", "password": "bar"})
    first = await engine.wait_request("REGISTER", start)
    old_txn = req.transaction_id
    authenticated: list[str] = []
    req.on("authenticate", lambda r: authenticated.append(r.transaction_id))
    engine.deliver_response(first, 401, "Unauthorized",
                            headers=[("WWW-Authenticate", challenge)])
    second = await engine.next_sent(start, lambda s: s.method == "REGISTER" and s is not first)
    value = second.header("Authorization") or ""
    assert value.startswith("Digest ") and f"algorithm={algo}" in value
    _verify(value, "REGISTER")
    # same Call-ID, From tag kept, CSeq incremented
    assert second.header("Call-ID") == first.header("Call-ID")
    assert second.header("From") == first.header("From")
    assert int((second.header("CSeq") or "").split()[0]) == \
        int((first.header("CSeq") or "").split()[0]) + 1
    # IP literal next hop: no pinning proxy token
    assert len(second.msg.tokens) == 4
    assert second.header("Expires") == "60"
    engine.deliver_response(second, 200)
    res = await asyncio.wait_for(req.response(), 3)
    assert res.status == 200
    assert req.transaction_id == second.txn != old_txn and authenticated == [second.txn]


async def test_auth_function_and_proxy_challenge(app: Srf, engine: FakeEngine) -> None:
    calls: list[int] = []

    async def creds(req, res):
        calls.append(res.status)
        return ("foo", "bar")

    start = len(engine.sent)
    task = asyncio.ensure_future(app.create_uac("sip:bob@127.0.0.1:5080", local_sdp=SDP_A,
                                                auth=creds))
    first = await engine.wait_request("INVITE", start)
    engine.deliver_response(first, 407, "Proxy Authentication Required",
                            headers=[("Proxy-Authenticate", CHALLENGE)])
    second = await engine.next_sent(start, lambda s: s.method == "INVITE" and s is not first)
    _verify(second.header("Proxy-Authorization") or "", "INVITE")
    engine.deliver_response(second, 200, body=SDP_B,
                            headers=[("Contact", "<sip:bob@127.0.0.1:5080>")])
    dlg = await asyncio.wait_for(task, 3)
    assert isinstance(dlg, Dialog) and calls == [407]
    assert dlg.id == second.dialog_id


async def test_second_challenge_same_realm_goes_to_app(app: Srf, engine: FakeEngine) -> None:
    start = len(engine.sent)
    req = await app.request("sip:127.0.0.1:5080", method="REGISTER",
                            auth={"username": "foo", "password": "wrong"})
    first = await engine.wait_request("REGISTER", start)
    engine.deliver_response(first, 401, headers=[("WWW-Authenticate", CHALLENGE)])
    second = await engine.next_sent(start, lambda s: s.method == "REGISTER" and s is not first)
    engine.deliver_response(second, 401, headers=[("WWW-Authenticate", CHALLENGE)])
    res = await asyncio.wait_for(req.response(), 3)
    assert res.status == 401
    await asyncio.sleep(0.02)
    assert len([s for s in engine.sent if s.method == "REGISTER"]) == 2


async def test_challenge_without_header_rejects(app: Srf, engine: FakeEngine) -> None:
    start = len(engine.sent)
    task = asyncio.ensure_future(app.create_uac("sip:bob@127.0.0.1:5080", local_sdp=SDP_A,
                                                auth={"username": "u", "password": "p"}))
    first = await engine.wait_request("INVITE", start)
    engine.deliver_response(first, 407, "Proxy Authentication Required")
    with pytest.raises(SipError) as ei:
        await asyncio.wait_for(task, 3)
    assert ei.value.status == 407


async def test_hostname_next_hop_is_pinned(app: Srf, engine: FakeEngine) -> None:
    start = len(engine.sent)
    req = await app.request("sip:registrar.example.com;transport=tcp", method="REGISTER",
                            auth=("foo", "bar"))
    first = await engine.wait_request("REGISTER", start)
    engine.deliver_response(first, 401, headers=[("WWW-Authenticate", CHALLENGE)])
    second = await engine.next_sent(start, lambda s: s.method == "REGISTER" and s is not first)
    assert second.msg.tokens[4] == "sip:127.0.0.1:5080;transport=tcp"
    engine.deliver_response(second, 200)
    assert (await req.response()).status == 200


async def test_cancel_held_while_retrying(app: Srf, engine: FakeEngine) -> None:
    gate = asyncio.Event()

    async def creds(req, res):
        await gate.wait()
        return ("foo", "bar")

    start = len(engine.sent)
    inv: asyncio.Future = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(app.create_uac("sip:bob@127.0.0.1:5080", local_sdp=SDP_A,
                                                auth=creds, on_request=inv.set_result))
    first = await engine.wait_request("INVITE", start)
    req = await inv
    engine.deliver_response(first, 407, headers=[("Proxy-Authenticate", CHALLENGE)])
    await asyncio.sleep(0.02)
    cancel_fut = req.cancel()
    await asyncio.sleep(0.02)
    assert not [s for s in engine.sent if s.method == "CANCEL"]
    gate.set()
    second = await engine.next_sent(start, lambda s: s.method == "INVITE" and s is not first)
    c = await engine.wait_request("CANCEL", start)
    assert c.msg.tokens[2] == second.txn  # sent for the new transaction
    assert (await cancel_fut).method == "CANCEL"
    engine.deliver_response(second, 487, "Request Terminated")
    with pytest.raises(SipError) as ei:
        await asyncio.wait_for(task, 3)
    assert ei.value.status == 487


async def test_bye_challenge_uses_dialog_auth(app: Srf, engine: FakeEngine) -> None:
    start = len(engine.sent)
    task = asyncio.ensure_future(app.create_uac("sip:bob@127.0.0.1:5080", local_sdp=SDP_A,
                                                auth={"username": "foo", "password": "bar"}))
    inv = await engine.wait_request("INVITE", start)
    engine.deliver_response(inv, 200, body=SDP_B, headers=[("Contact", "<sip:b@127.0.0.1>")])
    dlg = await asyncio.wait_for(task, 3)
    assert isinstance(dlg, Dialog)
    d = asyncio.ensure_future(dlg.destroy())
    bye = await engine.wait_request("BYE", start)
    engine.deliver_response(bye, 407, headers=[("Proxy-Authenticate", CHALLENGE)])
    bye2 = await engine.next_sent(start, lambda s: s.method == "BYE" and s is not bye)
    assert bye2.msg.tokens[3] == dlg.id  # still in the dialog
    _verify(bye2.header("Proxy-Authorization") or "", "BYE")
    engine.deliver_response(bye2, 200)
    await asyncio.wait_for(d, 3)


def test_next_hop_literal() -> None:
    assert next_hop_is_literal("sip:10.0.0.1:5060")
    assert next_hop_is_literal("sip:user@10.0.0.1;transport=tcp")
    assert next_hop_is_literal("sip:[::1]:5060")
    assert next_hop_is_literal("127.0.0.1")
    assert not next_hop_is_literal("sip:proxy.example.com")
    assert not next_hop_is_literal("sip:user@example.com:5060")
