"""RFC 3263 resolution: ordering rules (pure) and lookups against a DNS server on loopback."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from drachtio.engine import EngineConfig
from drachtio.engine.resolver import (
    Hop,
    Naptr,
    SipResolver,
    Srv,
    order_naptr,
    order_srv,
    parse_nameserver,
    srv_name,
)
from drachtio.testing.dnszone import DnsZone

# -- pure rules ----------------------------------------------------------------------------


def test_srv_names() -> None:
    assert srv_name("udp", "example.com") == "_sip._udp.example.com"
    assert srv_name("tcp", "example.com.") == "_sip._tcp.example.com"
    assert srv_name("tls", "example.com") == "_sips._tcp.example.com"


def test_naptr_order_keeps_supported_s_records_by_order_then_preference() -> None:
    recs = [
        Naptr(20, 10, "s", "SIP+D2U", "_sip._udp.x."),
        Naptr(10, 50, "s", "SIP+D2T", "_sip._tcp.x."),
        Naptr(10, 20, "s", "SIPS+D2T", "_sips._tcp.x."),
        Naptr(5, 1, "s", "SIP+D2S", "_sip._sctp.x."),     # SCTP: not ours
        Naptr(5, 1, "u", "SIP+D2U", "!^.*$!sip:a@b!"),     # U flag: not a SRV name
        Naptr(1, 1, "s", "SIP+D2W", "_sip._ws.x."),       # WebSocket: never dialled
    ]
    assert order_naptr(recs, {"udp", "tcp", "tls"}) == [
        ("tls", "_sips._tcp.x"), ("tcp", "_sip._tcp.x"), ("udp", "_sip._udp.x")]
    assert order_naptr(recs, {"udp"}) == [("udp", "_sip._udp.x")]
    assert order_naptr(recs, {"udp", "tcp", "tls"}, secure=True) == [("tls", "_sips._tcp.x")]
    assert order_naptr([], {"udp"}) == []


def test_srv_order_by_priority_then_weighted_random() -> None:
    recs = [Srv(20, 0, 5062, "backup.x"), Srv(10, 90, 5060, "big.x"),
            Srv(10, 10, 5060, "small.x"), Srv(10, 0, 5060, "zero.x"), Srv(5, 0, 0, ".")]
    firsts: Counter[str] = Counter()
    rng = random.Random(7)
    for _ in range(2000):
        out = order_srv(recs, rng)
        # "." means "no service here" and is dropped; the lower priority always comes last
        assert [r.target for r in out][-1] == "backup.x"
        assert {r.target for r in out[:3]} == {"big.x", "small.x", "zero.x"}
        firsts[out[0].target] += 1
    # weights 90:10:0 -> about 90 % / 10 % first; weight 0 is first only when alone
    assert 1650 < firsts["big.x"] < 1950
    assert 100 < firsts["small.x"] < 350
    assert firsts["zero.x"] == 0


def test_srv_order_all_zero_weights_keeps_every_record() -> None:
    recs = [Srv(1, 0, 1, "a"), Srv(1, 0, 2, "b")]
    assert sorted(r.target for r in order_srv(recs)) == ["a", "b"]


@pytest.mark.parametrize("spec", ["127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1"])
def test_nameserver_specs(spec: str) -> None:
    assert parse_nameserver(spec)


@pytest.mark.parametrize("spec", ["dns.example", "127.0.0.1:0", "127.0.0.1:x", "1.2.3"])
def test_bad_nameserver_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="DNS server"):
        parse_nameserver(spec)


def test_engine_config_checks_dns_settings() -> None:
    with pytest.raises(TypeError, match="dns_servers"):
        EngineConfig(dns_servers="127.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="DNS server"):
        EngineConfig(dns_servers=["ns.example"])
    with pytest.raises(ValueError, match="dns_timeout"):
        EngineConfig(dns_timeout=0)


# -- lookups against a zone on loopback --------------------------------------------------------

ZONE = {
    # NAPTR prefers TCP over UDP; TCP's SRV name has two targets of different priority
    ("voip.test", "NAPTR"): ['10 10 "s" "SIP+D2T" "" _sip._tcp.voip.test.',
                             '20 10 "s" "SIP+D2U" "" _sip._udp.voip.test.'],
    ("_sip._tcp.voip.test", "SRV"): ["20 0 5090 backup.voip.test.", "10 0 5080 sip1.voip.test."],
    ("_sip._udp.voip.test", "SRV"): ["10 0 5070 sip1.voip.test."],
    ("sip1.voip.test", "A"): ["127.0.0.11"],
    ("backup.voip.test", "A"): ["127.0.0.12"],
    # no NAPTR: SRV per transport in turn
    ("srvonly.test", "A"): ["127.0.0.20"],
    ("_sip._udp.srvonly.test", "SRV"): ["0 0 5072 sip2.srvonly.test."],
    ("sip2.srvonly.test", "A"): ["127.0.0.21"],
    ("_sips._tcp.srvonly.test", "SRV"): ["0 0 5073 sip2.srvonly.test."],
    # neither NAPTR nor SRV: the A record on 5060
    ("plain.test", "A"): ["127.0.0.30"],
}


@pytest.fixture
async def zone() -> AsyncIterator[DnsZone]:
    z = await DnsZone(ZONE).start()
    yield z
    z.close()


async def test_naptr_then_srv_then_a(zone: DnsZone) -> None:
    res = SipResolver({"udp", "tcp"}, [zone.server])
    hops = await res.resolve("voip.test", None, None)
    assert hops == [Hop("tcp", "127.0.0.11", 5080), Hop("tcp", "127.0.0.12", 5090)]
    assert zone.queries[:2] == [("voip.test", "NAPTR"), ("_sip._tcp.voip.test", "SRV")]
    # answers are cached for their TTL: asking again sends no query
    n = len(zone.queries)
    assert await res.resolve("voip.test", None, None) == hops
    assert len(zone.queries) == n


async def test_naptr_skips_transports_we_do_not_have(zone: DnsZone) -> None:
    res = SipResolver({"udp"}, [zone.server])
    assert await res.resolve("voip.test", None, None) == [Hop("udp", "127.0.0.11", 5070)]


async def test_srv_per_transport_without_naptr(zone: DnsZone) -> None:
    res = SipResolver({"udp", "tcp", "tls"}, [zone.server])
    assert await res.resolve("srvonly.test", None, None) == [Hop("udp", "127.0.0.21", 5072)]
    # sips: only TLS
    assert await res.resolve("srvonly.test", None, None, secure=True) == [
        Hop("tls", "127.0.0.21", 5073)]


async def test_transport_param_asks_that_srv_only(zone: DnsZone) -> None:
    res = SipResolver({"udp", "tcp"}, [zone.server])
    assert await res.resolve("voip.test", None, "udp") == [Hop("udp", "127.0.0.11", 5070)]
    assert ("voip.test", "NAPTR") not in zone.queries
    # no SRV for it: the host's A record on the default port
    assert await res.resolve("plain.test", None, "tcp") == [Hop("tcp", "127.0.0.30", 5060)]


async def test_explicit_port_is_a_plain_host_lookup(zone: DnsZone) -> None:
    res = SipResolver({"udp", "tcp"}, [zone.server])
    assert await res.resolve("srvonly.test", 5099, None) == [Hop("udp", "127.0.0.20", 5099)]
    assert all(t in ("A", "AAAA") for _, t in zone.queries)


async def test_no_records_at_all_falls_back_to_the_host(zone: DnsZone) -> None:
    res = SipResolver({"udp", "tcp"}, [zone.server])
    assert await res.resolve("plain.test", None, None) == [Hop("udp", "127.0.0.30", 5060)]
    assert await res.resolve("nowhere.test", None, None) == []


async def test_a_dead_name_server_is_left_alone_for_a_while() -> None:
    # a bound UDP socket that never answers: the first query times out, later ones are not sent
    dead = await DnsZone({}).start()
    assert dead.transport is not None
    dead.datagram_received = lambda data, addr: None  # type: ignore[method-assign]
    res = SipResolver({"udp"}, [dead.server], timeout=0.3)
    try:
        assert await res.resolve("localhost", None, None) == [Hop("udp", "127.0.0.1", 5060)]
        assert not res.dns_usable
        assert await res.resolve("localhost", None, "tcp") == [Hop("tcp", "127.0.0.1", 5060)]
    finally:
        dead.close()


async def test_cached_resolution_is_synchronous_and_keeps_srv_weights_per_call() -> None:
    zone = await DnsZone({
        ("w.test", "NAPTR"): ['10 10 "s" "SIP+D2U" "" _sip._udp.w.test.'],
        ("_sip._udp.w.test", "SRV"): ["10 50 5070 a.w.test.", "10 50 5071 b.w.test."],
        ("a.w.test", "A"): ["127.0.0.1"], ("b.w.test", "A"): ["127.0.0.2"],
    }).start()
    try:
        res = SipResolver({"udp"}, [zone.server])
        assert res.resolve_cached("w.test", None, None) is None  # nothing cached yet
        first = await res.resolve("w.test", None, None)
        assert sorted(h.port for h in first) == [5070, 5071]
        asked = len(zone.queries)
        tops = {res.resolve_cached("w.test", None, None)[0].port  # type: ignore[index]
                for _ in range(200)}
        assert tops == {5070, 5071}  # equal weights: each comes first some of the time
        assert len(zone.queries) == asked  # all from the cache
    finally:
        zone.close()


async def test_cached_records_expire_with_their_ttl() -> None:
    zone = await DnsZone({("t.test", "A"): ["127.0.0.5"]}, ttl=1).start()
    try:
        res = SipResolver({"udp"}, [zone.server])
        assert await res.resolve("t.test", 5060, None) == [Hop("udp", "127.0.0.5", 5060)]
        assert res.resolve_cached("t.test", 5060, None) == [Hop("udp", "127.0.0.5", 5060)]
        zone.zone[("t.test", "A")] = ["127.0.0.6"]
        await asyncio.sleep(1.1)
        assert res.resolve_cached("t.test", 5060, None) is None
        assert await res.resolve("t.test", 5060, None) == [Hop("udp", "127.0.0.6", 5060)]
    finally:
        zone.close()


async def test_default_transport_follows_the_engines() -> None:
    zone = await DnsZone({("plain.test", "A"): ["127.0.0.30"]}).start()
    try:
        tcp_only = SipResolver({"tcp"}, [zone.server])
        assert await tcp_only.resolve("plain.test", None, None) == [
            Hop("tcp", "127.0.0.30", 5060)]
        assert await tcp_only.resolve("plain.test", 5080, None) == [
            Hop("tcp", "127.0.0.30", 5080)]
    finally:
        zone.close()


async def test_many_srv_targets_all_resolve() -> None:
    targets = {(f"h{i}.many.test", "A"): [f"127.0.1.{i}"] for i in range(40)}
    zone = await DnsZone({("_sip._udp.many.test", "SRV"): [
        f"{i} 0 {5000 + i} h{i}.many.test." for i in range(40)], **targets}).start()
    try:
        hops = await SipResolver({"udp"}, [zone.server]).resolve("many.test", None, "udp")
        assert [h.port for h in hops] == list(range(5000, 5040))
    finally:
        zone.close()


async def test_a_resolution_that_never_settles_gives_up(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import drachtio.engine.resolver as resolver_mod

    monkeypatch.setattr(resolver_mod, "MAX_LOOKUPS", 2)  # NAPTR, SRV... then no budget left
    zone = await DnsZone(ZONE).start()
    try:
        assert await SipResolver({"udp"}, [zone.server]).resolve("voip.test", None, None) == []
        assert "giving up" in caplog.text
    finally:
        zone.close()
