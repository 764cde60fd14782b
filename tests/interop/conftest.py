"""Fixtures for the interop tests: our engine + npm drachtio-srf apps + SIPp, all on loopback.

Tests marked `sipp` / `node` are skipped (with the reason) only when the tool is really
absent; everything else (an engine that does not start, an app that never sees an event)
is a failure.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from interop_harness import (
    HOST,
    SECRET,
    SRF_PACKAGE,
    Engine,
    EngineConfig,
    EngineFailed,
    ManagedProcess,
    NodeApp,
    Sipp,
)

_BIND_ERRORS = ("bind", "address already in use", "errno 98")


@pytest.fixture(autouse=True)
def _require_tools(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("sipp") and shutil.which("sipp") is None:
        pytest.skip("sipp is not installed (Debian package sip-tester)")
    if request.node.get_closest_marker("node"):
        if shutil.which("node") is None:
            pytest.skip("node is not installed")
        if not SRF_PACKAGE.exists():
            pytest.skip(f"npm drachtio-srf is not installed ({SRF_PACKAGE.parent}); "
                        "run `npm ci` in tests/interop/node")


class Processes:
    """Everything a test started, stopped in reverse order at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[ManagedProcess] = []

    def add(self, proc: ManagedProcess) -> ManagedProcess:
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    p = Processes(tmp_path)
    try:
        yield p
    finally:
        p.stop_all()


@pytest.fixture
def start_engine(procs: Processes) -> Callable[..., Engine]:
    """start_engine(config=EngineConfig(...), secret=..., extra_args=[...]) -> a ready Engine."""

    def start(config: EngineConfig | None = None, secret: str = SECRET,
              ready_timeout: float = 15.0, extra_args: Iterable[str] = ()) -> Engine:
        # other test runs share this machine: a port found free may be taken before the
        # engine binds it, so retry with fresh ports when that is what went wrong
        for attempt in range(3):
            engine = Engine(procs.workdir, config=config, secret=secret,
                            extra_args=extra_args)
            procs.add(engine)
            try:
                engine.wait_ready(ready_timeout)
                return engine
            except EngineFailed as exc:
                text = str(exc).lower()
                if attempt == 2 or not any(w in text for w in _BIND_ERRORS):
                    raise
                engine.stop()
        raise AssertionError("unreachable")

    return start


@pytest.fixture
def engine(start_engine: Callable[..., Engine]) -> Engine:
    return start_engine()


@pytest.fixture
def start_app(procs: Processes) -> Callable[..., NodeApp]:
    """start_app(script, engine, connected=True, **opts) -> a running NodeApp.

    The app gets host/port/secret of `engine` (override with secret=...). With
    connected=True this waits for a successful handshake, so its routes are registered.
    """

    def start(script: str, engine: Engine, connected: bool = True, **opts: Any) -> NodeApp:
        full = {"host": HOST, "port": engine.admin_port, "secret": engine.secret,
                "maxLifetime": 90000}
        full.update(opts)
        app = NodeApp(procs.workdir, script, full)
        procs.add(app)
        if connected:
            app.wait_connected()
        return app

    return start


@pytest.fixture
def start_sipp(procs: Processes) -> Callable[..., Sipp]:
    """start_sipp(scenario, remote=None | 'host:port', **kw) -> a running Sipp.

    Without `remote` SIPp is a UAS and this waits until its port is bound.
    """

    def start(scenario: str, remote: str | None = None, **kw: Any) -> Sipp:
        for attempt in range(3):
            sipp = Sipp(procs.workdir, scenario, remote=remote, **kw)
            procs.add(sipp)
            if remote is not None:
                return sipp
            try:
                sipp.wait_bound()
                return sipp
            except RuntimeError:
                # a UAS that could not bind its port (taken meanwhile): try fresh ports
                if attempt == 2:
                    raise
                sipp.stop()
        raise AssertionError("unreachable")

    return start


__all__ = ["EngineConfig"]
