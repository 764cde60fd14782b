"""Fixtures for the B2BUA / proxy end-to-end tests: our engine in-process, an Srf on it in
each ``srf_mode`` (remote over TCP, embedded in-process), SIPp far ends. The SIPp helpers
are the Srf e2e suite's (``tests/e2e/srf/srf_e2e_util.py``), used as they are."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "srf"))

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
    skip_without_sipp(items, 'e2e/b2bua')
