"""Fixtures for Srf end-to-end tests: our engine in-process and an Srf on it, each test run
in both modes (``srf_mode``: remote over TCP, embedded in-process; limit with
``DRACHTIO_SRF_MODES``). Tests of the examples, which take ``--host/--port``, pin
``srf_mode`` to remote in their module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from srf_e2e_util import HOST, SECRET, SIPP, Sipp

from drachtio.engine import Engine
from drachtio.srf import Srf
from drachtio.testing import SrfEnv, started_srf

pytestmark = pytest.mark.sipp


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    import os

    if not os.path.exists(SIPP):
        skip = pytest.mark.skip(reason="sipp not installed")
        for item in items:
            if "e2e/srf" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture
async def srf_env(srf_mode: str, request: pytest.FixtureRequest) -> AsyncIterator[SrfEnv]:
    """Our engine in-process and an Srf on it, in each ``srf_mode`` (the plugin's
    parameter): ``remote`` over the control protocol, ``embedded`` in-process. The engine
    runs with timer_h=4 s (a missing ACK ends the call after ~4 s); other engine options with
    ``@pytest.mark.srf_engine(...)``."""
    marker = request.node.get_closest_marker("srf_engine")
    opts: dict[str, Any] = {"timer_h": 4.0, **(marker.kwargs if marker else {})}
    async with started_srf(srf_mode, secret=SECRET, **opts) as env:
        yield env


@pytest.fixture
def engine(srf_env: SrfEnv) -> Engine:
    return srf_env.engine


@pytest.fixture
def srf(srf_env: SrfEnv) -> Srf:
    return srf_env.srf


@pytest.fixture
def target(engine: Engine) -> str:
    """``host:port`` of the engine's SIP UDP transport (what SIPp UACs call)."""
    return f"{HOST}:{engine.sip_port('udp')}"


@pytest.fixture
def sipp(tmp_path: Path) -> Callable[..., Sipp]:
    def make(scenario: str, **kw: Any) -> Sipp:
        return Sipp(scenario, tmp_path, **kw)

    return make
