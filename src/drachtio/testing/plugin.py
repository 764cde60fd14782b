"""pytest fixtures for testing drachtio applications (needs pytest-asyncio).

Enable in your top-level ``conftest.py``::

    pytest_plugins = ["drachtio.testing.plugin"]

    @pytest.fixture
    def sip_app():
        from myapp import srf        # your application's Srf
        return srf

Fixtures:

* ``sip``: a started ``SipTestbed`` running ``sip_app`` on an embedded engine on a fake
  network with a virtual clock. Options per test with
  ``@pytest.mark.sip_testbed(network="udp", t1=0.1, ...)`` (``SipTestbed`` keyword arguments
  and ``EngineConfig`` fields). When a test fails, its SIP ladder is added to the report.
* ``sip_app``: the ``Srf`` under test; a fresh ``Srf()`` unless you override it.
* ``srf_mode``: ``"remote"`` and ``"embedded"`` (parametrised; limit with the environment
  variable ``DRACHTIO_SRF_MODES=embedded``).
* ``connected_srf``: an ``Srf`` started in ``srf_mode`` on an in-process engine listening on
  real 127.0.0.1 sockets (for SIPp and other outside peers); ``srf_engine`` is that engine.
  Engine options with ``@pytest.mark.srf_engine(t1=0.1, ...)``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.engine import Engine
    from drachtio.srf import Srf
    from drachtio.testing.harness import SipTestbed, SrfEnv

__all__ = [
    "connected_srf",
    "pytest_configure",
    "pytest_runtest_makereport",
    "sip",
    "sip_app",
    "srf_engine",
    "srf_env",
    "srf_mode",
]


def _modes() -> list[str]:
    text = os.environ.get("DRACHTIO_SRF_MODES", "remote,embedded")
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("remote", "embedded")]
    if bad or not modes:
        raise pytest.UsageError(
            f"DRACHTIO_SRF_MODES must list 'remote' and/or 'embedded', got {text!r}")
    return modes


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sip_testbed(**options): SipTestbed / EngineConfig options for `sip`")
    config.addinivalue_line(
        "markers", "srf_engine(**options): EngineConfig options for `connected_srf`")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used ``sip`` gets its SIP ladder in the report."""
    rep = yield
    if rep.when == "call" and rep.failed:
        tb = getattr(item, "_drachtio_testbed", None)
        if tb is not None and not any(t == "SIP ladder" for t, _ in rep.sections):
            try:
                rep.sections.append(("SIP ladder", tb.ladder()))
            except Exception as exc:  # never hide the real failure
                rep.sections.append(("SIP ladder", f"(could not render: {exc})"))
    return rep


@pytest.fixture
def sip_app() -> Srf:
    """The application under test; override to return your app's ``Srf``."""
    from drachtio.srf import Srf

    return Srf()


@pytest_asyncio.fixture
async def sip(sip_app: Srf, request: pytest.FixtureRequest) -> AsyncIterator[SipTestbed]:
    """The app on an in-process engine with phones, a fake network and a virtual clock."""
    from drachtio.testing.harness import SipTestbed

    marker = request.node.get_closest_marker("sip_testbed")
    opts = dict(marker.kwargs) if marker else {}
    tb = SipTestbed(sip_app, **opts)
    await tb.start()
    request.node._drachtio_testbed = tb
    try:
        yield tb
    finally:
        await tb.stop()


@pytest.fixture(params=_modes())
def srf_mode(request: pytest.FixtureRequest) -> str:
    """``"remote"`` or ``"embedded"``: how ``connected_srf`` reaches its engine."""
    mode: str = request.param
    return mode


@pytest_asyncio.fixture
async def srf_env(srf_mode: str, request: pytest.FixtureRequest) -> AsyncIterator[SrfEnv]:
    from drachtio.testing.harness import started_srf

    marker = request.node.get_closest_marker("srf_engine")
    opts = dict(marker.kwargs) if marker else {}
    async with started_srf(srf_mode, **opts) as env:
        yield env


@pytest.fixture
def connected_srf(srf_env: SrfEnv) -> Srf:
    """A fresh ``Srf`` connected (remote) or attached (embedded) to an in-process engine."""
    return srf_env.srf


@pytest.fixture
def srf_engine(srf_env: SrfEnv) -> Engine:
    """The engine ``connected_srf`` runs on (SIP on 127.0.0.1, ``srf_engine.sip_port()``)."""
    return srf_env.engine
