"""RFC 3263 routing end to end: the engine finds a request's next hop by NAPTR, SRV and A
records served from 127.0.0.1, for an app's new request and for a proxied one. Apps run on
their own engines (embedded and remote alike), over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from enginekit import invite_peer

from drachtio.srf import SipError, Srf
from drachtio.srf.errors import EngineError
from drachtio.testing import SrfEnv, started_srf
from drachtio.testing.dnszone import DnsZone
from drachtio.testing.sipp import sipp_available, sipp_uas

pytestmark = pytest.mark.timeout(30)


@dataclass
class World:
    zone: DnsZone
    caller: SrfEnv      # its engine resolves names with the zone
    answerer: SrfEnv    # answers OPTIONS, remembers how they arrived
    seen: list[tuple[str, str]]  # (protocol, request uri) of every OPTIONS the answerer got


@pytest.fixture
async def world(srf_mode: str) -> AsyncIterator[World]:
    seen: list[tuple[str, str]] = []
    answerer = Srf()

    @answerer.options
    def answer(req, res):  # type: ignore[no-untyped-def]
        seen.append((req.protocol, req.uri))
        res.send(200)

    zone = await DnsZone({}).start()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(zone.close)
        b = await stack.enter_async_context(started_srf(
            srf_mode, answerer, contacts=["sip:127.0.0.1:0;transport=udp,tcp"]))
        udp, tcp = b.engine.sip_port("udp"), b.engine.sip_port("tcp")
        zone.zone.update({
            # NAPTR prefers TCP; TCP's best SRV target is the answerer
            ("voip.test", "NAPTR"): ['10 10 "s" "SIP+D2T" "" _sip._tcp.voip.test.',
                                     '20 10 "s" "SIP+D2U" "" _sip._udp.voip.test.'],
            ("_sip._tcp.voip.test", "SRV"): [f"10 0 {tcp} sip1.voip.test.",
                                             "20 0 9 nowhere.voip.test."],
            ("_sip._udp.voip.test", "SRV"): [f"10 0 {udp} sip1.voip.test."],
            ("sip1.voip.test", "A"): ["127.0.0.1"],
        })
        a = await stack.enter_async_context(started_srf(
            srf_mode, Srf(), contacts=["sip:127.0.0.1:0;transport=udp,tcp"],
            dns_servers=[zone.server], dns_timeout=2.0))
        yield World(zone, a, b, seen)


async def test_new_request_follows_naptr_and_srv(world: World) -> None:
    req = await world.caller.srf.request("sip:svc@voip.test", method="OPTIONS")
    res = await asyncio.wait_for(req.response(), 10)
    assert res.status == 200
    assert world.seen == [("tcp", "sip:svc@voip.test")]
    assert world.zone.queries[:3] == [("voip.test", "NAPTR"), ("_sip._tcp.voip.test", "SRV"),
                                      ("sip1.voip.test", "A")]


async def test_transport_param_uses_that_srv(world: World) -> None:
    req = await world.caller.srf.request("sip:svc@voip.test;transport=udp", method="OPTIONS")
    res = await asyncio.wait_for(req.response(), 10)
    assert res.status == 200
    assert world.seen == [("udp", "sip:svc@voip.test;transport=udp")]
    assert ("voip.test", "NAPTR") not in world.zone.queries


async def test_unresolvable_name_is_an_error_not_a_hang(world: World) -> None:
    with pytest.raises(EngineError, match=r"failed to resolve nowhere\.test"):
        await world.caller.srf.request("sip:svc@nowhere.test", method="OPTIONS")
    assert world.seen == []


async def test_proxied_request_follows_srv(world: World) -> None:
    """caller's engine proxies an OPTIONS it receives to a name; the SRV points at the
    answerer. A third app sends the OPTIONS to the proxy's IP address."""
    proxy = world.caller.srf
    results = []

    @proxy.options
    async def forward(req, res):  # type: ignore[no-untyped-def]
        results.append(await proxy.proxy_request(req, "sip:svc@voip.test"))

    async with started_srf(world.caller.mode, Srf(),
                           contacts=["sip:127.0.0.1:0;transport=udp"]) as client:
        target = f"sip:svc@127.0.0.1:{world.caller.engine.sip_port('udp')}"
        req = await client.srf.request(target, method="OPTIONS")
        res = await asyncio.wait_for(req.response(), 10)
    assert res.status == 200
    assert results and results[0].connected and results[0].final_status == 200
    assert world.seen == [("tcp", "sip:svc@voip.test")]


@pytest.mark.skipif(not sipp_available(), reason="sipp is not installed")
async def test_in_dialog_requests_to_a_contact_named_by_dns(world: World) -> None:
    """SIPp answers with ``Contact: <sip:sipp-uas@callee.test:port>``: the ACK and the BYE
    go to the name's A record (resolved when the dialog was made, in order)."""
    world.zone.zone[("callee.test", "A")] = ["127.0.0.1"]
    async with sipp_uas("uas-contact-name.xml", calls=1) as uas:
        dlg = await world.caller.srf.create_uac(uas.uri, local_sdp=SDP)
        assert dlg.remote.uri.startswith("sip:sipp-uas@callee.test:"), dlg.remote.uri
        await dlg.destroy()
        assert await uas.wait(10) == 0  # SIPp got its ACK and BYE and answered the BYE
    assert ("callee.test", "A") in world.zone.queries


SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\n")


# -- RFC 3263 4.3: failing over to the next SRV target ---------------------------------------


def two_targets(zone: DnsZone, domain: str, proto: str, first: int, second: int) -> None:
    """SRV for ``domain``: priority 10 -> ``first.<domain>:first``, 20 ->
    ``second.<domain>:second``, both names at 127.0.0.1."""
    zone.zone[(f"_sip._{proto}.{domain}", "SRV")] = [
        f"10 0 {first} first.{domain}.", f"20 0 {second} second.{domain}."]
    zone.zone[(f"first.{domain}", "A")] = ["127.0.0.1"]
    zone.zone[(f"second.{domain}", "A")] = ["127.0.0.1"]


def closed_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (connect: refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_fail_over_on_transport_error(world: World) -> None:
    tcp = world.answerer.engine.sip_port("tcp")
    two_targets(world.zone, "fo.test", "tcp", closed_port(), tcp)
    req = await world.caller.srf.request("sip:svc@fo.test;transport=tcp", method="OPTIONS")
    res = await asyncio.wait_for(req.response(), 10)
    assert res.status == 200
    assert world.seen == [("tcp", "sip:svc@fo.test;transport=tcp")]


@contextlib.asynccontextmanager
async def rejecting_app(mode: str, status: int, ring: bool = False
                        ) -> AsyncIterator[tuple[SrfEnv, list[str]]]:
    """An app that answers every OPTIONS and INVITE with ``status`` (after a 180 with
    ``ring``)."""
    got: list[str] = []
    app = Srf()

    @app.options
    @app.invite
    async def reject(req, res):  # type: ignore[no-untyped-def]
        got.append(req.method)
        if ring:
            await res.send(180)
        await res.send(status)

    async with started_srf(mode, app, contacts=["sip:127.0.0.1:0;transport=udp"]) as env:
        yield env, got


@pytest.mark.parametrize(("first_status", "final"), [(503, 200), (486, 486)])
async def test_fail_over_on_503_only(world: World, first_status: int, final: int) -> None:
    """The first SRV target rejects: a 503 sends the request on to the second target,
    any other rejection is the final answer."""
    async with rejecting_app(world.caller.mode, first_status) as (busy, got):
        two_targets(world.zone, "rej.test", "udp", busy.engine.sip_port("udp"),
                    world.answerer.engine.sip_port("udp"))
        req = await world.caller.srf.request("sip:svc@rej.test;transport=udp",
                                             method="OPTIONS")
        res = await asyncio.wait_for(req.response(), 10)
    assert res.status == final
    assert got == ["OPTIONS"]  # the first target was asked either way
    assert world.seen == ([("udp", "sip:svc@rej.test;transport=udp")] if final == 200 else [])


@pytest.mark.skipif(not sipp_available(), reason="sipp is not installed")
async def test_invite_fails_over_on_503_then_connects(world: World) -> None:
    async with rejecting_app(world.caller.mode, 503) as (busy, got), \
            sipp_uas("uas.xml", calls=1) as uas:
        two_targets(world.zone, "call.test", "udp", busy.engine.sip_port("udp"), uas.port)
        dlg = await world.caller.srf.create_uac("sip:uas@call.test;transport=udp",
                                                local_sdp=SDP)
        assert got == ["INVITE"]
        await dlg.destroy()
        assert await uas.wait(10) == 0


async def test_no_fail_over_once_the_callee_rang(world: World) -> None:
    """180 then 503: the first target took the call; its 503 is the answer (the second
    target, which would say 486, is not asked)."""
    async with rejecting_app(world.caller.mode, 503, ring=True) as (busy, got), \
            rejecting_app(world.caller.mode, 486) as (other, other_got):
        two_targets(world.zone, "rang.test", "udp", busy.engine.sip_port("udp"),
                    other.engine.sip_port("udp"))
        with pytest.raises(SipError) as err:
            await world.caller.srf.create_uac("sip:uas@rang.test;transport=udp",
                                              local_sdp=SDP)
    assert err.value.status == 503 and got == ["INVITE"] and other_got == []


async def test_fail_over_on_timeout(srf_mode: str) -> None:
    """The first target never answers (a UDP socket that swallows datagrams): after timer F
    (64*T1, T1 = 50 ms here) the request goes to the second one."""
    answerer = Srf()
    seen: list[str] = []

    @answerer.options
    def answer(req, res):  # type: ignore[no-untyped-def]
        seen.append(req.uri)
        res.send(200)

    zone = await DnsZone({}).start()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    try:
        async with started_srf(srf_mode, answerer,
                               contacts=["sip:127.0.0.1:0;transport=udp"]) as b, \
                started_srf(srf_mode, Srf(), contacts=["sip:127.0.0.1:0;transport=udp"],
                            dns_servers=[zone.server], t1=0.05) as a:
            two_targets(zone, "slow.test", "udp", sink.getsockname()[1],
                        b.engine.sip_port("udp"))
            req = await a.srf.request("sip:svc@slow.test", method="OPTIONS")
            res = await asyncio.wait_for(req.response(), 15)
        assert res.status == 200 and seen == ["sip:svc@slow.test"]
    finally:
        sink.close()
        zone.close()


@pytest.mark.parametrize("first", ["503", "refused"])
async def test_proxy_branch_fails_over(world: World, first: str) -> None:
    """A proxied OPTIONS to a name whose first SRV target says 503 (or refuses the TCP
    connection) reaches the second target; the app sees one branch, answered 200."""
    proxy = world.caller.srf
    results = []

    @proxy.options
    async def forward(req, res):  # type: ignore[no-untyped-def]
        results.append(await proxy.proxy_request(req, "sip:svc@pfo.test"))

    async with rejecting_app(world.caller.mode, 503) as (busy, got), \
            started_srf(world.caller.mode, Srf(),
                        contacts=["sip:127.0.0.1:0;transport=udp"]) as client:
        if first == "503":
            proto, port = "udp", busy.engine.sip_port("udp")
            ok_port = world.answerer.engine.sip_port("udp")
        else:
            proto, port = "tcp", closed_port()
            ok_port = world.answerer.engine.sip_port("tcp")
        world.zone.zone[("pfo.test", "NAPTR")] = [
            f'10 10 "s" "SIP+D2{"U" if proto == "udp" else "T"}" "" _sip._{proto}.pfo.test.']
        two_targets(world.zone, "pfo.test", proto, port, ok_port)
        target = f"sip:svc@127.0.0.1:{world.caller.engine.sip_port('udp')}"
        req = await client.srf.request(target, method="OPTIONS")
        res = await asyncio.wait_for(req.response(), 10)
    assert res.status == 200
    assert results and results[0].connected and results[0].final_status == 200
    assert world.seen == [(proto, "sip:svc@pfo.test")]
    assert got == (["OPTIONS"] if first == "503" else [])


async def test_in_dialog_requests_to_an_unresolvable_contact_are_refused(
        make_engine: Callable[..., Any], make_app: Callable[..., Any], peer: Any) -> None:
    """The callee's Contact names a host no DNS knows: the app's ACK and BYE wait on one
    lookup (one query), and each is refused with the reason."""
    zone = await DnsZone({}).start()
    try:
        engine = await make_engine(dns_servers=[zone.server])
        app = await make_app(engine)
        port = engine.sip_port()
        _, inv = await invite_peer(app, peer, SDP)
        peer.send(inv.create_response(200, to_tag="rt", headers=[
            ("Contact", "<sip:callee@nowhere.test:5999>"),
            ("Content-Type", "application/sdp")], body=SDP.encode()).to_bytes(), port)
        ev = await app.next("sip")
        did = ev.tokens[9]
        assert ev.sip.startswith("SIP/2.0 200") and did
        ack, bye = (asyncio.ensure_future(app.call(["sip", "", did], f"{m} {inv.uri} SIP/2.0"
                                                                      "\r\n\r\n"))
                    for m in ("ACK", "BYE"))
        for r in (await ack, await bye):
            assert r.tokens[3:5] == ["NOK", "failed to resolve nowhere.test"], r.tokens
        assert zone.queries.count(("nowhere.test", "A")) == 1
    finally:
        zone.close()
