"""The ``drachtio`` command: run an application with its SIP engine in-process, or the engine
alone as a drachtio-server.

    drachtio run app.py                         # the `srf` in app.py, SIP on 127.0.0.1:5060
    drachtio run app.py --contact sip:*:5080    # listen elsewhere (repeatable)
    drachtio run mypkg.app:srf                  # a module and the Srf object's name
    drachtio server --contact sip:*:5060 --port 9022 --secret cymru
    drachtio demo                               # the quick-start demo
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from drachtio.srf import Srf

__all__ = ["GC_THRESHOLDS", "find_srf", "load_app", "main", "tune_gc"]

DEFAULT_RUN_CONTACT = "sip:127.0.0.1:5060;transport=udp,tcp"

_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO,
           "notice": logging.INFO, "debug": logging.DEBUG}


#: Garbage-collector thresholds for a SIP server process (``gc.set_threshold``). A busy engine
#: keeps ~32 s of transaction state (RFC 3261 timers D/J/K) in memory; with the defaults
#: (700, 10, 10) the cyclic collector rescans that growing heap ever more often, in pauses of
#: 100-600 ms at a few hundred calls/s, long enough for peers to retransmit. These thresholds
#: keep pauses around tens of ms (measured with bench/b2bua_embedded.py).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Server-style GC: freeze what exists after start-up, collect young objects less often."""
    import gc

    gc.collect()
    gc.freeze()  # modules, the app, config: never scanned again
    gc.set_threshold(*GC_THRESHOLDS)


class CliError(Exception):
    """A usage problem reported as ``drachtio: <message>`` with exit status 2."""


def _parser() -> argparse.ArgumentParser:
    from drachtio import __version__

    p = argparse.ArgumentParser(
        prog="drachtio",
        description="drachtio for Python: run a SIP application with its engine in this "
                    "process, or run the engine alone as a drachtio-server.",
        epilog="Run 'drachtio <command> --help' for the options of a command.",
    )
    p.add_argument("-V", "--version", action="version", version=f"drachtio-py {__version__}")
    sub = p.add_subparsers(dest="command", metavar="<command>")

    run = sub.add_parser(
        "run",
        help="run an application (embedded mode: the engine runs in the app's process)",
        description="Import APP, find its Srf object and start it with a SIP engine in this "
                    "process (embedded mode). Runs until SIGINT or SIGTERM.",
        epilog="APP is a file (app.py) or a module (mypkg.app); add :NAME to pick the Srf "
               "object (default: the global named 'srf', else the only Srf in the module).",
    )
    run.add_argument("app", metavar="APP", help="app.py, mypkg.app or mypkg.app:srf")
    run.add_argument("-c", "--contact", action="append", metavar="URI",
                     help="SIP address to listen on (repeatable; default "
                          f"{DEFAULT_RUN_CONTACT})")
    run.add_argument("--admin-port", type=int, metavar="PORT",
                     help="also open the control port, so remote apps can use this engine")
    run.add_argument("--secret", default="cymru",
                     help="secret for --admin-port connections (default %(default)s)")
    run.add_argument("--t1", type=int, metavar="MS", help="SIP timer T1 in ms (default 500)")
    run.add_argument("--dns-server", action="append", dest="dns_servers", metavar="IP[:PORT]",
                     help="name server for RFC 3263 NAPTR/SRV/A lookups (repeatable; "
                          "default: the system's)")
    run.add_argument("-l", "--loglevel", default="info", choices=sorted(_LEVELS),
                     metavar="LEVEL", help="error, warning, info or debug (default %(default)s)")
    run.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    run.add_argument("--no-gc-tuning", action="store_true",
                     help="keep Python's default garbage-collector thresholds (by default the "
                          "collector is tuned for a server: fewer, shorter pauses)")

    sub.add_parser(
        "server", add_help=False,
        help="run the SIP engine alone, as drachtio-server (same options; see "
             "'drachtio server --help')",
    )
    sub.add_parser("demo", add_help=False,
                   help="the quick-start demo: real calls through an example app, as ladders")
    return p


# -------------------------------------------------------------------------------------------
# finding the app


def load_app(spec: str) -> tuple[ModuleType, str | None]:
    """Import ``app.py`` / ``pkg.mod`` (optionally ``:name``); returns (module, name)."""
    target, _, name = spec.partition(":")
    if spec.count(":") == 1 and len(target) == 1 and target.isalpha():  # C:\\path on Windows
        target, name = spec, ""
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise CliError(f"no such file: {target}")
        path = path.resolve()
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))  # so the app can import its neighbours
        mod_name = path.stem if path.stem not in sys.modules else f"_drachtio_app_{path.stem}"
        mspec = importlib.util.spec_from_file_location(mod_name, path)
        if mspec is None or mspec.loader is None:
            raise CliError(f"cannot import {target}")
        module = importlib.util.module_from_spec(mspec)
        sys.modules[mod_name] = module
        mspec.loader.exec_module(module)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise CliError(f"cannot import {target!r}: {exc}") from None
    return module, name or None


def find_srf(module: ModuleType, name: str | None = None) -> Srf:
    """The module's ``Srf``: ``name``, else the global ``srf``, else the only one."""
    from drachtio.srf import Srf

    if name:
        obj = getattr(module, name, None)
        if not isinstance(obj, Srf):
            raise CliError(f"{module.__name__}.{name} is not an Srf "
                           f"(got {type(obj).__name__})")
        return obj
    obj = getattr(module, "srf", None)
    if isinstance(obj, Srf):
        return obj
    found = {k: v for k, v in vars(module).items() if isinstance(v, Srf)}
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise CliError(f"{module.__name__} has no Srf object (define srf = Srf() at module level)")
    raise CliError(f"{module.__name__} has several Srf objects ({', '.join(sorted(found))}); "
                   f"pick one with {module.__name__}:NAME")


# -------------------------------------------------------------------------------------------
# run


async def _run_app(srf: Srf, contacts: list[str], opts: dict[str, Any]) -> None:
    from drachtio import embedded

    info = await embedded.start(srf, contacts=contacts, **opts)
    eng = embedded.engine_of(srf)
    admin = f"; control port {eng.admin_port}" if eng is not None and eng.admin_port else ""
    print(f"drachtio: app running, SIP on {info.hostports.replace(',', ' ')}{admin}; "
          "Ctrl-C to stop", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        await stop.wait()
    finally:
        try:
            await asyncio.wait_for(srf.disconnect(), 5)
        except TimeoutError:
            pass
        print("drachtio: stopped", flush=True)


def _cmd_run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=_LEVELS[args.loglevel],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    module, name = load_app(args.app)
    srf = find_srf(module, name)
    opts: dict[str, Any] = {"loglevel": args.loglevel}
    if args.admin_port is not None:
        opts["admin_port"] = args.admin_port
        opts["secret"] = args.secret
    if args.dns_servers:
        opts["dns_servers"] = list(args.dns_servers)
    if args.t1 is not None:
        if args.t1 <= 0:
            raise CliError("--t1 must be a positive number of milliseconds")
        opts["t1"] = args.t1 / 1000.0
    contacts = args.contact or [DEFAULT_RUN_CONTACT]
    if not args.no_gc_tuning:
        tune_gc()
    factory = None
    if not args.no_uvloop:
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            factory = None
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_run_app(srf, contacts, opts))
    except OSError as exc:
        print(f"drachtio: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "server":
        from drachtio.server import main as server_main

        return server_main(args_list[1:])
    if args_list and args_list[0] == "demo":
        from drachtio.demo import main as demo_main

        return demo_main(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _cmd_run(args)
    except CliError as exc:
        print(f"drachtio: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
