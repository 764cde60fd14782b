"""create_b2bua and proxy_request over loopback: SIPp caller -> our engine + the app -> SIPp
callee (the reference's test/b2b.js and test/proxy.js flows)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from srf_e2e_util import HOST, Sipp

from drachtio.srf import Dialog, SipError, Srf
from drachtio.srf.emitter import spawn

MkSipp = Callable[..., Sipp]


async def finish(proc: Sipp, timeout: float | None = None) -> None:
    res = await proc.wait(timeout)
    assert res, f"sipp {proc.scenario} failed ({res.returncode}):\n{res.output}\n{res.log}"


async def callee(sipp: MkSipp, scenario: str, **kw: Any) -> Sipp:
    b = await sipp(scenario, **kw).start()
    await asyncio.sleep(0.2)  # bound before the call reaches it
    return b


class App:
    """An invite handler that bridges with create_b2bua and hangs up the other leg when one
    side hangs up (what every B2BUA application does)."""

    def __init__(self, srf: Srf, uri: str, **opts: Any) -> None:
        self.result: asyncio.Future[tuple[Dialog, Dialog]] = (
            asyncio.get_running_loop().create_future())
        self.hungup: asyncio.Queue[str] = asyncio.Queue()

        @srf.invite
        async def on_invite(req, res):
            try:
                uas, uac = await srf.create_b2bua(req, res, uri, **opts)
            except Exception as exc:
                self.result.set_exception(exc)
                return
            uas.on("destroy", lambda *_: (self.hungup.put_nowait("uas"),
                                          spawn(uac.destroy())))
            uac.on("destroy", lambda *_: (self.hungup.put_nowait("uac"),
                                          spawn(uas.destroy())))
            self.result.set_result((uas, uac))

    async def bridged(self) -> tuple[Dialog, Dialog]:
        return await asyncio.wait_for(self.result, 10)

    async def error(self) -> BaseException:
        with pytest.raises(Exception) as ei:
            await asyncio.wait_for(self.result, 10)
        return ei.value


async def test_caller_hangs_up(srf: Srf, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas.xml")
    app = App(srf, f"sip:bob@{HOST}:{b.port}", proxy_request_headers=["Subject"])
    async with sipp("uac.xml", target=target, service="b", extra=["-d", "300"]) as a:
        uas, uac = await app.bridged()
        assert uas.other is uac and uac.other is uas
        assert "o=user2" in uas.local.sdp and "o=user1" in uac.local.sdp
        await finish(a)
    assert await asyncio.wait_for(app.hungup.get(), 5) == "uas"
    await finish(b)


async def test_callee_hangs_up(srf: Srf, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas-hangup.xml", extra=["-d", "300"])
    app = App(srf, f"sip:bob@{HOST}:{b.port}")
    async with sipp("uac-expect-bye.xml", target=target, service="b") as a:
        await app.bridged()
        await finish(a)
    assert await asyncio.wait_for(app.hungup.get(), 5) == "uac"
    await finish(b)


async def test_cancel_propagates_with_reason(srf: Srf, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "b2b-uas-cancel-reason.xml")
    app = App(srf, f"sip:bob@{HOST}:{b.port}")
    async with sipp("uac-cancel.xml", target=target, service="b") as a:
        err = await app.error()
        assert isinstance(err, SipError) and err.status == 487
        await finish(a)
    await finish(b)


async def test_failure_is_passed_back(srf: Srf, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas-404.xml")
    app = App(srf, f"sip:bob@{HOST}:{b.port}")
    async with sipp("uac-expect-404.xml", target=target, service="b") as a:
        err = await app.error()
        assert isinstance(err, SipError) and err.status == 404 and err.res is not None
        await finish(a)
    await finish(b)


async def test_failure_not_passed_app_answers(srf: Srf, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas-404.xml")

    @srf.invite
    async def on_invite(req, res):
        try:
            await srf.create_b2bua(req, res, f"sip:bob@{HOST}:{b.port}", pass_failure=False)
        except SipError:
            res.send(480)

    async with sipp("uac-expect-480.xml", target=target, service="b") as a:
        await finish(a)
    await finish(b)


async def test_header_handling_and_response_headers(srf: Srf, sipp: MkSipp, target: str
                                                    ) -> None:
    b = await callee(sipp, "b2b-uas-headers.xml")
    app = App(srf, f"sip:bob@{HOST}:{b.port}",
              proxy_request_headers=["all", "-X-Secret"],
              proxy_response_headers=["X-Answer"],
              response_headers=lambda res_b, hdrs: {"X-Color": "green"})
    async with sipp("b2b-uac-headers.xml", target=target, service="b",
                    extra=["-d", "200"]) as a:
        await app.bridged()
        await finish(a)
    await finish(b)


async def test_prack_on_both_legs(srf: Srf, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas-prack.xml")
    app = App(srf, f"sip:bob@{HOST}:{b.port}", proxy_request_headers=["all"],
              proxy_response_headers=["all"])
    async with sipp("uac-prack.xml", target=target, service="b", extra=["-d", "200"]) as a:
        await app.bridged()
        await finish(a)
    await finish(b)


async def test_late_offer_3pcc(srf: Srf, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas.xml")
    app = App(srf, f"sip:bob@{HOST}:{b.port}")
    async with sipp("uac-nosdp.xml", target=target, service="b", extra=["-d", "200"]) as a:
        uas, uac = await app.bridged()
        assert "o=user2" in uas.local.sdp and uac.local.sdp == uas.remote.sdp != ""
        await finish(a)
    await finish(b)


async def test_fast_reinvite_from_b_waits_for_a_ack(srf: Srf, sipp: MkSipp, target: str
                                                    ) -> None:
    """B re-INVITEs as soon as it gets its ACK; A ACKs 1 s late: the re-INVITE is held,
    then relayed to A (uac-delayed-ack expects it) and answered."""
    b = await callee(sipp, "uas-reinvite.xml")
    app = App(srf, f"sip:bob@{HOST}:{b.port}")
    relayed: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    async with sipp("uac-delayed-ack.xml", target=target, service="b") as a:
        uas, uac = await app.bridged()
        t_bridged = loop.time()

        async def on_modify(req, res):
            relayed.set_result(loop.time() - t_bridged)
            sdp = await uas.modify(req.body)
            res.send(200, body=sdp, headers={"Content-Type": "application/sdp"})

        uac.on("modify", on_modify)
        assert await asyncio.wait_for(relayed, 10) >= 0.8  # held until A's late ACK
        await finish(a)
    await finish(b)


async def test_proxy_with_record_route(srf: Srf, sipp: MkSipp, target: str) -> None:
    b = await callee(sipp, "uas.xml")
    result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @srf.invite
    async def on_invite(req, res):
        try:
            result.set_result(await srf.proxy_request(
                req, [f"{HOST}:{b.port}"], record_route=True, headers={"X-Proxied": "yes"}))
        except Exception as exc:
            result.set_exception(exc)

    async with sipp("uac-proxy.xml", target=target, service="b", extra=["-d", "200"]) as a:
        out = await asyncio.wait_for(result, 10)
        assert out.connected and out.final_status == 200
        assert out.responses[0].port == b.port and out.responses[0].msgs[0].status == 200
        await finish(a)
    await finish(b)


async def test_proxy_serial_failover_req_proxy(srf: Srf, sipp: MkSipp, target: str) -> None:
    busy = await callee(sipp, "uas-404.xml")
    b = await callee(sipp, "uas.xml")
    result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @srf.invite
    async def on_invite(req, res):
        result.set_result(await req.proxy(
            [f"sip:busy@{HOST}:{busy.port}", f"sip:bob@{HOST}:{b.port}"],
            forking="sequential", remain_in_dialog=True))

    async with sipp("uac-proxy.xml", target=target, service="b", extra=["-d", "200"]) as a:
        out = await asyncio.wait_for(result, 10)
        assert out.connected
        assert [(t.port, [m.status for m in t.msgs]) for t in out.responses] == [
            (busy.port, [404]), (b.port, [200])]
        await finish(a)
    await finish(busy)
    await finish(b)


async def test_one_srf_two_engines(srf: Srf, engine: Any, sipp: MkSipp) -> None:
    """The app is connected to two engines; a call arriving at the second one is bridged
    through the second one (B leg, ACKs, BYEs all on the engine the caller used)."""
    from srf_e2e_util import SECRET, running_engine

    async with running_engine(timer_h=4.0) as second:
        await srf.connect(HOST, second.admin_port or 0, SECRET)
        b = await callee(sipp, "uas.xml")
        app = App(srf, f"sip:bob@{HOST}:{b.port}")
        target2 = f"{HOST}:{second.sip_port('udp')}"
        async with sipp("uac.xml", target=target2, service="b", extra=["-d", "200"]) as a:
            uas, uac = await app.bridged()
            assert uas.agent is uac.agent
            assert uas.agent is srf.agents[1] and uas.agent is not srf.agents[0]
            await finish(a)
        assert await asyncio.wait_for(app.hungup.get(), 5) == "uas"
        await finish(b)
