"""Helpers for the Srf end-to-end tests: an in-process engine and SIPp as far ends.

The engine runs in the test's event loop (``drachtio.engine.Engine`` on ephemeral ports),
the app connects to it over the real control protocol (``Srf.connect`` to the admin port),
and SIPp runs as an asyncio subprocess so the loop keeps serving while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from drachtio.engine import Engine, EngineConfig
from drachtio.srf import Srf
from drachtio.testing import SrfEnv, started_srf

REPO = Path(__file__).resolve().parents[3]
SCENARIOS = REPO / "tests" / "scenarios"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
HOST = "127.0.0.1"
SECRET = "cymru"

_handed: set[int] = set()
_lock = threading.Lock()


def free_port(span: int = 1) -> int:
    """A base port with ``span`` consecutive ports free for UDP and TCP."""
    with _lock:
        for _ in range(500):
            with socket.socket() as s:
                s.bind((HOST, 0))
                base = s.getsockname()[1]
            ports = range(base, base + span)
            if base + span > 65000 or any(p in _handed for p in ports):
                continue
            ok = True
            for p in ports:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        try:
                            s.bind((HOST, p))
                        except OSError:
                            ok = False
            if ok:
                _handed.update(ports)
                return base
    raise RuntimeError("no free port")


@contextlib.asynccontextmanager
async def running_engine(**cfg: object) -> AsyncIterator[Engine]:
    opts: dict[str, object] = {
        "contacts": [f"sip:{HOST}:0;transport=udp,tcp"], "admin_port": 0, "secret": SECRET,
        **cfg,
    }
    config = EngineConfig(**opts)  # type: ignore[arg-type]
    engine = Engine(config)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


def engine_sip_port(engine: Engine) -> int:
    return engine.sip_port("udp")


@dataclass
class SippResult:
    returncode: int
    output: str
    log: str

    def __bool__(self) -> bool:
        return self.returncode == 0


class Sipp:
    """One SIPp run as an asyncio subprocess (UAS far ends start it before the call)."""

    def __init__(self, scenario: str, tmp: Path, *, target: str | None = None,
                 service: str = "service", port: int | None = None, calls: int = 1,
                 timeout: float = 20.0, extra: list[str] | None = None) -> None:
        self.scenario = scenario
        self.tmp = tmp
        self.port = port or free_port(1)
        self.media = free_port(4)
        self.cport = free_port(1)
        path = Path(scenario)
        if not path.is_absolute():
            path = SCENARIOS / scenario
        self.argv = [
            SIPP, "-sf", str(path), "-i", HOST, "-p", str(self.port), "-mp", str(self.media),
            "-cp", str(self.cport), "-m", str(calls), "-s", service, "-nostdin",
            "-timeout", f"{int(timeout)}s", "-timeout_error", "-max_recv_loops", "100",
            "-trace_err", "-error_file", str(tmp / f"sipp-{self.port}-errors.log"),
            "-trace_msg", "-message_file", str(tmp / f"sipp-{self.port}-msgs.log"),
        ] + (extra or [])
        if target:
            self.argv.append(target)
        self.proc: asyncio.subprocess.Process | None = None
        self.timeout = timeout

    @property
    def uri(self) -> str:
        return f"sip:{HOST}:{self.port}"

    async def start(self) -> Sipp:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=str(self.tmp), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "TERM": "dumb"},
        )
        if "-sf" in self.argv and self.argv[-1].count(":") == 0 and not self._is_client():
            await asyncio.sleep(0.15)  # let a UAS bind before the call is placed
        return self

    def _is_client(self) -> bool:
        return not Path(self.argv[2]).name.startswith("uas")

    async def wait(self, timeout: float | None = None) -> SippResult:
        assert self.proc is not None
        try:
            out, _ = await asyncio.wait_for(self.proc.communicate(), timeout or self.timeout + 5)
        except TimeoutError:
            self.kill()
            out, _ = await self.proc.communicate()
        log = ""
        for name in (f"sipp-{self.port}-errors.log", f"sipp-{self.port}-msgs.log"):
            p = self.tmp / name
            if p.exists():
                log += f"--- {name}\n" + p.read_text(errors="replace")[-6000:]
        return SippResult(self.proc.returncode or 0, (out or b"").decode(errors="replace")[-3000:],
                          log)

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)

    async def __aenter__(self) -> Sipp:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.kill()
        if self.proc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.proc.wait(), 5)


async def wait_for(pred: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():  # type: ignore[operator]
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# -- fixtures shared by the Srf and the B2BUA/proxy e2e suites (imported by their conftests) --


def skip_without_sipp(items: list[pytest.Item], folder: str) -> None:
    """Mark the tests under ``folder`` skipped when the sipp binary is missing."""
    if os.path.exists(SIPP):
        return
    skip = pytest.mark.skip(reason="sipp not installed")
    for item in items:
        if folder in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture
async def srf_env(srf_mode: str, request: pytest.FixtureRequest) -> AsyncIterator[SrfEnv]:
    """Our engine in-process and an Srf on it, in each ``srf_mode`` (the plugin's
    parameter): ``remote`` over the control protocol, ``embedded`` in-process. The engine
    runs with timer_h=4 s (a missing ACK ends the call after ~4 s); other engine options with
    ``@pytest.mark.srf_engine(...)``."""
    marker = request.node.get_closest_marker("srf_engine")
    opts: dict[str, object] = {"timer_h": 4.0, **(marker.kwargs if marker else {})}
    async with started_srf(srf_mode, secret=SECRET, **opts) as env:  # type: ignore[arg-type]
        yield env


@pytest.fixture
def engine(srf_env: SrfEnv) -> Engine:
    return srf_env.engine


@pytest.fixture
def srf(srf_env: SrfEnv) -> Srf:
    return srf_env.srf


@pytest.fixture
def target(engine: Engine) -> str:
    """``host:port`` of the engine's SIP UDP transport (what SIPp callers dial)."""
    return f"{HOST}:{engine.sip_port('udp')}"


@pytest.fixture
def sipp(tmp_path: Path) -> object:
    def make(scenario: str, **kw: object) -> Sipp:
        return Sipp(scenario, tmp_path, **kw)  # type: ignore[arg-type]

    return make


# -- the examples/ modules (they take --host/--port or connect() themselves) -----------------


def example(name: str) -> ModuleType:
    """``examples/<name>.py`` loaded as a module (a fresh one per call)."""
    path = REPO / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"e2e_example_{name}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(name="srf_mode")
def remote_srf_mode() -> str:
    """``srf_mode`` for a module that imports this: remote only (the examples connect over
    TCP themselves)."""
    return "remote"
