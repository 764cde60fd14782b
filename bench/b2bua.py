"""Benchmark: a B2BUA application on our engine, Python (``srf.create_b2bua``) against npm
drachtio-srf (``srf.createB2BUA``), driven by SIPp at rising call rates.

    .venv/bin/python bench/b2bua.py                       # default ramp, a few minutes
    .venv/bin/python bench/b2bua.py --rates 50,100,200 --step-seconds 3

Call flow per call: SIPp caller -> engine -> app -> engine -> SIPp callee, INVITE (SDP) /
180 / 200 / ACK on both legs, 1 s hold, the caller's BYE relayed to the callee (the app
hangs up the other leg). Each system under test has its own engine process and callee; both
apps use the default options (B's SDP passed through, the 180 relayed).

A step places rate*step_seconds calls at the target rate. It is clean when every call
succeeds and neither SIPp (caller or callee) saw a retransmission or an unexpected
message. Steps alternate between the two systems so both see the same machine load; each
ramp stops at its first unclean step (re-run once first). The result is the highest clean
rate of each and their ratio.

The Python app runs on uvloop (``--no-uvloop``: the stock asyncio loop) with Python's default
garbage-collector settings; the engine processes are ``drachtio-server`` with its defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    REPO,
    SCENARIOS,
    SECRET,
    Proc,
    StepResult,
    free_port,
    parse_screen,
    python,
    run_sipp_step,
    sipp_available,
    start_engine,
)

DEFAULT_RATES = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1200]
NODE_APP = Path(__file__).resolve().parent / "node" / "b2bua.js"


# ---------------------------------------------------------------------------------------
# the Python B2BUA application (run as its own process: `b2bua.py --serve ...`)

async def serve(admin_port: int, b_uri: str) -> None:
    import logging

    from drachtio.srf import SipError, Srf
    from drachtio.srf.emitter import spawn

    logging.basicConfig(level=logging.WARNING)
    srf = Srf()

    @srf.invite
    async def on_invite(req, res):  # type: ignore[no-untyped-def]
        try:
            uas, uac = await srf.create_b2bua(req, res, b_uri)
        except SipError:
            return
        uas.on("destroy", lambda *_: spawn(uac.destroy()))
        uac.on("destroy", lambda *_: spawn(uas.destroy()))

    srf.on("error", lambda err: print(json.dumps({"event": "error", "message": str(err)}),
                                      flush=True))
    await srf.connect(HOST, admin_port, SECRET)
    print(json.dumps({"event": "connect", "ok": True}), flush=True)
    await asyncio.Event().wait()


def run_serve(admin_port: int, b_uri: str, use_uvloop: bool = True) -> None:
    # uvloop when installed (a dependency on Linux), as `drachtio run` does; Python's
    # default garbage-collector settings (a call leaves no reference cycles behind)
    factory = None
    if use_uvloop:
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            pass
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(admin_port, b_uri))
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------------------------------
# driving

def wait_connect(app: Proc, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ln in app.lines:
            if ln.startswith('{"event": "connect"') or ln.startswith('{"event":"connect"'):
                if '"ok": true' in ln or '"ok":true' in ln:
                    return
                raise RuntimeError(f"{app.name} could not connect: {ln}")
        if not app.alive():
            break
        time.sleep(0.05)
    app.stop()
    raise RuntimeError(f"{app.name} did not connect:\n" + "\n".join(app.lines[-20:]))


class System:
    """An engine, a B2BUA app on it, and the port its SIPp callee listens on."""

    def __init__(self, label: str, workdir: Path, engine_loglevel: str,
                 app_args: list[str] | None = None) -> None:
        self.label = label
        self.app_args = app_args or []
        self.workdir = workdir
        self.callee_port = free_port()
        self.b_uri = f"sip:callee@{HOST}:{self.callee_port}"
        self.engine, self.sip_port, self.admin_port = start_engine(
            workdir, loglevel=engine_loglevel)
        self.app = self._start_app()
        wait_connect(self.app)
        self.results: list[StepResult] = []
        self.done = False

    def _start_app(self) -> Proc:
        if self.label == "python":
            argv = [python(), str(Path(__file__).resolve()), "--serve",
                    "--admin-port", str(self.admin_port), "--b-uri", self.b_uri,
                    *self.app_args]
            return Proc("py-app", argv, self.workdir / "py-app.log", cwd=REPO,
                        env=dict(os.environ, PYTHONUNBUFFERED="1"))
        opts = {"host": HOST, "port": self.admin_port, "secret": SECRET, "uri": self.b_uri}
        return Proc("node-app", ["node", str(NODE_APP), json.dumps(opts)],
                    self.workdir / "node-app.log", cwd=NODE_APP.parent)

    @property
    def watch(self) -> dict[str, Proc]:
        return {"engine": self.engine, "app": self.app}

    def start_callee(self, calls: int, tag: str) -> tuple[Proc, Path]:
        screen = self.workdir / f"callee-{self.label}-{tag}.screen"
        argv = ["sipp", "-sf", str(SCENARIOS / "uas.xml"), "-i", HOST,
                "-p", str(self.callee_port), "-mp", str(free_port(4)), "-cp", str(free_port()),
                "-m", str(calls), "-nostdin", "-trace_screen", "-screen_file", str(screen)]
        proc = Proc(f"callee-{self.label}", argv, self.workdir / f"callee-{self.label}-{tag}.out",
                    cwd=self.workdir, keep_lines=50)
        time.sleep(0.3)
        if not proc.alive():
            raise RuntimeError(f"sipp callee for {self.label} did not start")
        return proc, screen

    def step(self, rate: int, step_s: float, hold_ms: int, retries: int) -> None:
        calls = max(1, int(rate * step_s))
        res: StepResult | None = None
        for attempt in range(retries + 1):
            dead = [n for n, p in self.watch.items() if not p.alive()]
            if dead:
                print(f"  [{self.label}] {', '.join(dead)} died; stopping its ramp")
                self.done = True
                return
            callee, screen = self.start_callee(calls, f"{rate}-{attempt}")
            res = run_sipp_step(self.workdir, f"{HOST}:{self.sip_port}", rate, calls, hold_ms,
                                watch=self.watch)
            try:
                callee.proc.wait(10)
            except subprocess.TimeoutExpired:
                res.note = "callee did not finish"
            callee.stop()
            b_retrans, b_unexpected, _ = parse_screen(screen)
            clean = res.clean and b_retrans == 0 and b_unexpected == 0 and not res.note
            cpu = "  ".join(f"{n} {v:5.1f}%" for n, v in res.cpu.items())
            print(f"  [{self.label:6s}] target {rate:4d} cps  achieved {res.achieved_cps:6.1f}  "
                  f"ok {res.successful:5d}/{calls:<5d} failed {res.failed:3d}  "
                  f"retrans A {res.retrans_sent}+{res.retrans_received} B {b_retrans}  "
                  f"unexpected {res.unexpected}+{b_unexpected}  "
                  f"{'CLEAN' if clean else 'DIRTY'}  cpu: {cpu} {res.note}", flush=True)
            if clean:
                self.results.append(res)
                return
            if attempt < retries:
                print(f"  [{self.label}] retrying {rate} cps once", flush=True)
                time.sleep(2.0)
        self.done = True

    def best(self) -> StepResult | None:
        return max(self.results, key=lambda r: r.target_cps) if self.results else None

    def stop(self) -> None:
        for p in (self.app, self.engine):
            p.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)),
                    help="comma-separated call rates, ascending (default %(default)s)")
    ap.add_argument("--step-seconds", type=float, default=4.0,
                    help="calls per step = rate * this (default %(default)s)")
    ap.add_argument("--hold-ms", type=int, default=1000, help="call hold time (default 1000)")
    ap.add_argument("--retries", type=int, default=1,
                    help="re-runs of a dirty step before a ramp stops (default 1)")
    ap.add_argument("--only", choices=["python", "node"], help="measure one system only")
    ap.add_argument("--engine-loglevel", default="error")
    ap.add_argument("--no-uvloop", action="store_true",
                    help="run the Python app on the stock asyncio loop (default: uvloop)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    # internal: the Python application process
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--admin-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--b-uri", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.serve:
        run_serve(args.admin_port, args.b_uri, use_uvloop=not args.no_uvloop)
        return 0
    if not sipp_available():
        print("sipp is not installed", file=sys.stderr)
        return 2
    rates = sorted(int(x) for x in args.rates.split(",") if x.strip())
    workdir = Path(tempfile.mkdtemp(prefix="bench-b2bua-"))
    labels = [args.only] if args.only else ["python", "node"]
    print(f"b2bua benchmark: rates {rates}, {args.step_seconds:g} s per step, "
          f"hold {args.hold_ms} ms, udp; logs in {workdir}")
    print("python = our engine + drachtio.srf create_b2bua; node = our engine + npm "
          "drachtio-srf createB2BUA; steps alternate")
    systems: list[System] = []
    try:
        for label in labels:
            systems.append(System(label, workdir, args.engine_loglevel,
                                  ["--no-uvloop"] if args.no_uvloop else []))
        for rate in rates:
            for s in systems:
                if not s.done:
                    s.step(rate, args.step_seconds, args.hold_ms, args.retries)
                    time.sleep(1.0)
            if all(s.done for s in systems):
                break
    finally:
        for s in systems:
            s.stop()

    print()
    best: dict[str, StepResult | None] = {s.label: s.best() for s in systems}
    for s in systems:
        b = best[s.label]
        if b is None:
            print(f"{s.label}: no clean step (see the logs in {workdir})")
            continue
        top = " (top of the ramp)" if b.target_cps == rates[-1] else ""
        print(f"{s.label}: {b.target_cps} cps clean{top} (achieved {b.achieved_cps:.0f}); "
              f"engine CPU {b.cpu.get('engine', 0):.1f}% of a core, "
              f"app {b.cpu.get('app', 0):.1f}%")
    py, node = best.get("python"), best.get("node")
    if py is not None and node is not None:
        print(f"ratio python/node (highest clean rate): {py.target_cps / node.target_cps:.2f}")
        py_cpu, node_cpu = py.cpu.get("app", 0.0), node.cpu.get("app", 0.0)
        if py_cpu > 0 and node_cpu > 0:
            eff = (py.target_cps / py_cpu) / (node.target_cps / node_cpu)
            print(f"ratio python/node (calls per CPU-second of the app): {eff:.2f}")
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(best.get(label) is not None for label in labels) else 1


if __name__ == "__main__":
    raise SystemExit(main())
