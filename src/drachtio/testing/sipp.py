"""Run SIPp from asyncio tests and tools, bounded in time, on free loopback ports.

``await run_sipp("uac.xml", "127.0.0.1:5060", calls=3)`` runs a scenario to completion and
returns its exit code and counters; ``async with sipp_uas("uas.xml") as uas:`` keeps a SIPp
callee running (``uas.address``) while the block runs. The process is killed when the time is
up or the block exits, so a test can never hang on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SippResult", "SippUas", "free_port", "run_sipp", "scenario_path", "sipp_available",
           "sipp_uas"]

HOST = "127.0.0.1"


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def free_port(host: str = HOST) -> int:
    """A port free for both UDP and TCP on ``host`` right now."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port: int = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def scenario_path(name: str | os.PathLike[str]) -> Path:
    """A scenario file: a path as given, or a name under the repository's tests/scenarios."""
    p = Path(name)
    if p.exists():
        return p
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "tests" / "scenarios" / p.name
        if cand.exists():
            return cand
    raise FileNotFoundError(f"SIPp scenario {name!s} not found")


@dataclass
class SippResult:
    rc: int | None
    argv: list[str]
    stats: dict[str, str] = field(default_factory=dict)
    output: str = ""
    timed_out: bool = False

    def counter(self, name: str) -> int:
        try:
            return int(float(self.stats.get(name, "0") or 0))
        except ValueError:
            return 0

    @property
    def successful(self) -> int:
        return self.counter("SuccessfulCall(C)")

    @property
    def failed(self) -> int:
        return self.counter("FailedCall(C)")

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def __str__(self) -> str:
        return (f"sipp rc={self.rc}{' (timed out)' if self.timed_out else ''} "
                f"successful={self.successful} failed={self.failed}\n{' '.join(self.argv)}\n"
                f"{self.output[-2000:]}")


def _read_stats(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    with open(path, newline="", errors="replace") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}


def _argv(scenario: Path, port: int, workdir: Path, extra: Sequence[str]) -> list[str]:
    return ["sipp", "-sf", str(scenario), "-i", HOST, "-p", str(port),
            "-mp", str(free_port()), "-cp", str(free_port()), "-nostdin", *extra]


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)


async def run_sipp(
    scenario: str | os.PathLike[str],
    target: str,
    *,
    calls: int = 1,
    rate: float | None = None,
    limit: int | None = None,
    hold_ms: int = 0,
    service: str = "service",
    transport: str = "u1",
    port: int | None = None,
    extra: Sequence[str] = (),
    timeout: float = 30.0,
) -> SippResult:
    """Run ``scenario`` against ``target`` (host:port) for ``calls`` calls from local
    ``port`` (default: a free one); never longer than ``timeout`` seconds (then the result
    has ``timed_out``)."""
    workdir = Path(tempfile.mkdtemp(prefix="sipp-"))
    stats = workdir / "stats.csv"
    args = ["-m", str(calls), "-s", service, "-t", transport, "-d", str(hold_ms),
            "-timeout", f"{max(1, int(timeout))}s", "-timeout_error",
            "-recv_timeout", str(int(min(timeout, 10) * 1000)),
            "-trace_stat", "-stf", str(stats), "-fd", "1", "-trace_err",
            "-error_file", str(workdir / "errors.log")]
    if rate is not None:
        args += ["-r", str(rate)]
    if limit is not None:
        args += ["-l", str(limit)]
    argv = _argv(scenario_path(scenario), port or free_port(), workdir, [*args, *extra, target])
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    timed_out = False
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout + 5)
    except TimeoutError:
        timed_out = True
        out = b""
    finally:
        await _stop(proc)
    text = out.decode("utf-8", "replace")
    err = workdir / "errors.log"
    if err.exists():
        text += "\n" + err.read_text(errors="replace")[-4000:]
    result = SippResult(proc.returncode, argv, _read_stats(stats), text, timed_out)
    shutil.rmtree(workdir, ignore_errors=True)
    return result


@dataclass
class SippUas:
    """A running SIPp callee."""

    proc: asyncio.subprocess.Process
    port: int
    argv: list[str]

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def uri(self) -> str:
        return f"sip:uas@{HOST}:{self.port}"

    async def wait(self, timeout: float = 10.0) -> int | None:
        """Until SIPp exits by itself (``calls`` reached); None on timeout."""
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            return None


@contextlib.asynccontextmanager
async def sipp_uas(
    scenario: str | os.PathLike[str] = "uas.xml",
    *,
    calls: int | None = None,
    transport: str = "u1",
    extra: Sequence[str] = (),
) -> AsyncIterator[SippUas]:
    """A SIPp UAS on a free port for the duration of the block (killed on exit)."""
    workdir = Path(tempfile.mkdtemp(prefix="sipp-uas-"))
    port = free_port()
    args = ["-t", transport, "-trace_err", "-error_file", str(workdir / "errors.log")]
    if calls is not None:
        args += ["-m", str(calls)]
    argv = _argv(scenario_path(scenario), port, workdir, [*args, *extra])
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.sleep(0.2)  # let it bind
        if proc.returncode is not None:
            raise RuntimeError(f"sipp uas exited at once ({proc.returncode}): {' '.join(argv)}")
        yield SippUas(proc, port, argv)
    finally:
        await _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
