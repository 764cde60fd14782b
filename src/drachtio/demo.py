"""``make demo`` / ``python -m drachtio.demo``: real calls through the quick-start app.

The quick-start application (``examples/quickstart/app.py``: a B2BUA in front of a small
UAS) runs on two SIP engines embedded in this process. SIPp places real calls to it over UDP
on 127.0.0.1 (the package's own test phone stands in when SIPp is missing). Every SIP message
the engines send or receive is traced; each of the first calls is drawn as a ladder, then a
short burst of calls runs and a summary closes the run. Everything is bounded in time: the
demo stops by itself in well under 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["main"]

DEADLINE = 28.0  # seconds, for the whole demo


def _find_app() -> Path | None:
    here = Path(__file__).resolve()
    candidates = [Path.cwd() / "examples" / "quickstart" / "app.py"]
    candidates += [p / "examples" / "quickstart" / "app.py" for p in here.parents]
    for c in candidates:
        if c.is_file():
            return c
    return None


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("quickstart_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["quickstart_app"] = mod
    spec.loader.exec_module(mod)
    return mod


class _Out:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.color else text

    def green(self, text: str) -> str:
        return f"\x1b[32m{text}\x1b[0m" if self.color else text

    def red(self, text: str) -> str:
        return f"\x1b[31m{text}\x1b[0m" if self.color else text


@dataclass
class _Tally:
    placed: int = 0
    answered: int = 0
    failed: int = 0
    setup_times: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


OFFER = ("v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=demo\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 6000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")


async def _one_call_with_phone(phone: Any, target: str, hold: float) -> tuple[bool, str]:
    call = await phone.invite(target, sdp=OFFER, timeout=5)
    if call.status != 200:
        return False, f"{call.status}"
    await asyncio.sleep(hold)
    res = await call.hangup(timeout=5)
    return res.status == 200, "ok"


async def _run(args: argparse.Namespace, out: _Out) -> int:
    from drachtio import embedded
    from drachtio.testing import SipTrace, render_ladder
    from drachtio.testing.sipp import free_port, run_sipp, scenario_path, sipp_available

    t_start = time.monotonic()
    app_path = _find_app()
    if app_path is None:
        out("demo: examples/quickstart/app.py not found (run from the repository root)")
        return 2
    app = _load(app_path)
    use_sipp = sipp_available() and not args.no_sipp
    try:
        scenario = scenario_path("uac.xml") if use_sipp else None
    except FileNotFoundError:
        use_sipp, scenario = False, None

    trace = SipTrace()
    uas_port, b2bua_port = free_port(), free_port()
    # embedded mode: each Srf starts its own engine in this process
    await app.uas.start(contacts=[f"sip:127.0.0.1:{uas_port};transport=udp"])
    app.srf.locals["target"] = f"sip:uas@127.0.0.1:{uas_port}"
    await app.srf.start(contacts=[f"sip:127.0.0.1:{b2bua_port};transport=udp,tcp"])
    tally = _Tally()
    try:
        for srf in (app.srf, app.uas):
            eng = embedded.engine_of(srf)
            assert eng is not None
            trace.attach(eng)
        caller_port = free_port()
        names = {("127.0.0.1", caller_port): "caller (SIPp)" if use_sipp else "caller",
                 ("127.0.0.1", b2bua_port): "b2bua", ("127.0.0.1", uas_port): "uas"}
        order = list(names)

        out(out.bold("drachtio demo") + ": the quick-start app on SIP engines embedded in "
            "this process, real calls over UDP on 127.0.0.1")
        try:
            shown_app = app_path.relative_to(Path.cwd())
        except ValueError:
            shown_app = app_path
        out(f"  app     {shown_app}: B2BUA `srf` in front of UAS `uas`")
        out(f"  b2bua   sip:127.0.0.1:{b2bua_port} (udp, tcp) -> {app.srf.locals['target']}")
        out(f"  uas     sip:127.0.0.1:{uas_port} (udp)")
        if use_sipp:
            out(f"  caller  sipp -sf tests/scenarios/uac.xml -p {caller_port} "
                f"127.0.0.1:{b2bua_port}")
        else:
            why = "--no-sipp" if args.no_sipp else "SIPp not found"
            out(f"  caller  drachtio.testing.UserAgent over UDP ({why})")
        out()

        target = f"127.0.0.1:{b2bua_port}"
        phone = None
        if not use_sipp:
            from drachtio.testing import UserAgent

            phone = await UserAgent.udp("caller", port=caller_port,
                                        proxy=("127.0.0.1", b2bua_port))
        hold_ms = 300
        for i in range(args.calls):
            mark = len(trace.entries)
            tally.placed += 1
            t0 = time.monotonic()
            if use_sipp:
                res = await run_sipp(scenario or "uac.xml", target, calls=1, hold_ms=hold_ms,
                                     port=caller_port, service="demo", timeout=8)
                ok = res.ok and res.successful == 1
                why = "" if ok else f"sipp rc={res.rc}"
            else:
                assert phone is not None
                ok, why = await _one_call_with_phone(phone, f"sip:demo@{target}",
                                                     hold_ms / 1000)
            await asyncio.sleep(0.05)  # the last 200 OK to the BYE on the B side
            entries = _since(trace, mark)
            answered = _answered(entries, caller_port)
            setup = _setup_time(entries, caller_port)
            if ok and answered:
                tally.answered += 1
                if setup is not None:
                    tally.setup_times.append(setup)
            else:
                tally.failed += 1
                tally.notes.append(f"call {i + 1}: {why or 'not answered'}")
            if ok and answered:
                status = out.green("answered") + (
                    f" in {setup * 1000:.0f} ms" if setup is not None else "")
            else:
                status = out.red("FAILED")
            out(out.bold(f"Call {i + 1} of {args.calls}") +
                f": {status}, {len(entries)} SIP messages, {time.monotonic() - t0:.2f} s")
            out(render_ladder(entries, names, order=order, color=out.color))
            out()

        if args.burst > 0 and time.monotonic() - t_start < DEADLINE - 12:
            out(out.bold(f"Burst: {args.burst} calls at {args.rate} calls/s") +
                " (no ladders)")
            trace.enabled = False
            t0 = time.monotonic()
            if use_sipp:
                res = await run_sipp(scenario or "uac.xml", target, calls=args.burst,
                                     rate=args.rate, hold_ms=200, port=caller_port,
                                     service="burst", timeout=min(15, args.burst / args.rate + 8))
                ok_n, bad_n = res.successful, res.failed
                if res.timed_out:
                    tally.notes.append("burst: SIPp timed out")
                    bad_n = max(bad_n, args.burst - ok_n)
            else:
                assert phone is not None

                async def one() -> bool:
                    try:
                        ok, _ = await _one_call_with_phone(phone, f"sip:burst@{target}", 0.2)
                        return ok
                    except Exception:
                        return False

                tasks = []
                for _ in range(args.burst):  # paced at the call rate, as SIPp does
                    tasks.append(asyncio.ensure_future(one()))
                    await asyncio.sleep(1 / args.rate)
                results = await asyncio.gather(*tasks)
                ok_n = sum(results)
                bad_n = len(results) - ok_n
            took = time.monotonic() - t0
            tally.placed += args.burst
            tally.answered += ok_n
            tally.failed += bad_n
            out(f"  {ok_n} answered, {bad_n} failed in {took:.1f} s (each call held 0.2 s)")
            out()
        if phone is not None:
            phone.close()
    finally:
        await app.srf.disconnect()
        await app.uas.disconnect()

    took = time.monotonic() - t_start
    out(out.bold("Summary"))
    out(f"  calls placed    {tally.placed}")
    out(f"  answered        {tally.answered}")
    failed = f"{tally.failed}"
    out(f"  failed          {out.red(failed) if tally.failed else out.green(failed)}")
    if tally.setup_times:
        avg = sum(tally.setup_times) / len(tally.setup_times)
        out(f"  answer time     {avg * 1000:.0f} ms on average (INVITE -> 200 OK at the caller, "
            f"incl. {float(os.environ.get('QUICKSTART_RING', '0.1')) * 1000:.0f} ms ringing)")
    out(f"  duration        {took:.1f} s")
    for n in tally.notes:
        out(f"  note: {n}")
    return 0 if tally.failed == 0 and tally.answered > 0 else 1


def _since(trace: Any, mark: int) -> list[Any]:
    """De-duplicated entries recorded after index ``mark``."""
    from drachtio.testing import SipTrace

    t = SipTrace()
    t.entries = trace.entries[mark:]
    return t.unique()


def _answered(entries: list[Any], caller_port: int) -> bool:
    return any(e.status == 200 and e.method == "INVITE" and e.dst[1] == caller_port
               for e in entries)


def _setup_time(entries: list[Any], caller_port: int) -> float | None:
    start = next((e.time for e in entries if e.method == "INVITE" and e.status is None
                  and e.src[1] == caller_port), None)
    end = next((e.time for e in entries if e.status == 200 and e.method == "INVITE"
                and e.dst[1] == caller_port), None)
    return end - start if start is not None and end is not None else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m drachtio.demo",
        description="Real calls through the quick-start app (B2BUA + UAS) on embedded engines, "
                    "drawn as SIP ladders.")
    ap.add_argument("--calls", type=int, default=3, help="calls drawn as ladders (default 3)")
    ap.add_argument("--burst", type=int, default=100,
                    help="calls in the final burst, 0 for none (default 100)")
    ap.add_argument("--rate", type=int, default=50, help="burst call rate (default 50/s)")
    ap.add_argument("--no-sipp", action="store_true", help="use the built-in test phone")
    ap.add_argument("--no-color", action="store_true")
    args = ap.parse_args(argv)
    if args.calls < 0 or args.burst < 0 or args.rate <= 0:
        ap.error("--calls/--burst must be >= 0 and --rate > 0")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = _Out(color=sys.stdout.isatty() and not args.no_color
               and os.environ.get("NO_COLOR") is None)
    try:
        return asyncio.run(asyncio.wait_for(_run(args, out), DEADLINE))
    except TimeoutError:
        out(f"demo: stopped after {DEADLINE:.0f} s (something did not finish in time)")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
