"""Use the drachtio.testing fixtures here as an application's own test suite would.

(An application puts ``pytest_plugins = ["drachtio.testing.plugin"]`` in its top-level
conftest.py; this directory is not top-level, so it imports the fixtures instead.)
"""

from drachtio.testing.plugin import *  # noqa: F403
