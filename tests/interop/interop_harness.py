"""Processes for the interop tests: our engine (CLI), node drachtio-srf apps and SIPp.

Every process is started in its own session, logs to a file under the test's tmp dir, is
bounded in time and is stopped by the fixture that started it (SIGTERM, then SIGKILL).
Node apps print one JSON object per line; `NodeApp.wait_for` reads them.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "tests" / "scenarios"
NODE_DIR = REPO / "tests" / "interop" / "node"
APPS_DIR = NODE_DIR / "apps"
SRF_PACKAGE = NODE_DIR / "node_modules" / "drachtio-srf" / "package.json"
SECRET = "cymru"
HOST = "127.0.0.1"


def engine_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


# ---------------------------------------------------------------------------------------
# ports

_handed_out: set[int] = set()
_port_lock = threading.Lock()


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _tcp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port(span: int = 1) -> int:
    """A port free for UDP and TCP on 127.0.0.1; with span > 1, that many consecutive ones.

    SIP listens on both transports at one port, and SIPp's media socket uses port and
    port+2, so the caller asks for the span it needs. Ports handed out in this process are
    never handed out again (another test may not have bound them yet).
    """
    with _port_lock:
        for _ in range(500):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((HOST, 0))
                base: int = s.getsockname()[1]
            ports = range(base, base + span)
            if base + span > 65535 or any(p in _handed_out for p in ports):
                continue
            if all(_udp_free(p) and _tcp_free(p) for p in ports):
                _handed_out.update(ports)
                return base
    raise RuntimeError("no free port found on 127.0.0.1")


def udp_bound(port: int, host: str = HOST) -> bool:
    """Whether some process has bound UDP `host:port` (read from /proc, so no bind race)."""
    want = f"{socket.htonl(int.from_bytes(socket.inet_aton(host), 'big')):08X}:{port:04X}"
    for table in ("/proc/net/udp",):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if len(cols) > 1 and cols[1].upper() in (want, f"00000000:{port:04X}"):
                    return True
    return False


def wait_tcp(port: int, timeout: float, host: str = HOST) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------
# processes


class ManagedProcess:
    """A child process whose merged stdout/stderr is read line by line into a log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, *,
                 cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._log = open(log_path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, text=True, errors="replace", bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            self._log.write(line + "\n")
            self._log.flush()
            self._queue.put(line)
        self._queue.put(None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def next_line(self, timeout: float) -> str | None:
        """The next unread output line, or None on timeout / end of output."""
        try:
            return self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def output(self) -> str:
        return "\n".join(self.lines)

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.lines[-n:])

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, grace: float = 3.0) -> int | None:
        """SIGTERM the process group we created, SIGKILL it after `grace` seconds."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._reader.join(timeout=2)
        self._log.close()
        return self.proc.returncode


# ---------------------------------------------------------------------------------------
# engine


@dataclass
class EngineConfig:
    """What goes into the engine's XML config file (only what the tests need)."""

    t1_ms: int | None = None
    t1x64_ms: int | None = None
    cdrs: bool = False
    extra_sip_xml: str = ""

    def needed(self) -> bool:
        return bool(self.t1_ms or self.t1x64_ms or self.cdrs or self.extra_sip_xml)

    def to_xml(self, sip_port: int, admin_port: int, secret: str) -> str:
        timers = ""
        if self.t1_ms or self.t1x64_ms:
            t1 = f"<t1>{self.t1_ms}</t1>" if self.t1_ms else ""
            t64 = f"<t1x64>{self.t1x64_ms}</t1x64>" if self.t1x64_ms else ""
            timers = f"<timers>{t1}{t64}</timers>"
        return (
            "<drachtio>\n"
            f'  <admin port="{admin_port}" secret="{secret}">{HOST}</admin>\n'
            "  <sip>\n"
            f"    <contacts><contact>sip:{HOST}:{sip_port};transport=udp,tcp</contact></contacts>\n"
            f"    {timers}\n"
            f"    {self.extra_sip_xml}\n"
            "  </sip>\n"
            f"  <cdrs>{'true' if self.cdrs else 'false'}</cdrs>\n"
            "  <logging><console/><loglevel>info</loglevel></logging>\n"
            "</drachtio>\n"
        )


class Engine(ManagedProcess):
    """Our SIP engine started through its CLI (the drachtio-server command line)."""

    def __init__(self, workdir: Path, *, config: EngineConfig | None = None,
                 secret: str = SECRET, extra_args: Iterable[str] = ()) -> None:
        self.sip_port = free_port()
        self.admin_port = free_port()
        self.secret = secret
        argv = [
            engine_python(), "-m", "drachtio.server",
            "--contact", f"sip:{HOST}:{self.sip_port};transport=udp,tcp",
            "--port", str(self.admin_port), "--secret", secret, "--loglevel", "info",
        ]
        if config is not None and config.needed():
            cfg = workdir / f"engine-{self.sip_port}.xml"
            cfg.write_text(config.to_xml(self.sip_port, self.admin_port, secret))
            argv += ["-f", str(cfg)]
        argv += list(extra_args)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        super().__init__("engine", argv, workdir / f"engine-{self.sip_port}.log", cwd=REPO, env=env)

    @property
    def sip_target(self) -> str:
        return f"{HOST}:{self.sip_port}"

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait for the 'listening' line and for the admin port to accept connections."""
        deadline = time.monotonic() + timeout
        seen = False
        while time.monotonic() < deadline:
            if not self.alive():
                raise EngineFailed(f"engine exited with {self.proc.returncode}:\n{self.tail()}")
            if not seen:
                seen = any("listening" in ln.lower() for ln in self.lines)
            if seen and wait_tcp(self.admin_port, 0.2):
                return
            time.sleep(0.05)
        raise EngineFailed(
            f"engine not ready within {timeout}s (listening line seen: {seen}):\n{self.tail()}")


class EngineFailed(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------
# node apps


class NodeApp(ManagedProcess):
    """A script from tests/interop/node/apps using the unmodified npm drachtio-srf."""

    def __init__(self, workdir: Path, script: str, opts: dict[str, Any]) -> None:
        self.script = script
        self.events: list[dict[str, Any]] = []
        argv = ["node", str(APPS_DIR / script), json.dumps(opts)]
        env = dict(os.environ)
        env.pop("DEBUG", None)
        super().__init__(f"node-{script}", argv,
                         workdir / f"node-{Path(script).stem}-{id(self):x}.log",
                         cwd=NODE_DIR, env=env)

    def _pump(self, timeout: float) -> bool:
        line = self.next_line(timeout)
        if line is None:
            return False
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))
        return True

    def wait_for(self, event: str, timeout: float = 10.0,
                 where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The first event named `event` (matching `where`) not returned before."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("_seen"):
                    continue
                if ev.get("event") == event and (where is None or where(ev)):
                    self.events[i] = dict(ev, _seen=True)
                    return ev
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.script}: no {event!r} event within {timeout}s; events so far:\n"
                    + "\n".join(json.dumps(e) for e in self.events)
                    + f"\n--- output tail ---\n{self.tail()}")
            if not self._pump(min(remaining, 0.2)) and not self.alive():
                # drain whatever is left, then give up early
                while self._pump(0.05):
                    pass
                if not any(e.get("event") == event and not e.get("_seen")
                           and (where is None or where(e)) for e in self.events):
                    raise AssertionError(
                        f"{self.script} exited ({self.proc.returncode}) before {event!r}:\n"
                        + self.tail())

    def collect(self, duration: float) -> list[dict[str, Any]]:
        """Read events for `duration` seconds and return all events so far."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            self._pump(deadline - time.monotonic())
        return self.events

    def named(self, event: str) -> list[dict[str, Any]]:
        while self._pump(0):
            pass
        return [e for e in self.events if e.get("event") == event]

    def wait_connected(self, timeout: float = 10.0) -> dict[str, Any]:
        ev = self.wait_for("connect", timeout)
        assert ev.get("ok"), f"{self.script} failed to connect: {ev}"
        return ev


# ---------------------------------------------------------------------------------------
# SIPp


@dataclass
class SippResult:
    rc: int | None
    output: str
    stats: dict[str, str]
    messages: str
    errors: str
    argv: list[str] = field(default_factory=list)

    def counter(self, name: str) -> int:
        value = self.stats.get(name, "")
        try:
            return int(float(value))
        except ValueError:
            return -1

    @property
    def successful(self) -> int:
        return self.counter("SuccessfulCall(C)")

    @property
    def failed(self) -> int:
        return self.counter("FailedCall(C)")

    @property
    def retransmissions(self) -> int:
        return self.counter("Retransmissions(C)")

    def explain(self) -> str:
        keys = [k for k, v in self.stats.items() if k.endswith("(C)") and v not in ("0", "")]
        counters = ", ".join(f"{k}={self.stats[k]}" for k in keys if "Time" not in k)
        return (f"sipp rc={self.rc} ({' '.join(self.argv)})\ncounters: {counters}\n"
                f"--- unexpected messages ---\n{self.errors[-3000:]}\n"
                f"--- messages ---\n{self.messages[-6000:]}\n"
                f"--- screen ---\n{self.output[-2500:]}")


def read_sipp_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp -trace_stat CSV file as {column: value}."""
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


class Sipp(ManagedProcess):
    """One SIPp run. UAC: give `remote`; UAS: leave it None (listens on `port`)."""

    def __init__(self, workdir: Path, scenario: str, *, remote: str | None = None,
                 port: int | None = None, calls: int = 1, timeout: float = 20.0,
                 recv_timeout_ms: int | None = 10000, pause_ms: int | None = None,
                 service: str | None = None, trace_msg: bool = True,
                 extra: Sequence[str] = ()) -> None:
        self.port = port or free_port()
        media = free_port(span=4)
        control = free_port()
        path = Path(scenario)
        self.scenario = path if path.is_absolute() else SCENARIOS / scenario
        tag = f"{self.scenario.stem}-{self.port}"
        self.stats_path = workdir / f"sipp-{tag}.csv"
        self.msg_path = workdir / f"sipp-{tag}-messages.log"
        self.err_path = workdir / f"sipp-{tag}-errors.log"
        self.timeout = timeout
        argv = [
            "sipp", "-sf", str(self.scenario), "-i", HOST, "-p", str(self.port),
            "-mp", str(media), "-cp", str(control), "-m", str(calls), "-nostdin",
            "-timeout", f"{int(timeout)}s", "-timeout_error",
            "-trace_stat", "-stf", str(self.stats_path),
            "-trace_err", "-error_file", str(self.err_path),
        ]
        if recv_timeout_ms is not None:
            argv += ["-recv_timeout", str(recv_timeout_ms)]
        if pause_ms is not None:
            argv += ["-d", str(pause_ms)]
        if service is not None:
            argv += ["-s", service]
        if trace_msg:
            argv += ["-trace_msg", "-message_file", str(self.msg_path)]
        argv += list(extra)
        if remote is not None:
            argv.append(remote)
        super().__init__(f"sipp-{tag}", argv, workdir / f"sipp-{tag}.out", cwd=workdir)

    def wait_bound(self, timeout: float = 5.0) -> None:
        """For a UAS: wait until SIPp has bound its SIP port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if udp_bound(self.port):
                return
            if not self.alive():
                raise RuntimeError(f"sipp exited early ({self.proc.returncode}):\n{self.tail()}")
            time.sleep(0.02)
        raise RuntimeError(f"sipp did not bind {self.port} within {timeout}s:\n{self.tail()}")

    def result(self, timeout: float | None = None) -> SippResult:
        """Wait for SIPp to finish (killing it after `timeout`) and collect what it wrote."""
        try:
            rc: int | None = self.wait(timeout if timeout is not None else self.timeout + 10)
        except subprocess.TimeoutExpired:
            rc = None
        self.stop()

        def text(p: Path) -> str:
            return p.read_text(errors="replace") if p.exists() else ""

        return SippResult(rc, self.output(), read_sipp_stats(self.stats_path),
                          text(self.msg_path), text(self.err_path), self.argv)


def sip_messages(trace: str, start: str) -> list[str]:
    """The SIP messages in a SIPp -trace_msg log whose start line begins with `start`
    (line ends normalised to \\n)."""
    found = []
    # a separator line may follow other text without a newline ("UDP message lost (recv).")
    separator = r"-{20,} \d{4}-\d\d-\d\d [0-9:.]+"
    for block in re.split(separator, trace.replace("\r\n", "\n")):
        lines = [ln for ln in block.strip("\n").split("\n")
                 if not re.match(r"^(UDP|TCP|TLS) message (sent|received)", ln)]
        while lines and not lines[0].strip():
            lines.pop(0)
        if lines and lines[0].startswith(start):
            found.append("\n".join(lines))
    return found


def header(msg: str, name: str) -> str | None:
    """First value of header `name` (case-insensitive) in a message text."""
    m = re.search(rf"^{re.escape(name)}\s*:\s*(.*)$", msg, re.M | re.I)
    return m.group(1).strip() if m else None


def tool_missing(name: str) -> bool:
    return shutil.which(name) is None
