"""Connection handling against our engine (remote mode only): wrong secret, reconnect after an
engine restart."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from srf_e2e_util import HOST, SECRET, Sipp, free_port, running_engine, wait_for

from drachtio.srf import AuthenticationError, ReconnectPolicy, Srf


async def test_wrong_secret() -> None:
    # remote mode only, by nature (embedded mode has no secret)
    srf = Srf()
    async with running_engine() as engine:
        with pytest.raises(AuthenticationError):
            await srf.connect(HOST, engine.admin_port or 0, "not-the-secret")


async def test_reconnects_to_restarted_engine(sipp: Callable[..., Sipp]) -> None:
    admin = free_port()
    srf = Srf(["reconnect-test"])
    srf.invite(lambda req, res: res.send(480))
    connects: list[str] = []
    srf.on("connect", lambda hostports, version, local: connects.append(hostports))
    async with running_engine(admin_port=admin):
        await srf.connect(HOST, admin, SECRET,
                          reconnect=ReconnectPolicy(initial=0.05, factor=1.5, max_delay=0.3))
        assert srf.connected
    await wait_for(lambda: not srf.connected, 5)  # the engine went away
    async with running_engine(admin_port=admin) as second:
        await wait_for(lambda: len(connects) == 2, 10)
        assert f"udp/{HOST}:{second.sip_port('udp')}" in connects[1]
        target = f"{HOST}:{second.sip_port('udp')}"
        async with sipp("uac-expect-480.xml", target=target) as caller:
            res = await caller.wait()
            assert res, res.output + res.log  # routes were re-sent: the INVITE reached us
    await srf.disconnect()
