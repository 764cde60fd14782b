"""Each user-guide example in examples/ driven against our engine with SIPp peers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest
from srf_e2e_util import (  # remote_srf_mode: these examples run in remote mode only
    HOST,
    REPO,
    SECRET,
    Sipp,
    example,
    remote_srf_mode,  # noqa: F401
)

from drachtio.engine import Engine
from drachtio.srf import Srf

MkSipp = Callable[..., Sipp]


async def _connect(app: Srf, engine: Engine) -> Srf:
    await app.connect(HOST, engine.admin_port or 0, SECRET)
    return app


async def _finish(peer: Sipp) -> None:
    res = await peer.wait()
    assert res, f"sipp failed ({res.returncode}):\n{res.output}\n{res.log}"


async def test_getting_started(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    mod = example("getting_started")
    await mod.main(["--port", str(engine.admin_port), "--secret", SECRET, "--once"])
    out = capsys.readouterr().out
    assert f"udp/127.0.0.1:{engine.sip_port('udp')}" in out


async def test_receiving_requests(engine: Engine, sipp: MkSipp, target: str) -> None:
    app = await _connect(example("receiving_requests").create_app(), engine)
    try:
        async with sipp("srf-uac-expect-486.xml", target=target) as caller:
            await _finish(caller)
    finally:
        await app.disconnect()


async def test_sending_requests_options(engine: Engine, sipp: MkSipp, srf: Srf) -> None:
    mod = example("sending_requests")
    async with sipp("uas-options.xml") as far:
        assert await mod.send_options(srf, far.uri) == 200
        await _finish(far)


async def test_sending_requests_invite_with_app_ack(engine: Engine, sipp: MkSipp,
                                                    srf: Srf) -> None:
    mod = example("sending_requests")
    async with sipp("uas.xml") as far:
        assert await mod.send_invite(srf, far.uri) == 200  # ACK, then BYE
        await _finish(far)


async def test_sending_requests_main(engine: Engine, sipp: MkSipp) -> None:
    mod = example("sending_requests")
    async with sipp("uas-options.xml") as far:
        status = await mod.main([far.uri, "--port", str(engine.admin_port), "--secret", SECRET])
        assert status == 200
        await _finish(far)


async def test_uas_example(engine: Engine, sipp: MkSipp, target: str) -> None:
    app = await _connect(example("uas").create_app(), engine)
    try:
        async with sipp("uac.xml", target=target, extra=["-d", "200"]) as caller:
            await _finish(caller)
        await asyncio.sleep(0.1)
        assert [reason for _cid, reason in app.locals["calls"]] == ["normal release"]
    finally:
        await app.disconnect()


async def test_uac_example_local_hangup(srf: Srf, sipp: MkSipp) -> None:
    mod = example("uac")
    async with sipp("uas.xml") as far:
        assert await mod.call(srf, far.uri, hold=0.3) == "local"
        await _finish(far)


async def test_uac_example_remote_hangup(srf: Srf, sipp: MkSipp) -> None:
    mod = example("uac")
    async with sipp("uas-hangup.xml", extra=["-d", "100"]) as far:
        assert await mod.call(srf, far.uri, hold=5) == "remote"
        await _finish(far)


async def test_uac_example_rejected(srf: Srf, sipp: MkSipp) -> None:
    mod = example("uac")
    async with sipp("uas-404.xml") as far:
        assert await mod.call(srf, far.uri) == "failed:404"
        await _finish(far)


async def test_dialog_methods_example(srf: Srf, sipp: MkSipp) -> None:
    mod = example("dialog_methods")
    async with sipp("srf-uas-dialog-methods.xml") as far:
        steps = await mod.exercise(srf, far.uri)
        await _finish(far)  # checks a=inactive on hold and a=sendrecv on unhold
    assert steps[1:] == ["hold: on_hold=True", "unhold: on_hold=False", "info: 200",
                         "destroyed: BYE connected=False"]


async def test_subscribe_example_notifier(engine: Engine, sipp: MkSipp, target: str) -> None:
    app = await _connect(example("subscribe").create_notifier(), engine)
    try:
        async with sipp("uac-subscribe.xml", target=target) as caller:
            await _finish(caller)
        assert app.locals["ended"] == ["subscription terminated"]
        assert app.dialogs == {}
    finally:
        await app.disconnect()


async def test_subscribe_example_subscriber(srf: Srf, sipp: MkSipp) -> None:
    mod = example("subscribe")
    async with sipp("srf-uas-subscribe.xml") as far:
        assert await mod.subscribe(srf, far.uri, timeout=5) == "subscription terminated"
        await _finish(far)


async def test_cdrs_example(engine: Engine, sipp: MkSipp, target: str) -> None:
    records: list[tuple[str, ...]] = []
    cdr_app = await _connect(example("cdrs").create_app(records), engine)
    uas_app = await _connect(example("uas").create_app(), engine)
    try:
        async with sipp("uac.xml", target=target, extra=["-d", "100"]) as caller:
            await _finish(caller)
        await asyncio.sleep(0.2)
        kinds = [r[0] for r in records]
        assert kinds == ["attempt", "start", "stop"], records
        assert records[1][2] == "uas" and records[2][2] == "normal-release"
        assert len({r[1] for r in records}) == 1  # one Call-ID
    finally:
        await uas_app.disconnect()
        await cdr_app.disconnect()


@pytest.mark.parametrize("allow,scenario", [("127.0.0.0/8", "uac-expect-480.xml"),
                                            ("10.0.0.0/8", "srf-uac-expect-403.xml")])
async def test_middleware_example(engine: Engine, sipp: MkSipp, target: str, allow: str,
                                  scenario: str) -> None:
    app = await _connect(example("middleware").create_app([allow]), engine)
    try:
        async with sipp(scenario, target=target) as caller:
            await _finish(caller)
    finally:
        await app.disconnect()


def test_examples_are_runnable_scripts() -> None:
    """Every example has a main() and runs its --help as a script."""
    import subprocess

    for path in sorted((REPO / "examples").glob("*.py")):
        out = subprocess.run([sys.executable, str(path), "--help"], capture_output=True,
                             text=True, timeout=30, cwd=REPO)
        assert out.returncode == 0, (path, out.stderr)
        assert "usage:" in out.stdout
