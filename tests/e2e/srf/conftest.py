"""Fixtures for Srf end-to-end tests: our engine in-process and an Srf on it, each test run
in both modes (``srf_mode``: remote over TCP, embedded in-process; limit with
``DRACHTIO_SRF_MODES``). Tests of the examples, which take ``--host/--port``, pin
``srf_mode`` to remote in their module."""

from __future__ import annotations

import pytest
from srf_e2e_util import (  # noqa: F401  (fixtures shared with the other e2e suite)
    engine,
    sipp,
    skip_without_sipp,
    srf,
    srf_env,
    target,
)

pytestmark = pytest.mark.sipp


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip_without_sipp(items, 'e2e/srf')
