"""examples/refer_transfer.py over loopback (drachtio-srf's test/refer.js): two SIPp callers
-> refer-b2b (create_b2bua) -> refer-uas; refer-uas REFERs call 2 with Replaces naming call 1's
B leg; the B2BUA re-INVITEs both callers toward each other and hangs up the B legs. Each app
runs on its own engine on a free port, in both ``srf_mode``s: embedded (started as the
example starts them) and remote (each app connected to its engine over the control protocol)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

from drachtio.embedded import engine_of
from drachtio.srf import Srf
from drachtio.testing import started_srf
from drachtio.testing.sipp import SippResult, run_sipp, sipp_available

pytestmark = [pytest.mark.sipp, pytest.mark.timeout(30),
              pytest.mark.skipif(not sipp_available(), reason="sipp is not installed")]

REPO = Path(__file__).resolve().parents[3]


def load_example() -> ModuleType:
    path = REPO / "examples" / "refer_transfer.py"
    spec = importlib.util.spec_from_file_location("refer_transfer_example", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while being defined
    spec.loader.exec_module(mod)
    return mod


ex = load_example()


@pytest.fixture
def refer_to() -> object:
    return ex.refer_to_replacing


@pytest.fixture
async def apps(refer_to: object, srf_mode: str) -> AsyncIterator[tuple[Srf, Srf, str]]:
    if srf_mode == "embedded":
        b2b, uas = await ex.start_apps("sip:127.0.0.1:0;transport=udp",
                                       "sip:127.0.0.1:0;transport=udp", refer_delay=0.2,
                                       refer_to=refer_to)
        engine = engine_of(b2b)
        assert engine is not None
        try:
            yield b2b, uas, f"127.0.0.1:{engine.sip_port('udp')}"
        finally:
            await b2b.disconnect()
            await uas.disconnect()
        return
    udp = ["sip:127.0.0.1:0;transport=udp"]
    async with contextlib.AsyncExitStack() as stack:
        uas_env = await stack.enter_async_context(
            started_srf(srf_mode, ex.create_uas(0.2, refer_to), contacts=udp))
        b2b_env = await stack.enter_async_context(started_srf(
            srf_mode, ex.create_b2b(f"sip:uas@127.0.0.1:{uas_env.engine.sip_port('udp')}"),
            contacts=udp))
        yield b2b_env.srf, uas_env.srf, f"127.0.0.1:{b2b_env.engine.sip_port('udp')}"


async def until(pred: object, timeout: float = 8.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():  # type: ignore[operator]
        assert loop.time() < end, f"{what} not met in {timeout} s"
        await asyncio.sleep(0.02)


def caller(scenario: str, target: str, n: int, hold_ms: int = 0) -> asyncio.Task[SippResult]:
    return asyncio.ensure_future(run_sipp(
        scenario, target, calls=1, timeout=10, service="transfer", hold_ms=hold_ms,
        extra=["-cid_str", f"refer-caller{n}-%u-%p@%s"]))


async def place_two_calls(uas: Srf, target: str, second: str, first: str = "uac-recv-reinvite.xml",
                          hold_ms: int = 0
                          ) -> tuple[asyncio.Task[SippResult], asyncio.Task[SippResult]]:
    c1 = caller(first, target, 1, hold_ms)
    await until(lambda: len(uas.locals["answered"]) == 1 or c1.done(), what="call 1 answered")
    c2 = caller(second, target, 2, hold_ms)
    return c1, c2


async def check_transfer(b2b: Srf, uas: Srf, callers_up: bool = True) -> object:
    """The REFER was accepted and named call 1's B leg; the found dialog and the two
    callers are the right ones. Returns the ``Transfer`` record. ``callers_up``: the callers
    are still connected (none hangs up by itself)."""
    await until(lambda: b2b.locals["transfers"], what="REFER received by refer-b2b")
    t = b2b.locals["transfers"][0]
    await asyncio.wait_for(t.done.wait(), 8)
    assert t.error is None, t.error
    b1_at_uas, b2_at_uas = uas.locals["answered"]
    # the Refer-To as sent: Replaces URL-encoded inside the URI, real tags of call 1
    refer_to = uas.locals["refer_to"][0]
    assert refer_to.startswith("<sip:foo@bar?Replaces=") and "%3Bfrom-tag%3D" in refer_to
    assert "%3Bto-tag%3D" in refer_to and ";" not in refer_to
    assert uas.locals["refer_status"] == [202]
    # the REFER came on call 2's B leg and Replaces named call 1's B leg ...
    assert t.refer_call_id == b2_at_uas.sip.call_id
    assert t.replaces.call_id == b1_at_uas.sip.call_id
    assert t.replaces.from_tag == b1_at_uas.sip.remote_tag
    assert t.replaces.to_tag == b1_at_uas.sip.local_tag
    # ... which find_dialog_by_call_id_and_from_tag found: our UAC leg of call 1
    found = t.replaced
    assert found.type == "uac"
    assert found.sip.call_id == b1_at_uas.sip.call_id
    assert found.sip.local_tag == b1_at_uas.sip.remote_tag
    # the callers that were connected: A legs of call 1 and call 2, now each other's other
    a1, a2 = t.callers
    assert a1.type == a2.type == "uas"
    assert a1.sip.call_id.startswith("refer-caller1-"), a1.sip.call_id
    assert a2.sip.call_id.startswith("refer-caller2-"), a2.sip.call_id
    if callers_up:
        assert a1.other is a2 and a2.other is a1
        assert a1.connected and a2.connected
    # each caller was offered the other's SDP (SIPp puts its own media port in o=/m=)
    assert a1.local.sdp == a2.remote.sdp and a2.local.sdp == a1.remote.sdp
    assert a1.local.sdp != a2.local.sdp
    # refer-uas was told the outcome and lost both calls by the B2BUA's BYEs
    await until(lambda: len(uas.locals["ended"]) == 2, what="both B legs hung up")
    assert [n[0] for n in uas.locals["notifies"]] == [b2_at_uas.sip.call_id]
    assert uas.locals["notifies"][0][1].startswith("SIP/2.0 200")
    assert {c for c, _ in uas.locals["ended"]} == {b1_at_uas.sip.call_id,
                                                   b2_at_uas.sip.call_id}
    if callers_up:
        assert set(b2b.dialogs) == {a1.id, a2.id}
    return t


async def finish(*tasks: asyncio.Task[SippResult]) -> None:
    for i, task in enumerate(tasks, 1):
        res = await asyncio.wait_for(task, 20)
        assert res.ok, f"caller {i}: {res}"


async def cancel(*tasks: asyncio.Task[SippResult]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_attended_transfer_then_hang_up_both(apps: tuple[Srf, Srf, str]) -> None:
    """The reference's flow: after the transfer the app hangs up both callers; each SIPp
    caller saw its re-INVITE and then a BYE."""
    b2b, uas, target = apps
    c1, c2 = await place_two_calls(uas, target, "uac-recv-reinvite.xml")
    try:
        t = await check_transfer(b2b, uas)
        a1, a2 = t.callers
        await asyncio.wait_for(asyncio.gather(a1.destroy(), a2.destroy()), 5)
        await finish(c1, c2)
    finally:
        await cancel(c1, c2)
    await until(lambda: not b2b.dialogs and not uas.dialogs, 3, "no dialogs left")


async def test_transferred_caller_hangs_up_the_other(apps: tuple[Srf, Srf, str]) -> None:
    """After the transfer the two callers are one call: caller 2's BYE makes the B2BUA hang
    up caller 1."""
    b2b, uas, target = apps
    c1, c2 = await place_two_calls(uas, target, "refer-uac-reinvite-then-bye.xml")
    try:
        await check_transfer(b2b, uas, callers_up=False)
        await finish(c1, c2)
    finally:
        await cancel(c1, c2)
    await until(lambda: not b2b.dialogs and not uas.dialogs, 3, "no dialogs left")


@pytest.mark.parametrize(("refer_to", "status"), [
    (lambda d: f"<sip:foo@bar?Replaces={d.sip.call_id}x%3Bfrom-tag%3D{d.sip.remote_tag}>",
     404),
    (lambda d: (f"<sip:foo@bar?Replaces={d.sip.call_id}%3Bfrom-tag%3D{d.sip.remote_tag}"
                "%3Bto-tag%3Dwrong>"), 404),
    (lambda d: "<sip:carol@example.com>", 400),
], ids=["unknown-call-id", "wrong-to-tag", "no-replaces"])
async def test_refer_naming_no_dialog_is_refused(apps: tuple[Srf, Srf, str], status: int
                                                 ) -> None:
    """A REFER whose Replaces names no dialog of ours (or has no Replaces) is refused and the
    calls go on untouched until the callers hang up."""
    b2b, uas, target = apps
    c1, c2 = await place_two_calls(uas, target, "uac.xml", "uac.xml", hold_ms=1200)
    try:
        await until(lambda: uas.locals["refer_status"], what="REFER answered")
        assert uas.locals["refer_status"] == [status]
        assert not b2b.locals["transfers"]
        await finish(c1, c2)
    finally:
        await cancel(c1, c2)
    await until(lambda: not b2b.dialogs and not uas.dialogs, 3, "no dialogs left")
    assert len(uas.locals["ended"]) == 2 and not uas.locals["notifies"]


@pytest.mark.parametrize(("header", "expected"), [
    ("<sip:foo@bar?Replaces=abc%40h%3Bfrom-tag%3Dx%3Bto-tag%3Dy>", ("abc@h", "x", "y")),
    ("<sip:foo@bar?replaces=abc%3Bto-tag%3Dy%3Bfrom-tag%3Dx>", ("abc", "x", "y")),
    ("<sip:foo@bar?Replaces=abc%3Bfrom-tag%3Dx>", ("abc", "x", None)),
    # drachtio-srf's test/refer.js encodes "Replaces=" too
    ("sip:foo@bar?Replaces%3Dabc%40h%3Bfrom-tag%3Dx%3Bto-tag%3Dfoobar", ("abc@h", "x", "foobar")),
    ("<sip:foo@bar>", None),
    ("<sip:foo@bar?Replaces=abc>", None),
    ("<sip:foo@bar?Replaces=%3Bfrom-tag%3Dx>", None),
    ("<sip:a@b?Replaces=a%3Bfrom-tag>", None),
    ("garbage<<", None),
    ("", None),
])
def test_parse_replaces(header: str, expected: tuple[str, str, str | None] | None) -> None:
    rep = ex.parse_replaces(header)
    assert (rep and (rep.call_id, rep.from_tag, rep.to_tag)) == expected
