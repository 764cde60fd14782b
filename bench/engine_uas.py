"""Benchmark: our engine + an npm drachtio-srf UAS app, driven by SIPp at rising call rates.

    .venv/bin/python bench/engine_uas.py              # default ramp, ~2-3 minutes
    .venv/bin/python bench/engine_uas.py --rates 500,1000 --step-seconds 3 --skip-peer

Each step places rate*step_seconds calls (INVITE with SDP, 200, ACK, 1 s hold, BYE) at the
target rate. A step is clean when every call succeeds, SIPp retransmitted nothing and
received no retransmission, and no message was unexpected. A dirty step is run once more
(the machine is shared); the ramp stops at the second dirty result; the result is the
highest clean rate. The steps of ours and of the peer alternate, rate by rate, so both see
the same background load.

Peers for the ratio:
* measured in the same run: SIPp UAC -> SIPp UAS directly (no engine, no app), the same
  ramp: the ceiling of this machine for this call flow and the SIPp tools themselves;
* documented: C++ drachtio-server + drachtio-srf, 2,000 cps clean at ~72% of one core on
  this machine class (the reference figure we were given; that server cannot be built here).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    SECRET,
    Proc,
    StepResult,
    run_sipp_step,
    sipp_available,
    start_engine,
    start_node_app,
    start_sipp_uas,
)

REFERENCE_CPS = 2000          # C++ drachtio-server, clean, on this machine class
REFERENCE_CPU_PCT = 72.0      # % of one core at that rate
DEFAULT_RATES = [250, 500, 1000, 1500, 2000, 2500, 3000]
# the peer (no engine) goes on past our ramp so its ceiling is measured, not just "above 3000"
DEFAULT_PEER_EXTRA = [4000, 5000, 6000]


class Ramp:
    """One system under test climbing the rates; stops at its first unclean step.

    A dirty step is run once more before it counts (`retries`): the machine is shared, and a
    burst of load from elsewhere should not end the ramp.
    """

    def __init__(self, label: str, target: str, rates: list[int],
                 watch: dict[str, Proc]) -> None:
        self.label = label
        self.target = target
        self.rates = rates
        self.watch = watch
        self.results: list[StepResult] = []
        self.done = False

    def wants(self, rate: int) -> bool:
        return not self.done and rate in self.rates

    def step(self, workdir: Path, rate: int, step_s: float, hold_ms: int, transport: str,
             retries: int) -> None:
        calls = max(1, int(rate * step_s))
        for attempt in range(retries + 1):
            dead = [name for name, proc in self.watch.items() if not proc.alive()]
            if dead:
                print(f"  [{self.label}] {', '.join(dead)} died; stopping its ramp")
                self.done = True
                return
            res = run_sipp_step(workdir, self.target, rate, calls, hold_ms, watch=self.watch,
                                transport=transport)
            cpu = "  ".join(f"{n} {v:5.1f}%" for n, v in res.cpu.items())
            print(f"  [{self.label}] target {rate:5d} cps  achieved {res.achieved_cps:7.1f}  "
                  f"ok {res.successful:6d}/{calls:<6d} failed {res.failed:4d}  "
                  f"retrans {res.retrans_sent}+{res.retrans_received}  "
                  f"unexpected {res.unexpected}  rc {res.rc}  "
                  f"{'CLEAN' if res.clean else 'DIRTY'}  cpu: {cpu}", flush=True)
            if res.clean:
                self.results.append(res)
                return
            if attempt < retries:
                print(f"  [{self.label}] retrying {rate} cps once", flush=True)
                time.sleep(2.0)
        self.results.append(res)
        self.done = True


def best(results: list[StepResult]) -> StepResult | None:
    clean = [r for r in results if r.clean]
    return max(clean, key=lambda r: r.target_cps) if clean else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)),
                    help="comma-separated call rates to try, ascending (default %(default)s)")
    ap.add_argument("--peer-extra-rates", default=",".join(map(str, DEFAULT_PEER_EXTRA)),
                    help="rates the peer also tries after --rates (default %(default)s)")
    ap.add_argument("--step-seconds", type=float, default=5.0,
                    help="calls per step = rate * this (default %(default)s)")
    ap.add_argument("--hold-ms", type=int, default=1000, help="call hold time (default 1000)")
    ap.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    ap.add_argument("--skip-peer", action="store_true",
                    help="do not measure the SIPp-to-SIPp peer")
    ap.add_argument("--only-peer", action="store_true", help="measure only the peer")
    ap.add_argument("--engine-loglevel", default="error")
    ap.add_argument("--retries", type=int, default=1,
                    help="re-runs of a dirty step before the ramp stops (default 1)")
    ap.add_argument("--settle", type=float, default=1.0, help="pause between steps (s)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = ap.parse_args(argv)

    if not sipp_available():
        print("sipp is not installed", file=sys.stderr)
        return 2
    rates = sorted(int(x) for x in args.rates.split(",") if x.strip())
    peer_rates = sorted(set(rates) | {int(x) for x in args.peer_extra_rates.split(",")
                                      if x.strip()})
    transport = "t1" if args.transport == "tcp" else "u1"
    workdir = Path(tempfile.mkdtemp(prefix="bench-engine-uas-"))
    print(f"engine_uas benchmark: rates {rates}, {args.step_seconds:g} s per step, "
          f"hold {args.hold_ms} ms, {args.transport}; logs in {workdir}")

    engine = app = uas = None
    ramps: list[Ramp] = []
    try:
        # ours: our engine + node drachtio-srf UAS app
        if not args.only_peer:
            engine, sip_port, admin_port = start_engine(workdir, loglevel=args.engine_loglevel)
            app = start_node_app(workdir, "uas.js", {"host": HOST, "port": admin_port,
                                                     "secret": SECRET, "quiet": True,
                                                     "maxLifetime": 3_600_000})
            ramps.append(Ramp("ours", f"{HOST}:{sip_port}", rates,
                              {"engine": engine, "node-app": app}))
        # peer measured in the same run: SIPp UAC straight to a SIPp UAS
        if not args.skip_peer or args.only_peer:
            uas, uas_port = start_sipp_uas(workdir, transport=transport)
            ramps.append(Ramp("peer", f"{HOST}:{uas_port}", peer_rates, {"sipp-uas": uas}))
        print("ours = python engine + node drachtio-srf createUAS; "
              "peer = sipp uac -> sipp uas (no engine); steps alternate so both see the "
              "same machine load")
        for rate in sorted(set(rates) | set(peer_rates)):
            for r in ramps:
                if r.wants(rate):
                    r.step(workdir, rate, args.step_seconds, args.hold_ms, transport,
                           args.retries)
                    time.sleep(args.settle)   # let the far end drain before the next step
    finally:
        for p in (app, engine, uas):
            if p is not None:
                p.stop()
    ours = next((r.results for r in ramps if r.label == "ours"), [])
    peer = next((r.results for r in ramps if r.label == "peer"), [])

    print()
    b_ours, b_peer = best(ours), best(peer)
    if args.only_peer:
        pass
    elif b_ours is None:
        print("ours: no clean step (see the logs)")
    else:
        eng_cpu = b_ours.cpu.get("engine", 0.0)
        app_cpu = b_ours.cpu.get("node-app", 0.0)
        print(f"ours: {b_ours.target_cps} cps clean (achieved {b_ours.achieved_cps:.0f}); "
              f"engine CPU {eng_cpu:.1f}% of a core, node app {app_cpu:.1f}%")
        print(f"reference (documented, C++ drachtio-server): {REFERENCE_CPS} cps clean at "
              f"~{REFERENCE_CPU_PCT:.0f}% of a core")
        print(f"ratio ours/reference: {b_ours.target_cps / REFERENCE_CPS:.2f} (rate)", end="")
        if eng_cpu > 0:
            eff = (b_ours.target_cps / eng_cpu) / (REFERENCE_CPS / REFERENCE_CPU_PCT)
            print(f", {eff:.2f} (calls per CPU-second of the engine)")
        else:
            print()
    if not args.skip_peer or args.only_peer:
        if b_peer is None:
            print("peer (sipp->sipp, same run): no clean step")
        else:
            top = " (top of the ramp: the real ceiling is higher)" \
                if b_peer.target_cps == peer_rates[-1] else ""
            print(f"peer (sipp->sipp, same run): {b_peer.target_cps} cps clean{top}")
            if b_ours is not None:
                bound = " (at most)" if top else ""
                print(f"ratio ours/peer: {b_ours.target_cps / b_peer.target_cps:.2f}{bound}")
    if not args.keep:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if (b_ours is not None or args.only_peer) else 1


if __name__ == "__main__":
    raise SystemExit(main())
