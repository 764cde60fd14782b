"""A stateful proxy with failover (``srf.proxy_request``): try the destinations one after the
other (or all at once), stay in the call path, and log the outcome::

    python examples/proxy_failover.py --port 9022 --to sip:a.example --to sip:b.example
    python examples/proxy_failover.py --port 9022 --to sip:a.example --to sip:b.example --fork

REGISTER requests are proxied to the first destination with a Path header (``path=True``);
OPTIONS are answered here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from drachtio import Srf
from drachtio.srf import EngineError, Request, Response

log = logging.getLogger("proxy")


def create_app(destinations: list[str], fork: bool = False, ring_timeout: str = "20s") -> Srf:
    srf = Srf()
    srf.locals["results"] = []

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        try:
            result = await srf.proxy_request(
                req, destinations, record_route=True,
                forking="simultaneous" if fork else "sequential",
                provisional_timeout="2s", final_timeout=ring_timeout,
                headers={"X-Proxied-By": "drachtio-python"},
            )
        except EngineError as err:
            log.warning("could not proxy: %s", err)  # the engine answered the caller
            return
        srf.locals["results"].append(result)
        for target in result.responses:
            log.info("%s:%d answered %s", target.address, target.port,
                     [m.status for m in target.msgs])
        log.info("connected=%s final=%s", result.connected, result.final_status)

    @srf.register
    def on_register(req: Request, res: Response) -> None:
        req.proxy(destinations[0], path=True)  # fire and forget: the engine does the rest

    @srf.options
    def on_options(req: Request, res: Response) -> None:
        res.send(200)

    return srf


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9022)
    ap.add_argument("--secret", default="cymru")
    ap.add_argument("--to", action="append", required=True, help="a destination (repeat)")
    ap.add_argument("--fork", action="store_true", help="try all destinations at once")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    srf = create_app(args.to, args.fork)
    await srf.connect(host=args.host, port=args.port, secret=args.secret)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
