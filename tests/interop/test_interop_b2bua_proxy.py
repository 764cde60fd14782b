"""createB2BUA and proxyRequest from npm drachtio-srf, between two SIPp instances."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator

import pytest
from interop_harness import (
    Engine,
    EngineConfig,
    NodeApp,
    Sipp,
    SippResult,
    header,
    sip_messages,
)

from drachtio.testing.dnszone import DnsZone

pytestmark = [pytest.mark.sipp, pytest.mark.node]


def test_b2bua_caller_hangs_up(start_engine: Callable[..., Engine],
                               start_app: Callable[..., NodeApp],
                               start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine(EngineConfig(cdrs=True))
    b = start_sipp("uas.xml")
    app = start_app("b2bua.js", engine, uri=f"sip:b@127.0.0.1:{b.port}", cdrs=True)
    a = start_sipp("uac.xml", remote=engine.sip_target, service="b", pause_ms=300)
    a_res = a.result()
    assert a_res.rc == 0 and a_res.successful == 1, a_res.explain()
    bridged = app.wait_for("bridged")
    assert bridged["uas"]["type"] == "uas" and bridged["uac"]["type"] == "uac"
    assert bridged["uas"]["callId"] != bridged["uac"]["callId"]
    assert app.wait_for("destroy")["leg"] == "uas"
    assert app.wait_for("hungup")["leg"] == "uac"
    b_res = b.result(timeout=15)
    assert b_res.rc == 0 and b_res.successful == 1, b_res.explain()

    # B saw a new call carrying A's Subject and the app's header; A got B's SDP
    b_invite = sip_messages(b_res.messages, "INVITE ")[0]
    assert header(b_invite, "Subject") == "uac"
    assert header(b_invite, "X-B2B") == "yes"
    a_ok = next(m for m in sip_messages(a_res.messages, "SIP/2.0 200") if "INVITE" in m)
    assert "o=user2" in a_ok
    # the 180 from B was relayed to A
    assert sip_messages(a_res.messages, "SIP/2.0 180")

    # one CDR trail per leg: A (network, uas) and B (application, uac)
    app.collect(0.3)
    attempts = sorted(e["source"] for e in app.named("cdr:attempt"))
    assert attempts == ["application", "network"], app.events
    assert sorted(e["role"] for e in app.named("cdr:start")) == ["uac", "uas"], app.events
    stops = app.named("cdr:stop")
    assert [e["reason"] for e in stops] == ["normal-release", "normal-release"], app.events
    assert {e["callId"] for e in stops} == {bridged["uas"]["callId"], bridged["uac"]["callId"]}


def test_b2bua_callee_hangs_up(start_engine: Callable[..., Engine],
                               start_app: Callable[..., NodeApp],
                               start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    b = start_sipp("uas-hangup.xml", pause_ms=300)
    app = start_app("b2bua.js", engine, uri=f"sip:b@127.0.0.1:{b.port}")
    a = start_sipp("uac-expect-bye.xml", remote=engine.sip_target, service="b")
    a_res = a.result()
    assert a_res.rc == 0 and a_res.successful == 1, a_res.explain()
    app.wait_for("bridged")
    assert app.wait_for("destroy")["leg"] == "uac"
    assert app.wait_for("hungup")["leg"] == "uas"
    b_res = b.result(timeout=15)
    assert b_res.rc == 0 and b_res.successful == 1, b_res.explain()


def test_b2bua_cancel_propagates(start_engine: Callable[..., Engine],
                                 start_app: Callable[..., NodeApp],
                                 start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    b = start_sipp("uas-cancel.xml")
    app = start_app("b2bua.js", engine, uri=f"sip:b@127.0.0.1:{b.port}")
    a = start_sipp("uac-cancel.xml", remote=engine.sip_target, service="b")
    a_res = a.result()
    assert a_res.rc == 0 and a_res.successful == 1, a_res.explain()
    err = app.wait_for("b2b-error")
    assert err["status"] == 487, err
    b_res = b.result(timeout=15)
    assert b_res.rc == 0 and b_res.successful == 1, b_res.explain()


def test_b2bua_passes_failure(start_engine: Callable[..., Engine],
                              start_app: Callable[..., NodeApp],
                              start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    b = start_sipp("uas-404.xml")
    app = start_app("b2bua.js", engine, uri=f"sip:b@127.0.0.1:{b.port}")
    a = start_sipp("uac-expect-404.xml", remote=engine.sip_target, service="b")
    a_res = a.result()
    assert a_res.rc == 0 and a_res.successful == 1, a_res.explain()
    assert app.wait_for("b2b-error")["status"] == 404
    b_res = b.result(timeout=15)
    assert b_res.rc == 0 and b_res.successful == 1, b_res.explain()


def proxy_one_call(engine: Engine, b: Sipp, dest: str, start_app: Callable[..., NodeApp],
                   start_sipp: Callable[..., Sipp]) -> SippResult:
    """proxy.js proxies one SIPp call (uac-proxy.xml) to ``dest``, where SIPp ``b`` answers;
    every side succeeded. Returns B's result."""
    app = start_app("proxy.js", engine, dest=dest)
    a = start_sipp("uac-proxy.xml", remote=engine.sip_target, service="b", pause_ms=300)
    a_res = a.result()
    assert a_res.rc == 0 and a_res.successful == 1, a_res.explain()
    proxied = app.wait_for("proxied")
    assert proxied["connected"] is True and proxied["finalStatus"] == 200, proxied
    b_res = b.result(timeout=15)
    assert b_res.rc == 0 and b_res.successful == 1, b_res.explain()
    return b_res


def test_proxy_with_record_route(start_engine: Callable[..., Engine],
                                 start_app: Callable[..., NodeApp],
                                 start_sipp: Callable[..., Sipp]) -> None:
    engine = start_engine()
    b = start_sipp("uas.xml")
    b_res = proxy_one_call(engine, b, f"sip:127.0.0.1:{b.port}", start_app, start_sipp)

    b_invite = sip_messages(b_res.messages, "INVITE ")[0]
    rr = header(b_invite, "Record-Route") or ""
    assert f"127.0.0.1:{engine.sip_port}" in rr and ";lr" in rr
    assert header(b_invite, "X-Proxied") == "yes"
    vias = [ln for ln in b_invite.split("\n") if ln.lower().startswith(("via:", "v:"))]
    assert len(vias) >= 2 or "," in vias[0], b_invite
    assert header(b_invite, "Max-Forwards") == "69"
    # the BYE followed the route set: it reached B through the engine
    b_bye = sip_messages(b_res.messages, "BYE ")[0]
    assert f"127.0.0.1:{engine.sip_port}" in (header(b_bye, "Via") or "")
    assert header(b_bye, "Route") is None


@contextlib.contextmanager
def dns_zone(records: dict[tuple[str, str], list[str]]) -> Iterator[DnsZone]:
    """drachtio.testing's DnsZone on 127.0.0.1, served from a thread (these tests are
    synchronous); records may be added while it runs."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: list[DnsZone] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        box.append(loop.run_until_complete(DnsZone(records).start()))
        ready.set()
        loop.run_forever()
        box[0].close()

    thread = threading.Thread(target=serve, name="dns-zone", daemon=True)
    thread.start()
    assert ready.wait(5), "DNS zone did not start"
    try:
        yield box[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_proxy_to_a_name_found_by_naptr_and_srv(start_engine: Callable[..., Engine],
                                                start_app: Callable[..., NodeApp],
                                                start_sipp: Callable[..., Sipp]) -> None:
    """npm drachtio-srf's proxyRequest to ``sip:svc@voip.test``: our engine finds B through
    NAPTR -> SRV -> A (RFC 3263) on a DNS server given with --dns-server."""
    with dns_zone({}) as zone:
        engine = start_engine(extra_args=["--dns-server", zone.server])
        b = start_sipp("uas.xml")
        zone.zone.update({
            ("voip.test", "NAPTR"): ['10 10 "s" "SIP+D2U" "" _sip._udp.voip.test.'],
            ("_sip._udp.voip.test", "SRV"): [f"10 0 {b.port} b.voip.test."],
            ("b.voip.test", "A"): ["127.0.0.1"],
        })
        b_res = proxy_one_call(engine, b, "sip:svc@voip.test", start_app, start_sipp)
        assert sip_messages(b_res.messages, "INVITE ")[0].startswith("INVITE sip:svc@voip.test")
        assert zone.queries[:3] == [("voip.test", "NAPTR"), ("_sip._udp.voip.test", "SRV"),
                                    ("b.voip.test", "A")]
