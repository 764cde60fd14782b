"""Advanced middleware: an address check for every request, per-method middleware, and an
error handler.

User guide, "Advanced middleware topics"::

    python examples/middleware.py --port 9022 --secret cymru --allow 127.0.0.0/8
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
from collections.abc import Callable

from drachtio import SipError, Srf
from drachtio.srf import Request, Response

Next = Callable[..., object]

log = logging.getLogger("middleware")


def create_app(authorized: list[str]) -> Srf:
    nets = [ipaddress.ip_network(n) for n in authorized]
    srf = Srf()

    def range_check(req: Request, res: Response, next: Next) -> None:
        if not any(ipaddress.ip_address(req.source_address) in n for n in nets):
            res.send(403)
            return
        next()

    def register_only(req: Request, res: Response, next: Next) -> None:
        # mounted for REGISTER only: insist on an Expires header
        if not req.has("Expires") and "expires=" not in (req.get("Contact") or ""):
            raise SipError(400, "Missing Expires")
        next()

    def on_error(err: Exception, req: Request, res: Response, next: Next) -> None:
        # error middleware: four arguments
        log.info("error handling %s: %s", req.method, err)
        status = err.status if isinstance(err, SipError) else 500
        res.send(status, err.reason if isinstance(err, SipError) else None,
                 headers={"X-Error": type(err).__name__})

    srf.use(range_check)
    srf.use("register", register_only)
    srf.use(on_error)

    @srf.invite
    def on_invite(req: Request, res: Response) -> None:
        res.send(480, headers={"X-Reached": "invite handler"})  # only authorized sources

    @srf.register
    def on_register(req: Request, res: Response) -> None:
        res.send(200, headers={"Contact": req.get("Contact") or "*", "Expires": "3600"})

    return srf


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    ap.add_argument("--allow", action="append", default=[])
    args = ap.parse_args(argv)
    srf = create_app(args.allow or ["127.0.0.0/8"])
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
