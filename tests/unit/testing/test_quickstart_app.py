"""The quick-start B2BUA tested the way an application's own tests would do it: the `sip`
fixture runs the app on an in-process engine, phones call it over a fake network."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from drachtio.srf import Srf

APP = Path(__file__).resolve().parents[3] / "examples" / "quickstart" / "app.py"

OFFER = (
    "v=0\r\no=alice 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8\r\na=sendrecv\r\n"
)
ANSWER = (
    "v=0\r\no=bob 1 1 IN IP4 127.0.0.11\r\ns=-\r\nc=IN IP4 127.0.0.11\r\nt=0 0\r\n"
    "m=audio 50000 RTP/AVP 0\r\na=sendrecv\r\n"
)


def load_app():
    spec = importlib.util.spec_from_file_location("quickstart_app", APP)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.pop("quickstart_app", None)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def sip_app() -> Srf:
    return load_app().srf  # a fresh app module per test


async def test_call_is_bridged_to_the_target(sip):
    alice = await sip.phone("alice")
    bob = await sip.phone("bob")
    sip.srf.locals["target"] = bob.uri

    call_task = __import__("asyncio").ensure_future(alice.invite(sip.uri("bob"), sdp=OFFER))
    incoming = await bob.next_call()
    assert incoming.get("X-Forwarded-For-Call") is not None
    assert "m=audio 40000" in (incoming.remote_sdp or "")
    incoming.ring()
    b_side = await incoming.answer(sdp=ANSWER)
    call = await call_task

    assert call.status == 200
    assert [r.status for r in call.provisional if r.status != 100] == [180]
    assert "m=audio 50000" in (call.remote_sdp or "")
    assert b_side.confirmed

    # the caller hangs up: the B2BUA hangs up the B side
    bye = await call.hangup()
    assert bye.status == 200
    ended_by = await b_side.wait_ended()
    assert ended_by is not None and ended_by.method == "BYE"


async def test_b_side_refusal_is_relayed(sip):
    alice = await sip.phone("alice")
    bob = await sip.phone("bob")
    sip.srf.locals["target"] = bob.uri
    call_task = __import__("asyncio").ensure_future(alice.invite(sip.uri("bob"), sdp=OFFER))
    incoming = await bob.next_call()
    incoming.reject(486)
    call = await call_task
    assert call.status == 486
    assert call.dialog is None


async def test_options_answered(sip):
    alice = await sip.phone("alice")
    res = await alice.options(sip.uri("ping"))
    assert res.status == 200
