"""Benchmark: our engine + an npm drachtio-srf UAS app, driven by SIPp at rising call rates.

    .venv/bin/python bench/engine_uas.py              # default ramp, ~2-3 minutes
    .venv/bin/python bench/engine_uas.py --rates 500,1000 --step-seconds 3 --skip-peer

Each step places rate*step_seconds calls (INVITE with SDP, 200, ACK, 1 s hold, BYE) at the
target rate. A step is clean when every call succeeds, SIPp retransmitted nothing and
received no retransmission, and no message was unexpected. The ramp stops at the first
unclean step; the result is the highest clean rate.

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


def ramp(label: str, workdir: Path, target: str, rates: list[int], step_s: float,
         hold_ms: int, watch: dict[str, Proc], transport: str,
         settle_s: float) -> list[StepResult]:
    results: list[StepResult] = []
    for rate in rates:
        calls = max(1, int(rate * step_s))
        for name, proc in watch.items():
            if not proc.alive():
                print(f"  [{label}] {name} died; stopping the ramp")
                return results
        res = run_sipp_step(workdir, target, rate, calls, hold_ms, watch=watch,
                            transport=transport)
        results.append(res)
        cpu = "  ".join(f"{n} {v:5.1f}%" for n, v in res.cpu.items())
        print(f"  [{label}] target {rate:5d} cps  achieved {res.achieved_cps:7.1f}  "
              f"ok {res.successful:6d}/{calls:<6d} failed {res.failed:4d}  "
              f"retrans {res.retrans_sent}+{res.retrans_received}  "
              f"unexpected {res.unexpected}  rc {res.rc}  {'CLEAN' if res.clean else 'DIRTY'}"
              f"  cpu: {cpu}", flush=True)
        if not res.clean:
            break
        time.sleep(settle_s)   # let the far end drain timewaits before the next step
    return results


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
    ours: list[StepResult] = []
    peer: list[StepResult] = []
    try:
        # 1. our engine + node drachtio-srf UAS app
        if not args.only_peer:
            engine, sip_port, admin_port = start_engine(workdir, loglevel=args.engine_loglevel)
            app = start_node_app(workdir, "uas.js", {"host": HOST, "port": admin_port,
                                                     "secret": SECRET, "quiet": True,
                                                     "maxLifetime": 3_600_000})
            print("ours: python engine + node drachtio-srf createUAS")
            ours = ramp("ours", workdir, f"{HOST}:{sip_port}", rates, args.step_seconds,
                        args.hold_ms, {"engine": engine, "node-app": app}, transport,
                        args.settle)
            app.stop()
            engine.stop()
            app = engine = None

        # 2. peer measured in the same run: SIPp UAC straight to a SIPp UAS
        if not args.skip_peer or args.only_peer:
            uas, uas_port = start_sipp_uas(workdir, transport=transport)
            print("peer: sipp uac -> sipp uas (no engine)")
            peer = ramp("peer", workdir, f"{HOST}:{uas_port}", peer_rates, args.step_seconds,
                        args.hold_ms, {"sipp-uas": uas}, transport, args.settle)
    finally:
        for p in (app, engine, uas):
            if p is not None:
                p.stop()

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
