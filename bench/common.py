"""Helpers for SIPp load runs: free ports, our engine and node apps as processes, SIPp steps
with their counters, and CPU time of a process read from /proc (no psutil here).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "tests" / "scenarios"
NODE_DIR = REPO / "tests" / "interop" / "node"
HOST = "127.0.0.1"
SECRET = "cymru"
CLK_TCK = os.sysconf("SC_CLK_TCK")

_handed_out: set[int] = set()


def free_port(span: int = 1) -> int:
    """A UDP+TCP port (or `span` consecutive ones) free on 127.0.0.1."""

    def free(port: int) -> bool:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    return False
        return True

    for _ in range(500):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            base: int = s.getsockname()[1]
        ports = range(base, base + span)
        if base + span <= 65535 and not _handed_out.intersection(ports) and all(map(free, ports)):
            _handed_out.update(ports)
            return base
    raise RuntimeError("no free port")


def python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


# ---------------------------------------------------------------------------------------
# CPU accounting


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return 0.0
    # the command name is in parentheses and may contain spaces: split after the last ')'
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of every live process in process group `pgid` (engine + any workers)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


# ---------------------------------------------------------------------------------------
# processes


class Proc:
    """A child in its own process group; output goes to a log file, lines are kept."""

    def __init__(self, name: str, argv: list[str], log: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, keep_lines: int = 2000) -> None:
        self.name = name
        self.argv = argv
        self.lines: list[str] = []
        self._keep = keep_lines
        self._log = open(log, "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, text=True, errors="replace")
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            if len(self.lines) < self._keep:
                self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu(self) -> float:
        return group_cpu_seconds(self.proc.pid)

    def wait_line(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in ln for ln in self.lines):
                return True
            if not self.alive():
                return False
            time.sleep(0.05)
        return False

    def stop(self, grace: float = 5.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._t.join(2)
        self._log.close()


def wait_tcp(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((HOST, port)) == 0:
                return True
        time.sleep(0.05)
    return False


def start_engine(workdir: Path, loglevel: str = "error",
                 extra: list[str] | None = None) -> tuple[Proc, int, int]:
    """Our engine through its CLI; returns (process, sip_port, admin_port) once it listens."""
    sip_port, admin_port = free_port(), free_port()
    argv = [python(), "-m", "drachtio.server",
            "--contact", f"sip:{HOST}:{sip_port};transport=udp,tcp",
            "--port", str(admin_port), "--secret", SECRET, "--loglevel", loglevel,
            *(extra or [])]
    eng = Proc("engine", argv, workdir / "engine.log", cwd=REPO,
               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    ok = eng.wait_line("listening", 20) and wait_tcp(admin_port, 5)
    if not ok:
        eng.stop()
        tail = "\n".join(eng.lines[-30:])
        raise RuntimeError(f"engine did not start ({' '.join(argv)}):\n{tail}")
    return eng, sip_port, admin_port


def start_node_app(workdir: Path, script: str, opts: dict[str, object]) -> Proc:
    """A tests/interop/node/apps script; waits for its successful 'connect' line."""
    argv = ["node", str(NODE_DIR / "apps" / script), json.dumps(opts)]
    app = Proc(f"node-{script}", argv, workdir / f"node-{Path(script).stem}.log", cwd=NODE_DIR)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for ln in app.lines:
            if ln.startswith('{"event":"connect"'):
                if '"ok":true' in ln:
                    return app
                app.stop()
                raise RuntimeError(f"{script} could not connect: {ln}")
        if not app.alive():
            break
        time.sleep(0.05)
    app.stop()
    raise RuntimeError(f"{script} did not connect:\n" + "\n".join(app.lines[-20:]))


# ---------------------------------------------------------------------------------------
# SIPp

_SCREEN_ROW = re.compile(r"^\s*(\S+)\s+(-+>|<-+)\s+(?:E-RTD\d+\s+|B-RTD\d+\s+)?(\d+)\s+(\d+)")
_UDP_ERR = re.compile(r"(\d+)/(\d+)/(\d+) UDP errors")


@dataclass
class StepResult:
    """One SIPp run at one target rate."""

    target_cps: int
    calls: int
    rc: int | None
    wall_s: float
    successful: int = 0
    failed: int = 0
    retrans_sent: int = 0          # SIPp's Retransmissions counter (requests it resent)
    retrans_received: int = 0      # duplicates it received (e.g. 200s resent by the SUT)
    unexpected: int = 0
    udp_errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)   # name -> % of one core
    note: str = ""

    @property
    def achieved_cps(self) -> float:
        return self.calls / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def clean(self) -> bool:
        return (self.rc == 0 and self.failed == 0 and self.successful == self.calls
                and self.retrans_sent == 0 and self.retrans_received == 0
                and self.unexpected == 0)


def read_stats(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    with open(path, newline="", errors="replace") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}


def parse_screen(path: Path) -> tuple[int, int, int]:
    """(retransmissions sent+received, unexpected messages, UDP errors) from the last
    scenario screen SIPp dumped with -trace_screen."""
    if not path.exists():
        return 0, 0, 0
    text = path.read_text(errors="replace")
    start = text.rfind("Scenario Screen")
    screen = text[start:] if start >= 0 else text
    retrans = unexpected = 0
    for line in screen.splitlines():
        m = _SCREEN_ROW.match(line)
        if m:
            retrans += int(m.group(4))
            rest = line[m.end():].split()
            # columns after Retrans: Timeout, Unexpected-Msg (recv rows only)
            if m.group(2).startswith("<") and len(rest) >= 2 and rest[1].isdigit():
                unexpected += int(rest[1])
    errs = sum(int(x) for m in _UDP_ERR.finditer(screen) for x in m.groups())
    return retrans, unexpected, errs


def sipp_available() -> bool:
    return shutil.which("sipp") is not None


def run_sipp_step(workdir: Path, target: str, rate: int, calls: int, hold_ms: int,
                  scenario: str = "uac.xml", watch: dict[str, Proc] | None = None,
                  transport: str = "u1", extra: list[str] | None = None) -> StepResult:
    """Run `calls` calls at `rate` cps against `target` and measure the `watch` processes' CPU.

    Only one SIPp UAC runs at a time; its wall time covers call generation plus the last
    call's hold, so the achieved rate is calls / (wall - hold).
    """
    tag = f"{Path(scenario).stem}-{rate}-{free_port()}"
    stats, screen = workdir / f"{tag}.csv", workdir / f"{tag}.screen"
    duration = calls / rate + hold_ms / 1000
    argv = ["sipp", "-sf", str(SCENARIOS / scenario), "-i", HOST, "-p", str(free_port()),
            "-mp", str(free_port(4)), "-cp", str(free_port()), "-t", transport,
            "-r", str(rate), "-m", str(calls), "-l", str(max(100, rate * 4)),
            "-d", str(hold_ms), "-nostdin", "-recv_timeout", "8000",
            "-timeout", f"{int(duration + 30)}s", "-timeout_error",
            "-trace_stat", "-stf", str(stats), "-fd", "1",
            "-trace_screen", "-screen_file", str(screen), *(extra or []), target]
    watch = watch or {}
    cpu0 = {name: p.cpu() for name, p in watch.items()}
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=workdir, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          timeout=duration + 60, check=False)
    wall = time.monotonic() - t0
    cpu = {name: 100.0 * (p.cpu() - cpu0[name]) / wall for name, p in watch.items()}
    st = read_stats(stats)

    def num(key: str) -> int:
        try:
            return int(float(st.get(key, "0") or 0))
        except ValueError:
            return 0

    retrans_rows, unexpected, udp_errors = parse_screen(screen)
    sent = num("Retransmissions(C)")
    res = StepResult(
        target_cps=rate, calls=calls, rc=proc.returncode, wall_s=max(wall - hold_ms / 1000, 1e-3),
        successful=num("SuccessfulCall(C)"), failed=num("FailedCall(C)"),
        retrans_sent=sent, retrans_received=max(retrans_rows - sent, 0),
        unexpected=max(unexpected, num("FailedUnexpectedMessage(C)")), udp_errors=udp_errors,
        cpu=cpu)
    return res


def start_sipp_uas(workdir: Path, scenario: str = "uas.xml", calls: int | None = None,
                   transport: str = "u1") -> tuple[Proc, int]:
    """A long-running SIPp UAS (the 'peer' far end); returns (process, port)."""
    port = free_port()
    argv = ["sipp", "-sf", str(SCENARIOS / scenario), "-i", HOST, "-p", str(port),
            "-mp", str(free_port(4)), "-cp", str(free_port()), "-t", transport, "-nostdin",
            "-trace_screen", "-screen_file", str(workdir / f"uas-{port}.screen")]
    if calls is not None:
        argv += ["-m", str(calls)]
    uas = Proc("sipp-uas", argv, workdir / f"sipp-uas-{port}.out", cwd=workdir, keep_lines=50)
    time.sleep(0.3)
    if not uas.alive():
        raise RuntimeError("sipp uas did not start")
    return uas, port
