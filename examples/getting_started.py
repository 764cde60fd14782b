"""Getting started: connect to a drachtio server and report what it offers.

User guide, "Getting Started". Run a drachtio server (or ours:
``python -m drachtio.server --port 9022 --secret cymru``) and then::

    python examples/getting_started.py --host 127.0.0.1 --port 9022 --secret cymru
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import Srf

log = logging.getLogger("getting_started")


def create_app() -> Srf:
    srf = Srf()
    srf.on("connect", lambda hostport, version, local: log.info(
        "successfully connected to drachtio server accepting SIP traffic on: %s", hostport))
    # always listen for errors: the connection is re-established automatically
    srf.on("error", lambda err: log.error("srf error: %s", err))
    srf.on("reconnecting", lambda delay, attempt: log.info(
        "reconnecting in %.2fs (attempt %d)", delay, attempt))
    return srf


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    ap.add_argument("--once", action="store_true", help="exit after connecting")
    args = ap.parse_args(argv)
    srf = create_app()
    info = await srf.connect(host=args.host, port=args.port, secret=args.secret)
    print(f"connected: {info.hostports} (server {info.version})", flush=True)
    if not args.once:
        await asyncio.Event().wait()
    await srf.disconnect()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
