"""Fixtures from drachtio.testing (``connected_srf`` runs each test in remote and embedded
mode)."""

from drachtio.testing.plugin import *  # noqa: F403
