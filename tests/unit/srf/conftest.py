from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from srf_fake_engine import FakeEngine

from drachtio import Srf
from drachtio.wire.client import ReconnectPolicy


@pytest.fixture
async def engine() -> AsyncIterator[FakeEngine]:
    eng = FakeEngine()
    await eng.start()
    try:
        yield eng
    finally:
        await eng.stop()


@pytest.fixture
def srf() -> Srf:
    return Srf()


async def connect(srf: Srf, engine: FakeEngine) -> None:
    await srf.connect(
        host="127.0.0.1", port=engine.port, secret="cymru",
        reconnect=ReconnectPolicy(initial=0.05, factor=1.5, max_delay=0.2),
    )


@pytest.fixture
async def app(srf: Srf, engine: FakeEngine) -> AsyncIterator[Srf]:
    """An Srf connected to the fake engine (handlers may be added after connecting)."""
    await connect(srf, engine)
    try:
        yield srf
    finally:
        await srf.disconnect()
