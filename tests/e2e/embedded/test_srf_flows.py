"""Srf flows against SIPp over loopback, each run twice: the app connected to the engine over
the control protocol (remote) and the same app with the engine in its process (embedded)."""

from __future__ import annotations

import asyncio

import pytest

from drachtio import SipError, Srf
from drachtio.engine import Engine
from drachtio.testing.sipp import run_sipp, sipp_available, sipp_uas

pytestmark = [pytest.mark.sipp,
              pytest.mark.skipif(not sipp_available(), reason="sipp is not installed")]

SDP = ("v=0\r\no=app 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 20000 RTP/AVP 0\r\na=sendrecv\r\n")


async def test_uas_answers_sipp_calls(connected_srf: Srf, srf_engine: Engine,
                                      srf_mode: str) -> None:
    srf = connected_srf
    ended: list[str] = []

    @srf.invite
    async def answer(req, res):
        assert "m=audio" in req.body
        dlg = await srf.create_uas(req, res, local_sdp=SDP)
        dlg.on("destroy", lambda *_: ended.append(dlg.id))

    await asyncio.sleep(0.05)  # the route reaches the engine
    result = await run_sipp("uac.xml", f"127.0.0.1:{srf_engine.sip_port()}", calls=3,
                            rate=10, hold_ms=50, timeout=20)
    assert result.ok, str(result)
    assert result.successful == 3
    for _ in range(50):
        if len(ended) == 3:
            break
        await asyncio.sleep(0.02)
    assert len(set(ended)) == 3, f"{srf_mode}: {ended}"
    assert not srf.dialogs


async def test_uac_calls_sipp_uas(connected_srf: Srf, srf_mode: str) -> None:
    srf = connected_srf
    async with sipp_uas("uas.xml", calls=1) as uas:
        dlg = await asyncio.wait_for(srf.create_uac(uas.uri, local_sdp=SDP), 10)
        assert dlg.type == "uac"
        assert "m=audio" in dlg.remote.sdp
        assert srf.find_dialog_by_id(dlg.id) is dlg
        await asyncio.wait_for(dlg.destroy(), 10)
        rc = await uas.wait(10)
        assert rc == 0, f"sipp uas exit {rc} in {srf_mode} mode"


async def test_uac_failure_is_a_sip_error(connected_srf: Srf) -> None:
    async with sipp_uas("uas-404.xml", calls=1) as uas:
        with pytest.raises(SipError) as info:
            await asyncio.wait_for(connected_srf.create_uac(uas.uri, local_sdp=SDP), 10)
        assert info.value.status == 404


async def test_options_answered_by_the_app(connected_srf: Srf, srf_engine: Engine) -> None:
    seen: list[str] = []

    @connected_srf.options
    def pong(req, res):
        seen.append(req.get("Call-ID") or "")
        res.send(200, headers={"X-Pong": "1"})

    await asyncio.sleep(0.05)
    result = await run_sipp("uac-options.xml", f"127.0.0.1:{srf_engine.sip_port()}",
                            calls=2, rate=20, timeout=15)
    assert result.ok, str(result)
    assert len(seen) == 2


async def test_srf_sends_options_to_sipp(connected_srf: Srf) -> None:
    async with sipp_uas("uas-options.xml", calls=1) as uas:
        req = await asyncio.wait_for(connected_srf.request(uas.uri, method="OPTIONS"), 5)
        res = await asyncio.wait_for(req.response(), 5)
        assert res.status == 200
