"""Public names that other modules and applications rely on: ``Srf.detach``,
``Agent.forget_invite``, ``Srf.stop``, ``Srf.end_session`` and the package re-exports."""

from __future__ import annotations

import asyncio

from srf_fake_engine import FakeEngine, invite_text

import drachtio.srf as srf_pkg
from drachtio.srf import Request, Srf
from drachtio.srf.b2bua import B2BUA
from drachtio.srf.listen import ListenServer, end_session
from drachtio.srf.proxy import ProxyResult


def test_reexports() -> None:
    assert srf_pkg.B2BUA is B2BUA and srf_pkg.ProxyResult is ProxyResult
    assert srf_pkg.ListenServer is ListenServer and srf_pkg.end_session is end_session
    for name in ("B2BUA", "ProxyResult", "ListenServer", "end_session"):
        assert name in srf_pkg.__all__


async def test_detach_forgets_the_agent(app: Srf) -> None:
    agent = app.agents[0]
    app.detach(agent)
    assert app.agents == [] and not app.connected
    app.detach(agent)  # twice: no error
    agent.close()


async def test_stop_is_disconnect(app: Srf, engine: FakeEngine) -> None:
    assert app.connected
    await app.stop()
    assert not app.connected and app.agents == []


async def test_end_session_ignores_inbound_connections(app: Srf) -> None:
    app.end_session(object())  # nothing to close
    assert app.connected


async def test_forget_invite_stops_cancel_matching(app: Srf, engine: FakeEngine) -> None:
    got: asyncio.Future[Request] = asyncio.get_running_loop().create_future()
    app.invite(lambda req, res: got.set_result(req))
    engine.deliver_request(invite_text())
    req = await asyncio.wait_for(got, 3)
    agent = app.agents[0]
    assert agent.pending_invites.get(req.transaction_id) is req
    agent.forget_invite(req)
    assert req.transaction_id not in agent.pending_invites
    assert req.call_id not in agent.invites_by_call_id
    cancelled: list[object] = []
    req.on("cancel", cancelled.append)
    engine.deliver_request(invite_text(method="CANCEL"), txn=req.transaction_id)
    await asyncio.sleep(0.05)
    assert cancelled == [] and not req.canceled
