"""Receiving SIP requests: answer every INVITE with 486 Busy Here.

User guide, "Receiving SIP requests"::

    python examples/receiving_requests.py --port 9022 --secret cymru
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import Srf
from drachtio.srf import Request, Response

log = logging.getLogger("receiving_requests")


def create_app() -> Srf:
    srf = Srf()

    @srf.invite
    def on_invite(req: Request, res: Response) -> None:
        log.info("received SIP INVITE from %s with Call-Id %s", req.source_address,
                 req.get("Call-Id"))
        res.send(486)  # Busy Here

    return srf


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    args = ap.parse_args(argv)
    srf = create_app()
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
