"""``python -m drachtio.server`` / ``drachtio-server``: run the engine as a standalone server.

Options follow the C++ drachtio server (wire-protocol.md section 7): command line over
environment (``DRACHTIO_*``) over the XML file (``-f``) over defaults. The server prints
where it listens and stops cleanly (exit 0) on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from drachtio.engine.config import (
    ContactSpec,
    EngineConfig,
    RequestHandler,
    apply_env,
    load_xml_config,
    parse_contact,
)
from drachtio.engine.gctune import tune_gc

__all__ = ["build_config", "main", "parse_args"]

log = logging.getLogger("drachtio.server")

_LEVELS = {
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "notice": logging.INFO,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


class _ContactAction(argparse.Action):
    """``-c URI`` may be followed by ``--external-ip``/``--local-net``/``--dns-name`` that
    apply to it, as with the reference server."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        items = getattr(namespace, "contact_items", None) or []
        items.append({"uri": values})
        namespace.contact_items = items


class _ContactAttr(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        items = getattr(namespace, "contact_items", None) or []
        if not items:
            parser.error(f"{option_string} must follow a --contact")
        items[-1][self.dest] = values
        namespace.contact_items = items


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from drachtio import __version__

    p = argparse.ArgumentParser(
        prog="drachtio-server",
        description="drachtio-compatible SIP server (Python engine)",
    )
    p.add_argument("-f", "--file", help="XML configuration file (drachtio.conf.xml format)")
    p.add_argument("-c", "--contact", action=_ContactAction, dest="contact_items",
                   metavar="URI", help="SIP contact to listen on, e.g. "
                   "'sip:127.0.0.1:5060;transport=udp,tcp' (repeatable)")
    p.add_argument("-x", "--external-ip", action=_ContactAttr, dest="external_ip",
                   help="external IP advertised for the preceding --contact")
    p.add_argument("-n", "--local-net", action=_ContactAttr, dest="local_net",
                   help="local network (CIDR) of the preceding --contact")
    p.add_argument("--dns-name", action=_ContactAttr, dest="dns_names",
                   help="comma-separated DNS names of the preceding --contact")
    p.add_argument("-p", "--port", type=int, help="admin (control protocol) TCP port")
    p.add_argument("--address", help="admin bind address")
    p.add_argument("--secret", help="shared secret apps authenticate with")
    p.add_argument("-l", "--loglevel", help="error|warning|notice|info|debug")
    p.add_argument("--cdrs", dest="cdrs", action="store_true", default=None,
                   help="send cdr:* events to apps that route them (the default)")
    p.add_argument("--no-cdrs", dest="cdrs", action="store_false",
                   help="never send cdr:* events")
    p.add_argument("--always-send-180", action="store_true", default=None)
    p.add_argument("--user-agent-options-auto-respond", metavar="UA", default=None)
    p.add_argument("--t1", type=int, metavar="MS", help="SIP timer T1 in ms (default 500)")
    p.add_argument("--t2", type=int, metavar="MS", help="SIP timer T2 in ms (default 4000)")
    p.add_argument("--t4", type=int, metavar="MS", help="SIP timer T4 in ms (default 5000)")
    p.add_argument("--t1x64", type=int, metavar="MS", help="64*T1 in ms (default 32000)")
    p.add_argument("--cert-file", metavar="PEM", help="certificate of tls transports")
    p.add_argument("--key-file", metavar="PEM", help="private key of --cert-file")
    p.add_argument("--chain-file", metavar="PEM", help="intermediate certificates to send")
    p.add_argument("--min-tls-version", choices=["1.0", "1.1", "1.2", "1.3"],
                   help="lowest TLS version accepted (default 1.2)")
    p.add_argument("--http-handler", metavar="URL",
                   help="ask this handler about every new request: tcp://host:port or "
                   "tls://host:port dials the app there (outbound connection), http(s)://... "
                   "asks over HTTP (wire-protocol.md 6.2)")
    p.add_argument("--http-method", choices=["GET", "POST"], type=str.upper,
                   help="HTTP method for an http(s) --http-handler (default GET)")
    p.add_argument("--overload-delay", type=int, metavar="MS",
                   help="refuse new INVITEs (503) while requests wait longer than this before "
                   "being read (default 200; 0 = never)")
    p.add_argument("--overload-max-pending", type=int, metavar="N",
                   help="... or while more than N requests wait for an app's first answer "
                   "(default 5000; 0 = no bound)")
    p.add_argument("--dns-server", action="append", dest="dns_servers", metavar="IP[:PORT]",
                   help="name server for RFC 3263 NAPTR/SRV/A lookups (repeatable; default: "
                        "the system's)")
    p.add_argument("--no-uvloop", action="store_true", help="use the stock asyncio loop")
    p.add_argument("--no-gc-tuning", action="store_true",
                   help="keep Python's default garbage-collector thresholds")
    p.add_argument("--stdout", action="store_true", help="log to stdout (the default)")
    p.add_argument("-v", "--version", action="version", version=f"drachtio-py {__version__}")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace, env: dict[str, str] | None = None) -> EngineConfig:
    """Defaults < XML file < environment < command line."""
    e = dict(os.environ) if env is None else env
    fields: dict[str, object] = {}
    path = args.file or e.get("DRACHTIO_CONFIG_FILE_PATH")
    if path:
        fields.update(load_xml_config(path))
    fields.update(apply_env(e))
    items = getattr(args, "contact_items", None)
    if items:
        specs: list[ContactSpec] = []
        for it in items:
            dns = tuple(n.strip() for n in (it.get("dns_names") or "").split(",") if n.strip())
            specs.append(parse_contact(it["uri"], it.get("external_ip"), it.get("local_net"), dns))
        fields["contact_specs"] = specs
        fields["contacts"] = [s.text for s in specs]
    if args.port is not None:
        fields["admin_port"] = args.port
    if args.address:
        fields["admin_host"] = args.address
    if args.secret is not None:
        fields["secret"] = args.secret
    if args.loglevel:
        fields["loglevel"] = args.loglevel
    if args.cdrs is not None:
        fields["cdrs"] = args.cdrs
    if args.always_send_180:
        fields["always_send_180"] = True
    if args.user_agent_options_auto_respond:
        fields["options_auto_respond"] = args.user_agent_options_auto_respond
    for name, key in (("t1", "t1"), ("t2", "t2"), ("t4", "t4"), ("t1x64", "timer_h")):
        value = getattr(args, name)
        if value is not None:
            fields[key] = value / 1000.0
    for name, key in (("cert_file", "tls_cert_file"), ("key_file", "tls_key_file"),
                      ("chain_file", "tls_chain_file"), ("min_tls_version", "tls_min_version")):
        value = getattr(args, name)
        if value:
            fields[key] = value
    if args.http_handler:
        fields["request_handlers"] = {"*": RequestHandler(args.http_handler,
                                                          args.http_method or "GET")}
    elif args.http_method:
        handlers = fields.get("request_handlers")
        if isinstance(handlers, dict):
            fields["request_handlers"] = {
                m: RequestHandler(h.url, args.http_method, h.verify_peer)
                for m, h in handlers.items()}
    if args.overload_delay is not None:
        fields["overload_delay"] = args.overload_delay / 1000.0 if args.overload_delay > 0 else None
    if args.dns_servers:
        fields["dns_servers"] = list(args.dns_servers)
    if args.overload_max_pending is not None:
        fields["overload_max_pending"] = args.overload_max_pending or None
    if args.no_uvloop:
        fields["use_uvloop"] = False
    return EngineConfig(**fields)  # type: ignore[arg-type]


async def _serve(cfg: EngineConfig, gc_tuning: bool = True) -> None:
    from drachtio.engine import Engine

    engine = Engine(cfg)
    await engine.start()
    if gc_tuning:
        tune_gc()  # after start-up: what exists now is frozen out of the collector's way
    admin = f"admin tcp {cfg.admin_host}:{engine.admin_port}" if engine.admin_port else "admin none"
    print(f"drachtio-server listening: sip {' '.join(engine.sip_hostports)}; {admin}", flush=True)
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
        await engine.stop()
        print("drachtio-server stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = build_config(args)
    except (ValueError, TypeError) as exc:
        print(f"drachtio-server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=_LEVELS.get(cfg.loglevel.lower(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    loop_factory = None
    if cfg.use_uvloop:
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            loop_factory = None
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_serve(cfg, gc_tuning=not args.no_gc_tuning))
    except OSError as exc:
        print(f"drachtio-server: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"drachtio-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
